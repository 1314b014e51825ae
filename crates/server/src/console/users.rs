//! Accounts: the list with its filters and sorting, and changes to many at once (the
//! account page and what is done to one are in `account.rs`).

use super::{admin_failure, run};
use crate::extract::{AdminSession, Req};
use crate::pages;
use crate::state::App;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use ssogate_core::domain::UserId;
use ssogate_core::domain::{UserSource, UserStatus};
use ssogate_store::query::{UserFilter, UserSort};
use std::collections::HashMap;

struct UserRow {
    id: UserId,
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
    /// Back to the first page with the same filters, when on a later one.
    first: Option<String>,
    /// How many match, over all pages.
    total: i64,
    /// For the bulk actions' form.
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
}

pub(super) fn options(all: &[&'static str], chosen: &str) -> Vec<(&'static str, bool)> {
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
    let (users, next, total, error) = match run(&app, actor, move |a| a.list_users(&f)).await {
        Ok(page) => (page.users, page.next, page.total, None),
        Err(e) => (Vec::new(), None, 0, Some(e.to_string())),
    };
    let (csrf, cookie) = crate::auth::csrf_token(&app, &req.headers);
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
    let page = pages::render(
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
            first: q.contains_key("after").then(|| {
                let mut s = url::form_urlencoded::Serializer::new(String::new());
                for (k, v) in &q {
                    if k != "after" && k != "notice" {
                        s.append_pair(k, v);
                    }
                }
                format!("/admin/users?{}", s.finish())
            }),
            total,
            csrf,
            notice: q.get("notice").map(|n| n.chars().take(200).collect()),
            error,
        },
    );
    super::with_cookie(page, cookie)
}

/// What a bulk action does, and how it is said.
fn bulk_change(action: &str) -> Option<(ssogate_admin::StatusChange, &'static str)> {
    use ssogate_admin::StatusChange;
    match action {
        "disable" => Some((StatusChange::Disable, "Disable")),
        "enable" => Some((StatusChange::Enable, "Enable")),
        "approve" => Some((StatusChange::Approve, "Approve")),
        _ => None,
    }
}

#[derive(Template)]
#[template(path = "console_users_bulk.html")]
struct BulkPage<'a> {
    t: &'a crate::i18n::Texts,
    action: String,
    verb: &'static str,
    /// (id, username).
    users: Vec<(i64, String)>,
    csrf: String,
}

/// Bulk actions: the first post (from the list's ticked accounts) asks, naming every
/// account; the confirmed one acts on each, one audited change per account.
pub(crate) async fn bulk(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    crate::extract::CsrfForm(pairs): crate::extract::CsrfForm<Vec<(String, String)>>,
) -> Response {
    let field = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let action = field("action").unwrap_or_default();
    let Some((change, verb)) = bulk_change(&action) else {
        return super::back_with(
            "/admin/users",
            "Choose what to do with the ticked accounts.",
        );
    };
    let ids: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "user")
        .map(|(_, v)| v.clone())
        .collect();
    if ids.is_empty() {
        return super::back_with("/admin/users", "Tick the accounts to act on first.");
    }
    let actor = admin.actor;
    if field("confirmed").as_deref() != Some("yes") {
        let names = run(&app, actor, move |a| {
            ids.iter()
                .map(|id| a.user(id).map(|u| (u.user.id.0, u.user.username)))
                .collect::<Result<Vec<_>, _>>()
        })
        .await;
        return match names {
            Ok(users) => {
                let (csrf, cookie) = crate::auth::csrf_token(&app, &req.headers);
                let page = pages::render(
                    StatusCode::OK,
                    &BulkPage {
                        t: req.t,
                        action,
                        verb,
                        users,
                        csrf,
                    },
                );
                super::with_cookie(page, cookie)
            }
            Err(e) => admin_failure(&req, &e),
        };
    }
    let done = run(&app, actor, move |a| {
        let mut done = 0usize;
        let mut refused = Vec::new();
        for id in &ids {
            match a.set_status(id, change) {
                Ok(_) => done += 1,
                Err(e) if e.is_input() => refused.push(e.to_string()),
                Err(e) => return Err(e),
            }
        }
        Ok((done, refused))
    })
    .await;
    match done {
        Ok((n, refused)) => {
            let mut notice = format!("{verb}d {n} account{}.", if n == 1 { "" } else { "s" });
            if !refused.is_empty() {
                notice.push_str(&format!(" Not done: {}", refused.join("; ")));
            }
            super::back_with("/admin/users", &notice)
        }
        Err(e) => admin_failure(&req, &e),
    }
}
