//! The application state, the router, and the glue between the relying party's traits
//! and the directory.

use crate::cache::{CachedSession, SessionCache};
use crate::i18n::{self, Texts};
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::registry::{self, ProviderEntry, Registry};
use crate::{account, auth, console, ops, verify, web};
use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ssogate_config::Config;
use ssogate_oidc::{Clock, OidcError, SystemClock};
use ssogate_store::accounts::NewEvent;
use ssogate_store::sessions::{Session, SessionLifetimes};
use ssogate_store::{Directory, StoreError};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;
use url::Url;

/// What `App::new` needs besides the configuration and the directory.
pub struct AppOptions {
    pub clock: Arc<dyn Clock>,
    /// `ssogate demo`: serve the "who am I" page, and name the sample people on it.
    pub demo_people: Option<String>,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            clock: Arc::new(SystemClock),
            demo_people: None,
        }
    }
}

/// A problem that stops the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(
        "base_url \"{0}\" is not a URL; set it to where ssogate is reached, e.g. https://sso.example.org"
    )]
    BaseUrl(String),
    #[error(transparent)]
    Provider(#[from] OidcError),
    #[error(transparent)]
    Config(#[from] ssogate_config::ConfigError),
    #[error("cannot watch the directory for ended sessions: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Registry(#[from] registry::RegistryError),
}

/// A provider's engine and the policy it was compiled from (configuration with the
/// settings saved in the console laid over it).
pub(crate) use ssogate_config::Compiled;

/// The shared state behind [`App`].
pub struct Inner {
    pub(crate) config: Config,
    pub(crate) directory: Arc<dyn Directory>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) limits: RateLimiter,
    pub(crate) refusals: crate::refusals::Refusals,
    pub(crate) metrics: Metrics,
    pub(crate) base: Url,
    pub(crate) secure: bool,
    pub(crate) lifetimes: SessionLifetimes,
    pub(crate) demo_people: Option<String>,
    pub(crate) cache: Arc<SessionCache>,
    pub(crate) registry: std::sync::RwLock<Arc<Registry>>,
    /// Rebuilds asked for by notifications, and rebuilds done by the rebuilder thread
    /// (fewer when a burst coalesced).
    pub(crate) reloads_requested: std::sync::atomic::AtomicU64,
    /// Directory calls running at once (see [`App::db`]).
    pub(crate) db_slots: tokio::sync::Semaphore,
    pub(crate) reloads_done: std::sync::atomic::AtomicU64,
}

/// The server: configuration, directory, one relying party per provider. Cheap to clone.
#[derive(Clone)]
pub struct App(pub(crate) Arc<Inner>);

impl std::ops::Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl App {
    pub fn new(
        config: Config,
        directory: Arc<dyn Directory>,
        options: AppOptions,
    ) -> Result<App, AppError> {
        let base =
            Url::parse(&config.base_url).map_err(|_| AppError::BaseUrl(config.base_url.clone()))?;
        // The PostgreSQL client must not block the runtime this may be called on.
        let registry = std::thread::scope(|s| {
            s.spawn(|| registry::build(&config, directory.as_ref(), &options.clock, None))
                .join()
        })
        .map_err(|_| {
            AppError::Store(StoreError::Corrupt("reading the providers failed".into()))
        })??;
        let cache = Arc::new(SessionCache::default());
        let watcher = cache.clone();
        directory.watch(Arc::new(move |what| watcher.invalidate(what)))?;
        let s = &config.server;
        let app = App(Arc::new(Inner {
            cache,
            registry: std::sync::RwLock::new(Arc::new(registry)),
            limits: RateLimiter::new(
                s.rate_limit.window_seconds,
                s.rate_limit.login,
                s.rate_limit.password,
                s.rate_limit.ipv6_prefix,
            ),
            refusals: crate::refusals::Refusals::default(),
            reloads_requested: std::sync::atomic::AtomicU64::new(0),
            db_slots: tokio::sync::Semaphore::new(usize::from(s.directory_threads.max(1))),
            reloads_done: std::sync::atomic::AtomicU64::new(0),
            lifetimes: SessionLifetimes {
                idle: i64::from(s.session_idle_minutes) * 60,
                absolute: i64::from(s.session_max_hours) * 3600,
            },
            secure: base.scheme() == "https",
            base,
            directory,
            clock: options.clock,
            metrics: Metrics::default(),
            demo_people: options.demo_people,
            config,
        }));
        // Providers, settings or the catalogue changed on any instance: rebuild here.
        // One rebuilder thread; a burst of notifications while it works coalesces into
        // one more rebuild (a channel of one), never a thread per notification.
        let weak = Arc::downgrade(&app.0);
        let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
        let rebuilder = Arc::downgrade(&app.0);
        std::thread::Builder::new()
            .name("ssogate-reload".into())
            .spawn(move || {
                while woken.recv().is_ok() {
                    let Some(inner) = rebuilder.upgrade() else {
                        return;
                    };
                    let app = App(inner);
                    if let Err(e) = app.reload() {
                        tracing::warn!(error = %e, "could not reload the providers and provisioning settings");
                    }
                    app.reloads_done
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
            .map_err(|e| {
                AppError::Store(StoreError::Corrupt(format!(
                    "cannot start the reload thread: {e}"
                )))
            })?;
        app.directory.watch(Arc::new(move |what| {
            use ssogate_store::invalidate::Invalidation;
            let keys_of = match what {
                Invalidation::Settings(scope) => scope.strip_prefix("keys:"),
                Invalidation::All => None,
                _ => return,
            };
            let Some(inner) = weak.upgrade() else { return };
            let app = App(inner);
            if let Some(slug) = keys_of {
                if let Some(p) = app.provider(slug) {
                    p.rp.invalidate();
                }
                return;
            }
            app.reloads_requested
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // Full: a rebuild is already due, and it will read this change too.
            let _ = wake.try_send(());
        }))?;
        Ok(app)
    }

    /// What the configuration file defines, for the administrative layer.
    pub(crate) fn configured(&self) -> ssogate_admin::Configured {
        ssogate_admin::Configured {
            catalogue: self.config.catalogue.clone(),
            providers: self.config.providers.keys().cloned().collect(),
        }
    }

    /// The providers and engines in force now.
    pub(crate) fn registry(&self) -> Arc<Registry> {
        self.registry.read().map(|r| r.clone()).unwrap_or_default()
    }

    /// A provider in force now.
    pub(crate) fn provider(&self, slug: &str) -> Option<Arc<ProviderEntry>> {
        self.registry().providers.get(slug).cloned()
    }

    /// The engine a sign-in through `slug` uses now.
    pub(crate) fn engine(&self, slug: &str) -> Option<Compiled> {
        self.registry().engines.get(slug).cloned()
    }

    /// Rebuilds providers and engines from the configuration and the directory.
    /// Blocking (it reads the directory); call it off the async threads.
    pub(crate) fn reload(&self) -> Result<(), AppError> {
        // One rebuild at a time, so an older picture never replaces a newer one.
        static RELOADING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = RELOADING.lock();
        let previous = self.registry();
        let next = registry::build(
            &self.config,
            self.directory.as_ref(),
            &self.clock,
            Some(&previous),
        )?;
        if let Ok(mut r) = self.registry.write() {
            *r = Arc::new(next);
        }
        Ok(())
    }

    /// Saves a provisioning settings document (`global` or `provider:<slug>`) through
    /// `adm` once every provider compiles with it, then rebuilds here at once (other
    /// instances hear of it through the directory). Blocking.
    pub(crate) fn save_settings(
        &self,
        adm: &ssogate_admin::Admin,
        scope: &str,
        changes: serde_json::Map<String, serde_json::Value>,
        replace: bool,
    ) -> Result<serde_json::Value, ssogate_admin::AdminError> {
        let doc = adm.save_settings(scope, changes, replace, |doc| {
            registry::check(&self.config, self.directory.as_ref(), |saved| {
                saved.put_settings(scope, doc);
            })
        })?;
        self.reload_now()?;
        Ok(doc)
    }

    /// Whether every provider still builds and compiles with this provider document
    /// saved (blocking).
    pub(crate) fn check_provider(&self, slug: &str, doc: &serde_json::Value) -> Result<(), String> {
        registry::check_provider(&self.config, self.directory.as_ref(), slug, doc)
    }

    /// Whether every provider still compiles against this catalogue (blocking).
    pub(crate) fn check_catalogue(
        &self,
        catalogue: &ssogate_core::domain::Catalogue,
    ) -> Result<(), String> {
        registry::check_catalogue(&self.config, self.directory.as_ref(), catalogue)
    }

    /// [`App::reload`] for a handler that changed something and shows the result next.
    pub(crate) fn reload_now(&self) -> Result<(), ssogate_admin::AdminError> {
        self.reload()
            .map_err(|e| ssogate_admin::AdminError::Store(StoreError::Corrupt(e.to_string())))
    }

    pub(crate) fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Runs a directory call on the blocking pool, never on an async worker: every
    /// directory call of the server goes through here, at most
    /// `[server] directory_threads` at once (the rest wait their turn, without a thread).
    pub(crate) async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Directory) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let d = self.directory.clone();
        self.blocking(move || f(d.as_ref()))
            .await
            .map_err(StoreError::Corrupt)?
    }

    /// Runs blocking work that reaches the directory (the administrative layer's calls)
    /// on the same bounded pool as [`App::db`]; `Err` only when the task itself failed.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, String> {
        let _permit = self
            .db_slots
            .acquire()
            .await
            .map_err(|_| "the directory pool is closed".to_owned())?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| format!("a directory task failed: {e}"))
    }

    /// Records an audit event; a failure to record is logged, never shown.
    pub(crate) async fn audit(&self, event: NewEvent) {
        let name = event.event.clone();
        if let Err(e) = self.db(move |d| d.record_event(event)).await {
            tracing::error!(event = %name, error = %e, "an audit event could not be recorded");
        }
    }

    /// Records a refusal of an unauthenticated request as [`crate::refusals`] says: at
    /// most one event per reason and client a minute, with a count.
    pub(crate) async fn refused(&self, event: NewEvent, client: IpAddr) {
        if let Some(ev) = self.refusals.note(event, client) {
            self.audit(ev).await;
        }
    }

    /// Writes the refusal summaries that are due (all of them with `flush`).
    pub async fn record_refusal_summaries(&self, flush: bool) {
        for ev in self.refusals.due(self.now(), flush) {
            self.audit(ev).await;
        }
    }

    pub(crate) fn session_cookie(&self) -> &str {
        &self.config.server.cookie_name
    }

    /// The `Set-Cookie` that gives the browser a session (or, with `None`, takes it away).
    pub(crate) fn session_set_cookie(&self, secret: Option<&str>) -> Option<HeaderValue> {
        let s = &self.config.server;
        web::set_cookie_for(
            &s.cookie_name,
            secret.unwrap_or(""),
            "/",
            s.cookie_domain.as_deref(),
            Some(if secret.is_some() {
                self.lifetimes.absolute
            } else {
                0
            }),
            self.secure,
            "Lax",
        )
    }

    /// The session cookie's secret, if the request carries a plausible one.
    fn session_secret<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        web::cookie(headers, self.session_cookie()).filter(|s| !s.is_empty() && s.len() <= 128)
    }

    pub(crate) fn csrf_cookie(&self) -> &'static str {
        if self.secure {
            "__Host-ssogate_csrf"
        } else {
            "ssogate_csrf"
        }
    }

    /// The live session behind the request's cookie (its idle deadline pushed back).
    pub(crate) async fn session(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<(String, Session)>, StoreError> {
        let Some(secret) = self.session_secret(headers) else {
            return Ok(None);
        };
        let secret = secret.to_owned();
        let (now, life) = (self.now(), self.lifetimes);
        let s = secret.clone();
        Ok(self
            .db(move |d| d.touch_session(&s, now, life))
            .await?
            .map(|session| (secret, session)))
    }

    /// The session behind the request's cookie with its account and identity headers,
    /// from memory when possible (forward-auth's hot path).
    pub(crate) async fn cached_session(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<Arc<CachedSession>>, StoreError> {
        let Some(secret) = self.session_secret(headers) else {
            return Ok(None);
        };
        let hash = ssogate_store::sessions::digest(secret);
        let now = self.now();
        if let Some(hit) = self.cache.get(&hash)
            && hit.live(now)
        {
            let touched = hit.touched_at.load(std::sync::atomic::Ordering::Relaxed);
            if now - touched >= crate::cache::TOUCH_EVERY
                && hit
                    .touched_at
                    .compare_exchange(
                        touched,
                        now,
                        std::sync::atomic::Ordering::AcqRel,
                        std::sync::atomic::Ordering::Relaxed,
                    )
                    .is_ok()
            {
                // Push the idle deadline in the directory, off the request's path; a
                // session found gone there leaves the cache too.
                let (app, secret, life) = (self.clone(), secret.to_owned(), self.lifetimes);
                tokio::spawn(async move {
                    let alive = app.db(move |d| d.touch_session(&secret, now, life)).await;
                    if !matches!(alive, Ok(Some(_))) {
                        app.cache
                            .invalidate(&ssogate_store::invalidate::Invalidation::Session(hash));
                    }
                });
            }
            return Ok(Some(hit));
        }
        let seen = self.cache.generation();
        let (s, life) = (secret.to_owned(), self.lifetimes);
        let loaded = self
            .db(move |d| {
                let Some(session) = d.touch_session(&s, now, life)? else {
                    return Ok(None);
                };
                Ok(d.user(session.user_id)?.map(|u| (session, u)))
            })
            .await?;
        let Some((session, user)) = loaded else {
            return Ok(None);
        };
        let headers = header_pairs(self, &user, session.provider.as_deref());
        let entry = Arc::new(CachedSession {
            provider: session.provider.clone(),
            user_id: session.user_id,
            expires_at: session.expires_at,
            idle: life.idle,
            touched_at: std::sync::atomic::AtomicI64::new(now),
            user: Arc::new(user),
            headers,
        });
        // Not kept when an invalidation raced the read; the answer, true when read,
        // stands for this request.
        self.cache.insert(hash, entry.clone(), seen, now);
        Ok(Some(entry))
    }

    pub(crate) fn default_return(&self) -> String {
        format!("{}/", self.config.base_url)
    }

    pub(crate) fn return_to(&self, raw: Option<&str>) -> String {
        raw.and_then(|r| web::safe_return_to(r, &self.base, &self.config.server.allowed_origins))
            .unwrap_or_else(|| self.default_return())
    }
}

/// The identity headers of an account, ready to send.
pub(crate) fn header_pairs(
    app: &App,
    user: &ssogate_core::directory::ExistingUser,
    provider: Option<&str>,
) -> Vec<(axum::http::HeaderName, HeaderValue)> {
    crate::verify::identity_headers(app, user, provider)
        .into_iter()
        .filter_map(|(n, v)| {
            Some((
                axum::http::HeaderName::try_from(n).ok()?,
                HeaderValue::from_str(&v).ok()?,
            ))
        })
        .collect()
}

/// What every handler wants to know about the request.
pub(crate) struct Req {
    pub headers: HeaderMap,
    pub addr: IpAddr,
    pub peer: SocketAddr,
    pub t: &'static Texts,
}

impl Req {
    pub(crate) fn from_parts(parts: &Parts, app: &App) -> Req {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)), |c| c.0);
        Req {
            addr: web::client_addr(peer, &parts.headers, &app.config.server.trusted_proxies),
            peer,
            t: i18n::texts(&parts.headers),
            headers: parts.headers.clone(),
        }
    }

    pub(crate) fn event(&self, event: &str, outcome: &str, now: i64) -> NewEvent {
        NewEvent {
            at: now,
            event: event.to_owned(),
            outcome: outcome.to_owned(),
            address: Some(self.addr.to_string()),
            user_agent: web::user_agent(&self.headers),
            ..NewEvent::default()
        }
    }
}

impl FromRequestParts<App> for Req {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        Ok(Req::from_parts(parts, app))
    }
}

/// Every route.
pub fn router(app: App) -> Router {
    let mut r = Router::new()
        .route("/", get(account::root))
        .route("/login", get(auth::login_page).post(auth::local_login))
        .route("/logged-out", get(auth::logged_out))
        .route("/logout", post(auth::logout))
        .route("/auth/verify", get(verify::verify))
        .route("/auth/{slug}/start", get(auth::start))
        .route("/auth/{slug}/callback", get(auth::callback))
        .route(
            "/auth/{slug}/backchannel-logout",
            post(auth::backchannel_logout),
        )
        .route("/account", get(account::page))
        .route("/account/link/{slug}", post(account::link))
        .route(
            "/account/unlink/{slug}",
            get(account::unlink_confirm).post(account::unlink),
        )
        .route("/api/oidc/providers", get(ops::providers))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/static/ssogate.css", get(ops::stylesheet));
    if app.demo_people.is_some() {
        r = r.route("/demo/whoami", get(verify::whoami));
    }
    r = r
        .route("/admin", get(console::dashboard))
        .route("/admin/users", get(console::users))
        .route("/admin/users/{id}", get(console::user))
        .route(
            "/admin/users/{id}/delete",
            get(console::delete_confirm).post(console::delete),
        )
        .route("/admin/users/{id}/{action}", post(console::user_action))
        .route(
            "/admin/test-claims",
            get(console::test_claims).post(console::test_claims_run),
        )
        .route("/admin/audit", get(console::audit))
        .route(
            "/admin/provisioning",
            get(console::provisioning).post(console::provisioning_save_global),
        )
        .route(
            "/admin/provisioning/{slug}",
            post(console::provisioning_save),
        )
        .route(
            "/admin/provisioning/{slug}/inherit",
            post(console::provisioning_inherit),
        )
        .route(
            "/admin/providers",
            get(console::providers).post(console::provider_add),
        )
        .route(
            "/admin/providers/{slug}",
            get(console::provider_edit).post(console::provider_update),
        )
        .route(
            "/admin/providers/{slug}/check",
            get(console::check_provider),
        )
        .route(
            "/admin/providers/{slug}/jwks-refresh",
            post(console::provider_refresh_keys),
        )
        .route(
            "/admin/providers/{slug}/delete",
            get(console::provider_delete_confirm).post(console::provider_delete),
        )
        .route(
            "/admin/api-keys",
            get(console::keys).post(console::key_create),
        )
        .route("/admin/api-keys/{id}/revoke", post(console::key_revoke))
        .route("/admin/catalogue", get(console::catalogue))
        .route("/admin/catalogue/{kind}", post(console::catalogue_create))
        .route(
            "/admin/catalogue/{kind}/{name}",
            get(console::catalogue_item).post(console::catalogue_update),
        )
        .route(
            "/admin/catalogue/{kind}/{name}/delete",
            get(console::catalogue_delete_confirm).post(console::catalogue_delete),
        )
        .route("/admin/audit.csv", get(console::audit_csv));
    let (api, doc) = crate::api::routes();
    let finished = Arc::new(crate::api::document::finish(&doc));
    let doc = Arc::new(doc);
    r = r
        .merge(api)
        .route(
            "/api/openapi.json",
            get(move |State(app): State<App>| {
                let finished = finished.clone();
                async move {
                    // The names that must exist are those of now.
                    let catalogue = app.db(|d| d.catalogue()).await.unwrap_or_default();
                    let providers: Vec<String> = app.registry().providers.keys().cloned().collect();
                    axum::Json(crate::api::document::with_names(
                        &finished, &catalogue, &providers,
                    ))
                }
            }),
        )
        .route(
            "/api/docs",
            get(move |req: Req| {
                let doc = doc.clone();
                async move { crate::pages::api_docs(req.t, &doc) }
            }),
        )
        .route(
            "/api/{*rest}",
            axum::routing::any(crate::api::no_such_endpoint),
        );
    r.fallback(ops::not_found)
        .layer(middleware::from_fn(crate::api::problems_only))
        .layer(middleware::from_fn_with_state(app.clone(), harden))
        // Every log line of a request carries its id, method and path (never the query:
        // a callback's holds the code and state), so one sign-in can be followed.
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let id = req
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    tracing::info_span!("request", id, method = %req.method(), path = %req.uri().path())
                })
                .on_request(())
                .on_response(())
                .on_failure(()),
        )
        .layer(middleware::from_fn(request_id))
        .with_state(app)
}

const REQUEST_ID: &str = "x-request-id";

/// Gives each request an id — this process's random prefix and a counter, cheap enough
/// for forward-auth's hot path — in `X-Request-Id` on the request (replacing any a
/// client sent) and on the answer, so a report can be matched to the log.
async fn request_id(mut req: Request, next: Next) -> Response {
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let prefix = PREFIX.get_or_init(|| {
        let mut b = [0u8; 4];
        let _ = aws_lc_rs::rand::fill(&mut b);
        b.iter().map(|x| format!("{x:02x}")).collect()
    });
    let id = format!("{prefix}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed));
    let value = HeaderValue::from_str(&id).ok();
    if let Some(v) = &value {
        req.headers_mut().insert(REQUEST_ID, v.clone());
    }
    let mut res = next.run(req).await;
    if let Some(v) = value {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    res
}

/// Security headers on every answer, and the request's time in the latency histogram.
async fn harden(State(app): State<App>, req: Request, next: Next) -> Response {
    // Indices into `metrics::ROUTES`.
    let route = match req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
    {
        Some("/auth/verify") => 0,
        Some("/auth/{slug}/callback") => 1,
        Some("/auth/{slug}/start") => 2,
        Some("/login") => 3,
        Some(_) => 4,
        None => 5,
    };
    let started = Instant::now();
    let mut res = next.run(req).await;
    app.metrics.observe(route, started.elapsed().as_secs_f64());
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if app.secure {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    res
}

/// Seconds a client is asked to wait when the directory cannot be reached.
pub(crate) const RETRY_AFTER: u32 = 5;

/// A page for a directory failure: logged with its detail, shown without it. 503 with
/// `Retry-After` when the database cannot be reached (nobody's fault here; try again),
/// 500 otherwise.
pub(crate) fn server_error(t: &Texts, e: &StoreError) -> Response {
    if e.is_unavailable() {
        tracing::error!(error = %e, "the directory cannot be reached");
        let mut res = crate::pages::message(
            t,
            StatusCode::SERVICE_UNAVAILABLE,
            t.err_unavailable_title,
            t.err_unavailable_body,
            None,
            Some("directory_unavailable"),
        );
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER));
        return res;
    }
    tracing::error!(error = %e, "a request failed in the directory");
    crate::pages::message(
        t,
        StatusCode::INTERNAL_SERVER_ERROR,
        t.err_server_title,
        t.err_server_body,
        None,
        Some("store_error"),
    )
}

/// [`server_error`] for machine clients: `application/problem+json` (RFC 9457).
pub(crate) fn server_problem(e: &StoreError) -> Response {
    crate::api::Problem::from(ssogate_admin::AdminError::Store(clone_store_error(e)))
        .into_response()
}

/// The parts of a store error a problem document needs (the error itself is not Clone).
fn clone_store_error(e: &StoreError) -> StoreError {
    if e.is_unavailable() {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Corrupt(e.to_string())
    }
}

/// A JSON error for machine routes.
pub(crate) fn json_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(serde_json::json!({"error": error, "error_description": description})),
    )
        .into_response()
}
