//! SQLite directory benchmarks, each against its floor in the same run.
//!
//! * `provision/store_login` — first logins through `SqliteStore::login` (lookups,
//!   decision, account + identity + 5 grants + audit event, one transaction each)
//!   against `provision/floor_rusqlite`: the same rows inserted with plain rusqlite on
//!   one thread, one transaction per login, same `synchronous = NORMAL`. Target ≥ 0.9×.
//! * `lookup/identity_with_grants` — one account by (provider, subject) with its grants,
//!   in a directory of `BENCH_SSOGATE_USERS` accounts (default 1,000,000; the file is
//!   built once and kept under the target directory). Prints p50/p99; target p99 < 1 ms.
//!
//! Run: `cargo bench -p ssogate-store --bench provision`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use criterion::{Criterion, Throughput, criterion_group};
use rusqlite::{Connection, params};
use serde_json::json;
use ssogate_core::claims::ClaimSources;
use ssogate_core::domain::{Catalogue, Group, Library, Permission};
use ssogate_core::policy::ProvisioningPolicy;
use ssogate_core::{Engine, ProviderPolicy};
use ssogate_store::prelude::*;
use ssogate_store::{RequestContext, SqliteStore};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SCHEMA: &str = include_str!("../migrations/sqlite/0001_directory.sql");

fn catalogue() -> Catalogue {
    Catalogue {
        permissions: vec![
            Permission {
                name: "read".into(),
                label: None,
                required: true,
            },
            Permission {
                name: "download".into(),
                label: None,
                required: false,
            },
        ],
        libraries: vec![Library {
            name: "main".into(),
            label: None,
        }],
        groups: vec![
            Group {
                name: "Readers".into(),
                external_ids: vec![],
            },
            Group {
                name: "Editors".into(),
                external_ids: vec![],
            },
        ],
    }
}

fn engine() -> Arc<Engine> {
    let mut policy = ProvisioningPolicy {
        default_permissions: vec!["download".into()],
        default_libraries: vec!["main".into()],
        default_groups: vec!["Readers".into()],
        ..Default::default()
    };
    policy.groups.enabled = true;
    Arc::new(
        Engine::new(
            ProviderPolicy::new("corp", "https://idp.example.com"),
            policy,
            catalogue().permissions,
        )
        .unwrap(),
    )
}

fn floor_connection(path: &Path) -> Connection {
    let c = Connection::open(path).unwrap();
    c.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
    )
    .unwrap();
    c.execute_batch(SCHEMA).unwrap();
    c.execute_batch(
        "INSERT INTO permissions (name, required) VALUES ('read', 1), ('download', 0);
         INSERT INTO libraries (name) VALUES ('main');
         INSERT INTO groups (name) VALUES ('Readers'), ('Editors');",
    )
    .unwrap();
    c
}

/// The rows one first login writes, and nothing else.
fn floor_login(c: &mut Connection, n: u64, now: i64) {
    let tx = c.transaction().unwrap();
    tx.execute(
        "INSERT INTO users (username, email, email_verified, display_name, status, source, created_at, updated_at)
         VALUES (?1, ?2, 1, ?3, 'active', 'provider', ?4, ?4)",
        params![format!("user{n}"), format!("user{n}@example.com"), format!("User {n}"), now],
    )
    .unwrap();
    let id = tx.last_insert_rowid();
    tx.execute(
        "INSERT INTO identities (user_id, provider, issuer, subject, email, raw_claims, first_login_at, last_login_at)
         VALUES (?1, 'corp', 'https://idp.example.com', ?2, ?3, ?4, ?5, ?5)",
        params![id, format!("s{n}"), format!("user{n}@example.com"), "{}", now],
    )
    .unwrap();
    for p in ["read", "download"] {
        tx.execute("INSERT INTO user_permissions (user_id, permission, source, granted_at) VALUES (?1, ?2, 'default', ?3)", params![id, p, now])
            .unwrap();
    }
    tx.execute("INSERT INTO user_libraries (user_id, library, source, granted_at) VALUES (?1, 'main', 'default', ?2)", params![id, now])
        .unwrap();
    for (g, source) in [("Readers", "default"), ("Editors", "provider")] {
        tx.execute(
            "INSERT INTO user_groups (user_id, group_id, source, granted_at) VALUES (?1, (SELECT id FROM groups WHERE name = ?2), ?3, ?4)",
            params![id, g, source, now],
        )
        .unwrap();
    }
    tx.execute(
        "INSERT INTO audit_events (at, event, outcome, provider, subject, user_id, detail) VALUES (?1, 'user.provisioned', 'success', 'corp', ?2, ?3, '{}')",
        params![now, format!("s{n}"), id],
    )
    .unwrap();
    tx.commit().unwrap();
}

/// Writes every dirty page to disk before a measurement: otherwise the second of the
/// two pays for the kernel writing back what the first left in the page cache (5 s of
/// inserts), which made the ratio wander by ±20% against whichever ran second.
fn settle() {
    let _ = std::process::Command::new("sync").status();
}

fn provision(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("provision");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(5));

    let mut floor = floor_connection(&dir.path().join("floor.db"));
    let mut n = 0u64;
    settle();
    g.bench_function("floor_rusqlite", |b| {
        b.iter(|| {
            n += 1;
            floor_login(&mut floor, n, 1_800_000_000);
        })
    });

    let store = SqliteStore::open(&dir.path().join("store.db")).unwrap();
    store.sync_catalogue(&catalogue()).unwrap();
    let e = engine();
    let counter = AtomicU64::new(0);
    settle();
    g.bench_function("store_login", |b| {
        b.iter(|| {
            let i = counter.fetch_add(1, Ordering::Relaxed);
            let claims = json!({"sub": format!("s{i}"), "preferred_username": format!("user{i}"),
                "email": format!("user{i}@example.com"), "email_verified": true, "name": format!("User {i}"), "groups": ["Editors"]});
            let r = store.login(e.clone(), ClaimSources::id_token(claims), RequestContext { now: 1_800_000_000, ..Default::default() }).unwrap();
            assert!(r.user_id.is_some());
        })
    });
    g.finish();
}

fn lookup(c: &mut Criterion) {
    let users: u64 = std::env::var("BENCH_SSOGATE_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("lookup-{users}.db"));
    if !path.exists() {
        let tmp = path.with_extension("building");
        let _ = std::fs::remove_file(&tmp);
        let mut conn = floor_connection(&tmp);
        let started = Instant::now();
        let tx = conn.transaction().unwrap();
        for n in 0..users {
            // The same rows as a login, without one transaction each.
            let now = 1_800_000_000;
            tx.execute(
                "INSERT INTO users (username, email, email_verified, status, source, created_at, updated_at) VALUES (?1, ?2, 1, 'active', 'provider', ?3, ?3)",
                params![format!("user{n}"), format!("user{n}@example.com"), now],
            )
            .unwrap();
            let id = tx.last_insert_rowid();
            tx.execute(
                "INSERT INTO identities (user_id, provider, issuer, subject, first_login_at, last_login_at) VALUES (?1, 'corp', 'https://idp.example.com', ?2, ?3, ?3)",
                params![id, format!("s{n}"), now],
            )
            .unwrap();
            tx.execute("INSERT INTO user_permissions (user_id, permission, source, granted_at) VALUES (?1, 'read', 'default', ?2)", params![id, now]).unwrap();
            tx.execute("INSERT INTO user_groups (user_id, group_id, source, granted_at) VALUES (?1, 1, 'default', ?2)", params![id, now]).unwrap();
        }
        tx.execute_batch(&format!(
            "PRAGMA user_version = {}",
            ssogate_store::sqlite::SCHEMA_VERSION
        ))
        .unwrap();
        tx.commit().unwrap();
        drop(conn);
        std::fs::rename(&tmp, &path).unwrap();
        eprintln!(
            "built {} with {users} accounts in {:?}",
            path.display(),
            started.elapsed()
        );
    }
    let store = SqliteStore::open(&path).unwrap();
    let mut i = 0u64;
    let mut samples = Vec::with_capacity(200_000);
    c.bench_function("lookup/identity_with_grants", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                i = (i * 7919 + 104_729) % users;
                let sub = format!("s{i}");
                let t = Instant::now();
                let u = store.user_by_identity("corp", &sub).unwrap();
                let dt = t.elapsed();
                assert!(u.is_some_and(|u| u.grants.len() == 2));
                total += dt;
                if samples.len() < samples.capacity() {
                    samples.push(dt);
                }
            }
            total
        })
    });
    if samples.is_empty() {
        // Filtered out of this run (`--bench provision/`): nothing to report.
        return;
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p) as usize];
    eprintln!(
        "lookup/identity_with_grants at {users} accounts over {} samples: p50 {:?}, p99 {:?} (target p99 < 1 ms)",
        samples.len(),
        pct(0.50),
        pct(0.99)
    );
}

#[path = "../../../benches/ratio.rs"]
mod ratio;

criterion_group!(benches, provision, lookup);

fn main() {
    ratio::start();
    benches();
    Criterion::default().configure_from_args().final_summary();
    ratio::report(
        "provision/store_login vs plain rusqlite",
        ("provision", "store_login"),
        ("provision", "floor_rusqlite"),
        ratio::Target::ThroughputAtLeast(0.9),
    );
}
