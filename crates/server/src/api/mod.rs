//! The REST API under `/api/v1`: JSON over the administrative service layer
//! (`ssogate-admin`), authenticated by API keys (`Authorization: Bearer ssg_…`, scoped
//! read or admin) or by a provider-issued bearer token of an administrator. Errors are
//! RFC 9457 problem documents; validation errors name the field. The OpenAPI 3.1
//! document at `/api/openapi.json` is generated from these handlers (utoipa), and the
//! router is built from the same declarations, so the two cannot drift apart.

mod catalogue;
pub(crate) mod document;
mod providers;

use crate::state::App;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use ssogate_admin::{Admin, AdminError, StatusChange};
use ssogate_core::domain::{GrantKind, UserSource, UserStatus};
use ssogate_store::credentials::ApiScope;
use ssogate_store::import::ImportRow;
use ssogate_store::query::{AuditFilter, UserFilter, UserSort};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// For validation problems: which field, and what is wrong with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl Problem {
    pub(crate) fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("https://ssogate.dev/problems/{kind}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    fn field(field: &str, message: impl Into<String>) -> Problem {
        let message = message.into();
        let mut p = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            format!("{field}: {message}"),
        );
        p.errors.push(FieldError {
            field: field.to_owned(),
            message,
        });
        p
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = (status, Json(&self)).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"ssogate-api\""),
            );
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut().insert(
                header::RETRY_AFTER,
                axum::http::HeaderValue::from(crate::respond::RETRY_AFTER),
            );
        }
        res
    }
}

impl From<AdminError> for Problem {
    fn from(e: AdminError) -> Problem {
        match &e {
            AdminError::NotFound { .. } => {
                Problem::new(StatusCode::NOT_FOUND, "not-found", e.to_string())
            }
            AdminError::Invalid { field, message } => Problem::field(field, message.clone()),
            AdminError::Conflict(m) => Problem::new(StatusCode::CONFLICT, "conflict", m.clone()),
            AdminError::Store(ssogate_store::StoreError::InvalidInput(m)) => {
                Problem::new(StatusCode::BAD_REQUEST, "bad-request", m.clone())
            }
            AdminError::Store(inner) if inner.is_unavailable() => {
                tracing::error!(error = %inner, "the directory cannot be reached");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "directory-unavailable",
                    "the user directory cannot be reached; try again shortly",
                )
            }
            AdminError::Store(inner) => {
                tracing::error!(error = %inner, "an API call failed in the directory");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server-error",
                    "the directory failed; the error was logged",
                )
            }
        }
    }
}

type ApiResult<T> = Result<T, Problem>;

/// Who called, and with which scope. Only the guard around `/api/v1`
/// ([`require_caller`]) puts one in a request, so an operation that takes it cannot be
/// reached without a valid credential, nor routed outside the guard unnoticed.
#[derive(Clone)]
pub(crate) struct Caller {
    scope: ApiScope,
    actor: String,
}

impl Caller {
    fn admin(&self) -> ApiResult<()> {
        match self.scope {
            ApiScope::Admin => Ok(()),
            ApiScope::Read => Err(Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this API key may only read; changes need a key with the admin scope",
            )),
        }
    }
}

impl FromRequestParts<App> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _app: &App) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            tracing::error!(path = %parts.uri.path(), "an API operation is routed outside the credential guard");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server-error",
                "this operation is not behind the API's credential check",
            )
        })
    }
}

/// The guard around every `/api/v1` operation: an API key (or, where the operator
/// allows it, an administrator's provider token), else 401.
pub(crate) async fn require_caller(
    axum::extract::State(app): axum::extract::State<App>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    match authenticate(&parts, &app).await {
        Ok(caller) => {
            parts.extensions.insert(caller);
            next.run(axum::extract::Request::from_parts(parts, body))
                .await
        }
        Err(problem) => problem.into_response(),
    }
}

/// Who is calling, from `Authorization: Bearer …`.
async fn authenticate(parts: &Parts, app: &App) -> Result<Caller, Problem> {
    let token = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "send an API key as `Authorization: Bearer ssg_…` (create one with `ssogate apikey create` or in the console)",
            )
        })?;
    let refused = || {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "the key is unknown or revoked",
        )
    };
    if token.starts_with("ssg_") {
        let (key, now) = (token.to_owned(), app.now());
        let scope = app
            .db(move |d| d.check_api_key(&key, now))
            .await
            .map_err(|e| Problem::from(AdminError::Store(e)))?
            .ok_or_else(refused)?;
        let prefix: String = token.chars().skip(4).take_while(|c| *c != '_').collect();
        return Ok(Caller {
            scope,
            actor: format!("apikey:{prefix}"),
        });
    }
    // A provider's access token, only where the operator said so
    // (`api_accepts_provider_tokens`): the account behind it must be an administrator.
    if !app.config.server.api_accepts_provider_tokens {
        return Err(refused());
    }
    for p in app.registry().bearer_providers() {
        if let Ok(identity) = p.rp.bearer(token).await {
            let (slug, sub) = (identity.provider.clone(), identity.subject.clone());
            let user = app
                .db(move |d| d.user_by_identity(&slug, &sub))
                .await
                .map_err(|e| Problem::from(AdminError::Store(e)))?;
            let Some(user) = user else {
                return Err(refused());
            };
            let is_admin = user.grants.iter().any(|g| g.kind == GrantKind::Admin);
            if user.status != UserStatus::Active || !is_admin {
                return Err(Problem::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "only active administrators may use the API with an access token",
                ));
            }
            return Ok(Caller {
                scope: ApiScope::Admin,
                actor: format!("user:{}", user.username),
            });
        }
    }
    Err(refused())
}

/// Runs an administrative call off the async threads.
async fn admin<T: Send + 'static>(
    app: &App,
    caller: &Caller,
    f: impl FnOnce(&Admin) -> Result<T, AdminError> + Send + 'static,
) -> ApiResult<T> {
    let a =
        Admin::new(app.directory.clone(), caller.actor.clone()).with_configured(app.configured());
    app.blocking(move || f(&a))
        .await
        .map_err(|_| {
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server-error",
                "a task failed",
            )
        })?
        .map_err(Problem::from)
}

#[derive(Serialize, ToSchema)]
pub struct UserSummary {
    pub id: i64,
    pub username: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    /// active, disabled or pending.
    pub status: String,
    /// local, provider or api.
    pub source: String,
    pub admin: bool,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserSummary>,
    /// Pass as `after` for the next page; absent on the last.
    pub next: Option<String>,
}

pub use ssogate_admin::views::{Identity, User};

fn user_of(d: ssogate_admin::UserDetail) -> User {
    User::from(d)
}

/// Query parameters arrive as text and are checked here, so a bad one is named.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Part of the username, display name or email.
    search: Option<String>,
    /// active, disabled or pending.
    status: Option<String>,
    /// local, provider or api.
    source: Option<String>,
    /// Has an identity at this provider.
    provider: Option<String>,
    permission: Option<String>,
    library: Option<String>,
    group: Option<String>,
    /// true or false.
    admin: Option<String>,
    /// username, created or last_login.
    sort: Option<String>,
    /// true for descending.
    desc: Option<String>,
    /// 1–500, default 50.
    limit: Option<String>,
    /// The `next` of the previous page.
    after: Option<String>,
}

fn parse_bool(field: &str, v: Option<&str>) -> ApiResult<Option<bool>> {
    match v {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(Problem::field(
            field,
            format!("\"{other}\" is not true or false"),
        )),
    }
}

fn parse_limit(field: &str, v: Option<&str>, default: i64, max: i64) -> ApiResult<i64> {
    match v {
        None => Ok(default),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(Problem::field(
                field,
                format!("\"{s}\" is not a number from 1 to {max}"),
            )),
        },
    }
}

impl UserQuery {
    fn filter(&self) -> ApiResult<UserFilter> {
        let status = self
            .status
            .as_deref()
            .map(|s| {
                UserStatus::parse(s).ok_or_else(|| {
                    Problem::field(
                        "status",
                        format!("\"{s}\" is not active, disabled or pending"),
                    )
                })
            })
            .transpose()?;
        let source = self
            .source
            .as_deref()
            .map(|s| {
                UserSource::parse(s).ok_or_else(|| {
                    Problem::field("source", format!("\"{s}\" is not local, provider or api"))
                })
            })
            .transpose()?;
        let sort = match self.sort.as_deref() {
            None | Some("username") => UserSort::Username,
            Some("created") => UserSort::Created,
            Some("last_login") => UserSort::LastLogin,
            Some(other) => {
                return Err(Problem::field(
                    "sort",
                    format!("\"{other}\" is not username, created or last_login"),
                ));
            }
        };
        Ok(UserFilter {
            search: self.search.clone(),
            source,
            status,
            admin: parse_bool("admin", self.admin.as_deref())?,
            provider: self.provider.clone(),
            permission: self.permission.clone(),
            library: self.library.clone(),
            group: self.group.clone(),
            sort,
            descending: parse_bool("desc", self.desc.as_deref())?.unwrap_or(false),
            limit: parse_limit("limit", self.limit.as_deref(), 50, 500)?,
            after: self.after.clone(),
        })
    }
}

/// List and search accounts.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserQuery),
    security(("bearer" = [])),
    responses((status = 200, body = UserList), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn list_users(
    State(app): State<App>,
    caller: Caller,
    Query(q): Query<UserQuery>,
) -> ApiResult<Json<UserList>> {
    let filter = q.filter()?;
    let page = admin(&app, &caller, move |a| a.list_users(&filter)).await?;
    Ok(Json(UserList {
        users: page
            .users
            .into_iter()
            .map(|u| UserSummary {
                id: u.id,
                username: u.username,
                email: u.email,
                display_name: u.display_name,
                status: u.status.as_str().to_owned(),
                source: u.source.as_str().to_owned(),
                admin: u.is_admin,
                created_at: u.created_at,
                last_login_at: u.last_login_at,
            })
            .collect(),
        next: page.next,
    }))
}

/// A new account to pre-provision (Nextcloud's provisioning API): with `provider` and
/// `subject` it binds to that identity at its first sign-in.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub username: String,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub display_name: Option<String>,
    pub provider: Option<String>,
    pub subject: Option<String>,
    pub external_id: Option<String>,
    #[serde(default)]
    pub permissions: Vec<String>,
    #[serde(default)]
    pub libraries: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    pub admin: Option<bool>,
}

/// A JSON body, read so that an error names the field.
fn body<T: serde::de::DeserializeOwned>(bytes: &Bytes) -> ApiResult<T> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| Problem::field("body", format!("is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(Problem::field("body", "must be a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        // serde says which field is missing only in its message.
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|m| m.split('`').next())
            .map(str::to_owned);
        let field = match (path.as_str(), missing) {
            (".", Some(m)) => m,
            (".", None) => "body".to_owned(),
            (p, Some(m)) => format!("{p}.{m}"),
            (p, None) => p.to_owned(),
        };
        Problem::field(&field, message)
    })
}

/// Pre-provision an account.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    security(("bearer" = [])),
    responses((status = 201, body = User), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_user(State(app): State<App>, caller: Caller, bytes: Bytes) -> ApiResult<Response> {
    caller.admin()?;
    let n: NewUser = body(&bytes)?;
    // The identity to bind: a provider with its subject or external id, never half.
    match (&n.provider, &n.subject, &n.external_id) {
        (None, Some(_), _) | (None, None, Some(_)) => {
            return Err(Problem::field(
                "provider",
                "subject and external_id need the provider they are at",
            ));
        }
        (Some(_), None, None) => {
            return Err(Problem::field(
                "subject",
                "a provider needs the subject (or external_id) to bind",
            ));
        }
        _ => {}
    }
    let row = ImportRow {
        username: n.username,
        email: n.email,
        email_verified: n.email_verified,
        display_name: n.display_name,
        status: None,
        provider: n.provider,
        subject: n.subject,
        external_id: n.external_id,
        permissions: n.permissions,
        libraries: n.libraries,
        groups: n.groups,
        admin: n.admin,
    };
    let now = app.now();
    let d = admin(&app, &caller, move |a| a.create_user(row, now)).await?;
    Ok((StatusCode::CREATED, Json(user_of(d))).into_response())
}

/// One account, with grants, external ids and identities.
#[utoipa::path(get, path = "/api/v1/users/{user}", tag = "users",
    params(("user" = String, Path, description = "username or numeric id")),
    security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_user(
    State(app): State<App>,
    caller: Caller,
    Path(user): Path<String>,
) -> ApiResult<Json<User>> {
    let d = admin(&app, &caller, move |a| a.user(&user)).await?;
    Ok(Json(user_of(d)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    /// `disabled` disables (sessions end at once); `active` enables a disabled account or
    /// approves a pending one.
    pub status: Option<String>,
    /// A new display name; empty clears it.
    pub display_name: Option<String>,
    /// A new email (unverified until a provider vouches for it); empty clears it.
    pub email: Option<String>,
}

/// Change an account's status, display name or email.
#[utoipa::path(patch, path = "/api/v1/users/{user}", tag = "users", request_body = UserChange,
    params(("user" = String, Path, description = "username or numeric id")),
    security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn update_user(
    State(app): State<App>,
    caller: Caller,
    Path(user): Path<String>,
    bytes: Bytes,
) -> ApiResult<Json<User>> {
    caller.admin()?;
    let change: UserChange = body(&bytes)?;
    let d = admin(&app, &caller, move |a| {
        let mut current = a.user(&user)?;
        if change.display_name.is_some() || change.email.is_some() {
            current = a.update_profile(
                &user,
                change.display_name.as_deref(),
                change.email.as_deref(),
            )?;
        }
        match change.status.as_deref() {
            None => Ok(current),
            Some("disabled") => a.set_status(&user, StatusChange::Disable),
            Some("active") if current.user.status == UserStatus::Pending => {
                a.set_status(&user, StatusChange::Approve)
            }
            Some("active") => a.set_status(&user, StatusChange::Enable),
            Some(other) => Err(AdminError::Invalid {
                field: "status",
                message: format!("\"{other}\" is not active or disabled"),
            }),
        }
    })
    .await?;
    Ok(Json(user_of(d)))
}

/// Delete an account with its identities, grants and sessions.
#[utoipa::path(delete, path = "/api/v1/users/{user}", tag = "users",
    params(("user" = String, Path, description = "username or numeric id")),
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_user(
    State(app): State<App>,
    caller: Caller,
    Path(user): Path<String>,
) -> ApiResult<StatusCode> {
    caller.admin()?;
    admin(&app, &caller, move |a| a.delete_user(&user)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalId {
    pub external_id: String,
}

/// Set an account's external authentication id at a provider.
#[utoipa::path(put, path = "/api/v1/users/{user}/external-ids/{provider}", tag = "users", request_body = ExternalId,
    params(("user" = String, Path, description = "username or numeric id"), ("provider" = String, Path, description = "provider slug")),
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn put_external_id(
    State(app): State<App>,
    caller: Caller,
    Path((user, provider)): Path<(String, String)>,
    bytes: Bytes,
) -> ApiResult<StatusCode> {
    caller.admin()?;
    let e: ExternalId = body(&bytes)?;
    admin(&app, &caller, move |a| {
        a.set_external_id(&user, &provider, Some(&e.external_id))
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove an account's external authentication id at a provider.
#[utoipa::path(delete, path = "/api/v1/users/{user}/external-ids/{provider}", tag = "users",
    params(("user" = String, Path, description = "username or numeric id"), ("provider" = String, Path, description = "provider slug")),
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn delete_external_id(
    State(app): State<App>,
    caller: Caller,
    Path((user, provider)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.admin()?;
    admin(&app, &caller, move |a| {
        a.set_external_id(&user, &provider, None)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Unix seconds, inclusive.
    from: Option<String>,
    /// Unix seconds, exclusive.
    to: Option<String>,
    /// Username or numeric id.
    user: Option<String>,
    provider: Option<String>,
    event: Option<String>,
    /// success or failure.
    outcome: Option<String>,
    /// Only events with a smaller id (the previous page's last).
    before: Option<String>,
    /// 1–1000, default 100.
    limit: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEvent {
    pub id: i64,
    pub at: i64,
    pub event: String,
    pub outcome: String,
    pub reason: Option<String>,
    pub provider: Option<String>,
    pub subject: Option<String>,
    pub user_id: Option<i64>,
    /// The event's details (decision trace, actor, …).
    pub detail: Option<serde_json::Value>,
}

fn parse_int(field: &str, v: Option<&str>) -> ApiResult<Option<i64>> {
    v.map(|s| {
        s.parse::<i64>()
            .map_err(|_| Problem::field(field, format!("\"{s}\" is not a whole number")))
    })
    .transpose()
}

/// Query the audit log, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    security(("bearer" = [])),
    responses((status = 200, body = [AuditEvent]), (status = 401, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn audit(
    State(app): State<App>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEvent>>> {
    if let Some(o) = &q.outcome
        && !matches!(o.as_str(), "success" | "failure")
    {
        return Err(Problem::field(
            "outcome",
            format!("\"{o}\" is not success or failure"),
        ));
    }
    let mut filter = AuditFilter {
        from: parse_int("from", q.from.as_deref())?,
        to: parse_int("to", q.to.as_deref())?,
        user_id: None,
        provider: q.provider.clone(),
        event: q.event.clone(),
        outcome: q.outcome.clone(),
        before_id: parse_int("before", q.before.as_deref())?,
        limit: parse_limit("limit", q.limit.as_deref(), 100, 1000)?,
    };
    let user = q.user.clone();
    let events = admin(&app, &caller, move |a| {
        filter.user_id = user.as_deref().map(|u| a.user_id(u)).transpose()?;
        a.audit_events(&filter)
    })
    .await?;
    Ok(Json(
        events
            .into_iter()
            .map(|(id, e)| AuditEvent {
                id,
                at: e.at,
                event: e.event,
                outcome: e.outcome,
                reason: e.reason,
                provider: e.provider,
                subject: e.subject,
                user_id: e.user_id,
                detail: e.detail.and_then(|d| serde_json::from_str(&d).ok()),
            })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// The provider slug whose policy decides.
    pub provider: String,
    /// The ID token's claims.
    #[schema(value_type = Object)]
    pub claims: serde_json::Value,
    /// Userinfo claims, if the provider would send them.
    #[schema(value_type = Option<Object>)]
    pub userinfo: Option<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct DecisionAnswer {
    /// sign_in, link, provision or reject.
    pub decision: String,
    /// Why a sign-in would be refused (a stable code), if it would.
    pub reason: Option<String>,
    pub message: Option<String>,
    pub allow_session: bool,
    /// Why, step by step.
    pub trace: Vec<String>,
    /// What would be written.
    pub changes: serde_json::Value,
}

/// What a sign-in with these claims would decide now, and why; nothing is written.
#[utoipa::path(post, path = "/api/v1/decisions", tag = "provisioning", request_body = DecisionRequest,
    security(("bearer" = [])),
    responses((status = 200, body = DecisionAnswer), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn decide(
    State(app): State<App>,
    caller: Caller,
    bytes: Bytes,
) -> ApiResult<Json<DecisionAnswer>> {
    let r: DecisionRequest = body(&bytes)?;
    // Claims are JSON objects, as a provider sends them; anything else is a mistake.
    if !r.claims.is_object() {
        return Err(Problem::field("claims", "must be a JSON object"));
    }
    if r.userinfo
        .as_ref()
        .is_some_and(|u| !u.is_object() && !u.is_null())
    {
        return Err(Problem::field("userinfo", "must be a JSON object or null"));
    }
    let Some((engine, _)) = app.engine(&r.provider) else {
        return Err(Problem::field(
            "provider",
            format!("no provider \"{}\" is configured", r.provider),
        ));
    };
    let outcome = admin(&app, &caller, move |a| {
        a.test_claims(engine, r.claims, r.userinfo)
    })
    .await?;
    Ok(Json(DecisionAnswer {
        decision: outcome.decision.code().to_owned(),
        reason: outcome.reason().map(|r| r.code().to_owned()),
        message: outcome.reason().map(ToString::to_string),
        allow_session: outcome.allow_session,
        trace: outcome.trace.to_strings(),
        changes: serde_json::to_value(&outcome.changes).unwrap_or_default(),
    }))
}

/// The API's routes and its OpenAPI document, from the same declarations.
pub(crate) fn routes() -> (axum::Router<App>, utoipa::openapi::OpenApi) {
    let r = providers::routes(OpenApiRouter::<App>::default());
    let r = catalogue::routes(r);
    let (router, mut doc) = r
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(put_external_id, delete_external_id))
        .routes(routes!(decide))
        .routes(routes!(audit))
        .split_for_parts();
    doc.info = utoipa::openapi::InfoBuilder::new()
        .title("ssogate")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Accounts, providers and the audit log of ssogate. Authenticate with an API key \
             (`ssogate apikey create`) as `Authorization: Bearer ssg_…`; keys are scoped read \
             or admin. Errors are RFC 9457 problem documents.",
        ))
        .build();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        utoipa::openapi::security::SecurityScheme::Http(
            utoipa::openapi::security::HttpBuilder::new()
                .scheme(utoipa::openapi::security::HttpAuthScheme::Bearer)
                .description(Some(
                    "an API key (ssg_…) or an administrator's access token",
                ))
                .build(),
        ),
    );
    (router, doc)
}

/// Unknown paths under `/api`: a problem document, not the HTML 404 page.
pub(crate) async fn no_such_endpoint() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "no-such-endpoint",
        "there is no such API endpoint; see /api/openapi.json",
    )
}

/// Refusals the framework makes before a handler runs (405 wrong method, 413 body too
/// large, 400 an unreadable path or query) become problem documents like every other
/// API error.
pub(crate) async fn problems_only(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let api = request.uri().path().starts_with("/api/v1/");
    let res = next.run(request).await;
    let status = res.status();
    if !api || !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if is_problem {
        return res;
    }
    let (kind, detail) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            "method-not-allowed",
            "this method is not allowed on this endpoint; see /api/openapi.json",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("too-large", "the body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported-media-type",
            "send the body as JSON (Content-Type: application/json)",
        ),
        StatusCode::BAD_REQUEST => (
            "bad-request",
            "the request could not be read (path or query string); see /api/openapi.json",
        ),
        _ => ("error", "the request was refused"),
    };
    let mut problem = Problem::new(status, kind, detail).into_response();
    if let Some(allow) = res.headers().get(header::ALLOW) {
        problem.headers_mut().insert(header::ALLOW, allow.clone());
    }
    problem
}
