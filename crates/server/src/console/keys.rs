//! API keys in the console: listed (never their secrets), created — the key is shown
//! once, on the answer to the form that made it —, revoked.

use super::{admin_failure, back_with, run, with_cookie};
use crate::auth::csrf_token;
use crate::extract::{AdminSession, CsrfForm, Req};
use crate::pages;
use crate::respond::{OrPage, PageResult};
use crate::state::App;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ssogate_store::credentials::ApiScope;
use std::collections::HashMap;

pub(super) struct KeyRow {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub scope: String,
    pub created: String,
    pub last_used: String,
    pub revoked: Option<String>,
}

#[derive(Template)]
#[template(path = "console_keys.html")]
struct KeysPage<'a> {
    t: &'a crate::i18n::Texts,
    notice: Option<String>,
    error: Option<String>,
    /// A key just created: shown this once.
    created: Option<String>,
    keys: Vec<KeyRow>,
    /// Providers a SCIM token can be bound to.
    providers: Vec<String>,
    csrf: String,
}

async fn page(
    app: &App,
    req: &Req,
    actor: String,
    notice: Option<String>,
    error: Option<String>,
    created: Option<String>,
) -> PageResult {
    let keys = run(app, actor, |a| a.api_keys()).await.or_page(req)?;
    let keys = keys
        .into_iter()
        .map(|k| KeyRow {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            scope: k
                .provider
                .as_ref()
                .map_or_else(|| k.scope.as_str().to_owned(), |p| format!("scim ({p})")),
            created: pages::utc(k.created_at),
            last_used: k.last_used_at.map_or_else(|| "never".into(), pages::utc),
            revoked: k.revoked_at.map(pages::utc),
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let (csrf, cookie) = csrf_token(app, &req.headers);
    // Rendered with `Cache-Control: no-store`, like every page: the one holding a new
    // key is kept by no cache.
    Ok(with_cookie(
        pages::render(
            status,
            &KeysPage {
                t: req.t,
                notice,
                error,
                created,
                keys,
                providers: app.registry().providers.keys().cloned().collect(),
                csrf,
            },
        ),
        cookie,
    ))
}

pub(crate) async fn keys(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let actor = admin.actor;
    let notice = q.get("notice").map(|n| n.chars().take(200).collect());
    page(&app, &req, actor, notice, None, None)
        .await
        .into_response()
}

fn field<'a>(pairs: &'a [(String, String)], k: &str) -> Option<&'a str> {
    pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

/// Creates a key and answers with it, once (no redirect: the secret must not travel in
/// a URL or be shown again on reload).
pub(crate) async fn create(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> Response {
    let actor = admin.actor;
    let name = field(&pairs, "name").unwrap_or_default().to_owned();
    if field(&pairs, "scope") == Some("scim") {
        let provider = field(&pairs, "provider").unwrap_or_default().to_owned();
        return match run(&app, actor.clone(), move |a| {
            a.create_scim_token(&name, &provider)
        })
        .await
        {
            Ok(key) => (page(&app, &req, actor, None, None, Some(key.expose().to_owned())).await)
                .into_response(),
            Err(e) if e.is_input() => page(&app, &req, actor, None, Some(e.to_string()), None)
                .await
                .into_response(),
            Err(e) => admin_failure(&req, &e),
        };
    }
    let scope = match field(&pairs, "scope") {
        Some("admin") => ApiScope::Admin,
        Some("read") | None => ApiScope::Read,
        Some(other) => {
            let e = format!("scope: \"{other}\" is not read, admin or scim");
            return page(&app, &req, actor, None, Some(e), None)
                .await
                .into_response();
        }
    };
    match run(&app, actor.clone(), move |a| a.create_api_key(&name, scope)).await {
        Ok(key) => (page(&app, &req, actor, None, None, Some(key.expose().to_owned())).await)
            .into_response(),
        Err(e) if e.is_input() => page(&app, &req, actor, None, Some(e.to_string()), None)
            .await
            .into_response(),
        Err(e) => admin_failure(&req, &e),
    }
}

pub(crate) async fn revoke(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Path(id): Path<i64>,
    CsrfForm(_pairs): CsrfForm<Vec<(String, String)>>,
) -> Response {
    let actor = admin.actor;
    match run(&app, actor, move |a| a.revoke_api_key(id)).await {
        Ok(()) => back_with(
            "/admin/api-keys",
            "Revoked; requests with that key are refused from now on.",
        ),
        Err(e) => admin_failure(&req, &e),
    }
}
