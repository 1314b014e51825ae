//! Audit events: what is recorded (one event per decision, change or refusal), how it
//! is read back, and the redaction of the claims it keeps.

use crate::sql::{Arg, Db, args};
use crate::{RequestContext, StoreError};
use serde_json::Value;
use ssogate_core::Outcome;
use ssogate_core::claims::ClaimSources;
use ssogate_core::decision::{Changes, Decision};
use ssogate_core::domain::UserId;
use ssogate_core::trace::TraceLine;

/// Claims and members whose values must never be stored: proofs and credentials.
/// Matched by exact name (case-insensitively), so `postal_code`, `considered` or
/// `session_expiry` stay readable.
const SECRET_KEYS: [&str; 21] = [
    "nonce",
    "at_hash",
    "c_hash",
    "s_hash",
    "sid",
    "session_state",
    "code",
    "code_verifier",
    "state",
    "password",
    "passwd",
    "secret",
    "client_secret",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "logout_token",
    "assertion",
    "client_assertion",
    "private_key",
];

/// A copy of the claims with secret values replaced by `"[redacted]"`, at any depth.
pub fn redact(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    if SECRET_KEYS.iter().any(|s| s.eq_ignore_ascii_case(k)) {
                        (k.clone(), Value::String("[redacted]".into()))
                    } else {
                        (k.clone(), redact(v))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

/// An audit event that is not a login decision (rejections before the engine ran,
/// logouts, links, unlinks, local logins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewEvent {
    pub at: i64,
    pub event: String,
    /// `success` or `failure`.
    pub outcome: String,
    pub reason: Option<String>,
    pub provider: Option<String>,
    pub subject: Option<String>,
    pub user_id: Option<UserId>,
    pub address: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Option<String>,
}

pub(crate) fn record_event(db: &mut dyn Db, e: &NewEvent) -> Result<(), StoreError> {
    let user = Arg::from(e.user_id);
    db.exec(
        "INSERT INTO audit_events (at, event, outcome, reason, provider, subject, user_id, address, user_agent, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            e.at.into(),
            e.event.as_str().into(),
            e.outcome.as_str().into(),
            (&e.reason).into(),
            (&e.provider).into(),
            (&e.subject).into(),
            user,
            (&e.address).into(),
            (&e.user_agent).into(),
            (&e.detail).into(),
        ],
    )?;
    Ok(())
}

/// The audit event of a sign-in decision, in its transaction.
pub(crate) fn audit_login(
    db: &mut dyn Db,
    provider: &str,
    sources: &ClaimSources,
    outcome: &Outcome,
    user_id: Option<UserId>,
    ctx: &RequestContext,
) -> Result<(), StoreError> {
    let event = match &outcome.decision {
        Decision::Provision { .. } => "user.provisioned",
        Decision::Link { .. } => "identity.linked",
        Decision::SignIn { .. } => "login",
        Decision::Reject(_) => "login.rejected",
    };
    // Serializing cannot fail (string keys, no maps of other keys): an empty detail
    // would be the answer if it ever did, never a lost login.
    let detail = serde_json::to_string(&LoginDetail {
        changes: &outcome.changes,
        decision: outcome.decision.code(),
        trace: outcome.trace.lines(),
    })
    .unwrap_or_default();
    let failed = matches!(outcome.decision, Decision::Reject(_));
    record_event(
        db,
        &NewEvent {
            at: ctx.now,
            event: event.to_owned(),
            outcome: (if failed { "failure" } else { "success" }).to_owned(),
            reason: outcome.reason().map(|r| r.code().to_owned()),
            provider: Some(provider.to_owned()),
            subject: Some(claim_subject(sources).to_owned()),
            user_id,
            address: ctx.address.clone(),
            user_agent: ctx.user_agent.clone(),
            detail: Some(detail),
        },
    )?;
    Ok(())
}

/// What a login's event keeps, written straight to text: a `json!` tree built first
/// (and the trace's lines formatted into strings for it) was a tenth of a first
/// login's time. Fields in the order that tree wrote them.
#[derive(serde::Serialize)]
struct LoginDetail<'a> {
    changes: &'a Changes,
    decision: &'a str,
    #[serde(serialize_with = "trace_text")]
    trace: &'a [TraceLine],
}

/// A trace as its lines' text (as `Trace::to_strings` gives them).
fn trace_text<S: serde::Serializer>(lines: &&[TraceLine], s: S) -> Result<S::Ok, S::Error> {
    struct Line<'a>(&'a TraceLine);
    impl serde::Serialize for Line<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_str(self.0)
        }
    }
    s.collect_seq(lines.iter().map(Line))
}

/// An audit event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub at: i64,
    pub event: String,
    pub outcome: String,
    pub reason: Option<String>,
    pub provider: Option<String>,
    pub subject: Option<String>,
    pub user_id: Option<UserId>,
    pub detail: Option<String>,
    /// The client's address, as the request came (after trusted proxies).
    pub address: Option<String>,
    pub user_agent: Option<String>,
}

impl AuditEvent {
    /// The columns of an export, in order (CLI and console write the same file).
    pub const CSV_COLUMNS: [&'static str; 11] = [
        "id",
        "at",
        "event",
        "outcome",
        "reason",
        "provider",
        "subject",
        "user_id",
        "address",
        "user_agent",
        "detail",
    ];

    /// One export row, in [`AuditEvent::CSV_COLUMNS`] order.
    pub fn csv_fields(&self, id: i64) -> [String; 11] {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        [
            id.to_string(),
            self.at.to_string(),
            self.event.clone(),
            self.outcome.clone(),
            text(&self.reason),
            text(&self.provider),
            text(&self.subject),
            self.user_id.map(|u| u.to_string()).unwrap_or_default(),
            text(&self.address),
            text(&self.user_agent),
            text(&self.detail),
        ]
    }
}

/// The columns [`read_event`] reads, in its order.
pub(crate) const EVENT_COLUMNS: &str =
    "at, event, outcome, reason, provider, subject, user_id, detail, address, user_agent";

/// An event from a row whose columns from `first` on are [`EVENT_COLUMNS`].
pub(crate) fn read_event(r: &crate::sql::Row, first: usize) -> Result<AuditEvent, StoreError> {
    let col = |i: usize| r.get(first + i);
    Ok(AuditEvent {
        at: col(0)?.int()?,
        event: col(1)?.text()?,
        outcome: col(2)?.text()?,
        reason: col(3)?.opt_text()?,
        provider: col(4)?.opt_text()?,
        subject: col(5)?.opt_text()?,
        user_id: match col(6)? {
            crate::sql::Cell::Null => None,
            c => Some(c.user_id()?),
        },
        detail: col(7)?.opt_text()?,
        address: col(8)?.opt_text()?,
        user_agent: col(9)?.opt_text()?,
    })
}

/// The newest audit events first.
pub(crate) fn audit_events(db: &mut dyn Db, limit: i64) -> Result<Vec<AuditEvent>, StoreError> {
    db.query(
        &format!("SELECT {EVENT_COLUMNS} FROM audit_events ORDER BY id DESC LIMIT $1"),
        args![limit],
    )?
    .iter()
    .map(|r| read_event(r, 0))
    .collect()
}

/// The `sub` the ID token claims (recorded with a sign-in's event, also when refused).
pub(crate) fn claim_subject(sources: &ClaimSources) -> &str {
    sources
        .id_token
        .get("sub")
        .and_then(|s| s.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let v = redact(&json!({"sub": "s", "nonce": "n", "at_hash": "h",
            "nested": {"refresh_token": "r", "ok": 1}, "list": [{"client_secret": "x"}]}));
        assert_eq!(
            v,
            json!({"sub": "s", "nonce": "[redacted]", "at_hash": "[redacted]",
            "nested": {"refresh_token": "[redacted]", "ok": 1}, "list": [{"client_secret": "[redacted]"}]})
        );
    }

    /// Regression: keys were matched by substring, hiding `postal_code` and anything
    /// containing `sid` or `code`.
    #[test]
    fn names_are_matched_exactly() {
        let kept = json!({"postal_code": "1000", "considered": true, "country_code": "BE",
            "sidebar": "left", "address": {"postal_code": "1000"}});
        assert_eq!(redact(&kept), kept);
        assert_eq!(
            redact(&json!({"SID": "x", "Nonce": "n"})),
            json!({"SID": "[redacted]", "Nonce": "[redacted]"})
        );
    }
}
