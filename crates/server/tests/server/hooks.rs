//! Provisioning hooks against the real example hook (`examples/provisioning-hook/hook.py`,
//! a Python process on 127.0.0.1): its answers shape sign-ins, its denial refuses with
//! its message and creates no account, a request it cannot verify fails closed, an
//! unreachable hook that fails open does not block, and dry runs ask it too.

use crate::external::{Proc, free_port, read_until};
use crate::support::{Browser, Harness, Opts};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Stdio};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The example hook, listening; its base URL and the process.
fn start_hook() -> Option<(String, Proc)> {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/provisioning-hook/hook.py");
    let python = Command::new("python3").arg("--version").output();
    crate::external::available(
        "the example provisioning hook",
        "TEST_SSOGATE_REQUIRE_PYTHON",
        (!python.is_ok_and(|o| o.status.success())).then(|| "python3 is not on PATH".to_owned()),
    )?;
    let mut child = Command::new("python3")
        .arg(script)
        .env("HOOK_SECRET", SECRET)
        .env("HOOK_PORT", free_port().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = read_until(&mut child, "listening ");
    Some((url, Proc(child)))
}

/// `extra` TOML, kept for the harness's lifetime (the test's).
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

async fn harness(hooks: &str) -> Harness {
    Harness::start(Opts {
        extra: leak(format!(
            "{hooks}\n[providers.fake.provisioning]\nhooks = [{}]\n",
            hooks
                .lines()
                .filter_map(|l| l.strip_prefix("[hooks."))
                .map(|n| format!("\"{}\"", n.trim_end_matches(']')))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        ..Opts::default()
    })
    .await
}

fn people(h: &Harness) {
    h.idp.set_user(
        "alice",
        json!({"preferred_username": "alice", "email": "alice@example.org", "email_verified": true,
               "name": "Alice", "department": "Engineering"}),
    );
    h.idp.set_user(
        "mallory",
        json!({"preferred_username": "mallory", "email": "mallory@contractors.example",
               "email_verified": true, "name": "Mallory"}),
    );
}

#[tokio::test]
async fn the_example_hook_shapes_sign_ins_and_its_denial_creates_no_account() {
    let Some((url, _hook)) = start_hook() else {
        return;
    };
    let h = harness(&format!(
        "[hooks.directory]\nurl = \"{url}\"\nsecret = \"{SECRET}\"\ntimeout_ms = 5000\n"
    ))
    .await;
    people(&h);
    let b = Browser::new();
    assert_eq!(b.login(&h, "alice").await.status, 303);
    let alice = h.directory.user_by_username("alice").unwrap().unwrap();
    assert_eq!(alice.display_name.as_deref(), Some("Alice (Engineering)"));
    assert!(
        alice.grants.iter().any(|g| g.name == "Readers"),
        "{:?}",
        alice.grants
    );
    let v = b.get(&h.url("/auth/verify")).await;
    assert_eq!(v.header("remote-groups").as_deref(), Some("Readers"));
    // The hook refuses contractors, in its words; nobody is created.
    let users = h.users();
    let r = Browser::new().login(&h, "mallory").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("partner portal"), "{}", r.body);
    assert_eq!(h.users(), users);
    assert!(
        h.audit()
            .iter()
            .any(|e| e.ends_with("/failure/denied_by_hook")),
        "{:?}",
        h.audit()
    );
    // A dry run asks the hook too, and says so in the trace.
    let d = h.directory.clone();
    let key = d
        .create_api_key("admin", ssogate_store::credentials::ApiScope::Admin, 1)
        .unwrap();
    let http = ssogate_oidc::http::client("t", &Default::default()).unwrap();
    let res = http
        .post(h.url("/api/v1/decisions"))
        .header("authorization", format!("Bearer {}", key.expose()))
        .header("content-type", "application/json")
        .body(
            json!({"provider": "fake", "claims": {"sub": "new", "email": "eve@contractors.example"}})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    let answer: Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    assert_eq!(answer["reason"], "denied_by_hook", "{answer}");
    assert!(
        answer["trace"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("hook \"directory\" denies")),
        "{answer}"
    );
    // Chosen per provider through the API too; a name the configuration lacks is refused.
    let call = |method: &str, body: Option<Value>| {
        let mut req = http
            .request(
                method.parse().unwrap(),
                h.url("/api/v1/providers/fake/provisioning"),
            )
            .header("authorization", format!("Bearer {}", key.expose()));
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap_or(Value::Null);
            (status, v)
        }
    };
    let (s, v) = call("GET", None).await;
    assert_eq!((s, &v["hooks"]), (200, &json!(["directory"])), "{v}");
    let (s, v) = call("PATCH", Some(json!({"hooks": ["nope"]}))).await;
    assert_eq!(s, 422, "{v}");
    assert!(v.to_string().contains("no hook"), "{v}");
    let (s, v) = call("PATCH", Some(json!({"hooks": []}))).await;
    assert_eq!((s, &v["hooks"]), (200, &json!([])), "{v}");
}

#[tokio::test]
async fn a_hook_that_cannot_be_trusted_or_reached_fails_as_configured() {
    let Some((url, _hook)) = start_hook() else {
        return;
    };
    // Signed with another secret: the hook refuses to answer (401), and the hook fails
    // closed: the sign-in is refused, nobody is created.
    let h = harness(&format!(
        "[hooks.directory]\nurl = \"{url}\"\nsecret = \"whsec_c29tZSBvdGhlciBzZWNyZXQga2V5IGhlcmU=\"\n"
    ))
    .await;
    people(&h);
    let r = Browser::new().login(&h, "alice").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(h.users(), 0);
    assert!(
        h.audit()
            .iter()
            .any(|e| e.ends_with("/failure/hook_failed")),
        "{:?}",
        h.audit()
    );
    // Nobody listening, and the operator chose to fail open: the policy decides alone.
    let closed = free_port();
    let h = harness(&format!(
        "[hooks.gone]\nurl = \"http://127.0.0.1:{closed}/\"\nsecret = \"{SECRET}\"\non_failure = \"ignore\"\n"
    ))
    .await;
    people(&h);
    assert_eq!(Browser::new().login(&h, "alice").await.status, 303);
    let alice = h.directory.user_by_username("alice").unwrap().unwrap();
    assert_eq!(alice.display_name.as_deref(), Some("Alice"));
}
