//! Dry-run decisions: what a sign-in with these claims would do now, and why.

use super::{ApiResult, Caller, Problem, admin, body};
use crate::state::App;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
    let Some((engine, policy)) = app.engine(&r.provider) else {
        return Err(Problem::field(
            "provider",
            format!("no provider \"{}\" is configured", r.provider),
        ));
    };
    let sources = ssogate_core::claims::ClaimSources {
        id_token: r.claims.clone(),
        userinfo: r.userinfo.clone().filter(|u| !u.is_null()),
    };
    let verdicts = crate::hooks::consult(&app, &r.provider, &policy.hooks, &engine, &sources, true)
        .await
        .map_err(|e| Problem::of_store(&e))?;
    let outcome = admin(&app, &caller, move |a| {
        a.test_claims(engine, r.claims, r.userinfo, verdicts)
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

pub(super) fn routes(r: OpenApiRouter<App>) -> OpenApiRouter<App> {
    r.routes(routes!(decide))
}
