//! The directory on PostgreSQL, for several ssogate instances sharing one database.
//!
//! Each login runs its lookups, decision and writes in one transaction. Two instances
//! (or threads) deciding the same first login at once both see no account; one commit
//! wins and the other fails on a unique constraint — (provider, subject) or the
//! username — and is decided again against the winner's rows, a bounded number of
//! times. The client is the synchronous `postgres` crate, so the same query code serves
//! both engines (see `sql.rs`).

use crate::StoreError;
use crate::directory::{Backend, Changed};
use crate::invalidate::{self, Invalidation, Sink};
use crate::sql::Db;
use postgres::Client;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio_postgres_rustls::MakeRustlsConnect;

mod url;
mod wire;

use url::connection;
use wire::{Conn, Tx, lost_race, pg_error};

const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_directory.sql"),
    include_str!("../../migrations/postgres/0002_sessions.sql"),
    include_str!("../../migrations/postgres/0003_api_keys.sql"),
    include_str!("../../migrations/postgres/0004_settings.sql"),
    include_str!("../../migrations/postgres/0005_notifications.sql"),
    include_str!("../../migrations/postgres/0006_session_id_token.sql"),
    include_str!("../../migrations/postgres/0007_password_resets.sql"),
    include_str!("../../migrations/postgres/0008_session_refresh.sql"),
    include_str!("../../migrations/postgres/0009_op.sql"),
    include_str!("../../migrations/postgres/0010_lifecycle.sql"),
    include_str!("../../migrations/postgres/0011_webhooks.sql"),
    include_str!("../../migrations/postgres/0012_scim.sql"),
    include_str!("../../migrations/postgres/0013_op_secrets.sql"),
    include_str!("../../migrations/postgres/0014_op_clients.sql"),
    include_str!("../../migrations/postgres/0015_session_auth_context.sql"),
];

/// Connections one instance opens at most (`max_connections=N` in the URL changes it):
/// PostgreSQL's own default limit is 100, shared by every instance and tool.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;

/// How long a request waits for a free connection before it is refused as unavailable.
const CONNECTION_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// How many times a login is decided again after losing a race to another writer.
const RETRIES: usize = 8;

/// Any fixed number: the advisory lock that serialises migrations across instances.
const MIGRATION_LOCK: i64 = 0x5550_6174_6521;

/// The PostgreSQL directory: a small pool of connections.
pub struct PgStore {
    config: postgres::Config,
    tls: MakeRustlsConnect,
    idle: Mutex<Vec<Conn>>,
    /// Connections handed out now, and the cap on them (besides the listener's own).
    in_use: Mutex<usize>,
    freed: std::sync::Condvar,
    max_connections: usize,
    connection_wait: std::time::Duration,
    /// Tells listener threads to end when the store goes.
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        // A client closes its connection by blocking on a runtime of its own, which
        // panics inside another runtime (a server dropping its directory at shutdown):
        // close them on a thread of their own.
        let idle = self
            .idle
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default();
        if !idle.is_empty() {
            let _ = std::thread::spawn(move || drop(idle)).join();
        }
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects, and migrates under an advisory lock (several instances may start at once).
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let (config, tls, max_connections) = connection(url)?;
        let store = PgStore {
            config,
            tls,
            idle: Mutex::new(Vec::new()),
            in_use: Mutex::new(0),
            freed: std::sync::Condvar::new(),
            max_connections,
            connection_wait: CONNECTION_WAIT,
            stop: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        };
        let mut conn = store.connect()?;
        let client = &mut conn.client;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .map_err(pg_error)?;
        let result = migrate(client);
        client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .map_err(pg_error)?;
        result?;
        store.put(conn);
        Ok(store)
    }

    fn connect(&self) -> Result<Conn, StoreError> {
        let client = self.config.connect(self.tls.clone()).map_err(|e| {
            // The source says why (refused, certificate, authentication); the URL, with
            // its password, is never printed.
            let cause = std::error::Error::source(&e)
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            StoreError::PostgresConnect(format!("{e}{cause}"))
        })?;
        Ok(Conn {
            client,
            statements: HashMap::new(),
        })
    }

    /// A connection, once fewer than `max_connections` are out; every `get` that
    /// succeeds is followed by one `put`.
    fn get(&self) -> Result<Conn, StoreError> {
        {
            let in_use = self.in_use.lock().map_err(|_| StoreError::WriterGone)?;
            let (mut in_use, waited) = self
                .freed
                .wait_timeout_while(in_use, self.connection_wait, |n| *n >= self.max_connections)
                .map_err(|_| StoreError::WriterGone)?;
            if waited.timed_out() && *in_use >= self.max_connections {
                return Err(StoreError::Unavailable(format!(
                    "all {} database connections stayed busy for {} s (raise max_connections in database_url if the server allows more)",
                    self.max_connections,
                    self.connection_wait.as_secs()
                )));
            }
            *in_use += 1;
        }
        let idle = self.idle.lock().map(|mut v| v.pop()).unwrap_or(None);
        let conn = match idle {
            Some(c) if !c.client.is_closed() => Ok(c),
            _ => self.connect(),
        };
        if conn.is_err() {
            self.release();
        }
        conn
    }

    fn release(&self) {
        if let Ok(mut n) = self.in_use.lock() {
            *n = n.saturating_sub(1);
        }
        self.freed.notify_one();
    }

    fn put(&self, conn: Conn) {
        if let Ok(mut idle) = self.idle.lock()
            && !conn.client.is_closed()
            && idle.len() < self.max_connections
        {
            idle.push(conn);
        }
        self.release();
    }

    /// Runs `f` in a transaction, again (from scratch) when it loses a race.
    fn transaction<T>(
        &self,
        mut f: impl FnMut(&mut Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.get()?;
        let mut attempt = 0;
        let (result, reusable) = loop {
            attempt += 1;
            let Conn { client, statements } = &mut conn;
            let mut tx = Tx::new(client, statements);
            let r = match f(&mut tx) {
                Ok(v) => tx.commit().map(|()| v),
                Err(e) => {
                    if !tx.rollback() {
                        // Its state unknown, the connection is not given back.
                        break (Err(e), false);
                    }
                    Err(e)
                }
            };
            match r {
                Err(e) if lost_race(&e) && attempt < RETRIES => continue,
                other => break (other, true),
            }
        };
        if reusable {
            self.put(conn);
        } else {
            drop(conn);
            self.release();
        }
        result
    }
}

fn migrate(client: &mut Client) -> Result<(), StoreError> {
    client
        .batch_execute("CREATE TABLE IF NOT EXISTS ssogate_schema (version BIGINT NOT NULL)")
        .map_err(pg_error)?;
    let found: i64 = client
        .query_opt("SELECT version FROM ssogate_schema", &[])
        .map_err(pg_error)?
        .map(|r| r.get(0))
        .unwrap_or(0);
    let supported = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    if found > supported {
        return Err(StoreError::NewerSchema { found, supported });
    }
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(found).unwrap_or(0))
    {
        let mut tx = client.transaction().map_err(pg_error)?;
        tx.batch_execute(sql).map_err(pg_error)?;
        let v = i64::try_from(i + 1).unwrap_or(i64::MAX);
        tx.execute("DELETE FROM ssogate_schema", &[])
            .map_err(pg_error)?;
        tx.execute("INSERT INTO ssogate_schema (version) VALUES ($1)", &[&v])
            .map_err(pg_error)?;
        tx.commit().map_err(pg_error)?;
    }
    Ok(())
}

impl Backend for PgStore {
    fn read<T>(
        &self,
        f: impl FnOnce(&mut dyn Db) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.get()?;
        let r = f(&mut conn);
        self.put(conn);
        r
    }

    /// Each statement commits on its own (one round trip, no `BEGIN`); what changed is
    /// sent once `f` is done.
    fn write<T>(
        &self,
        f: impl FnOnce(&mut dyn Db, &mut Changed) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.get()?;
        let mut changed = Changed::default();
        let r = f(&mut conn, &mut changed).and_then(|v| {
            notify(&mut conn, &changed.take())?;
            Ok(v)
        });
        self.put(conn);
        r
    }

    fn write_tx<T>(
        &self,
        mut f: impl FnMut(&mut dyn Db, &mut Changed) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.transaction(|tx| {
            let mut changed = Changed::default();
            let v = f(tx, &mut changed)?;
            notify(tx, &changed.take())?;
            Ok(v)
        })
    }

    fn emit(&self, what: Vec<Invalidation>) -> Result<(), StoreError> {
        self.read(|db| notify(db, &what))
    }

    fn subscribe(&self, sink: Sink) -> Result<(), StoreError> {
        // The listener connects on its own thread (the client must not run inside an
        // async runtime, which is where a server calls this).
        let (config, tls, stop) = (self.config.clone(), self.tls.clone(), self.stop.clone());
        let (ready, listening) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("ssogate-pg-listen".into())
            .spawn(move || listen(&config, &tls, &stop, &sink, ready))
            .map_err(|e| StoreError::Corrupt(format!("cannot start the listener thread: {e}")))?;
        // Return once LISTEN is in place, so no write after this goes unheard.
        listening
            .recv_timeout(std::time::Duration::from_secs(10))
            .map_err(|_| {
                StoreError::PostgresConnect(
                    "could not listen for session invalidations within 10 s".into(),
                )
            })
    }
}

/// Sends invalidations with the transaction they describe (`NOTIFY` is delivered at
/// commit, and not at all on rollback).
fn notify(db: &mut dyn Db, what: &[Invalidation]) -> Result<(), StoreError> {
    for w in what {
        db.exec(
            "SELECT pg_notify($1, $2)",
            &[invalidate::CHANNEL.into(), w.payload().as_str().into()],
        )?;
    }
    Ok(())
}

/// Hears invalidations until the store is dropped. After any gap (a lost connection),
/// tells the watcher to forget everything, since notifications may have been missed.
fn listen(
    config: &postgres::Config,
    tls: &MakeRustlsConnect,
    stop: &std::sync::atomic::AtomicBool,
    sink: &Sink,
    ready: std::sync::mpsc::Sender<()>,
) {
    use postgres::fallible_iterator::FallibleIterator;
    use std::sync::atomic::Ordering;
    let mut client = loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        match config.connect(tls.clone()) {
            Ok(c) => break c,
            Err(_) => std::thread::sleep(std::time::Duration::from_secs(1)),
        }
    };
    loop {
        let listening = client.batch_execute(&format!("LISTEN {}", invalidate::CHANNEL));
        if listening.is_ok() {
            sink(&Invalidation::All);
            let _ = ready.send(());
            loop {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                // Each notification is applied the moment it arrives: a steady stream
                // of them (logouts every few milliseconds) must never hold one back.
                // The timeout only bounds how long a stop request waits to be seen.
                let mut failed = false;
                {
                    let mut n = client.notifications();
                    let mut it = n.timeout_iter(std::time::Duration::from_millis(500));
                    loop {
                        match it.next() {
                            Ok(Some(note)) => sink(&Invalidation::parse(note.payload())),
                            Ok(None) => break,
                            Err(_) => {
                                failed = true;
                                break;
                            }
                        }
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                    }
                }
                if failed || client.is_closed() {
                    break;
                }
            }
        }
        sink(&Invalidation::All);
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_secs(1));
            if let Ok(c) = config.connect(tls.clone()) {
                client = c;
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test server's URL with `param` added, or `None` (said) when there is none.
    fn server_with(param: &str) -> Option<String> {
        let Ok(url) = std::env::var("TEST_SSOGATE_POSTGRES_URL") else {
            assert!(
                std::env::var("TEST_SSOGATE_REQUIRE_POSTGRES").is_err(),
                "TEST_SSOGATE_POSTGRES_URL is required"
            );
            eprintln!("skipped: TEST_SSOGATE_POSTGRES_URL is not set");
            return None;
        };
        let sep = if url.contains('?') { '&' } else { '?' };
        Some(format!("{url}{sep}{param}"))
    }

    /// Connections are capped: past the cap a caller waits, and is refused as
    /// unavailable (503 upstream) when none frees up in time.
    #[test]
    fn the_pool_never_opens_more_than_max_connections() {
        let Some(url) = server_with("max_connections=2") else {
            return;
        };
        let mut store = PgStore::open(&url).unwrap_or_else(|e| panic!("{e}"));
        store.connection_wait = std::time::Duration::from_millis(200);
        let a = store.get().unwrap_or_else(|e| panic!("{e}"));
        let b = store.get().unwrap_or_else(|e| panic!("{e}"));
        let third = store.get();
        assert!(
            matches!(&third, Err(e) if e.is_unavailable()),
            "{:?}",
            third.err()
        );
        store.put(a);
        let c = store.get().unwrap_or_else(|e| panic!("{e}"));
        store.put(b);
        store.put(c);
        assert!(store.idle.lock().map(|v| v.len()).unwrap_or(0) <= 2);
    }

    /// A transaction begins with its first write: reads before it run on their own
    /// (each in a transaction of its own: two reads see two transaction timestamps), a
    /// last statement that is the only write is sent without `BEGIN`, nothing is sent
    /// after the last statement, and what began and failed is rolled back before the
    /// connection goes back to the pool.
    #[test]
    fn a_transaction_begins_with_its_first_write() {
        let Some(url) = server_with("max_connections=1") else {
            return;
        };
        // One connection: every transaction below runs on the same one.
        let store = PgStore::open(&url).unwrap_or_else(|e| panic!("{e}"));
        const STARTED: &str = "SELECT transaction_timestamp()::text";
        let started = |rows: Result<Vec<crate::sql::Row>, StoreError>| {
            rows.and_then(|r| match r.first().map(|row| row.get(0)).transpose()? {
                Some(crate::sql::Cell::Text(t)) => Ok(t.clone()),
                other => Err(StoreError::Corrupt(format!("{other:?}"))),
            })
        };
        let (reads, inside) = store
            .transaction(|tx| {
                let reads = [
                    started(tx.read_query(STARTED, &[]))?,
                    started(tx.read_query(STARTED, &[]))?,
                ];
                assert!(!tx.began);
                tx.exec("SELECT 1", &[])?;
                let inside = [
                    started(tx.query(STARTED, &[]))?,
                    started(tx.read_query(STARTED, &[]))?,
                ];
                Ok((reads, inside))
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(
            reads[0], reads[1],
            "reads before the first write, each alone"
        );
        assert_eq!(inside[0], inside[1], "after it, one transaction");
        let after = store
            .transaction(|tx| {
                tx.query_last(STARTED, &[])?;
                assert!(!tx.began, "the only write, sent alone");
                Ok(tx.exec("SELECT 1", &[]).is_err())
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(after, "nothing is sent after the last statement");
        let failed: Result<(), StoreError> = store.transaction(|tx| {
            tx.exec("SELECT 1", &[])?;
            Err(StoreError::Corrupt("the caller gives up".into()))
        });
        assert!(failed.is_err());
        let next = store
            .transaction(|tx| {
                Ok([
                    started(tx.read_query(STARTED, &[]))?,
                    started(tx.read_query(STARTED, &[]))?,
                ])
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(
            next[0], next[1],
            "the failed transaction was rolled back, not left open"
        );
        // A connection lost inside a transaction (its rollback cannot be sent) is not
        // given back, and its place in the pool is: the one connection allowed is made
        // again for the next transaction.
        let lost: Result<(), StoreError> = store.transaction(|tx| {
            tx.exec("SELECT 1", &[])?;
            tx.exec("SELECT pg_terminate_backend(pg_backend_pid())", &[])?;
            Ok(())
        });
        assert!(lost.is_err());
        let again = store
            .transaction(|tx| started(tx.read_query(STARTED, &[])))
            .map(|_| ());
        assert!(again.is_ok(), "{again:?}");
    }
}
