//! ssogate as an OpenID Provider under load, against panva's `oidc-provider` (npm,
//! OpenID Certified, `crates/oidc/tests/oidc-provider`) on the same machine, with the
//! same load tool: `wrk -t2 -c32` with a Lua script that spends one pre-minted
//! authorization code per request (`benches/spend_codes.lua`).
//!
//! * The authorization-code exchange at the token endpoint: `client_secret_basic`, PKCE
//!   S256, an RS256 ID token, an access and a refresh token — ssogate redeeming the code
//!   and writing the tokens in SQLite, oidc-provider in memory. Target: throughput ≥ 3×
//!   oidc-provider's; p99 < 10 ms.
//! * Userinfo with a valid access token, against forward-auth `/auth/verify` with a
//!   session cookie in the same run. Target ≥ 0.5× forward-auth's throughput.
//!
//! `cargo bench -p ssogate-server --bench provider` (needs `wrk` and Node with the
//! test provider's `npm ci`; what is missing is said and skipped). Figures are printed;
//! nothing here asserts a time. `BENCH_SECONDS` shortens the runs (default 5).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

// The allocator the `ssogate` binary ships with, so the figures are the product's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use serde_json::json;
use ssogate_core::claims::ClaimSources;
use ssogate_op::authorize::Authorization;
use ssogate_server::{App, AppOptions};
use ssogate_store::directory::op::NewCode;
use ssogate_store::sessions::{SessionLifetimes, SessionOrigin};
use ssogate_store::{Directory, RequestContext};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

const SECRET: &str = "bench-secret-0123456789abcdef0123456789";
const REDIRECT: &str = "https://app.example.org/cb";
/// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const THREADS: &str = "2";

fn seconds() -> u64 {
    std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

// The CPU figures are forward_auth's; this bench reads throughput and latency.
#[allow(dead_code)]
#[path = "../../../benches/wrk.rs"]
mod wrk_output;
use wrk_output::Load;

/// Runs wrk (with `script`, when given) and reads requests/s, the 99th percentile and
/// whether any answer was refused.
fn wrk(url: &str, script: Option<&Path>, header: Option<&str>, env: &[(&str, &str)]) -> Load {
    let mut cmd = Command::new("wrk");
    let connections = std::env::var("BENCH_CONNECTIONS").unwrap_or_else(|_| "32".into());
    cmd.args([
        "-t",
        THREADS,
        &format!("-c{connections}"),
        &format!("-d{}s", seconds()),
        "--latency",
    ]);
    if let Some(s) = script {
        cmd.arg("-s").arg(s);
    }
    if let Some(h) = header {
        cmd.args(["-H", h]);
    }
    cmd.arg(url).env("WRK_THREADS", THREADS);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if std::env::var_os("BENCH_VERBOSE").is_some() {
        println!("{text}");
    }
    wrk_output::parse(&text)
}

struct Instance {
    url: String,
    session: String,
    directory: Arc<dyn Directory>,
    user: ssogate_core::domain::UserId,
}

/// ssogate on SQLite with one client and alice's account (and a session for her).
async fn ssogate(dir: &Path) -> Instance {
    let path = dir.join("ssogate.toml");
    std::fs::write(
        &path,
        format!(
            r#"database_url = "sqlite://{db}"
base_url = "http://127.0.0.1"
[catalogue]
groups = [{{ name = "Readers" }}]
[clients.bench]
redirect_uris = ["{REDIRECT}"]
secret = "{SECRET}"
scopes = ["openid", "profile", "email", "groups"]
[providers.fake]
issuer = "https://idp.example.org"
client_id = "ssogate"
client_secret = "unused-in-this-bench-0123456789"
"#,
            db = dir.join("ssogate.db").display()
        ),
    )
    .unwrap();
    let config = ssogate_config::load_with_env(Some(&path), &[]).unwrap();
    let engine = config.engine("fake").unwrap();
    let (directory, user, session) = std::thread::scope(|s| {
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
            let claims = json!({"iss": "https://idp.example.org", "sub": "alice",
                "preferred_username": "alice", "email": "alice@example.org",
                "email_verified": true, "name": "Alice Liddell"});
            let user = d
                .login(
                    engine,
                    ClaimSources::id_token(claims),
                    RequestContext::now(),
                )
                .unwrap()
                .user_id
                .unwrap();
            let session = d
                .create_session(
                    user,
                    &SessionOrigin::default(),
                    RequestContext::now().now,
                    SessionLifetimes::default(),
                )
                .unwrap();
            (d, user, session.expose().to_owned())
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
        session,
        directory,
        user,
    }
}

/// `n` codes for alice and the bench client, kept in the directory as the
/// authorization endpoint keeps them; their values, one per line, in `file`.
fn mint_codes(i: &Instance, n: usize, file: &Path) {
    let now = RequestContext::now().now;
    let grant = Authorization {
        client_id: "bench".into(),
        redirect_uri: REDIRECT.into(),
        scopes: vec!["openid".into()],
        state: None,
        nonce: None,
        code_challenge: Some(CHALLENGE.into()),
        prompt_none: false,
        prompt_login: false,
        max_age: None,
        login_hint: None,
        amr: vec![],
        acr: None,
    };
    let grant_json = serde_json::to_string(&grant).unwrap();
    let mut codes = String::new();
    for _ in 0..n {
        let code = ssogate_op::random_token(32).unwrap();
        i.directory
            .op_put_code(NewCode {
                code_hash: ssogate_op::digest(&code),
                client_id: "bench".into(),
                user_id: i.user,
                grant_json: grant_json.clone(),
                auth_time: now,
                sid: None,
                // Long enough for the run, whatever its length.
                expires_at: now + 3600,
            })
            .unwrap();
        codes.push_str(&code);
        codes.push('\n');
    }
    std::fs::write(file, codes).unwrap();
}

/// oidc-provider minting `n` codes into `file`; `None` (said) when Node or its
/// packages are missing.
fn oidc_provider(dir: &Path, n: usize, file: &Path) -> Option<(String, Child)> {
    let script = root().join("crates/oidc/tests/oidc-provider/server.mjs");
    if !root()
        .join("crates/oidc/tests/oidc-provider/node_modules/oidc-provider")
        .exists()
    {
        println!(
            "(skipping the oidc-provider comparison: run `npm ci` in crates/oidc/tests/oidc-provider, as scripts/test does)"
        );
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let keys = dir.join("op-keys");
    std::fs::create_dir_all(&keys).ok()?;
    let mut child = Command::new("node")
        .arg(script)
        .env("OP_PORT", port.to_string())
        .env("OP_REDIRECT_URI", REDIRECT)
        .env("OP_POST_LOGOUT_URI", "https://app.example.org/")
        .env("OP_BACKCHANNEL_URI", "https://app.example.org/bc")
        .env("OP_KEYS", "k1:RS256")
        .env("OP_KEYS_DIR", &keys)
        .env("OP_MINT_CODES", n.to_string())
        .env("OP_CODES_FILE", file)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .ok()?;
    let stdout = child.stdout.take()?;
    let mut lines = BufReader::new(stdout).lines();
    let issuer = loop {
        match lines.next() {
            Some(Ok(l)) => {
                if let Some(i) = l.strip_prefix("listening ") {
                    break i.to_owned();
                }
            }
            _ => {
                println!("(oidc-provider did not start)");
                let _ = child.kill();
                return None;
            }
        }
    };
    Some((issuer, child))
}

/// The `Authorization: Basic` value of a client.
fn basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

fn report(label: &str, l: &Load) {
    println!(
        "{label}: {:.0} requests/s, p99 {:.2} ms{}",
        l.rps,
        l.p99_ms,
        if l.refused {
            "  (SOME ANSWERS WERE REFUSED: the figure is not valid)"
        } else {
            ""
        }
    );
}

/// RS256 signatures of an ID-token-sized payload per second, one thread per core, with
/// ssogate's own signing key type.
fn rs256_signatures_per_second() -> f64 {
    let key = Arc::new(ssogate_op::keys::SigningKey::generate().unwrap());
    let claims = json!({"iss": "http://127.0.0.1:1", "sub": "1", "aud": "bench",
        "exp": 2_000_000_000, "iat": 1_000_000_000, "auth_time": 1_000_000_000,
        "nonce": "n", "sid": "0123456789abcdef0123456789abcdef", "at_hash": "abcdefghijklmnop"});
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let run = std::time::Duration::from_secs(2);
    let start = std::time::Instant::now();
    let total: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (key, claims) = (key.clone(), claims.clone());
                s.spawn(move || {
                    let mut n = 0u64;
                    while start.elapsed() < run {
                        std::hint::black_box(key.sign(&claims).unwrap());
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    total as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    if Command::new("wrk").arg("--version").output().is_err() {
        println!("provider bench skipped: wrk is not installed (Debian package wrk)");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let script = root().join("benches/spend_codes.lua");
    // Enough codes for a fast run; a thread out of codes stops.
    let n = 12_000 * usize::try_from(seconds()).unwrap_or(5);

    let i = rt.block_on(ssogate(dir.path()));
    let ours = dir.path().join("ours.codes");
    mint_codes(&i, n, &ours);
    let token = format!("{}/oauth2/token", i.url);
    let (b, r, v) = (
        basic("bench", SECRET),
        REDIRECT.to_owned(),
        VERIFIER.to_owned(),
    );
    let env = |file: &Path| {
        vec![
            ("CODES_FILE", file.to_str().unwrap().to_owned()),
            ("AUTHORIZATION", b.clone()),
            ("REDIRECT_URI", r.clone()),
            ("CODE_VERIFIER", v.clone()),
        ]
    };
    let e = env(&ours);
    let e: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // Warm up: the signing key is made at the first exchange (not what is measured).
    rt.block_on(async {
        let http = ssogate_oidc::http::client("bench", &Default::default()).unwrap();
        let _ = http.get(format!("{}/oauth2/jwks", i.url)).send().await;
    });
    let ssogate_token = wrk(&token, Some(&script), None, &e);
    report(
        "token endpoint, code exchange: ssogate (SQLite)",
        &ssogate_token,
    );

    if let Some((issuer, mut child)) = oidc_provider(dir.path(), n, &dir.path().join("op.codes")) {
        let b = basic(
            "rs-basic",
            "rs-basic-secret-that-is-long-enough-for-hs256-0123456789",
        );
        let theirs = dir.path().join("op.codes");
        let e = [
            ("CODES_FILE", theirs.to_str().unwrap().to_owned()),
            ("AUTHORIZATION", b),
            ("REDIRECT_URI", REDIRECT.to_owned()),
            ("CODE_VERIFIER", VERIFIER.to_owned()),
        ];
        let e: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let op = wrk(&format!("{issuer}/token"), Some(&script), None, &e);
        let _ = child.kill();
        let _ = child.wait();
        report("token endpoint, code exchange: oidc-provider", &op);
        let ratio = ssogate_token.rps / op.rps;
        println!(
            "code exchange, ssogate / oidc-provider: {ratio:.2}×  (target ≥ 3×: {})",
            if ratio >= 3.0 { "met" } else { "NOT met" }
        );
        // What the machine allows at all: every exchange signs one RS256 ID token, and
        // that signature alone, on every core with nothing else running, bounds the rate.
        let signs = rs256_signatures_per_second();
        println!(
            "ceiling: RS256 signatures alone on {} threads: {signs:.0}/s = {:.2}× oidc-provider",
            std::thread::available_parallelism().map_or(1, usize::from),
            signs / op.rps
        );
    }
    println!(
        "code exchange p99: {:.2} ms  (target < 10 ms: {})",
        ssogate_token.p99_ms,
        if ssogate_token.p99_ms < 10.0 {
            "met"
        } else {
            "NOT met"
        }
    );

    // Userinfo with one live access token, against forward-auth with a session.
    let code = std::fs::read_to_string(&ours).unwrap();
    let spare = {
        // A code the load left unspent (the file's last), redeemed once here.
        code.lines().last().unwrap().to_owned()
    };
    let access = rt.block_on(async {
        let http = ssogate_oidc::http::client("bench", &Default::default()).unwrap();
        let r = http
            .post(&token)
            .header("authorization", basic("bench", SECRET))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", spare.as_str()),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ])
            .send()
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        v["access_token"].as_str().map(str::to_owned)
    });
    let Some(access) = access else {
        println!("(no access token for the userinfo run: the last code was spent by the load)");
        return;
    };
    let userinfo = wrk(
        &format!("{}/oauth2/userinfo", i.url),
        None,
        Some(&format!("Authorization: Bearer {access}")),
        &[],
    );
    report("userinfo, one access token", &userinfo);
    let verify = wrk(
        &format!("{}/auth/verify", i.url),
        None,
        Some(&format!("Cookie: ssogate_session={}", i.session)),
        &[],
    );
    report("forward-auth /auth/verify, one session", &verify);
    let ratio = userinfo.rps / verify.rps;
    println!(
        "userinfo / forward-auth: {ratio:.2}×  (target ≥ 0.5×: {})",
        if ratio >= 0.5 { "met" } else { "NOT met" }
    );
}
