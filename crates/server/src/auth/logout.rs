//! Signing out: here (and at the provider, RP-initiated), and back-channel logout from
//! the provider.

use super::*;
use crate::extract::CsrfForm;
use crate::extract::Req;
use crate::respond::{OrPage, PageResult, json_error};
use crate::state::App;
use crate::web;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use ssogate_oidc::OidcError;

/// A form with nothing but its CSRF token (which [`CsrfForm`] checks).
#[derive(Deserialize)]
pub(crate) struct TokenForm {}

pub(crate) async fn logout(
    State(app): State<App>,
    req: Req,
    CsrfForm(_): CsrfForm<TokenForm>,
) -> PageResult {
    let session = app.session(&req.headers).await.or_page(&req)?;
    let mut target = "/logged-out".to_owned();
    if let Some((secret, session)) = session {
        let id_token = app
            .db(move |d| d.end_session(&secret))
            .await
            .or_page(&req)?
            .and_then(|e| e.id_token);
        let mut ev = req.event("logout", "success", app.now());
        ev.user_id = Some(session.user_id);
        ev.provider = session.provider.clone();
        app.audit(ev).await;
        app.metrics
            .inc("ssogate_logouts_total", &[("kind", "user")]);
        if app.config.server.rp_logout
            && let Some(entry) = session.provider.as_deref().and_then(|p| app.provider(p))
        {
            let back = app.post_logout_url(&entry);
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
    Ok(res)
}

#[derive(Deserialize)]
pub(crate) struct BackchannelForm {
    logout_token: Option<String>,
}

/// Nextcloud user_oidc's back-channel logout URI
/// (`/index.php/apps/user_oidc/backchannel-logout/{name}`, also without `index.php`),
/// so the URI registered at the provider keeps working: the provider of that slug, else
/// the one configured with Nextcloud's callback.
pub(crate) async fn nextcloud_backchannel_logout(
    State(app): State<App>,
    req: Req,
    Path(name): Path<String>,
    form: Form<BackchannelForm>,
) -> Response {
    let slug = if app.provider(&name).is_some() {
        name
    } else {
        app.registry()
            .providers
            .iter()
            .find(|(_, p)| {
                matches!(
                    p.config.callback,
                    ssogate_config::Callback::Nextcloud
                        | ssogate_config::Callback::NextcloudIndexPhp
                )
            })
            .map_or(name, |(s, _)| s.clone())
    };
    backchannel_logout(State(app), req, Path(slug), form).await
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
                Ok(false) => Err(OidcError::LogoutTokenReplayed.into()),
                Err(e) => Err(StepError::Directory(e)),
            }
        }
        Err(e) => Err(e.into()),
    };
    match checked {
        Err(StepError::Directory(e)) if e.is_unavailable() => {
            tracing::error!(error = %e, "a back-channel logout could not be checked: the directory cannot be reached");
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
        Err(StepError::Directory(e)) => {
            tracing::error!(error = %e, "a back-channel logout could not be checked");
            json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the logout token could not be checked",
            )
        }
        Err(StepError::Refused(e)) => {
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
