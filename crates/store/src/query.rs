//! Listing and searching: accounts with filters, sorting and keyset pagination; audit
//! events by time, account, provider, event and outcome; retention.

use crate::StoreError;
use crate::audit::AuditEvent;
use crate::sql::{Arg, Cell, Db};
use base64::Engine as _;
use ssogate_core::domain::UserId;
use ssogate_core::domain::{UserSource, UserStatus};

/// How to order accounts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UserSort {
    #[default]
    Username,
    Created,
    LastLogin,
}

/// Which accounts to list. Empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// Case-insensitive substring of username, display name or email.
    pub search: Option<String>,
    pub source: Option<UserSource>,
    pub status: Option<UserStatus>,
    pub admin: Option<bool>,
    /// Has an identity at this provider.
    pub provider: Option<String>,
    pub permission: Option<String>,
    pub library: Option<String>,
    pub group: Option<String>,
    pub sort: UserSort,
    pub descending: bool,
    /// At most this many (1–500).
    pub limit: i64,
    /// From [`UserPage::next`].
    pub after: Option<String>,
}

/// An account in a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    pub id: UserId,
    pub username: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub status: UserStatus,
    pub source: UserSource,
    pub is_admin: bool,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
}

/// One page, and the cursor of the next if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPage {
    pub users: Vec<UserSummary>,
    pub next: Option<String>,
    /// How many accounts match the filters, over all pages.
    pub total: i64,
}

/// A cursor that does not come from this listing.
fn bad_cursor() -> StoreError {
    StoreError::InvalidInput(
        "the page cursor is not one this listing gave out; start from the first page".into(),
    )
}

fn encode_cursor(key: &Cell, id: i64) -> String {
    let key = match key {
        Cell::Int(i) => format!("i{i}"),
        Cell::Text(t) => format!("t{t}"),
        Cell::Bool(b) => format!("i{}", i64::from(*b)),
        Cell::Null => "i0".into(),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{id}:{key}"))
}

fn decode_cursor(c: &str) -> Result<(i64, Cell), StoreError> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .map_err(|_| bad_cursor())?;
    let raw = String::from_utf8(raw).map_err(|_| bad_cursor())?;
    let (id, key) = raw.split_once(':').ok_or_else(bad_cursor)?;
    let id = id.parse().map_err(|_| bad_cursor())?;
    let key = match key.split_at_checked(1) {
        Some(("i", n)) => Cell::Int(n.parse().map_err(|_| bad_cursor())?),
        Some(("t", t)) => Cell::Text(t.to_owned()),
        _ => return Err(bad_cursor()),
    };
    Ok((id, key))
}

/// The placeholder of the argument pushed last.
fn ph(args: &[Arg<'_>]) -> String {
    format!("${}", args.len())
}

/// Lists accounts.
pub(crate) fn list_users(db: &mut dyn Db, f: &UserFilter) -> Result<UserPage, StoreError> {
    let key = match f.sort {
        UserSort::Username => "lower(u.username)",
        UserSort::Created => "u.created_at",
        UserSort::LastLogin => "COALESCE(u.last_login_at, 0)",
    };
    let limit = f.limit.clamp(1, 500);
    let mut args: Vec<Arg<'_>> = Vec::new();
    let mut wh: Vec<String> = Vec::new();
    let pattern = f.search.as_ref().map(|s| {
        format!(
            "%{}%",
            s.to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        )
    });
    if let Some(p) = &pattern {
        args.push(Arg::Text(Some(p)));
        let n = ph(&args);
        wh.push(format!(
            "(lower(u.username) LIKE {n} ESCAPE '\\' OR lower(COALESCE(u.display_name, '')) LIKE {n} ESCAPE '\\' OR lower(COALESCE(u.email, '')) LIKE {n} ESCAPE '\\')"
        ));
    }
    let source = f.source.map(|s| s.as_str());
    if let Some(s) = source {
        args.push(Arg::Text(Some(s)));
        wh.push(format!("u.source = {}", ph(&args)));
    }
    let status = f.status.map(|s| s.as_str());
    if let Some(s) = status {
        args.push(Arg::Text(Some(s)));
        wh.push(format!("u.status = {}", ph(&args)));
    }
    if let Some(a) = f.admin {
        args.push(Arg::Bool(a));
        wh.push(format!("u.is_admin = {}", ph(&args)));
    }
    for (value, sql) in [
        (
            &f.provider,
            "EXISTS (SELECT 1 FROM identities i WHERE i.user_id = u.id AND i.provider = $)",
        ),
        (
            &f.permission,
            "EXISTS (SELECT 1 FROM user_permissions p WHERE p.user_id = u.id AND p.permission = $)",
        ),
        (
            &f.library,
            "EXISTS (SELECT 1 FROM user_libraries l WHERE l.user_id = u.id AND l.library = $)",
        ),
        (
            &f.group,
            "EXISTS (SELECT 1 FROM user_groups ug JOIN groups g ON g.id = ug.group_id WHERE ug.user_id = u.id AND lower(g.name) = lower($))",
        ),
    ] {
        if let Some(v) = value {
            args.push(Arg::Text(Some(v)));
            wh.push(sql.replace('$', &ph(&args)));
        }
    }
    // Counted before the cursor narrows the set: the total of every page.
    let total = db
        .query_int(
            &format!(
                "SELECT count(*) FROM users u {}",
                if wh.is_empty() {
                    String::new()
                } else {
                    format!("WHERE {}", wh.join(" AND "))
                }
            ),
            &args,
        )?
        .unwrap_or(0);
    let cursor = f.after.as_deref().map(decode_cursor).transpose()?;
    let cursor_text;
    if let Some((id, k)) = &cursor {
        match k {
            Cell::Int(i) => args.push(Arg::Int(*i)),
            Cell::Text(t) => {
                cursor_text = t.clone();
                args.push(Arg::Text(Some(&cursor_text)));
            }
            _ => return Err(bad_cursor()),
        }
        let kn = ph(&args);
        args.push(Arg::Int(*id));
        let idn = ph(&args);
        let op = if f.descending { "<" } else { ">" };
        wh.push(format!("({key}, u.id) {op} ({kn}, {idn})"));
    }
    args.push(Arg::Int(limit + 1));
    let limit_n = ph(&args);
    let dir = if f.descending { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT u.id, u.username, u.email, u.display_name, u.status, u.source, u.is_admin, u.created_at, u.last_login_at, {key}
         FROM users u {} ORDER BY {key} {dir}, u.id {dir} LIMIT {limit_n}",
        if wh.is_empty() { String::new() } else { format!("WHERE {}", wh.join(" AND ")) }
    );
    let rows = db.query(&sql, &args)?;
    let mut users = Vec::new();
    let mut next = None;
    for (i, r) in rows.iter().enumerate() {
        if i64::try_from(i).unwrap_or(i64::MAX) == limit {
            if let Some(last) = users.last().map(|u: &UserSummary| u.id) {
                let prev = rows.get(i - 1).ok_or_else(bad_cursor)?;
                next = Some(encode_cursor(prev.get(9)?, last.0));
            }
            break;
        }
        let status = r.get(4)?.text()?;
        let source = r.get(5)?.text()?;
        users.push(UserSummary {
            id: r.get(0)?.user_id()?,
            username: r.get(1)?.text()?,
            email: r.get(2)?.opt_text()?,
            display_name: r.get(3)?.opt_text()?,
            status: UserStatus::parse(&status)
                .ok_or_else(|| StoreError::Corrupt(format!("status {status:?}")))?,
            source: UserSource::parse(&source)
                .ok_or_else(|| StoreError::Corrupt(format!("source {source:?}")))?,
            is_admin: r.get(6)?.bool()?,
            created_at: r.get(7)?.int()?,
            last_login_at: match r.get(8)? {
                Cell::Null => None,
                c => Some(c.int()?),
            },
        });
    }
    Ok(UserPage { users, next, total })
}

/// Which audit events to read. Empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Unix seconds, inclusive.
    pub from: Option<i64>,
    /// Unix seconds, exclusive.
    pub to: Option<i64>,
    pub user_id: Option<UserId>,
    pub provider: Option<String>,
    pub event: Option<String>,
    pub outcome: Option<String>,
    /// Only events older than this id (for paging backwards in time).
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// Audit events, newest first, with their ids.
pub(crate) fn query_audit(
    db: &mut dyn Db,
    f: &AuditFilter,
) -> Result<Vec<(i64, AuditEvent)>, StoreError> {
    let mut args: Vec<Arg<'_>> = Vec::new();
    let mut wh = Vec::new();
    for (value, col, op) in [
        (f.from, "at", ">="),
        (f.to, "at", "<"),
        (f.user_id.map(|u| u.0), "user_id", "="),
        (f.before_id, "id", "<"),
    ] {
        if let Some(v) = value {
            args.push(Arg::Int(v));
            wh.push(format!("{col} {op} ${}", args.len()));
        }
    }
    for (value, col) in [
        (&f.provider, "provider"),
        (&f.event, "event"),
        (&f.outcome, "outcome"),
    ] {
        if let Some(v) = value {
            args.push(Arg::Text(Some(v)));
            wh.push(format!("{col} = ${}", args.len()));
        }
    }
    args.push(Arg::Int(f.limit.clamp(1, 10_000)));
    let sql = format!(
        "SELECT id, {} FROM audit_events {} ORDER BY id DESC LIMIT ${}",
        crate::audit::EVENT_COLUMNS,
        if wh.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", wh.join(" AND "))
        },
        args.len()
    );
    db.query(&sql, &args)?
        .iter()
        .map(|r| Ok((r.get(0)?.int()?, crate::audit::read_event(r, 1)?)))
        .collect()
}

/// Deletes audit events older than `before` (Unix seconds); how many.
pub(crate) fn purge_audit(db: &mut dyn Db, before: i64) -> Result<u64, StoreError> {
    db.exec(
        "DELETE FROM audit_events WHERE at < $1",
        &[Arg::Int(before)],
    )
}

/// What the console's dashboard shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// (source, status, accounts).
    pub accounts: Vec<(String, String, i64)>,
    /// (day as unix seconds at 00:00 UTC, accounts provisioned, failed or refused sign-ins).
    pub days: Vec<(i64, i64, i64)>,
    /// Per provider since then: (provider, sign-ins, accounts provisioned, refused).
    pub providers: Vec<(String, i64, i64, i64)>,
    /// The latest refused or failed sign-ins: (event id, at, provider, reason, subject).
    pub refusals: Vec<(i64, i64, String, String, String)>,
    /// (day, sign-ins that day): accounts signed in, first sign-ins included.
    pub sign_ins: Vec<(i64, i64)>,
    /// Refused or failed sign-ins since then by reason, most first.
    pub reasons: Vec<(String, i64)>,
}

pub(crate) fn stats(db: &mut dyn Db, since: i64) -> Result<Stats, StoreError> {
    let accounts = db
        .query(
            "SELECT source, status, COUNT(*) FROM users GROUP BY source, status ORDER BY source, status",
            &[],
        )?
        .iter()
        .map(|r| Ok((r.get(0)?.text()?, r.get(1)?.text()?, r.get(2)?.int()?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let days = db
        .query(
            "SELECT (at / 86400) * 86400 AS day,
                    SUM(CASE WHEN event = 'user.provisioned' THEN 1 ELSE 0 END),
                    SUM(CASE WHEN event IN ('login.failed', 'login.rejected') THEN 1 ELSE 0 END)
             FROM audit_events WHERE at >= $1
             GROUP BY day ORDER BY day",
            &[since.into()],
        )?
        .iter()
        .map(|r| Ok((r.get(0)?.int()?, r.get(1)?.int()?, r.get(2)?.int()?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let providers = db
        .query(
            "SELECT provider,
                    SUM(CASE WHEN event IN ('login', 'identity.linked', 'user.provisioned') THEN 1 ELSE 0 END),
                    SUM(CASE WHEN event = 'user.provisioned' THEN 1 ELSE 0 END),
                    SUM(CASE WHEN event IN ('login.failed', 'login.rejected') THEN 1 ELSE 0 END)
             FROM audit_events WHERE at >= $1 AND provider IS NOT NULL
               AND event IN ('login', 'identity.linked', 'user.provisioned', 'login.failed', 'login.rejected')
             GROUP BY provider ORDER BY provider",
            &[since.into()],
        )?
        .iter()
        .map(|r| {
            Ok((
                r.get(0)?.text()?,
                r.get(1)?.int()?,
                r.get(2)?.int()?,
                r.get(3)?.int()?,
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let refusals = db
        .query(
            "SELECT id, at, coalesce(provider, ''), coalesce(reason, ''), coalesce(subject, '')
             FROM audit_events WHERE event IN ('login.failed', 'login.rejected')
             ORDER BY id DESC LIMIT 10",
            &[],
        )?
        .iter()
        .map(|r| {
            Ok((
                r.get(0)?.int()?,
                r.get(1)?.int()?,
                r.get(2)?.text()?,
                r.get(3)?.text()?,
                r.get(4)?.text()?,
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let sign_ins = db
        .query(
            "SELECT (at / 86400) * 86400 AS day, COUNT(*) FROM audit_events
             WHERE at >= $1 AND event IN ('login', 'identity.linked', 'user.provisioned')
             GROUP BY day ORDER BY day",
            &[since.into()],
        )?
        .iter()
        .map(|r| Ok((r.get(0)?.int()?, r.get(1)?.int()?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let reasons = db
        .query(
            "SELECT coalesce(reason, 'unknown') AS why, COUNT(*) AS n FROM audit_events
             WHERE at >= $1 AND event IN ('login.failed', 'login.rejected')
             GROUP BY why ORDER BY n DESC, why",
            &[since.into()],
        )?
        .iter()
        .map(|r| Ok((r.get(0)?.text()?, r.get(1)?.int()?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Stats {
        accounts,
        days,
        providers,
        refusals,
        sign_ins,
        reasons,
    })
}
