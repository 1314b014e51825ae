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
    at: String,
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
        before_id: None,
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
    let (events, error) = match audit_events(&app, actor, &q, 200).await {
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
                .map(|(_, e)| AuditRow {
                    at: pages::utc(e.at),
                    event: e.event,
                    outcome: e.outcome,
                    reason: e.reason.unwrap_or_default(),
                    provider: e.provider.unwrap_or_default(),
                    subject: e.subject.unwrap_or_default(),
                    user: e.user_id.map(|u| u.to_string()).unwrap_or_default(),
                    address: e.address.unwrap_or_default(),
                    user_agent: e.user_agent.unwrap_or_default(),
                })
                .collect(),
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
