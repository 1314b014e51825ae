//! The directory on SQLite: one file, WAL, one writer thread.
//!
//! Why one writer: SQLite has one write lock, and several connections contending for it
//! gave 80–230 ms p99 here; a dedicated thread owning the only writing connection
//! queues logins instead, and runs each login's lookups, decision and writes inside one
//! `BEGIN IMMEDIATE` transaction — so two concurrent first logins of one subject (or two
//! subjects wanting one username) are decided one after the other, never both against
//! the same stale view. Reads for other purposes use a separate connection (WAL lets
//! them run beside the writer).

use crate::audit::redact;
use crate::{LoginResult, RequestContext, StoreError};
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};
use ssogate_core::claims::ClaimSources;
use ssogate_core::decision::{Attribute, Decision, IdentityChange};
use ssogate_core::directory::{DirectoryView, ExistingUser};
use ssogate_core::domain::{
    Catalogue, ExternalIdentity, Grant, GrantKind, GrantSource, Group, Library, UserSource,
    UserStatus,
};
use ssogate_core::{Engine, Outcome};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use typed_arena::Arena;

/// Migrations, in order; `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[&str] = &[include_str!("../migrations/sqlite/0001_directory.sql")];

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The SQLite directory. Cheap to share behind an `Arc`; dropping it stops the writer.
pub struct SqliteStore {
    path: PathBuf,
    jobs: Option<mpsc::Sender<Job>>,
    writer: Option<JoinHandle<()>>,
    reader: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    // NORMAL is durable across application crashes in WAL mode; a power loss may lose
    // the last transactions but never corrupts the file.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;",
    )
}

/// Runs the migrations this binary has and the database lacks.
pub fn migrate(conn: &mut Connection) -> Result<i64, StoreError> {
    let supported = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > supported {
        return Err(StoreError::NewerSchema { found, supported });
    }
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(found).unwrap_or(0))
    {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(i + 1).unwrap_or(i64::MAX),
        )?;
        tx.commit()?;
    }
    Ok(supported)
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.display().to_string(),
            source,
        };
        let mut writer = Connection::open(path).map_err(open_err)?;
        configure(&writer).map_err(open_err)?;
        migrate(&mut writer)?;
        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_err)?;
        reader
            .execute_batch("PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;")
            .map_err(open_err)?;

        let (tx, rx) = mpsc::channel::<Job>();
        let handle = std::thread::Builder::new()
            .name("ssogate-sqlite-writer".into())
            .spawn(move || {
                let mut conn = writer;
                while let Ok(job) = rx.recv() {
                    job(&mut conn);
                }
            })
            .map_err(|e| StoreError::Corrupt(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            jobs: Some(tx),
            writer: Some(handle),
            reader: Mutex::new(reader),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the writer thread and waits for its answer.
    pub fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |conn| {
            let _ = reply.send(f(conn));
        });
        self.jobs
            .as_ref()
            .ok_or(StoreError::WriterGone)?
            .send(job)
            .map_err(|_| StoreError::WriterGone)?;
        answer.recv().map_err(|_| StoreError::WriterGone)?
    }

    /// Runs `f` on the read connection.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.reader.lock().map_err(|_| StoreError::WriterGone)?;
        f(&conn)
    }

    /// Makes the configured catalogue exist: permissions, libraries and groups (with
    /// their external ids) are inserted or updated; nothing is deleted.
    pub fn sync_catalogue(&self, catalogue: &Catalogue) -> Result<(), StoreError> {
        let catalogue = catalogue.clone();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for p in &catalogue.permissions {
                tx.execute(
                    "INSERT INTO permissions (name, label, required) VALUES (?1, ?2, ?3)
                     ON CONFLICT (name) DO UPDATE SET label = excluded.label, required = excluded.required",
                    params![p.name, p.label, p.required],
                )?;
            }
            for l in &catalogue.libraries {
                tx.execute(
                    "INSERT INTO libraries (name, label) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET label = excluded.label",
                    params![l.name, l.label],
                )?;
            }
            for g in &catalogue.groups {
                let id = ensure_group(&tx, &g.name)?;
                tx.execute("DELETE FROM group_external_ids WHERE group_id = ?1", [id])?;
                for e in &g.external_ids {
                    tx.execute(
                        "INSERT OR IGNORE INTO group_external_ids (group_id, external_id) VALUES (?1, ?2)",
                        params![id, e],
                    )?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Decides a login with `engine` against the directory and writes the outcome — the
    /// account, its identity, its grants and an audit event — in one transaction.
    pub fn login(
        &self,
        engine: Arc<Engine>,
        sources: ClaimSources,
        ctx: RequestContext,
    ) -> Result<LoginResult, StoreError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let outcome = {
                let view = SqliteView::load(&tx)?;
                let outcome = engine.decide(&sources, &view);
                if let Some(e) = view.error.into_inner() {
                    return Err(e);
                }
                outcome
            };
            let user_id = apply(
                &tx,
                engine.provider().slug.as_str(),
                &outcome,
                &sources,
                &ctx,
            )?;
            tx.commit()?;
            Ok(LoginResult { outcome, user_id })
        })
    }

    /// The account with this username (case-insensitive), as the engine sees it.
    pub fn user_by_username(&self, username: &str) -> Result<Option<ExistingUser>, StoreError> {
        self.read(|conn| {
            let id: Option<i64> = conn
                .query_row(
                    "SELECT id FROM users WHERE username = ?1",
                    [username],
                    |r| r.get(0),
                )
                .optional()?;
            id.map(|id| load_user(conn, id)).transpose()
        })
    }

    /// The account signed in by (provider, subject), with its grants: one indexed lookup
    /// plus the account's rows.
    pub fn user_by_identity(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<ExistingUser>, StoreError> {
        self.read(|conn| {
            let id: Option<i64> = conn
                .prepare_cached(
                    "SELECT user_id FROM identities WHERE provider = ?1 AND subject = ?2",
                )?
                .query_row(params![provider, subject], |r| r.get(0))
                .optional()?;
            id.map(|id| load_user(conn, id)).transpose()
        })
    }

    /// How many rows a table has (for checks and tests).
    pub fn count(&self, table: Table) -> Result<i64, StoreError> {
        self.read(|conn| {
            Ok(
                conn.query_row(&format!("SELECT count(*) FROM {}", table.name()), [], |r| {
                    r.get(0)
                })?,
            )
        })
    }
}

/// Tables [`SqliteStore::count`] can count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Users,
    Identities,
    AuditEvents,
    UserGroups,
    UserPermissions,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Users => "users",
            Table::Identities => "identities",
            Table::AuditEvents => "audit_events",
            Table::UserGroups => "user_groups",
            Table::UserPermissions => "user_permissions",
        }
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(h) = self.writer.take() {
            let _ = h.join();
        }
    }
}

fn ensure_group(tx: &Transaction<'_>, name: &str) -> Result<i64, StoreError> {
    tx.execute("INSERT OR IGNORE INTO groups (name) VALUES (?1)", [name])?;
    Ok(
        tx.query_row("SELECT id FROM groups WHERE name = ?1", [name], |r| {
            r.get(0)
        })?,
    )
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} {value:?}"))
}

/// Loads one account with its identities, external ids and grants.
fn load_user(conn: &Connection, id: i64) -> Result<ExistingUser, StoreError> {
    type Row = (
        String,
        Option<String>,
        bool,
        Option<String>,
        Option<String>,
        Option<String>,
        String,
        String,
        bool,
        bool,
        Option<String>,
    );
    let row: Row = conn.query_row(
        "SELECT username, email, email_verified, display_name, avatar, quota, status, source,
                password_hash IS NOT NULL, is_admin, admin_source
         FROM users WHERE id = ?1",
        [id],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
            ))
        },
    )?;
    let (
        username,
        email,
        email_verified,
        display_name,
        avatar,
        quota,
        status,
        source,
        has_password,
        is_admin,
        admin_source,
    ) = row;
    let mut stmt = conn.prepare_cached(
        "SELECT provider, issuer, subject FROM identities WHERE user_id = ?1 ORDER BY id",
    )?;
    let identities = stmt
        .query_map([id], |r| {
            Ok(ExternalIdentity {
                provider: r.get(0)?,
                issuer: r.get(1)?,
                subject: r.get(2)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut stmt =
        conn.prepare_cached("SELECT provider, external_id FROM external_ids WHERE user_id = ?1")?;
    let external_ids = stmt
        .query_map([id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut grants = Vec::new();
    for (kind, sql) in [
        (
            GrantKind::Permission,
            "SELECT permission, source FROM user_permissions WHERE user_id = ?1",
        ),
        (
            GrantKind::Library,
            "SELECT library, source FROM user_libraries WHERE user_id = ?1",
        ),
        (
            GrantKind::Group,
            "SELECT g.name, ug.source FROM user_groups ug JOIN groups g ON g.id = ug.group_id WHERE ug.user_id = ?1",
        ),
    ] {
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map([id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (name, source) = row?;
            let source =
                GrantSource::parse(&source).ok_or_else(|| corrupt("grant source", &source))?;
            grants.push(Grant::new(kind, name, source));
        }
    }
    if is_admin {
        let source = match admin_source.as_deref() {
            Some(s) => GrantSource::parse(s).ok_or_else(|| corrupt("admin source", s))?,
            None => GrantSource::Admin,
        };
        grants.push(Grant::new(GrantKind::Admin, "admin", source));
    }
    Ok(ExistingUser {
        id: id.to_string(),
        username,
        email,
        email_verified,
        display_name,
        avatar,
        quota,
        status: UserStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        source: UserSource::parse(&source).ok_or_else(|| corrupt("source", &source))?,
        has_password,
        identities,
        external_ids,
        grants,
    })
}

/// The engine's view of the directory inside a login's transaction: lookups run as the
/// engine asks for them, and the accounts they return live in an arena for the
/// transaction's length. A failed query is kept and fails the login (never a silent
/// "no such account").
struct SqliteView<'c> {
    conn: &'c Connection,
    arena: Arena<ExistingUser>,
    groups: Vec<Group>,
    libraries: Vec<Library>,
    error: RefCell<Option<StoreError>>,
}

impl<'c> SqliteView<'c> {
    fn load(conn: &'c Connection) -> Result<Self, StoreError> {
        let mut stmt = conn.prepare_cached(
            "SELECT g.name, e.external_id FROM groups g LEFT JOIN group_external_ids e ON e.group_id = g.id ORDER BY g.id, e.external_id",
        )?;
        let mut groups: Vec<Group> = Vec::new();
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
        })?;
        for row in rows {
            let (name, external) = row?;
            match groups.last_mut() {
                Some(g) if g.name == name => g.external_ids.extend(external),
                _ => groups.push(Group {
                    name,
                    external_ids: external.into_iter().collect(),
                }),
            }
        }
        let mut stmt = conn.prepare_cached("SELECT name, label FROM libraries ORDER BY name")?;
        let libraries = stmt
            .query_map([], |r| {
                Ok(Library {
                    name: r.get(0)?,
                    label: r.get(1)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SqliteView {
            conn,
            arena: Arena::new(),
            groups,
            libraries,
            error: RefCell::new(None),
        })
    }

    fn keep<T>(&self, r: Result<T, StoreError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.error.borrow_mut().get_or_insert(e);
                None
            }
        }
    }

    fn ids(&self, sql: &str, params: impl rusqlite::Params) -> Vec<i64> {
        let r = (|| -> Result<Vec<i64>, StoreError> {
            let mut stmt = self.conn.prepare_cached(sql)?;
            let ids = stmt
                .query_map(params, |r| r.get(0))?
                .collect::<Result<Vec<i64>, _>>()?;
            Ok(ids)
        })();
        self.keep(r).unwrap_or_default()
    }

    fn user(&self, id: i64) -> Option<&ExistingUser> {
        let user = self.keep(load_user(self.conn, id))?;
        Some(self.arena.alloc(user))
    }

    fn first(&self, sql: &str, params: impl rusqlite::Params) -> Option<&ExistingUser> {
        self.ids(sql, params).first().and_then(|&id| self.user(id))
    }
}

impl DirectoryView for SqliteView<'_> {
    fn find_by_identity(&self, provider: &str, subject: &str) -> Option<&ExistingUser> {
        self.first(
            "SELECT user_id FROM identities WHERE provider = ?1 AND subject = ?2",
            params![provider, subject],
        )
    }

    fn find_by_issuer_subject(&self, issuer: &str, subject: &str) -> Option<&ExistingUser> {
        self.first(
            "SELECT user_id FROM identities WHERE issuer = ?1 AND subject = ?2 ORDER BY id LIMIT 1",
            params![issuer, subject],
        )
    }

    fn find_by_external_id(&self, provider: &str, external_id: &str) -> Option<&ExistingUser> {
        self.first(
            "SELECT user_id FROM external_ids WHERE provider = ?1 AND external_id = ?2",
            params![provider, external_id],
        )
    }

    fn find_by_email(&self, email: &str) -> Vec<&ExistingUser> {
        self.ids(
            "SELECT id FROM users WHERE lower(email) = lower(?1) ORDER BY id",
            [email],
        )
        .into_iter()
        .filter_map(|id| self.user(id))
        .collect()
    }

    fn find_by_username(&self, username: &str) -> Option<&ExistingUser> {
        self.first("SELECT id FROM users WHERE username = ?1", [username])
    }

    fn username_taken(&self, username: &str) -> bool {
        !self
            .ids("SELECT id FROM users WHERE username = ?1", [username])
            .is_empty()
    }

    fn groups(&self) -> &[Group] {
        &self.groups
    }

    fn libraries(&self) -> &[Library] {
        &self.libraries
    }

    fn active_admin_count(&self) -> usize {
        let r = self
            .conn
            .query_row(
                "SELECT count(*) FROM users WHERE is_admin = 1 AND status = 'active'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(StoreError::from);
        self.keep(r)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0)
    }
}

fn parse_id(id: &str) -> Result<i64, StoreError> {
    id.parse().map_err(|_| corrupt("user id", id))
}

/// Writes an outcome; returns the account's id.
fn apply(
    tx: &Transaction<'_>,
    provider: &str,
    outcome: &Outcome,
    sources: &ClaimSources,
    ctx: &RequestContext,
) -> Result<Option<i64>, StoreError> {
    let now = ctx.now;
    let user_id = match &outcome.decision {
        Decision::Reject(_) => outcome.user.id.as_deref().map(parse_id).transpose()?,
        Decision::SignIn { user_id } | Decision::Link { user_id, .. } => Some(parse_id(user_id)?),
        Decision::Provision { account } => {
            tx.execute(
                "INSERT INTO users (username, email, email_verified, display_name, avatar, quota, status, source, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
                params![
                    account.username,
                    account.email,
                    account.email_verified,
                    account.display_name,
                    account.avatar,
                    account.quota,
                    account.status.as_str(),
                    account.source.as_str(),
                    now
                ],
            )?;
            Some(tx.last_insert_rowid())
        }
    };

    if let (Some(id), false) = (user_id, matches!(outcome.decision, Decision::Reject(_))) {
        write_changes(tx, id, provider, outcome, sources, now)?;
    }
    audit_login(tx, provider, sources, outcome, user_id, ctx)?;
    Ok(user_id)
}

fn write_changes(
    tx: &Transaction<'_>,
    id: i64,
    provider: &str,
    outcome: &Outcome,
    sources: &ClaimSources,
    now: i64,
) -> Result<(), StoreError> {
    let c = &outcome.changes;
    for a in &c.attributes {
        let column = match a.field {
            Attribute::Email => "email",
            Attribute::EmailVerified => "email_verified",
            Attribute::DisplayName => "display_name",
            Attribute::Avatar => "avatar",
            Attribute::Quota => "quota",
        };
        let sql = format!("UPDATE users SET {column} = ?1, updated_at = ?2 WHERE id = ?3");
        if a.field == Attribute::EmailVerified {
            tx.execute(&sql, params![a.to.as_deref() == Some("true"), now, id])?;
        } else {
            tx.execute(&sql, params![a.to, now, id])?;
        }
    }

    let claims = serde_json::to_string(&redact(&sources.merged())).unwrap_or_default();
    let email = outcome.user.email.as_deref();
    match &c.identity {
        Some(IdentityChange::Create(i)) => {
            tx.execute(
                "INSERT INTO identities (user_id, provider, issuer, subject, email, raw_claims, first_login_at, last_login_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                params![id, i.provider, i.issuer, i.subject, email, claims, now],
            )?;
        }
        Some(IdentityChange::Rebind { previous, current }) => {
            tx.execute(
                "UPDATE identities SET provider = ?1, issuer = ?2, subject = ?3, email = ?4, raw_claims = ?5, last_login_at = ?6
                 WHERE user_id = ?7 AND provider = ?8 AND subject = ?9",
                params![current.provider, current.issuer, current.subject, email, claims, now, id, previous.provider, previous.subject],
            )?;
        }
        None => {
            tx.execute(
                "UPDATE identities SET email = ?1, raw_claims = ?2, last_login_at = ?3
                 WHERE user_id = ?4 AND provider = ?5 AND subject = ?6",
                params![email, claims, now, id, provider, claim_subject(sources)],
            )?;
        }
    }

    for name in &c.create_groups {
        ensure_group(tx, name)?;
    }
    for g in &c.grants.removed {
        match g.kind {
            GrantKind::Permission => tx.execute("DELETE FROM user_permissions WHERE user_id = ?1 AND permission = ?2", params![id, g.name])?,
            GrantKind::Library => tx.execute("DELETE FROM user_libraries WHERE user_id = ?1 AND library = ?2", params![id, g.name])?,
            GrantKind::Group => tx.execute(
                "DELETE FROM user_groups WHERE user_id = ?1 AND group_id = (SELECT id FROM groups WHERE name = ?2)",
                params![id, g.name],
            )?,
            GrantKind::Admin => tx.execute("UPDATE users SET is_admin = 0, admin_source = NULL, admin_granted_at = NULL WHERE id = ?1", [id])?,
        };
    }
    for g in &c.grants.added {
        let source = g.source.as_str();
        match g.kind {
            GrantKind::Permission => tx.execute(
                "INSERT INTO user_permissions (user_id, permission, source, granted_at) VALUES (?1, ?2, ?3, ?4)",
                params![id, g.name, source, now],
            )?,
            GrantKind::Library => tx.execute(
                "INSERT INTO user_libraries (user_id, library, source, granted_at) VALUES (?1, ?2, ?3, ?4)",
                params![id, g.name, source, now],
            )?,
            GrantKind::Group => tx.execute(
                "INSERT INTO user_groups (user_id, group_id, source, granted_at)
                 VALUES (?1, (SELECT id FROM groups WHERE name = ?2), ?3, ?4)",
                params![id, g.name, source, now],
            )?,
            GrantKind::Admin => tx.execute(
                "UPDATE users SET is_admin = 1, admin_source = ?1, admin_granted_at = ?2 WHERE id = ?3",
                params![source, now, id],
            )?,
        };
    }
    tx.execute(
        "UPDATE users SET last_login_at = ?1 WHERE id = ?2",
        params![now, id],
    )?;
    Ok(())
}

fn claim_subject(sources: &ClaimSources) -> String {
    sources
        .id_token
        .get("sub")
        .and_then(|s| s.as_str())
        .unwrap_or_default()
        .to_owned()
}

fn audit_login(
    tx: &Transaction<'_>,
    provider: &str,
    sources: &ClaimSources,
    outcome: &Outcome,
    user_id: Option<i64>,
    ctx: &RequestContext,
) -> Result<(), StoreError> {
    let event = match &outcome.decision {
        Decision::Provision { .. } => "user.provisioned",
        Decision::Link { .. } => "identity.linked",
        Decision::SignIn { .. } => "login",
        Decision::Reject(_) => "login.rejected",
    };
    let detail = serde_json::json!({
        "decision": outcome.decision.code(),
        "changes": &outcome.changes,
        "trace": outcome.trace.to_strings(),
    });
    tx.execute(
        "INSERT INTO audit_events (at, event, outcome, reason, provider, subject, user_id, address, user_agent, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            ctx.now,
            event,
            if matches!(outcome.decision, Decision::Reject(_)) { "failure" } else { "success" },
            outcome.reason().map(|r| r.code()),
            provider,
            claim_subject(sources),
            user_id,
            ctx.address,
            ctx.user_agent,
            detail.to_string()
        ],
    )?;
    Ok(())
}
