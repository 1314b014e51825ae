//! One account, as an administrator sees it: its page (profile, identities, grants and
//! where each came from) and what can be done to it (status, grants, external ids,
//! profile, reset links, delete).

use super::{admin_failure, confirm, run, with_cookie};
use crate::auth::csrf_token;
use crate::extract::{AdminSession, CsrfForm, Req};
use crate::pages;
use crate::respond::{OrPage, PageResult};
use crate::state::App;
use crate::web;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use ssogate_admin::StatusChange;
use ssogate_core::domain::GrantKind;
use ssogate_core::domain::UserId;
use std::collections::HashMap;

struct GrantRow {
    kind: String,
    name: String,
    source: String,
    /// Why removing it would not last (a sign-in gives it back), when so: then no
    /// Remove button is offered.
    restored: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "console_user.html")]
struct UserPage<'a> {
    t: &'a crate::i18n::Texts,
    id: UserId,
    username: String,
    display_name: String,
    email: String,
    email_verified: bool,
    source: String,
    status: String,
    admin: bool,
    has_password: bool,
    min_password: usize,
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
    Path(id): Path<UserId>,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let detail = account(&app, &req, &admin, id).await?;
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
    let c = app.db(|d| d.catalogue()).await.or_page(&req)?;
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
        "password" => "Password saved.".to_owned(),
        "password_removed" => "Password removed.".to_owned(),
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
        has_password: u.has_password,
        min_password: app.config.passwords.min_length,
        notice,
        grants: u
            .grants
            .iter()
            .map(|g| {
                use ssogate_core::domain::GrantSource;
                let required = g.kind == GrantKind::Permission
                    && c.permissions.iter().any(|p| p.required && p.name == g.name);
                GrantRow {
                    kind: g.kind.to_string(),
                    name: g.name.clone(),
                    source: g.source.as_str().into(),
                    restored: if required {
                        Some("required: every account holds it")
                    } else {
                        match g.source {
                            GrantSource::Provider => {
                                Some("from the provider's groups: the next sign-in gives it back while they list it")
                            }
                            GrantSource::Rule => {
                                Some("from a rule: the next sign-in gives it back while the rule holds")
                            }
                            GrantSource::Scim => Some("pushed over SCIM: the provider removes it"),
                            _ => None,
                        }
                    },
                }
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
    Ok(with_cookie(pages::render(StatusCode::OK, &page), cookie))
}

/// An account's page: the account, read as the administrator.
async fn account(
    app: &App,
    req: &Req,
    admin: &AdminSession,
    id: UserId,
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

#[derive(Deserialize)]
pub(crate) struct ActionForm {
    action: Option<String>,
    grant: Option<String>,
    kind: Option<String>,
    name: Option<String>,
    provider: Option<String>,
    external_id: Option<String>,
    display_name: Option<String>,
    email: Option<String>,
    password: Option<String>,
    repeat: Option<String>,
}

pub(crate) async fn user_action(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Path((id, what)): Path<(UserId, String)>,
    CsrfForm(f): CsrfForm<ActionForm>,
) -> Response {
    let back = format!("/admin/users/{id}");
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
        "password" if f.action.as_deref() == Some("remove") => {
            run(&app, actor, move |a| a.remove_password(&who).map(drop)).await
        }
        "password" => {
            let (Some(password), Some(repeat)) = (f.password.clone(), f.repeat.clone()) else {
                return crate::ops::not_found(req).await;
            };
            if password != repeat {
                return admin_failure(
                    &req,
                    &ssogate_admin::AdminError::Invalid {
                        field: "password",
                        message: "the two passwords differ; nothing was changed".into(),
                    },
                );
            }
            run(&app, actor, move |a| {
                a.set_password(&who, &password).map(drop)
            })
            .await
        }
        "reset-link" => {
            return match run(&app, actor, move |a| a.create_reset_link(&who)).await {
                Ok(link) => reset_link_page(&app, &req, &back, &link),
                Err(e) => admin_failure(&req, &e),
            };
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
        "password" if f.action.as_deref() == Some("remove") => "password_removed",
        "password" => "password",
        _ => "status",
    };
    match result {
        Ok(()) => web::redirect(StatusCode::SEE_OTHER, &format!("{back}?notice={notice}")),
        Err(e) => admin_failure(&req, &e),
    }
}

/// The link, shown this once (only its digest is kept), with when it stops working.
fn reset_link_page(app: &App, req: &Req, back: &str, link: &ssogate_admin::ResetLink) -> Response {
    let url = format!(
        "{}/password/reset?token={}",
        app.config.base_url,
        link.token.expose()
    );
    let mut res = pages::render(
        StatusCode::OK,
        &pages::MessagePage {
            t: req.t,
            title: format!("Reset link for {}", link.username),
            paragraphs: vec![
                format!(
                    "Give this link to {} to choose a password. It works once, until {} UTC; earlier links no longer work. It is shown only now.",
                    link.username,
                    pages::utc(link.expires_at)
                ),
                url,
            ],
            form: None,
            link: Some(pages::Link {
                href: back.to_owned(),
                label: "Back to the account".into(),
            }),
            reference: None,
        },
    );
    res.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    res
}

pub(crate) async fn delete(
    state: State<App>,
    req: Req,
    admin: AdminSession,
    Path(id): Path<UserId>,
    form: CsrfForm<ActionForm>,
) -> Response {
    user_action(state, req, admin, Path((id, "delete".to_owned())), form).await
}

pub(crate) async fn delete_confirm(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Path(id): Path<UserId>,
) -> PageResult {
    let detail = account(&app, &req, &admin, id).await?;
    let n = detail.linked.len();
    Ok(confirm(
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
    ))
}
