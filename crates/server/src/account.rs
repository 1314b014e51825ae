//! The account page: linked identities, linking another provider (a login round-trip
//! bound to the current session), unlinking with the last-method guard.

use crate::auth::{self, TokenForm, csrf_token};
use crate::extract::CsrfForm;
use crate::extract::Req;
use crate::i18n::with_name;
use crate::pages::{self, AccountPage, FormButton, IdentityRow, Link, LinkButton, MessagePage};
use crate::registry::ProviderEntry;
use crate::respond::{OrPage, PageError, PageResult};
use crate::state::App;
use crate::web;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use serde::Deserialize;
use ssogate_core::domain::UserId;
use ssogate_store::accounts::{LinkOutcome, NewIdentity, UnlinkOutcome};
use ssogate_store::sessions::Session;

pub(crate) async fn root(
    State(app): State<App>,
    req: Req,
    axum::extract::Query(q): axum::extract::Query<crate::auth::BackFromLogout>,
) -> PageResult {
    // Back from the upstream provider's logout (Nextcloud- and BookStack-style
    // post-logout path `/`).
    if let Some(res) = crate::op::continue_logout(&app, &req, q.state.as_deref()).await {
        return Ok(res);
    }
    let target = match app.session(&req.headers).await.or_page(&req)? {
        Some(_) if app.demo_people.is_some() => "/demo/whoami",
        Some(_) => "/account",
        None => "/login",
    };
    Ok(web::redirect(StatusCode::FOUND, target))
}

/// Tududi's `GET /api/oidc/identities`: the signed-in person's linked identities, as
/// JSON (401 when nobody is signed in).
pub(crate) async fn identities_json(State(app): State<App>, req: Req) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let session = match app.session(&req.headers).await {
        Ok(Some((_, s))) => s,
        Ok(None) => {
            return crate::respond::json_error(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "no valid session; sign in first",
            );
        }
        Err(e) => return crate::respond::server_problem(&e),
    };
    let id = session.user_id;
    match app.db(move |d| d.identities(id)).await {
        Ok(list) => {
            let identities: Vec<serde_json::Value> = list
                .into_iter()
                .map(|i| {
                    serde_json::json!({
                        "provider": i.provider,
                        "provider_slug": i.provider,
                        "subject": i.subject,
                        "email": i.email,
                        "first_login_at": i.first_login_at,
                        "last_login_at": i.last_login_at,
                    })
                })
                .collect();
            (
                [(header::CACHE_CONTROL, "no-store")],
                axum::Json(serde_json::json!({ "identities": identities })),
            )
                .into_response()
        }
        Err(e) => crate::respond::server_problem(&e),
    }
}

/// The session, or the answer that sends the browser to sign in first.
async fn signed_in(app: &App, req: &Req, back: &str) -> Result<Session, PageError> {
    match app.session(&req.headers).await.or_page(req)? {
        Some((_, s)) => Ok(s),
        None => {
            let q: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("return_to", back)
                .append_pair("direct", "1")
                .finish();
            Err(web::redirect(StatusCode::FOUND, &format!("/login?{q}")).into())
        }
    }
}

fn provider_name(app: &App, slug: &str) -> String {
    app.provider(slug)
        .map_or_else(|| slug.to_owned(), |p| p.config.display_name.clone())
}

#[derive(Deserialize)]
pub(crate) struct AccountQuery {
    notice: Option<String>,
    /// A refusal of the password form, by code.
    password_error: Option<String>,
}

pub(crate) async fn page(
    State(app): State<App>,
    req: Req,
    Query(q): Query<AccountQuery>,
) -> PageResult {
    let session = signed_in(&app, &req, "/account").await?;
    let id = session.user_id;
    let loaded = app.db(move |d| Ok((d.user(id)?, d.identities(id)?)));
    let (user, identities) = match loaded.await.or_page(&req)? {
        (Some(u), i) => (u, i),
        (None, _) => return Ok(web::redirect(StatusCode::FOUND, "/login?direct=1")),
    };
    let t = req.t;
    let notice = q.notice.as_deref().and_then(|n| {
        let (kind, slug) = n.split_once(':')?;
        let text = match kind {
            "linked" => t.link_done,
            "unlinked" => t.unlinked,
            "taken" => t.link_taken,
            "exists" => t.link_exists,
            "last" => t.last_method,
            "password" => t.password_changed,
            _ => return None,
        };
        Some(with_name(text, &provider_name(&app, slug)))
    });
    let linked: Vec<&str> = identities.iter().map(|i| i.provider.as_str()).collect();
    let linkable = app
        .registry()
        .providers
        .iter()
        .filter(|(slug, _)| !linked.contains(&slug.as_str()))
        .map(|(slug, p)| LinkButton {
            slug: slug.clone(),
            label: with_name(t.link_button, &p.config.display_name),
        })
        .collect();
    let (csrf, cookie) = csrf_token(&app, &req.headers);
    let mut res = pages::render(
        StatusCode::OK,
        &AccountPage {
            t,
            username: user.username,
            display_name: user.display_name,
            email: user.email,
            notice,
            identities: identities
                .iter()
                .map(|i| IdentityRow {
                    slug: i.provider.clone(),
                    name: provider_name(&app, &i.provider),
                    email: i.email.clone().unwrap_or_default(),
                    first: pages::utc(i.first_login_at),
                    last: pages::utc(i.last_login_at),
                })
                .collect(),
            linkable,
            csrf,
            passwords_on: app.config.server.local_login,
            has_password: user.has_password,
            fresh: app.now() - session.created_at <= crate::password::FRESH_SECONDS,
            min_length: app.config.passwords.min_length,
            password_error: q
                .password_error
                .as_deref()
                .and_then(|c| crate::password::refusal_text(&app, t, c)),
        },
    );
    if let Some(c) = cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(res)
}

pub(crate) async fn link(
    State(app): State<App>,
    req: Req,
    Path(slug): Path<String>,
    CsrfForm(_): CsrfForm<TokenForm>,
) -> PageResult {
    let session = signed_in(&app, &req, "/account").await?;
    let Some(entry) = app.provider(&slug) else {
        return Ok(crate::ops::not_found(req).await);
    };
    let back = format!("{}/account", app.config.base_url);
    Ok(auth::begin(
        &app,
        &req,
        &entry,
        &back,
        auth::Purpose::Link(session.user_id),
    )
    .await)
}

/// The callback of a linking round-trip: the browser must still be signed in to the
/// account that started it.
pub(crate) async fn finish_link(
    app: &App,
    req: &Req,
    entry: &ProviderEntry,
    verified: ssogate_oidc::VerifiedLogin,
    user_id: UserId,
) -> PageResult {
    let slug = entry.rp.slug().to_owned();
    let mut ev = req.event("identity.linked", "failure", app.now());
    ev.provider = Some(slug.clone());
    ev.subject = Some(verified.subject.clone());
    match app.session(&req.headers).await.or_page(req)? {
        Some((_, s)) if s.user_id == user_id => {}
        _ => {
            ev.reason = Some("link_session_changed".into());
            app.audit(ev).await;
            return Ok(pages::message(
                req.t,
                StatusCode::FORBIDDEN,
                req.t.err_state_title,
                req.t.err_invalid_body,
                Some(Link {
                    href: "/account".into(),
                    label: req.t.account_title.into(),
                }),
                Some("link_session_changed"),
            ));
        }
    }
    let claims = serde_json::Value::Object(verified.id_token_claims.clone());
    let email = verified
        .id_token_claims
        .get("email")
        .or_else(|| verified.userinfo.as_ref().and_then(|u| u.get("email")))
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let identity = NewIdentity {
        provider: slug.clone(),
        issuer: entry.config.issuer.clone(),
        subject: verified.subject.clone(),
        email,
        claims,
    };
    let now = app.now();
    let outcome = app
        .db(move |d| d.link_identity(user_id, identity, now))
        .await
        .or_page(req)?;
    ev.user_id = Some(user_id);
    let notice = match outcome {
        LinkOutcome::Linked | LinkOutcome::AlreadyLinked => {
            ev.outcome = "success".into();
            "linked"
        }
        LinkOutcome::BelongsToAnother => {
            ev.reason = Some("identity_belongs_to_another_account".into());
            "taken"
        }
        LinkOutcome::ProviderAlreadyLinked => {
            ev.reason = Some("provider_already_linked".into());
            "exists"
        }
        LinkOutcome::NoSuchUser => {
            ev.reason = Some("no_such_user".into());
            "taken"
        }
    };
    app.audit(ev).await;
    Ok(web::redirect(
        StatusCode::SEE_OTHER,
        &format!("/account?notice={notice}:{slug}"),
    ))
}

pub(crate) async fn unlink_confirm(
    State(app): State<App>,
    req: Req,
    Path(slug): Path<String>,
) -> PageResult {
    signed_in(&app, &req, "/account").await?;
    let name = provider_name(&app, &slug);
    let (csrf, cookie) = csrf_token(&app, &req.headers);
    let t = req.t;
    let mut res = pages::render(
        StatusCode::OK,
        &MessagePage {
            t,
            title: with_name(t.unlink_confirm_title, &name),
            paragraphs: vec![with_name(t.unlink_confirm_body, &name)],
            form: Some(FormButton {
                action: format!("/account/unlink/{slug}"),
                csrf,
                button: t.unlink.into(),
            }),
            link: Some(Link {
                href: "/account".into(),
                label: t.cancel.into(),
            }),
            reference: None,
        },
    );
    if let Some(c) = cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(res)
}

pub(crate) async fn unlink(
    State(app): State<App>,
    req: Req,
    Path(slug): Path<String>,
    CsrfForm(_): CsrfForm<TokenForm>,
) -> PageResult {
    let session = signed_in(&app, &req, "/account").await?;
    let (user_id, s) = (session.user_id, slug.clone());
    let outcome = app
        .db(move |d| d.unlink_identity(user_id, &s))
        .await
        .or_page(&req)?;
    let mut ev = req.event("identity.unlinked", "failure", app.now());
    ev.user_id = Some(user_id);
    ev.provider = Some(slug.clone());
    let notice = match outcome {
        UnlinkOutcome::Unlinked => {
            ev.outcome = "success".into();
            "unlinked"
        }
        UnlinkOutcome::LastMethod => {
            ev.reason = Some("last_sign_in_method".into());
            "last"
        }
        UnlinkOutcome::NotFound => {
            ev.reason = Some("not_linked".into());
            "unlinked"
        }
    };
    app.audit(ev).await;
    let mut res = web::redirect(
        StatusCode::SEE_OTHER,
        &format!("/account?notice={notice}:{slug}"),
    );
    // Unlinking the provider this session came through ends the session with it.
    if notice == "unlinked" && session.provider.as_deref() == Some(slug.as_str()) {
        res = web::redirect(StatusCode::SEE_OTHER, "/logged-out");
        if let Some(c) = app.session_set_cookie(None) {
            res.headers_mut().append(header::SET_COOKIE, c);
        }
    }
    Ok(res)
}
