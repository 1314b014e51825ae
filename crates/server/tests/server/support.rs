//! A server on 127.0.0.1 in front of fake providers, and a cookie-keeping HTTP client
//! that plays the browser.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use ssogate_server::{App, AppOptions};
use ssogate_store::Directory;
use ssogate_testkit::FakeProvider;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;
use url::Url;

#[derive(Default)]
pub struct Opts {
    /// Lines for the `[server]` table.
    pub server: &'static str,
    /// Lines for the `[provisioning]` table.
    pub provisioning: &'static str,
    /// A second provider, `other`.
    pub second: bool,
    /// More TOML at the end (more provider tables).
    pub extra: &'static str,
    /// More keys in the `[providers.fake]` table.
    pub fake: &'static str,
    /// A fresh PostgreSQL database instead of a SQLite file.
    pub postgres: Option<String>,
    /// The instance's clock, for tests that move time (the real one when `None`).
    pub clock: Option<Arc<ssogate_oidc::ManualClock>>,
}

/// The engine a test's harness runs on, for its messages: PostgreSQL when given its URL.
pub fn engine_name(postgres: &Option<String>) -> &'static str {
    if postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    }
}

/// A fresh database on the PostgreSQL server `scripts/test` starts, or `None` (with the
/// reason printed) when there is none and none is required.
pub fn postgres_database() -> Option<String> {
    let Ok(base) = std::env::var("TEST_SSOGATE_POSTGRES_URL") else {
        crate::external::available(
            "PostgreSQL",
            "TEST_SSOGATE_REQUIRE_POSTGRES",
            Some("TEST_SSOGATE_POSTGRES_URL is not set".into()),
        )?;
        return None;
    };
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let name = format!(
        "srv_{}_{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    // The synchronous client must not run on the test's async thread.
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut admin = postgres::Client::connect(&base, postgres::NoTls).unwrap();
            // A process id can come again while the same server runs (a long session).
            admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .unwrap();
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

pub struct Harness {
    pub idp: FakeProvider,
    pub other: Option<FakeProvider>,
    pub base: String,
    pub directory: Arc<dyn Directory>,
    pub _dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    config: std::path::PathBuf,
}

/// Opens the configured directory and serves an instance on `listener`.
fn instance(
    path: &std::path::Path,
    listener: tokio::net::TcpListener,
    clock: Option<Arc<ssogate_oidc::ManualClock>>,
) -> (Arc<dyn Directory>, oneshot::Sender<()>) {
    let config = ssogate_config::load_with_env(Some(path), &[]).unwrap();
    // Opened off the async thread, as `ssogate serve` does before its runtime starts.
    let directory: Arc<dyn Directory> = std::thread::scope(|s| {
        s.spawn(|| {
            let d: Arc<dyn Directory> = match &config.database {
                ssogate_config::Database::Sqlite(db) => {
                    Arc::new(ssogate_store::SqliteStore::open(db).unwrap())
                }
                ssogate_config::Database::Postgres(url) => {
                    Arc::new(ssogate_store::PgStore::open(url).unwrap())
                }
            };
            d.sync_catalogue(&config.catalogue).unwrap();
            d
        })
        .join()
        .unwrap()
    });
    let mut options = AppOptions::default();
    if let Some(clock) = clock {
        options.clock = clock;
    }
    let app = App::new(config, directory.clone(), options).unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        ssogate_server::serve(app, listener, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    (directory, tx)
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

fn provider_toml(slug: &str, name: &str, idp: &FakeProvider) -> String {
    format!(
        "[providers.{slug}]\ndisplay_name = \"{name}\"\nissuer = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\n",
        idp.issuer,
        idp.client_id(),
        idp.client_secret()
    )
}

impl Harness {
    pub async fn start(opts: Opts) -> Harness {
        let idp = FakeProvider::start().await;
        let other = if opts.second {
            Some(FakeProvider::start().await)
        } else {
            None
        };
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let db = match &opts.postgres {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", dir.path().join("t.db").display()),
        };
        let mut toml = format!(
            r#"database_url = "{db}"
base_url = "{base}"

[server]
{server}

[catalogue]
permissions = [
  {{ name = "read_books", required = true }},
  {{ name = "download_books" }},
  {{ name = "manage_library" }},
]
libraries = [{{ name = "main" }}, {{ name = "kids" }}]
groups = [
  {{ name = "Readers", external_ids = ["readers"] }},
  {{ name = "Admins", external_ids = ["admins"] }},
]

[provisioning]
{auto}
default_permissions = ["download_books"]
default_libraries = ["main"]
groups.enabled = true
{provisioning}

"#,
            server = opts.server,
            provisioning = opts.provisioning,
            auto = if opts.provisioning.contains("auto_provision") {
                ""
            } else {
                "auto_provision = true"
            },
        );
        toml.push_str(&provider_toml("fake", "Fake IdP", &idp));
        toml.push_str(opts.fake);
        toml.push('\n');
        if let Some(o) = &other {
            toml.push_str(&provider_toml("other", "Other IdP", o));
        }
        toml.push_str(opts.extra);
        let path = dir.path().join("ssogate.toml");
        std::fs::write(&path, toml).unwrap();
        let (directory, stop) = instance(&path, listener, opts.clock.clone());
        Harness {
            idp,
            other,
            base,
            directory,
            _dir: dir,
            stop: Some(stop),
            config: path,
        }
    }

    /// Another instance on the same configuration and database; its base URL and
    /// what stops it.
    pub async fn second_instance(&self) -> (String, oneshot::Sender<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (_, stop) = instance(&self.config, listener, None);
        (base, stop)
    }

    /// Another instance on the same database with the configuration at `path` (the
    /// next start after an operator edited the file); its base URL and what stops it.
    pub async fn instance_from(&self, path: &std::path::Path) -> (String, oneshot::Sender<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (_, stop) = instance(path, listener, None);
        (base, stop)
    }

    /// A new API key of `scope` (made off the test's async thread: the PostgreSQL client
    /// blocks).
    pub async fn api_key(&self, scope: ssogate_store::credentials::ApiScope) -> String {
        let d = self.directory.clone();
        tokio::task::spawn_blocking(move || d.create_api_key("test", scope, 1))
            .await
            .unwrap()
            .unwrap()
            .expose()
            .to_owned()
    }

    /// Disables an account, off the test's async thread (the PostgreSQL client blocks).
    pub async fn disable(&self, subject: &str) {
        let (d, subject) = (self.directory.clone(), subject.to_owned());
        tokio::task::spawn_blocking(move || {
            let user = d.user_by_identity("fake", &subject).unwrap().unwrap();
            let id = user.id;
            d.set_user_status(id, ssogate_core::domain::UserStatus::Disabled, 1)
                .unwrap();
        })
        .await
        .unwrap();
    }

    /// The configuration file the instance was started with.
    pub fn config_path(&self) -> std::path::PathBuf {
        self.config.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn users(&self) -> i64 {
        self.directory.count(ssogate_store::Table::Users).unwrap()
    }

    pub fn sessions(&self) -> i64 {
        self.directory
            .count(ssogate_store::Table::Sessions)
            .unwrap()
    }

    /// The newest audit events, as `event/outcome/reason`.
    pub fn audit(&self) -> Vec<String> {
        self.directory
            .audit_events(200)
            .unwrap()
            .into_iter()
            .map(|e| format!("{}/{}/{}", e.event, e.outcome, e.reason.unwrap_or_default()))
            .collect()
    }
}

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn location(&self) -> Option<String> {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
    /// The value of `<input name="NAME" value="...">` on the page.
    pub fn input(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker)? + marker.len();
        let end = self.body[start..].find('"')?;
        Some(self.body[start..start + end].to_owned())
    }
}

/// A browser: keeps cookies for the server it talks to, follows no redirects by itself.
pub struct Browser {
    http: reqwest::Client,
    jar: Mutex<BTreeMap<String, String>>,
    pub extra: Vec<(&'static str, String)>,
}

impl Browser {
    pub fn new() -> Browser {
        Browser {
            http: ssogate_oidc::http::client("test", &Default::default()).unwrap(),
            jar: Mutex::new(BTreeMap::new()),
            extra: vec![("accept", "text/html".into())],
        }
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().unwrap().get(name).cloned()
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        self.jar
            .lock()
            .unwrap()
            .insert(name.to_owned(), value.to_owned());
    }

    fn cookie_header(&self) -> Option<HeaderValue> {
        let jar = self.jar.lock().unwrap();
        if jar.is_empty() {
            return None;
        }
        let s = jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        HeaderValue::from_str(&s).ok()
    }

    async fn send(&self, req: reqwest::RequestBuilder, extra: &[(&str, &str)]) -> Resp {
        let mut req = req;
        if let Some(c) = self.cookie_header() {
            req = req.header("cookie", c);
        }
        for (k, v) in self
            .extra
            .iter()
            .filter(|(k, _)| !extra.iter().any(|(e, _)| e.eq_ignore_ascii_case(k)))
        {
            req = req.header(*k, v.as_str());
        }
        for (k, v) in extra {
            req = req.header(HeaderName::from_bytes(k.as_bytes()).unwrap(), *v);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        for c in headers.get_all("set-cookie") {
            let c = c.to_str().unwrap();
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (name, value) = pair.split_once('=').unwrap();
            let mut jar = self.jar.lock().unwrap();
            if attrs.contains("Max-Age=0") {
                jar.remove(name);
            } else {
                jar.insert(name.to_owned(), value.to_owned());
            }
        }
        let body = res.text().await.unwrap();
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, url: &str) -> Resp {
        self.get_with(url, &[]).await
    }

    pub async fn get_with(&self, url: &str, headers: &[(&str, &str)]) -> Resp {
        self.send(self.http.get(url), headers).await
    }

    pub async fn post(&self, url: &str, form: &[(&str, &str)]) -> Resp {
        self.post_with(url, form, &[]).await
    }

    pub async fn post_with(
        &self,
        url: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Resp {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.send(
            self.http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
            headers,
        )
        .await
    }

    /// GETs `url` (as an API client) until it answers `want`, for at most five seconds
    /// (for what another instance hears through the database); the last status.
    pub async fn status_within(&self, url: &str, want: u16) -> u16 {
        let mut last = 0;
        for _ in 0..100 {
            last = self
                .get_with(url, &[("accept", "application/json")])
                .await
                .status;
            if last == want {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        last
    }

    /// Starts a login at `start` (a path or URL), lets `idp` sign in as `subject`, and
    /// returns the callback's answer.
    pub async fn login_via(
        &self,
        h: &Harness,
        idp: &FakeProvider,
        start: &str,
        subject: &str,
    ) -> Resp {
        let url = if start.starts_with("http") {
            start.to_owned()
        } else {
            h.url(start)
        };
        let r = self.get(&url).await;
        assert_eq!(r.status, 302, "start: {}", r.body);
        let auth = Url::parse(&r.location().unwrap()).unwrap();
        assert!(auth.as_str().starts_with(&idp.issuer), "{auth}");
        idp.login_as(subject);
        let back = idp.authorize(&auth);
        self.get(back.as_str()).await
    }

    /// Signs in through `fake` as `subject`; returns the callback's answer.
    pub async fn login(&self, h: &Harness, subject: &str) -> Resp {
        self.login_via(h, &h.idp, "/auth/fake/start", subject).await
    }

    /// The CSRF token a page of ours hands out (loads the login page once if needed).
    pub async fn csrf(&self, h: &Harness) -> String {
        if let Some(c) = self.cookie("ssogate_csrf") {
            return c;
        }
        let _ = self.get(&h.url("/login?direct=1")).await;
        self.cookie("ssogate_csrf").unwrap()
    }
}

/// A call to the REST API with an API key: the status and the JSON answer (`null` when
/// there is none).
pub async fn api_call(
    h: &Harness,
    method: &str,
    path: &str,
    key: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let http = ssogate_oidc::http::client("t", &Default::default()).unwrap();
    let mut req = http
        .request(method.parse().unwrap(), h.url(path))
        .header("authorization", format!("Bearer {key}"));
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// A clock the test moves by hand, starting at the real time now.
/// The sum of a counter's lines on `/metrics` whose labels start with `labels`
/// (`""`: all of them).
pub async fn metric_with(h: &Harness, name: &str, labels: &str) -> u64 {
    let m = Browser::new().get(&h.url("/metrics")).await.body;
    m.lines()
        .filter(|l| l.starts_with(&format!("{name}{{{labels}")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// The sum of a counter's lines on `/metrics`, whatever their labels.
pub async fn metric(h: &Harness, name: &str) -> u64 {
    metric_with(h, name, "").await
}

pub fn manual_clock() -> Arc<ssogate_oidc::ManualClock> {
    Arc::new(ssogate_oidc::ManualClock::new(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    ))
}
