//! Against the real `oidc-provider` (panva, OpenID Certified) from npm, started here on
//! 127.0.0.1. `scripts/test` installs it (pinned in `tests/oidc-provider/package-lock.json`)
//! and sets `TEST_SSOGATE_REQUIRE_OIDC_PROVIDER=1`; plain `cargo test` skips these with a
//! printed reason when Node or the package is missing.

use super::{Jtis, States, params};
use axum::Router;
use axum::extract::{Form, State};
use axum::routing::post;
use ssogate_oidc::settings::{ProtocolSettings, TokenAuthMethod, UserinfoMode};
use ssogate_oidc::{
    ClientSecret, Clock, ManualClock, OidcError, Provider, ProviderSettings, SystemClock,
};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use url::Url;

const REDIRECT: &str = "http://127.0.0.1:9/auth/op/callback";
const POST_LOGOUT: &str = "http://127.0.0.1:9/signed-out";

fn provider_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc-provider");
    let required = std::env::var("TEST_SSOGATE_REQUIRE_OIDC_PROVIDER").is_ok_and(|v| v == "1");
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let installed = dir.join("node_modules/oidc-provider/package.json").exists();
    if node && installed {
        return Some(dir);
    }
    let why = if node {
        format!(
            "oidc-provider is not installed (run `npm ci` in {})",
            dir.display()
        )
    } else {
        "Node.js is not on PATH".to_owned()
    };
    assert!(!required, "TEST_SSOGATE_REQUIRE_OIDC_PROVIDER=1 but {why}");
    eprintln!("skipping the real-provider test: {why}; scripts/test installs it");
    None
}

/// A running oidc-provider; killed (by its PID, which we started) when dropped.
struct Op {
    child: Child,
    issuer: String,
}

impl Drop for Op {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_op(dir: &Path, port: u16, keys: &str, keys_dir: &Path, backchannel: &str) -> Op {
    let mut child = Command::new("node")
        .arg(dir.join("server.mjs"))
        .current_dir(dir)
        .env("OP_PORT", port.to_string())
        .env("OP_REDIRECT_URI", REDIRECT)
        .env("OP_POST_LOGOUT_URI", POST_LOGOUT)
        .env("OP_BACKCHANNEL_URI", backchannel)
        .env("OP_KEYS", keys)
        .env("OP_KEYS_DIR", keys_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start node");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let issuer = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(i) = line.strip_prefix("listening ") {
                    break i.to_owned();
                }
            }
            _ => panic!("oidc-provider exited before listening"),
        }
    };
    // Keep draining its stdout so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Op { child, issuer }
}

/// Receives back-channel logout requests like the server will.
async fn backchannel_receiver() -> (String, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel::<String>();
    let app = Router::new()
        .route(
            "/bc",
            post(
                |State(tx): State<mpsc::UnboundedSender<String>>,
                 Form(f): Form<HashMap<String, String>>| async move {
                    if let Some(t) = f.get("logout_token") {
                        let _ = tx.send(t.clone());
                    }
                    "ok"
                },
            ),
        )
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/bc", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

/// Just enough of a browser for the provider's development login and consent pages.
struct Browser {
    http: reqwest::Client,
    cookies: HashMap<String, String>,
}

fn attr<'h>(html: &'h str, after: &str, name: &str) -> Option<&'h str> {
    let start = html.find(after)?;
    let rest = &html[start..];
    let at = rest.find(&format!("{name}=\""))? + name.len() + 2;
    let rest = &rest[at..];
    Some(&rest[..rest.find('"')?])
}

impl Browser {
    fn new() -> Self {
        Browser {
            // Redirects off, rustls on aws-lc-rs: the relying party's own client.
            http: ssogate_oidc::http::client("browser", &ProtocolSettings::default()).unwrap(),
            cookies: HashMap::new(),
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> (u16, Option<String>, String) {
        let cookie: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let resp = req
            .header("cookie", cookie.join("; "))
            .send()
            .await
            .unwrap();
        for sc in resp.headers().get_all("set-cookie") {
            let sc = sc.to_str().unwrap();
            let pair = sc.split(';').next().unwrap();
            if let Some((k, v)) = pair.split_once('=') {
                self.cookies.insert(k.trim().into(), v.into());
            }
        }
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        (status, location, resp.text().await.unwrap_or_default())
    }

    /// Follows redirects and fills the provider's forms until it leaves for `stop_at`.
    async fn run(&mut self, start: Url, login: &str, stop_at: &str) -> Url {
        let mut next = self.http.get(start.clone());
        let mut base = start;
        for _ in 0..20 {
            let (status, location, body) = self.send(next).await;
            if let Some(loc) = location {
                let url = base.join(&loc).unwrap();
                if url.as_str().starts_with(stop_at) {
                    return url;
                }
                base = url.clone();
                next = self.http.get(url);
                continue;
            }
            assert_eq!(status, 200, "unexpected page: {body}");
            let action = attr(&body, "<form", "action").expect("a form");
            let url = base.join(action).unwrap();
            let mut form: Vec<(String, String)> = Vec::new();
            if body.contains("name=\"login\"") {
                form.push(("prompt".into(), "login".into()));
                form.push(("login".into(), login.into()));
                form.push(("password".into(), "any".into()));
            } else if body.contains("name=\"prompt\" value=\"consent\"") {
                form.push(("prompt".into(), "consent".into()));
            } else if let Some(xsrf) = attr(&body, "name=\"xsrf\"", "value") {
                form.push(("xsrf".into(), xsrf.into()));
                form.push(("logout".into(), "yes".into()));
            }
            base = url.clone();
            next = self.http.post(url).form(&form);
        }
        panic!("the provider kept us going round");
    }
}

fn settings(op: &Op, client: &str, protocol: ProtocolSettings) -> ProviderSettings {
    ProviderSettings {
        slug: "op".into(),
        issuer: op.issuer.clone(),
        client_id: client.into(),
        client_secret: Some(ClientSecret::new(format!(
            "{client}-secret-that-is-long-enough-for-hs256-0123456789"
        ))),
        scopes: vec![
            "openid".into(),
            "profile".into(),
            "email".into(),
            "groups".into(),
            "offline_access".into(),
        ],
        redirect_uri: REDIRECT.into(),
        wanted_claims: vec!["email".into(), "groups".into()],
        protocol: ProtocolSettings {
            // Refresh tokens for offline_access need consent asked for explicitly.
            prompt: Some("consent".into()),
            ..protocol
        },
    }
}

async fn login(
    rp: &Provider,
    browser: &mut Browser,
    who: &str,
) -> Result<ssogate_oidc::VerifiedLogin, OidcError> {
    let states = States::new();
    let (url, issued) = states.begin(rp, "/after", None).await?;
    let back = browser.run(url, who, REDIRECT).await;
    states
        .finish(rp, &params(&back), Some(&issued.binding))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_provider_basic_rs256_userinfo_refresh_and_both_logouts() {
    let Some(dir) = provider_dir() else { return };
    let keys = tempfile::tempdir().unwrap();
    let (bc_url, mut bc) = backchannel_receiver().await;
    let op = start_op(&dir, free_port(), "r1:RS256", keys.path(), &bc_url);
    let rp = Provider::new(
        settings(&op, "rs-basic", ProtocolSettings::default()),
        Arc::new(SystemClock),
    )
    .unwrap();
    let mut browser = Browser::new();

    let login = login(&rp, &mut browser, "alice").await.unwrap();
    assert_eq!(login.subject, "alice");
    assert_eq!(login.pending.return_to, "/after");
    // oidc-provider keeps scope claims out of the ID token, so userinfo filled them in.
    assert!(!login.id_token_claims.contains_key("email"));
    let info = login.userinfo.clone().expect("userinfo enrichment");
    assert_eq!(info["email"], "alice@example.org");
    assert_eq!(info["groups"], serde_json::json!(["readers", "admins"]));
    let sid = login.sid.clone().expect("the provider's session id");

    // Refresh.
    let rt = login.tokens.refresh_token.clone().expect("a refresh token");
    let fresh = rp.refresh(&rt, "alice").await.unwrap();
    assert_ne!(fresh.access_token, login.tokens.access_token);

    // RP-initiated logout, which makes the provider send a real back-channel logout token.
    let end = rp
        .end_session_url(
            login.tokens.id_token.as_deref(),
            Some(POST_LOGOUT),
            Some("bye-state"),
        )
        .await
        .unwrap()
        .expect("an end_session_endpoint");
    let landed = browser.run(end, "alice", POST_LOGOUT).await;
    assert!(
        landed
            .query_pairs()
            .any(|(k, v)| k == "state" && v == "bye-state")
    );
    let token = tokio::time::timeout(Duration::from_secs(10), bc.recv())
        .await
        .expect("a back-channel logout within 10 s")
        .unwrap();
    let jti = Jtis::default();
    let req = jti.logout(&rp, &token).await.unwrap();
    assert_eq!(req.sid.as_deref(), Some(sid.as_str()));
    assert_eq!(req.sub.as_deref(), Some("alice"));
    assert_eq!(
        jti.logout(&rp, &token).await.unwrap_err(),
        OidcError::LogoutTokenReplayed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_provider_post_auth_es256() {
    let Some(dir) = provider_dir() else { return };
    let keys = tempfile::tempdir().unwrap();
    let (bc_url, _bc) = backchannel_receiver().await;
    let op = start_op(&dir, free_port(), "r1:RS256,e1:ES256", keys.path(), &bc_url);
    // The provider lists basic and post; this client is registered for post (Authelia's
    // case), so the operator says so. (oidc-provider also accepts basic for such a client,
    // so the fake provider's strict token endpoint is where the wrong method is refused.)
    let p = ProtocolSettings {
        token_auth_method: Some(TokenAuthMethod::ClientSecretPost),
        userinfo: UserinfoMode::Never,
        ..ProtocolSettings::default()
    };
    let rp = Provider::new(settings(&op, "es-post", p), Arc::new(SystemClock)).unwrap();
    let login = login(&rp, &mut Browser::new(), "bob").await.unwrap();
    assert_eq!(login.subject, "bob");
    assert!(login.userinfo.is_none());
    let header = login
        .tokens
        .id_token
        .as_deref()
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .to_owned();
    use base64::Engine as _;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    assert!(String::from_utf8(header).unwrap().contains("\"ES256\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_provider_key_rotation() {
    let Some(dir) = provider_dir() else { return };
    let keys = tempfile::tempdir().unwrap();
    let (bc_url, _bc) = backchannel_receiver().await;
    let port = free_port();
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let p = ProtocolSettings {
        userinfo: UserinfoMode::Never,
        ..ProtocolSettings::default()
    };
    let first = start_op(&dir, port, "old:RS256", keys.path(), &bc_url);
    let rp = Provider::new(settings(&first, "rs-basic", p), clock.clone()).unwrap();
    let old_login = login(&rp, &mut Browser::new(), "alice").await.unwrap();
    let old_token = old_login.tokens.id_token.unwrap();
    drop(first);

    // The provider now signs with a new key and still publishes the old one.
    let second = start_op(&dir, port, "new:RS256,old:RS256", keys.path(), &bc_url);
    clock.advance(31);
    let fetches = rp.jwks_fetches();
    let new_login = login(&rp, &mut Browser::new(), "alice").await.unwrap();
    assert_eq!(
        rp.jwks_fetches(),
        fetches + 1,
        "the unknown kid caused one refetch"
    );
    let new_token = new_login.tokens.id_token.unwrap();
    assert_ne!(new_token.split('.').next(), old_token.split('.').next());
    drop(second);

    // Then the old key is retired: tokens it signed are refused.
    let _third = start_op(&dir, port, "new:RS256", keys.path(), &bc_url);
    rp.invalidate();
    let e = rp
        .validate_id_token(&old_token, Some(&old_login.pending.nonce), None)
        .await
        .unwrap_err();
    assert_eq!(e, OidcError::UnknownKey { kid: "old".into() });
}
