//! Signing in and out: the login page, `start`, `callback` (the whole pipeline), local
//! password login, logout, back-channel logout.

use crate::extract::Req;
use crate::i18n::with_name;
use crate::pages::{self, Link, LoginPage, ProviderButton};
use crate::ratelimit::Bucket;
use crate::registry::ProviderEntry;
use crate::respond::{json_error, server_error};
use crate::state::App;
use crate::web;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use ssogate_core::claims::ClaimSources;
use ssogate_core::decision::Decision;
use ssogate_oidc::login::{LOGIN_TTL, random_token};
use ssogate_oidc::{CallbackParams, OidcError};
use ssogate_store::RequestContext;
use ssogate_store::credentials::PasswordCheck;
use ssogate_store::sessions::SessionOrigin;

/// The cookie that binds one pending login to this browser; named after its state so
/// that two sign-ins in two tabs do not overwrite each other.
fn binding_cookie(state: &str) -> String {
    let short: String = state
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect();
    format!("ssogate_login_{short}")
}

fn append(res: &mut Response, cookie: Option<HeaderValue>) {
    if let Some(c) = cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
}

/// The CSRF cookie's value (made when missing) and, when new, its `Set-Cookie`.
pub(crate) fn csrf_token(app: &App, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    if let Some(v) = web::cookie(headers, app.csrf_cookie())
        && v.len() >= 32
    {
        return (v.to_owned(), None);
    }
    let token = random_token(32).unwrap_or_default();
    let cookie = web::set_cookie(app.csrf_cookie(), &token, "/", None, app.secure, "Strict");
    (token, cookie)
}

pub(crate) fn csrf_failed(app: &App, req: &Req) -> Response {
    app.metrics
        .inc("ssogate_rejections_total", &[("reason", "csrf")]);
    pages::message(
        req.t,
        StatusCode::FORBIDDEN,
        req.t.err_csrf_title,
        req.t.err_csrf_body,
        None,
        Some("csrf"),
    )
}

pub(crate) async fn too_many(app: &App, req: &Req, route: &str, wait: i64) -> Response {
    // Counted, never audited: a client over its limit must not be able to write to the
    // audit log at the rate it sends.
    app.metrics
        .inc("ssogate_rate_limited_total", &[("route", route)]);
    let mut res = pages::message(
        req.t,
        StatusCode::TOO_MANY_REQUESTS,
        req.t.err_too_many_title,
        req.t.err_too_many_body,
        None,
        None,
    );
    if let Ok(v) = HeaderValue::from_str(&wait.max(1).to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

async fn unknown_provider(app: &App, req: &Req, slug: &str) -> Response {
    let mut e = req.event("login.failed", "failure", app.now());
    e.reason = Some("unknown_provider".into());
    e.detail = Some(format!(
        "no provider \"{}\"",
        slug.chars().take(64).collect::<String>()
    ));
    app.refused(e, req.addr).await;
    app.metrics.inc(
        "ssogate_rejections_total",
        &[("reason", "unknown_provider")],
    );
    pages::message(
        req.t,
        StatusCode::NOT_FOUND,
        req.t.err_not_found_title,
        req.t.err_not_found_body,
        Some(Link {
            href: "/login?direct=1".into(),
            label: req.t.back_to_login.into(),
        }),
        None,
    )
}

#[derive(Deserialize)]
pub(crate) struct LoginQuery {
    return_to: Option<String>,
    direct: Option<String>,
    prevent_auto_init: Option<String>,
}

fn start_href(slug: &str, return_to: &str) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", return_to)
        .finish();
    format!("/auth/{slug}/start?{q}")
}

pub(crate) async fn login_page(
    State(app): State<App>,
    req: Req,
    Query(q): Query<LoginQuery>,
) -> Response {
    let return_to = app.return_to(q.return_to.as_deref());
    let s = &app.config.server;
    let direct = q.direct.is_some() || q.prevent_auto_init.is_some();
    if !direct
        && s.auto_initiate
        && !s.local_login
        && app.registry().providers.len() == 1
        && let Some(slug) = app.registry().providers.keys().next()
    {
        return web::redirect(StatusCode::FOUND, &start_href(slug, &return_to));
    }
    login_form(&app, &req, StatusCode::OK, &return_to, None, "")
}

fn login_form(
    app: &App,
    req: &Req,
    status: StatusCode,
    return_to: &str,
    message: Option<String>,
    username: &str,
) -> Response {
    let (csrf, cookie) = csrf_token(app, &req.headers);
    let providers = app
        .registry()
        .providers
        .iter()
        .map(|(slug, p)| ProviderButton {
            href: start_href(slug, return_to),
            label: with_name(&app.config.server.login_label, &p.config.display_name),
        })
        .collect();
    let mut res = pages::render(
        status,
        &LoginPage {
            t: req.t,
            providers,
            local_login: app.config.server.local_login,
            message,
            csrf,
            return_to: return_to.to_owned(),
            username: username.to_owned(),
        },
    );
    append(&mut res, cookie);
    res
}

pub(crate) async fn logged_out(req: Req) -> Response {
    pages::message(
        req.t,
        StatusCode::OK,
        req.t.signed_out_title,
        req.t.signed_out_body,
        Some(Link {
            href: "/login?direct=1".into(),
            label: req.t.sign_in_again.into(),
        }),
        None,
    )
}

#[derive(Deserialize)]
pub(crate) struct StartQuery {
    return_to: Option<String>,
}

pub(crate) async fn start(
    State(app): State<App>,
    req: Req,
    Path(slug): Path<String>,
    Query(q): Query<StartQuery>,
) -> Response {
    if let Err(wait) = app.limits.hit(Bucket::Login, req.addr, app.now()) {
        return too_many(&app, &req, "start", wait).await;
    }
    let Some(entry) = app.provider(&slug) else {
        return unknown_provider(&app, &req, &slug).await;
    };
    let return_to = app.return_to(q.return_to.as_deref());
    begin(&app, &req, &entry, &return_to, None).await
}

/// Sends the browser to the provider with a fresh state bound to it.
pub(crate) async fn begin(
    app: &App,
    req: &Req,
    entry: &ProviderEntry,
    return_to: &str,
    purpose: Option<String>,
) -> Response {
    let (url, pending) = match entry.rp.begin(return_to, purpose).await {
        Ok(begun) => begun,
        Err(e) => return login_failed(app, req, entry.rp.slug(), &e).await,
    };
    // The pending login is kept in the directory (any instance may get the callback),
    // under the state's digest; the browser gets the binding secret.
    let payload = match serde_json::to_string(&pending) {
        Ok(p) => p,
        Err(e) => {
            let e = OidcError::StateStore(format!("cannot encode a login: {e}"));
            return login_failed(app, req, entry.rp.slug(), &e).await;
        }
    };
    let (provider, state, now) = (
        pending.provider.clone(),
        pending.state.clone(),
        pending.created_at,
    );
    let binding = match app
        .db(move |d| d.put_login_state(&provider, &state, &payload, now, LOGIN_TTL))
        .await
    {
        Ok(b) => b,
        Err(e) => return login_failed(app, req, entry.rp.slug(), &state_store_error(&e)).await,
    };
    let mut res = web::redirect(StatusCode::FOUND, url.as_str());
    append(
        &mut res,
        web::set_cookie(
            &binding_cookie(&pending.state),
            &binding,
            "/auth/",
            Some(LOGIN_TTL),
            app.secure,
            "Lax",
        ),
    );
    res
}

/// A directory failure while keeping or taking a login, as the relying party's error
/// (an outage is said as one: 503, the provider not blamed).
fn state_store_error(e: &ssogate_store::StoreError) -> OidcError {
    if e.is_unavailable() {
        OidcError::StateStoreUnavailable(e.to_string())
    } else {
        OidcError::StateStore(e.to_string())
    }
}

/// Takes the pending login of the callback's `state` from the directory, once, for the
/// browser it was issued to.
async fn take_pending(
    app: &App,
    slug: &str,
    state: Option<&str>,
    binding: Option<&str>,
) -> Result<ssogate_oidc::PendingLogin, OidcError> {
    use ssogate_store::sessions::StateError;
    let state = state.ok_or(OidcError::StateMissing)?.to_owned();
    let (st, binding, provider, now) = (
        state.clone(),
        binding.map(str::to_owned),
        slug.to_owned(),
        app.now(),
    );
    let taken = app
        .db(move |d| d.take_login_state(&st, binding.as_deref(), &provider, now))
        .await
        .map_err(|e| state_store_error(&e))?;
    match taken {
        Ok(s) => {
            let mut pending: ssogate_oidc::PendingLogin = serde_json::from_str(&s.payload)
                .map_err(|e| OidcError::StateStore(format!("a stored login is unreadable: {e}")))?;
            pending.state = state;
            Ok(pending)
        }
        Err(StateError::Unknown) => Err(OidcError::StateUnknown),
        Err(StateError::Expired) => Err(OidcError::StateExpired),
        Err(StateError::OtherBrowser) => Err(OidcError::StateOtherBrowser),
        Err(StateError::OtherProvider) => Err(OidcError::StateWrongProvider {
            expected: slug.to_owned(),
        }),
    }
}

#[derive(Deserialize)]
pub(crate) struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    iss: Option<String>,
}

pub(crate) async fn callback(
    State(app): State<App>,
    req: Req,
    Path(slug): Path<String>,
    Query(q): Query<CallbackQuery>,
) -> Response {
    if let Err(wait) = app.limits.hit(Bucket::Login, req.addr, app.now()) {
        return too_many(&app, &req, "callback", wait).await;
    }
    let Some(entry) = app.provider(&slug) else {
        return unknown_provider(&app, &req, &slug).await;
    };
    let cookie_name = q.state.as_deref().map(binding_cookie);
    let binding = cookie_name
        .as_deref()
        .and_then(|n| web::cookie(&req.headers, n));
    let params = CallbackParams {
        state: q.state.clone(),
        code: q.code,
        error: q.error,
        error_description: q.error_description,
        iss: q.iss,
    };
    let finished = match take_pending(&app, &slug, params.state.as_deref(), binding).await {
        Ok(pending) => entry.rp.finish(&params, pending).await,
        Err(e) => Err(e),
    };
    let mut res = match finished {
        Err(e) => login_failed(&app, &req, &slug, &e).await,
        Ok(mut verified) => {
            if let Some(dump) = verified.dump.take() {
                dump_claims(&app, &req, &slug, &verified.subject, &dump).await;
            }
            match verified
                .pending
                .purpose
                .as_deref()
                .and_then(|p| p.strip_prefix("link:"))
                .and_then(|id| id.parse::<i64>().ok())
            {
                Some(user_id) => {
                    crate::account::finish_link(&app, &req, &entry, verified, user_id).await
                }
                None => sign_in(&app, &req, &entry, verified).await,
            }
        }
    };
    if let Some(name) = cookie_name {
        append(&mut res, web::clear_cookie(&name, "/auth/", app.secure));
    }
    res
}

/// `dump_claims`: what the provider sent (proofs and credentials redacted) reaches the
/// operator in the log and as an audit event, before the decision, whatever it is.
async fn dump_claims(app: &App, req: &Req, slug: &str, subject: &str, dump: &Value) {
    let redacted = ssogate_store::audit::redact(dump).to_string();
    tracing::info!(provider = slug, subject, claims = %redacted, "claims received (dump_claims)");
    let mut ev = req.event("login.claims_dumped", "success", app.now());
    ev.provider = Some(slug.to_owned());
    ev.subject = Some(subject.to_owned());
    ev.detail = Some(redacted);
    app.audit(ev).await;
}

/// Claims → engine → one directory transaction → session.
async fn sign_in(
    app: &App,
    req: &Req,
    entry: &ProviderEntry,
    verified: ssogate_oidc::VerifiedLogin,
) -> Response {
    let slug = entry.rp.slug().to_owned();
    let sources = ClaimSources {
        id_token: Value::Object(verified.id_token_claims),
        userinfo: verified.userinfo.map(Value::Object),
    };
    let ctx = RequestContext {
        now: app.now(),
        address: Some(req.addr.to_string()),
        user_agent: web::user_agent(&req.headers),
    };
    let Some((engine, _)) = app.engine(&slug) else {
        return unknown_provider(app, req, &slug).await;
    };
    let result = match app.db(move |d| d.login(engine, sources, ctx)).await {
        Ok(r) => r,
        Err(e) => return server_error(req.t, &e),
    };
    let outcome = &result.outcome;
    if let Decision::Provision { .. } = outcome.decision {
        app.metrics
            .inc("ssogate_provisioned_users_total", &[("provider", &slug)]);
    }
    match (outcome.allow_session, result.user_id) {
        (true, Some(user_id)) => {
            app.metrics.inc(
                "ssogate_logins_total",
                &[("provider", &slug), ("outcome", "success")],
            );
            let origin = (
                slug,
                verified.sid,
                verified.subject,
                verified.tokens.id_token,
            );
            open_session(app, req, user_id, Some(origin), &verified.pending.return_to).await
        }
        _ => {
            let reason = outcome.reason().map_or("pending", |r| r.code());
            app.metrics.inc(
                "ssogate_logins_total",
                &[("provider", &slug), ("outcome", "rejected")],
            );
            app.metrics
                .inc("ssogate_rejections_total", &[("reason", reason)]);
            let body = match &outcome.decision {
                Decision::Reject(r) => crate::i18n::reason(req.t, r),
                _ => req.t.pending.to_owned(),
            };
            let mut res = pages::message(
                req.t,
                StatusCode::FORBIDDEN,
                req.t.err_rejected_title,
                &body,
                Some(Link {
                    href: "/login?direct=1".into(),
                    label: req.t.back_to_login.into(),
                }),
                Some(reason),
            );
            // Whoever was signed in before in this browser is not any more.
            end_presented_session(app, req).await;
            append(&mut res, app.session_set_cookie(None));
            res
        }
    }
}

/// Ends the session the request presents, if any (session fixation: a login always
/// gets a new id).
async fn end_presented_session(app: &App, req: &Req) {
    if let Some(old) = web::cookie(&req.headers, app.session_cookie()) {
        let old = old.to_owned();
        if let Err(e) = app.db(move |d| d.end_session(&old)).await {
            tracing::warn!(error = %e, "the previous session could not be ended");
        }
    }
}

/// A new session (the old one, if any, ended) and the way to `return_to`.
pub(crate) async fn open_session(
    app: &App,
    req: &Req,
    user_id: i64,
    origin: Option<(String, Option<String>, String, Option<String>)>,
    return_to: &str,
) -> Response {
    end_presented_session(app, req).await;
    let (now, life) = (app.now(), app.lifetimes);
    let created = app
        .db(move |d| {
            let o = origin.as_ref();
            d.create_session(
                user_id,
                &SessionOrigin {
                    provider: o.map(|o| o.0.as_str()),
                    sid: o.and_then(|o| o.1.as_deref()),
                    subject: o.map(|o| o.2.as_str()),
                    id_token: o.and_then(|o| o.3.as_deref()),
                },
                now,
                life,
            )
        })
        .await;
    match created {
        Ok(secret) => {
            let mut res = web::redirect(StatusCode::SEE_OTHER, return_to);
            append(&mut res, app.session_set_cookie(Some(&secret)));
            res
        }
        Err(e) => server_error(req.t, &e),
    }
}

/// A refused callback or start: an audit event, a metric, and a page that says what to do.
pub(crate) async fn login_failed(app: &App, req: &Req, slug: &str, e: &OidcError) -> Response {
    if let OidcError::StateStoreUnavailable(detail) = e {
        // Ours, not the provider's nor the person's: say so, and ask to come back.
        app.metrics.inc(
            "ssogate_rejections_total",
            &[("reason", "directory_unavailable")],
        );
        return server_error(
            req.t,
            &ssogate_store::StoreError::Unavailable(detail.clone()),
        );
    }
    let code = e.code();
    let mut ev = req.event("login.failed", "failure", app.now());
    ev.reason = Some(code.into());
    ev.provider = Some(slug.to_owned());
    ev.detail = Some(e.to_string());
    app.refused(ev, req.addr).await;
    app.metrics
        .inc("ssogate_rejections_total", &[("reason", code)]);
    app.metrics.inc(
        "ssogate_logins_total",
        &[("provider", slug), ("outcome", "failed")],
    );
    tracing::info!(provider = slug, reason = code, "a sign-in was refused");
    let t = req.t;
    let again = Link {
        href: format!("/auth/{slug}/start"),
        label: t.start_again.into(),
    };
    use OidcError::*;
    match e {
        StateMissing
        | StateUnknown
        | StateReplayed
        | StateExpired
        | StateOtherBrowser
        | StateWrongProvider { .. } => pages::message(
            t,
            StatusCode::BAD_REQUEST,
            t.err_state_title,
            &capitalise(&e.to_string()),
            Some(again),
            Some(code),
        ),
        ProviderError { error, description } => pages::message(
            t,
            StatusCode::BAD_REQUEST,
            t.err_provider_title,
            description.as_deref().unwrap_or(error),
            Some(again),
            Some(code),
        ),
        e if e.is_provider_side() || matches!(e, Config { .. } | StateStore(_)) => pages::message(
            t,
            StatusCode::BAD_GATEWAY,
            t.err_unreachable_title,
            t.err_unreachable_body,
            Some(again),
            Some(code),
        ),
        _ => pages::message(
            t,
            StatusCode::BAD_REQUEST,
            t.err_invalid_title,
            t.err_invalid_body,
            Some(again),
            Some(code),
        ),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect::<String>() + ".",
        None => String::new(),
    }
}

#[derive(Deserialize)]
pub(crate) struct LocalLoginForm {
    username: String,
    password: String,
    csrf: Option<String>,
    return_to: Option<String>,
}

pub(crate) async fn local_login(
    State(app): State<App>,
    req: Req,
    Form(f): Form<LocalLoginForm>,
) -> Response {
    if !app.config.server.local_login {
        return crate::ops::not_found(req).await;
    }
    if !web::csrf_ok(
        &req.headers,
        app.csrf_cookie(),
        f.csrf.as_deref(),
        &app.base,
    ) {
        return csrf_failed(&app, &req);
    }
    if let Err(wait) = app.limits.hit(Bucket::Password, req.addr, app.now()) {
        return too_many(&app, &req, "password", wait).await;
    }
    let return_to = app.return_to(f.return_to.as_deref());
    let username = f.username.trim().to_owned();
    let (u, p) = (username.clone(), f.password);
    let check = match app.db(move |d| d.check_password(&u, &p)).await {
        Ok(c) => c,
        Err(e) => return server_error(req.t, &e),
    };
    let mut ev = req.event("login.password", "failure", app.now());
    ev.subject = Some(username.chars().take(128).collect());
    let message = match check {
        PasswordCheck::Ok(user_id) => {
            ev.outcome = "success".into();
            ev.user_id = Some(user_id);
            app.audit(ev).await;
            app.metrics.inc(
                "ssogate_logins_total",
                &[("provider", "local"), ("outcome", "success")],
            );
            return open_session(&app, &req, user_id, None, &return_to).await;
        }
        PasswordCheck::Wrong => ("wrong_password", req.t.wrong_password),
        PasswordCheck::SingleSignOnOnly => ("sso_only", req.t.sso_only),
        PasswordCheck::Disabled => ("account_disabled", req.t.disabled),
        PasswordCheck::Pending => ("awaiting_approval", req.t.pending),
    };
    ev.reason = Some(message.0.into());
    app.audit(ev).await;
    app.metrics
        .inc("ssogate_rejections_total", &[("reason", message.0)]);
    login_form(
        &app,
        &req,
        StatusCode::UNAUTHORIZED,
        &return_to,
        Some(message.1.to_owned()),
        &username,
    )
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    pub csrf: Option<String>,
}

pub(crate) async fn logout(State(app): State<App>, req: Req, Form(f): Form<CsrfForm>) -> Response {
    if !web::csrf_ok(
        &req.headers,
        app.csrf_cookie(),
        f.csrf.as_deref(),
        &app.base,
    ) {
        return csrf_failed(&app, &req);
    }
    let session = match app.session(&req.headers).await {
        Ok(s) => s,
        Err(e) => return server_error(req.t, &e),
    };
    let mut target = "/logged-out".to_owned();
    if let Some((secret, session)) = session {
        let id_token = match app.db(move |d| d.end_session(&secret)).await {
            Ok(ended) => ended.flatten(),
            Err(e) => return server_error(req.t, &e),
        };
        let mut ev = req.event("logout", "success", app.now());
        ev.user_id = Some(session.user_id);
        ev.provider = session.provider.clone();
        app.audit(ev).await;
        app.metrics
            .inc("ssogate_logouts_total", &[("kind", "user")]);
        if app.config.server.rp_logout
            && let Some(entry) = session.provider.as_deref().and_then(|p| app.provider(p))
        {
            let back = format!("{}/logged-out", app.config.base_url);
            // The ID token tells the provider which of its sessions to end, so it need
            // not ask (RP-Initiated Logout 1.0, 2: RECOMMENDED).
            // A fresh random `state`: some providers (Glewlwyd) strand the person on
            // their own page without one; nothing is kept, as ssogate's logged-out page
            // needs no context.
            let state = ssogate_oidc::login::random_token(16).ok();
            match entry
                .rp
                .end_session_url(id_token.as_deref(), Some(&back), state.as_deref())
                .await
            {
                Ok(Some(url)) => target = url.to_string(),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(provider = entry.rp.slug(), error = %e, "no logout at the provider")
                }
            }
        }
    }
    let mut res = web::redirect(StatusCode::SEE_OTHER, &target);
    append(&mut res, app.session_set_cookie(None));
    res
}

#[derive(Deserialize)]
pub(crate) struct BackchannelForm {
    logout_token: Option<String>,
}

/// Back-Channel Logout 1.0, 2.8: 200 when done, 400 with a JSON error otherwise.
pub(crate) async fn backchannel_logout(
    State(app): State<App>,
    req: Req,
    Path(slug): Path<String>,
    Form(f): Form<BackchannelForm>,
) -> Response {
    let Some(entry) = app.provider(&slug) else {
        return json_error(StatusCode::NOT_FOUND, "invalid_request", "no such provider");
    };
    let Some(token) = f.logout_token else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "logout_token is missing",
        );
    };
    let mut ev = req.event("logout.backchannel", "failure", app.now());
    ev.provider = Some(slug.clone());
    let checked = match entry.rp.logout_token(&token).await {
        // The replay guard is ours, in the directory, so a replay to another instance
        // is refused too.
        Ok(lr) => {
            let (s, jti, until, now) = (slug.clone(), lr.jti.clone(), lr.remember_until, app.now());
            match app
                .db(move |d| d.record_logout_jti(&s, &jti, until, now))
                .await
            {
                Ok(true) => Ok(lr),
                Ok(false) => Err(OidcError::LogoutTokenReplayed),
                Err(e) => Err(state_store_error(&e)),
            }
        }
        Err(e) => Err(e),
    };
    match checked {
        Err(OidcError::StateStoreUnavailable(detail)) => {
            tracing::error!(error = %detail, "a back-channel logout could not be checked: the directory cannot be reached");
            let mut res = json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the directory cannot be reached; send the logout token again",
            );
            res.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(crate::respond::RETRY_AFTER),
            );
            res
        }
        Err(e) => {
            ev.reason = Some(e.code().into());
            ev.detail = Some(e.to_string());
            app.refused(ev, req.addr).await;
            app.metrics
                .inc("ssogate_rejections_total", &[("reason", e.code())]);
            json_error(StatusCode::BAD_REQUEST, "invalid_request", &e.to_string())
        }
        Ok(lr) => {
            let (s, sid, sub) = (slug.clone(), lr.sid.clone(), lr.sub.clone());
            match app
                .db(move |d| d.end_sessions_by_provider(&s, sid.as_deref(), sub.as_deref()))
                .await
            {
                Ok(n) => {
                    ev.outcome = "success".into();
                    ev.subject = lr.sub;
                    ev.detail = Some(format!("{n} session(s) ended"));
                    app.audit(ev).await;
                    app.metrics
                        .inc("ssogate_logouts_total", &[("kind", "backchannel")]);
                    (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response()
                }
                Err(e) => {
                    tracing::error!(error = %e, "back-channel logout could not end sessions");
                    json_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "server_error",
                        "the sessions could not be ended",
                    )
                }
            }
        }
    }
}
