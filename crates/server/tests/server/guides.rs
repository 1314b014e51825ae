//! Each guide in `docs/migrating/`, proven: ssogate configured only the way the guide
//! says (for BookStack and Tududi, their environment variables; a file holds only where
//! the directory lives and, for BookStack, the roles that already exist there), and a
//! person signing in through the real `oidc-provider` on the redirect URI the old system
//! had registered, end to end: the account, its grants and the forward-auth headers.

use crate::external::{OP_CLIENT, OP_SECRET, Op, op_dir, start_op_at};
use crate::support::{Browser, Resp};
use ssogate_core::directory::ExistingUser;
use ssogate_server::{App, AppOptions};
use ssogate_store::Directory;
use ssogate_store::prelude::*;
use std::sync::Arc;
use url::Url;

/// ssogate moved over from another system, and the provider that system used.
struct Moved {
    base: String,
    directory: Arc<dyn Directory>,
    warnings: Vec<String>,
    _op: Op,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Fills `{base}`, `{issuer}`, `{client}`, `{secret}` and `{db}` in a guide's text.
fn fill(text: &str, base: &str, issuer: &str, db: &str) -> String {
    text.replace("{base}", base)
        .replace("{issuer}", issuer)
        .replace("{client}", OP_CLIENT)
        .replace("{secret}", OP_SECRET)
        .replace("{db}", db)
}

impl Moved {
    /// The provider with the old system's `[callback, post-logout, back-channel]` paths
    /// registered, and ssogate configured by `file` and `env` as the guide says.
    async fn start(paths: [&str; 3], file: &str, env: &[(&str, &str)]) -> Option<Moved> {
        let [callback, post_logout, backchannel] = paths;
        let op_dir = op_dir()?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let op = start_op_at(
            &op_dir,
            &format!("{base}{callback}"),
            &format!("{base}{post_logout}"),
            &format!("{base}{backchannel}"),
            "127.0.0.1",
        );
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}", dir.path().join("t.db").display());
        let path = dir.path().join("ssogate.toml");
        std::fs::write(&path, fill(file, &base, &op.issuer, &db)).unwrap();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), fill(v, &base, &op.issuer, &db)))
            .collect();
        let config = ssogate_config::load_with_env(Some(&path), &env).unwrap();
        let warnings = config.warnings.clone();
        let store = ssogate_store::SqliteStore::open(&dir.path().join("t.db")).unwrap();
        store.sync_catalogue(&config.catalogue).unwrap();
        let directory: Arc<dyn Directory> = Arc::new(store);
        let app = App::new(config, directory.clone(), AppOptions::default()).unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(ssogate_server::serve(app, listener, async {
            let _ = rx.await;
        }));
        Some(Moved {
            base,
            directory,
            warnings,
            _op: op,
            _dir: dir,
            _stop: tx,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn user(&self, username: &str) -> ExistingUser {
        self.directory
            .user_by_username(username)
            .unwrap()
            .unwrap_or_else(|| panic!("no account {username}"))
    }
}

/// `kind:name` of every grant, sorted.
fn grants(u: &ExistingUser) -> Vec<String> {
    let mut g: Vec<String> = u
        .grants
        .iter()
        .map(|g| format!("{}:{}", g.kind, g.name))
        .collect();
    g.sort();
    g
}

/// `attr="…"` of an HTML tag's text.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    tag.split(&format!("{name}=\"")).nth(1)?.split('"').next()
}

/// Follows the browser from `url` through redirects and the provider's own pages (its
/// development login and consent forms, its logout confirmation) until it is back at
/// ssogate (or, for a logout with nowhere to return to, on the provider's last page);
/// that answer and its address.
async fn walk(b: &Browser, m: &Moved, mut url: Url, login: &str) -> (Url, Resp) {
    for _ in 0..12 {
        if url.as_str().starts_with(&m.base) {
            return (url.clone(), b.get(url.as_str()).await);
        }
        let r = b.get(url.as_str()).await;
        url = match r.status {
            301..=303 | 307 | 308 => url.join(&r.location().unwrap()).unwrap(),
            200 if r.body.contains("<form") => {
                let form_tag = r.body.split("<form").nth(1).unwrap();
                let action = url.join(attr(form_tag, "action").unwrap()).unwrap();
                let mut fields: Vec<(String, String)> = r
                    .body
                    .split("<input")
                    .skip(1)
                    .map(|t| t.split('>').next().unwrap())
                    .filter(|t| t.contains("type=\"hidden\""))
                    .filter_map(|t| Some((attr(t, "name")?.into(), attr(t, "value")?.into())))
                    .collect();
                if r.body.contains("name=\"login\"") {
                    fields.push(("login".into(), login.into()));
                    fields.push(("password".into(), "x".into()));
                }
                if r.body.contains("name=\"logout\"") {
                    fields.push(("logout".into(), "yes".into()));
                }
                let fields: Vec<(&str, &str)> = fields
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let p = b.post(action.as_str(), &fields).await;
                match p.status {
                    301..=303 => action.join(&p.location().unwrap()).unwrap(),
                    200 => return (action, p),
                    s => panic!("{action} answered {s}: {}", p.body),
                }
            }
            200 => return (url, r),
            s => panic!("{url} answered {s}: {}", r.body),
        };
    }
    panic!("the browser did not come back to ssogate");
}

/// Signs `login` in from `start` (a path); the answer of ssogate's callback.
async fn sign_in(b: &Browser, m: &Moved, start: &str, login: &str) -> Resp {
    let r = b.get(&m.url(start)).await;
    assert_eq!(r.status, 302, "{start}: {}", r.body);
    let (back, r) = walk(b, m, Url::parse(&r.location().unwrap()).unwrap(), login).await;
    assert!(
        back.as_str().starts_with(&m.base),
        "the provider kept the browser: {back}"
    );
    r
}

/// Forward-auth's answer for the browser's session, as (header, value) pairs.
async fn identity_headers(b: &Browser, m: &Moved) -> Vec<(String, String)> {
    let v = b.get(&m.url("/auth/verify")).await;
    assert_eq!(v.status, 200, "{}", v.body);
    let mut h: Vec<(String, String)> = v
        .headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("remote-"))
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    h.sort();
    h
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> &'a str {
    h.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// docs/migrating/bookstack.md: BookStack's `.env`, unchanged.
#[tokio::test]
async fn bookstack_guide_signs_in_through_the_real_provider() {
    let Some(m) = Moved::start(
        // BookStack's: its callback, and `/` to come back to after logout.
        ["/oidc/callback", "/", "/unused"],
        r#"database_url = "{db}"

[catalogue]
groups = [
  { name = "Admin", external_ids = ["admins"] },
  { name = "Viewer", external_ids = ["readers"] },
]
"#,
        &[
            ("APP_URL", "{base}"),
            ("AUTH_METHOD", "oidc"),
            ("AUTH_AUTO_INITIATE", "false"),
            ("OIDC_NAME", "SSO"),
            ("OIDC_DISPLAY_NAME_CLAIMS", "name"),
            ("OIDC_CLIENT_ID", "{client}"),
            ("OIDC_CLIENT_SECRET", "{secret}"),
            ("OIDC_ISSUER", "{issuer}"),
            ("OIDC_ISSUER_DISCOVER", "true"),
            ("OIDC_END_SESSION_ENDPOINT", "true"),
            ("OIDC_EXTERNAL_ID_CLAIM", "sub"),
            ("OIDC_USER_TO_GROUPS", "true"),
            ("OIDC_GROUPS_CLAIM", "groups"),
            ("OIDC_ADDITIONAL_SCOPES", "groups"),
            ("OIDC_REMOVE_FROM_GROUPS", "true"),
        ],
    )
    .await
    else {
        return;
    };
    assert_eq!(m.warnings, Vec::<String>::new());
    let b = Browser::new();
    // BookStack shows its login page (AUTH_AUTO_INITIATE=false) with the button.
    let page = b.get(&m.url("/login")).await;
    assert!(page.body.contains("SSO"), "{}", page.body);
    let r = sign_in(&b, &m, "/auth/oidc/start", "alice").await;
    assert_eq!(r.status, 303, "{}", r.body);
    let alice = m.user("alice");
    assert_eq!(alice.email.as_deref(), Some("alice@example.org"));
    assert_eq!(alice.display_name.as_deref(), Some("Alice Liddell"));
    assert_eq!(
        alice.external_ids.get("oidc").map(String::as_str),
        Some("alice")
    );
    assert_eq!(grants(&alice), ["group:Admin", "group:Viewer"]);
    let h = identity_headers(&b, &m).await;
    assert_eq!(header(&h, "remote-user"), "alice");
    assert_eq!(header(&h, "remote-email"), "alice@example.org");
    assert_eq!(header(&h, "remote-name"), "Alice Liddell");
    assert_eq!(header(&h, "remote-groups"), "Admin,Viewer");
    // Logout goes on to the provider and comes back where BookStack's registration says.
    let _ = b.get(&m.url("/account")).await;
    let csrf = b.cookie("ssogate_csrf").unwrap();
    let r = b.post(&m.url("/logout"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status, 303);
    let to = Url::parse(&r.location().unwrap()).unwrap();
    assert!(to.as_str().starts_with(&m._op.issuer), "{to}");
    let (back, _) = walk(&b, &m, to, "alice").await;
    assert_eq!(back.origin(), Url::parse(&m.base).unwrap().origin());
    assert_eq!(back.path(), "/");
    let verify = b
        .get_with(&m.url("/auth/verify"), &[("accept", "application/json")])
        .await;
    assert_eq!(verify.status, 401);
}

/// docs/migrating/tududi.md: Tududi's environment, unchanged.
#[tokio::test]
async fn tududi_guide_signs_in_through_the_real_provider() {
    let Some(m) = Moved::start(
        ["/api/oidc/callback/company", "/logged-out", "/unused"],
        "database_url = \"{db}\"\n",
        &[
            ("BASE_URL", "{base}"),
            ("OIDC_ENABLED", "true"),
            ("OIDC_PROVIDER_NAME", "Company SSO"),
            ("OIDC_PROVIDER_SLUG", "company"),
            ("OIDC_ISSUER_URL", "{issuer}"),
            ("OIDC_CLIENT_ID", "{client}"),
            ("OIDC_CLIENT_SECRET", "{secret}"),
            ("OIDC_SCOPE", "openid profile email"),
            ("OIDC_AUTO_PROVISION", "true"),
            ("OIDC_ADMIN_EMAIL_DOMAINS", "example.org"),
        ],
    )
    .await
    else {
        return;
    };
    assert_eq!(m.warnings, Vec::<String>::new());
    let b = Browser::new();
    let providers: serde_json::Value =
        serde_json::from_str(&b.get(&m.url("/api/oidc/providers")).await.body).unwrap();
    assert_eq!(
        providers["providers"][0]["name"], "Company SSO",
        "{providers}"
    );
    let r = sign_in(&b, &m, "/api/oidc/auth/company", "carol").await;
    assert_eq!(r.status, 303, "{}", r.body);
    // Tududi's username rule (the email's local part) and its admin domains.
    let carol = m.user("carol");
    assert_eq!(carol.email.as_deref(), Some("carol@example.org"));
    assert!(carol.is_admin(), "{:?}", grants(&carol));
    let h = identity_headers(&b, &m).await;
    assert_eq!(header(&h, "remote-user"), "carol");
    assert_eq!(header(&h, "remote-email"), "carol@example.org");
    let ids: serde_json::Value =
        serde_json::from_str(&b.get(&m.url("/api/oidc/identities")).await.body).unwrap();
    assert_eq!(ids["identities"][0]["provider"], "company", "{ids}");
}

/// docs/migrating/booklore.md: Booklore's OIDC and auto-provisioning settings as TOML.
#[tokio::test]
async fn booklore_guide_signs_in_through_the_real_provider() {
    let Some(m) = Moved::start(
        ["/auth/pocketid/callback", "/logged-out", "/unused"],
        r#"database_url = "{db}"
base_url = "{base}"

[catalogue]
permissions = [
  { name = "read_books", required = true },
  { name = "upload_books" }, { name = "download_books" }, { name = "edit_metadata" },
  { name = "manage_library" }, { name = "email_book" }, { name = "delete_book" },
  { name = "koreader_sync" }, { name = "kobo_sync" }, { name = "access_opds" },
]
libraries = [{ name = "Fiction" }, { name = "Comics" }]

[providers.pocketid]
display_name = "Pocket ID"
issuer = "{issuer}"
client_id = "{client}"
client_secret = "{secret}"
scopes = ["openid", "profile", "email", "groups"]

[providers.pocketid.claims]
username = "preferred_username"
email = "email"
display_name = "name"
groups = "groups"

[providers.pocketid.provisioning]
auto_provision = true
default_permissions = ["download_books", "kobo_sync"]
default_libraries = ["Fiction"]

[providers.pocketid.provisioning.username]
allow_at_sign = true
"#,
        &[],
    )
    .await
    else {
        return;
    };
    let b = Browser::new();
    let r = sign_in(&b, &m, "/auth/pocketid/start", "alice").await;
    assert_eq!(r.status, 303, "{}", r.body);
    let alice = m.user("alice");
    assert_eq!(alice.display_name.as_deref(), Some("Alice Liddell"));
    assert_eq!(
        grants(&alice),
        [
            "library:Fiction",
            "permission:download_books",
            "permission:kobo_sync",
            "permission:read_books",
        ]
    );
    let h = identity_headers(&b, &m).await;
    assert_eq!(header(&h, "remote-user"), "alice");
    assert_eq!(
        header(&h, "remote-permissions"),
        "download_books,kobo_sync,read_books"
    );
    assert_eq!(header(&h, "remote-libraries"), "Fiction");
}

/// docs/migrating/nextcloud.md: `occ user_oidc:provider` as TOML; the account keeps
/// the id Nextcloud gave it.
#[tokio::test]
async fn nextcloud_guide_signs_in_through_the_real_provider() {
    let Some(m) = Moved::start(
        // user_oidc's, back-channel logout included.
        [
            "/apps/user_oidc/code",
            "/",
            "/index.php/apps/user_oidc/backchannel-logout/keycloak",
        ],
        r#"database_url = "{db}"
base_url = "{base}"

[catalogue]
groups = [{ name = "admins" }, { name = "readers" }]

[providers.keycloak]
display_name = "Keycloak"
issuer = "{issuer}"
client_id = "{client}"
client_secret = "{secret}"
callback = "nextcloud"
scopes = ["openid", "profile", "email", "groups"]
request_claims = true

[providers.keycloak.claims]
display_name = "name"
groups = "groups"

[providers.keycloak.provisioning]
auto_provision = true
nextcloud_user_ids = { provider_id = 1, mode = "unique" }
groups.enabled = true
"#,
        &[],
    )
    .await
    else {
        return;
    };
    // The id Nextcloud's user_oidc gave this person: SHA-256 of "1_0_alice".
    let nextcloud_id = "a0441c15fcb94c813d92cb5e5080b66747751bc42eebcac6abaf114811030f5c";
    let b = Browser::new();
    let r = sign_in(&b, &m, "/auth/keycloak/start", "alice").await;
    assert_eq!(r.status, 303, "{}", r.body);
    let alice = m.user(nextcloud_id);
    assert_eq!(alice.email.as_deref(), Some("alice@example.org"));
    assert_eq!(grants(&alice), ["group:admins", "group:readers"]);
    let h = identity_headers(&b, &m).await;
    assert_eq!(header(&h, "remote-user"), nextcloud_id);
    assert_eq!(header(&h, "remote-name"), "Alice Liddell");
    assert_eq!(header(&h, "remote-groups"), "admins,readers");
    // Signing out at the provider reaches ssogate on user_oidc's back-channel URI.
    let end = Url::parse(&format!("{}/session/end", m._op.issuer)).unwrap();
    let _ = walk(&b, &m, end, "alice").await;
    assert_eq!(b.status_within(&m.url("/auth/verify"), 401).await, 401);
    let events = m.directory.audit_events(50).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.event == "logout.backchannel" && e.outcome == "success"),
        "{events:?}"
    );
}

/// docs/migrating/livecycle.md: an IdentityCreator and an AssignmentProvider as claim
/// mappings and rules.
#[tokio::test]
async fn livecycle_guide_signs_in_through_the_real_provider() {
    let Some(m) = Moved::start(
        ["/auth/corp/callback", "/logged-out", "/unused"],
        r#"database_url = "{db}"
base_url = "{base}"

[catalogue]
permissions = [{ name = "forms_user", required = true }, { name = "forms_admin" }]
groups = [{ name = "Workflow Admins", external_ids = ["admins"] }]

[providers.corp]
display_name = "Corporate SSO"
issuer = "{issuer}"
client_id = "{client}"
client_secret = "{secret}"
scopes = ["openid", "profile", "email", "groups"]

[providers.corp.provisioning]
auto_provision = true
groups.enabled = true

[[providers.corp.provisioning.rules]]
name = "workflow administrators"
when = '"admins" in groups'
grant_permissions = ["forms_admin"]
"#,
        &[],
    )
    .await
    else {
        return;
    };
    let b = Browser::new();
    let r = sign_in(&b, &m, "/auth/corp/start", "alice").await;
    assert_eq!(r.status, 303, "{}", r.body);
    let alice = m.user("alice");
    assert_eq!(
        grants(&alice),
        [
            "group:Workflow Admins",
            "permission:forms_admin",
            "permission:forms_user"
        ]
    );
    // Someone outside the group gets the required permission only.
    let b2 = Browser::new();
    let r = sign_in(&b2, &m, "/auth/corp/start", "dave").await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(grants(&m.user("dave")), ["permission:forms_user"]);
    let h = identity_headers(&b, &m).await;
    assert_eq!(header(&h, "remote-permissions"), "forms_admin,forms_user");
    assert_eq!(header(&h, "remote-groups"), "Workflow Admins");
}
