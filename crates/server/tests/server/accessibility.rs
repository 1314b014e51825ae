//! Every page people see — console, sign-in, account, errors — in headless Chromium with
//! axe-core (npm, pinned in `tests/axe`): no violations, at desktop and at phone width.
//! Screenshots of each page at both widths go to `target/screenshots/`.

use crate::external::Chrome;
use crate::support::{Harness, Opts};
use fantoccini::Client;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn axe_source() -> Option<String> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/axe/node_modules/axe-core/axe.min.js");
    let missing = (!path.exists())
        .then(|| "axe-core is not installed (cd crates/server/tests/axe && npm ci)".to_owned());
    crate::external::available("accessibility", "TEST_SSOGATE_REQUIRE_BROWSER", missing)?;
    Some(std::fs::read_to_string(path).unwrap())
}

/// axe's violations on the page as loaded: (rule, impact, help, first targets).
async fn violations(c: &Client, axe: &str) -> Vec<Value> {
    c.execute(axe, vec![]).await.unwrap();
    let v = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document).then(r => done(r.violations.map(v => ({
                 id: v.id, impact: v.impact, help: v.help,
                 nodes: v.nodes.slice(0, 4).map(n => n.target.join(' ') + ' :: ' + n.failureSummary)
             })))).catch(e => done([{id: 'axe-failed', help: String(e)}]));",
            vec![],
        )
        .await
        .unwrap();
    v.as_array().cloned().unwrap_or_default()
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn every_page_has_no_axe_violations_at_desktop_and_phone_width() {
    let Some(axe) = axe_source() else {
        return;
    };
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let h = Harness::start(Opts {
        extra: "[clients.wiki]\nname = \"Wiki\"\nredirect_uris = [\"https://wiki.example.org/oidc/callback\"]\nsecret = \"0123456789abcdef0123456789\"\nsubject_type = \"pairwise\"\naccess = { groups = [\"Readers\"] }\n",
        ..Opts::default()
    })
    .await;
    // Ada administers; Bob is an account to look at; a webhook with a delivery.
    let d = h.directory.clone();
    let (bob, secret, event) = tokio::task::spawn_blocking(move || {
        let rows: Vec<ssogate_store::import::ImportRow> = serde_json::from_value(serde_json::json!([
            {"username": "ada", "email": "ada@example.org", "display_name": "Ada Lovelace", "admin": true},
            {"username": "bob", "email": "bob@example.org", "permissions": ["download_books"]}
        ]))
        .unwrap();
        d.import_users(rows, 1, false, None, Box::new(|_| {})).unwrap();
        let ada = d.user_by_username("ada").unwrap().unwrap().id;
        let bob = d.user_by_username("bob").unwrap().unwrap().id;
        d.add_webhook(
            "hr",
            "https://hooks.example.com/in",
            &ssogate_core::events::Subscription::All,
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            1,
        )
        .unwrap()
        .unwrap();
        d.set_webhook_secret("hr", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        // A registered application, for its settings page.
        d.add_op_client(
            "wiki",
            &serde_json::json!({"name": "Wiki", "redirect_uris": ["https://wiki.example.org/cb"],
                "access": {"groups": ["staff"]}}),
            Some(&ssogate_store::sessions::digest("a-secret-of-the-wiki-0123456789")),
            1,
        )
        .unwrap()
        .unwrap();
        let now = ssogate_store::RequestContext::now().now;
        // One delivery given up (its replay button shows), one pending; an API key.
        let failed = d.ping_webhook("hr", now).unwrap().unwrap();
        d.ping_webhook("hr", now + 1).unwrap();
        d.finish_delivery(
            failed,
            now,
            ssogate_store::directory::webhooks::Attempt::Failed {
                status: Some(500),
                error: "answered HTTP 500".into(),
                last: true,
            },
        )
        .unwrap();
        d.create_api_key("backup job", ssogate_store::credentials::ApiScope::Read, now)
            .unwrap();
        let secret = d
            .create_session(ada, &Default::default(), now, Default::default())
            .unwrap()
            .expose()
            .to_owned();
        // A refused sign-in with its trace, for the event page.
        d.record_event(ssogate_store::audit::NewEvent {
            at: now,
            event: "login.rejected".into(),
            outcome: "failure".into(),
            reason: Some("not_in_allowed_group".into()),
            provider: Some("fake".into()),
            subject: Some("mallory".into()),
            address: Some("192.0.2.7".into()),
            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Chrome/130".into()),
            detail: Some(
                serde_json::json!({"decision": "reject", "trace": ["match: no account for fake/mallory", "groups: none of [contractors] is allowed"]})
                    .to_string(),
            ),
            ..Default::default()
        })
        .unwrap();
        let event = d
            .query_audit(&ssogate_store::query::AuditFilter {
                limit: 1,
                ..Default::default()
            })
            .unwrap()[0]
            .0;
        (bob, secret, event)
    })
    .await
    .unwrap();
    let c = &chrome.client;
    let signed_out = [
        ("login", "/login?direct=1".to_owned()),
        ("not-found", "/no/such/page".to_owned()),
        (
            "reset-link-unknown",
            "/password/reset?token=nope".to_owned(),
        ),
    ];
    let signed_in = [
        ("account", "/account".to_owned()),
        ("console-dashboard", "/admin".to_owned()),
        ("console-users", "/admin/users".to_owned()),
        ("console-user", format!("/admin/users/{}", bob.0)),
        (
            "console-user-delete",
            format!("/admin/users/{}/delete", bob.0),
        ),
        ("console-test-claims", "/admin/test-claims".to_owned()),
        ("console-audit", "/admin/audit".to_owned()),
        ("console-audit-event", format!("/admin/audit/{event}")),
        ("console-lifecycle", "/admin/lifecycle".to_owned()),
        ("console-provisioning", "/admin/provisioning".to_owned()),
        (
            "console-effective-settings",
            "/admin/effective-settings".to_owned(),
        ),
        ("console-providers", "/admin/providers".to_owned()),
        ("console-provider", "/admin/providers/fake".to_owned()),
        ("console-catalogue", "/admin/catalogue".to_owned()),
        (
            "console-catalogue-item",
            "/admin/catalogue/permission/read_books".to_owned(),
        ),
        ("console-api-keys", "/admin/api-keys".to_owned()),
        ("console-webhooks", "/admin/webhooks".to_owned()),
        ("console-clients", "/admin/clients".to_owned()),
        ("console-client-edit", "/admin/clients/wiki/edit".to_owned()),
        ("console-webhook", "/admin/webhooks/hr".to_owned()),
        (
            "console-webhook-delete",
            "/admin/webhooks/hr/delete".to_owned(),
        ),
        ("whoami", "/whoami".to_owned()),
    ];
    let dir = screenshots();
    let mut found = Vec::new();
    let mut checked = 0;
    for (signed, pages) in [(false, &signed_out[..]), (true, &signed_in[..])] {
        if signed {
            c.goto(&h.url("/login?direct=1")).await.unwrap();
            // The session an administrator's sign-in would have made.
            c.execute(
                "document.cookie = 'ssogate_session=' + arguments[0] + '; path=/'",
                vec![Value::String(secret.clone())],
            )
            .await
            .unwrap();
        }
        for (name, path) in pages {
            for (width, height, label) in [(1280, 900, "desktop"), (390, 844, "phone")] {
                c.set_window_size(width, height).await.unwrap();
                c.goto(&h.url(path)).await.unwrap();
                let v = violations(c, &axe).await;
                checked += 1;
                if !v.is_empty() {
                    found.push(serde_json::json!({"page": path, "width": label, "violations": v}));
                }
                let png = c.screenshot().await.unwrap();
                std::fs::write(dir.join(format!("{name}-{label}.png")), png).unwrap();
            }
        }
    }
    eprintln!(
        "axe-core: {checked} page views checked, {} with violations",
        found.len()
    );
    assert!(
        found.is_empty(),
        "{}",
        serde_json::to_string_pretty(&found).unwrap()
    );
}
