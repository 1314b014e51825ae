//! The audit log, newest first, filtered.

use super::{ApiResult, Caller, Problem, admin, parse_limit};
use crate::state::App;
use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use ssogate_core::domain::UserId;
use ssogate_store::query::AuditFilter;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
    #[schema(value_type = Option<i64>)]
    pub user_id: Option<UserId>,
    /// The event's details (decision trace, actor, …).
    pub detail: Option<serde_json::Value>,
    /// The client's address (after trusted proxies).
    pub address: Option<String>,
    pub user_agent: Option<String>,
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
                address: e.address,
                user_agent: e.user_agent,
            })
            .collect(),
    ))
}

pub(super) fn routes(r: OpenApiRouter<App>) -> OpenApiRouter<App> {
    r.routes(routes!(audit))
}
