//! How long an invalidation written through one PostgreSQL store takes to reach another
//! store's watcher (another ssogate instance), under steady background traffic of
//! 200 invalidations a second, against its floor in the same run: the same `NOTIFY`
//! heard by a bare `LISTEN` connection. Prints p50/p99 of each; goal p99 < 100 ms.
//!
//! Needs a server: `TEST_SSOGATE_POSTGRES_URL=postgres://… cargo bench -p ssogate-store
//! --bench invalidation` (scripts/postgres-test-server starts one).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use criterion::{Criterion, criterion_group, criterion_main};
use ssogate_core::domain::UserId;
use ssogate_store::invalidate::{CHANNEL, Invalidation};
use ssogate_store::{Directory, PgStore};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SAMPLES: usize = 300;

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

/// Background invalidations at 200 a second until dropped.
struct Noise {
    running: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Noise {
    fn start(store: Arc<PgStore>) -> Noise {
        let running = Arc::new(AtomicBool::new(true));
        let r = running.clone();
        let thread = std::thread::spawn(move || {
            let mut i = 0u64;
            while r.load(Ordering::Relaxed) {
                store
                    .announce(Invalidation::Session(format!("noise-{i}")))
                    .unwrap();
                i += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Noise {
            running,
            thread: Some(thread),
        }
    }
}

impl Drop for Noise {
    fn drop(&mut self) {
        self.running.store(false, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(name: &str, mut v: Vec<Duration>) {
    v.sort_unstable();
    println!(
        "{name}: p50 {:.2} ms, p99 {:.2} ms over {} invalidations under 200/s of other traffic",
        percentile(&v, 0.5).as_secs_f64() * 1e3,
        percentile(&v, 0.99).as_secs_f64() * 1e3,
        v.len()
    );
}

fn bench(c: &mut Criterion) {
    let Ok(base) = std::env::var("TEST_SSOGATE_POSTGRES_URL") else {
        eprintln!("skipping the invalidation benchmark: TEST_SSOGATE_POSTGRES_URL is not set");
        return;
    };
    let url = fresh_database(&base, "bench_invalidation");
    let writer = Arc::new(PgStore::open(&url).unwrap());
    let reader = PgStore::open(&url).unwrap();
    // The watcher hands each awaited user id to the measuring thread.
    let (heard_tx, heard) = mpsc::channel::<i64>();
    let heard_tx = Mutex::new(heard_tx);
    reader
        .watch(Arc::new(move |w| {
            if let Invalidation::User(id) = w
                && let Ok(tx) = heard_tx.lock()
            {
                let _ = tx.send(id.0);
            }
        }))
        .unwrap();
    let _noise = Noise::start(writer.clone());

    // The store: announce through one, wait for the other's watcher.
    let mut next = 0i64;
    let one_store = |next: &mut i64| {
        *next += 1;
        let start = Instant::now();
        writer.announce(Invalidation::User(UserId(*next))).unwrap();
        loop {
            let id = heard.recv_timeout(Duration::from_secs(10)).unwrap();
            if id == *next {
                return start.elapsed();
            }
        }
    };
    // The floor: the same NOTIFY on a bare connection, heard by a bare LISTEN.
    let mut notifier = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let mut listener = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    listener
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .unwrap();
    let mut one_floor = |next: &mut i64| {
        *next += 1;
        let want = Invalidation::User(UserId(*next)).payload();
        let start = Instant::now();
        notifier
            .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &want])
            .unwrap();
        let mut n = listener.notifications();
        let mut it = n.timeout_iter(Duration::from_secs(10));
        loop {
            use postgres::fallible_iterator::FallibleIterator;
            let note = it.next().unwrap().expect("heard within 10 s");
            if note.payload() == want {
                return start.elapsed();
            }
        }
    };

    report(
        "invalidation/store",
        (0..SAMPLES).map(|_| one_store(&mut next)).collect(),
    );
    report(
        "invalidation/floor_listen",
        (0..SAMPLES).map(|_| one_floor(&mut next)).collect(),
    );

    let mut g = c.benchmark_group("invalidation_latency");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("floor_listen", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| one_floor(&mut next)).sum())
    });
    g.bench_function("store_to_other_store", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| one_store(&mut next)).sum())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
