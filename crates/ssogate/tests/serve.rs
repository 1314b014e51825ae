//! `ssogate demo` and `ssogate serve` as processes: the demo works from a clean
//! directory, and a full login leaves no secret in the logs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A child process killed (by its own PID) when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads the child's stdout until a line contains `marker`; returns that line.
fn wait_for_line(child: &mut Child, marker: &str) -> String {
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("the process ended before printing {marker:?}"))
            .unwrap();
        if line.contains(marker) {
            // Keep draining so the child never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines.by_ref() {});
            return line;
        }
    }
}

/// A browser that keeps cookies per host:port and follows no redirects itself.
struct Browser {
    http: reqwest::Client,
    jar: BTreeMap<String, BTreeMap<String, String>>,
}

struct Page {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Browser {
    fn new() -> Self {
        Browser {
            http: ssogate_oidc::http::client("test", &Default::default()).unwrap(),
            jar: BTreeMap::new(),
        }
    }

    async fn go(&mut self, method: &str, url: &str, form: Option<&[(&str, &str)]>) -> Page {
        let u = url::Url::parse(url).unwrap();
        let host = format!("{}:{}", u.host_str().unwrap(), u.port().unwrap_or(80));
        let mut req = if method == "POST" {
            self.http.post(url)
        } else {
            self.http.get(url)
        };
        req = req.header("accept", "text/html");
        if let Some(form) = form {
            req = req
                .header("content-type", "application/x-www-form-urlencoded")
                .body(
                    url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(form)
                        .finish(),
                );
        }
        if let Some(c) = self.jar.get(&host) {
            let v = c
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            req = req.header("cookie", v);
        }
        let res = req.send().await.unwrap();
        let jar = self.jar.entry(host).or_default();
        for c in res.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap();
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                jar.remove(k);
            } else {
                jar.insert(k.into(), v.into());
            }
        }
        let status = res.status().as_u16();
        let location = res
            .headers()
            .get("location")
            .map(|l| u.join(l.to_str().unwrap()).unwrap().to_string());
        Page {
            status,
            location,
            body: res.text().await.unwrap(),
        }
    }

    /// GETs and follows redirects until a page answers.
    async fn follow(&mut self, url: &str) -> (String, Page) {
        let mut url = url.to_owned();
        for _ in 0..10 {
            let p = self.go("GET", &url, None).await;
            match (&p.location, p.status) {
                (Some(l), 301..=303) => url = l.clone(),
                _ => return (url, p),
            }
        }
        panic!("too many redirects");
    }
}

fn input(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body.find(&marker).unwrap() + marker.len();
    body[start..start + body[start..].find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn demo_signs_a_sample_person_in_and_shows_the_headers() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ssogate"))
        .args(["demo", "--listen", "127.0.0.1:0", "--dir"])
        .arg(dir.path())
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let line = wait_for_line(&mut child, "Open http://");
    let _running = Running(child);
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    let mut b = Browser::new();
    // Single provider, no local login: the login page goes straight to the provider.
    let (at, page) = b.follow(&url).await;
    assert!(at.contains("/authorize?"), "{at}");
    assert!(page.body.contains("Development provider") && page.body.contains("Alice Liddell"));
    let request = input(&page.body, "request");
    let idp = at.split("/authorize").next().unwrap().to_owned();
    let p = b
        .go(
            "POST",
            &format!("{idp}/authorize"),
            Some(&[("request", &request), ("person", "dev-alice")]),
        )
        .await;
    let (at, page) = b.follow(p.location.as_deref().unwrap()).await;
    assert!(at.ends_with("/demo/whoami"), "{at}");
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("<code>Remote-User</code></th><td><code>alice</code>"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("manage_library"),
        "librarians get the rule's grants"
    );
    assert!(dir.path().join("ssogate.db").exists());
}

#[test]
fn the_dev_provider_is_not_part_of_serve() {
    let out = Command::new(env!("CARGO_BIN_EXE_ssogate"))
        .args(["demo", "--listen", "0.0.0.0:0"])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback only"));
    let help = Command::new(env!("CARGO_BIN_EXE_ssogate"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&help.stdout).contains("dev"),
        "serve has no dev provider switch"
    );
}

/// `ssogate serve` on a port free at the time, with the configuration `config_for(port)`
/// written to `dir/ssogate.toml`, logging to `dir/stderr.log`, once it listens. A port
/// taken between being found free and being bound (tests run in parallel) is tried
/// again with another.
fn serve_on_a_free_port(
    dir: &std::path::Path,
    config_for: impl Fn(u16) -> String,
    level: &str,
) -> (Running, u16, std::path::PathBuf, std::path::PathBuf) {
    let config = dir.join("ssogate.toml");
    let log = dir.join("stderr.log");
    for _ in 0..5 {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        std::fs::write(&config, config_for(port)).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_ssogate"))
            .args(["serve", "--config"])
            .arg(&config)
            .env_clear()
            .env("SSOGATE_LOG", level)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_for_line(&mut child, "ssogate listening on")
        }))
        .is_ok();
        if started {
            return (Running(child), port, config, log);
        }
        let _ = child.kill();
        let _ = child.wait();
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            text.contains("Address already in use"),
            "serve did not start: {text}"
        );
    }
    panic!("no free port to serve on after 5 tries");
}

/// Asks `url` until it answers `want` (a change made by another process arrives within
/// a second); the last status seen.
async fn status_becomes(b: &mut Browser, url: &str, want: u16) -> u16 {
    let mut last = 0;
    for _ in 0..50 {
        last = b.go("GET", url, None).await.status;
        if last == want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    last
}

#[tokio::test]
async fn a_running_server_on_sqlite_follows_the_cli_at_once() {
    let idp = ssogate_testkit::FakeProvider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let (_running, port, config, _) = serve_on_a_free_port(
        dir.path(),
        |port| {
            format!(
                "database_url = \"sqlite://{}\"\nbase_url = \"http://127.0.0.1:{port}\"\n[server]\nbind = \"127.0.0.1:{port}\"\n[provisioning]\nauto_provision = true\n",
                db.display(),
            )
        },
        "info",
    );
    let base = format!("http://127.0.0.1:{port}");
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ssogate"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .env_clear()
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let mut b = Browser::new();
    let start = format!("{base}/auth/partner/start");
    assert_eq!(b.go("GET", &start, None).await.status, 404);
    // A provider added with the CLI is served without a restart.
    let secret = dir.path().join("secret");
    std::fs::write(&secret, idp.client_secret()).unwrap();
    cli(&[
        "provider",
        "add",
        "partner",
        "--issuer",
        &idp.issuer,
        "--client-id",
        &idp.client_id(),
        "--client-secret-file",
        secret.to_str().unwrap(),
    ]);
    assert_eq!(status_becomes(&mut b, &start, 302).await, 302);
    let s = b.go("GET", &start, None).await;
    let back = idp.authorize(&url::Url::parse(s.location.as_deref().unwrap()).unwrap());
    let done = b.go("GET", back.as_str(), None).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let verify = format!("{base}/auth/verify?redirect=false");
    assert_eq!(b.go("GET", &verify, None).await.status, 200);
    // Disabling the account with the CLI ends its session on the server.
    cli(&["user", "disable", "alice"]);
    assert_eq!(status_becomes(&mut b, &verify, 401).await, 401);
}

#[tokio::test]
async fn a_full_login_leaves_no_secret_in_the_logs() {
    let idp = ssogate_testkit::FakeProvider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let (running, port, _config, log) = serve_on_a_free_port(
        dir.path(),
        |port| {
            format!(
                "database_url = \"sqlite://{}\"\nbase_url = \"http://127.0.0.1:{port}\"\n[server]\nbind = \"127.0.0.1:{port}\"\nlocal_login = true\n[providers.fake]\nissuer = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\n",
                db.display(),
                idp.issuer,
                idp.client_id(),
                idp.client_secret()
            )
        },
        "trace",
    );
    let base = format!("http://127.0.0.1:{port}");

    let mut b = Browser::new();
    let start = b.go("GET", &format!("{base}/auth/fake/start"), None).await;
    let auth = url::Url::parse(start.location.as_deref().unwrap()).unwrap();
    let back = idp.authorize(&auth);
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let state = back
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let done = b.go("GET", back.as_str(), None).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let session = b.jar[&format!("127.0.0.1:{port}")]["ssogate_session"].clone();
    assert_eq!(
        b.go("GET", &format!("{base}/auth/verify"), None)
            .await
            .status,
        200
    );
    // A password typed at the login form (wrong, for an SSO-only account).
    let form = b.go("GET", &format!("{base}/login?direct=1"), None).await;
    let csrf = input(&form.body, "csrf");
    let password = "correct-horse-battery-staple-7431";
    let refused = b
        .go(
            "POST",
            &format!("{base}/login"),
            Some(&[
                ("username", "alice"),
                ("password", password),
                ("csrf", &csrf),
            ]),
        )
        .await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    drop(running);

    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        logs.contains("ssogate is listening"),
        "the log was written: {logs}"
    );
    // Each request's lines carry its id, method and path (never its query).
    assert!(
        logs.contains("request{id=") && logs.contains("path=/auth/fake/callback"),
        "request spans in the log:\n{logs}"
    );
    // Regression: a log file got ANSI colour codes; only a terminal gets them.
    assert!(
        !logs.contains('\u{1b}'),
        "colour codes in a log file:\n{logs}"
    );
    let nonce = auth
        .query_pairs()
        .find(|(k, _)| k == "nonce")
        .unwrap()
        .1
        .into_owned();
    for (what, secret) in [
        ("client secret", idp.client_secret()),
        ("authorization code", code),
        ("state", state),
        ("nonce", nonce),
        ("session cookie", session),
        ("password", password.to_owned()),
    ] {
        assert!(!logs.contains(&secret), "the {what} is in the log:\n{logs}");
    }
    // Tokens the provider issued: any JWT-looking string at all.
    assert!(!logs.contains("eyJ"), "a JWT is in the log:\n{logs}");
}
