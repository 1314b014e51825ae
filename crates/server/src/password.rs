//! Local passwords for people: changing (or setting a first) password on `/account`,
//! and choosing one through a reset link an administrator made. Argon2 runs on the
//! password threads (`crate::hashing`), never on the directory's pool or under a lock;
//! every change is audited, never the password.

use crate::auth::too_many;
use crate::extract::{CsrfForm, Req};
use crate::pages::{self, Link, MessagePage};
use crate::ratelimit::Bucket;
use crate::respond::{OrPage, PageError, PageResult};
use crate::state::App;
use crate::web;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use ssogate_core::directory::ExistingUser;
use ssogate_core::password::PasswordProblem;
use ssogate_store::credentials::{PasswordCheck, hash_password, judge_password};

/// How recent a sign-in must be to set a first password without knowing one: a session
/// someone took over later cannot give itself a lasting way in.
pub(crate) const FRESH_SECONDS: i64 = 10 * 60;

/// A refusal's words in the page's language, by its code (the account page is sent
/// only the code, so nobody can make it say something else through a link).
pub(crate) fn refusal_text(app: &App, t: &crate::i18n::Texts, code: &str) -> Option<String> {
    let p = &app.config.passwords;
    Some(match code {
        "password_too_short" => t
            .password_too_short
            .replace("{n}", &p.min_length.to_string()),
        "password_too_long" => t
            .password_too_long
            .replace("{n}", &p.max_length.to_string()),
        "password_is_identity" => t.password_is_identity.to_owned(),
        "password_blank" => t.password_blank.to_owned(),
        "passwords_differ" => t.passwords_differ.to_owned(),
        "wrong_password" => t.current_wrong.to_owned(),
        "sign_in_not_recent" => t.reauth_to_set.to_owned(),
        _ => return None,
    })
}

/// Checks a new password against the policy and its repetition; the refusal's code.
fn acceptable(app: &App, user: &ExistingUser, new: &str, repeat: &str) -> Result<(), &'static str> {
    if new != repeat {
        return Err("passwords_differ");
    }
    app.config
        .passwords
        .policy()
        .check(new, &user.username, user.email.as_deref())
        .map_err(|p: PasswordProblem| p.code())
}

/// Argon2id of `password` on the password threads.
async fn hashed(app: &App, req: &Req, password: String) -> Result<String, PageError> {
    match app.hashing.run(move || hash_password(&password)).await {
        Ok(hash) => hash.or_page(req),
        Err(_) => Err(too_many(app, req, "password", 5).await.into()),
    }
}

#[derive(Deserialize)]
pub(crate) struct ChangeForm {
    current: Option<String>,
    new: String,
    repeat: String,
}

/// `POST /account/password`: the signed-in person changes their password (the current
/// one required), or sets a first one within [`FRESH_SECONDS`] of signing in.
pub(crate) async fn change(
    State(app): State<App>,
    req: Req,
    CsrfForm(f): CsrfForm<ChangeForm>,
) -> PageResult {
    if !app.config.server.local_login {
        return Ok(crate::ops::not_found(req).await);
    }
    if let Err(wait) = app.limits.hit(Bucket::Password, req.addr, app.now()) {
        return Ok(too_many(&app, &req, "password", wait).await);
    }
    let Some((_, session)) = app.session(&req.headers).await.or_page(&req)? else {
        return Ok(web::redirect(StatusCode::SEE_OTHER, "/login?direct=1"));
    };
    let id = session.user_id;
    let Some(user) = app.db(move |d| d.user(id)).await.or_page(&req)? else {
        return Ok(web::redirect(StatusCode::SEE_OTHER, "/login?direct=1"));
    };
    let mut ev = req.event("password.changed", "failure", app.now());
    ev.user_id = Some(id);
    let outcome = if let Err(code) = acceptable(&app, &user, &f.new, &f.repeat) {
        Err(code)
    } else if user.has_password {
        let name = user.username.clone();
        let record = app
            .db(move |d| d.password_record(&name))
            .await
            .or_page(&req)?;
        let current = f.current.unwrap_or_default();
        let Ok(check) = app
            .hashing
            .run(move || judge_password(record, &current))
            .await
        else {
            return Ok(too_many(&app, &req, "password", 5).await);
        };
        match check {
            PasswordCheck::Ok(who) if who == id => Ok(()),
            _ => Err("wrong_password"),
        }
    } else if app.now() - session.created_at > FRESH_SECONDS {
        Err("sign_in_not_recent")
    } else {
        Ok(())
    };
    if let Err(code) = outcome {
        ev.reason = Some(code.into());
        app.audit(ev).await;
        let back = format!("/account?password_error={code}");
        return Ok(web::redirect(StatusCode::SEE_OTHER, &back));
    }
    let hash = hashed(&app, &req, f.new).await?;
    let now = app.now();
    app.db(move |d| d.set_password_hash(id, Some(hash), now))
        .await
        .or_page(&req)?;
    ev.outcome = "success".into();
    ev.detail = Some(
        serde_json::json!({"first": !user.has_password, "username": user.username}).to_string(),
    );
    app.audit(ev).await;
    Ok(web::redirect(
        StatusCode::SEE_OTHER,
        "/account?notice=password:changed",
    ))
}

#[derive(Template)]
#[template(path = "password_reset.html")]
struct ResetPage<'a> {
    t: &'a crate::i18n::Texts,
    intro: String,
    token: String,
    csrf: String,
    error: Option<String>,
    min_length: usize,
}

#[derive(Deserialize)]
pub(crate) struct ResetQuery {
    token: Option<String>,
}

/// The page for a link that no longer works (used, replaced or expired): all look
/// alike, so the page tells nothing about which accounts have links.
fn link_gone(req: &Req) -> Response {
    pages::message(
        req.t,
        StatusCode::GONE,
        req.t.reset_title,
        req.t.reset_invalid,
        Some(Link {
            href: "/login?direct=1".into(),
            label: req.t.back_to_login.into(),
        }),
        Some("reset_link_invalid"),
    )
}

fn reset_form(app: &App, req: &Req, user: &str, token: String, error: Option<String>) -> Response {
    let (csrf, cookie) = crate::auth::csrf_token(app, &req.headers);
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut res = pages::render(
        status,
        &ResetPage {
            t: req.t,
            intro: crate::i18n::with_name(req.t.reset_intro, user),
            token,
            csrf,
            error,
            min_length: app.config.passwords.min_length,
        },
    );
    let h = res.headers_mut();
    if let Some(c) = cookie {
        h.append(header::SET_COOKIE, c);
    }
    // The token is in the address: keep it out of caches. (Other sites never see it in
    // a Referer: every answer says `same-origin`, and the page loads nothing foreign.)
    h.insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    res
}

/// `GET /password/reset?token=…`: the form, when the link still works.
pub(crate) async fn reset_page(
    State(app): State<App>,
    req: Req,
    Query(q): Query<ResetQuery>,
) -> PageResult {
    let Some(token) = q.token.filter(|t| !t.is_empty() && t.len() <= 128) else {
        return Ok(link_gone(&req));
    };
    let (t, now) = (token.clone(), app.now());
    let found = app
        .db(move |d| match d.peek_password_reset(&t, now)? {
            Some(id) => d.user(id),
            None => Ok(None),
        })
        .await
        .or_page(&req)?;
    Ok(match found {
        Some(user) => reset_form(&app, &req, &user.username, token, None),
        None => link_gone(&req),
    })
}

#[derive(Deserialize)]
pub(crate) struct ResetForm {
    token: String,
    new: String,
    repeat: String,
}

/// `POST /password/reset`: checks the new password first (a refused one does not use the
/// link up), then uses the link once, stores the password, and ends every session of
/// the account (whoever knew the old password is out).
pub(crate) async fn reset(
    State(app): State<App>,
    req: Req,
    CsrfForm(f): CsrfForm<ResetForm>,
) -> PageResult {
    if let Err(wait) = app.limits.hit(Bucket::Password, req.addr, app.now()) {
        return Ok(too_many(&app, &req, "password", wait).await);
    }
    let (t, now) = (f.token.clone(), app.now());
    let found = app
        .db(move |d| match d.peek_password_reset(&t, now)? {
            Some(id) => d.user(id),
            None => Ok(None),
        })
        .await
        .or_page(&req)?;
    let Some(user) = found else {
        let mut ev = req.event("password.reset", "failure", app.now());
        ev.reason = Some("reset_link_invalid".into());
        app.refused(ev, req.addr).await;
        return Ok(link_gone(&req));
    };
    if let Err(code) = acceptable(&app, &user, &f.new, &f.repeat) {
        let why = refusal_text(&app, req.t, code);
        return Ok(reset_form(&app, &req, &user.username, f.token, why));
    }
    let hash = hashed(&app, &req, f.new).await?;
    let (t, id, now) = (f.token, user.id, app.now());
    let done = app
        .db(move |d| {
            if d.take_password_reset(&t, now)? != Some(id) {
                return Ok(false);
            }
            d.set_password_hash(id, Some(hash), now)?;
            d.end_sessions_for_user(id)?;
            Ok(true)
        })
        .await
        .or_page(&req)?;
    if !done {
        // Used in between (another tab, another person): nothing was changed.
        return Ok(link_gone(&req));
    }
    let mut ev = req.event("password.reset", "success", app.now());
    ev.user_id = Some(id);
    ev.detail = Some(serde_json::json!({"username": user.username}).to_string());
    app.audit(ev).await;
    let mut res = pages::render(
        StatusCode::OK,
        &MessagePage {
            t: req.t,
            title: req.t.reset_title.to_owned(),
            paragraphs: vec![req.t.reset_done.to_owned()],
            form: None,
            link: Some(Link {
                href: "/login?direct=1".into(),
                label: req.t.back_to_login.into(),
            }),
            reference: None,
        },
    );
    if let Some(c) = app.session_set_cookie(None) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(res)
}
