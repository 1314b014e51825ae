//! The application's state: configuration, directory, providers and engines (rebuilt
//! when the directory says they changed), rate limits, metrics; the one path every
//! directory call takes (`App::db`, a bounded blocking pool), and auditing.

use crate::cache::{SessionCache, TokenCache};
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::registry::{self, ProviderEntry, Registry};
use crate::web;
use ssogate_config::Config;
use ssogate_core::policy::Scope;
use ssogate_oidc::{Clock, OidcError, SystemClock};
use ssogate_store::audit::NewEvent;
use ssogate_store::sessions::SessionLifetimes;
use ssogate_store::{Directory, StoreError};
use std::net::IpAddr;
use std::sync::Arc;
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
    #[error("[server] signing_key_files: {0}")]
    SigningKeyFile(String),
}

/// The operator's signing keys (`[server] signing_key_files`), read and checked: every
/// file a key ssogate signs with, and a key for RS256 (discovery always offers it) and
/// for each algorithm a client asks for.
fn file_keys(
    config: &Config,
    registry: &registry::Registry,
) -> Result<Option<Vec<Arc<ssogate_op::keys::SigningKey>>>, AppError> {
    use ssogate_op::keys::{Alg, SigningKey};
    if config.signing_keys.is_empty() {
        return Ok(None);
    }
    let keys = config
        .signing_keys
        .iter()
        .map(|(path, text)| {
            SigningKey::from_pem(text.expose().as_bytes())
                .map(Arc::new)
                .map_err(|e| AppError::SigningKeyFile(format!("{}: {e}", path.display())))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let needed: std::collections::BTreeSet<Alg> = std::iter::once(Alg::RS256)
        .chain(registry.clients.values().map(|c| c.alg))
        .collect();
    if let Some(alg) = needed.iter().find(|a| !keys.iter().any(|k| k.alg == **a)) {
        return Err(AppError::SigningKeyFile(format!(
            "none of the files holds a {alg} key, which {}; add one \
             (e.g. `openssl genpkey -algorithm {}`)",
            if *alg == Alg::RS256 {
                "discovery always offers"
            } else {
                "a client signs with"
            },
            match alg {
                Alg::RS256 => "RSA -pkeyopt rsa_keygen_bits:2048",
                Alg::ES256 => "EC -pkeyopt ec_paramgen_curve:P-256",
                Alg::EdDSA => "ED25519",
            }
        )));
    }
    Ok(Some(keys))
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
    /// Access tokens this instance issued or read, for userinfo.
    pub(crate) tokens: Arc<TokenCache>,
    pub(crate) registry: std::sync::RwLock<Arc<Registry>>,
    /// Rebuilds asked for by notifications, and rebuilds done by the rebuilder thread
    /// (fewer when a burst coalesced).
    pub(crate) reloads_requested: std::sync::atomic::AtomicU64,
    /// Directory calls running at once (see [`App::db`]).
    pub(crate) db_slots: tokio::sync::Semaphore,
    /// Where local passwords are verified (low-priority threads).
    pub(crate) hashing: crate::hashing::Hashing,
    pub(crate) reloads_done: std::sync::atomic::AtomicU64,
    /// The one HTTP client for calls out — provisioning hooks, webhooks, back-channel
    /// logouts, clients' published keys — made at the first ([`App::outbound_http`]).
    outbound_http: std::sync::OnceLock<reqwest::Client>,
    /// The salt of pairwise subjects, once read from (or made in) the directory.
    pub(crate) op_salt: std::sync::OnceLock<Vec<u8>>,
    /// Public keys `private_key_jwt` clients publish at their `jwks_uri`: (JWKS, when
    /// fetched), by client id.
    pub(crate) client_jwks: std::sync::Mutex<std::collections::HashMap<String, (Arc<String>, i64)>>,
    /// What seals the provider's signing keys in the directory, when the operator set a
    /// key-encryption key.
    pub(crate) op_wrap: Option<ssogate_op::keys::KeyWrap>,
    /// The operator's signing keys (`[server] signing_key_files`), in the order listed;
    /// `None`: the keys live in the directory.
    pub(crate) op_file_keys: Option<Vec<Arc<ssogate_op::keys::SigningKey>>>,
    /// The provider's signing key of each algorithm, once read from (or made in) the
    /// directory (the key, when it was read: it is read again after a minute, for
    /// rotations).
    pub(crate) op_key: std::sync::RwLock<
        std::collections::BTreeMap<ssogate_op::keys::Alg, (Arc<ssogate_op::keys::SigningKey>, i64)>,
    >,
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
        let tokens = Arc::new(TokenCache::default());
        let watcher = tokens.clone();
        directory.watch(Arc::new(move |what| watcher.invalidate(what)))?;
        let op_file_keys = file_keys(&config, &registry)?;
        let s = &config.server;
        let app = App(Arc::new(Inner {
            cache,
            tokens,
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
            hashing: crate::hashing::Hashing::start(s.password_threads).map_err(|e| {
                AppError::Store(StoreError::Corrupt(format!(
                    "cannot start the password threads: {e}"
                )))
            })?,
            reloads_done: std::sync::atomic::AtomicU64::new(0),
            outbound_http: std::sync::OnceLock::new(),
            op_salt: std::sync::OnceLock::new(),
            op_key: std::sync::RwLock::new(Default::default()),
            client_jwks: std::sync::Mutex::new(Default::default()),
            op_file_keys,
            op_wrap: match &config.signing_key_encryption {
                Some(secret) => Some(
                    ssogate_op::keys::KeyWrap::from_secret(secret.expose().as_bytes())
                        .map_err(|e| AppError::Store(StoreError::Corrupt(e.to_string())))?,
                ),
                None => None,
            },
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
                Invalidation::ProviderKeys(slug) => Some(slug.as_str()),
                Invalidation::Settings(_) | Invalidation::Providers | Invalidation::All => None,
                Invalidation::Session(_) | Invalidation::User(_) => return,
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
        registry::configured(&self.config)
    }

    /// The providers and engines in force now.
    pub(crate) fn registry(&self) -> Arc<Registry> {
        self.registry.read().map(|r| r.clone()).unwrap_or_default()
    }

    /// Whether a provider in force accepts bearer tokens. Forward-auth asks for every
    /// request that carries one: read in place, without taking (and giving back) a share
    /// of the registry, whose count every core would otherwise write.
    pub(crate) fn accepts_bearer(&self) -> bool {
        self.registry.read().is_ok_and(|r| r.accepts_bearer())
    }

    /// A provider in force now.
    pub(crate) fn provider(&self, slug: &str) -> Option<Arc<ProviderEntry>> {
        self.registry().providers.get(slug).cloned()
    }

    /// Where a provider sends the browser back after signing it out (its callback
    /// style's post-logout path).
    pub(crate) fn post_logout_url(&self, entry: &ProviderEntry) -> String {
        format!(
            "{}{}",
            self.config.base_url,
            entry
                .config
                .callback
                .post_logout_path(self.config.server.auto_initiate)
        )
    }

    /// A client of ssogate's provider in force now (the file's or the directory's).
    pub(crate) fn client(&self, id: &str) -> Option<Arc<ssogate_op::Client>> {
        self.registry().clients.get(id).cloned()
    }

    /// Whether ssogate is an OpenID Provider here (any client is registered).
    pub(crate) fn serves_clients(&self) -> bool {
        !self.registry().clients.is_empty()
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

    /// Saves a provisioning settings document (global or a provider's) through
    /// `adm` once every provider compiles with it, then rebuilds here at once (other
    /// instances hear of it through the directory). Blocking.
    pub(crate) fn save_settings(
        &self,
        adm: &ssogate_admin::Admin,
        scope: &Scope,
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

    /// Registers, changes, re-keys or removes a client of the provider through `adm`
    /// (`f` is given the configuration's rules for `[clients.<id>]` to check settings
    /// with), then rebuilds here at once (other instances hear of it through the
    /// directory). Blocking.
    pub(crate) fn change_client<T>(
        &self,
        adm: &ssogate_admin::Admin,
        f: impl FnOnce(
            &ssogate_admin::Admin,
            ssogate_admin::clients::ClientCheck<'_>,
        ) -> Result<T, ssogate_admin::AdminError>,
    ) -> Result<T, ssogate_admin::AdminError> {
        let config = &self.config;
        let out = f(adm, &|id, doc, confidential| {
            crate::registry::check_client(config, id, doc, confidential)
        })?;
        self.reload_now()?;
        Ok(out)
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

    /// The HTTP client for calls out of ssogate (made once, shared).
    pub(crate) fn outbound_http(&self) -> Result<reqwest::Client, String> {
        if let Some(c) = self.outbound_http.get() {
            return Ok(c.clone());
        }
        let c = ssogate_oidc::http::client("outbound", &Default::default())
            .map_err(|e| format!("no HTTP client: {e}"))?;
        Ok(self.outbound_http.get_or_init(|| c).clone())
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

    pub(crate) fn default_return(&self) -> String {
        format!("{}/", self.config.base_url)
    }

    pub(crate) fn return_to(&self, raw: Option<&str>) -> String {
        raw.and_then(|r| web::safe_return_to(r, &self.base, &self.config.server.allowed_origins))
            .unwrap_or_else(|| self.default_return())
    }
}
