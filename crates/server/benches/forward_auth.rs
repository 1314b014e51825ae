//! Forward-auth throughput under load, each figure against its floor in the same run,
//! with the same load tool: `wrk -t2 -c64 -d10s` (Debian's `wrk`).
//!
//! * floors: an axum handler that only parses the cookie and looks it up in a map,
//!   answering one identity header; and the same answering the headers ssogate answers
//!   (copied from one of its answers, as `'static` bytes), the least work for the same
//!   bytes;
//! * beside each figure served by this process, the CPU time the process spent per
//!   answer, and wrk's (it runs in its own): steadier than requests/s, which also moves
//!   with how the two cores are shared with wrk — a bigger answer costs wrk more to read,
//!   and that is taken from the server's share;
//! * `/auth/verify` with a session cookie on SQLite and (with `TEST_SSOGATE_POSTGRES_URL`)
//!   on PostgreSQL — target ≥ 0.85 of the floor, and PostgreSQL's p99 ≤ 1.5× the floor's;
//! * the same on SQLite while 20 clients keep sending wrong passwords to `POST /login`
//!   (Argon2 each) — target: p99 ≤ 1.5× the p99 without them;
//! * `/auth/verify` with a provider's RS256 access token (bearer) against Apache httpd +
//!   mod_auth_openidc validating the same token (when `apache2` and the module are
//!   installed: Debian `apache2-bin`, `libapache2-mod-auth-openidc`) — target ≥ 6×.
//!
//! `cargo bench -p ssogate-server --bench forward_auth`. Figures are printed; nothing
//! here asserts a time. Set `BENCH_SECONDS` to shorten the runs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

// The allocator the `ssogate` binary ships with, so the figures are the product's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use axum::Router;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::routing::get;
use serde_json::{Value, json};
use ssogate_core::claims::ClaimSources;
use ssogate_server::{App, AppOptions};
use ssogate_store::sessions::{SessionLifetimes, SessionOrigin};
use ssogate_store::{Directory, RequestContext};
use ssogate_testkit::FakeProvider;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

#[path = "../../../benches/wrk.rs"]
mod wrk_output;
use wrk_output::Load;

fn seconds() -> String {
    std::env::var("BENCH_SECONDS").unwrap_or_else(|_| "10".into())
}

/// Runs wrk and reads requests/s and the 99th percentile; panics if any answer was not 2xx.
fn wrk(url: &str, header: &str) -> Load {
    let cpu_before = wrk_output::process_cpu_seconds();
    let load_before = wrk_output::children_cpu_seconds();
    let out = Command::new("wrk")
        .args([
            "-t2",
            "-c64",
            &format!("-d{}s", seconds()),
            "--latency",
            "-H",
            header,
            url,
        ])
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut load = wrk_output::parse(&text);
    assert!(!load.refused, "some answers were refused:\n{text}");
    if let (Some(a), Some(b)) = (cpu_before, wrk_output::process_cpu_seconds())
        && load.requests > 0.0
    {
        load.cpu_us = Some((b - a) * 1e6 / load.requests);
    }
    if let (Some(a), Some(b)) = (load_before, wrk_output::children_cpu_seconds())
        && load.requests > 0.0
    {
        load.load_cpu_us = Some((b - a) * 1e6 / load.requests);
    }
    load
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

use axum::response::IntoResponse;

/// A floor: cookie parse + one map lookup, answering `answer`'s headers.
async fn floor(secret: &str, answer: Vec<(HeaderName, HeaderValue)>) -> String {
    let mut map = HashMap::new();
    map.insert(secret.to_owned(), answer);
    let map = Arc::new(map);
    serve(Router::new().route(
        "/verify",
        get(move |headers: HeaderMap| {
            let map = map.clone();
            async move {
                let found = headers
                    .get("cookie")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|c| {
                        c.split(';')
                            .find_map(|p| p.trim().strip_prefix("ssogate_session="))
                    })
                    .and_then(|s| map.get(s));
                match found {
                    Some(answer) => {
                        let mut res = StatusCode::OK.into_response();
                        for (n, v) in answer {
                            res.headers_mut().insert(n.clone(), v.clone());
                        }
                        res
                    }
                    None => StatusCode::UNAUTHORIZED.into_response(),
                }
            }
        }),
    ))
    .await
}

/// The headers of ssogate's answer for `cookie`, but those hyper writes itself.
async fn answer_of(url: &str, cookie: &str) -> Vec<(HeaderName, HeaderValue)> {
    let http = ssogate_oidc::http::client("bench", &Default::default()).unwrap();
    let (name, value) = cookie.split_once(": ").unwrap();
    let r = http.get(url).header(name, value).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.headers()
        .iter()
        .filter(|(n, _)| *n != axum::http::header::DATE && *n != axum::http::header::CONTENT_LENGTH)
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

struct Instance {
    url: String,
    secret: String,
    directory: Arc<dyn Directory>,
}

/// A server on `database_url`, with alice's account and a session for her.
async fn ssogate(idp: &FakeProvider, dir: &Path, database_url: &str) -> Instance {
    let path = dir.join(format!("{}.toml", database_url.len()));
    std::fs::write(
        &path,
        format!(
            r#"database_url = "{database_url}"
[catalogue]
permissions = [{{ name = "read_books", required = true }}, {{ name = "download_books" }}]
libraries = [{{ name = "main" }}]
groups = [{{ name = "Readers", external_ids = ["readers"] }}, {{ name = "Admins", external_ids = ["admins"] }}]
[server]
local_login = true
[server.rate_limit]
password = 0
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
bearer = "jwt"
bearer_audience = "api://books"
"#,
            idp.issuer,
            idp.client_id(),
            idp.client_secret()
        ),
    )
    .unwrap();
    let config = ssogate_config::load_with_env(Some(&path), &[]).unwrap();
    let engine = config.engine("fake").unwrap();
    let (directory, secret) =
        std::thread::scope(|s| {
            s.spawn(|| {
            let d: Arc<dyn Directory> = match &config.database {
                ssogate_config::Database::Sqlite(p) => {
                    Arc::new(ssogate_store::SqliteStore::open(p).unwrap())
                }
                ssogate_config::Database::Postgres(u) => {
                    Arc::new(ssogate_store::PgStore::open(u).unwrap())
                }
            };
            d.sync_catalogue(&config.catalogue).unwrap();
            let claims = json!({"iss": idp.issuer, "sub": "alice", "preferred_username": "alice",
                "email": "alice@example.org", "email_verified": true, "name": "Alice Liddell",
                "groups": ["readers", "admins"]});
            let result = d
                .login(engine, ClaimSources::id_token(claims), RequestContext::now())
                .unwrap();
            d.set_password(result.user_id.unwrap(), Some("correct horse battery staple"), 0)
                .unwrap();
            let secret = d
                .create_session(
                    result.user_id.unwrap(),
                    &SessionOrigin::default(),
                    RequestContext::now().now,
                    SessionLifetimes::default(),
                )
                .unwrap();
            (d, secret)
        })
        .join()
        .unwrap()
        });
    let app = App::new(config, directory.clone(), AppOptions::default()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(ssogate_server::serve(app, listener, std::future::pending()));
    Instance {
        url,
        secret: secret.expose().to_owned(),
        directory,
    }
}

fn postgres_database() -> Option<String> {
    let base = std::env::var("TEST_SSOGATE_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    let name = format!("bench_{}", std::process::id());
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut admin = postgres::Client::connect(&base, postgres::NoTls).unwrap();
            admin
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .unwrap();
        })
        .join()
        .unwrap()
    });
    let (head, _) = base.rsplit_once('/').unwrap();
    Some(format!("{head}/{name}"))
}

/// Apache httpd + mod_auth_openidc accepting the provider's JWT access tokens, if
/// installed; returns its URL and what stops it.
fn apache(dir: &Path, key_file: &str) -> Option<(String, std::process::Child)> {
    let module = "/usr/lib/apache2/modules/mod_auth_openidc.so";
    let httpd = "/usr/sbin/apache2";
    if !Path::new(module).exists() || !Path::new(httpd).exists() {
        println!(
            "(skipping the mod_auth_openidc comparison: install Debian apache2-bin and libapache2-mod-auth-openidc)"
        );
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let root = dir.join("apache");
    std::fs::create_dir_all(root.join("htdocs")).unwrap();
    std::fs::write(root.join("htdocs/api"), "ok\n").unwrap();
    let m = "/usr/lib/apache2/modules";
    let conf = format!(
        r#"ServerRoot "{root}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{root}/httpd.pid"
ErrorLog "{root}/error.log"
LogLevel error
LoadModule mpm_event_module {m}/mod_mpm_event.so
LoadModule authn_core_module {m}/mod_authn_core.so
LoadModule authz_core_module {m}/mod_authz_core.so
LoadModule authz_user_module {m}/mod_authz_user.so
LoadModule auth_openidc_module {module}
ServerLimit 2
ThreadsPerChild 64
MaxRequestWorkers 128
DocumentRoot "{root}/htdocs"
OIDCCryptoPassphrase bench-only-passphrase-0123456789
OIDCOAuthVerifyCertFiles k1#{key_file}
OIDCOAuthRemoteUserClaim sub
<Location /api>
  AuthType oauth20
  Require valid-user
</Location>
"#,
        root = root.display()
    );
    let conf_path = root.join("httpd.conf");
    std::fs::write(&conf_path, conf).unwrap();
    // A process group of its own, so it can be stopped with its workers (signalled
    // alone, the parent left them running).
    let child = {
        use std::os::unix::process::CommandExt as _;
        Command::new(httpd)
            .args(["-f", conf_path.to_str().unwrap(), "-DFOREGROUND"])
            .env("APACHE_RUN_DIR", &root)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .ok()?
    };
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some((format!("http://127.0.0.1:{port}"), child));
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    println!(
        "(apache did not start: {})",
        std::fs::read_to_string(root.join("error.log")).unwrap_or_default()
    );
    None
}

/// A throwaway certificate carrying `public_pem` (signed by a throwaway key: only the
/// public key inside matters to mod_auth_openidc).
fn certificate_for(dir: &Path, public_pem: &str) -> Option<String> {
    let pubkey = dir.join("k1.pub.pem");
    let signer = dir.join("signer.key");
    let cert = dir.join("k1.crt");
    std::fs::write(&pubkey, public_pem).ok()?;
    let ok = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&signer)
        .output()
        .ok()?
        .status
        .success()
        && Command::new("openssl")
            .args(["x509", "-new", "-subj", "/CN=k1", "-days", "2", "-key"])
            .arg(&signer)
            .arg("-force_pubkey")
            .arg(&pubkey)
            .arg("-out")
            .arg(&cert)
            .output()
            .ok()?
            .status
            .success();
    if !ok {
        println!(
            "(skipping the mod_auth_openidc comparison: openssl could not make the certificate)"
        );
        return None;
    }
    Some(cert.display().to_string())
}

/// One client guessing passwords until `stop`: a wrong password per request, each
/// verified with Argon2 by the server.
async fn guess(
    base: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
    attempts: Arc<std::sync::atomic::AtomicU64>,
) {
    // The relying party's client: rustls with aws-lc-rs, no redirects followed.
    // An attacker waits as long as the answer takes (ssogate may hold a check back while
    // the machine is busy).
    let patient = ssogate_oidc::ProtocolSettings {
        http_timeout_seconds: 600,
        ..Default::default()
    };
    let http = ssogate_oidc::http::client("bench", &patient).unwrap();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let r = http
            .post(format!("{base}/login"))
            .header(
                "cookie",
                "ssogate_csrf=bench-csrf-token-bench-csrf-token-0123",
            )
            .form(&[
                ("username", "alice"),
                ("password", "not the password"),
                ("csrf", "bench-csrf-token-bench-csrf-token-0123"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "a guess was not checked"
        );
        attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

fn line(name: &str, l: &Load, floor: Option<(&Load, f64, &str)>) {
    let cpu = match (l.cpu_us, l.load_cpu_us) {
        (Some(us), Some(wrk)) => format!("  [server CPU {us:.2}, wrk {wrk:.2} µs/answer]"),
        (Some(us), None) => format!("  [server CPU {us:.2} µs/answer]"),
        _ => String::new(),
    };
    match floor {
        Some((f, target, of)) => {
            let ratio = l.rps / f.rps;
            println!(
                "{name:<44} {:>9.0} req/s  p99 {:>6.2} ms  {ratio:>5.2}× {of}  (target ≥ {target}: {}){cpu}",
                l.rps,
                l.p99_ms,
                if ratio >= target { "met" } else { "NOT met" }
            );
        }
        None => println!(
            "{name:<44} {:>9.0} req/s  p99 {:>6.2} ms{cpu}",
            l.rps, l.p99_ms
        ),
    }
}

fn main() {
    if Command::new("wrk").arg("--version").output().is_err() {
        println!("skipping: wrk is not installed (Debian package wrk)");
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let idp = FakeProvider::start().await;
        let dir = tempfile::tempdir().unwrap();
        println!("forward-auth, wrk -t2 -c64 -d{}s, server and wrk on this machine's cores", seconds());

        let sqlite = ssogate(&idp, dir.path(), &format!("sqlite://{}", dir.path().join("b.db").display())).await;
        let cookie = format!("Cookie: ssogate_session={}", sqlite.secret);
        // Two floors: the least a forward-auth answer can be (one identity header), and
        // the least work that answers what ssogate answers (its headers, copied from one
        // of its answers) — the difference between them is the answer's size alone.
        let one = vec![(HeaderName::from_static("remote-user"), HeaderValue::from_static("alice"))];
        let f = wrk(&format!("{}/verify", floor(&sqlite.secret, one).await), &cookie);
        let answer = answer_of(&format!("{}/auth/verify", sqlite.url), &cookie).await;
        // As `'static` bytes: cloned per answer at no cost, so this floor pays nothing
        // for sharing them between cores (bytes copied from a response are refcounted,
        // and that count moving between the cores cost the floor 3–10%).
        let answer: Vec<(HeaderName, HeaderValue)> = answer
            .iter()
            .map(|(n, v)| {
                let n: &'static str = Box::leak(n.as_str().to_owned().into_boxed_str());
                let v: &'static str = Box::leak(v.to_str().unwrap().to_owned().into_boxed_str());
                (HeaderName::from_static(n), HeaderValue::from_static(v))
            })
            .collect();
        let same = format!("floor answering ssogate's {} headers (axum)", answer.len());
        let fs = wrk(&format!("{}/verify", floor(&sqlite.secret, answer).await), &cookie);
        let s = wrk(&format!("{}/auth/verify", sqlite.url), &cookie);
        line("floor: cookie parse + map lookup (axum)", &f, None);
        line(&same, &fs, None);
        line("ssogate /auth/verify, session, SQLite", &s, Some((&f, 0.85, "floor")));
        line("", &s, Some((&fs, 0.85, "same-answer floor")));

        // The same while 20 clients send wrong passwords as fast as they are answered.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let attempts = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let guessers: Vec<_> = (0..20)
            .map(|_| tokio::spawn(guess(sqlite.url.clone(), stop.clone(), attempts.clone())))
            .collect();
        let url = format!("{}/auth/verify", sqlite.url);
        let contended = tokio::task::spawn_blocking(move || wrk(&url, &cookie)).await.unwrap();
        let during = attempts.load(std::sync::atomic::Ordering::Relaxed);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for g in guessers {
            g.await.unwrap();
        }
        let ratio = contended.p99_ms / s.p99_ms;
        println!(
            "{:<44} {:>9.0} req/s  p99 {:>6.2} ms  {ratio:>5.2}× the p99 without ({during} wrong passwords answered under the load, {} after it; target ≤ 1.5: {})",
            "  … with 20 clients guessing passwords",
            contended.rps,
            contended.p99_ms,
            attempts.load(std::sync::atomic::Ordering::Relaxed) - during,
            if ratio <= 1.5 { "met" } else { "NOT met" }
        );

        if let Some(url) = postgres_database() {
            let pg = ssogate(&idp, dir.path(), &url).await;
            let cookie = format!("Cookie: ssogate_session={}", pg.secret);
            let p = wrk(&format!("{}/auth/verify", pg.url), &cookie);
            line("ssogate /auth/verify, session, PostgreSQL", &p, Some((&f, 0.85, "floor")));
            line("", &p, Some((&fs, 0.85, "same-answer floor")));
            let tail = p.p99_ms / f.p99_ms;
            println!(
                "{:<44} p99 {:>5.2}× the floor's  (target ≤ 1.5: {})",
                "",
                tail,
                if tail <= 1.5 { "met" } else { "NOT met" }
            );
            drop(pg.directory);
        } else {
            println!("(skipping PostgreSQL: set TEST_SSOGATE_POSTGRES_URL, e.g. from scripts/postgres-test-server)");
        }

        // Bearer tokens: the provider's RS256 JWT access token, as an API client sends it.
        let mut claims = idp.access_claims("alice", "api://books");
        claims["exp"] = Value::from(idp.now() + 3600);
        let token = idp.sign(json!({"alg": "RS256", "typ": "at+jwt", "kid": "k1"}), &claims);
        let bearer = format!("Authorization: Bearer {token}");
        let b = wrk(&format!("{}/auth/verify", sqlite.url), &bearer);
        // mod_auth_openidc fetches key sets only over https; give it the same RSA key
        // as an X.509 certificate file instead (made with openssl, the key forced in).
        let key_file = certificate_for(dir.path(), &idp.signer().public_pem());
        match key_file.and_then(|k| apache(dir.path(), &k)) {
            Some((url, mut child)) => {
                let mut a = wrk(&format!("{url}/api"), &bearer);
                // Apache runs in its own processes: this one's CPU says nothing of it.
                a.cpu_us = None;
                // The group we started, parent and workers (its id is the parent's pid).
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .status();
                let _ = child.wait();
                line("Apache httpd + mod_auth_openidc, bearer RS256", &a, None);
                line("ssogate /auth/verify, bearer RS256 (cached)", &b, Some((&a, 6.0, "Apache")));
            }
            None => line("ssogate /auth/verify, bearer RS256 (cached)", &b, None),
        }
        drop(sqlite.directory);
    });
}
