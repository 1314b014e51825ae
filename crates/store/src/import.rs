//! Bulk pre-provisioning (Nextcloud's pre-provisioning API, in bulk): each row creates or
//! updates one account in its own transaction, so a failing row leaves nothing behind
//! and does not stop the others.

use crate::StoreError;
use crate::audit::{NewEvent, record_event};
use crate::directory::webhooks::enqueue;
use crate::sql::{Db, args};
use serde::Deserialize;
use ssogate_core::domain::UserId;
use ssogate_core::domain::{GrantKind, UserStatus};
use ssogate_core::events::EventType;
use ssogate_core::policy::UsernamePolicy;

/// One account to pre-provision. In CSV, list fields are `;`-separated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRow {
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    /// Whether the address is known to be the person's (it lets `verified_email` link).
    #[serde(default)]
    pub email_verified: Option<bool>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub status: Option<UserStatus>,
    /// With `subject`: the identity this account signs in with (bound on first login).
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    /// With `provider`: BookStack's External Authentication ID.
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub permissions: Vec<String>,
    #[serde(default)]
    pub libraries: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub admin: Option<bool>,
    /// A storage quota as the application reads it (Nextcloud's `quota`, e.g. `5 GB`).
    #[serde(default)]
    pub quota: Option<String>,
    /// A password hash from the system being left (Argon2 PHC or bcrypt `$2b$…`), so
    /// people keep their passwords; replaced by Argon2id at their first sign-in.
    #[serde(default)]
    pub password_hash: Option<String>,
}

/// Who imports, and from where: every account created or changed is an audit event
/// written with it (in the row's own savepoint), and the run ends with one summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportAudit {
    /// `cli:USER`, `apikey:PREFIX`, `user:NAME`.
    pub actor: String,
    /// The file (or `api`) the rows came from.
    pub source: String,
    /// Rows of the file refused before they reached the directory (unreadable), so the
    /// summary counts the whole file.
    pub unreadable: usize,
}

/// What happened to a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    Created(UserId),
    Updated(UserId),
    /// The account already holds everything the row says.
    Skipped(UserId),
    Failed(String),
    /// Refused because another account already has the email, identity or external
    /// id: nothing wrong with the row itself.
    Conflict(String),
}

fn fail(msg: impl Into<String>) -> Result<ImportOutcome, StoreError> {
    Ok(ImportOutcome::Failed(msg.into()))
}

fn taken(msg: impl Into<String>) -> Result<ImportOutcome, StoreError> {
    Ok(ImportOutcome::Conflict(msg.into()))
}

/// What an administrator may give as a username (import, `user add`, the API): the
/// systems people move from kept usernames with capitals and `@` (Booklore's are often
/// email addresses, Nextcloud's may be too), so those are accepted here even where the
/// policy for new sign-ins keeps them out; ASCII only, no spaces or control characters,
/// and unique regardless of case.
fn administered_usernames() -> UsernamePolicy {
    UsernamePolicy {
        allow_at_sign: true,
        lowercase: false,
        ..UsernamePolicy::default()
    }
}

/// Checks a row without touching the database.
pub fn validate(row: &ImportRow) -> Result<(), String> {
    if !ssogate_core::username::is_valid(&row.username, &administered_usernames()) {
        return Err(format!(
            "username \"{}\" is not valid: 1–64 letters, digits, '@', '.', '_' or '-' (ASCII), not starting or ending with '.', '_' or '-'",
            row.username
        ));
    }
    if let Some(e) = &row.email
        && !e.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty()
                && d.contains('.')
                && !e.contains(|c: char| c.is_whitespace() || c.is_control())
        })
    {
        return Err(format!("email {e:?} is not an address"));
    }
    if let Some(n) = &row.display_name
        && (n.chars().count() > 200 || n.contains(char::is_control))
    {
        return Err(
            "display_name must be at most 200 characters, without control characters".into(),
        );
    }
    for (what, v) in [("subject", &row.subject), ("external_id", &row.external_id)] {
        if let Some(v) = v
            && (v.is_empty() || v.chars().count() > 255 || v.contains(char::is_control))
        {
            return Err(format!(
                "{what} must be 1–255 characters, without control characters"
            ));
        }
    }
    if let Some(q) = &row.quota
        && (q.chars().count() > 64 || q.contains(char::is_control))
    {
        return Err("quota must be at most 64 characters, without control characters".into());
    }
    if let Some(h) = &row.password_hash
        && !crate::credentials::accepted_hash(h)
    {
        return Err(
            "password_hash is not an Argon2 (PHC `$argon2id$…`) or bcrypt (`$2b$…`) hash".into(),
        );
    }
    match (&row.provider, &row.subject, &row.external_id) {
        (None, Some(_), _) => return Err("subject needs provider".into()),
        (None, None, Some(_)) => return Err("external_id needs provider".into()),
        (Some(p), None, None) => {
            return Err(format!("provider \"{p}\" needs subject or external_id"));
        }
        _ => {}
    }
    Ok(())
}

/// Creates or updates one account, with grants of source `import`, in the caller's
/// transaction. With `dry_run` it decides and rolls back (the caller does not commit).
pub(crate) fn import_row(
    db: &mut dyn Db,
    row: &ImportRow,
    now: i64,
) -> Result<ImportOutcome, StoreError> {
    if let Err(e) = validate(row) {
        return fail(e);
    }
    let existing = db.query_int(
        "SELECT id FROM users WHERE lower(username) = lower($1)",
        args![&row.username],
    )?;
    let mut changed = false;
    let id = match existing {
        Some(id) => {
            for (col, value) in [
                ("email", &row.email),
                ("display_name", &row.display_name),
                ("quota", &row.quota),
                ("password_hash", &row.password_hash),
            ] {
                if value.is_some() {
                    let sql = format!(
                        "UPDATE users SET {col} = $1, updated_at = $2 WHERE id = $3 AND {col} IS DISTINCT FROM $1"
                    );
                    changed |= db.exec(&sql, args![value, now, id])? > 0;
                }
            }
            if let Some(v) = row.email_verified {
                changed |= db.exec(
                    "UPDATE users SET email_verified = $1 WHERE id = $2 AND email_verified <> $1",
                    args![v, id],
                )? > 0;
            }
            if let Some(s) = row.status {
                changed |= db.exec(
                    "UPDATE users SET status = $1 WHERE id = $2 AND status <> $1",
                    args![s.as_str(), id],
                )? > 0;
            }
            id
        }
        None => {
            if let Some(e) = &row.email
                && db
                    .query_int(
                        "SELECT id FROM users WHERE lower(email) = lower($1)",
                        args![e],
                    )?
                    .is_some()
            {
                return taken(format!("another account already has the email {e}"));
            }
            changed = true;
            db.query_int(
                "INSERT INTO users (username, email, email_verified, display_name, status, source, created_at, updated_at, quota, password_hash)
                 VALUES ($1, $2, $3, $4, $5, 'api', $6, $6, $7, $8) RETURNING id",
                args![
                    &row.username,
                    &row.email,
                    row.email_verified.unwrap_or(false),
                    &row.display_name,
                    row.status.unwrap_or_default().as_str(),
                    now,
                    &row.quota,
                    &row.password_hash
                ],
            )?
            .ok_or_else(|| StoreError::Corrupt("INSERT … RETURNING returned nothing".into()))?
        }
    };

    if let (Some(provider), Some(subject)) = (&row.provider, &row.subject) {
        match db.query_int(
            "SELECT user_id FROM identities WHERE provider = $1 AND subject = $2",
            args![provider, subject],
        )? {
            Some(owner) if owner != id => {
                return taken(format!(
                    "identity ({provider}, {subject}) already belongs to another account"
                ));
            }
            Some(_) => {}
            None => {
                db.exec(
                    "INSERT INTO identities (user_id, provider, subject, first_login_at, last_login_at) VALUES ($1, $2, $3, $4, $4)",
                    args![id, provider, subject, now],
                )?;
                changed = true;
            }
        }
    }
    if let (Some(provider), Some(ext)) = (&row.provider, &row.external_id) {
        match db.query_int(
            "SELECT user_id FROM external_ids WHERE provider = $1 AND external_id = $2",
            args![provider, ext],
        )? {
            Some(owner) if owner != id => {
                return taken(format!(
                    "external id \"{ext}\" at {provider} already belongs to another account"
                ));
            }
            Some(_) => {}
            None => {
                db.exec(
                    "DELETE FROM external_ids WHERE user_id = $1 AND provider = $2",
                    args![id, provider],
                )?;
                db.exec(
                    "INSERT INTO external_ids (user_id, provider, external_id) VALUES ($1, $2, $3)",
                    args![id, provider, ext],
                )?;
                changed = true;
            }
        }
    }

    for (kind, names, table, exists) in [
        (
            GrantKind::Permission,
            &row.permissions,
            "user_permissions (user_id, permission",
            "SELECT 1 FROM permissions WHERE name = $1",
        ),
        (
            GrantKind::Library,
            &row.libraries,
            "user_libraries (user_id, library",
            "SELECT 1 FROM libraries WHERE name = $1",
        ),
    ] {
        for name in names {
            if db.query_int(exists, args![name])?.is_none() {
                return fail(format!("{kind} \"{name}\" does not exist"));
            }
            let sql = format!(
                "INSERT INTO {table}, source, granted_at) VALUES ($1, $2, 'import', $3) ON CONFLICT DO NOTHING"
            );
            changed |= db.exec(&sql, args![id, name, now])? > 0;
        }
    }
    for name in &row.groups {
        let Some(group) = db.query_int(
            "SELECT id FROM groups WHERE lower(name) = lower($1)",
            args![name],
        )?
        else {
            return fail(format!("group \"{name}\" does not exist"));
        };
        changed |= db.exec(
            "INSERT INTO user_groups (user_id, group_id, source, granted_at) VALUES ($1, $2, 'import', $3) ON CONFLICT DO NOTHING",
            args![id, group, now],
        )? > 0;
    }
    if row.admin == Some(true) {
        changed |= db.exec(
            "UPDATE users SET is_admin = $1, admin_source = 'import', admin_granted_at = $2 WHERE id = $3 AND NOT is_admin",
            args![true, now, id],
        )? > 0;
    }
    Ok(match (existing, changed) {
        (None, _) => ImportOutcome::Created(UserId(id)),
        (Some(_), true) => ImportOutcome::Updated(UserId(id)),
        (Some(_), false) => ImportOutcome::Skipped(UserId(id)),
    })
}

/// Rows per transaction in a real import: a failed row is undone alone (a savepoint),
/// and logins are not held up behind one long transaction.
pub const CHUNK: usize = 500;

/// Imports rows in order on a connection outside any transaction; each row is whole or
/// absent (a savepoint). A dry run runs every row in one transaction rolled back at the
/// end, so rows that conflict with each other are reported as the real run would.
/// `progress` is called after each row.
pub(crate) fn import_rows(
    db: &mut dyn Db,
    rows: &[ImportRow],
    now: i64,
    dry_run: bool,
    audit: Option<&ImportAudit>,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<Vec<ImportOutcome>, StoreError> {
    db.exec("BEGIN", &[])?;
    let result = import_in_transaction(db, rows, now, dry_run, audit, progress);
    let end = if dry_run || result.is_err() {
        "ROLLBACK"
    } else {
        "COMMIT"
    };
    db.exec(end, &[])?;
    result
}

fn event(at: i64, name: &str, user_id: Option<UserId>, detail: serde_json::Value) -> NewEvent {
    NewEvent {
        at,
        event: name.to_owned(),
        outcome: "success".to_owned(),
        user_id,
        detail: Some(detail.to_string()),
        ..NewEvent::default()
    }
}

fn import_in_transaction(
    db: &mut dyn Db,
    rows: &[ImportRow],
    now: i64,
    dry_run: bool,
    audit: Option<&ImportAudit>,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<Vec<ImportOutcome>, StoreError> {
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        if !dry_run && i > 0 && i % CHUNK == 0 {
            db.exec("COMMIT", &[])?;
            db.exec("BEGIN", &[])?;
        }
        db.exec("SAVEPOINT import_row", &[])?;
        let outcome = match import_row(db, row, now) {
            Ok(o) => o,
            Err(e @ (StoreError::WriterGone | StoreError::PostgresConnect(_))) => return Err(e),
            Err(e) => ImportOutcome::Failed(e.to_string()),
        };
        if !dry_run && let ImportOutcome::Created(id) | ImportOutcome::Updated(id) = &outcome {
            let e = if matches!(outcome, ImportOutcome::Created(_)) {
                EventType::UserProvisioned
            } else {
                EventType::UserUpdated
            };
            let source = audit.map(|a| a.source.as_str()).unwrap_or("admin");
            enqueue(
                db,
                *id,
                None,
                &[e],
                serde_json::json!({"source": source}),
                now,
            )?;
        }
        match (&outcome, audit) {
            (ImportOutcome::Failed(_) | ImportOutcome::Conflict(_), _) => {
                db.exec("ROLLBACK TO SAVEPOINT import_row", &[])?;
            }
            (ImportOutcome::Created(id) | ImportOutcome::Updated(id), Some(a)) => {
                let name = if matches!(outcome, ImportOutcome::Created(_)) {
                    "import.user.created"
                } else {
                    "import.user.updated"
                };
                record_event(
                    db,
                    &event(
                        now,
                        name,
                        Some(*id),
                        serde_json::json!({"actor": a.actor, "source": a.source, "username": row.username}),
                    ),
                )?;
            }
            _ => {}
        }
        db.exec("RELEASE SAVEPOINT import_row", &[])?;
        out.push(outcome);
        progress(1);
    }
    if let Some(a) = audit {
        let count = |f: fn(&ImportOutcome) -> bool| out.iter().filter(|o| f(o)).count();
        record_event(
            db,
            &event(
                now,
                "import.completed",
                None,
                serde_json::json!({
                    "actor": a.actor, "source": a.source, "rows": rows.len() + a.unreadable,
                    "created": count(|o| matches!(o, ImportOutcome::Created(_))),
                    "updated": count(|o| matches!(o, ImportOutcome::Updated(_))),
                    "skipped": count(|o| matches!(o, ImportOutcome::Skipped(_))),
                    "failed": count(|o| matches!(o, ImportOutcome::Failed(_) | ImportOutcome::Conflict(_))) + a.unreadable,
                }),
            ),
        )?;
    }
    Ok(out)
}
