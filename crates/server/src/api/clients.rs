//! The OpenID Provider's clients registered in the directory: add (a confidential
//! client's secret is in the answer, once), read, change, re-key, remove. The
//! configuration file's `[clients.<id>]` are listed by the console and changed in the
//! file. Each change is in force at once here and on every instance, and audited.

use super::{ApiResult, Caller, Problem, admin, body};
use crate::state::App;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use ssogate_admin::clients::ClientInfo;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// A client to register.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    /// What the application will send as `client_id`: 1–100 letters, digits, `-`, `_`
    /// or `.`.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,100}$")]
    pub client_id: String,
    /// The keys of `[clients.<id>]` without `secret`/`secret_file` (docs/provider.md):
    /// `redirect_uris` at least; `public = true` for an application that cannot keep a
    /// secret.
    #[schema(value_type = Object)]
    pub settings: Map<String, Value>,
}

/// A registered client, with its secret when it has one: shown in this answer only.
#[derive(Serialize, ToSchema)]
pub struct CreatedClient {
    #[serde(flatten)]
    pub client: ClientInfo,
    /// The `client_secret` (confidential clients); ssogate keeps only its digest.
    pub client_secret: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct NewClientSecret {
    pub client_secret: String,
}

/// List the clients registered in the directory (never their secrets).
#[utoipa::path(get, path = "/api/v1/clients", tag = "clients",
    security(("bearer" = [])),
    responses((status = 200, body = [ClientInfo]), (status = 401, body = Problem)))]
async fn list_clients(State(app): State<App>, caller: Caller) -> ApiResult<Json<Vec<ClientInfo>>> {
    Ok(Json(admin(&app, &caller, |a| a.clients()).await?))
}

/// Register a client; the answer holds a confidential client's secret, shown only here.
/// Refused unless its settings are what `[clients.<id>]` accepts.
#[utoipa::path(post, path = "/api/v1/clients", tag = "clients", request_body = NewClient,
    security(("bearer" = [])),
    responses((status = 201, body = CreatedClient), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn add_client(State(app): State<App>, caller: Caller, bytes: Bytes) -> ApiResult<Response> {
    caller.admin()?;
    let n: NewClient = body(&bytes)?;
    let a = app.clone();
    let (client, secret) = admin(&app, &caller, move |adm| {
        a.change_client(adm, |adm, check| {
            adm.add_client(&n.client_id, n.settings, check)
        })
    })
    .await?;
    let created = CreatedClient {
        client,
        client_secret: secret.map(|s| s.expose().to_owned()),
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// One registered client.
#[utoipa::path(get, path = "/api/v1/clients/{client_id}", tag = "clients",
    params(("client_id" = String, Path, description = "the client's id")),
    security(("bearer" = [])),
    responses((status = 200, body = ClientInfo), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_client(
    State(app): State<App>,
    caller: Caller,
    Path(client_id): Path<String>,
) -> ApiResult<Json<ClientInfo>> {
    Ok(Json(
        admin(&app, &caller, move |a| a.client(&client_id)).await?,
    ))
}

/// Change a registered client: each key given replaces the saved one, `null` removes it.
#[utoipa::path(patch, path = "/api/v1/clients/{client_id}", tag = "clients",
    request_body(content = Object, description = "keys of a [clients.<id>] table"),
    params(("client_id" = String, Path, description = "the client's id")),
    security(("bearer" = [])),
    responses((status = 200, body = ClientInfo), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_client(
    State(app): State<App>,
    caller: Caller,
    Path(client_id): Path<String>,
    bytes: Bytes,
) -> ApiResult<Json<ClientInfo>> {
    caller.admin()?;
    let changes: Map<String, Value> = body(&bytes)?;
    let a = app.clone();
    Ok(Json(
        admin(&app, &caller, move |adm| {
            a.change_client(adm, |adm, check| {
                adm.update_client(&client_id, changes, check)
            })
        })
        .await?,
    ))
}

/// Remove a registered client with everything it was issued: its tokens stop working.
#[utoipa::path(delete, path = "/api/v1/clients/{client_id}", tag = "clients",
    params(("client_id" = String, Path, description = "the client's id")),
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn remove_client(
    State(app): State<App>,
    caller: Caller,
    Path(client_id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.admin()?;
    let a = app.clone();
    admin(&app, &caller, move |adm| {
        a.change_client(adm, |adm, _| adm.remove_client(&client_id))
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new secret for a confidential client, shown only in this answer; the old one stops
/// working at once.
#[utoipa::path(post, path = "/api/v1/clients/{client_id}/secret", tag = "clients",
    params(("client_id" = String, Path, description = "the client's id")),
    security(("bearer" = [])),
    responses((status = 200, body = NewClientSecret), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn rotate_client_secret(
    State(app): State<App>,
    caller: Caller,
    Path(client_id): Path<String>,
) -> ApiResult<Json<NewClientSecret>> {
    caller.admin()?;
    let a = app.clone();
    let secret = admin(&app, &caller, move |adm| {
        a.change_client(adm, |adm, _| adm.rotate_client_secret(&client_id))
    })
    .await?;
    Ok(Json(NewClientSecret {
        client_secret: secret.expose().to_owned(),
    }))
}

pub(super) fn routes(r: OpenApiRouter<App>) -> OpenApiRouter<App> {
    r.routes(routes!(list_clients, add_client))
        .routes(routes!(get_client, update_client, remove_client))
        .routes(routes!(rotate_client_secret))
}
