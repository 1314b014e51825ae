//! The audit log: filters, pages, and the CSV export.

use super::run;
use super::users::options;
use crate::extract::{AdminSession, Req};
use crate::pages;
use crate::respond::{OrPage, PageResult};
use crate::state::App;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ssogate_admin::AdminError;
use ssogate_store::query::AuditFilter;
use std::collections::HashMap;

/// One event as the page shows it.
struct AuditRow {
    id: i64,
    at: String,
    /// Who acted (an administrator, an API key, the CLI), when someone did.
    actor: String,
    event: String,
    outcome: String,
    reason: String,
    provider: String,
    subject: String,
    user: String,
    address: String,
    user_agent: String,
}

#[derive(Template)]
#[template(path = "console_audit.html")]
struct AuditPage<'a> {
    t: &'a crate::i18n::Texts,
    event: String,
    user: String,
    provider: String,
    from: String,
    to: String,
    outcomes: Vec<(&'static str, bool)>,
    csv: String,
    error: Option<String>,
    events: Vec<AuditRow>,
    /// The next page (older events), when this one is full.
    older: Option<String>,
}

#[derive(Template)]
#[template(path = "console_audit_event.html")]
struct EventPage<'a> {
    t: &'a crate::i18n::Texts,
    row: AuditRow,
    /// The detail as stored, pretty-printed, and the decision trace when there is one.
    detail: String,
    trace: Vec<String>,
}

/// Usernames for the accounts events name (`#id (deleted)` for one that is gone).
async fn usernames(
    app: &App,
    actor: String,
    ids: Vec<ssogate_core::domain::UserId>,
) -> HashMap<i64, String> {
    let mut ids: Vec<i64> = ids.into_iter().map(|u| u.0).collect();
    ids.sort_unstable();
    ids.dedup();
    run(app, actor, move |a| {
        Ok(ids
            .into_iter()
            .map(|id| {
                let name = a
                    .user(&id.to_string())
                    .map(|u| u.user.username)
                    .unwrap_or_else(|_| format!("#{id} (deleted)"));
                (id, name)
            })
            .collect())
    })
    .await
    .unwrap_or_default()
}

fn row(id: i64, e: ssogate_store::AuditEvent, names: &HashMap<i64, String>) -> AuditRow {
    let actor = e
        .detail
        .as_deref()
        .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .and_then(|d| d.get("actor").and_then(|a| a.as_str()).map(str::to_owned))
        .unwrap_or_default();
    AuditRow {
        id,
        at: pages::utc_seconds(e.at),
        actor,
        event: e.event,
        outcome: e.outcome,
        reason: e.reason.unwrap_or_default(),
        provider: e.provider.unwrap_or_default(),
        subject: e.subject.unwrap_or_default(),
        user: e
            .user_id
            .map(|u| {
                names
                    .get(&u.0)
                    .cloned()
                    .unwrap_or_else(|| format!("#{}", u.0))
            })
            .unwrap_or_default(),
        address: e.address.unwrap_or_default(),
        user_agent: e.user_agent.unwrap_or_default(),
    }
}

async fn audit_events(
    app: &App,
    actor: String,
    q: &HashMap<String, String>,
    limit: i64,
) -> Result<Vec<(i64, ssogate_store::AuditEvent)>, AdminError> {
    let get = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let date = |field: &'static str| -> Result<Option<i64>, AdminError> {
        get(field)
            .map(|v| {
                ssogate_admin::dates::parse_day(v).ok_or_else(|| AdminError::Invalid {
                    field,
                    message: format!("\"{v}\" is not a date like 2026-11-23"),
                })
            })
            .transpose()
    };
    let mut filter = AuditFilter {
        from: date("from")?,
        to: date("to")?,
        user_id: None,
        provider: get("provider").map(str::to_owned),
        event: get("event").map(str::to_owned),
        outcome: get("outcome").map(str::to_owned),
        before_id: get("before").and_then(|b| b.parse().ok()),
        limit,
    };
    let user = get("user").map(str::to_owned);
    run(app, actor, move |a| {
        filter.user_id = user.as_deref().map(|u| a.user_id(u)).transpose()?;
        a.audit_events(&filter)
    })
    .await
}

pub(crate) async fn audit(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let actor = admin.actor;
    let (events, error) = match audit_events(&app, actor.clone(), &q, PAGE).await {
        Ok(e) => (e, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let csv = format!(
        "/admin/audit.csv?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(q.iter())
            .finish()
    );
    let older = (events.len() as i64 == PAGE)
        .then(|| events.last().map(|(id, _)| *id))
        .flatten()
        .map(|id| {
            let mut pairs: Vec<(String, String)> = q
                .iter()
                .filter(|(k, _)| *k != "before")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            pairs.push(("before".into(), id.to_string()));
            format!(
                "/admin/audit?{}",
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish()
            )
        });
    let names = usernames(
        &app,
        actor,
        events.iter().filter_map(|(_, e)| e.user_id).collect(),
    )
    .await;
    pages::render(
        StatusCode::OK,
        &AuditPage {
            t: req.t,
            event: get("event"),
            user: get("user"),
            provider: get("provider"),
            from: get("from"),
            to: get("to"),
            outcomes: options(&["", "success", "failure"], &get("outcome")),
            csv,
            error,
            events: events
                .into_iter()
                .map(|(id, e)| row(id, e, &names))
                .collect(),
            older,
        },
    )
}

const PAGE: i64 = 100;

/// One event, whole: every field, the detail, the decision trace.
pub(crate) async fn audit_event(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> Response {
    let filter = AuditFilter {
        from: None,
        to: None,
        user_id: None,
        provider: None,
        event: None,
        outcome: None,
        before_id: Some(id.saturating_add(1)),
        limit: 1,
    };
    let found = match run(&app, admin.actor.clone(), move |a| a.audit_events(&filter)).await {
        Ok(list) => list.into_iter().find(|(i, _)| *i == id),
        Err(e) => return super::admin_failure(&req, &e),
    };
    let Some((id, e)) = found else {
        return pages::message(
            req.t,
            StatusCode::NOT_FOUND,
            "No such event",
            "There is no audit event with this number; it may have been purged (retention_days).",
            Some(crate::pages::Link {
                href: "/admin/audit".into(),
                label: "Audit log".into(),
            }),
            None,
        );
    };
    let value = e
        .detail
        .as_deref()
        .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok());
    let trace = value
        .as_ref()
        .and_then(|v| v.get("trace"))
        .and_then(|t| t.as_array())
        .map(|t| {
            t.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let detail = match &value {
        Some(v) => serde_json::to_string_pretty(v).unwrap_or_default(),
        None => e.detail.clone().unwrap_or_default(),
    };
    let names = usernames(&app, admin.actor, e.user_id.into_iter().collect()).await;
    pages::render(
        StatusCode::OK,
        &EventPage {
            t: req.t,
            row: row(id, e, &names),
            detail,
            trace,
        },
    )
}

/// One CSV field, quoted when it must be (RFC 4180). A value a spreadsheet would run as
/// a formula (`=`, `+`, `-`, `@`, tab, CR first — subjects and usernames come from
/// providers) gets a leading `'`, as OWASP advises for exports opened by people.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

pub(crate) async fn audit_csv(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let actor = admin.actor;
    let events = audit_events(&app, actor, &q, 10_000).await.or_page(&req)?;
    let mut out = ssogate_store::AuditEvent::CSV_COLUMNS.join(",");
    out.push_str("\r\n");
    for (id, e) in events {
        let row = e.csv_fields(id);
        out.push_str(
            &row.iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"ssogate-audit.csv\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        out,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("@sum"), "'@sum");
        assert_eq!(csv_field("-1"), "'-1");
    }
}
