//! The `ssogate` command as a user runs it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ssogate() -> Command {
    let mut c = Command::cargo_bin("ssogate").unwrap();
    c.env_clear().current_dir(root());
    c
}

fn dry_run(provider: &str, claims: &str, json: bool) -> Command {
    let mut c = ssogate();
    c.args([
        "provision",
        "--dry-run",
        "--config",
        "examples/ssogate.toml",
        "--provider",
        provider,
    ])
    .args(["--claims", claims, "--existing", "examples/directory.json"]);
    if json {
        c.arg("--json");
    }
    c
}

fn json_of(c: &mut Command) -> Value {
    let out = c.assert().success().get_output().stdout.clone();
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn dry_run_json_contract() {
    let j = json_of(&mut dry_run("demo", "examples/claims/ada.json", true));
    assert_eq!(j["decision"], "provision");
    assert_eq!(j["reason"], Value::Null);
    assert_eq!(j["user"]["username"], "ada");
    assert_eq!(j["user"]["email"], "ada@example.com");
    assert_eq!(j["user"]["display_name"], "Ada Lovelace");
    assert_eq!(j["user"]["is_admin"], true);
    assert_eq!(j["user"]["status"], "active");
    assert_eq!(
        j["permissions"],
        serde_json::json!([
            "download_books",
            "edit_metadata",
            "manage_library",
            "opds",
            "read_books",
            "upload_books"
        ])
    );
    assert_eq!(j["libraries"], serde_json::json!(["contributions", "main"]));
    assert_eq!(
        j["groups"],
        serde_json::json!(["Editors", "Librarians", "Readers"])
    );
    assert!(j["trace"].as_array().is_some_and(|t| t.len() > 5));

    let j = json_of(&mut dry_run(
        "demo",
        "examples/claims/grace-unverified.json",
        true,
    ));
    assert_eq!(j["decision"], "link");
    assert_eq!(j["matched_by"], "username");

    let j = json_of(&mut dry_run("corp", "examples/claims/auth0-bob.json", true));
    assert_eq!(j["decision"], "sign_in");
    assert_eq!(j["changes"]["removed"][0]["name"], "Moderators");
}

#[test]
fn dry_run_for_people_prints_the_trace() {
    dry_run("demo", "examples/claims/ada.json", false)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("Decision:    create \"ada\"")
                .and(predicate::str::contains("Trace:")),
        );
}

#[test]
fn userinfo_is_a_separate_document() {
    let dir = tempfile::tempdir().unwrap();
    let id = dir.path().join("id.json");
    let info = dir.path().join("info.json");
    std::fs::write(&id, r#"{"sub": "u9", "email_verified": true}"#).unwrap();
    std::fs::write(
        &info,
        r#"{"sub": "u9", "email": "u9@example.org", "preferred_username": "u9"}"#,
    )
    .unwrap();
    let j = json_of(
        ssogate()
            .args([
                "provision",
                "--dry-run",
                "--config",
                "examples/ssogate.toml",
                "--provider",
                "demo",
                "--json",
            ])
            .arg("--claims")
            .arg(&id)
            .arg("--userinfo")
            .arg(&info),
    );
    assert_eq!(j["user"]["email"], "u9@example.org");
    assert_eq!(j["user"]["email_verified"], false);
}

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let bad_toml = write("bad.toml", "[provisioning]\nauto_provison = true\n");
    let bad_expr = write(
        "expr.toml",
        "[providers.x]\nissuer = \"https://x\"\n[providers.x.claims]\nemail = \"mail |\"\n",
    );
    let bad_json = write("bad.json", "{\"sub\": ");
    let array = write("array.json", "[1, 2]");
    let bad_dir = write(
        "dir.json",
        r#"{"users": [{"username": "a", "status": "sleeping"}]}"#,
    );
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec![
                "--config",
                &bad_toml,
                "--provider",
                "demo",
                "--claims",
                "examples/claims/ada.json",
            ],
            vec!["bad.toml", "provisioning.auto_provison", "unknown field"],
        ),
        (
            vec![
                "--config",
                &bad_expr,
                "--provider",
                "x",
                "--claims",
                "examples/claims/ada.json",
            ],
            vec!["providers.x.claims.email", "column 7"],
        ),
        (
            vec![
                "--config",
                "examples/ssogate.toml",
                "--provider",
                "demo",
                "--claims",
                &bad_json,
            ],
            vec!["bad.json", "not valid JSON", "line 1"],
        ),
        (
            vec![
                "--config",
                "examples/ssogate.toml",
                "--provider",
                "demo",
                "--claims",
                &array,
            ],
            vec!["must hold a JSON object, not an array"],
        ),
        (
            vec![
                "--config",
                "examples/ssogate.toml",
                "--provider",
                "demo",
                "--claims",
                "nope.json",
            ],
            vec!["cannot read the claims file"],
        ),
        (
            vec![
                "--config",
                "examples/ssogate.toml",
                "--provider",
                "demo",
                "--claims",
                "examples/claims/ada.json",
                "--existing",
                &bad_dir,
            ],
            vec!["dir.json", "users[0].status", "unknown variant"],
        ),
        (
            vec![
                "--config",
                "examples/ssogate.toml",
                "--provider",
                "nope",
                "--claims",
                "examples/claims/ada.json",
            ],
            vec!["no provider \"nope\"", "corp, demo"],
        ),
    ];
    for (args, needles) in cases {
        let out = ssogate()
            .arg("provision")
            .arg("--dry-run")
            .args(&args)
            .assert()
            .code(2)
            .get_output()
            .stderr
            .clone();
        let err = String::from_utf8_lossy(&out);
        assert!(err.starts_with("error: "), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one paragraph: {err}");
        for n in needles {
            assert!(err.contains(n), "{args:?}: `{err}` lacks `{n}`");
        }
    }
    // --dry-run is required: nothing is ever written by this command.
    ssogate()
        .args([
            "provision",
            "--config",
            "examples/ssogate.toml",
            "--provider",
            "demo",
            "--claims",
            "examples/claims/ada.json",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--dry-run"));
    // Environment variables are checked like the file.
    ssogate()
        .env("OIDC_GROUPS_CLAIM", "a..b")
        .args(["check-config", "--config", "examples/ssogate.toml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("OIDC_GROUPS_CLAIM"));
}

#[test]
fn check_config_lists_providers() {
    ssogate()
        .args(["check-config", "--config", "examples/ssogate.toml"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("2 provider(s)")
                .and(predicate::str::contains("Corporate SSO")),
        );
}

#[test]
fn migrate_creates_the_database_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("d.db").display());
    for _ in 0..2 {
        ssogate()
            .env("SSOGATE_DATABASE_URL", &url)
            .args(["migrate", "--config", "examples/ssogate.toml"])
            .assert()
            .success()
            .stdout(
                predicate::str::contains(format!(
                    "schema up to date (version {})",
                    ssogate_store::sqlite::SCHEMA_VERSION
                ))
                .and(predicate::str::contains(
                    "10 permissions, 3 libraries, 3 groups",
                )),
            );
    }
    ssogate()
        .env("SSOGATE_DATABASE_URL", "sqlite:///nonexistent/dir/x.db")
        .args(["migrate", "--config", "examples/ssogate.toml"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "cannot open the SQLite database /nonexistent/dir/x.db",
        ));
}

#[test]
fn import_pre_provisions_row_by_row_with_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("d.db").display());
    let csv = dir.path().join("users.csv");
    std::fs::write(
        &csv,
        "username,email,email_verified,display_name,provider,subject,permissions,libraries,groups,admin\n\
         ada,ada@example.com,true,Ada,corp,auth0|1,download_books;opds,main,Editors,no\n\
         bob,bob@example.com,,Bob,,,read_books,,,\n\
         Not Valid,x@example.com,,,,,,,,\n\
         carol,carol@example.com,,,,,fly,,,\n\
         dave,dave@example.com,,,corp,auth0|1,,,,\n\
         erin,erin@example.com,maybe,,,,,,,\n",
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let out = ssogate()
            .env("SSOGATE_DATABASE_URL", &url)
            .args(["import", "--config", "examples/ssogate.toml", "--json"])
            .arg(&csv)
            .args(extra)
            .assert()
            .code(1)
            .get_output()
            .stdout
            .clone();
        serde_json::from_slice::<Value>(&out).unwrap()
    };
    let dry = run(&["--dry-run"]);
    assert_eq!(
        (dry["created"].as_u64(), dry["dry_run"].as_bool()),
        (Some(2), Some(true))
    );
    let j = run(&[]);
    assert_eq!(
        (
            j["created"].as_u64(),
            j["updated"].as_u64(),
            j["skipped"].as_u64()
        ),
        (Some(2), Some(0), Some(0)),
        "the dry run wrote nothing: {j}"
    );
    let reasons: Vec<(u64, String)> = j["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["line"].as_u64().unwrap(),
                f["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(
        reasons[0].0 == 4 && reasons[0].1.contains("username \"Not Valid\" is not valid"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].0 == 5 && reasons[1].1.contains("permission \"fly\" does not exist"),
        "{reasons:?}"
    );
    assert!(
        reasons[2].0 == 6 && reasons[2].1.contains("already belongs to another account"),
        "{reasons:?}"
    );
    assert!(
        reasons[3].0 == 7 && reasons[3].1.contains("\"maybe\" is not true or false"),
        "{reasons:?}"
    );
    // Running it again changes nothing: the good rows are skipped, no partial rows exist.
    let again = run(&[]);
    assert_eq!(
        (again["created"].as_u64(), again["skipped"].as_u64()),
        (Some(0), Some(2))
    );

    // JSON Lines, a clean file: exit 0 and a summary for people.
    let jsonl = dir.path().join("more.jsonl");
    std::fs::write(&jsonl, "{\"username\": \"frank\", \"groups\": [\"Readers\"]}\n\n{\"username\": \"ada\", \"display_name\": \"Ada L.\"}\n").unwrap();
    ssogate()
        .env("SSOGATE_DATABASE_URL", &url)
        .env("USER", "importer")
        .args(["import", "--config", "examples/ssogate.toml"])
        .arg(&jsonl)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "1 created, 1 updated, 0 skipped, 0 failed",
        ));
    // Audited: a summary naming the file, and an event per account created or changed.
    let out = ssogate()
        .env("SSOGATE_DATABASE_URL", &url)
        .args([
            "audit",
            "query",
            "--config",
            "examples/ssogate.toml",
            "--json",
        ])
        .args(["--event", "import.completed"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let events: Value = serde_json::from_slice(&out).unwrap();
    let last = &events["events"][0]["detail"];
    assert_eq!(last["created"], 1, "{events}");
    assert_eq!(last["updated"], 1, "{events}");
    assert_eq!(last["actor"], "cli:importer", "{events}");
    let first = &events["events"][2]["detail"];
    assert_eq!(
        (&first["rows"], &first["failed"]),
        (&serde_json::json!(6), &serde_json::json!(4)),
        "the whole file is counted, unreadable rows too: {events}"
    );
    assert!(
        last["source"].as_str().unwrap().ends_with("more.jsonl"),
        "{events}"
    );

    // A file that cannot be understood at all is bad input.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "username,shoe_size\nada,42\n").unwrap();
    ssogate()
        .env("SSOGATE_DATABASE_URL", &url)
        .args(["import", "--config", "examples/ssogate.toml"])
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown column \"shoe_size\""));
}

#[test]
fn sweep_removes_what_has_expired() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("d.db").display());
    ssogate()
        .env("SSOGATE_DATABASE_URL", &url)
        .args(["sweep", "--config", "examples/ssogate.toml"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "removed 0 expired sessions, 0 expired login states, codes and tokens, 0 audit events older than 90 days",
        ));
}

fn provider_config(dir: &std::path::Path, issuer: &str) -> PathBuf {
    let path = dir.join("ssogate.toml");
    std::fs::write(
        &path,
        format!(
            "[providers.fake]\nissuer = \"{issuer}\"\nclient_id = \"app\"\nclient_secret = \"secret\"\n"
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_check_reports_on_a_live_provider() {
    let fake = ssogate_testkit::FakeProvider::start().await;
    fake.publish_jwk(ssogate_testkit::weak_rsa_jwk("weak"));
    let dir = tempfile::tempdir().unwrap();
    let config = provider_config(dir.path(), &fake.issuer);
    let c = config.clone();
    let out = tokio::task::spawn_blocking(move || {
        ssogate()
            .args(["--config"])
            .arg(&c)
            .args(["provider", "check", "fake", "--json"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["usable"], true);
    assert_eq!(report["keys"][0]["kid"], "k1");
    assert_eq!(report["keys"][0]["description"], "RSA 2048");
    assert!(
        report["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("1024"))
    );

    let c = config.clone();
    let human = tokio::task::spawn_blocking(move || {
        ssogate()
            .args(["--config"])
            .arg(&c)
            .args(["provider", "check", "fake"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8(human.stdout).unwrap();
    assert!(
        text.contains("token_endpoint") && text.contains("usable"),
        "{text}"
    );

    // Unknown slug: bad input. Provider gone: not usable.
    let c = config.clone();
    tokio::task::spawn_blocking(move || {
        ssogate()
            .args(["--config"])
            .arg(&c)
            .args(["provider", "check", "nope"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("fake"));
    })
    .await
    .unwrap();
    // A public client (no secret) authenticates with `none`, and says so.
    let public = dir.path().join("public.toml");
    std::fs::write(
        &public,
        format!(
            "[providers.fake]\nissuer = \"{}\"\nclient_id = \"spa\"\n",
            fake.issuer
        ),
    )
    .unwrap();
    let out = tokio::task::spawn_blocking(move || {
        ssogate()
            .args(["--config"])
            .arg(&public)
            .args(["provider", "check", "fake", "--json"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["token_auth_method_used"], "none");
    drop(fake);
    // Regression: with discovery failing, it printed "configured endpoints" and
    // "PKCE no" as if it knew; now it says the metadata could not be fetched.
    tokio::task::spawn_blocking(move || {
        ssogate()
            .args(["--config"])
            .arg(&config)
            .args(["provider", "check", "fake"])
            .assert()
            .code(1)
            .stdout(predicate::str::contains("NOT usable"))
            .stdout(predicate::str::contains("could not be fetched"))
            .stdout(predicate::str::contains("configured endpoints").not())
            .stdout(predicate::str::contains("PKCE").not());
    })
    .await
    .unwrap();
}

/// `bearer = "userinfo"` cannot check which client a token is for: refused without
/// the acknowledgement, and `provider check` warns with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn userinfo_bearer_mode_is_refused_unless_acknowledged_and_check_warns() {
    let fake = ssogate_testkit::FakeProvider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ssogate.toml");
    let base = format!(
        "[providers.fake]\nissuer = \"{}\"\nclient_id = \"app\"\nclient_secret = \"secret\"\nbearer = \"userinfo\"\n",
        fake.issuer
    );
    std::fs::write(&config, &base).unwrap();
    let c = config.clone();
    tokio::task::spawn_blocking(move || {
        ssogate()
            .args(["--config"])
            .arg(&c)
            .args(["provider", "check", "fake"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(
                "bearer_userinfo_accept_any_client",
            ));
    })
    .await
    .unwrap();
    std::fs::write(
        &config,
        format!("{base}bearer_userinfo_accept_any_client = true\n"),
    )
    .unwrap();
    tokio::task::spawn_blocking(move || {
        ssogate()
            .args(["--config"])
            .arg(&config)
            .args(["provider", "check", "fake"])
            .assert()
            .success()
            .stdout(predicate::str::contains("any of its clients"));
    })
    .await
    .unwrap();
}

/// `ssogate op keys`: the first rotation makes a key that signs at once; the next is
/// published first and signs later, the current one retiring after that.
#[test]
fn op_keys_rotate_publishes_the_next_key_before_it_signs() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("d.db").display());
    let run = |args: &[&str]| {
        let out = ssogate()
            .env("SSOGATE_DATABASE_URL", &url)
            .args(["--config", "examples/ssogate.toml"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(run(&["op", "keys", "list"]).contains("no signing key yet"));
    assert!(run(&["op", "keys", "rotate"]).contains("is published now and signs from"));
    let keys: Value = serde_json::from_str(&run(&["op", "keys", "list", "--json"])).unwrap();
    assert_eq!(keys.as_array().unwrap().len(), 1);
    assert_eq!(
        keys[0]["role"], "signing",
        "the first key signs at once: {keys}"
    );
    run(&["op", "keys", "rotate", "--publish-minutes", "15"]);
    let keys: Value = serde_json::from_str(&run(&["op", "keys", "list", "--json"])).unwrap();
    let roles: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["signing", "next"], "{keys}");
    assert!(keys[0]["retired_at"].as_i64().unwrap() > keys[1]["activates_at"].as_i64().unwrap());
    // Another algorithm's key is its own: the RS256 keys are left as they are.
    run(&["op", "keys", "rotate", "--alg", "ES256"]);
    let keys: Value = serde_json::from_str(&run(&["op", "keys", "list", "--json"])).unwrap();
    let of = |alg: &str| -> Vec<(String, bool)> {
        keys.as_array()
            .unwrap()
            .iter()
            .filter(|k| k["alg"] == alg)
            .map(|k| {
                (
                    k["role"].as_str().unwrap().to_owned(),
                    k["retired_at"].is_null(),
                )
            })
            .collect()
    };
    assert_eq!(of("ES256"), [("signing".to_owned(), true)], "{keys}");
    assert_eq!(of("RS256").len(), 2, "{keys}");
}

/// With `[server] signing_key_files`, `op keys list` shows the files' keys (the first
/// of an algorithm signs) and `op keys rotate` refuses, saying how to rotate them.
#[test]
fn op_keys_from_files_are_listed_and_not_rotated_here() {
    use base64::Engine as _;
    use ssogate_op::keys::{Alg, SigningKey};
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut kids = Vec::new();
    for name in ["new.pem", "old.pem"] {
        let key = SigningKey::generate_for(Alg::RS256).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(key.to_pkcs8().unwrap());
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n"),
        )
        .unwrap();
        files.push(format!("\"{}\"", path.display()));
        kids.push(key.kid);
    }
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = \"sqlite://{}\"\nbase_url = \"http://127.0.0.1:1\"\n[server]\nsigning_key_files = [{}]\n",
            dir.path().join("d.db").display(),
            files.join(", ")
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        ssogate()
            .args(["--config"])
            .arg(&config)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["op", "keys", "list", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(keys[0]["kid"], kids[0].as_str());
    assert_eq!(
        (&keys[0]["role"], &keys[1]["role"]),
        (
            &serde_json::json!("signing"),
            &serde_json::json!("published")
        )
    );
    let out = run(&["op", "keys", "rotate"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("signing_key_files"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `ssogate client …`: a registered client's secret is printed once and kept only as a
/// digest; list and show never print it; rotate-secret prints a new one; a bad setting
/// is refused with the key it names (exit 2); delete removes it.
#[test]
fn clients_are_registered_rotated_and_removed_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("d.db").display());
    let run = |args: &[&str]| {
        ssogate()
            .env("SSOGATE_DATABASE_URL", &url)
            .args(["--config", "examples/ssogate.toml"])
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&[
        "client",
        "add",
        "grafana",
        "--redirect-uri",
        "https://grafana.example.org/login/generic_oauth",
        "--settings",
        r#"{"scopes": ["openid", "profile", "groups"]}"#,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secret = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(secret.len() >= 43, "{secret}");
    let listed = String::from_utf8(run(&["client", "list"]).stdout).unwrap();
    assert!(
        listed.contains("grafana") && listed.contains("confidential"),
        "{listed}"
    );
    let shown = String::from_utf8(run(&["client", "show", "grafana", "--json"]).stdout).unwrap();
    assert!(!shown.contains(&secret) && !listed.contains(&secret));
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(
        shown["settings"]["scopes"],
        serde_json::json!(["openid", "profile", "groups"])
    );

    let out = run(&["client", "rotate-secret", "grafana"]);
    assert!(out.status.success());
    assert_ne!(String::from_utf8(out.stdout).unwrap().trim(), secret);

    let out = run(&[
        "client",
        "update",
        "grafana",
        "--settings",
        r#"{"scopes": ["profile"]}"#,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("openid"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    assert!(run(&["client", "delete", "grafana"]).status.success());
    let out = run(&["client", "show", "grafana"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `ssogate lifecycle --dry-run` answers in words and in JSON (what it decides is tested
/// in the server's lifecycle tests).
#[test]
fn lifecycle_dry_run_answers_in_words_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("d.db").display());
    let config = dir.path().join("ssogate.toml");
    std::fs::write(
        &config,
        std::fs::read_to_string(root().join("examples/ssogate.toml")).unwrap()
            + "\n[lifecycle]\ndisable_after_days = 1\nexclude_admins = true\n",
    )
    .unwrap();
    let users = dir.path().join("users.csv");
    std::fs::write(&users, "username\nsleeper\n").unwrap();
    let run = |args: &[&str]| {
        ssogate()
            .env("SSOGATE_DATABASE_URL", &url)
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .unwrap()
    };
    assert!(run(&["import", users.to_str().unwrap()]).status.success());
    // Just imported: not idle yet.
    let out = run(&["lifecycle", "--dry-run"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("would change nobody"));
    let json: Value =
        serde_json::from_slice(&run(&["lifecycle", "--dry-run", "--json"]).stdout).unwrap();
    assert_eq!(json, serde_json::json!([]));
}

#[test]
fn config_show_effective_says_every_value_and_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("d.db").display());
    let out = ssogate()
        .env("SSOGATE_DATABASE_URL", &url)
        .args([
            "config",
            "show",
            "--effective",
            "--provider",
            "corp",
            "--json",
            "--config",
            "examples/ssogate.toml",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let find = |key: &str| {
        v["corp"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("{key} missing: {v}"))
    };
    assert_eq!(
        find("provisioning.link_by_email")["source"],
        "[providers.corp.provisioning] in the file"
    );
    assert_eq!(find("provisioning.require_approval")["source"], "default");
    assert_eq!(
        find("provisioning.match_by")["source"],
        "[provisioning] in the file"
    );
    ssogate()
        .env("SSOGATE_DATABASE_URL", &url)
        .args([
            "config",
            "show",
            "--effective",
            "--provider",
            "nope",
            "--config",
            "examples/ssogate.toml",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no provider \"nope\""));
}
