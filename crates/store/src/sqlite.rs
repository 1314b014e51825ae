//! The directory on SQLite: one file, WAL, one writing connection.
//!
//! Why one writer: SQLite has one write lock, and several connections contending for it
//! gave 80–230 ms p99 here; the only writing connection, behind a mutex, queues logins
//! instead, and runs each login's lookups, decision and writes inside one
//! `BEGIN IMMEDIATE` transaction — so two concurrent first logins of one subject (or two
//! subjects wanting one username) are decided one after the other, never both against
//! the same stale view. Reads for other purposes use a pool of reader connections (WAL
//! lets them run beside the writer).
//!
//! The writing runs on the caller's thread (a directory thread of the server's bounded
//! pool): a writer thread of its own cost two cross-core wake-ups per write — in a
//! virtual machine, interrupts that exit to the host — which was a fifth of a first
//! login's time.

use crate::StoreError;
use crate::directory::{Backend, Changed};
use crate::invalidate::{Invalidation, Sink, Sinks};
use crate::sql::Db;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
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
    include_str!("../migrations/sqlite/0007_password_resets.sql"),
    include_str!("../migrations/sqlite/0008_session_refresh.sql"),
    include_str!("../migrations/sqlite/0009_op.sql"),
    include_str!("../migrations/sqlite/0010_lifecycle.sql"),
    include_str!("../migrations/sqlite/0011_webhooks.sql"),
    include_str!("../migrations/sqlite/0012_scim.sql"),
    include_str!("../migrations/sqlite/0013_op_secrets.sql"),
    include_str!("../migrations/sqlite/0014_op_clients.sql"),
    include_str!("../migrations/sqlite/0015_session_auth_context.sql"),
];

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The SQLite directory. Cheap to share behind an `Arc`.
pub struct SqliteStore {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    /// Taken on the way to `writer` and let go once it is held: see [`Gate`].
    gate: Gate,
    readers: Readers,
    sinks: Sinks,
    /// Also write invalidations to the file for other processes (the CLI does).
    broadcast: std::sync::atomic::AtomicBool,
    /// Stops the thread that reads other processes' invalidations.
    stop: Arc<std::sync::atomic::AtomicBool>,
    polling: std::sync::Once,
    /// Asks the checkpoint thread for a checkpoint now (and the answer); dropping it
    /// stops the thread.
    checkpoints: Option<mpsc::Sender<CheckpointAsk>>,
    checkpointer: Option<JoinHandle<()>>,
}

/// What a WAL checkpoint did: frames in the log, and how many of them are in the
/// database file now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub log_frames: i64,
    pub checkpointed: i64,
}

/// A request to the checkpoint thread: where to answer, when someone waits.
type CheckpointAsk = Option<mpsc::SyncSender<Result<Checkpoint, StoreError>>>;

/// How often the WAL is copied into the database file, off the writing connection.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Log pages past which the checkpoint thread holds writes back for a second pass
/// (SQLite's own checkpoint threshold): what bounds the log when writes never pause.
const RESTART_PAGES: i64 = 1000;

/// The way to the writer, so that a checkpoint waiting to hold writes gets it. std's
/// `Mutex` is not fair: a thread writing without pause took the writer back the moment
/// it let it go, the checkpoint thread (woken, but not yet running on a busy machine)
/// never got it, and the log grew by every write — 50 to 165 MB instead of at most
/// 33 MB in `steady_writes_keep_the_log_bounded` with one other busy process. The gate
/// is held only while waiting for the writer: a checkpoint that takes it waits for the
/// write under way, and the next write waits behind the checkpoint.
#[derive(Clone, Default)]
struct Gate(Arc<Mutex<()>>);

impl Gate {
    /// The writer, through the gate.
    fn hold<'w>(&self, writer: &'w Mutex<Connection>) -> std::sync::MutexGuard<'w, Connection> {
        let _turn = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A write that panicked left no transaction open (rusqlite rolls it back as the
        // panic unwinds): the connection is still good.
        writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn checkpoint(conn: &Connection) -> Result<Checkpoint, StoreError> {
    // PASSIVE: copies what it can without waiting for readers or blocking the writer.
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok(Checkpoint {
            log_frames: r.get(1)?,
            checkpointed: r.get(2)?,
        })
    })
    .map_err(StoreError::from)
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

/// Read-only connections beside the writer (WAL lets them read while it writes): taken
/// from the idle ones or opened, and kept for the next reader up to [`IDLE_READERS`].
/// How many read at once is bounded by the caller (the server's blocking pool).
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Connections handed out now (tests watch it).
    busy: std::sync::atomic::AtomicUsize,
}

/// Read connections kept open when idle: each holds its prepared statements.
const IDLE_READERS: usize = 8;

impl Readers {
    fn open(path: &Path) -> rusqlite::Result<Self> {
        let readers = Readers {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
            busy: std::sync::atomic::AtomicUsize::new(0),
        };
        // One now, so a file that cannot be read fails at open, not at the first request.
        let first = readers.connect()?;
        readers.put(first);
        Ok(readers)
    }

    fn connect(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.execute_batch("PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;")?;
        Ok(conn)
    }

    fn take(&self) -> Result<Connection, StoreError> {
        let idle = self.idle.lock().map(|mut v| v.pop()).unwrap_or(None);
        let conn = match idle {
            Some(c) => c,
            None => self.connect()?,
        };
        self.busy.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        self.busy.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        self.put(conn);
    }

    fn put(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < IDLE_READERS
        {
            idle.push(conn);
        }
    }
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
        // The writer never checkpoints: a checkpoint copies the log into the database
        // and syncs it, which stalled whichever write crossed the threshold (the tail of
        // sign-in latency). A thread of its own does it every second instead.
        writer
            .execute_batch("PRAGMA wal_autocheckpoint = 0;")
            .map_err(open_err)?;
        let writer = Arc::new(Mutex::new(writer));
        let held = Arc::clone(&writer);
        let gate = Gate::default();
        let turn = gate.clone();
        let readers = Readers::open(path).map_err(open_err)?;
        let copier = Connection::open(path).map_err(open_err)?;
        copier
            .execute_batch("PRAGMA busy_timeout = 5000;")
            .map_err(open_err)?;
        let (checkpoints, asked) = mpsc::channel::<CheckpointAsk>();
        let checkpointer = std::thread::Builder::new()
            .name("ssogate-sqlite-checkpoint".into())
            .spawn(move || {
                loop {
                    let reply = match asked.recv_timeout(CHECKPOINT_EVERY) {
                        Ok(reply) => reply,
                        Err(mpsc::RecvTimeoutError::Timeout) => None,
                        Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    };
                    let done = checkpoint(&copier).and_then(|pass| {
                        // The log starts over only at a write that begins with all of it
                        // copied; under writes that never pause, a pass beside them
                        // almost never ends between two, so the log never started over
                        // and grew without end (gigabytes in a provisioning run, each
                        // append past its end zeroing new pages in the kernel). Past
                        // RESTART_PAGES a second pass runs with writes held: it copies
                        // what the first left (little, often nothing) and the next write
                        // starts the log over.
                        if pass.log_frames >= RESTART_PAGES {
                            let _writes = turn.hold(&held);
                            checkpoint(&copier)
                        } else {
                            Ok(pass)
                        }
                    });
                    if let Err(e) = &done {
                        tracing::warn!(error = %e, "a WAL checkpoint failed; the next one retries");
                    }
                    if let Some(r) = reply {
                        let _ = r.send(done);
                    }
                }
            })
            .map_err(|e| StoreError::Corrupt(format!("cannot start the checkpoint thread: {e}")))?;

        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer,
            gate,
            readers,
            sinks: Sinks::default(),
            broadcast: std::sync::atomic::AtomicBool::new(false),
            stop: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            polling: std::sync::Once::new(),
            checkpoints: Some(checkpoints),
            checkpointer: Some(checkpointer),
        })
    }

    /// A WAL checkpoint now, on the checkpoint thread (it also runs every second).
    pub fn checkpoint_now(&self) -> Result<Checkpoint, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.checkpoints
            .as_ref()
            .ok_or(StoreError::WriterGone)?
            .send(Some(reply))
            .map_err(|_| StoreError::WriterGone)?;
        answer.recv().map_err(|_| StoreError::WriterGone)?
    }

    /// Makes this store's changes heard by other processes watching the same file (a
    /// running server hears a CLI's change within a second). For short-lived processes:
    /// it costs one insert per change.
    pub fn broadcast_to_other_processes(&self) {
        self.broadcast
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Tells this process's watchers, and other processes' when broadcasting.
    fn tell(&self, what: Vec<Invalidation>) {
        let what = what.as_slice();
        self.sinks.emit(what);
        if what.is_empty() || !self.broadcast.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let payloads: Vec<String> = what.iter().map(Invalidation::payload).collect();
        let stored = self.with_writer(move |c| {
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

    /// Runs `f` with the writing connection, once no other write holds it.
    pub fn with_writer<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.gate.hold(&self.writer);
        f(&mut conn)
    }
}

impl Backend for SqliteStore {
    fn read<T>(
        &self,
        f: impl FnOnce(&mut dyn Db) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.readers.take()?;
        let out = f(&mut conn);
        self.readers.give_back(conn);
        out
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&mut dyn Db, &mut Changed) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let (value, mut changed) = self.with_writer(move |conn| {
            let mut changed = Changed::default();
            let value = f(conn, &mut changed)?;
            Ok((value, changed))
        })?;
        self.tell(changed.take());
        Ok(value)
    }

    fn write_tx<T>(
        &self,
        mut f: impl FnMut(&mut dyn Db, &mut Changed) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let (value, mut changed) = self.with_writer(move |conn| {
            let mut changed = Changed::default();
            let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&mut tx, &mut changed)?;
            tx.commit()?;
            Ok((value, changed))
        })?;
        self.tell(changed.take());
        Ok(value)
    }

    fn emit(&self, what: Vec<Invalidation>) -> Result<(), StoreError> {
        self.tell(what);
        Ok(())
    }

    /// One process owns a SQLite file; other processes (the CLI) are heard through the
    /// notifications table when they broadcast.
    fn subscribe(&self, sink: Sink) -> Result<(), StoreError> {
        self.sinks.add(sink);
        self.poll_other_processes()
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
        self.checkpoints.take();
        if let Some(h) = self.checkpointer.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Backend, KeyStore};
    use ssogate_core::domain::UserId;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// One write of a 2 KB row: a page of log each.
    fn write_2kb(s: &SqliteStore, i: i64) {
        s.with_writer(move |c| {
            c.execute(
                "INSERT INTO notifications (payload, at) VALUES (?1, ?2)",
                rusqlite::params![format!("{i}{}", "x".repeat(2000)), i],
            )?;
            Ok(())
        })
        .unwrap();
    }

    /// The writer leaves checkpoints to their own thread (a checkpoint's sync used to
    /// stall the write that crossed the threshold), and that thread copies the whole
    /// log into the database.
    #[test]
    fn checkpoints_run_off_the_writer_and_copy_the_whole_log() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("c.db")).unwrap();
        let auto: i64 = s
            .with_writer(|c| Ok(c.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(auto, 0, "the writer never checkpoints");
        for i in 0..200 {
            write_2kb(&s, i);
        }
        let c = s.checkpoint_now().unwrap();
        assert!(c.log_frames > 0, "{c:?}");
        assert_eq!(c.checkpointed, c.log_frames, "{c:?}");
    }

    /// Writes that never pause keep the log bounded: it starts over once copied. With
    /// checkpoints only beside the writes, none ever copied the last frame at a moment
    /// between two, and the log grew by every write (250 MB here; gigabytes in a
    /// provisioning run).
    #[test]
    fn steady_writes_keep_the_log_bounded() {
        steady_writes_beside(0);
    }

    /// The same with the machine's cores kept busy by threads that only spin: the
    /// checkpoint thread, woken to hold writes back, did not get the writer from a
    /// thread writing without pause (std's `Mutex` is not fair) and the log grew past
    /// its bound (34–62 MB in 3 runs of 8 here; 50–165 MB in half the runs of the plain
    /// test beside a busy process). See [`Gate`].
    #[test]
    fn steady_writes_keep_the_log_bounded_on_a_busy_machine() {
        steady_writes_beside(4);
    }

    /// 20,000 writes of 2 KB without pause, a checkpoint every 200 of them, while `busy`
    /// threads spin; the log must stay within eight restarts' worth of pages.
    fn steady_writes_beside(busy: usize) {
        use std::sync::atomic::AtomicU64;
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("w.db")).unwrap();
        let (written, done) = (AtomicU64::new(0), AtomicBool::new(false));
        std::thread::scope(|scope| {
            for _ in 0..busy {
                scope.spawn(|| {
                    while !done.load(Ordering::Acquire) {
                        std::hint::spin_loop();
                    }
                });
            }
            // A checkpoint every 200 writes, running while they go on (as the thread's
            // once a second does under a steady load).
            scope.spawn(|| {
                let mut next = 200;
                while !done.load(Ordering::Acquire) {
                    if written.load(Ordering::Acquire) >= next {
                        s.checkpoint_now().unwrap();
                        next = written.load(Ordering::Acquire) + 200;
                    } else {
                        std::thread::yield_now();
                    }
                }
            });
            for i in 0..20_000 {
                write_2kb(&s, i);
                written.fetch_add(1, Ordering::Release);
            }
            done.store(true, Ordering::Release);
        });
        let wal = std::fs::metadata(dir.path().join("w.db-wal"))
            .unwrap()
            .len();
        let page: u64 = 4096 + 24;
        let bound = 8 * RESTART_PAGES as u64 * page;
        assert!(
            wal < bound,
            "the log is {wal} bytes after 20,000 writes of 2 KB beside {busy} busy threads; bounded by {bound}"
        );
    }

    /// A write that panics midway rolls back, and the next write still has the
    /// connection (a writer thread that panicked took every later write down with it).
    #[test]
    fn a_write_that_panics_leaves_nothing_and_writing_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("p.db")).unwrap();
        let count = |s: &SqliteStore| -> i64 {
            s.with_writer(|c| {
                Ok(c.query_row("SELECT count(*) FROM notifications", [], |r| r.get(0))?)
            })
            .unwrap()
        };
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = s.with_writer(|c| -> Result<(), StoreError> {
                let tx = c.transaction()?;
                tx.execute(
                    "INSERT INTO notifications (payload, at) VALUES ('half', 1)",
                    [],
                )?;
                panic!("midway");
            });
        }));
        assert!(panicked.is_err());
        assert_eq!(count(&s), 0, "the half-done write was rolled back");
        s.with_writer(|c| {
            c.execute(
                "INSERT INTO notifications (payload, at) VALUES ('next', 2)",
                [],
            )?;
            Ok(())
        })
        .unwrap();
        assert_eq!(count(&s), 1);
    }

    /// Reads do not queue behind each other: a read that is still running (here, the
    /// outer one) does not keep another from getting a connection — with the single
    /// `Mutex<Connection>` this was, the inner read waited for ever.
    #[test]
    fn reads_run_side_by_side_on_a_pool_of_connections() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = SqliteStore::open(&dir.path().join("t.db")).unwrap_or_else(|e| panic!("{e}"));
        let inner = store
            .read(|outer| {
                let users = outer.query_int("SELECT count(*) FROM users", &[])?;
                let busy = store.readers.busy.load(Ordering::SeqCst);
                let both = store.read(|_| Ok(store.readers.busy.load(Ordering::SeqCst)))?;
                Ok((users, busy, both))
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(inner, (Some(0), 1, 2));
        assert_eq!(store.readers.busy.load(Ordering::SeqCst), 0);
        assert_eq!(store.readers.idle.lock().map(|v| v.len()).unwrap_or(0), 2);
    }

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
            .with_writer(|c| {
                c.execute_batch("INSERT INTO users (id, username, source, status, created_at, updated_at) VALUES (1, 'pw', 'local', 'active', 0, 0)")
                    .map_err(StoreError::from)
            })
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .set_password(UserId(1), Some("correct horse battery"), 1)
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
                    assert!(matches!(
                        r,
                        Ok(crate::credentials::PasswordCheck::Ok(UserId(1)))
                    ));
                }
                done.store(true, Ordering::SeqCst);
            })
        };
        while !started.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
        let (mut free, mut busy) = (0u64, 0u64);
        while !done.load(Ordering::SeqCst) {
            match store.readers.busy.load(Ordering::SeqCst) {
                0 => free += 1,
                _ => busy += 1,
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
