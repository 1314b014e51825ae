//! Accounts: list and search, pre-provision, read, change, delete, external ids, local
//! passwords and reset links.

use super::{ApiResult, Caller, Problem, User, admin, body, parse_bool, parse_limit, user_of};
use crate::state::App;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use ssogate_admin::{AdminError, StatusChange};
use ssogate_core::domain::{UserSource, UserStatus};
use ssogate_store::import::ImportRow;
use ssogate_store::query::{UserFilter, UserSort};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use ssogate_admin::views::UserList;

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
    Ok(Json(UserList::from(page)))
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
    /// A storage quota as the application reads it (Nextcloud's `quota`, e.g. `5 GB`).
    pub quota: Option<String>,
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
        quota: n.quota,
        password_hash: None,
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    /// The new password (checked against `[passwords]`); `null` removes the password.
    pub password: Option<String>,
}

/// Set an account's local password, or remove it (`{"password": null}`; refused when it
/// is the account's only way to sign in). The password is never echoed nor audited.
#[utoipa::path(put, path = "/api/v1/users/{user}/password", tag = "users", request_body = NewPassword,
    params(("user" = String, Path, description = "username or numeric id")),
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn put_password(
    State(app): State<App>,
    caller: Caller,
    Path(user): Path<String>,
    bytes: Bytes,
) -> ApiResult<StatusCode> {
    caller.admin()?;
    let p: NewPassword = body(&bytes)?;
    admin(&app, &caller, move |a| match p.password {
        Some(pw) => a.set_password(&user, &pw),
        None => a.remove_password(&user),
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A one-time password reset link, shown once.
#[derive(serde::Serialize, ToSchema)]
pub struct ResetLink {
    /// Open it to choose a password; earlier links of the account stop working.
    pub url: String,
    /// Unix seconds after which the link no longer works.
    pub expires_at: i64,
}

/// Make a one-time link for the person to choose a password (`[passwords]
/// reset_link_minutes`); only its digest is stored.
#[utoipa::path(post, path = "/api/v1/users/{user}/password-reset", tag = "users",
    params(("user" = String, Path, description = "username or numeric id")),
    security(("bearer" = [])),
    responses((status = 201, body = ResetLink), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn create_reset_link(
    State(app): State<App>,
    caller: Caller,
    Path(user): Path<String>,
) -> ApiResult<Response> {
    caller.admin()?;
    let link = admin(&app, &caller, move |a| a.create_reset_link(&user)).await?;
    let url = format!(
        "{}/password/reset?token={}",
        app.config.base_url,
        link.token.expose()
    );
    let mut res = (
        StatusCode::CREATED,
        Json(ResetLink {
            url,
            expires_at: link.expires_at,
        }),
    )
        .into_response();
    res.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(res)
}

pub(super) fn routes(r: OpenApiRouter<App>) -> OpenApiRouter<App> {
    r.routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(put_external_id, delete_external_id))
        .routes(routes!(put_password))
        .routes(routes!(create_reset_link))
}
