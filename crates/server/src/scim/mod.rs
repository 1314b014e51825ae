//! SCIM 2.0 under `/scim/v2`: identity providers (Entra ID, Okta, authentik, Keycloak
//! plug-ins) push users and groups. The protocol is `ssogate_scim`'s; this module holds
//! the routes, the SCIM token (an API key of scope `scim`, bound to one provider), the
//! directory calls and the audit trail.
//!
//! A token's provider decides what its client sees (the accounts it made and those
//! signing in through that provider) and where a pushed `externalId` binds (the
//! provider's subject, or its external id claim when it has one), so a pushed account
//! and that person's later sign-in are one account.

use crate::state::App;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;
use ssogate_core::domain::{UserId, UserStatus};
use ssogate_scim::discovery;
use ssogate_scim::resource::{GroupData, Meta, UserData};
use ssogate_scim::{ScimError, filter, patch};
use ssogate_store::audit::NewEvent;
use ssogate_store::directory::scim::{
    Bind, ScimGroup, ScimKey, ScimRefusal, ScimUser, ScimUserInput,
};
use std::collections::HashMap;

mod groups;
mod resource;
mod users;
use groups::*;

const CONTENT_TYPE: &str = "application/scim+json";

/// A SCIM answer: a status, a document, and (single resources) an ETag.
struct Doc(StatusCode, Value, Option<String>);

impl IntoResponse for Doc {
    fn into_response(self) -> Response {
        let mut res = (self.0, self.1.to_string()).into_response();
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if let Some(v) = self.2.and_then(|e| HeaderValue::from_str(&e).ok()) {
            h.insert(header::ETAG, v);
        }
        res
    }
}

struct Fail(ScimError);

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut res = Doc(status, self.0.to_json(), None).into_response();
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"ssogate-scim\""),
            );
        }
        res
    }
}

impl From<ScimError> for Fail {
    fn from(e: ScimError) -> Self {
        Fail(e)
    }
}

impl From<ssogate_store::StoreError> for Fail {
    fn from(e: ssogate_store::StoreError) -> Self {
        if e.is_unavailable() {
            tracing::error!(error = %e, "the directory cannot be reached");
            Fail(ScimError::new(
                503,
                None,
                "the user directory cannot be reached; try again shortly",
            ))
        } else {
            tracing::error!(error = %e, "a SCIM request failed in the directory");
            Fail(ScimError::new(
                500,
                None,
                "the directory failed; the error was logged",
            ))
        }
    }
}

type ScimResult = Result<Doc, Fail>;

/// The caller: its provider and where its `externalId`s bind.
struct Client {
    provider: String,
    bind: Bind,
}

async fn client(app: &App, headers: &HeaderMap) -> Result<Client, Fail> {
    let token = crate::web::bearer_token(headers);
    let refused = |why: &str| {
        Fail(ScimError::new(
            401,
            None,
            format!(
                "{why}: send a SCIM token as `Authorization: Bearer ssg_…` (ssogate apikey create NAME --scope scim --provider SLUG)"
            ),
        ))
    };
    let Some(token) = token else {
        return Err(refused("no token"));
    };
    let (key, now) = (token.to_owned(), app.now());
    let provider = app.db(move |d| d.check_scim_token(&key, now)).await?;
    let Some(provider) = provider else {
        app.audit(NewEvent {
            at: now,
            event: "scim.rejected".into(),
            outcome: "failure".into(),
            reason: Some("unknown_token".into()),
            ..Default::default()
        })
        .await;
        return Err(refused("the token is unknown, revoked or not a SCIM token"));
    };
    let Some((engine, _)) = app.registry().engines.get(&provider).cloned() else {
        return Err(Fail(ScimError::new(
            403,
            None,
            format!(
                "the token's provider \"{provider}\" is not configured any more; configure it again or make a new token"
            ),
        )));
    };
    let bind = if engine.provider().claims.external_id.is_some() {
        Bind::ExternalId
    } else {
        Bind::Subject
    };
    Ok(Client { provider, bind })
}

fn base(app: &App) -> String {
    format!("{}/scim/v2", app.config.base_url.trim_end_matches('/'))
}

/// A weak ETag of what a resource says (its `meta` aside), so it changes with every
/// change however close together.
fn etag(resource: &Value) -> String {
    let mut r = resource.clone();
    if let Some(o) = r.as_object_mut() {
        o.remove("meta");
    }
    // FNV-1a: stable, and enough to tell versions of one resource apart.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in r.to_string().bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("W/\"{h:016x}\"")
}

fn with_version(mut resource: Value) -> (Value, String) {
    let tag = etag(&resource);
    if let Some(meta) = resource.get_mut("meta").and_then(Value::as_object_mut) {
        meta.insert("version".into(), tag.clone().into());
    }
    (resource, tag)
}

fn user_json(app: &App, u: &ScimUser) -> (Value, String) {
    let base = base(app);
    let data = UserData {
        user_name: u.username.clone(),
        display_name: u.display_name.clone(),
        email: u.email.clone(),
        active: u.status == UserStatus::Active,
        external_id: u.external_id.clone(),
    };
    let groups: Vec<(String, String)> = u
        .groups
        .iter()
        .map(|(id, name)| (id.to_string(), name.clone()))
        .collect();
    with_version(ssogate_scim::resource::user_json(
        &u.id.0.to_string(),
        &data,
        &groups,
        &Meta {
            resource_type: "User",
            location: format!("{base}/Users/{}", u.id.0),
            created: Some(ssogate_core::dates::rfc3339(u.created_at)),
            last_modified: Some(ssogate_core::dates::rfc3339(u.updated_at)),
            version: None,
        },
    ))
}

fn group_json(app: &App, g: &ScimGroup) -> (Value, String) {
    let base = base(app);
    let data = GroupData {
        display_name: g.name.clone(),
        external_id: g.external_id.clone(),
        members: g.members.iter().map(|m| m.0.to_string()).collect(),
    };
    let refs: Vec<String> = g
        .members
        .iter()
        .map(|m| format!("{base}/Users/{}", m.0))
        .collect();
    with_version(ssogate_scim::resource::group_json(
        &g.id.to_string(),
        &data,
        &refs,
        &Meta {
            resource_type: "Group",
            location: format!("{base}/Groups/{}", g.id),
            created: None,
            last_modified: None,
            version: None,
        },
    ))
}

fn body_json(bytes: &Bytes) -> Result<Value, Fail> {
    serde_json::from_slice(bytes).map_err(|e| {
        Fail(ScimError::invalid_syntax(format!(
            "the body is not JSON: {e}"
        )))
    })
}

/// `If-Match` on a change: the resource must still be the version the client read.
fn check_if_match(headers: &HeaderMap, current: &str) -> Result<(), Fail> {
    let Some(want) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let ok = want.split(',').map(str::trim).any(|w| {
        w == "*" || w == current || w.trim_start_matches("W/") == current.trim_start_matches("W/")
    });
    if ok {
        Ok(())
    } else {
        Err(Fail(ScimError::new(
            412,
            None,
            "the resource changed since you read it (If-Match); read it again",
        )))
    }
}

fn refusal(r: ScimRefusal, what: &str) -> Fail {
    Fail(match r {
        ScimRefusal::Conflict(m) => ScimError::uniqueness(m),
        ScimRefusal::Invalid(m) => ScimError::invalid_value(m),
        ScimRefusal::NotFound => ScimError::not_found(format!("no such {what}")),
    })
}

async fn audited(app: &App, c: &Client, event: &str, user: Option<UserId>, detail: String) {
    app.audit(NewEvent {
        at: app.now(),
        event: event.into(),
        outcome: "success".into(),
        provider: Some(c.provider.clone()),
        user_id: user,
        detail: Some(detail),
        ..Default::default()
    })
    .await;
}

/// What a list asks for (query string or `.search` body).
struct ListAsk {
    filter: Option<String>,
    start: usize,
    count: usize,
    attributes: Option<String>,
    excluded: Option<String>,
}

impl ListAsk {
    fn from_query(q: &HashMap<String, String>) -> Result<ListAsk, Fail> {
        let get = |k: &str| {
            q.iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        let num = |k: &str, default: usize| -> Result<usize, Fail> {
            match get(k) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<i64>()
                    .map(|n| n.max(0) as usize)
                    .map_err(|_| Fail(ScimError::invalid_value(format!("{k} is a whole number")))),
            }
        };
        Ok(ListAsk {
            filter: get("filter"),
            start: num("startIndex", 1)?.max(1),
            count: num("count", discovery::MAX_RESULTS)?.min(discovery::MAX_RESULTS),
            attributes: get("attributes"),
            excluded: get("excludedAttributes"),
        })
    }

    fn from_body(v: &Value) -> Result<ListAsk, Fail> {
        let text = |k: &str| -> Option<String> {
            match v.get(k)? {
                Value::String(s) => Some(s.clone()),
                Value::Array(a) => Some(
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                _ => None,
            }
        };
        let num = |k: &str, default: usize| {
            v.get(k)
                .and_then(Value::as_i64)
                .map_or(default, |n| n.max(0) as usize)
        };
        Ok(ListAsk {
            filter: text("filter"),
            start: num("startIndex", 1).max(1),
            count: num("count", discovery::MAX_RESULTS).min(discovery::MAX_RESULTS),
            attributes: text("attributes"),
            excluded: text("excludedAttributes"),
        })
    }

    /// The filter is `ATTR eq "value"` for one of `attrs` (any case): which one, and the
    /// value — a lookup by key narrows what is read; the filter still decides.
    fn equality(&self, attrs: &[&str]) -> Option<(usize, String)> {
        let f = filter::parse(self.filter.as_deref()?).ok()?;
        let (attr, v) = filter::equality(&f)?;
        let i = attrs.iter().position(|a| attr.eq_ignore_ascii_case(a))?;
        Some((i, v.to_owned()))
    }

    /// Whether a filter narrows the list.
    fn filtered(&self) -> bool {
        self.filter.as_deref().is_some_and(|f| !f.trim().is_empty())
    }

    /// The list answer from every resource: filtered, then paged.
    fn answer(&self, all: Vec<Value>) -> ScimResult {
        let f = self
            .filter
            .as_deref()
            .filter(|f| !f.trim().is_empty())
            .map(filter::parse)
            .transpose()?;
        let hits: Vec<Value> = all
            .into_iter()
            .filter(|r| f.as_ref().is_none_or(|f| filter::matches(f, r)))
            .collect();
        let total = hits.len();
        let page = hits.into_iter().skip(self.start - 1).take(self.count);
        Ok(self.page(total, page))
    }

    /// The list answer from one page of `total` resources.
    fn page(&self, total: usize, page: impl Iterator<Item = Value>) -> Doc {
        let page: Vec<Value> = page
            .map(|mut r| {
                ssogate_scim::project(&mut r, self.attributes.as_deref(), self.excluded.as_deref());
                r
            })
            .collect();
        Doc(
            StatusCode::OK,
            ssogate_scim::list_response(total, self.start, page),
            None,
        )
    }
}

fn one(mut resource: Value, tag: String, q: &HashMap<String, String>, status: StatusCode) -> Doc {
    let get = |k: &str| {
        q.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    };
    ssogate_scim::project(&mut resource, get("attributes"), get("excludedAttributes"));
    Doc(status, resource, Some(tag))
}

async fn service_provider_config(State(app): State<App>, headers: HeaderMap) -> ScimResult {
    client(&app, &headers).await?;
    Ok(Doc(
        StatusCode::OK,
        discovery::service_provider_config(&base(&app)),
        None,
    ))
}

async fn resource_types(State(app): State<App>, headers: HeaderMap) -> ScimResult {
    client(&app, &headers).await?;
    let all = discovery::resource_types(&base(&app));
    Ok(Doc(
        StatusCode::OK,
        ssogate_scim::list_response(all.len(), 1, all),
        None,
    ))
}

async fn resource_type(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ScimResult {
    client(&app, &headers).await?;
    discovery::resource_types(&base(&app))
        .into_iter()
        .find(|r| r["id"].as_str() == Some(id.as_str()))
        .map(|r| Doc(StatusCode::OK, r, None))
        .ok_or_else(|| Fail(ScimError::not_found(format!("no resource type \"{id}\""))))
}

async fn schemas(State(app): State<App>, headers: HeaderMap) -> ScimResult {
    client(&app, &headers).await?;
    let all = discovery::schemas(&base(&app));
    Ok(Doc(
        StatusCode::OK,
        ssogate_scim::list_response(all.len(), 1, all),
        None,
    ))
}

async fn schema(State(app): State<App>, headers: HeaderMap, Path(id): Path<String>) -> ScimResult {
    client(&app, &headers).await?;
    discovery::schemas(&base(&app))
        .into_iter()
        .find(|r| r["id"].as_str() == Some(id.as_str()))
        .map(|r| Doc(StatusCode::OK, r, None))
        .ok_or_else(|| Fail(ScimError::not_found(format!("no schema \"{id}\""))))
}

async fn no_such_endpoint() -> Fail {
    Fail(ScimError::not_found(
        "there is no such SCIM endpoint: /scim/v2/Users, /Groups, /ServiceProviderConfig, /ResourceTypes, /Schemas",
    ))
}

/// The SCIM routes.
pub(crate) fn routes() -> axum::Router<App> {
    use axum::routing::post;
    axum::Router::new()
        .route(
            "/scim/v2/ServiceProviderConfig",
            get(service_provider_config),
        )
        .route("/scim/v2/ResourceTypes", get(resource_types))
        .route("/scim/v2/ResourceTypes/{id}", get(resource_type))
        .route("/scim/v2/Schemas", get(schemas))
        .route("/scim/v2/Schemas/{id}", get(schema))
        .merge(resource::routes::<ScimUser>("/scim/v2/Users"))
        .merge(resource::routes::<ScimGroup>("/scim/v2/Groups"))
        .route("/scim/v2/.search", post(search_all))
        .route("/scim/v2", axum::routing::any(no_such_endpoint))
        .route("/scim/v2/{*rest}", axum::routing::any(no_such_endpoint))
}

/// The framework's own refusals on `/scim/v2` (405, 413, 400 before a handler ran) as
/// SCIM errors, like every other SCIM answer.
pub(crate) fn as_scim_error(res: Response) -> Response {
    let status = res.status();
    let is_scim = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(CONTENT_TYPE.as_bytes()));
    if is_scim || !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let detail = match status {
        StatusCode::METHOD_NOT_ALLOWED => "this method is not allowed here",
        StatusCode::PAYLOAD_TOO_LARGE => "the body is too large",
        _ => "the request was refused",
    };
    let mut out = Fail(ScimError::new(status.as_u16(), None, detail)).into_response();
    if let Some(allow) = res.headers().get(header::ALLOW) {
        out.headers_mut().insert(header::ALLOW, allow.clone());
    }
    out
}
