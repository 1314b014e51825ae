//! The directory on SQLite: one file, WAL, one writer thread.
//!
//! Why one writer: SQLite has one write lock, and several connections contending for it
//! gave 80–230 ms p99 here; a dedicated thread owning the only writing connection
//! queues logins instead, and runs each login's lookups, decision and writes inside one
//! `BEGIN IMMEDIATE` transaction — so two concurrent first logins of one subject (or two
//! subjects wanting one username) are decided one after the other, never both against
//! the same stale view. Reads for other purposes use a separate connection (WAL lets
//! them run beside the writer).

use crate::accounts::{
    self, Change, ExternalIdOutcome, IdentityInfo, LinkOutcome, NewIdentity, UnlinkOutcome,
};
use crate::audit::{self, AuditEvent, NewEvent};
use crate::catalogue;
use crate::credentials::{self, ApiKeyInfo, ApiScope, PasswordCheck};
use crate::directory;
use crate::import::{self, ImportOutcome, ImportRow};
use crate::invalidate::{Invalidation, Sink, Sinks};
use crate::query::{self, AuditFilter, UserFilter, UserPage};
use crate::sessions::{self, LoginState, Session, SessionLifetimes, SessionOrigin};
use crate::settings;
use crate::sql::Db;
use crate::{LoginResult, RequestContext, StoreError, Table};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use ssogate_core::claims::ClaimSources;
use ssogate_core::directory::ExistingUser;
use ssogate_core::domain::{Catalogue, GrantKind, UserStatus};
use ssogate_core::{Engine, Outcome};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Migrations, in order; `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite/0001_directory.sql"),
    include_str!("../migrations/sqlite/0002_sessions.sql"),
    include_str!("../migrations/sqlite/0003_api_keys.sql"),
    include_str!("../migrations/sqlite/0004_settings.sql"),
    include_str!("../migrations/sqlite/0005_notifications.sql"),
    include_str!("../migrations/sqlite/0006_session_id_token.sql"),
];

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The SQLite directory. Cheap to share behind an `Arc`; dropping it stops the writer.
pub struct SqliteStore {
    path: PathBuf,
    jobs: Option<mpsc::Sender<Job>>,
    writer: Option<JoinHandle<()>>,
    reader: Mutex<Connection>,
    sinks: Sinks,
    /// Also write invalidations to the file for other processes (the CLI does).
    broadcast: std::sync::atomic::AtomicBool,
    /// Stops the thread that reads other processes' invalidations.
    stop: Arc<std::sync::atomic::AtomicBool>,
    polling: std::sync::Once,
}

/// How often a watching process looks for other processes' invalidations.
const POLL: std::time::Duration = std::time::Duration::from_millis(500);

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
            sinks: Sinks::default(),
            broadcast: std::sync::atomic::AtomicBool::new(false),
            stop: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            polling: std::sync::Once::new(),
        })
    }

    /// Makes this store's changes heard by other processes watching the same file (a
    /// running server hears a CLI's change within a second). For short-lived processes:
    /// it costs one insert per change.
    pub fn broadcast_to_other_processes(&self) {
        self.broadcast
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Tells this process's watchers, and other processes' when broadcasting.
    fn emit(&self, what: &[Invalidation]) {
        self.sinks.emit(what);
        if what.is_empty() || !self.broadcast.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let payloads: Vec<String> = what.iter().map(Invalidation::payload).collect();
        let stored = self.write(move |c| {
            let now = crate::RequestContext::now().now;
            let tx = c.transaction()?;
            tx.execute("DELETE FROM notifications WHERE at < ?1", [now - 3600])?;
            for p in &payloads {
                tx.execute(
                    "INSERT INTO notifications (payload, at) VALUES (?1, ?2)",
                    rusqlite::params![p, now],
                )?;
            }
            tx.commit()?;
            Ok(())
        });
        if let Err(e) = stored {
            tracing::warn!(error = %e, "could not record a change for other processes");
        }
    }

    /// Starts (once) the thread that hands other processes' invalidations to the sinks.
    fn poll_other_processes(&self) -> Result<(), StoreError> {
        let mut result = Ok(());
        self.polling.call_once(|| {
            let conn = match Connection::open_with_flags(
                &self.path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            ) {
                Ok(c) => c,
                Err(e) => {
                    result = Err(StoreError::from(e));
                    return;
                }
            };
            let last = conn
                .query_row("SELECT coalesce(max(id), 0) FROM notifications", [], |r| {
                    r.get::<_, i64>(0)
                })
                .unwrap_or(0);
            let (sinks, stop) = (self.sinks.clone(), self.stop.clone());
            let spawned = std::thread::Builder::new()
                .name("ssogate-sqlite-notifications".into())
                .spawn(move || poll(&conn, last, &sinks, &stop));
            if let Err(e) = spawned {
                result = Err(StoreError::Corrupt(format!(
                    "cannot start the notification thread: {e}"
                )));
            }
        });
        result
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
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.reader.lock().map_err(|_| StoreError::WriterGone)?;
        f(&mut conn)
    }
}

impl crate::Directory for SqliteStore {
    /// Makes the configured catalogue exist: permissions, libraries and groups (with
    /// their external ids) are inserted or updated; nothing is deleted.
    fn sync_catalogue(&self, catalogue: &Catalogue) -> Result<(), StoreError> {
        let catalogue = catalogue.clone();
        self.write(move |conn| {
            let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            directory::sync_catalogue(&mut tx, &catalogue)?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Decides a login with `engine` against the directory and writes the outcome — the
    /// account, its identity, its grants and an audit event — in one transaction.
    fn login(
        &self,
        engine: Arc<Engine>,
        sources: ClaimSources,
        ctx: RequestContext,
    ) -> Result<LoginResult, StoreError> {
        let result = self.write(move |conn| {
            let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let result = directory::login(&mut tx, &engine, &sources, &ctx)?;
            tx.commit()?;
            Ok(result)
        })?;
        if let Some(id) = result.user_id {
            self.emit(&[Invalidation::User(id)]);
        }
        Ok(result)
    }

    /// Grants something to an account as an administrator.
    fn grant_by_admin(
        &self,
        user_id: i64,
        kind: GrantKind,
        name: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.write(move |conn| directory::grant_by_admin(conn, user_id, kind, &name, now))?;
        self.emit(&[Invalidation::User(user_id)]);
        Ok(())
    }

    /// The newest audit events first.
    fn audit_events(&self, limit: i64) -> Result<Vec<AuditEvent>, StoreError> {
        self.read(|conn| audit::audit_events(conn, limit))
    }

    /// The redacted claims of the last login through (provider, subject).
    fn last_claims(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        self.read(|conn| directory::last_claims(conn, provider, subject))
    }

    /// The account with this username (case-insensitive), as the engine sees it.
    fn user_by_username(&self, username: &str) -> Result<Option<ExistingUser>, StoreError> {
        self.read(|conn| {
            let id = conn.query_int(
                "SELECT id FROM users WHERE lower(username) = lower($1)",
                &[username.into()],
            )?;
            id.map(|id| crate::users::load_user(conn, id)).transpose()
        })
    }

    /// The account signed in by (provider, subject), with its grants: one indexed lookup
    /// plus the account's rows.
    fn user_by_identity(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<ExistingUser>, StoreError> {
        self.read(|conn| {
            let id = conn.query_int(
                "SELECT user_id FROM identities WHERE provider = $1 AND subject = $2",
                &[provider.into(), subject.into()],
            )?;
            id.map(|id| crate::users::load_user(conn, id)).transpose()
        })
    }

    /// How many rows a table has (for checks and tests).
    fn count(&self, table: Table) -> Result<i64, StoreError> {
        self.read(|conn| {
            Ok(
                conn.query_row(&format!("SELECT count(*) FROM {}", table.name()), [], |r| {
                    r.get(0)
                })?,
            )
        })
    }

    fn create_session(
        &self,
        user_id: i64,
        origin: &SessionOrigin<'_>,
        now: i64,
        life: SessionLifetimes,
    ) -> Result<sessions::Secret, StoreError> {
        let (p, sid, sub, id_token) = (
            origin.provider.map(String::from),
            origin.sid.map(String::from),
            origin.subject.map(String::from),
            origin.id_token.map(String::from),
        );
        self.write(move |c| {
            let origin = SessionOrigin {
                provider: p.as_deref(),
                sid: sid.as_deref(),
                subject: sub.as_deref(),
                id_token: id_token.as_deref(),
            };
            sessions::create(c, user_id, &origin, now, life)
        })
    }
    fn touch_session(
        &self,
        secret: &str,
        now: i64,
        life: SessionLifetimes,
    ) -> Result<Option<Session>, StoreError> {
        let secret = secret.to_owned();
        self.write(move |c| sessions::touch(c, &secret, now, life))
    }
    fn end_session(&self, secret: &str) -> Result<Option<sessions::EndedSession>, StoreError> {
        let hash = sessions::digest(secret);
        let secret = secret.to_owned();
        let ended = self.write(move |c| sessions::end(c, &secret))?;
        self.emit(&[Invalidation::Session(hash)]);
        Ok(ended)
    }
    fn end_sessions_by_provider(
        &self,
        provider: &str,
        sid: Option<&str>,
        subject: Option<&str>,
    ) -> Result<u64, StoreError> {
        let (p, sid, sub) = (
            provider.to_owned(),
            sid.map(String::from),
            subject.map(String::from),
        );
        let hashes =
            self.write(move |c| sessions::end_by_provider(c, &p, sid.as_deref(), sub.as_deref()))?;
        let what: Vec<Invalidation> = hashes.into_iter().map(Invalidation::Session).collect();
        self.emit(&what);
        Ok(what.len() as u64)
    }
    fn end_sessions_for_user(&self, user_id: i64) -> Result<u64, StoreError> {
        let n = self.write(move |c| sessions::end_for_user(c, user_id))?;
        self.emit(&[Invalidation::User(user_id)]);
        Ok(n)
    }
    fn put_login_state(
        &self,
        provider: &str,
        state: &str,
        payload: &str,
        now: i64,
        ttl: i64,
    ) -> Result<String, StoreError> {
        let (p, st, payload) = (provider.to_owned(), state.to_owned(), payload.to_owned());
        self.write(move |c| sessions::put_state(c, &p, &st, &payload, now, ttl))
    }
    fn take_login_state(
        &self,
        state: &str,
        binding: Option<&str>,
        provider: &str,
        now: i64,
    ) -> Result<LoginState, sessions::TakeStateError> {
        let (state, binding, p) = (
            state.to_owned(),
            binding.map(String::from),
            provider.to_owned(),
        );
        sessions::taken(
            self.write(move |c| sessions::take_state(c, &state, binding.as_deref(), &p, now)),
        )
    }
    fn sweep(&self, now: i64) -> Result<(u64, u64), StoreError> {
        self.write(move |c| sessions::sweep(c, now))
    }
    fn record_logout_jti(
        &self,
        provider: &str,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (p, j) = (provider.to_owned(), jti.to_owned());
        self.write(move |c| settings::record_logout_jti(c, &p, &j, expires_at, now))
    }
    fn all_settings(&self) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        self.read(|c| settings::all_settings(c))
    }
    fn get_settings(&self, scope: &str) -> Result<Option<serde_json::Value>, StoreError> {
        self.read(|c| settings::get_settings(c, scope))
    }
    fn put_settings(
        &self,
        scope: &str,
        document: &serde_json::Value,
        by: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        let changed = Invalidation::Settings(scope.to_owned());
        let (scope, document, by) = (scope.to_owned(), document.clone(), by.map(String::from));
        self.write(move |c| settings::put_settings(c, &scope, &document, by.as_deref(), now))?;
        self.emit(&[changed]);
        Ok(())
    }
    fn list_providers(&self) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        self.read(|c| settings::list_providers(c))
    }
    fn put_provider(
        &self,
        slug: &str,
        document: &serde_json::Value,
        now: i64,
    ) -> Result<(), StoreError> {
        let (slug, document) = (slug.to_owned(), document.clone());
        self.write(move |c| settings::put_provider(c, &slug, &document, now))?;
        self.emit(&[Invalidation::Settings(settings::PROVIDERS_SCOPE.into())]);
        Ok(())
    }
    fn delete_provider(&self, slug: &str) -> Result<Option<i64>, StoreError> {
        let slug = slug.to_owned();
        let out = self.write(move |c| settings::delete_provider(c, &slug))?;
        if out.is_some() {
            self.emit(&[Invalidation::All]);
        }
        Ok(out)
    }
    fn accounts_linked_to(&self, slug: &str) -> Result<i64, StoreError> {
        self.read(|c| settings::accounts_linked_to(c, slug))
    }
    fn set_password(
        &self,
        user_id: i64,
        password: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        // Hashed before the writer is asked, so no one waits behind Argon2.
        let hash = password.map(credentials::hash_password).transpose()?;
        self.write(move |c| credentials::set_password_hash(c, user_id, hash.as_deref(), now))
    }
    fn check_password(&self, username: &str, password: &str) -> Result<PasswordCheck, StoreError> {
        let record = self.read(|c| credentials::password_record(c, username))?;
        Ok(credentials::judge_password(record, password))
    }
    fn create_api_key(
        &self,
        name: &str,
        scope: ApiScope,
        now: i64,
    ) -> Result<sessions::Secret, StoreError> {
        let name = name.to_owned();
        self.write(move |c| credentials::create_api_key(c, &name, scope, now))
    }
    fn check_api_key(&self, key: &str, now: i64) -> Result<Option<ApiScope>, StoreError> {
        let key = key.to_owned();
        self.write(move |c| credentials::check_api_key(c, &key, now))
    }
    fn list_api_keys(&self) -> Result<Vec<ApiKeyInfo>, StoreError> {
        self.read(|c| credentials::list_api_keys(c))
    }
    fn revoke_api_key(&self, id: i64, now: i64) -> Result<bool, StoreError> {
        self.write(move |c| credentials::revoke_api_key(c, id, now))
    }
    fn import_users(
        &self,
        rows: Vec<ImportRow>,
        now: i64,
        dry_run: bool,
        audit: Option<import::ImportAudit>,
        progress: Box<dyn Fn(u64) + Send + Sync>,
    ) -> Result<Vec<ImportOutcome>, StoreError> {
        let out = self.write(move |c| {
            import::import_rows(c, &rows, now, dry_run, audit.as_ref(), &*progress)
        })?;
        if !dry_run {
            self.emit(&[Invalidation::All]);
        }
        Ok(out)
    }
    fn list_users(&self, filter: &UserFilter) -> Result<UserPage, StoreError> {
        self.read(|c| query::list_users(c, filter))
    }
    fn query_audit(&self, filter: &AuditFilter) -> Result<Vec<(i64, AuditEvent)>, StoreError> {
        self.read(|c| query::query_audit(c, filter))
    }
    fn purge_audit(&self, before: i64) -> Result<u64, StoreError> {
        self.write(move |c| query::purge_audit(c, before))
    }
    fn set_user_status(
        &self,
        user_id: i64,
        status: UserStatus,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.write(move |c| {
            let mut tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let changed = sessions::set_status(&mut tx, user_id, status, now)?;
            tx.commit()?;
            Ok(changed)
        })
        .inspect(|_| self.emit(&[Invalidation::User(user_id)]))
    }
    fn user(&self, id: i64) -> Result<Option<ExistingUser>, StoreError> {
        self.read(|c| accounts::user_by_id(c, id))
    }
    fn identities(&self, user_id: i64) -> Result<Vec<IdentityInfo>, StoreError> {
        self.read(|c| accounts::identities(c, user_id))
    }
    fn link_identity(
        &self,
        user_id: i64,
        identity: NewIdentity,
        now: i64,
    ) -> Result<LinkOutcome, StoreError> {
        self.write(move |c| {
            let mut tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = accounts::link_identity(&mut tx, user_id, &identity, now)?;
            tx.commit()?;
            Ok(out)
        })
        .inspect(|_| self.emit(&[Invalidation::User(user_id)]))
    }
    fn unlink_identity(&self, user_id: i64, provider: &str) -> Result<UnlinkOutcome, StoreError> {
        let provider = provider.to_owned();
        self.write(move |c| {
            let mut tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = accounts::unlink_identity(&mut tx, user_id, &provider)?;
            tx.commit()?;
            Ok(out)
        })
        .inspect(|_| self.emit(&[Invalidation::User(user_id)]))
    }
    fn record_event(&self, event: NewEvent) -> Result<(), StoreError> {
        self.write(move |c| audit::record_event(c, &event))
    }
    fn set_external_id(
        &self,
        user_id: i64,
        provider: &str,
        external_id: Option<&str>,
    ) -> Result<ExternalIdOutcome, StoreError> {
        let (p, e) = (provider.to_owned(), external_id.map(str::to_owned));
        self.write(move |c| {
            let mut tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = accounts::set_external_id(&mut tx, user_id, &p, e.as_deref())?;
            tx.commit()?;
            Ok(out)
        })
    }
    fn stats(&self, since: i64) -> Result<query::Stats, StoreError> {
        self.read(|c| query::stats(c, since))
    }
    fn decide(&self, engine: Arc<Engine>, sources: ClaimSources) -> Result<Outcome, StoreError> {
        self.read(|c| directory::decide(c, &engine, &sources))
    }
    fn revoke_by_admin(
        &self,
        user_id: i64,
        kind: GrantKind,
        name: &str,
    ) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.write(move |c| directory::revoke_by_admin(c, user_id, kind, &name))
            .inspect(|_| self.emit(&[Invalidation::User(user_id)]))
    }
    fn update_profile(
        &self,
        user_id: i64,
        display_name: Change<String>,
        email: Change<String>,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.write(move |c| {
            let mut tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = accounts::update_profile(&mut tx, user_id, &display_name, &email, now)?;
            tx.commit()?;
            Ok(out)
        })
        .inspect(|_| self.emit(&[Invalidation::User(user_id)]))
    }
    fn recent_identities(&self, limit: i64) -> Result<Vec<(String, String, String)>, StoreError> {
        self.read(|c| accounts::recent_identities(c, limit))
    }
    fn delete_user(&self, user_id: i64) -> Result<bool, StoreError> {
        self.write(move |c| {
            let mut tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = accounts::delete_user(&mut tx, user_id)?;
            tx.commit()?;
            Ok(out)
        })
        .inspect(|_| self.emit(&[Invalidation::User(user_id)]))
    }
    /// One process owns a SQLite file, so its own writes are all there is to hear.
    fn watch(&self, sink: Sink) -> Result<(), StoreError> {
        self.sinks.add(sink);
        self.poll_other_processes()
    }
    fn catalogue_entries(&self) -> Result<Vec<catalogue::Entry>, StoreError> {
        self.read(|c| catalogue::entries(c))
    }
    fn catalogue(&self) -> Result<Catalogue, StoreError> {
        self.read(|c| catalogue::load(c))
    }
    fn edit_catalogue(&self, edit: catalogue::Edit) -> Result<catalogue::Edited, StoreError> {
        let out = self.write(move |c| catalogue::edit(c, &edit))?;
        if matches!(out, catalogue::Edited::Done { .. }) {
            self.emit(&[Invalidation::All]);
        }
        Ok(out)
    }
    fn announce(&self, what: Invalidation) -> Result<(), StoreError> {
        self.emit(&[what]);
        Ok(())
    }
}

/// Reads the invalidations other processes wrote since `last`, every [`POLL`].
fn poll(conn: &Connection, mut last: i64, sinks: &Sinks, stop: &std::sync::atomic::AtomicBool) {
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        std::thread::sleep(POLL);
        let rows: rusqlite::Result<Vec<(i64, String)>> = conn
            .prepare_cached("SELECT id, payload FROM notifications WHERE id > ?1 ORDER BY id")
            .and_then(|mut st| {
                st.query_map([last], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect()
            });
        match rows {
            Ok(rows) => {
                for (id, payload) in rows {
                    last = id;
                    sinks.emit(&[Invalidation::parse(&payload)]);
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not read other processes' changes"),
        }
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.jobs.take();
        if let Some(h) = self.writer.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Directory;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Regression: Argon2 ran while the reader connection was held, so every password
    /// attempt stalled forward-auth cache misses and console reads behind it. While
    /// checks run now, the reader is free nearly all the time (it was busy nearly all
    /// the time before: the two differ by two orders of magnitude, not a little).
    #[test]
    fn password_checks_leave_the_reader_free() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store =
            Arc::new(SqliteStore::open(&dir.path().join("t.db")).unwrap_or_else(|e| panic!("{e}")));
        store
            .write(|c| {
                c.execute_batch("INSERT INTO users (id, username, source, status, created_at, updated_at) VALUES (1, 'pw', 'local', 'active', 0, 0)")
                    .map_err(StoreError::from)
            })
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .set_password(1, Some("correct horse battery"), 1)
            .unwrap_or_else(|e| panic!("{e}"));
        let (started, done) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let checker = {
            let (store, started, done) = (store.clone(), started.clone(), done.clone());
            std::thread::spawn(move || {
                started.store(true, Ordering::SeqCst);
                for _ in 0..3 {
                    let r = store.check_password("pw", "correct horse battery");
                    assert!(matches!(r, Ok(crate::credentials::PasswordCheck::Ok(1))));
                }
                done.store(true, Ordering::SeqCst);
            })
        };
        while !started.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
        let (mut free, mut busy) = (0u64, 0u64);
        while !done.load(Ordering::SeqCst) {
            match store.reader.try_lock() {
                Ok(_) => free += 1,
                Err(_) => busy += 1,
            }
        }
        checker
            .join()
            .unwrap_or_else(|_| panic!("the checker failed"));
        assert!(
            free > busy * 3,
            "the reader was busy {busy} times and free {free} times during password checks"
        );
    }
}
