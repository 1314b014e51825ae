//! Providers in the console: the configuration file's (read-only, marked so) and those
//! saved in the directory (added, edited, deleted with a confirmation that names how
//! many accounts are linked), each checkable, with keys refreshable on every instance.

use super::{admin_failure, run, with_cookie};
use crate::auth::csrf_token;
use crate::extract::{AdminSession, CsrfForm, Req};
use crate::pages::{self, Link};
use crate::respond::{OrPage, PageResult};
use crate::state::App;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use ssogate_admin::AdminError;
use std::collections::HashMap;

pub(super) struct Row {
    pub slug: String,
    pub name: String,
    pub issuer: String,
    pub linked: i64,
    pub editable: bool,
    /// Saved, but left out of service (it does not build).
    pub broken: bool,
}

/// The add or edit form's fields.
#[derive(Default)]
pub(super) struct ProviderForm {
    pub slug: String,
    pub display_name: String,
    pub issuer: String,
    pub client_id: String,
    pub scopes: String,
    /// The other keys of the provider's table, as a JSON object.
    pub advanced: String,
    pub secret_set: bool,
}

#[derive(Template)]
#[template(path = "console_providers.html")]
struct ProvidersPage<'a> {
    t: &'a crate::i18n::Texts,
    notice: Option<String>,
    error: Option<String>,
    providers: Vec<Row>,
    report: Option<ssogate_oidc::CheckReport>,
    form: ProviderForm,
    csrf: String,
}

#[derive(Template)]
#[template(path = "console_provider.html")]
struct EditPage<'a> {
    t: &'a crate::i18n::Texts,
    error: Option<String>,
    form: ProviderForm,
    linked: i64,
    csrf: String,
}

const BASIC: [&str; 5] = [
    "display_name",
    "issuer",
    "client_id",
    "client_secret",
    "scopes",
];

fn form_of(slug: &str, doc: &Value, secret_set: bool) -> ProviderForm {
    let text = |k: &str| {
        doc.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let advanced: Map<String, Value> = doc
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !BASIC.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    ProviderForm {
        slug: slug.to_owned(),
        display_name: text("display_name"),
        issuer: text("issuer"),
        client_id: text("client_id"),
        scopes: doc
            .get("scopes")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default(),
        advanced: if advanced.is_empty() {
            String::new()
        } else {
            serde_json::to_string_pretty(&advanced).unwrap_or_default()
        },
        secret_set,
    }
}

async fn rows(app: &App, actor: String) -> Result<Vec<Row>, AdminError> {
    let registry = app.registry();
    let saved = run(app, actor, |a| a.saved_providers()).await?;
    let mut out = Vec::new();
    let file: Vec<String> = app.config.providers.keys().cloned().collect();
    let linked = app
        .db(move |d| {
            file.into_iter()
                .map(|s| Ok((d.accounts_linked_to(&s)?, s)))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    for (n, slug) in linked {
        if let Some(p) = registry.providers.get(&slug) {
            out.push(Row {
                name: p.config.display_name.clone(),
                issuer: p.config.issuer.clone(),
                linked: n,
                editable: false,
                broken: false,
                slug,
            });
        }
    }
    for r in saved {
        let text = |k: &str| {
            r.document
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        out.push(Row {
            name: registry
                .providers
                .get(&r.slug)
                .map_or_else(|| text("display_name"), |p| p.config.display_name.clone()),
            issuer: text("issuer"),
            linked: r.linked_accounts,
            editable: true,
            broken: !registry.providers.contains_key(&r.slug),
            slug: r.slug,
        });
    }
    Ok(out)
}

async fn list_page(
    app: &App,
    req: &Req,
    actor: String,
    notice: Option<String>,
    error: Option<(String, ProviderForm)>,
    report: Option<ssogate_oidc::CheckReport>,
) -> PageResult {
    let providers = rows(app, actor).await.or_page(req)?;
    let (status, error, form) = match error {
        Some((e, f)) => (StatusCode::UNPROCESSABLE_ENTITY, Some(e), f),
        None => (StatusCode::OK, None, ProviderForm::default()),
    };
    let (csrf, cookie) = csrf_token(app, &req.headers);
    Ok(with_cookie(
        pages::render(
            status,
            &ProvidersPage {
                t: req.t,
                notice,
                error,
                providers,
                report,
                form,
                csrf,
            },
        ),
        cookie,
    ))
}

pub(crate) async fn providers(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let actor = admin.actor;
    let notice = q.get("notice").map(|n| n.chars().take(200).collect());
    list_page(&app, &req, actor, notice, None, None)
        .await
        .into_response()
}

/// `ssogate provider check` from the console: discovery and keys fetched afresh.
pub(crate) async fn check_provider(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Path(slug): Path<String>,
) -> Response {
    let actor = admin.actor;
    let Some(entry) = app.provider(&slug) else {
        return crate::ops::not_found(req).await;
    };
    let report = entry.rp.check().await;
    list_page(&app, &req, actor, None, None, Some(report))
        .await
        .into_response()
}

/// The submitted form as a provider document.
fn document(pairs: &[(String, String)]) -> Result<Map<String, Value>, String> {
    let field = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let mut doc = match field("advanced").as_str() {
        "" => Map::new(),
        text => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err("more settings: write a JSON object, { … }".into()),
            Err(e) => return Err(format!("more settings: not JSON ({e})")),
        },
    };
    for k in BASIC {
        if doc.contains_key(k) {
            return Err(format!(
                "more settings: \"{k}\" has a field of its own above; set it there"
            ));
        }
    }
    for k in ["display_name", "issuer", "client_id"] {
        let v = field(k);
        doc.insert(
            k.to_owned(),
            if v.is_empty() && k != "issuer" {
                Value::Null
            } else {
                Value::String(v)
            },
        );
    }
    doc.insert(
        "client_secret".into(),
        Value::String(field("client_secret")),
    );
    let scopes = field("scopes");
    doc.insert(
        "scopes".into(),
        if scopes.is_empty() {
            Value::Null
        } else {
            Value::Array(
                scopes
                    .split_whitespace()
                    .map(|s| Value::String(s.to_owned()))
                    .collect(),
            )
        },
    );
    Ok(doc)
}

fn back_with(notice: &str) -> Response {
    super::back_with("/admin/providers", notice)
}

/// Adds a provider saved in the directory; in force at once on every instance.
pub(crate) async fn add(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> Response {
    let actor = admin.actor;
    let slug = pairs
        .iter()
        .find(|(k, _)| k == "slug")
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    let shown = |pairs: &[(String, String)]| {
        let mut doc = Map::new();
        for (k, v) in pairs {
            if ["display_name", "issuer", "client_id"].contains(&k.as_str()) {
                doc.insert(k.clone(), Value::String(v.clone()));
            }
        }
        let mut f = form_of(&slug, &Value::Object(doc), false);
        f.scopes = pairs
            .iter()
            .find(|(k, _)| k == "scopes")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        f.advanced = pairs
            .iter()
            .find(|(k, _)| k == "advanced")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        f
    };
    let doc = match document(&pairs) {
        Ok(d) => d,
        Err(e) => {
            return (list_page(&app, &req, actor, None, Some((e, shown(&pairs))), None).await)
                .into_response();
        }
    };
    let (a, s) = (app.clone(), slug.clone());
    let added = run(&app, actor.clone(), move |adm| {
        adm.add_provider(&s, doc, |d| a.check_provider(&s, d))?;
        a.reload_now()
    })
    .await;
    match added {
        Ok(()) => back_with(&format!("Added {slug}; people can sign in through it now.")),
        Err(e) if e.is_input() => (list_page(
            &app,
            &req,
            actor,
            None,
            Some((e.to_string(), shown(&pairs))),
            None,
        )
        .await)
            .into_response(),
        Err(e) => admin_failure(&req, &e),
    }
}

async fn edit_page(
    app: &App,
    req: &Req,
    actor: String,
    slug: String,
    error: Option<String>,
) -> Response {
    let record = match run(app, actor, move |a| a.saved_provider_record(&slug)).await {
        Ok(r) => r,
        Err(e @ AdminError::NotFound { .. }) | Err(e @ AdminError::Conflict(_)) => {
            return pages::message(
                req.t,
                StatusCode::NOT_FOUND,
                "Not editable here",
                &e.to_string(),
                Some(Link {
                    href: "/admin/providers".into(),
                    label: "Providers".into(),
                }),
                None,
            );
        }
        Err(e) => return admin_failure(req, &e),
    };
    let (csrf, cookie) = csrf_token(app, &req.headers);
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    with_cookie(
        pages::render(
            status,
            &EditPage {
                t: req.t,
                error,
                linked: record.linked_accounts,
                form: form_of(&record.slug, &record.document, record.client_secret_set),
                csrf,
            },
        ),
        cookie,
    )
}

/// The edit form of a provider saved in the directory.
pub(crate) async fn edit(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Path(slug): Path<String>,
) -> Response {
    let actor = admin.actor;
    edit_page(&app, &req, actor, slug, None).await
}

/// Saves the edit form: every field given replaces the saved one; an empty secret keeps
/// the saved secret.
pub(crate) async fn update(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Path(slug): Path<String>,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> Response {
    let actor = admin.actor;
    let mut changes = match document(&pairs) {
        Ok(d) => d,
        Err(e) => return edit_page(&app, &req, actor, slug, Some(e)).await,
    };
    // Keys of the saved document that the form no longer has are removed.
    let (a, s) = (app.clone(), slug.clone());
    let updated = run(&app, actor.clone(), move |adm| {
        let saved = adm.saved_provider_record(&s)?;
        for k in saved
            .document
            .as_object()
            .into_iter()
            .flat_map(|m| m.keys())
        {
            changes.entry(k.clone()).or_insert(Value::Null);
        }
        adm.update_provider(&s, changes, |d| a.check_provider(&s, d))?;
        a.reload_now()
    })
    .await;
    match updated {
        Ok(()) => back_with(&format!("Saved {slug}; in force now.")),
        Err(e) if e.is_input() && !matches!(e, AdminError::NotFound { .. }) => {
            edit_page(&app, &req, actor, slug, Some(e.to_string())).await
        }
        Err(e) => admin_failure(&req, &e),
    }
}

/// The confirmation before a delete: it names how many accounts are linked.
pub(crate) async fn delete_confirm(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Path(slug): Path<String>,
) -> PageResult {
    let actor = admin.actor;
    let s = slug.clone();
    let record = run(&app, actor, move |a| a.saved_provider_record(&s))
        .await
        .or_page(&req)?;
    let n = record.linked_accounts;
    Ok(super::confirm(
        &app,
        &req,
        format!("Delete the provider {slug}?"),
        format!(
            "{n} account{} {} linked to it. They stay, with their identities, but cannot sign in through it any more; sessions begun through it end now. Adding the provider again under the same slug restores their sign-in.",
            if n == 1 { "" } else { "s" },
            if n == 1 { "is" } else { "are" }
        ),
        format!("/admin/providers/{slug}/delete"),
        format!("Delete {slug}"),
        "/admin/providers",
    ))
}

pub(crate) async fn delete(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Path(slug): Path<String>,
    CsrfForm(_pairs): CsrfForm<Vec<(String, String)>>,
) -> Response {
    let actor = admin.actor;
    let (a, s) = (app.clone(), slug.clone());
    let deleted = run(&app, actor, move |adm| {
        let n = adm.delete_provider(&s)?;
        a.reload_now()?;
        Ok(n)
    })
    .await;
    match deleted {
        Ok(n) => back_with(&format!(
            "Deleted {slug}; {n} linked account{} kept.",
            if n == 1 { "" } else { "s" }
        )),
        Err(e) => admin_failure(&req, &e),
    }
}

/// Drops the provider's cached discovery document and keys on every instance.
pub(crate) async fn refresh_keys(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Path(slug): Path<String>,
    CsrfForm(_pairs): CsrfForm<Vec<(String, String)>>,
) -> Response {
    let actor = admin.actor;
    if app.provider(&slug).is_none() {
        return crate::ops::not_found(req).await;
    }
    let s = slug.clone();
    match run(&app, actor, move |a| a.refresh_keys(&s)).await {
        Ok(()) => back_with(&format!(
            "The keys of {slug} will be fetched anew at its next use, on every instance."
        )),
        Err(e) => admin_failure(&req, &e),
    }
}
