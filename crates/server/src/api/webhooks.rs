//! Webhook endpoints and their delivery log: add (the secret is in the answer, once),
//! change, pause, re-key, remove, ping; deliveries listed and replayed.

use super::{ApiResult, Caller, Problem, admin, body, parse_limit};
use crate::state::App;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use ssogate_admin::webhooks::{DeliveryInfo, WebhookInfo};
use ssogate_core::events::{EventType, unknown_event};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// A new endpoint.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// 1–64 letters, digits, `-`, `_` or `.`.
    pub name: String,
    /// `https://…` (or `http://` to this machine).
    pub url: String,
    /// Events to hear: `["*"]` (the default) or some of `user.provisioned`,
    /// `user.updated`, `user.disabled`, `user.enabled`, `user.deleted`,
    /// `grants.changed`, `approval.needed`.
    #[serde(default)]
    pub events: Vec<String>,
}

/// An endpoint with its signing secret: shown in this answer only.
#[derive(Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: WebhookInfo,
    /// `whsec_…`: verify deliveries with it (any Standard Webhooks library takes it as it is).
    pub secret: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookChange {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    /// false pauses the endpoint: nothing is queued for it or sent while paused.
    pub enabled: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct NewSecret {
    pub secret: String,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Only deliveries with a smaller id (the previous page's last).
    before: Option<String>,
    /// 1–1000, default 100.
    limit: Option<String>,
}

/// List webhook endpoints (never their secrets).
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks",
    security(("bearer" = [])),
    responses((status = 200, body = [WebhookInfo]), (status = 401, body = Problem)))]
async fn list_webhooks(
    State(app): State<App>,
    caller: Caller,
) -> ApiResult<Json<Vec<WebhookInfo>>> {
    Ok(Json(admin(&app, &caller, |a| a.webhooks()).await?))
}

/// Add a webhook endpoint; the answer holds its signing secret, shown only here.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", request_body = NewWebhook,
    security(("bearer" = [])),
    responses((status = 201, body = CreatedWebhook), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn add_webhook(State(app): State<App>, caller: Caller, bytes: Bytes) -> ApiResult<Response> {
    caller.admin()?;
    let n: NewWebhook = body(&bytes)?;
    let events = events_arg(&n.events)?;
    let (webhook, secret) = admin(&app, &caller, move |a| {
        a.add_webhook(&n.name, &n.url, &events)
    })
    .await?;
    let created = CreatedWebhook {
        webhook,
        secret: secret.expose().to_owned(),
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// One webhook endpoint.
#[utoipa::path(get, path = "/api/v1/webhooks/{name}", tag = "webhooks",
    params(("name" = String, Path, description = "the endpoint's name")),
    security(("bearer" = [])),
    responses((status = 200, body = WebhookInfo), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_webhook(
    State(app): State<App>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<WebhookInfo>> {
    Ok(Json(admin(&app, &caller, move |a| a.webhook(&name)).await?))
}

/// Change an endpoint's URL or events, or pause and resume it.
#[utoipa::path(patch, path = "/api/v1/webhooks/{name}", tag = "webhooks", request_body = WebhookChange,
    params(("name" = String, Path, description = "the endpoint's name")),
    security(("bearer" = [])),
    responses((status = 200, body = WebhookInfo), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_webhook(
    State(app): State<App>,
    caller: Caller,
    Path(name): Path<String>,
    bytes: Bytes,
) -> ApiResult<Json<WebhookInfo>> {
    caller.admin()?;
    let c: WebhookChange = body(&bytes)?;
    let events = c.events.as_deref().map(events_arg).transpose()?;
    Ok(Json(
        admin(&app, &caller, move |a| {
            a.update_webhook(&name, c.url.as_deref(), events.as_deref(), c.enabled)
        })
        .await?,
    ))
}

/// Remove an endpoint and its delivery log.
#[utoipa::path(delete, path = "/api/v1/webhooks/{name}", tag = "webhooks",
    params(("name" = String, Path, description = "the endpoint's name")),
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn remove_webhook(
    State(app): State<App>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    caller.admin()?;
    admin(&app, &caller, move |a| a.remove_webhook(&name)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new signing secret for an endpoint, shown only in this answer.
#[utoipa::path(post, path = "/api/v1/webhooks/{name}/secret", tag = "webhooks",
    params(("name" = String, Path, description = "the endpoint's name")),
    security(("bearer" = [])),
    responses((status = 201, body = NewSecret), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn rotate_secret(
    State(app): State<App>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    caller.admin()?;
    let secret = admin(&app, &caller, move |a| a.rotate_webhook_secret(&name)).await?;
    let body = NewSecret {
        secret: secret.expose().to_owned(),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Send a `ping` event to an endpoint.
#[utoipa::path(post, path = "/api/v1/webhooks/{name}/ping", tag = "webhooks",
    params(("name" = String, Path, description = "the endpoint's name")),
    security(("bearer" = [])),
    responses((status = 202, body = DeliveryInfo), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn ping(
    State(app): State<App>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    caller.admin()?;
    let d = admin(&app, &caller, move |a| a.ping_webhook(&name)).await?;
    Ok((StatusCode::ACCEPTED, Json(d)).into_response())
}

/// The events as the API takes them: each item `*` or an event's name, exactly (the
/// subscription's own parser, which reads `*` among names as all, also splits text on
/// commas and spaces, which a list item must not hold).
fn events_arg(items: &[String]) -> ApiResult<String> {
    match items
        .iter()
        .find(|e| *e != "*" && EventType::parse(e).is_none())
    {
        Some(e) => Err(Problem::field("events", unknown_event(e))),
        None => Ok(items.join(",")),
    }
}

fn parse_before(v: Option<&str>) -> ApiResult<Option<i64>> {
    v.map(|s| {
        s.parse::<i64>()
            .map_err(|_| Problem::field("before", format!("\"{s}\" is not a whole number")))
    })
    .transpose()
}

/// An endpoint's deliveries, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/{name}/deliveries", tag = "webhooks",
    params(("name" = String, Path, description = "the endpoint's name"), DeliveryQuery),
    security(("bearer" = [])),
    responses((status = 200, body = [DeliveryInfo]), (status = 401, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn deliveries(
    State(app): State<App>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<DeliveryQuery>,
) -> ApiResult<Json<Vec<DeliveryInfo>>> {
    let before = parse_before(q.before.as_deref())?;
    let limit = parse_limit("limit", q.limit.as_deref(), 100, 1000)?;
    Ok(Json(
        admin(&app, &caller, move |a| {
            a.deliveries(Some(&name), before, limit)
        })
        .await?,
    ))
}

/// Send a delivery again, with the same `webhook-id` (receivers that have it can tell).
#[utoipa::path(post, path = "/api/v1/webhooks/deliveries/{id}/replay", tag = "webhooks",
    params(("id" = i64, Path, description = "the delivery's id")),
    security(("bearer" = [])),
    responses((status = 202, body = DeliveryInfo), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn replay(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    caller.admin()?;
    let d = admin(&app, &caller, move |a| a.replay_delivery(id)).await?;
    Ok((StatusCode::ACCEPTED, Json(d)).into_response())
}

pub(super) fn routes(r: OpenApiRouter<App>) -> OpenApiRouter<App> {
    r.routes(routes!(list_webhooks, add_webhook))
        .routes(routes!(get_webhook, update_webhook, remove_webhook))
        .routes(routes!(rotate_secret))
        .routes(routes!(ping))
        .routes(routes!(deliveries))
        .routes(routes!(replay))
}
