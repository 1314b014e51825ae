//! Real components started by the tests themselves on 127.0.0.1 — oidc-provider (npm),
//! ChromeDriver + headless Chromium, nginx — each stopped by the PID we started.
//! `scripts/test` installs them and sets `TEST_SSOGATE_REQUIRE_*=1`; plain `cargo test`
//! skips with a printed reason when one is missing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A child process, killed by its PID when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The ids of the processes whose command line holds `needle` (read from `/proc`).
pub fn processes_with(needle: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(needle))
                .unwrap_or(false)
        })
        .collect()
}

/// A process started as the leader of its own process group, stopped with everything
/// it started: ChromeDriver leaves Chromium and its helpers running when it is killed
/// before the session is closed (a test that failed, or never closed it).
pub struct ProcGroup(pub Child);

impl ProcGroup {
    pub fn spawn(command: &mut Command) -> std::io::Result<ProcGroup> {
        use std::os::unix::process::CommandExt as _;
        command.process_group(0).spawn().map(ProcGroup)
    }
}

impl Drop for ProcGroup {
    fn drop(&mut self) {
        // The group's id is the leader's pid: ours.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.wait();
    }
}

fn required(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1")
}

/// `Some(())` when the component is there; otherwise prints why and returns `None`, or
/// fails when `var` says the component is required.
pub fn available(what: &str, var: &str, missing: Option<String>) -> Option<()> {
    match missing {
        None => Some(()),
        Some(why) => {
            assert!(!required(var), "{var}=1 but {why}");
            eprintln!("skipping the {what} test: {why}; scripts/test installs it");
            None
        }
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Reads `child`'s stdout until a line starts with `prefix`; returns the rest of it and
/// keeps draining the pipe.
pub fn read_until(child: &mut Child, prefix: &str) -> String {
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    let found = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(rest) = line.strip_prefix(prefix) {
                    break rest.to_owned();
                }
            }
            _ => panic!("the process ended before printing {prefix:?}"),
        }
    };
    std::thread::spawn(move || for _ in lines {});
    found
}

pub fn op_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../oidc/tests/oidc-provider");
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let installed = dir.join("node_modules/oidc-provider/package.json").exists();
    let missing = if !node {
        Some("Node.js is not on PATH".to_owned())
    } else if !installed {
        Some(format!(
            "oidc-provider is not installed (npm ci in {})",
            dir.display()
        ))
    } else {
        None
    };
    available(
        "real-provider",
        "TEST_SSOGATE_REQUIRE_OIDC_PROVIDER",
        missing,
    )?;
    Some(dir)
}

/// oidc-provider for one relying party at `base` known as `slug`.
pub struct Op {
    pub issuer: String,
    _proc: Proc,
    _keys: tempfile::TempDir,
}

pub fn start_op(dir: &Path, base: &str, slug: &str, host: &str) -> Op {
    start_op_at(
        dir,
        &format!("{base}/auth/{slug}/callback"),
        &format!("{base}/logged-out"),
        &format!("{base}/auth/{slug}/backchannel-logout"),
        host,
    )
}

/// oidc-provider for one relying party with these redirect, post-logout and
/// back-channel URIs registered.
pub fn start_op_at(
    dir: &Path,
    redirect_uri: &str,
    post_logout_uri: &str,
    backchannel_uri: &str,
    host: &str,
) -> Op {
    let keys = tempfile::tempdir().unwrap();
    let mut child = Command::new("node")
        .arg(dir.join("server.mjs"))
        .current_dir(dir)
        .env("OP_PORT", free_port().to_string())
        .env("OP_HOST", host)
        .env("OP_REDIRECT_URI", redirect_uri)
        .env("OP_POST_LOGOUT_URI", post_logout_uri)
        .env("OP_BACKCHANNEL_URI", backchannel_uri)
        .env("OP_KEYS", "k1:RS256")
        .env("OP_KEYS_DIR", keys.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let issuer = read_until(&mut child, "listening ");
    Op {
        issuer,
        _proc: Proc(child),
        _keys: keys,
    }
}

pub const OP_CLIENT: &str = "rs-basic";
pub const OP_SECRET: &str = "rs-basic-secret-that-is-long-enough-for-hs256-0123456789";

/// ChromeDriver driving headless Debian Chromium, loopback only.
pub struct Chrome {
    pub client: fantoccini::Client,
    _driver: ProcGroup,
    _profile: tempfile::TempDir,
}

impl Chrome {
    pub async fn start() -> Option<Chrome> {
        let missing = ["/usr/bin/chromium", "/usr/bin/chromedriver"]
            .iter()
            .find(|p| !Path::new(p).exists())
            .map(|p| format!("{p} is missing (Debian packages chromium, chromium-driver)"));
        available("browser", "TEST_SSOGATE_REQUIRE_BROWSER", missing)?;
        let port = free_port();
        let mut driver = ProcGroup::spawn(
            Command::new("/usr/bin/chromedriver")
                .arg(format!("--port={port}"))
                .arg("--allowed-ips=127.0.0.1")
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        )
        .unwrap();
        read_until(&mut driver.0, "ChromeDriver was started successfully");
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--lang=en-US",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let client = fantoccini::ClientBuilder::new(
            hyper_util::client::legacy::connect::HttpConnector::new(),
        )
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .unwrap();
        Some(Chrome {
            client,
            _driver: driver,
            _profile: profile,
        })
    }
}
