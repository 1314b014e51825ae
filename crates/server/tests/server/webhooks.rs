//! Webhooks out: a first sign-in and an administrator's change reach the example
//! receiver (`examples/webhook-receiver/receiver.py`), whose Standard Webhooks library
//! verifies ssogate's signatures; a replay carries the same `webhook-id`; a receiver that
//! fails is recorded in the delivery log and tried again later; the API refuses what it
//! must and never shows a secret twice.

use crate::external::{Proc, free_port};
use crate::support::{Browser, Harness, Opts};
use serde_json::{Value, json};
use ssogate_store::credentials::ApiScope;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The example receiver on `port`, and the JSON lines it prints.
fn start_receiver(secret: &str, port: u16) -> Option<(Proc, mpsc::Receiver<Value>)> {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/webhook-receiver/receiver.py");
    let has_library = Command::new("python3")
        .args(["-c", "import standardwebhooks"])
        .output();
    crate::external::available(
        "the example webhook receiver",
        "TEST_SSOGATE_REQUIRE_PYTHON",
        (!has_library.is_ok_and(|o| o.status.success())).then(|| {
            "python3 with the standardwebhooks package (PyPI) is not installed".to_owned()
        }),
    )?;
    let mut child = Command::new("python3")
        .arg(script)
        .env("WEBHOOK_SECRET", secret)
        .env("WEBHOOK_PORT", port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.starts_with("listening "), "{first}");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                break;
            }
        }
    });
    Some((Proc(child), rx))
}

/// The receiver's next line (it prints as it receives; bounded wait).
async fn next(rx: &mut mpsc::Receiver<Value>) -> Value {
    let r = std::mem::replace(rx, mpsc::channel().1);
    let (line, r) = tokio::task::spawn_blocking(move || {
        let line = r.recv_timeout(Duration::from_secs(30));
        (line, r)
    })
    .await
    .unwrap();
    *rx = r;
    line.expect("the receiver heard nothing within 30 s")
}

async fn key(h: &Harness, scope: ApiScope) -> String {
    let d = h.directory.clone();
    tokio::task::spawn_blocking(move || d.create_api_key("t", scope, 1))
        .await
        .unwrap()
        .unwrap()
        .expose()
        .to_owned()
}

/// The endpoint's deliveries once `done` holds for them (polled, bounded).
async fn deliveries_when(
    h: &Harness,
    key: &str,
    name: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    for _ in 0..300 {
        let (s, v) = crate::support::api_call(
            h,
            "GET",
            &format!("/api/v1/webhooks/{name}/deliveries"),
            key,
            None,
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let list = v.as_array().unwrap().clone();
        if done(&list) {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the deliveries of {name} never reached the expected state");
}

#[tokio::test]
async fn sign_ins_and_changes_reach_a_receiver_that_verifies_them_with_the_standard_library() {
    let h = Harness::start(Opts::default()).await;
    h.idp.set_user(
        "alice",
        json!({"preferred_username": "alice", "email": "alice@example.org", "email_verified": true}),
    );
    let admin = key(&h, ApiScope::Admin).await;
    let port = free_port();
    let (s, created) = crate::support::api_call(
        &h,
        "POST",
        "/api/v1/webhooks",
        &admin,
        Some(
            json!({"name": "hr", "url": format!("http://127.0.0.1:{port}/"),
                    "events": ["user.provisioned", "user.disabled"]}),
        ),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    // Shown once: never again in a listing or a read.
    let (_, listed) = crate::support::api_call(&h, "GET", "/api/v1/webhooks", &admin, None).await;
    assert!(!listed.to_string().contains(&secret[6..]), "{listed}");
    assert_eq!(
        listed[0]["events"],
        json!(["user.provisioned", "user.disabled"])
    );
    let Some((_receiver, mut heard)) = start_receiver(&secret, port) else {
        return;
    };

    let b = Browser::new();
    assert_eq!(b.login(&h, "alice").await.status, 303);
    let e = next(&mut heard).await;
    assert_eq!(
        e,
        json!({"type": "user.provisioned", "username": "alice", "status": "active"})
    );

    let (s, _) = crate::support::api_call(
        &h,
        "PATCH",
        "/api/v1/users/alice",
        &admin,
        Some(json!({"status": "disabled"})),
    )
    .await;
    assert_eq!(s, 200);
    let e = next(&mut heard).await;
    assert_eq!(
        e,
        json!({"type": "user.disabled", "username": "alice", "status": "disabled"})
    );

    let log = deliveries_when(&h, &admin, "hr", |l| {
        l.len() == 2 && l.iter().all(|d| d["state"] == "delivered")
    })
    .await;
    assert_eq!(log[1]["event_type"], "user.provisioned");
    assert_eq!(
        (log[1]["attempts"].as_i64(), log[1]["last_status"].as_i64()),
        (Some(1), Some(204))
    );

    // A replay is the same message: the receiver knows it has it.
    let (s, replayed) = crate::support::api_call(
        &h,
        "POST",
        &format!("/api/v1/webhooks/deliveries/{}/replay", log[1]["id"]),
        &admin,
        None,
    )
    .await;
    assert_eq!(s, 202, "{replayed}");
    assert_eq!(replayed["msg_id"], log[1]["msg_id"]);
    assert_eq!(
        next(&mut heard).await,
        json!({"duplicate": log[1]["msg_id"]})
    );

    // After a new secret, deliveries are signed with it: the receiver, still holding
    // the old one, refuses them, and the log says so.
    let (s, rotated) =
        crate::support::api_call(&h, "POST", "/api/v1/webhooks/hr/secret", &admin, None).await;
    assert_eq!(s, 201);
    assert_ne!(rotated["secret"], created["secret"]);
    let (s, _) =
        crate::support::api_call(&h, "POST", "/api/v1/webhooks/hr/ping", &admin, None).await;
    assert_eq!(s, 202);
    assert!(next(&mut heard).await.get("rejected").is_some());
    let log = deliveries_when(&h, &admin, "hr", |l| {
        l.first().is_some_and(|d| d["last_status"] == 401)
    })
    .await;
    assert_eq!(log[0]["event_type"], "ping");
    assert_eq!(log[0]["state"], "pending");
    assert_eq!(log[0]["last_error"], "answered HTTP 401");
    assert!(
        log[0]["next_attempt_at"].as_i64().unwrap()
            >= log[0]["last_attempt_at"].as_i64().unwrap() + 5
    );
    assert!(
        h.audit()
            .iter()
            .any(|e| e.starts_with("admin.webhook.secret_rotated")),
        "{:?}",
        h.audit()
    );
}

#[tokio::test]
async fn the_webhook_api_refuses_bad_input_and_read_keys() {
    let h = Harness::start(Opts::default()).await;
    let (admin, read) = (
        key(&h, ApiScope::Admin).await,
        key(&h, ApiScope::Read).await,
    );
    let add =
        |name: &str, url: &str, events: Value| json!({"name": name, "url": url, "events": events});
    let cases = [
        (add("a", "http://hooks.example.com/", json!([])), 422, "url"),
        (add("a", "ftp://127.0.0.1/", json!([])), 422, "url"),
        (
            add("a b", "https://hooks.example.com/", json!([])),
            422,
            "name",
        ),
        (
            add("a", "https://hooks.example.com/", json!(["user.removed"])),
            422,
            "events",
        ),
        // A misspelt name beside `*` is refused too (it was taken as `*`: found by
        // schemathesis).
        (
            add(
                "a",
                "https://hooks.example.com/",
                json!(["*", "user.removed"]),
            ),
            422,
            "events",
        ),
    ];
    for (body, status, field) in cases {
        let (s, v) =
            crate::support::api_call(&h, "POST", "/api/v1/webhooks", &admin, Some(body.clone()))
                .await;
        assert_eq!(
            (s, v["errors"][0]["field"].as_str()),
            (status, Some(field)),
            "{body}: {v}"
        );
    }
    let ok = add("a", "https://hooks.example.com/", json!(["*"]));
    let (s, _) =
        crate::support::api_call(&h, "POST", "/api/v1/webhooks", &read, Some(ok.clone())).await;
    assert_eq!(s, 403);
    let (s, v) =
        crate::support::api_call(&h, "POST", "/api/v1/webhooks", &admin, Some(ok.clone())).await;
    assert_eq!((s, &v["events"]), (201, &json!(["*"])));
    let (s, _) = crate::support::api_call(&h, "POST", "/api/v1/webhooks", &admin, Some(ok)).await;
    assert_eq!(s, 409);
    let (s, v) = crate::support::api_call(
        &h,
        "PATCH",
        "/api/v1/webhooks/a",
        &admin,
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!((s, &v["enabled"]), (200, &json!(false)));
    let (s, v) = crate::support::api_call(
        &h,
        "PATCH",
        "/api/v1/webhooks/a",
        &admin,
        Some(json!({"events": ["user.deleted", "*", "__not_in_enum__"]})),
    )
    .await;
    assert_eq!(
        (s, v["errors"][0]["field"].as_str()),
        (422, Some("events")),
        "{v}"
    );
    let (s, _) = crate::support::api_call(
        &h,
        "GET",
        "/api/v1/webhooks/a/deliveries?limit=0",
        &read,
        None,
    )
    .await;
    assert_eq!(s, 422);
    let (s, _) = crate::support::api_call(&h, "DELETE", "/api/v1/webhooks/a", &admin, None).await;
    assert_eq!(s, 204);
    for (method, path) in [
        ("GET", "/api/v1/webhooks/a"),
        ("DELETE", "/api/v1/webhooks/a"),
        ("GET", "/api/v1/webhooks/a/deliveries"),
        ("POST", "/api/v1/webhooks/deliveries/12345/replay"),
    ] {
        let (s, v) = crate::support::api_call(&h, method, path, &admin, None).await;
        assert_eq!(s, 404, "{method} {path}: {v}");
    }
}
