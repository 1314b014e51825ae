//! The catalogue (permissions, libraries, groups with their external ids) and what each
//! account holds of it.

use super::{ApiResult, Caller, Identity, Problem, User, admin, body, user_of};
use crate::state::App;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use ssogate_core::domain::{Catalogue, GrantKind};
use ssogate_store::catalogue::{Item, ItemKind};
use utoipa::ToSchema;

/// Which list of the catalogue (a path segment).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // documents the path parameter; the handlers read it as text
pub enum CatalogueKind {
    Permissions,
    Libraries,
    Groups,
}

/// What a grant is of (a path segment).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // documents the path parameter; the handlers read it as text
pub enum GrantKindName {
    Permission,
    Library,
    Group,
    Admin,
}

#[derive(Serialize, ToSchema)]
pub struct CatalogueEntry {
    /// permission, library or group.
    pub kind: String,
    pub name: String,
    pub label: Option<String>,
    /// Permissions only: granted to every account.
    pub required: bool,
    /// Groups only: the provider group names (BookStack's "External Authentication IDs")
    /// that map to this group; none means the group's own name.
    pub external_ids: Vec<String>,
    /// Accounts holding it.
    pub holders: i64,
    /// `config` (read-only here) or `database`.
    pub managed_by: String,
}

fn entry(i: ssogate_admin::CatalogueItem) -> CatalogueEntry {
    let e = i.entry;
    CatalogueEntry {
        kind: e.item.kind.as_str().to_owned(),
        name: e.item.name,
        label: e.item.label,
        required: e.item.required,
        external_ids: e.item.external_ids,
        holders: e.holders,
        managed_by: i.managed_by.to_owned(),
    }
}

fn kind_of(kind: &str) -> ApiResult<ItemKind> {
    ItemKind::parse(kind).ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("\"{kind}\" is not permissions, libraries or groups"),
        )
    })
}

/// A catalogue item as written: the kind comes from the path.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemInput {
    pub name: String,
    pub label: Option<String>,
    /// Permissions only.
    #[serde(default)]
    pub required: bool,
    /// Groups only.
    #[serde(default)]
    pub external_ids: Vec<String>,
}

impl ItemInput {
    fn item(self, kind: ItemKind) -> Item {
        Item {
            kind,
            name: self.name,
            label: self.label,
            required: self.required,
            external_ids: self.external_ids,
        }
    }
}

/// Every item of the catalogue.
#[utoipa::path(get, path = "/api/v1/catalogue", tag = "catalogue",
    security(("bearer" = [])),
    responses((status = 200, body = [CatalogueEntry]), (status = 401, body = Problem)))]
async fn list_all(State(app): State<App>, caller: Caller) -> ApiResult<Json<Vec<CatalogueEntry>>> {
    let items = admin(&app, &caller, |a| a.catalogue()).await?;
    Ok(Json(items.into_iter().map(entry).collect()))
}

/// The items of one kind.
#[utoipa::path(get, path = "/api/v1/catalogue/{kind}", tag = "catalogue",
    params(("kind" = inline(CatalogueKind), Path, description = "permissions, libraries or groups")),
    security(("bearer" = [])),
    responses((status = 200, body = [CatalogueEntry]), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn list_kind(
    State(app): State<App>,
    caller: Caller,
    Path(kind): Path<String>,
) -> ApiResult<Json<Vec<CatalogueEntry>>> {
    let kind = kind_of(&kind)?;
    let items = admin(&app, &caller, |a| a.catalogue()).await?;
    Ok(Json(
        items
            .into_iter()
            .filter(|i| i.entry.item.kind == kind)
            .map(entry)
            .collect(),
    ))
}

/// Create an item.
#[utoipa::path(post, path = "/api/v1/catalogue/{kind}", tag = "catalogue", request_body = ItemInput,
    params(("kind" = inline(CatalogueKind), Path, description = "permissions, libraries or groups")),
    security(("bearer" = [])),
    responses((status = 201, body = CatalogueEntry), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create(
    State(app): State<App>,
    caller: Caller,
    Path(kind): Path<String>,
    bytes: Bytes,
) -> ApiResult<(StatusCode, Json<CatalogueEntry>)> {
    caller.admin()?;
    let kind = kind_of(&kind)?;
    let input: ItemInput = body(&bytes)?;
    let a = app.clone();
    let made = admin(&app, &caller, move |adm| {
        let made = adm.create_item(input.item(kind), |c: &Catalogue| a.check_catalogue(c))?;
        a.reload_now()?;
        Ok(made)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(entry(made))))
}

/// One item.
#[utoipa::path(get, path = "/api/v1/catalogue/{kind}/{name}", tag = "catalogue",
    params(("kind" = inline(CatalogueKind), Path, description = "permissions, libraries or groups"), ("name" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = CatalogueEntry), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_item(
    State(app): State<App>,
    caller: Caller,
    Path((kind, name)): Path<(String, String)>,
) -> ApiResult<Json<CatalogueEntry>> {
    let kind = kind_of(&kind)?;
    let item = admin(&app, &caller, move |a| a.catalogue_item(kind, &name)).await?;
    Ok(Json(entry(item)))
}

/// Replace an item (a new `name` renames it; every grant follows).
#[utoipa::path(put, path = "/api/v1/catalogue/{kind}/{name}", tag = "catalogue", request_body = ItemInput,
    params(("kind" = inline(CatalogueKind), Path, description = "permissions, libraries or groups"), ("name" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = CatalogueEntry), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn update(
    State(app): State<App>,
    caller: Caller,
    Path((kind, name)): Path<(String, String)>,
    bytes: Bytes,
) -> ApiResult<Json<CatalogueEntry>> {
    caller.admin()?;
    let kind = kind_of(&kind)?;
    let input: ItemInput = body(&bytes)?;
    let a = app.clone();
    let changed = admin(&app, &caller, move |adm| {
        let changed = adm.update_item(&name, input.item(kind), |c: &Catalogue| {
            a.check_catalogue(c)
        })?;
        a.reload_now()?;
        Ok(changed)
    })
    .await?;
    Ok(Json(entry(changed)))
}

#[derive(Serialize, ToSchema)]
pub struct DeletedItem {
    /// Accounts that held it and lost it.
    pub holders: i64,
}

/// Delete an item and every grant of it.
#[utoipa::path(delete, path = "/api/v1/catalogue/{kind}/{name}", tag = "catalogue",
    params(("kind" = inline(CatalogueKind), Path, description = "permissions, libraries or groups"), ("name" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = DeletedItem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn delete(
    State(app): State<App>,
    caller: Caller,
    Path((kind, name)): Path<(String, String)>,
) -> ApiResult<Json<DeletedItem>> {
    caller.admin()?;
    let kind = kind_of(&kind)?;
    let a = app.clone();
    let holders = admin(&app, &caller, move |adm| {
        let n = adm.delete_item(kind, &name, |c: &Catalogue| a.check_catalogue(c))?;
        a.reload_now()?;
        Ok(n)
    })
    .await?;
    Ok(Json(DeletedItem { holders }))
}

#[derive(Serialize, ToSchema)]
pub struct UserGrant {
    /// permission, library, group or admin.
    pub kind: String,
    pub name: String,
    /// default, rule, provider, admin or import: where it came from. Sign-ins never take
    /// away what an administrator granted.
    pub source: String,
}

/// Everything an account holds, with where each grant came from.
#[utoipa::path(get, path = "/api/v1/users/{user}/grants", tag = "users",
    params(("user" = String, Path, description = "username or numeric id")),
    security(("bearer" = [])),
    responses((status = 200, body = [UserGrant]), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn user_grants(
    State(app): State<App>,
    caller: Caller,
    Path(user): Path<String>,
) -> ApiResult<Json<Vec<UserGrant>>> {
    let d = admin(&app, &caller, move |a| a.user(&user)).await?;
    Ok(Json(
        d.user
            .grants
            .into_iter()
            .map(|g| UserGrant {
                kind: g.kind.to_string(),
                name: g.name,
                source: g.source.as_str().to_owned(),
            })
            .collect(),
    ))
}

/// The provider identities linked to an account.
#[utoipa::path(get, path = "/api/v1/users/{user}/identities", tag = "users",
    params(("user" = String, Path, description = "username or numeric id")),
    security(("bearer" = [])),
    responses((status = 200, body = [Identity]), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn user_identities(
    State(app): State<App>,
    caller: Caller,
    Path(user): Path<String>,
) -> ApiResult<Json<Vec<Identity>>> {
    let d = admin(&app, &caller, move |a| a.user(&user)).await?;
    Ok(Json(user_of(d).identities))
}

fn grant_kind(kind: &str, name: &str) -> ApiResult<GrantKind> {
    match kind {
        // One administrator flag, named `admin`: any other name is not a grant.
        "admin" if name != "admin" => Err(Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "the administrator grant is admin/admin",
        )),
        "admin" => Ok(GrantKind::Admin),
        _ => match ItemKind::parse(kind) {
            Some(ItemKind::Permission) => Ok(GrantKind::Permission),
            Some(ItemKind::Library) => Ok(GrantKind::Library),
            Some(ItemKind::Group) => Ok(GrantKind::Group),
            None => Err(Problem::new(
                StatusCode::NOT_FOUND,
                "not-found",
                format!("\"{kind}\" is not permission, library, group or admin"),
            )),
        },
    }
}

/// Grant a permission, library, group or (`admin/admin`) the administrator flag, as an
/// administrator: sign-ins never take it away. Takes effect at once.
#[utoipa::path(put, path = "/api/v1/users/{user}/grants/{kind}/{name}", tag = "users",
    params(("user" = String, Path, description = "username or numeric id"),
        ("kind" = inline(GrantKindName), Path, description = "permission, library, group or admin"), ("name" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn grant(
    State(app): State<App>,
    caller: Caller,
    Path((user, kind, name)): Path<(String, String, String)>,
) -> ApiResult<Json<User>> {
    caller.admin()?;
    let kind = grant_kind(&kind, &name)?;
    let d = admin(&app, &caller, move |a| a.grant(&user, kind, &name)).await?;
    Ok(Json(user_of(d)))
}

/// Take a grant away. One a provider's claims give returns at the next sign-in if the
/// claims still say so.
#[utoipa::path(delete, path = "/api/v1/users/{user}/grants/{kind}/{name}", tag = "users",
    params(("user" = String, Path, description = "username or numeric id"),
        ("kind" = inline(GrantKindName), Path, description = "permission, library, group or admin"), ("name" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn revoke(
    State(app): State<App>,
    caller: Caller,
    Path((user, kind, name)): Path<(String, String, String)>,
) -> ApiResult<Json<User>> {
    caller.admin()?;
    let kind = grant_kind(&kind, &name)?;
    let d = admin(&app, &caller, move |a| a.revoke(&user, kind, &name)).await?;
    Ok(Json(user_of(d)))
}

pub(super) fn routes(
    r: utoipa_axum::router::OpenApiRouter<App>,
) -> utoipa_axum::router::OpenApiRouter<App> {
    use utoipa_axum::routes;
    r.routes(routes!(list_all))
        .routes(routes!(list_kind, create))
        .routes(routes!(get_item, update, delete))
        .routes(routes!(user_grants))
        .routes(routes!(user_identities))
        .routes(routes!(grant, revoke))
}
