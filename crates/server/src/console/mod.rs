//! The administrators' web console under `/admin`: dashboard, users (search, filters,
//! detail, status, grants, external ids, delete), test claims, audit log with CSV
//! export. Server-rendered, CSRF-protected, for sessions of administrators only
//! (everyone else gets 403). Every change goes through `ssogate-admin`, which audits it.

mod catalogue;
mod keys;
mod providers;
mod provisioning;

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

use crate::auth::{csrf_failed, csrf_token};
use crate::extract::{AdminSession, Req};
use crate::pages::{self, FormButton, Link, MessagePage};
use crate::respond::server_error;
use crate::state::App;
use crate::web;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use ssogate_admin::{Admin, AdminError, StatusChange};
use ssogate_core::domain::{GrantKind, UserSource, UserStatus};
use ssogate_store::query::{AuditFilter, UserFilter, UserSort};
use std::collections::HashMap;

/// The signed-in administrator, or the answer for anyone else.
async fn administrator(app: &App, req: &Req, back: &str) -> Result<String, Response> {
    let session = match app.session(&req.headers).await {
        Ok(Some((_, s))) => s,
        Ok(None) => {
            let q: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("return_to", back)
                .append_pair("direct", "1")
                .finish();
            return Err(web::redirect(StatusCode::FOUND, &format!("/login?{q}")));
        }
        Err(e) => return Err(server_error(req.t, &e)),
    };
    let id = session.user_id;
    let user = match app.db(move |d| d.user(id)).await {
        Ok(Some(u)) => u,
        Ok(None) => return Err(web::redirect(StatusCode::FOUND, "/login?direct=1")),
        Err(e) => return Err(server_error(req.t, &e)),
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
        ));
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
    if let AdminError::Store(s) = e
        && !e.is_input()
    {
        return server_error(req.t, s);
    }
    let status = match e {
        AdminError::NotFound { .. } => StatusCode::NOT_FOUND,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    pages::message(
        req.t,
        status,
        "That did not work",
        &e.to_string(),
        Some(Link {
            href: "/admin/users".into(),
            label: "Users".into(),
        }),
        None,
    )
}

#[derive(Template)]
#[template(path = "console_dashboard.html")]
struct DashboardPage<'a> {
    t: &'a crate::i18n::Texts,
    accounts: Vec<(String, String, i64)>,
    chart: String,
    provisioned: i64,
    failures: i64,
}

/// An SVG bar-and-line chart of the last 30 days; only numbers and our own labels go in.
fn chart(days: &[(i64, i64, i64)], today: i64) -> String {
    let first = today - 29 * 86_400;
    let mut series = [(0i64, 0i64); 30];
    for (day, p, f) in days {
        let i = (day - first).div_euclid(86_400);
        if let Some(slot) = usize::try_from(i).ok().and_then(|i| series.get_mut(i)) {
            *slot = (*p, *f);
        }
    }
    let max = series
        .iter()
        .map(|(p, f)| (*p).max(*f))
        .max()
        .unwrap_or(0)
        .max(1);
    let (w, h, pad) = (600i64, 200i64, 24i64);
    let step = (w - 2 * pad) / 30;
    let y = |v: i64| h - pad - v * (h - 2 * pad) / max;
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"Provisioned accounts and failed sign-ins per day\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    svg.push_str(&format!(
        "<line x1=\"{pad}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"currentColor\" stroke-width=\"1\"/>",
        h - pad,
        w - pad
    ));
    let mut line = String::new();
    for (i, (p, f)) in (0i64..).zip(series.iter()) {
        let x = pad + i * step;
        let top = y(*p);
        svg.push_str(&format!(
            "<rect x=\"{}\" y=\"{top}\" width=\"{}\" height=\"{}\" fill=\"#2452c4\"><title>{p} provisioned</title></rect>",
            x + 2,
            step - 4,
            h - pad - top
        ));
        line.push_str(&format!("{},{} ", x + step / 2, y(*f)));
    }
    svg.push_str(&format!(
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#b42318\" stroke-width=\"2\"/>",
        line.trim_end()
    ));
    svg.push_str(&format!(
        "<text x=\"{pad}\" y=\"14\" font-size=\"12\" fill=\"currentColor\">max {max} a day</text></svg>"
    ));
    svg
}

pub(crate) async fn dashboard(State(app): State<App>, req: Req, _admin: AdminSession) -> Response {
    let today = app.now().div_euclid(86_400) * 86_400;
    let since = today - 29 * 86_400;
    let stats = match app.db(move |d| d.stats(since)).await {
        Ok(s) => s,
        Err(e) => return server_error(req.t, &e),
    };
    pages::render(
        StatusCode::OK,
        &DashboardPage {
            t: req.t,
            chart: chart(&stats.days, today),
            provisioned: stats.days.iter().map(|d| d.1).sum(),
            failures: stats.days.iter().map(|d| d.2).sum(),
            accounts: stats.accounts,
        },
    )
}

struct UserRow {
    id: i64,
    username: String,
    email: String,
    source: String,
    status: String,
    admin: bool,
    last_login: String,
}

#[derive(Template)]
#[template(path = "console_users.html")]
struct UsersPage<'a> {
    t: &'a crate::i18n::Texts,
    search: String,
    statuses: Vec<(&'static str, bool)>,
    sources: Vec<(&'static str, bool)>,
    sorts: Vec<(&'static str, bool)>,
    admins: Vec<(&'static str, bool)>,
    descending: bool,
    /// Provider slugs, then each catalogue list, with whether chosen (first: "any").
    providers: Vec<(String, bool)>,
    permissions: Vec<(String, bool)>,
    libraries: Vec<(String, bool)>,
    groups: Vec<(String, bool)>,
    users: Vec<UserRow>,
    next: Option<String>,
    error: Option<String>,
}

fn options(all: &[&'static str], chosen: &str) -> Vec<(&'static str, bool)> {
    all.iter().map(|o| (*o, *o == chosen)).collect()
}

pub(crate) async fn users(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let actor = admin.actor;
    let get = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let filter = UserFilter {
        search: get("search").map(str::to_owned),
        status: get("status").and_then(UserStatus::parse),
        source: get("source").and_then(UserSource::parse),
        provider: get("provider").map(str::to_owned),
        admin: match get("admin") {
            Some("yes") => Some(true),
            Some("no") => Some(false),
            _ => None,
        },
        permission: get("permission").map(str::to_owned),
        library: get("library").map(str::to_owned),
        group: get("group").map(str::to_owned),
        sort: match get("sort") {
            Some("created") => UserSort::Created,
            Some("last_login") => UserSort::LastLogin,
            _ => UserSort::Username,
        },
        descending: get("desc") == Some("true"),
        limit: 50,
        after: get("after").map(str::to_owned),
    };
    let catalogue = app.db(|d| d.catalogue()).await.unwrap_or_default();
    let choices = |key: &str, names: Vec<String>| {
        let chosen = get(key).unwrap_or("");
        std::iter::once(String::new())
            .chain(names)
            .map(|n| {
                let on = n == chosen;
                (n, on)
            })
            .collect::<Vec<_>>()
    };
    let f = filter.clone();
    let (users, next, error) = match run(&app, actor, move |a| a.list_users(&f)).await {
        Ok(page) => (page.users, page.next, None),
        Err(e) => (Vec::new(), None, Some(e.to_string())),
    };
    let next = next.map(|n| {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &q {
            if k != "after" {
                s.append_pair(k, v);
            }
        }
        s.append_pair("after", &n);
        format!("/admin/users?{}", s.finish())
    });
    pages::render(
        StatusCode::OK,
        &UsersPage {
            t: req.t,
            search: get("search").unwrap_or("").to_owned(),
            admins: options(&["", "yes", "no"], get("admin").unwrap_or("")),
            descending: filter.descending,
            providers: choices(
                "provider",
                app.registry().providers.keys().cloned().collect(),
            ),
            permissions: choices(
                "permission",
                catalogue
                    .permissions
                    .iter()
                    .map(|p| p.name.clone())
                    .collect(),
            ),
            libraries: choices(
                "library",
                catalogue.libraries.iter().map(|l| l.name.clone()).collect(),
            ),
            groups: choices(
                "group",
                catalogue.groups.iter().map(|g| g.name.clone()).collect(),
            ),
            statuses: options(
                &["", "active", "disabled", "pending"],
                get("status").unwrap_or(""),
            ),
            sources: options(
                &["", "local", "provider", "api"],
                get("source").unwrap_or(""),
            ),
            sorts: options(
                &["username", "created", "last_login"],
                get("sort").unwrap_or("username"),
            ),
            users: users
                .into_iter()
                .map(|u| UserRow {
                    id: u.id,
                    username: u.username,
                    email: u.email.unwrap_or_default(),
                    source: u.source.as_str().into(),
                    status: u.status.as_str().into(),
                    admin: u.is_admin,
                    last_login: u.last_login_at.map_or_else(|| "never".into(), pages::utc),
                })
                .collect(),
            next,
            error,
        },
    )
}

struct GrantRow {
    kind: String,
    name: String,
    source: String,
}

#[derive(Template)]
#[template(path = "console_user.html")]
struct UserPage<'a> {
    t: &'a crate::i18n::Texts,
    id: i64,
    username: String,
    display_name: String,
    email: String,
    email_verified: bool,
    source: String,
    status: String,
    admin: bool,
    notice: Option<String>,
    grants: Vec<GrantRow>,
    grantable: Vec<String>,
    providers: Vec<String>,
    external_ids: Vec<(String, String)>,
    identities: Vec<(String, String, String, String, String)>,
    claims: Vec<(String, String)>,
    csrf: String,
}

pub(crate) async fn user(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Path(id): Path<i64>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let detail = match account(&app, &req, &admin, id).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let idents: Vec<(String, String)> = detail
        .linked
        .iter()
        .map(|i| (i.provider.clone(), i.subject.clone()))
        .collect();
    let claims = app
        .db(move |d| {
            idents
                .into_iter()
                .map(|(p, s)| {
                    Ok(d.last_claims(&p, &s)?
                        .map(|c| (p, serde_json::to_string_pretty(&c).unwrap_or_default())))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .map(|v| v.into_iter().flatten().collect())
        .unwrap_or_default();
    let c = match app.db(|d| d.catalogue()).await {
        Ok(c) => c,
        Err(e) => return server_error(req.t, &e),
    };
    let u = &detail.user;
    let held =
        |kind: GrantKind, name: &str| u.grants.iter().any(|g| g.kind == kind && g.name == name);
    let mut grantable: Vec<String> = Vec::new();
    grantable.extend(
        c.permissions
            .iter()
            .filter(|p| !held(GrantKind::Permission, &p.name))
            .map(|p| format!("permission:{}", p.name)),
    );
    grantable.extend(
        c.libraries
            .iter()
            .filter(|l| !held(GrantKind::Library, &l.name))
            .map(|l| format!("library:{}", l.name)),
    );
    grantable.extend(
        c.groups
            .iter()
            .filter(|g| !held(GrantKind::Group, &g.name))
            .map(|g| format!("group:{}", g.name)),
    );
    if !held(GrantKind::Admin, "admin") {
        grantable.push("admin:admin".into());
    }
    let notice = q.get("notice").map(|n| match n.as_str() {
        "granted" => "Granted.".to_owned(),
        "revoked" => "Removed.".to_owned(),
        "status" => "Status changed; sessions follow at once.".to_owned(),
        "external_id" => "External id saved.".to_owned(),
        "profile" => {
            "Saved. A changed email is unverified until a provider vouches for it.".to_owned()
        }
        other => other.chars().take(100).collect(),
    });
    let (csrf, cookie) = csrf_token(&app, &req.headers);
    let page = UserPage {
        t: req.t,
        id,
        username: u.username.clone(),
        display_name: u.display_name.clone().unwrap_or_default(),
        email: u.email.clone().unwrap_or_default(),
        email_verified: u.email_verified,
        source: u.source.as_str().into(),
        status: u.status.as_str().into(),
        admin: u.grants.iter().any(|g| g.kind == GrantKind::Admin),
        notice,
        grants: u
            .grants
            .iter()
            .map(|g| GrantRow {
                kind: g.kind.to_string(),
                name: g.name.clone(),
                source: g.source.as_str().into(),
            })
            .collect(),
        grantable,
        providers: app.registry().providers.keys().cloned().collect(),
        external_ids: u
            .external_ids
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        identities: detail
            .linked
            .iter()
            .map(|i| {
                (
                    i.provider.clone(),
                    i.subject.clone(),
                    i.email.clone().unwrap_or_default(),
                    pages::utc(i.first_login_at),
                    pages::utc(i.last_login_at),
                )
            })
            .collect(),
        claims,
        csrf,
    };
    with_cookie(pages::render(StatusCode::OK, &page), cookie)
}

/// An account's page: the account, read as the administrator.
async fn account(
    app: &App,
    req: &Req,
    admin: &AdminSession,
    id: i64,
) -> Result<ssogate_admin::UserDetail, Response> {
    let who = id.to_string();
    run(app, admin.actor.clone(), move |a| a.user(&who))
        .await
        .map_err(|e| admin_failure(req, &e))
}

fn kind_of(s: &str) -> Option<GrantKind> {
    match s {
        "permission" => Some(GrantKind::Permission),
        "library" => Some(GrantKind::Library),
        "group" => Some(GrantKind::Group),
        "admin" => Some(GrantKind::Admin),
        _ => None,
    }
}

/// A console form's CSRF token: `Some(refusal)` when it does not hold (the
/// administrator is checked by the guard around
/// every `/admin` route, see [`require_admin`]).
fn csrf_guard(app: &App, req: &Req, csrf: Option<&str>) -> Option<Response> {
    (!web::csrf_ok(&req.headers, app.csrf_cookie(), csrf, &app.base)).then(|| csrf_failed(app, req))
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
            parts.extensions.insert(AdminSession { actor });
            request = axum::extract::Request::from_parts(parts, body);
            next.run(request).await
        }
        Err(refusal) => refusal,
    }
}

#[derive(Deserialize)]
pub(crate) struct ActionForm {
    csrf: Option<String>,
    action: Option<String>,
    grant: Option<String>,
    kind: Option<String>,
    name: Option<String>,
    provider: Option<String>,
    external_id: Option<String>,
    display_name: Option<String>,
    email: Option<String>,
}

pub(crate) async fn user_action(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Path((id, what)): Path<(i64, String)>,
    Form(f): Form<ActionForm>,
) -> Response {
    let back = format!("/admin/users/{id}");
    if let Some(r) = csrf_guard(&app, &req, f.csrf.as_deref()) {
        return r;
    }
    let actor = admin.actor;
    let who = id.to_string();
    let result = match what.as_str() {
        "status" => {
            let change = match f.action.as_deref() {
                Some("disable") => StatusChange::Disable,
                Some("enable") => StatusChange::Enable,
                Some("approve") => StatusChange::Approve,
                _ => return crate::ops::not_found(req).await,
            };
            run(&app, actor, move |a| a.set_status(&who, change).map(drop)).await
        }
        "grant" => {
            let Some((kind, name)) = f
                .grant
                .as_deref()
                .and_then(|g| g.split_once(':'))
                .and_then(|(k, n)| Some((kind_of(k)?, n.to_owned())))
            else {
                return crate::ops::not_found(req).await;
            };
            run(&app, actor, move |a| a.grant(&who, kind, &name).map(drop)).await
        }
        "revoke" => {
            let (Some(kind), Some(name)) = (f.kind.as_deref().and_then(kind_of), f.name.clone())
            else {
                return crate::ops::not_found(req).await;
            };
            run(&app, actor, move |a| a.revoke(&who, kind, &name).map(drop)).await
        }
        "external-id" => {
            let Some(provider) = f.provider.clone() else {
                return crate::ops::not_found(req).await;
            };
            let ext = f.external_id.clone().filter(|e| !e.trim().is_empty());
            run(&app, actor, move |a| {
                a.set_external_id(&who, &provider, ext.as_deref())
            })
            .await
        }
        "profile" => {
            let (name, email) = (f.display_name.clone(), f.email.clone());
            run(&app, actor, move |a| {
                a.update_profile(&who, name.as_deref(), email.as_deref())
                    .map(drop)
            })
            .await
        }
        "delete" => {
            return match run(&app, actor, move |a| a.delete_user(&who)).await {
                Ok(()) => web::redirect(StatusCode::SEE_OTHER, "/admin/users"),
                Err(e) => admin_failure(&req, &e),
            };
        }
        _ => return crate::ops::not_found(req).await,
    };
    let notice = match what.as_str() {
        "revoke" => "revoked",
        "external-id" => "external_id",
        "profile" => "profile",
        "grant" => "granted",
        _ => "status",
    };
    match result {
        Ok(()) => web::redirect(StatusCode::SEE_OTHER, &format!("{back}?notice={notice}")),
        Err(e) => admin_failure(&req, &e),
    }
}

pub(crate) async fn delete(
    state: State<App>,
    req: Req,
    admin: AdminSession,
    Path(id): Path<i64>,
    form: Form<ActionForm>,
) -> Response {
    user_action(state, req, admin, Path((id, "delete".to_owned())), form).await
}

pub(crate) async fn delete_confirm(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Path(id): Path<i64>,
) -> Response {
    let detail = match account(&app, &req, &admin, id).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let n = detail.linked.len();
    confirm(
        &app,
        &req,
        format!("Delete {}?", detail.user.username),
        format!(
            "The account, its {n} linked identit{}, its grants and its sessions go; the audit log keeps its history.",
            if n == 1 { "y" } else { "ies" }
        ),
        format!("/admin/users/{id}/delete"),
        "Delete".into(),
        &format!("/admin/users/{id}"),
    )
}

struct Decided {
    decision: String,
    message: Option<String>,
    trace: Vec<String>,
    changes: String,
}

#[derive(Template)]
#[template(path = "console_test.html")]
struct TestPage<'a> {
    t: &'a crate::i18n::Texts,
    /// (value `provider:subject`, label).
    recent: Vec<(String, String)>,
    providers: Vec<(String, bool)>,
    claims: String,
    userinfo: String,
    error: Option<String>,
    result: Option<Decided>,
    csrf: String,
}

/// Recent sign-ins to start a test from: (`provider:subject`, label).
async fn recent(app: &App) -> Vec<(String, String)> {
    app.db(|d| d.recent_identities(20))
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|(p, s, u)| (format!("{p}:{s}"), format!("{u} through {p}")))
        .collect()
}

pub(crate) async fn test_claims(
    State(app): State<App>,
    req: Req,
    _admin: AdminSession,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    // Start from the (redacted) claims of a recent sign-in, when one is picked.
    let picked = match q.get("from").and_then(|f| f.split_once(':')) {
        Some((p, s)) => {
            let (p, s) = (p.to_owned(), s.to_owned());
            let provider = p.clone();
            app.db(move |d| d.last_claims(&p, &s))
                .await
                .ok()
                .flatten()
                .map(|c| {
                    (
                        provider,
                        serde_json::to_string_pretty(&c).unwrap_or_default(),
                    )
                })
        }
        None => None,
    };
    let (csrf, cookie) = csrf_token(&app, &req.headers);
    let chosen = picked.as_ref().map(|(p, _)| p.clone()).unwrap_or_default();
    let page = TestPage {
        t: req.t,
        recent: recent(&app).await,
        providers: app.registry().providers.keys().map(|p| (p.clone(), *p == chosen)).collect(),
        claims: picked.map(|(_, c)| c).unwrap_or_else(|| "{\n  \"sub\": \"248289761001\",\n  \"preferred_username\": \"jane\",\n  \"email\": \"jane@example.org\",\n  \"email_verified\": true,\n  \"groups\": [\"readers\"]\n}".into()),
        userinfo: String::new(),
        error: None,
        result: None,
        csrf,
    };
    with_cookie(pages::render(StatusCode::OK, &page), cookie)
}

#[derive(Deserialize)]
pub(crate) struct TestForm {
    csrf: Option<String>,
    provider: String,
    claims: String,
    #[serde(default)]
    userinfo: String,
}

pub(crate) async fn test_claims_run(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Form(f): Form<TestForm>,
) -> Response {
    if let Some(r) = csrf_guard(&app, &req, f.csrf.as_deref()) {
        return r;
    }
    let actor = admin.actor;
    let parse = |what: &str, text: &str| {
        serde_json::from_str::<serde_json::Value>(text)
            .map_err(|e| format!("The {what} are not JSON: {e}"))
    };
    let mut error = None;
    let mut result = None;
    match (
        app.engine(&f.provider)
            .map(|(e, _)| e)
            .ok_or_else(|| format!("no provider \"{}\" is configured", f.provider)),
        parse("claims", &f.claims),
        if f.userinfo.trim().is_empty() {
            Ok(None)
        } else {
            parse("userinfo claims", &f.userinfo).map(Some)
        },
    ) {
        (Err(e), _, _) => error = Some(e),
        (_, Err(e), _) | (_, _, Err(e)) => error = Some(e),
        (Ok(engine), Ok(claims), Ok(userinfo)) => {
            match run(&app, actor, move |a| {
                a.test_claims(engine, claims, userinfo)
            })
            .await
            {
                Ok(outcome) => {
                    result = Some(Decided {
                        decision: outcome.decision.code().to_owned(),
                        message: outcome.reason().map(ToString::to_string),
                        trace: outcome.trace.to_strings(),
                        changes: serde_json::to_string_pretty(&outcome.changes).unwrap_or_default(),
                    });
                }
                Err(e) => error = Some(e.to_string()),
            }
        }
    }
    let (csrf, cookie) = csrf_token(&app, &req.headers);
    let page = TestPage {
        t: req.t,
        recent: recent(&app).await,
        providers: app
            .registry()
            .providers
            .keys()
            .map(|p| (p.clone(), *p == f.provider))
            .collect(),
        claims: f.claims,
        userinfo: f.userinfo,
        error,
        result,
        csrf,
    };
    with_cookie(pages::render(StatusCode::OK, &page), cookie)
}

#[derive(Template)]
#[template(path = "console_audit.html")]
struct AuditPage<'a> {
    t: &'a crate::i18n::Texts,
    event: String,
    user: String,
    provider: String,
    from: String,
    to: String,
    outcomes: Vec<(&'static str, bool)>,
    csv: String,
    error: Option<String>,
    events: Vec<(String, String, String, String, String, String, String)>,
}

async fn audit_events(
    app: &App,
    actor: String,
    q: &HashMap<String, String>,
    limit: i64,
) -> Result<Vec<(i64, ssogate_store::AuditEvent)>, AdminError> {
    let get = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let date = |field: &'static str| -> Result<Option<i64>, AdminError> {
        get(field)
            .map(|v| {
                ssogate_admin::dates::parse_day(v).ok_or_else(|| AdminError::Invalid {
                    field,
                    message: format!("\"{v}\" is not a date like 2026-11-23"),
                })
            })
            .transpose()
    };
    let mut filter = AuditFilter {
        from: date("from")?,
        to: date("to")?,
        user_id: None,
        provider: get("provider").map(str::to_owned),
        event: get("event").map(str::to_owned),
        outcome: get("outcome").map(str::to_owned),
        before_id: None,
        limit,
    };
    let user = get("user").map(str::to_owned);
    run(app, actor, move |a| {
        filter.user_id = user.as_deref().map(|u| a.user_id(u)).transpose()?;
        a.audit_events(&filter)
    })
    .await
}

pub(crate) async fn audit(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let actor = admin.actor;
    let (events, error) = match audit_events(&app, actor, &q, 200).await {
        Ok(e) => (e, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let csv = format!(
        "/admin/audit.csv?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(q.iter())
            .finish()
    );
    pages::render(
        StatusCode::OK,
        &AuditPage {
            t: req.t,
            event: get("event"),
            user: get("user"),
            provider: get("provider"),
            from: get("from"),
            to: get("to"),
            outcomes: options(&["", "success", "failure"], &get("outcome")),
            csv,
            error,
            events: events
                .into_iter()
                .map(|(_, e)| {
                    (
                        pages::utc(e.at),
                        e.event,
                        e.outcome,
                        e.reason.unwrap_or_default(),
                        e.provider.unwrap_or_default(),
                        e.subject.unwrap_or_default(),
                        e.user_id.map(|u| u.to_string()).unwrap_or_default(),
                    )
                })
                .collect(),
        },
    )
}

/// One CSV field, quoted when it must be (RFC 4180). A value a spreadsheet would run as
/// a formula (`=`, `+`, `-`, `@`, tab, CR first — subjects and usernames come from
/// providers) gets a leading `'`, as OWASP advises for exports opened by people.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

pub(crate) async fn audit_csv(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let actor = admin.actor;
    let events = match audit_events(&app, actor, &q, 10_000).await {
        Ok(e) => e,
        Err(e) => return admin_failure(&req, &e),
    };
    let mut out = String::from("id,at,event,outcome,reason,provider,subject,user_id,detail\r\n");
    for (id, e) in events {
        let row = [
            id.to_string(),
            e.at.to_string(),
            e.event,
            e.outcome,
            e.reason.unwrap_or_default(),
            e.provider.unwrap_or_default(),
            e.subject.unwrap_or_default(),
            e.user_id.map(|u| u.to_string()).unwrap_or_default(),
            e.detail.unwrap_or_default(),
        ];
        out.push_str(
            &row.iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"ssogate-audit.csv\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        out,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("@sum"), "'@sum");
        assert_eq!(csv_field("-1"), "'-1");
    }
}
