//! The login page, the signed-out page, and local password sign-in.

use super::*;
use crate::extract::Req;
use crate::i18n::with_name;
use crate::pages::{self, Link, LoginPage, ProviderButton};
use crate::ratelimit::Bucket;
use crate::respond::{OrPage, PageResult};
use crate::state::App;
use crate::web;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use ssogate_store::credentials::PasswordCheck;

#[derive(Deserialize)]
pub(crate) struct LoginQuery {
    return_to: Option<String>,
    direct: Option<String>,
    prevent_auto_init: Option<String>,
    /// Back from the upstream provider's logout (BookStack-style post-logout path).
    state: Option<String>,
}

pub(super) fn start_href(slug: &str, return_to: &str) -> String {
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
    if let Some(res) = crate::op::continue_logout(&app, &req, q.state.as_deref()).await {
        return res;
    }
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

pub(super) fn login_form(
    app: &App,
    req: &Req,
    status: StatusCode,
    return_to: &str,
    message: Option<String>,
    username: &str,
) -> Response {
    let (csrf, cookie) = csrf_token(app, &req.headers);
    let configured = &app.config.server.login_label;
    let template = if configured == ssogate_config::DEFAULT_LOGIN_LABEL {
        req.t.sign_in_with
    } else {
        configured.as_str()
    };
    let registry = app.registry();
    let providers = registry
        .in_order()
        .into_iter()
        .map(|(slug, p)| ProviderButton {
            href: start_href(slug, return_to),
            label: with_name(template, &p.config.display_name),
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

/// `state`, when the upstream provider's logout brings the browser back (see
/// [`crate::op::continue_logout`]).
#[derive(Deserialize)]
pub(crate) struct BackFromLogout {
    pub(crate) state: Option<String>,
}

pub(crate) async fn logged_out(
    State(app): State<App>,
    req: Req,
    Query(q): Query<BackFromLogout>,
) -> Response {
    if let Some(res) = crate::op::continue_logout(&app, &req, q.state.as_deref()).await {
        return res;
    }
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
) -> PageResult {
    // Not `CsrfForm`: with password sign-in switched off the route answers 404 before
    // anything else, as if it did not exist.
    if !app.config.server.local_login {
        return Ok(crate::ops::not_found(req).await);
    }
    if !web::csrf_ok(
        &req.headers,
        app.csrf_cookie(),
        f.csrf.as_deref(),
        &app.base,
    ) {
        return Ok(crate::extract::csrf_failed(&app, &req));
    }
    if let Err(wait) = app.limits.hit(Bucket::Password, req.addr, app.now()) {
        return Ok(too_many(&app, &req, "password", wait).await);
    }
    let return_to = app.return_to(f.return_to.as_deref());
    let username = f.username.trim().to_owned();
    let (u, p) = (username.clone(), f.password);
    let record = app.db(move |d| d.password_record(&u)).await.or_page(&req)?;
    // A hash an import brought (bcrypt) is replaced by Argon2id once it has matched.
    let upgrade = record
        .as_ref()
        .and_then(|(_, hash, _)| hash.as_deref())
        .is_some_and(ssogate_store::credentials::needs_rehash)
        .then(|| p.clone());
    let Ok(check) = app
        .hashing
        .run(move || ssogate_store::credentials::judge_password(record, &p))
        .await
    else {
        // Every password thread is busy and the queue is full: a flood. Ask to come back
        // as a rate limit would.
        return Ok(too_many(&app, &req, "password", 5).await);
    };
    let mut ev = req.event("login.password", "failure", app.now());
    ev.subject = Some(username.chars().take(128).collect());
    let message = match check {
        PasswordCheck::Ok(user_id) => {
            ev.outcome = "success".into();
            ev.user_id = Some(user_id);
            app.audit(ev).await;
            if let Some(password) = upgrade {
                // Once per account, before the answer (so the next sign-in finds it done).
                let hashed = app
                    .hashing
                    .run(move || ssogate_store::credentials::hash_password(&password))
                    .await;
                if let Ok(Ok(hash)) = hashed {
                    let now = app.now();
                    let stored = app
                        .db(move |d| d.set_password_hash(user_id, Some(hash), now))
                        .await;
                    if let Err(e) = stored {
                        tracing::warn!(error = %e, "an imported password hash was not upgraded");
                    }
                }
            }
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
    Ok(login_form(
        &app,
        &req,
        StatusCode::UNAUTHORIZED,
        &return_to,
        Some(message.1.to_owned()),
        &username,
    ))
}
