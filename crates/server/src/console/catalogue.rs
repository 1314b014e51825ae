//! The catalogue in the console: permissions, libraries and groups created, renamed and
//! deleted (with a confirmation that names how many accounts hold the item); a group's
//! external ids in BookStack's comma-separated form. Items of the configuration file
//! are marked and read-only.

use super::{admin_failure, run, with_cookie};
use crate::auth::csrf_token;
use crate::extract::{AdminSession, CsrfForm, Req};
use crate::pages;
use crate::respond::{OrPage, PageResult};
use crate::state::App;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ssogate_admin::{AdminError, CatalogueItem};
use ssogate_core::domain::{Catalogue, format_external_ids, parse_external_ids};
use ssogate_store::catalogue::{Item, ItemKind};
use std::collections::HashMap;

pub(super) struct Row {
    pub kind: &'static str,
    pub name: String,
    /// `/admin/catalogue/<kind>/<name>`, the name percent-encoded.
    pub href: String,
    pub label: String,
    pub required: bool,
    pub external_ids: String,
    pub holders: i64,
    pub editable: bool,
}

pub(super) struct Section {
    pub kind: &'static str,
    pub title: &'static str,
    pub rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "console_catalogue.html")]
struct CataloguePage<'a> {
    t: &'a crate::i18n::Texts,
    notice: Option<String>,
    error: Option<String>,
    sections: Vec<Section>,
    csrf: String,
}

#[derive(Template)]
#[template(path = "console_catalogue_item.html")]
struct ItemPage<'a> {
    t: &'a crate::i18n::Texts,
    error: Option<String>,
    row: Row,
    csrf: String,
}

fn row(i: CatalogueItem) -> Row {
    let e = i.entry;
    Row {
        kind: e.item.kind.as_str(),
        href: format!(
            "/admin/catalogue/{}/{}",
            e.item.kind.as_str(),
            utf8_percent_encode(&e.item.name)
        ),
        name: e.item.name,
        label: e.item.label.unwrap_or_default(),
        required: e.item.required,
        external_ids: format_external_ids(&e.item.external_ids),
        holders: e.holders,
        editable: i.managed_by == "database",
    }
}

fn kind_of(s: &str) -> Option<ItemKind> {
    ItemKind::parse(s)
}

async fn list_page(
    app: &App,
    req: &Req,
    actor: String,
    notice: Option<String>,
    error: Option<String>,
) -> PageResult {
    let items = run(app, actor, |a| a.catalogue()).await.or_page(req)?;
    let mut sections = [
        (ItemKind::Permission, "Permissions"),
        (ItemKind::Library, "Libraries"),
        (ItemKind::Group, "Groups"),
    ]
    .map(|(k, title)| Section {
        kind: k.as_str(),
        title,
        rows: Vec::new(),
    });
    for i in items {
        let k = i.entry.item.kind;
        if let Some(s) = sections.iter_mut().find(|s| s.kind == k.as_str()) {
            s.rows.push(row(i));
        }
    }
    let (csrf, cookie) = csrf_token(app, &req.headers);
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(with_cookie(
        pages::render(
            status,
            &CataloguePage {
                t: req.t,
                notice,
                error,
                sections: sections.into(),
                csrf,
            },
        ),
        cookie,
    ))
}

pub(crate) async fn catalogue(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let actor = admin.actor;
    let notice = q.get("notice").map(|n| n.chars().take(200).collect());
    list_page(&app, &req, actor, notice, None)
        .await
        .into_response()
}

fn field<'a>(pairs: &'a [(String, String)], k: &str) -> Option<&'a str> {
    pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

fn item_of(kind: ItemKind, pairs: &[(String, String)]) -> Item {
    Item {
        kind,
        name: field(pairs, "name").unwrap_or_default().to_owned(),
        label: field(pairs, "label").map(str::to_owned),
        required: kind == ItemKind::Permission && field(pairs, "required") == Some("true"),
        external_ids: if kind == ItemKind::Group {
            parse_external_ids(field(pairs, "external_ids").unwrap_or_default())
        } else {
            Vec::new()
        },
    }
}

fn back_with(notice: &str) -> Response {
    super::back_with("/admin/catalogue", notice)
}

pub(crate) async fn create(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Path(kind): Path<String>,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> Response {
    let actor = admin.actor;
    let Some(kind) = kind_of(&kind) else {
        return crate::ops::not_found(req).await;
    };
    let item = item_of(kind, &pairs);
    let a = app.clone();
    let made = run(&app, actor.clone(), move |adm| {
        let made = adm.create_item(item, |c: &Catalogue| a.check_catalogue(c))?;
        a.reload_now()?;
        Ok(made)
    })
    .await;
    match made {
        Ok(i) => back_with(&format!("Created the {kind} {}.", i.entry.item.name)),
        Err(e) if e.is_input() => list_page(&app, &req, actor, None, Some(e.to_string()))
            .await
            .into_response(),
        Err(e) => admin_failure(&req, &e),
    }
}

async fn item_page(
    app: &App,
    req: &Req,
    actor: String,
    kind: ItemKind,
    name: String,
    error: Option<String>,
) -> PageResult {
    let found = run(app, actor, move |a| a.catalogue_item(kind, &name))
        .await
        .or_page(req)?;
    let (csrf, cookie) = csrf_token(app, &req.headers);
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(with_cookie(
        pages::render(
            status,
            &ItemPage {
                t: req.t,
                error,
                row: row(found),
                csrf,
            },
        ),
        cookie,
    ))
}

pub(crate) async fn item(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Path((kind, name)): Path<(String, String)>,
) -> Response {
    let actor = admin.actor;
    let Some(kind) = kind_of(&kind) else {
        return crate::ops::not_found(req).await;
    };
    item_page(&app, &req, actor, kind, name, None)
        .await
        .into_response()
}

/// Saves an item (a new name renames it; every grant follows).
pub(crate) async fn update(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Path((kind, name)): Path<(String, String)>,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> Response {
    let actor = admin.actor;
    let Some(kind) = kind_of(&kind) else {
        return crate::ops::not_found(req).await;
    };
    let item = item_of(kind, &pairs);
    let (a, n) = (app.clone(), name.clone());
    let changed = run(&app, actor.clone(), move |adm| {
        let changed = adm.update_item(&n, item, |c: &Catalogue| a.check_catalogue(c))?;
        a.reload_now()?;
        Ok(changed)
    })
    .await;
    match changed {
        Ok(i) => back_with(&format!("Saved the {kind} {}.", i.entry.item.name)),
        Err(e) if e.is_input() && !matches!(e, AdminError::NotFound { .. }) => {
            item_page(&app, &req, actor, kind, name, Some(e.to_string()))
                .await
                .into_response()
        }
        Err(e) => admin_failure(&req, &e),
    }
}

/// The confirmation before a delete: it names how many accounts hold the item.
pub(crate) async fn delete_confirm(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Path((kind, name)): Path<(String, String)>,
) -> PageResult {
    let actor = admin.actor;
    let Some(kind) = kind_of(&kind) else {
        return Ok(crate::ops::not_found(req).await);
    };
    let n = name.clone();
    let found = run(&app, actor, move |a| a.catalogue_item(kind, &n))
        .await
        .or_page(&req)?;
    let n = found.entry.holders;
    let path = format!(
        "/admin/catalogue/{}/{}",
        kind.as_str(),
        utf8_percent_encode(&name)
    );
    Ok(super::confirm(
        &app,
        &req,
        format!("Delete the {kind} {name}?"),
        format!(
            "{n} account{} {} it and will lose it. Provisioning settings that name it must be changed first.",
            if n == 1 { "" } else { "s" },
            if n == 1 { "holds" } else { "hold" }
        ),
        format!("{path}/delete"),
        format!("Delete {name}"),
        "/admin/catalogue",
    ))
}

fn utf8_percent_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

pub(crate) async fn delete(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Path((kind, name)): Path<(String, String)>,
    CsrfForm(_pairs): CsrfForm<Vec<(String, String)>>,
) -> Response {
    let actor = admin.actor;
    let Some(kind) = kind_of(&kind) else {
        return crate::ops::not_found(req).await;
    };
    let (a, n) = (app.clone(), name.clone());
    let deleted = run(&app, actor.clone(), move |adm| {
        let holders = adm.delete_item(kind, &n, |c: &Catalogue| a.check_catalogue(c))?;
        a.reload_now()?;
        Ok(holders)
    })
    .await;
    match deleted {
        Ok(h) => back_with(&format!(
            "Deleted the {kind} {name}; {h} account{} lost it.",
            if h == 1 { "" } else { "s" }
        )),
        Err(e) if e.is_input() => list_page(&app, &req, actor, None, Some(e.to_string()))
            .await
            .into_response(),
        Err(e) => admin_failure(&req, &e),
    }
}
