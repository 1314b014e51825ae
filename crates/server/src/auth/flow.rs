//! The sign-in through a provider: start (a pending login kept in the directory, the
//! browser bound to it), callback (taken once, finished by the relying party), the
//! engine's decision in one transaction, and the session.

use super::*;
use crate::extract::Req;
use crate::pages::{self, Link};
use crate::ratelimit::Bucket;
use crate::registry::ProviderEntry;
use crate::respond::{OrPage, PageResult};
use crate::state::App;
use crate::web;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use ssogate_core::claims::ClaimSources;
use ssogate_core::decision::Decision;
use ssogate_core::domain::UserId;
use ssogate_oidc::login::LOGIN_TTL;
use ssogate_oidc::{CallbackParams, OidcError};
use ssogate_store::RequestContext;
use ssogate_store::sessions::SessionOrigin;

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
    begin(&app, &req, &entry, &return_to, Purpose::SignIn).await
}

/// Why a round-trip through a provider was started. Kept with the pending login (the
/// relying party carries it as opaque text; this is the one place that reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Sign in (or be provisioned) through the provider.
    SignIn,
    /// Link the identity to this signed-in account.
    Link(UserId),
}

impl Purpose {
    fn encode(self) -> Option<String> {
        match self {
            Purpose::SignIn => None,
            Purpose::Link(account) => Some(format!("link:{account}")),
        }
    }

    /// Anything unreadable is a plain sign-in: the account to link to is never guessed.
    fn decode(text: Option<&str>) -> Purpose {
        text.and_then(|p| p.strip_prefix("link:"))
            .and_then(|id| id.parse().ok())
            .map_or(Purpose::SignIn, Purpose::Link)
    }
}

/// Where a new session came from, for back-channel and RP-initiated logout.
pub(crate) struct SessionStart {
    pub provider: String,
    pub sid: Option<String>,
    pub subject: String,
    pub id_token: Option<String>,
    /// Kept only when the provider re-validates sessions (`refresh_interval_minutes`).
    pub refresh_token: Option<String>,
    /// How the provider says the person authenticated (its ID token's `amr`,
    /// space-separated, and `acr`), passed on to the applications ssogate signs in.
    pub amr: Option<String>,
    pub acr: Option<String>,
}

/// The `amr` and `acr` of a verified ID token, when it states them as OpenID Connect
/// Core 2 says (an array of strings; a string): values with spaces or control
/// characters are dropped rather than passed on.
pub(crate) fn auth_context(
    claims: &serde_json::Map<String, Value>,
) -> (Option<String>, Option<String>) {
    let plain = |v: &str| !v.is_empty() && v.len() <= 64 && v.chars().all(|c| c.is_ascii_graphic());
    let amr: Vec<&str> = claims
        .get("amr")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|v| plain(v))
        .take(10)
        .collect();
    let acr = claims
        .get("acr")
        .and_then(Value::as_str)
        .filter(|v| v.len() <= 200 && !v.chars().any(char::is_control))
        .map(str::to_owned);
    ((!amr.is_empty()).then(|| amr.join(" ")), acr)
}

/// Sends the browser to the provider with a fresh state bound to it.
pub(crate) async fn begin(
    app: &App,
    req: &Req,
    entry: &ProviderEntry,
    return_to: &str,
    purpose: Purpose,
) -> Response {
    let (url, pending) = match entry.rp.begin(return_to, purpose.encode()).await {
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
        Err(e) => return step_failed(app, req, entry.rp.slug(), StepError::Directory(e)).await,
    };
    let mut res = web::redirect(StatusCode::FOUND, url.as_str());
    append(
        &mut res,
        web::set_cookie(
            &binding_cookie(&pending.state),
            &binding,
            entry.config.callback.cookie_path(),
            Some(LOGIN_TTL),
            app.secure,
            "Lax",
        ),
    );
    res
}

/// Takes the pending login of the callback's `state` from the directory, once, for the
/// browser it was issued to.
pub(super) async fn take_pending(
    app: &App,
    slug: &str,
    state: Option<&str>,
    binding: Option<&str>,
) -> Result<ssogate_oidc::PendingLogin, StepError> {
    use ssogate_store::sessions::{StateError, TakeStateError};
    let state = state.ok_or(OidcError::StateMissing)?.to_owned();
    let (st, binding, provider, now) = (
        state.clone(),
        binding.map(str::to_owned),
        slug.to_owned(),
        app.now(),
    );
    let taken = app
        .db(move |d| Ok(d.take_login_state(&st, binding.as_deref(), &provider, now)))
        .await
        .map_err(StepError::Directory)?;
    let taken = match taken {
        Ok(s) => Ok(s),
        Err(TakeStateError::Refused(r)) => Err(r),
        Err(TakeStateError::Store(e)) => return Err(StepError::Directory(e)),
    };
    match taken {
        Ok(s) => {
            let mut pending: ssogate_oidc::PendingLogin = serde_json::from_str(&s.payload)
                .map_err(|e| OidcError::StateStore(format!("a stored login is unreadable: {e}")))?;
            pending.state = state;
            Ok(pending)
        }
        Err(StateError::Unknown) => Err(OidcError::StateUnknown.into()),
        Err(StateError::Expired) => Err(OidcError::StateExpired.into()),
        Err(StateError::OtherBrowser) => Err(OidcError::StateOtherBrowser.into()),
        Err(StateError::OtherProvider) => Err(OidcError::StateWrongProvider {
            expected: slug.to_owned(),
        }
        .into()),
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
        Ok(pending) => entry
            .rp
            .finish(&params, pending)
            .await
            .map_err(StepError::from),
        Err(e) => Err(e),
    };
    let mut res = match finished {
        Err(e) => step_failed(&app, &req, &slug, e).await,
        Ok(mut verified) => {
            if let Some(dump) = verified.dump.take() {
                dump_claims(&app, &req, &slug, &verified.subject, &dump).await;
            }
            match Purpose::decode(verified.pending.purpose.as_deref()) {
                Purpose::Link(user_id) => {
                    crate::account::finish_link(&app, &req, &entry, verified, user_id).await
                }
                Purpose::SignIn => sign_in(&app, &req, &entry, verified).await,
            }
            .into_response()
        }
    };
    if let Some(name) = cookie_name {
        let path = entry.config.callback.cookie_path();
        append(&mut res, web::clear_cookie(&name, path, app.secure));
    }
    res
}

/// The callback paths of the systems being left (`callback` in the provider's table):
/// BookStack's `/oidc/callback` and Nextcloud's `/apps/user_oidc/code` name no
/// provider, so the one provider with that style answers; Tududi's
/// `/api/oidc/callback/{slug}` names it. A path answers only for providers configured
/// with its style (the redirect URI sent to the provider is that path).
pub(crate) async fn legacy_callback(
    State(app): State<App>,
    req: Req,
    uri: axum::http::Uri,
    Query(q): Query<CallbackQuery>,
) -> Response {
    use ssogate_config::Callback;
    let path = uri.path();
    let wanted = if path == "/oidc/callback" {
        Some((Callback::Bookstack, None))
    } else if path == "/apps/user_oidc/code" {
        Some((Callback::Nextcloud, None))
    } else if path == "/index.php/apps/user_oidc/code" {
        Some((Callback::NextcloudIndexPhp, None))
    } else {
        path.strip_prefix("/api/oidc/callback/")
            .map(|slug| (Callback::Tududi, Some(slug.to_owned())))
    };
    let registry = app.registry();
    let slug = wanted.and_then(|(style, slug)| {
        registry
            .providers
            .iter()
            .filter(|(s, p)| p.config.callback == style && slug.as_ref().is_none_or(|x| x == *s))
            .map(|(s, _)| s.clone())
            .next()
    });
    match slug {
        Some(slug) => callback(State(app), req, Path(slug), Query(q)).await,
        None => crate::ops::not_found(req).await,
    }
}

/// Tududi's `GET /api/oidc/auth/{slug}`: starts a sign-in through a provider configured
/// with Tududi's callback.
pub(crate) async fn legacy_start(
    state: State<App>,
    req: Req,
    Path(slug): Path<String>,
    query: Query<StartQuery>,
) -> Response {
    let tududi = state
        .0
        .provider(&slug)
        .is_some_and(|p| p.config.callback == ssogate_config::Callback::Tududi);
    if !tududi {
        return crate::ops::not_found(req).await;
    }
    start(state, req, Path(slug), query).await
}

/// `dump_claims`: what the provider sent (proofs and credentials redacted) reaches the
/// operator in the log and as an audit event, before the decision, whatever it is.
pub(super) async fn dump_claims(app: &App, req: &Req, slug: &str, subject: &str, dump: &Value) {
    let redacted = ssogate_store::audit::redact(dump).to_string();
    tracing::info!(provider = slug, subject, claims = %redacted, "claims received (dump_claims)");
    let mut ev = req.event("login.claims_dumped", "success", app.now());
    ev.provider = Some(slug.to_owned());
    ev.subject = Some(subject.to_owned());
    ev.detail = Some(redacted);
    app.audit(ev).await;
}

/// Claims → engine → one directory transaction → session.
pub(super) async fn sign_in(
    app: &App,
    req: &Req,
    entry: &ProviderEntry,
    verified: ssogate_oidc::VerifiedLogin,
) -> PageResult {
    let slug = entry.rp.slug().to_owned();
    let (amr, acr) = auth_context(&verified.id_token_claims);
    let sources = ClaimSources {
        id_token: Value::Object(verified.id_token_claims),
        userinfo: verified.userinfo.map(Value::Object),
    };
    let ctx = RequestContext {
        now: app.now(),
        address: Some(req.addr.to_string()),
        user_agent: web::user_agent(&req.headers),
    };
    let Some((engine, policy)) = app.engine(&slug) else {
        return Ok(unknown_provider(app, req, &slug).await);
    };
    let verdicts = crate::hooks::consult(app, &slug, &policy.hooks, &engine, &sources, false)
        .await
        .or_page(req)?;
    let result = app
        .db(move |d| d.login_with(engine, sources, ctx, verdicts))
        .await
        .or_page(req)?;
    let outcome = &result.outcome;
    // What was decided, in the log (Booklore's "Auto-provisioning new user …" lines):
    // names and reasons, never claims or tokens.
    let username = outcome.user.username.as_deref().unwrap_or("");
    match &outcome.decision {
        Decision::Provision { .. } => {
            tracing::info!(provider = %slug, username, "auto-provisioning a new user");
            app.metrics
                .inc("ssogate_provisioned_users_total", &[("provider", &slug)]);
        }
        Decision::Link { matched_by, .. } => {
            tracing::info!(provider = %slug, username, matched_by = ?matched_by, "linked a new identity to an existing user")
        }
        Decision::SignIn { .. } => {
            tracing::info!(provider = %slug, username, "signed in an existing user")
        }
        Decision::Reject(r) => {
            tracing::info!(provider = %slug, reason = r.code(), "refused a sign-in")
        }
    }
    match (outcome.allow_session, result.user_id) {
        (true, Some(user_id)) => {
            app.metrics.inc(
                "ssogate_logins_total",
                &[("provider", &slug), ("outcome", "success")],
            );
            let origin = SessionStart {
                provider: slug,
                sid: verified.sid,
                subject: verified.subject,
                id_token: verified.tokens.id_token,
                refresh_token: verified
                    .tokens
                    .refresh_token
                    .filter(|_| entry.config.refresh_interval_minutes > 0),
                amr,
                acr,
            };
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
            Ok(res)
        }
    }
}

/// Ends the session the request presents, if any (session fixation: a login always
/// gets a new id).
pub(super) async fn end_presented_session(app: &App, req: &Req) {
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
    user_id: UserId,
    origin: Option<SessionStart>,
    return_to: &str,
) -> PageResult {
    end_presented_session(app, req).await;
    let (now, life) = (app.now(), app.lifetimes);
    let created = app
        .db(move |d| {
            let o = origin.as_ref();
            d.create_session(
                user_id,
                &SessionOrigin {
                    provider: o.map(|o| o.provider.as_str()),
                    sid: o.and_then(|o| o.sid.as_deref()),
                    subject: o.map(|o| o.subject.as_str()),
                    id_token: o.and_then(|o| o.id_token.as_deref()),
                    refresh_token: o.and_then(|o| o.refresh_token.as_deref()),
                    // Without an upstream sign-in, it was a local password.
                    amr: match o {
                        Some(o) => o.amr.as_deref(),
                        None => Some("pwd"),
                    },
                    acr: o.and_then(|o| o.acr.as_deref()),
                },
                now,
                life,
            )
        })
        .await
        .or_page(req)?;
    let mut res = web::redirect(StatusCode::SEE_OTHER, return_to);
    append(&mut res, app.session_set_cookie(Some(&created)));
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::Purpose;
    use ssogate_core::domain::UserId;

    #[test]
    fn a_purpose_survives_the_pending_login_and_junk_is_never_a_link() {
        for p in [Purpose::SignIn, Purpose::Link(UserId(42))] {
            assert_eq!(Purpose::decode(p.encode().as_deref()), p);
        }
        for junk in ["link:", "link:x", "link:4 2", "other:5", ""] {
            assert_eq!(Purpose::decode(Some(junk)), Purpose::SignIn, "{junk}");
        }
    }
}
