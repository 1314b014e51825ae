//! Webhooks in the console: endpoints listed and added (the signing secret shown once,
//! on the answer to the form that made it), one endpoint's page with its delivery log
//! (replay, ping, pause, new secret) and removal after a confirmation.

use super::{admin_failure, back_with, confirm, run, with_cookie};
use crate::auth::csrf_token;
use crate::extract::{AdminSession, CsrfForm, Req};
use crate::pages;
use crate::respond::{OrPage, PageResult};
use crate::state::App;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ssogate_admin::webhooks::{DeliveryInfo, WebhookInfo};
use ssogate_core::events::EventType;
use std::collections::HashMap;

const PAGE: i64 = 50;

#[derive(Template)]
#[template(path = "console_webhooks.html")]
struct ListPage<'a> {
    t: &'a crate::i18n::Texts,
    notice: Option<String>,
    error: Option<String>,
    /// (endpoint, secret) just added: shown this once.
    created: Option<(String, String)>,
    hooks: Vec<WebhookInfo>,
    events: Vec<&'static str>,
    /// What the add form held, when it was refused.
    form: (String, String),
    csrf: String,
}

pub(super) struct Row {
    pub d: DeliveryInfo,
    pub created: String,
    pub last_attempt: String,
    pub next_attempt: String,
}

#[derive(Template)]
#[template(path = "console_webhook.html")]
struct HookPage<'a> {
    t: &'a crate::i18n::Texts,
    notice: Option<String>,
    /// A new secret just made: shown this once.
    secret: Option<String>,
    hook: WebhookInfo,
    created: String,
    rows: Vec<Row>,
    /// The link to older deliveries, when there are more.
    older: Option<String>,
    csrf: String,
}

fn status_of(error: &Option<String>) -> StatusCode {
    if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    }
}

async fn list_page(
    app: &App,
    req: &Req,
    actor: String,
    notice: Option<String>,
    error: Option<String>,
    created: Option<(String, String)>,
    form: (String, String),
) -> PageResult {
    let hooks = run(app, actor, |a| a.webhooks()).await.or_page(req)?;
    let (csrf, cookie) = csrf_token(app, &req.headers);
    // Every page is `Cache-Control: no-store`: the one holding a secret is kept by no cache.
    Ok(with_cookie(
        pages::render(
            status_of(&error),
            &ListPage {
                t: req.t,
                notice,
                error,
                created,
                hooks,
                events: EventType::ALL.iter().map(|e| e.as_str()).collect(),
                form,
                csrf,
            },
        ),
        cookie,
    ))
}

pub(crate) async fn webhooks(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let notice = q.get("notice").map(|n| n.chars().take(200).collect());
    list_page(
        &app,
        &req,
        admin.actor,
        notice,
        None,
        None,
        Default::default(),
    )
    .await
    .into_response()
}

fn field<'a>(pairs: &'a [(String, String)], k: &str) -> &'a str {
    pairs
        .iter()
        .find(|(n, _)| n == k)
        .map_or("", |(_, v)| v.as_str())
}

/// Adds an endpoint and answers with its secret, once (no redirect: the secret must not
/// travel in a URL or be shown again on reload).
pub(crate) async fn add(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> Response {
    let actor = admin.actor;
    let name = field(&pairs, "name").to_owned();
    let url = field(&pairs, "url").to_owned();
    // Ticked events; none ticked (or "all") is every event.
    let mut events: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "event")
        .map(|(_, v)| v.as_str())
        .collect();
    if field(&pairs, "all") == "on" {
        events.clear();
    }
    let events = events.join(",");
    let form = (name.clone(), url.clone());
    let (n, u) = (name.clone(), url.clone());
    match run(&app, actor.clone(), move |a| a.add_webhook(&n, &u, &events)).await {
        Ok((hook, secret)) => {
            let created = Some((hook.name, secret.expose().to_owned()));
            list_page(&app, &req, actor, None, None, created, Default::default())
                .await
                .into_response()
        }
        Err(e) if e.is_input() => {
            list_page(&app, &req, actor, None, Some(e.to_string()), None, form)
                .await
                .into_response()
        }
        Err(e) => admin_failure(&req, &e),
    }
}

async fn hook_page(
    app: &App,
    req: &Req,
    actor: String,
    name: String,
    before: Option<i64>,
    notice: Option<String>,
    secret: Option<String>,
) -> PageResult {
    let (hook, deliveries) = run(app, actor, move |a| {
        Ok((a.webhook(&name)?, a.deliveries(Some(&name), before, PAGE)?))
    })
    .await
    .or_page(req)?;
    let older = (deliveries.len() as i64 == PAGE)
        .then(|| deliveries.last().map(|d| d.id))
        .flatten()
        .map(|id| format!("/admin/webhooks/{}?before={id}", hook.name));
    let rows = deliveries
        .into_iter()
        .map(|d| Row {
            created: pages::utc_seconds(d.created_at),
            last_attempt: d
                .last_attempt_at
                .map(pages::utc_seconds)
                .unwrap_or_default(),
            next_attempt: d
                .next_attempt_at
                .map(pages::utc_seconds)
                .unwrap_or_default(),
            d,
        })
        .collect();
    let (csrf, cookie) = csrf_token(app, &req.headers);
    Ok(with_cookie(
        pages::render(
            StatusCode::OK,
            &HookPage {
                t: req.t,
                notice,
                secret,
                created: pages::utc(hook.created_at),
                hook,
                rows,
                older,
                csrf,
            },
        ),
        cookie,
    ))
}

pub(crate) async fn webhook(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let notice = q.get("notice").map(|n| n.chars().take(200).collect());
    let before = q.get("before").and_then(|b| b.parse().ok());
    hook_page(&app, &req, admin.actor, name, before, notice, None)
        .await
        .into_response()
}

/// Pause, resume, ping or a new secret (shown on the answer, once).
pub(crate) async fn action(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Path((name, action)): Path<(String, String)>,
    CsrfForm(_pairs): CsrfForm<Vec<(String, String)>>,
) -> Response {
    let actor = admin.actor;
    let back = format!("/admin/webhooks/{}", urlencoding(&name));
    let n = name.clone();
    let done = match action.as_str() {
        "pause" | "resume" => {
            let on = action == "resume";
            run(&app, actor, move |a| {
                a.update_webhook(&n, None, None, Some(on))
            })
            .await
            .map(|_| {
                if on {
                    "Resumed: deliveries are queued and sent again."
                } else {
                    "Paused: nothing is queued for this endpoint or sent to it until it is resumed."
                }
            })
        }
        "ping" => run(&app, actor, move |a| a.ping_webhook(&n))
            .await
            .map(|_| "A ping is queued; it shows in the log below within seconds."),
        "rotate-secret" => {
            return match run(&app, actor.clone(), move |a| a.rotate_webhook_secret(&n)).await {
                Ok(secret) => hook_page(
                    &app,
                    &req,
                    actor,
                    name,
                    None,
                    None,
                    Some(secret.expose().to_owned()),
                )
                .await
                .into_response(),
                Err(e) => admin_failure(&req, &e),
            };
        }
        _ => {
            return crate::pages::message(
                req.t,
                StatusCode::NOT_FOUND,
                "No such action",
                "A webhook can be paused, resumed, pinged or given a new secret.",
                None,
                None,
            );
        }
    };
    match done {
        Ok(notice) => back_with(&back, notice),
        Err(e) => admin_failure(&req, &e),
    }
}

pub(crate) async fn replay(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Path(id): Path<i64>,
    CsrfForm(_pairs): CsrfForm<Vec<(String, String)>>,
) -> Response {
    match run(&app, admin.actor, move |a| a.replay_delivery(id)).await {
        Ok(d) => back_with(
            &format!("/admin/webhooks/{}", urlencoding(&d.webhook)),
            &format!(
                "Delivery {id} is sent again as delivery {} (same webhook-id).",
                d.id
            ),
        ),
        Err(e) => admin_failure(&req, &e),
    }
}

pub(crate) async fn delete_confirm(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Path(name): Path<String>,
) -> Response {
    let n = name.clone();
    if let Err(e) = run(&app, admin.actor, move |a| a.webhook(&n)).await {
        return admin_failure(&req, &e);
    }
    let path = urlencoding(&name);
    confirm(
        &app,
        &req,
        format!("Remove the webhook “{name}”?"),
        "Nothing more is sent to it, and its delivery log goes with it. Deliveries not yet sent are dropped.".into(),
        format!("/admin/webhooks/{path}/delete"),
        "Remove the webhook".into(),
        &format!("/admin/webhooks/{path}"),
    )
}

pub(crate) async fn delete(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Path(name): Path<String>,
    CsrfForm(_pairs): CsrfForm<Vec<(String, String)>>,
) -> Response {
    let n = name.clone();
    match run(&app, admin.actor, move |a| a.remove_webhook(&n)).await {
        Ok(()) => back_with("/admin/webhooks", &format!("Webhook “{name}” removed.")),
        Err(e) => admin_failure(&req, &e),
    }
}

fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
