//! Callback handling time: `GET /auth/{slug}/callback` from request to answer, for
//! first logins (the account is provisioned) and returning ones, on SQLite, one at a
//! time. The in-process fake provider answers the code exchange on loopback, so the
//! figures include its time and are an upper bound on ssogate's own. Target: p99 under
//! 5 ms. `cargo bench -p ssogate-server --bench callback`; `BENCH_LOGINS` (default
//! 1000) sets the count. Figures are printed; nothing asserts a time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use ssogate_server::{App, AppOptions};
use ssogate_store::prelude::*;
use ssogate_testkit::FakeProvider;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(name: &str, mut times: Vec<Duration>) {
    times.sort();
    let p99 = percentile(&times, 0.99);
    println!(
        "{name:<34} n={:<5} p50 {:>6.2} ms  p90 {:>6.2} ms  p99 {:>6.2} ms  max {:>6.2} ms  (target p99 < 5 ms: {})",
        times.len(),
        percentile(&times, 0.5),
        percentile(&times, 0.9),
        p99,
        times.last().unwrap().as_secs_f64() * 1000.0,
        if p99 < 5.0 { "met" } else { "NOT met" }
    );
}

/// One sign-in; returns the callback's time.
async fn one(http: &reqwest::Client, base: &str, idp: &FakeProvider, subject: &str) -> Duration {
    let r = http
        .get(format!("{base}/auth/fake/start"))
        .send()
        .await
        .unwrap();
    let binding = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("ssogate_login_"))
        .unwrap();
    let auth = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    idp.login_as(subject);
    let back = idp.authorize(&auth);
    let started = Instant::now();
    let r = http
        .get(back.as_str())
        .header("cookie", binding)
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    took
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n: usize = std::env::var("BENCH_LOGINS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let idp = FakeProvider::start().await;
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            format!(
                r#"database_url = "sqlite://{}"
base_url = "{base}"
[server.rate_limit]
login = 0
[catalogue]
permissions = [{{ name = "read_books", required = true }}, {{ name = "download_books" }}]
libraries = [{{ name = "main" }}]
groups = [{{ name = "Readers", external_ids = ["readers"] }}, {{ name = "Admins", external_ids = ["admins"] }}]
[provisioning]
auto_provision = true
default_permissions = ["download_books"]
default_libraries = ["main"]
[provisioning.groups]
enabled = true
[providers.fake]
issuer = "{}"
client_id = "{}"
client_secret = "{}"
"#,
                dir.path().join("c.db").display(),
                idp.issuer,
                idp.client_id(),
                idp.client_secret()
            ),
        )
        .unwrap();
        let config = ssogate_config::load_with_env(Some(&path), &[]).unwrap();
        let store = ssogate_store::SqliteStore::open(&dir.path().join("c.db")).unwrap();
        store.sync_catalogue(&config.catalogue).unwrap();
        let app = App::new(config, Arc::new(store), AppOptions::default()).unwrap();
        tokio::spawn(ssogate_server::serve(app, listener, std::future::pending()));
        let http = ssogate_oidc::http::client("bench", &Default::default()).unwrap();
        for i in 0..n.min(1000) {
            idp.set_user(
                &format!("p{i}"),
                serde_json::json!({"preferred_username": format!("p{i}"), "email": format!("p{i}@example.org"),
                    "email_verified": true, "name": format!("Person {i}"), "groups": ["readers"]}),
            );
        }
        // Warm up (discovery, keys, connections).
        one(&http, &base, &idp, "alice").await;
        let mut first = Vec::with_capacity(n);
        for i in 0..n {
            first.push(one(&http, &base, &idp, &format!("p{}", i % 1000)).await);
        }
        let mut again = Vec::with_capacity(n);
        for i in 0..n {
            again.push(one(&http, &base, &idp, &format!("p{}", i % 1000)).await);
        }
        println!("callback handling, SQLite, one sign-in at a time (includes the fake provider's code exchange)");
        report("first sign-ins (provisioning)", first);
        report("returning sign-ins", again);
    });
}
