//! A real browser (headless Chromium through WebDriver) signing in through the real
//! `oidc-provider`: first login provisions, second signs in, RP-initiated logout,
//! back-channel logout from the provider, linking and unlinking a second provider,
//! provisioning disabled, disabled account.

use crate::external::{Chrome, OP_CLIENT, OP_SECRET, Op, op_dir, start_op};
use fantoccini::{Client, Locator};
use ssogate_core::domain::UserId;
use ssogate_server::{App, AppOptions};
use ssogate_store::Directory;
use ssogate_store::prelude::*;
use std::sync::Arc;
use std::time::Duration;

struct Real {
    base: String,
    directory: Arc<dyn Directory>,
    op: Op,
    op2: Op,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start_real() -> Option<Real> {
    start_real_with("op2").await
}

/// Two real providers; the second (on "localhost", so the browser keeps its cookies
/// apart) is configured in the file as `op2`, or, for any other slug, only started, for
/// an administrator to add under that slug.
async fn start_real_with(second: &str) -> Option<Real> {
    let op_dir = op_dir()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let op = start_op(&op_dir, &base, "op", "127.0.0.1");
    let op2 = start_op(&op_dir, &base, second, "localhost");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ssogate.toml");
    std::fs::write(
        &path,
        format!(
            r#"database_url = "sqlite://{db}"
base_url = "{base}"

[catalogue]
permissions = [{{ name = "read_books", required = true }}, {{ name = "download_books" }}]
libraries = [{{ name = "main" }}]
groups = [{{ name = "Readers", external_ids = ["readers"] }}]

[provisioning]
auto_provision = true
default_permissions = ["download_books"]
default_libraries = ["main"]

[provisioning.groups]
enabled = true

[[provisioning.rules]]
name = "admins administer"
when = '"admins" in groups'
grant_admin = true

[providers.op]
display_name = "OP One"
issuer = "{op}"
client_id = "{client}"
client_secret = "{secret}"
scopes = ["openid", "profile", "email", "groups"]

{op2_table}"#,
            db = dir.path().join("t.db").display(),
            op = op.issuer,
            op2_table = if second == "op2" {
                format!(
                    r#"
[providers.op2]
display_name = "OP Two"
issuer = "{}"
client_id = "{OP_CLIENT}"
client_secret = "{OP_SECRET}"

[providers.op2.provisioning]
auto_provision = false
"#,
                    op2.issuer
                )
            } else {
                String::new()
            },
            client = OP_CLIENT,
            secret = OP_SECRET,
        ),
    )
    .unwrap();
    let config = ssogate_config::load_with_env(Some(&path), &[]).unwrap();
    let store = ssogate_store::SqliteStore::open(&dir.path().join("t.db")).unwrap();
    store.sync_catalogue(&config.catalogue).unwrap();
    let directory: Arc<dyn Directory> = Arc::new(store);
    let app = App::new(config, directory.clone(), AppOptions::default()).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(ssogate_server::serve(app, listener, async {
        let _ = rx.await;
    }));
    Some(Real {
        base,
        directory,
        op,
        op2,
        _dir: dir,
        _stop: tx,
    })
}

/// Walks the provider's pages (login form, consent, logout confirmation) until the
/// browser is back on ssogate; returns where it landed.
async fn through_provider(c: &Client, base: &str, login: &str) -> String {
    for _ in 0..8 {
        let url = c.current_url().await.unwrap().to_string();
        if url.starts_with(base) {
            return url;
        }
        if let Ok(field) = c.find(Locator::Css("input[name=login]")).await {
            field.send_keys(login).await.unwrap();
            c.find(Locator::Css("input[name=password]"))
                .await
                .unwrap()
                .send_keys("any password")
                .await
                .unwrap();
            click(c, "button[type=submit]").await;
            continue;
        }
        if c.find(Locator::Css("button[name=logout][value=yes]"))
            .await
            .is_ok()
        {
            click(c, "button[name=logout][value=yes]").await;
            continue;
        }
        c.wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("button[type=submit]"))
            .await
            .unwrap();
        click(c, "button[type=submit]").await;
    }
    panic!("stuck at the provider: {}", c.current_url().await.unwrap());
}

pub(crate) async fn body(c: &Client) -> String {
    c.find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Clicks what submits a form or follows a link, and waits until the next page has
/// loaded (WebDriver may return from a click before the navigation commits): the old
/// document is marked, and the wait ends when a document without the mark is complete.
pub(crate) async fn click(c: &Client, css: &str) {
    let before = c.current_url().await.unwrap().to_string();
    c.execute("document.documentElement.dataset.stale = '1'", vec![])
        .await
        .unwrap();
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
    for _ in 0..200 {
        let fresh = c
            .execute(
                "return document.readyState === 'complete' && !document.documentElement.dataset.stale",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_bool());
        if fresh == Some(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("clicking {css} on {before} led nowhere");
}

/// Waits (bounded) until `check` holds: for effects the provider causes out of band.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen within 10 s");
}

#[tokio::test]
async fn a_person_signs_in_links_and_signs_out_in_a_real_browser() {
    let Some(real) = start_real().await else {
        return;
    };
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let c = &chrome.client;
    let base = real.base.as_str();
    let users = || real.directory.count(ssogate_store::Table::Users).unwrap();
    let sessions = || {
        real.directory
            .count(ssogate_store::Table::Sessions)
            .unwrap()
    };

    // 1. First login provisions the account with the defaults and lands on return_to.
    c.goto(&format!("{base}/account")).await.unwrap();
    // Two providers: the login page, then a button.
    assert!(c.current_url().await.unwrap().as_str().contains("/login?"));
    click(c, "a.button[href^='/auth/op/start']").await;
    let landed = through_provider(c, base, "alice").await;
    assert_eq!(landed, format!("{base}/account"));
    let text = body(c).await;
    assert!(text.contains("Signed in as alice"), "{text}");
    assert_eq!(users(), 1);
    let alice = real
        .directory
        .user_by_identity("op", "alice")
        .unwrap()
        .unwrap();
    let grants: Vec<String> = alice
        .grants
        .iter()
        .map(|g| format!("{}:{}", g.kind, g.name))
        .collect();
    for want in [
        "permission:read_books",
        "permission:download_books",
        "library:main",
        "group:Readers",
    ] {
        assert!(grants.contains(&want.to_owned()), "{want}: {grants:?}");
    }

    // 2. RP-initiated logout: through the provider's confirmation, back to "signed out".
    click(c, "form.signout button").await;
    let landed = through_provider(c, base, "alice").await;
    // The provider hands back the `state` ssogate sent (RP-Initiated Logout 1.0, 3).
    let landed = url::Url::parse(&landed).unwrap();
    assert_eq!(landed.path(), "/logged-out", "{landed}: {}", body(c).await);
    assert!(
        landed
            .query_pairs()
            .any(|(k, v)| k == "state" && v.len() >= 20),
        "{landed}"
    );
    assert!(body(c).await.contains("You are signed out"));
    assert_eq!(sessions(), 0);

    // 3. Second login: the same account, no new provisioning.
    c.goto(&format!("{base}/auth/op/start?return_to=%2Faccount"))
        .await
        .unwrap();
    let landed = through_provider(c, base, "alice").await;
    assert_eq!(landed, format!("{base}/account"));
    assert_eq!(users(), 1);
    let events = real.directory.audit_events(100).unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.event == "user.provisioned")
            .count(),
        1
    );
    assert!(
        events
            .iter()
            .any(|e| e.event == "login" && e.outcome == "success")
    );

    // 4. Link a second provider, then unlink it (with confirmation).
    click(c, "form[action='/account/link/op2'] button").await;
    let landed = through_provider(c, base, "alice-at-two").await;
    assert_eq!(landed, format!("{base}/account?notice=linked:op2"));
    let text = body(c).await;
    assert!(text.contains("OP Two is now linked"), "{text}");
    assert_eq!(real.directory.identities(UserId(1)).unwrap().len(), 2);
    assert_eq!(users(), 1, "linking never creates an account");
    click(c, "a[href='/account/unlink/op2']").await;
    assert!(body(c).await.contains("Unlink OP Two?"));
    click(c, "button.danger").await;
    assert!(
        c.current_url()
            .await
            .unwrap()
            .as_str()
            .ends_with("notice=unlinked:op2")
    );
    assert_eq!(real.directory.identities(UserId(1)).unwrap().len(), 1);

    // 5. Back-channel logout: signing out at the provider ends the session here.
    assert_eq!(sessions(), 1);
    c.goto(&format!("{}/session/end", real.op.issuer))
        .await
        .unwrap();
    click(c, "button[name=logout][value=yes]").await;
    eventually("the back-channel logout", || sessions() == 0).await;
    assert!(
        real.directory
            .audit_events(100)
            .unwrap()
            .iter()
            .any(|e| e.event == "logout.backchannel" && e.outcome == "success")
    );
    c.goto(&format!("{base}/account")).await.unwrap();
    assert!(
        c.current_url().await.unwrap().as_str().contains("/login?"),
        "signed out"
    );

    // 6. Provisioning disabled at OP Two: a person without an account is told so.
    c.goto(&format!("{base}/auth/op2/start")).await.unwrap();
    through_provider(c, base, "carol").await;
    let text = body(c).await;
    assert!(
        text.contains("Automatic account creation is disabled"),
        "{text}"
    );
    assert_eq!(users(), 1);

    // 7. A disabled account is told so.
    real.directory
        .set_user_status(UserId(1), ssogate_core::domain::UserStatus::Disabled, 1)
        .unwrap();
    c.goto(&format!("{base}/auth/op/start")).await.unwrap();
    through_provider(c, base, "alice").await;
    let text = body(c).await;
    assert!(text.contains("This account is disabled"), "{text}");
    assert_eq!(sessions(), 0);

    chrome.client.clone().close().await.unwrap();
}

#[tokio::test]
async fn an_administrator_uses_the_console_in_a_real_browser() {
    let Some(real) = start_real().await else {
        return;
    };
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let c = &chrome.client;
    let base = real.base.as_str();
    // Bob, pre-provisioned, with a session of his own (as a proxied app would see it).
    let d = real.directory.clone();
    let (bob_id, bob_cookie) = tokio::task::spawn_blocking(move || {
        let row: ssogate_store::import::ImportRow = serde_json::from_value(
            serde_json::json!({"username": "bob", "email": "bob@example.org"}),
        )
        .unwrap();
        d.import_users(vec![row], 1, false, None, Box::new(|_| {}))
            .unwrap();
        let id = d.user_by_username("bob").unwrap().unwrap().id;
        let secret = d
            .create_session(
                id,
                &ssogate_store::sessions::SessionOrigin::default(),
                ssogate_store::RequestContext::now().now,
                Default::default(),
            )
            .unwrap();
        (id, secret)
    })
    .await
    .unwrap();
    let http = ssogate_oidc::http::client("t", &Default::default()).unwrap();
    let bob_permissions = || async {
        http.get(format!("{base}/auth/verify"))
            .header("cookie", format!("ssogate_session={}", bob_cookie.expose()))
            .send()
            .await
            .unwrap()
            .headers()
            .get("remote-permissions")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert!(!bob_permissions().await.contains("download_books"));

    // Alice is an administrator (the rule on her "admins" group).
    c.goto(&format!("{base}/auth/op/start?return_to=%2Fadmin%2Fusers"))
        .await
        .unwrap();
    let landed = through_provider(c, base, "alice").await;
    assert_eq!(landed, format!("{base}/admin/users"));
    click(c, &format!("a[href='/admin/users/{bob_id}']")).await;
    c.find(Locator::Css("select#grant"))
        .await
        .unwrap()
        .select_by_value("permission:download_books")
        .await
        .unwrap();
    click(c, "form[action$='/grant'] button").await;
    assert!(
        c.current_url()
            .await
            .unwrap()
            .as_str()
            .ends_with("notice=granted")
    );
    // Bob's next forward-auth request carries it.
    assert!(bob_permissions().await.contains("download_books"));

    // Test claims: the decision and its trace, nothing created.
    let users = real.directory.count(ssogate_store::Table::Users).unwrap();
    c.goto(&format!("{base}/admin/test-claims")).await.unwrap();
    click(c, "form[method=post][action='/admin/test-claims'] button").await;
    let text = body(c).await;
    assert!(
        text.contains("Decision: provision") && text.contains("Trace"),
        "{text}"
    );
    assert!(c.find(Locator::Css("ol.trace li")).await.is_ok());
    assert_eq!(
        real.directory.count(ssogate_store::Table::Users).unwrap(),
        users
    );

    // Auto-provisioning off, then on again: the defaults stay.
    let form = "form[action='/admin/provisioning/op']";
    let checked = |css: String| async move {
        c.find(Locator::Css(&css))
            .await
            .unwrap()
            .is_selected()
            .await
            .unwrap()
    };
    c.goto(&format!("{base}/admin/provisioning")).await.unwrap();
    assert!(checked(format!("{form} input[name=auto_provision]")).await);
    assert!(checked(format!("{form} input[value=download_books]")).await);
    c.find(Locator::Css(&format!("{form} input[name=auto_provision]")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(c, &format!("{form} button")).await;
    assert!(!checked(format!("{form} input[name=auto_provision]")).await);
    assert!(
        checked(format!("{form} input[value=download_books]")).await,
        "the defaults are kept"
    );
    c.find(Locator::Css(&format!("{form} input[name=auto_provision]")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(c, &format!("{form} button")).await;
    assert!(checked(format!("{form} input[name=auto_provision]")).await);
    assert!(checked(format!("{form} input[value=download_books]")).await);

    // Someone who is not an administrator gets 403 on every page.
    c.goto(&format!("{base}/account")).await.unwrap();
    click(c, "form.signout button").await;
    through_provider(c, base, "alice").await;
    c.goto(&format!("{base}/auth/op/start?return_to=%2Fadmin"))
        .await
        .unwrap();
    through_provider(c, base, "carol").await;
    for page in [
        "/admin",
        "/admin/users",
        &format!("/admin/users/{bob_id}"),
        "/admin/test-claims",
        "/admin/audit",
    ] {
        c.goto(&format!("{base}{page}")).await.unwrap();
        assert!(body(c).await.contains("Administrators only"), "{page}");
    }
    chrome.client.clone().close().await.unwrap();
}

#[tokio::test]
async fn an_administrator_adds_a_provider_and_people_sign_in_through_it() {
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let Some(real) = start_real_with("partner").await else {
        return;
    };
    let c = &chrome.client;
    let base = real.base.as_str();
    c.goto(&format!(
        "{base}/auth/op/start?return_to=%2Fadmin%2Fproviders"
    ))
    .await
    .unwrap();
    assert_eq!(
        through_provider(c, base, "alice").await,
        format!("{base}/admin/providers")
    );
    let form = "form[action='/admin/providers']";
    for (name, value) in [
        ("slug", "partner"),
        ("display_name", "Partner IdP"),
        ("issuer", real.op2.issuer.as_str()),
        ("client_id", OP_CLIENT),
        ("client_secret", OP_SECRET),
        ("scopes", "openid profile email"),
    ] {
        c.find(Locator::Css(&format!("{form} [name={name}]")))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }
    click(c, &format!("{form} button")).await;
    let text = body(c).await;
    assert!(text.contains("Added partner"), "{text}");
    assert!(!text.contains(OP_SECRET), "the secret is never shown back");
    // Its check passes against the real provider.
    click(c, "a[href='/admin/providers/partner/check']").await;
    let text = body(c).await;
    assert!(text.contains("Check of partner: usable"), "{text}");

    // Signed out, the sign-in page offers it, and a new person is provisioned through it.
    c.goto(&format!("{base}/account")).await.unwrap();
    click(c, "form.signout button").await;
    through_provider(c, base, "alice").await;
    c.goto(&format!("{base}/login?direct=1&return_to=%2Faccount"))
        .await
        .unwrap();
    click(c, "a[href^='/auth/partner/start']").await;
    let landed = through_provider(c, base, "bob").await;
    assert_eq!(landed, format!("{base}/account"));
    let d = real.directory.clone();
    let bob = tokio::task::spawn_blocking(move || d.user_by_identity("partner", "bob").unwrap())
        .await
        .unwrap()
        .expect("bob was provisioned through the added provider");
    assert!(bob.grants.iter().any(|g| g.name == "download_books"));
    chrome.client.clone().close().await.unwrap();
}
