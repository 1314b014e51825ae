//! Signing in and out: the login page, `start`, `callback` (the whole pipeline), local
//! password login, logout, back-channel logout.
//!
//! The rooms: [`page`] (login page, password), [`flow`] (start, callback, sign-in),
//! [`logout`]; this module holds what they share (CSRF, rate limits, refusals).

mod flow;
mod logout;
mod page;

pub(crate) use flow::{
    Purpose, begin, callback, legacy_callback, legacy_start, open_session, start,
};
pub(crate) use logout::{TokenForm, backchannel_logout, logout, nextcloud_backchannel_logout};
pub(crate) use page::{BackFromLogout, local_login, logged_out, login_page};

use crate::extract::Req;
use crate::pages::{self, Link};
use crate::respond::server_error;
use crate::state::App;
use crate::web;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use ssogate_oidc::OidcError;
use ssogate_oidc::login::random_token;

/// The cookie that binds one pending login to this browser; named after its state so
/// that two sign-ins in two tabs do not overwrite each other.
pub(crate) fn binding_cookie(state: &str) -> String {
    named_for("ssogate_login_", state)
}

/// The cookie binding a logout on its way through the upstream provider to its browser:
/// named apart from [`binding_cookie`], so a sign-in's binding is never taken for one
/// (which would spend the sign-in's state).
pub(crate) fn logout_binding_cookie(state: &str) -> String {
    named_for("ssogate_logout_", state)
}

fn named_for(prefix: &str, state: &str) -> String {
    let short: String = state
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect();
    format!("{prefix}{short}")
}

pub(super) fn append(res: &mut Response, cookie: Option<HeaderValue>) {
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

pub(super) async fn unknown_provider(app: &App, req: &Req, slug: &str) -> Response {
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

/// Why a sign-in step failed: the relying party refused it, or the directory failed
/// (ours: an outage is a 503 that names the directory, never the provider).
pub(super) enum StepError {
    Refused(OidcError),
    Directory(ssogate_store::StoreError),
}

impl From<OidcError> for StepError {
    fn from(e: OidcError) -> StepError {
        StepError::Refused(e)
    }
}

/// The answer to a failed sign-in step.
pub(super) async fn step_failed(app: &App, req: &Req, slug: &str, e: StepError) -> Response {
    match e {
        StepError::Refused(e) => login_failed(app, req, slug, &e).await,
        StepError::Directory(e) => {
            let reason = if e.is_unavailable() {
                "directory_unavailable"
            } else {
                "store_error"
            };
            app.metrics
                .inc("ssogate_rejections_total", &[("reason", reason)]);
            server_error(req.t, &e)
        }
    }
}

/// A refused callback or start: an audit event, a metric, and a page that says what to do.
pub(crate) async fn login_failed(app: &App, req: &Req, slug: &str, e: &OidcError) -> Response {
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

pub(super) fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect::<String>() + ".",
        None => String::new(),
    }
}
