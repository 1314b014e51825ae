//! The administrators' web console under `/admin`, a room per page: dashboard, users,
//! test claims, audit log, provisioning settings, providers, the catalogue, API keys,
//! webhooks.
//! Server-rendered, CSRF-protected, behind one administrator guard ([`require_admin`]);
//! every change goes through `ssogate-admin`, which audits it. This module holds what
//! the rooms share: the guard, the service-layer runner, confirmation and notices.

mod account;
mod audit;
mod catalogue;
mod clients;
mod dashboard;
mod effective;
mod keys;
mod lifecycle;
mod providers;
mod provisioning;
mod test_claims;
mod users;
mod webhooks;

pub(crate) use account::{delete, delete_confirm, user, user_action};
pub(crate) use audit::{audit, audit_csv, audit_event};
pub(crate) use clients::{
    add as client_add, clients, delete as client_delete, delete_confirm as client_delete_confirm,
    edit_form as client_edit_form, edit_save as client_edit_save, preview as client_preview,
    rotate as client_rotate,
};
pub(crate) use dashboard::dashboard;
pub(crate) use effective::effective;
pub(crate) use lifecycle::lifecycle;
pub(crate) use test_claims::{test_claims, test_claims_run};
pub(crate) use users::{bulk as users_bulk, users};

pub(crate) use catalogue::{
    catalogue, create as catalogue_create, delete as catalogue_delete,
    delete_confirm as catalogue_delete_confirm, item as catalogue_item, update as catalogue_update,
};
pub(crate) use keys::{create as key_create, keys, revoke as key_revoke};
pub(crate) use providers::{
    add as provider_add, check_provider, delete as provider_delete,
    delete_confirm as provider_delete_confirm, edit as provider_edit, providers,
    refresh_keys as provider_refresh_keys, update as provider_update,
};
pub(crate) use provisioning::{
    inherit as provisioning_inherit, provisioning, save_global as provisioning_save_global,
    save_provider as provisioning_save,
};
pub(crate) use webhooks::{
    action as webhook_action, add as webhook_add, delete as webhook_delete,
    delete_confirm as webhook_delete_confirm, replay as webhook_replay, webhook, webhooks,
};

use crate::auth::csrf_token;
use crate::extract::{AdminSession, Req};
use crate::pages::{self, FormButton, Link, MessagePage};
use crate::respond::{OrPage, PageError};
use crate::state::App;
use crate::web;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ssogate_admin::{Admin, AdminError};
use ssogate_core::domain::GrantKind;

/// The signed-in administrator, or the answer for anyone else.
async fn administrator(app: &App, req: &Req, back: &str) -> Result<String, PageError> {
    let session = match app.session(&req.headers).await.or_page(req)? {
        Some((_, s)) => s,
        None => {
            let q: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("return_to", back)
                .append_pair("direct", "1")
                .finish();
            return Err(web::redirect(StatusCode::FOUND, &format!("/login?{q}")).into());
        }
    };
    let id = session.user_id;
    let Some(user) = app.db(move |d| d.user(id)).await.or_page(req)? else {
        return Err(web::redirect(StatusCode::FOUND, "/login?direct=1").into());
    };
    if !user.grants.iter().any(|g| g.kind == GrantKind::Admin) {
        return Err(pages::message(
            req.t,
            StatusCode::FORBIDDEN,
            "Administrators only",
            "The console is for administrators. Ask one if you need access.",
            Some(Link {
                href: "/account".into(),
                label: req.t.account_title.into(),
            }),
            Some("not_admin"),
        )
        .into());
    }
    Ok(format!("user:{}", user.username))
}

/// Runs a service-layer call off the async threads as `actor`.
async fn run<T: Send + 'static>(
    app: &App,
    actor: String,
    f: impl FnOnce(&Admin) -> Result<T, AdminError> + Send + 'static,
) -> Result<T, AdminError> {
    let a = Admin::new(app.directory.clone(), actor).with_configured(app.configured());
    app.blocking(move || f(&a))
        .await
        .map_err(|e| AdminError::Store(ssogate_store::StoreError::Corrupt(e)))?
}

fn with_cookie(mut res: Response, cookie: Option<axum::http::HeaderValue>) -> Response {
    if let Some(c) = cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

/// 303 to a console page with a notice to show.
fn back_with(path: &str, notice: &str) -> Response {
    web::redirect(
        StatusCode::SEE_OTHER,
        &format!(
            "{path}?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("notice", notice)
                .finish()
        ),
    )
}

/// The page that asks before something is deleted: what goes, a button that posts to
/// `action`, and a way back to `cancel`.
fn confirm(
    app: &App,
    req: &Req,
    title: String,
    what_goes: String,
    action: String,
    button: String,
    cancel: &str,
) -> Response {
    let (csrf, cookie) = csrf_token(app, &req.headers);
    let page = MessagePage {
        t: req.t,
        title,
        paragraphs: vec![what_goes],
        form: Some(FormButton {
            action,
            csrf,
            button,
        }),
        link: Some(Link {
            href: cancel.to_owned(),
            label: req.t.cancel.into(),
        }),
        reference: None,
    };
    with_cookie(pages::render(StatusCode::OK, &page), cookie)
}

fn admin_failure(req: &Req, e: &AdminError) -> Response {
    crate::respond::admin_failure(req.t, e)
}

/// The console's sections, in the order of its navigation: (path, label).
const SECTIONS: [(&str, &str); 12] = [
    ("/admin", "Dashboard"),
    ("/admin/users", "Users"),
    ("/admin/provisioning", "Provisioning"),
    ("/admin/providers", "Providers"),
    ("/admin/catalogue", "Catalogue"),
    ("/admin/test-claims", "Test claims"),
    ("/admin/audit", "Audit log"),
    ("/admin/lifecycle", "Lifecycle"),
    ("/admin/api-keys", "API keys"),
    ("/admin/webhooks", "Webhooks"),
    ("/admin/clients", "Applications"),
    ("/api/docs", "API"),
];

/// The frame of every console page: the product, who is signed in with a way out, and
/// the navigation saying where you are. Put in by the guard (which knows both) where the
/// page's template left `<!--console-frame-->`, so no room can forget it.
fn frame_html(path: &str, admin: &str, csrf: &str) -> String {
    let current = SECTIONS
        .iter()
        .filter(|(p, _)| {
            path == *p
                || (*p != "/admin" && path.starts_with(&format!("{p}/")))
                || (*p == "/admin/provisioning" && path == "/admin/effective-settings")
        })
        .map(|(p, _)| *p)
        .max_by_key(|p| p.len());
    let mut nav = String::from("<nav aria-label=\"Console\" class=\"console-nav\"><ul>");
    for (p, label) in SECTIONS {
        let here = if Some(p) == current {
            " aria-current=\"page\""
        } else {
            ""
        };
        nav.push_str(&format!("<li><a href=\"{p}\"{here}>{label}</a></li>"));
    }
    nav.push_str("</ul></nav>");
    format!(
        "<header class=\"console-header\"><a class=\"brand\" href=\"/admin\">ssogate <span>console</span></a>\
         <form method=\"post\" action=\"/logout\" class=\"who\"><span>Signed in as {}</span> <a href=\"/account\">Your account</a>\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">Sign out</button></form></header>{nav}",
        escape(admin),
        escape(csrf),
    )
}

/// HTML-escapes text put into markup by hand (the frame, the dashboard's SVG).
pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Puts the frame into an HTML answer of a console route.
async fn framed(
    app: &App,
    headers: &axum::http::HeaderMap,
    path: &str,
    admin: &str,
    res: Response,
) -> Response {
    let html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if !html {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 8 << 20).await else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the page could not be read; try again",
        )
            .into_response();
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    if !text.contains("<!--console-frame-->") {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    }
    // The page's own forms and the frame's sign-out carry one token: the one the page
    // set, else the browser's, else a new one set here.
    let name = format!("{}=", app.csrf_cookie());
    let set_by_page = parts
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(name.as_str()))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned());
    let csrf = match set_by_page {
        Some(t) => t,
        None => {
            let (t, cookie) = csrf_token(app, headers);
            if let Some(c) = cookie {
                parts.headers.append(header::SET_COOKIE, c);
            }
            t
        }
    };
    let page = text.replacen("<!--console-frame-->", &frame_html(path, admin, &csrf), 1);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(page))
}

/// The guard around every `/admin` route: only a signed-in administrator gets through,
/// and handlers receive it as [`AdminSession`] (which exists nowhere else, so a console
/// route outside the guard cannot be written). Others are sent to sign in (back to the
/// page they asked for, when it was a page) or refused.
pub(crate) async fn require_admin(
    State(app): State<App>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let req = Req::from_parts(&parts, &app);
    let back = if parts.method == axum::http::Method::GET {
        parts
            .uri
            .path_and_query()
            .map_or("/admin", |p| p.as_str())
            .to_owned()
    } else {
        "/admin".to_owned()
    };
    match administrator(&app, &req, &back).await {
        Ok(actor) => {
            let path = parts.uri.path().to_owned();
            let headers = parts.headers.clone();
            let admin = actor.strip_prefix("user:").unwrap_or(&actor).to_owned();
            parts.extensions.insert(AdminSession { actor });
            request = axum::extract::Request::from_parts(parts, body);
            let res = next.run(request).await;
            framed(&app, &headers, &path, &admin, res).await
        }
        Err(refusal) => refusal.into_response(),
    }
}
