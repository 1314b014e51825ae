//! Providers (the file's, read-only; those saved in the directory, editable), their
//! checks and keys, and provisioning settings per provider and global.

use super::{ApiResult, Caller, Problem, admin, body};
use crate::state::App;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use ssogate_admin::AdminError;
use ssogate_core::policy::Scope;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct Provider {
    pub slug: String,
    pub name: String,
    pub issuer: String,
    /// `config` (read-only here) or `database` (added through the console, API or CLI).
    pub managed_by: String,
    /// Accounts with an identity at this provider.
    pub linked_accounts: i64,
    /// For providers saved in the database: the saved document (the keys of a
    /// `[providers.<slug>]` table), without the client secret.
    #[schema(value_type = Option<Object>)]
    pub document: Option<Value>,
    pub client_secret_set: bool,
}

fn not_found(slug: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        format!("no provider \"{slug}\""),
    )
}

async fn describe(app: &App, caller: &Caller, slugs: Vec<String>) -> ApiResult<Vec<Provider>> {
    let registry = app.registry();
    let saved = admin(app, caller, |a| a.saved_providers()).await?;
    let mut out = Vec::new();
    for slug in slugs {
        let record = saved.iter().find(|r| r.slug == slug);
        let entry = registry.providers.get(&slug);
        let linked = match record {
            Some(r) => r.linked_accounts,
            None => {
                let s = slug.clone();
                app.db(move |d| d.accounts_linked_to(&s))
                    .await
                    .map_err(|e| Problem::from(AdminError::Store(e)))?
            }
        };
        let (name, issuer) = match (entry, record) {
            (Some(e), _) => (e.config.display_name.clone(), e.config.issuer.clone()),
            (None, Some(r)) => (
                r.document
                    .get("display_name")
                    .and_then(Value::as_str)
                    .unwrap_or(&slug)
                    .to_owned(),
                r.document
                    .get("issuer")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            ),
            (None, None) => continue,
        };
        out.push(Provider {
            managed_by: if record.is_some() {
                "database"
            } else {
                "config"
            }
            .into(),
            linked_accounts: linked,
            document: record.map(|r| r.document.clone()),
            client_secret_set: record.is_some_and(|r| r.client_secret_set)
                || entry.is_some_and(|e| e.config.client_secret.is_some()),
            name,
            issuer,
            slug,
        });
    }
    Ok(out)
}

/// The providers ssogate signs people in through.
#[utoipa::path(get, path = "/api/v1/providers", tag = "providers",
    security(("bearer" = [])),
    responses((status = 200, body = [Provider]), (status = 401, body = Problem)))]
async fn list_providers(State(app): State<App>, caller: Caller) -> ApiResult<Json<Vec<Provider>>> {
    let mut slugs: Vec<String> = app.registry().providers.keys().cloned().collect();
    // A saved provider that does not build is listed too, so it can be mended.
    let saved = admin(&app, &caller, |a| a.saved_providers()).await?;
    for r in saved {
        if !slugs.contains(&r.slug) {
            slugs.push(r.slug);
        }
    }
    slugs.sort();
    Ok(Json(describe(&app, &caller, slugs).await?))
}

/// One provider.
#[utoipa::path(get, path = "/api/v1/providers/{slug}", tag = "providers",
    params(("slug" = String, Path, description = "provider slug")),
    security(("bearer" = [])),
    responses((status = 200, body = Provider), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_provider(
    State(app): State<App>,
    caller: Caller,
    Path(slug): Path<String>,
) -> ApiResult<Json<Provider>> {
    describe(&app, &caller, vec![slug.clone()])
        .await?
        .pop()
        .map(Json)
        .ok_or_else(|| not_found(&slug))
}

/// A new provider: its slug and the keys of a `[providers.<slug>]` table
/// (`issuer`, `client_id`, `client_secret`, `display_name`, `scopes`, `claims`, …).
#[derive(Deserialize, ToSchema)]
pub struct NewProvider {
    /// Lower-case letters, digits, `-` and `_`; it is in the callback URL.
    #[schema(pattern = "^[a-z0-9][a-z0-9_-]{0,62}$")]
    pub slug: String,
    /// The issuer URL; discovery is at `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub document: Map<String, Value>,
}

fn changed(app: &App) -> Result<(), AdminError> {
    app.reload_now()
}

/// Add a provider (kept in the database; in force at once on every instance). Refused
/// unless it builds: unknown keys, a missing issuer or a bad slug are named.
#[utoipa::path(post, path = "/api/v1/providers", tag = "providers", request_body = NewProvider,
    security(("bearer" = [])),
    responses((status = 201, body = Provider), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_provider(
    State(app): State<App>,
    caller: Caller,
    bytes: Bytes,
) -> ApiResult<(StatusCode, Json<Provider>)> {
    caller.admin()?;
    let new: NewProvider = body(&bytes)?;
    let (a, slug) = (app.clone(), new.slug.clone());
    let mut document = new.document;
    document.insert("issuer".into(), Value::String(new.issuer));
    admin(&app, &caller, move |adm| {
        adm.add_provider(&slug, document, |doc| a.check_provider(&slug, doc))?;
        changed(&a)
    })
    .await?;
    let p = get_provider(State(app), caller, Path(new.slug)).await?;
    Ok((StatusCode::CREATED, p))
}

/// Change a provider saved in the database: each key given replaces the saved one,
/// `null` removes it; an absent or empty `client_secret` keeps the saved secret.
#[utoipa::path(patch, path = "/api/v1/providers/{slug}", tag = "providers",
    request_body(content = Object, description = "keys of a [providers.<slug>] table"),
    params(("slug" = String, Path, description = "provider slug")),
    security(("bearer" = [])),
    responses((status = 200, body = Provider), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn update_provider(
    State(app): State<App>,
    caller: Caller,
    Path(slug): Path<String>,
    bytes: Bytes,
) -> ApiResult<Json<Provider>> {
    caller.admin()?;
    let changes: Map<String, Value> = body(&bytes)?;
    let (a, s) = (app.clone(), slug.clone());
    admin(&app, &caller, move |adm| {
        adm.update_provider(&s, changes, |doc| a.check_provider(&s, doc))?;
        changed(&a)
    })
    .await?;
    get_provider(State(app), caller, Path(slug)).await
}

#[derive(Serialize, ToSchema)]
pub struct Deleted {
    /// Accounts that were linked to it (they stay, with their identities).
    pub linked_accounts: i64,
}

/// Delete a provider saved in the database; its sessions end. Accounts linked to it stay.
#[utoipa::path(delete, path = "/api/v1/providers/{slug}", tag = "providers",
    params(("slug" = String, Path, description = "provider slug")),
    security(("bearer" = [])),
    responses((status = 200, body = Deleted), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_provider(
    State(app): State<App>,
    caller: Caller,
    Path(slug): Path<String>,
) -> ApiResult<Json<Deleted>> {
    caller.admin()?;
    let a = app.clone();
    let linked = admin(&app, &caller, move |adm| {
        let n = adm.delete_provider(&slug)?;
        changed(&a)?;
        Ok(n)
    })
    .await?;
    Ok(Json(Deleted {
        linked_accounts: linked,
    }))
}

/// What `ssogate provider check` reports: discovery and keys fetched afresh.
#[utoipa::path(post, path = "/api/v1/providers/{slug}/check", tag = "providers",
    params(("slug" = String, Path, description = "provider slug")),
    security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn check_provider(
    State(app): State<App>,
    _caller: Caller,
    Path(slug): Path<String>,
) -> ApiResult<Json<ssogate_oidc::CheckReport>> {
    let entry = app.provider(&slug).ok_or_else(|| not_found(&slug))?;
    Ok(Json(entry.rp.check().await))
}

/// Forget the provider's cached discovery document and keys on every instance (after
/// the provider rotated its keys early, say); the next sign-in fetches them anew.
#[utoipa::path(post, path = "/api/v1/providers/{slug}/jwks-refresh", tag = "providers",
    params(("slug" = String, Path, description = "provider slug")),
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn refresh_keys(
    State(app): State<App>,
    caller: Caller,
    Path(slug): Path<String>,
) -> ApiResult<StatusCode> {
    caller.admin()?;
    if app.provider(&slug).is_none() {
        return Err(not_found(&slug));
    }
    admin(&app, &caller, move |a| a.refresh_keys(&slug)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct ProvisioningSettings {
    /// Provisioning hooks asked about every sign-in, in order (`[hooks.<name>]`).
    pub hooks: Vec<String>,
    pub auto_provision: bool,
    pub soft_auto_provision: bool,
    pub disable_account_creation: bool,
    pub require_approval: bool,
    pub default_permissions: Vec<String>,
    pub default_libraries: Vec<String>,
    pub default_groups: Vec<String>,
    pub admin_email_domains: Vec<String>,
    /// Rules: `name`, `when` (a CEL expression), what they grant.
    #[schema(value_type = Vec<Object>)]
    pub rules: Vec<Value>,
    /// Whether the provider has no settings of its own saved (the global ones and the
    /// configuration apply).
    pub inherits_global: bool,
}

/// The provisioning settings in force for a provider: the configuration, the global
/// settings saved in the console, then its own.
#[utoipa::path(get, path = "/api/v1/providers/{slug}/provisioning", tag = "provisioning",
    params(("slug" = String, Path, description = "provider slug")),
    security(("bearer" = [])),
    responses((status = 200, body = ProvisioningSettings), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_provisioning(
    State(app): State<App>,
    _caller: Caller,
    Path(slug): Path<String>,
) -> ApiResult<Json<ProvisioningSettings>> {
    let Some((_, p)) = app.engine(&slug) else {
        return Err(not_found(&slug));
    };
    let scope = Scope::Provider(slug.clone());
    let own = app
        .db(move |d| d.get_settings(&scope))
        .await
        .map_err(|e| Problem::from(AdminError::Store(e)))?;
    let inherits_global = own
        .as_ref()
        .and_then(Value::as_object)
        .is_none_or(Map::is_empty);
    Ok(Json(ProvisioningSettings {
        hooks: p.hooks,
        rules: p
            .rules
            .iter()
            .filter_map(|r| serde_json::to_value(r).ok())
            .collect(),
        auto_provision: p.auto_provision,
        soft_auto_provision: p.soft_auto_provision,
        disable_account_creation: p.disable_account_creation,
        require_approval: p.require_approval,
        default_permissions: p.default_permissions,
        default_libraries: p.default_libraries,
        default_groups: p.default_groups,
        admin_email_domains: p.admin_email_domains,
        inherits_global,
    }))
}

/// Saved provisioning settings; a field left out keeps its value.
#[derive(Deserialize, Serialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningChange {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_provision: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soft_auto_provision: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_account_creation: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_approval: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_permissions: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_libraries: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_groups: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_email_domains: Option<Vec<String>>,
    /// Provisioning hooks to ask, in order; each must be a `[hooks.<name>]` of the
    /// configuration file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hooks: Option<Vec<String>>,
    /// Replaces the rules: each `{name, when, grant_permissions, …}` as in
    /// `[[provisioning.rules]]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub rules: Option<Vec<Value>>,
    /// For a provider: `true` drops its own saved settings, so the global ones apply.
    #[serde(skip_serializing)]
    pub inherit: Option<bool>,
}

fn changes_of(change: &ProvisioningChange) -> Map<String, Value> {
    match serde_json::to_value(change) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// Change a provider's provisioning settings. Refused (and not saved) when the result
/// does not compile, e.g. an unknown permission or a rule that is not valid CEL.
#[utoipa::path(patch, path = "/api/v1/providers/{slug}/provisioning", tag = "provisioning",
    request_body = ProvisioningChange,
    params(("slug" = String, Path, description = "provider slug")),
    security(("bearer" = [])),
    responses((status = 200, body = ProvisioningSettings), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn patch_provisioning(
    State(app): State<App>,
    caller: Caller,
    Path(slug): Path<String>,
    bytes: Bytes,
) -> ApiResult<Json<ProvisioningSettings>> {
    caller.admin()?;
    let change: ProvisioningChange = body(&bytes)?;
    if app.provider(&slug).is_none() {
        return Err(not_found(&slug));
    }
    let inherit = change.inherit == Some(true);
    let changes = changes_of(&change);
    if inherit && !changes.is_empty() {
        return Err(Problem::field(
            "inherit",
            "give either inherit or settings, not both",
        ));
    }
    let (a, s) = (app.clone(), slug.clone());
    admin(&app, &caller, move |adm| {
        a.save_settings(adm, &Scope::Provider(s), changes, inherit)
            .map(drop)
    })
    .await?;
    get_provisioning(State(app), caller, Path(slug)).await
}

/// The global provisioning settings saved in the console: in force for every provider
/// that does not save the same field itself. Absent fields come from the configuration.
#[utoipa::path(get, path = "/api/v1/provisioning", tag = "provisioning",
    security(("bearer" = [])),
    responses((status = 200, body = ProvisioningChange), (status = 401, body = Problem)))]
async fn get_global(State(app): State<App>, _caller: Caller) -> ApiResult<Json<Value>> {
    let saved = app
        .db(|d| d.get_settings(&Scope::Global))
        .await
        .map_err(|e| Problem::from(AdminError::Store(e)))?;
    Ok(Json(saved.unwrap_or_else(|| Value::Object(Map::new()))))
}

/// Change the global provisioning settings; refused unless every provider compiles with
/// them.
#[utoipa::path(patch, path = "/api/v1/provisioning", tag = "provisioning",
    request_body = ProvisioningChange,
    security(("bearer" = [])),
    responses((status = 200, body = ProvisioningChange), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
async fn patch_global(
    State(app): State<App>,
    caller: Caller,
    bytes: Bytes,
) -> ApiResult<Json<Value>> {
    caller.admin()?;
    let change: ProvisioningChange = body(&bytes)?;
    if change.inherit.is_some() {
        return Err(Problem::field(
            "inherit",
            "is for a provider's settings, not the global ones",
        ));
    }
    let changes = changes_of(&change);
    let a = app.clone();
    let doc = admin(&app, &caller, move |adm| {
        a.save_settings(adm, &Scope::Global, changes, false)
    })
    .await?;
    Ok(Json(doc))
}

pub(super) fn routes(
    r: utoipa_axum::router::OpenApiRouter<App>,
) -> utoipa_axum::router::OpenApiRouter<App> {
    use utoipa_axum::routes;
    r.routes(routes!(list_providers, create_provider))
        .routes(routes!(get_provider, update_provider, delete_provider))
        .routes(routes!(check_provider))
        .routes(routes!(refresh_keys))
        .routes(routes!(get_provisioning, patch_provisioning))
        .routes(routes!(get_global, patch_global))
}
