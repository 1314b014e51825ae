//! PostgreSQL provisioning throughput at 1, 8 and 32 clients, against its floor in the
//! same run: the same rows written by one statement (a CTE) per login. Target ≥ 0.7×.
//!
//! Needs a server: `TEST_SSOGATE_POSTGRES_URL=postgres://… cargo bench -p ssogate-store
//! --bench postgres` (scripts/postgres-test-server starts one). Each run uses a fresh
//! database.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use criterion::{Criterion, Throughput, criterion_group};
use serde_json::json;
use ssogate_core::claims::ClaimSources;
use ssogate_core::domain::{Catalogue, Group, Library, Permission};
use ssogate_core::policy::ProvisioningPolicy;
use ssogate_core::{Engine, ProviderPolicy};
use ssogate_store::prelude::*;
use ssogate_store::{PgStore, RequestContext};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const FLOOR: &str = "
WITH u AS (
  INSERT INTO users (username, email, email_verified, display_name, status, source, created_at, updated_at)
  VALUES ($1, $2, TRUE, $3, 'active', 'provider', $4, $4) RETURNING id
), i AS (
  INSERT INTO identities (user_id, provider, issuer, subject, email, raw_claims, first_login_at, last_login_at)
  SELECT id, 'corp', 'https://idp.example.com', $5, $2, '{}', $4, $4 FROM u
), p AS (
  INSERT INTO user_permissions (user_id, permission, source, granted_at)
  SELECT id, perm, 'default', $4 FROM u, (VALUES ('read'), ('download')) AS v(perm)
), l AS (
  INSERT INTO user_libraries (user_id, library, source, granted_at) SELECT id, 'main', 'default', $4 FROM u
), g AS (
  INSERT INTO user_groups (user_id, group_id, source, granted_at)
  SELECT u.id, groups.id, CASE groups.name WHEN 'Readers' THEN 'default' ELSE 'provider' END, $4
  FROM u, groups WHERE groups.name IN ('Readers', 'Editors')
)
INSERT INTO audit_events (at, event, outcome, provider, subject, user_id, detail)
SELECT $4, 'user.provisioned', 'success', 'corp', $5, id, '{}' FROM u";

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

fn fresh_database(base: &str, name: &str) -> String {
    let mut admin = postgres::Client::connect(base, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let (head, _) = base.rsplit_once('/').unwrap();
    format!("{head}/{name}")
}

/// Runs `iters` logins spread over `clients` threads; returns the wall time.
fn spread(iters: u64, clients: u64, work: &(dyn Fn(u64, u64) + Sync)) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for c in 0..clients {
            let n = iters / clients + u64::from(c < iters % clients);
            s.spawn(move || work(c, n));
        }
    });
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let Ok(base) = std::env::var("TEST_SSOGATE_POSTGRES_URL") else {
        eprintln!("skipping the PostgreSQL benchmarks: TEST_SSOGATE_POSTGRES_URL is not set");
        return;
    };
    let url = fresh_database(&base, "bench_provision");
    let store = Arc::new(PgStore::open(&url).unwrap());
    store.sync_catalogue(&catalogue()).unwrap();
    let mut policy = ProvisioningPolicy {
        default_permissions: vec!["download".into()],
        default_libraries: vec!["main".into()],
        default_groups: vec!["Readers".into()],
        ..Default::default()
    };
    policy.groups.enabled = true;
    let engine = Arc::new(
        Engine::new(
            ProviderPolicy::new("corp", "https://idp.example.com"),
            policy,
            catalogue().permissions,
        )
        .unwrap(),
    );
    let counter = Arc::new(AtomicU64::new(0));

    let mut g = c.benchmark_group("postgres_provision");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(5));
    g.sample_size(10);
    for clients in [1u64, 8, 32] {
        // One connection per client for the floor, like a pool would give.
        let floor_clients: Vec<std::sync::Mutex<postgres::Client>> = (0..clients)
            .map(|_| {
                std::sync::Mutex::new(postgres::Client::connect(&url, postgres::NoTls).unwrap())
            })
            .collect();
        g.bench_function(format!("floor_cte/{clients}"), |b| {
            b.iter_custom(|iters| {
                spread(iters, clients, &|c, n| {
                    let mut client = floor_clients[usize::try_from(c).unwrap()].lock().unwrap();
                    for _ in 0..n {
                        let i = counter.fetch_add(1, Ordering::Relaxed);
                        client
                            .execute(
                                FLOOR,
                                &[
                                    &format!("f{i}"),
                                    &format!("f{i}@example.com"),
                                    &format!("F {i}"),
                                    &1_800_000_000i64,
                                    &format!("fs{i}"),
                                ],
                            )
                            .unwrap();
                    }
                })
            })
        });
        g.bench_function(format!("store_login/{clients}"), |b| {
            b.iter_custom(|iters| {
                spread(iters, clients, &|_, n| {
                    for _ in 0..n {
                        let i = counter.fetch_add(1, Ordering::Relaxed);
                        let claims = json!({"sub": format!("s{i}"), "preferred_username": format!("user{i}"),
                            "email": format!("user{i}@example.com"), "email_verified": true, "name": format!("User {i}"), "groups": ["Editors"]});
                        store.login(engine.clone(), ClaimSources::id_token(claims), RequestContext { now: 1_800_000_000, ..Default::default() }).unwrap();
                    }
                })
            })
        });
    }
    g.finish();
}

#[path = "../../../benches/ratio.rs"]
mod ratio;

criterion_group!(benches, bench);

fn main() {
    ratio::start();
    benches();
    Criterion::default().configure_from_args().final_summary();
    for clients in [1, 8, 32] {
        ratio::report(
            &format!("postgres_provision/store_login at {clients} clients vs the CTE floor"),
            ("postgres_provision", &format!("store_login/{clients}")),
            ("postgres_provision", &format!("floor_cte/{clients}")),
            ratio::Target::ThroughputAtLeast(0.9),
        );
    }
}
