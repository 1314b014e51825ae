//! `ssogate user …`, `ssogate apikey …`, `ssogate audit …` as an administrator runs
//! them: every command, `--json` parsed, bad input → exit 2 with a clear message.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::{Value, json};
use ssogate_core::claims::ClaimSources;
use ssogate_core::domain::UserStatus;
use ssogate_store::prelude::*;
use ssogate_store::{RequestContext, SqliteStore};
use std::path::PathBuf;

/// A directory with alice (active, verified, groups) and bob (pending).
fn fixture() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ssogate.toml");
    std::fs::write(
        &config,
        format!(
            r#"database_url = "sqlite://{}"
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
[providers.corp]
issuer = "https://idp.example.com"
client_id = "app"
client_secret = "secret"
"#,
            dir.path().join("s.db").display()
        ),
    )
    .unwrap();
    let cfg = ssogate_config::load_with_env(Some(&config), &[]).unwrap();
    let store = SqliteStore::open(&dir.path().join("s.db")).unwrap();
    store.sync_catalogue(&cfg.catalogue).unwrap();
    let engine = cfg.engine("corp").unwrap();
    for (sub, verified) in [("alice", true), ("bob", false)] {
        let claims = json!({"iss": "https://idp.example.com", "sub": sub, "preferred_username": sub,
            "email": format!("{sub}@example.org"), "email_verified": verified, "groups": ["readers"]});
        store
            .login(
                engine.clone(),
                ClaimSources::id_token(claims),
                RequestContext::now(),
            )
            .unwrap();
    }
    let bob = store.user_by_username("bob").unwrap().unwrap();
    store
        .set_user_status(bob.id, UserStatus::Pending, 1)
        .unwrap();
    (dir, config)
}

fn ssogate(config: &PathBuf) -> Command {
    let mut c = Command::cargo_bin("ssogate").unwrap();
    c.env_clear()
        .env("USER", "tester")
        .arg("--config")
        .arg(config);
    c
}

fn json_of(c: &mut Command) -> Value {
    let out = c.assert().success().get_output().stdout.clone();
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn users_are_listed_shown_and_filtered() {
    let (_dir, config) = fixture();
    let v = json_of(ssogate(&config).args(["user", "list", "--json"]));
    let names: Vec<&str> = v["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    let v = json_of(ssogate(&config).args(["user", "list", "--status", "pending", "--json"]));
    assert_eq!(v["users"][0]["username"], "bob");
    let v = json_of(ssogate(&config).args(["user", "list", "--search", "ALI", "--json"]));
    assert_eq!(v["users"].as_array().unwrap().len(), 1);
    let v = json_of(ssogate(&config).args([
        "user", "list", "--limit", "1", "--sort", "created", "--desc", "--json",
    ]));
    assert!(v["next"].is_string(), "{v}");
    ssogate(&config)
        .args(["user", "list"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("USERNAME").and(predicate::str::contains("alice@example.org")),
        );

    let v = json_of(ssogate(&config).args(["user", "show", "ALICE", "--json"]));
    assert_eq!(v["username"], "alice");
    assert_eq!(v["status"], "active");
    assert_eq!(v["identities"][0]["provider"], "corp");
    // Regression: `user show` said "id": "1" where `user list` and the API say 1.
    let listed = json_of(ssogate(&config).args(["user", "list", "--json"]));
    assert!(v["id"].is_i64(), "{v}");
    assert_eq!(v["id"], listed["users"][0]["id"]);
    ssogate(&config)
        .args(["user", "show", "alice"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("group:").and(predicate::str::contains("Readers (provider)")),
        );

    for (args, message) in [
        (
            vec!["user", "list", "--status", "gone"],
            "--status: \"gone\" is not active, disabled or pending",
        ),
        (vec!["user", "list", "--sort", "age"], "--sort"),
        (
            vec!["user", "list", "--limit", "0"],
            "--limit: 0 is outside 1–500",
        ),
        (vec!["user", "list", "--after", "garbage"], "cursor"),
        (vec!["user", "show", "nobody"], "no account \"nobody\""),
    ] {
        ssogate(&config)
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message));
    }
}

/// Regression: a display name with terminal escape sequences was printed raw (it could
/// retitle the terminal or rewrite lines); and `… | head -1` made the command panic on
/// the closed pipe.
#[test]
fn output_escapes_control_characters_and_a_closed_pipe_is_no_panic() {
    let (_dir, config) = fixture();
    // The administrative surfaces refuse such a name; one already stored (from a claim
    // before control characters were stripped, or an edit by hand) must not bite.
    let evil = "Eve\u{1b}]0;pwned\u{7}\u{1b}[2J";
    ssogate(&config)
        .args(["user", "update", "alice", "--display-name", evil])
        .assert()
        .code(2);
    let db = config.parent().unwrap().join("s.db");
    let store = SqliteStore::open(&db).unwrap();
    let name = evil.to_owned();
    store
        .with_writer(move |c| {
            c.execute(
                "UPDATE users SET display_name = ?1 WHERE username = 'alice'",
                [name],
            )
            .map_err(ssogate_store::StoreError::from)
        })
        .unwrap();
    drop(store);
    for args in [
        &["user", "show", "alice"][..],
        &["user", "list", "--limit", "5"],
    ] {
        let out = ssogate(&config).args(args).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{text:?}"
        );
        if args[1] == "show" {
            assert!(text.contains("Eve\\u{1b}]0;pwned"), "{text}");
        }
    }
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("ssogate"))
        .env_clear()
        .arg("--config")
        .arg(&config)
        .args(["user", "list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away at once, like `head` would
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}

#[test]
fn statuses_external_ids_and_deletion_are_audited() {
    let (_dir, config) = fixture();
    ssogate(&config)
        .args(["user", "disable", "alice"])
        .assert()
        .success()
        .stdout(predicate::str::contains("now disabled"));
    ssogate(&config)
        .args(["user", "enable", "alice"])
        .assert()
        .success();
    ssogate(&config)
        .args(["user", "approve", "bob"])
        .assert()
        .success()
        .stdout(predicate::str::contains("now active"));
    ssogate(&config)
        .args(["user", "approve", "alice"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not awaiting approval"));

    ssogate(&config)
        .args(["user", "set-external-id", "alice", "corp", "ext-1"])
        .assert()
        .success();
    let v = json_of(ssogate(&config).args(["user", "show", "alice", "--json"]));
    assert_eq!(v["external_ids"]["corp"], "ext-1");
    ssogate(&config)
        .args(["user", "set-external-id", "bob", "corp", "ext-1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("already has the external id"));
    ssogate(&config)
        .args(["user", "set-external-id", "alice", "corp"])
        .assert()
        .code(2);
    ssogate(&config)
        .args(["user", "set-external-id", "alice", "corp", "--clear"])
        .assert()
        .success();
    let v = json_of(ssogate(&config).args(["user", "show", "alice", "--json"]));
    assert!(v["external_ids"].as_object().unwrap().is_empty());

    // Deleting asks; without a terminal it needs --force.
    ssogate(&config)
        .args(["user", "delete", "bob"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--force"));
    ssogate(&config)
        .args(["user", "delete", "bob", "--force"])
        .assert()
        .success();
    let v = json_of(ssogate(&config).args(["user", "list", "--json"]));
    assert_eq!(v["users"].as_array().unwrap().len(), 1);

    let v = json_of(ssogate(&config).args([
        "audit",
        "query",
        "--event",
        "admin.user.disabled",
        "--json",
    ]));
    assert_eq!(v["events"][0]["detail"]["actor"], "cli:tester");
    assert_eq!(v["events"][0]["detail"]["username"], "alice");
    for event in [
        "admin.user.enabled",
        "admin.user.approved",
        "admin.user.external_id",
        "admin.user.deleted",
    ] {
        let v = json_of(ssogate(&config).args(["audit", "query", "--event", event, "--json"]));
        assert!(!v["events"].as_array().unwrap().is_empty(), "{event}");
    }
}

#[test]
fn api_keys_are_shown_once_listed_and_revoked() {
    let (_dir, config) = fixture();
    let v =
        json_of(ssogate(&config).args(["apikey", "create", "ci", "--scope", "admin", "--json"]));
    let key = v["key"].as_str().unwrap();
    assert!(key.starts_with("ssg_"), "{key}");
    assert_eq!(v["scope"], "admin");
    let list = json_of(ssogate(&config).args(["apikey", "list", "--json"]));
    let keys = list["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert!(
        !list.to_string().contains(key),
        "the secret is never listed"
    );
    let id = keys[0]["id"].as_i64().unwrap().to_string();
    ssogate(&config)
        .args(["apikey", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("live"));
    ssogate(&config)
        .args(["apikey", "revoke", &id])
        .assert()
        .success();
    ssogate(&config)
        .args(["apikey", "revoke", &id])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no live API key"));
    ssogate(&config)
        .args(["apikey", "create", "x", "--scope", "root"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--scope: \"root\" is not read, admin or scim",
        ));
    // A SCIM token is bound to a configured provider, and only it is.
    ssogate(&config)
        .args(["apikey", "create", "idp", "--scope", "scim"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--provider goes with --scope scim",
        ));
    ssogate(&config)
        .args([
            "apikey",
            "create",
            "idp",
            "--scope",
            "scim",
            "--provider",
            "nowhere",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no provider \"nowhere\""));
    let out = ssogate(&config)
        .args([
            "apikey",
            "create",
            "idp",
            "--scope",
            "scim",
            "--provider",
            "corp",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (made["scope"].as_str(), made["provider"].as_str()),
        (Some("scim"), Some("corp"))
    );
    ssogate(&config)
        .args(["apikey", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("scim:corp"));
    ssogate(&config)
        .args(["apikey", "create", "  "])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("name"));
}

#[test]
fn the_audit_log_is_queried_and_exported() {
    let (_dir, config) = fixture();
    let v = json_of(ssogate(&config).args(["audit", "query", "--json", "--user", "alice"]));
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event"], "user.provisioned");
    let v = json_of(ssogate(&config).args([
        "audit",
        "query",
        "--json",
        "--since",
        "2000-01-01",
        "--outcome",
        "success",
    ]));
    assert_eq!(v["events"].as_array().unwrap().len(), 2);
    let v = json_of(ssogate(&config).args(["audit", "query", "--json", "--until", "1970-01-02"]));
    assert!(v["events"].as_array().unwrap().is_empty());
    let out = ssogate(&config)
        .args(["audit", "export"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let mut rows = csv::Reader::from_reader(out.as_slice());
    assert_eq!(rows.headers().unwrap().get(2), Some("event"));
    assert_eq!(rows.records().count(), 2);
    ssogate(&config)
        .args(["audit", "query"])
        .assert()
        .success()
        .stdout(predicate::str::contains("user.provisioned"));
    for (args, message) in [
        (
            vec!["audit", "query", "--since", "yesterday"],
            "--since: \"yesterday\"",
        ),
        (vec!["audit", "query", "--outcome", "meh"], "--outcome"),
        (
            vec!["audit", "query", "--user", "nobody"],
            "no account \"nobody\"",
        ),
        (vec!["audit", "query", "--limit", "0"], "limit"),
    ] {
        ssogate(&config)
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message));
    }
}

#[test]
fn accounts_are_added_and_their_grants_changed() {
    let (_dir, config) = fixture();
    let v = json_of(ssogate(&config).args([
        "user",
        "add",
        "carol",
        "--email",
        "carol@example.org",
        "--provider",
        "corp",
        "--subject",
        "carol-sub",
        "--permission",
        "download_books",
        "--json",
    ]));
    assert_eq!(v["username"], "carol");
    assert_eq!(v["source"], "api");
    ssogate(&config)
        .args(["user", "add", "carol"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("already exists"));
    ssogate(&config)
        .args(["user", "add", "dave", "--provider", "corp"])
        .assert()
        .code(2);

    let v = json_of(ssogate(&config).args([
        "user",
        "update",
        "alice",
        "--grant",
        "admin:admin",
        "--grant",
        "permission:download_books",
        "--json",
    ]));
    assert_eq!(v["admin"], true, "{v}");
    assert!(
        v["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "download_books" && g["source"] == "admin"),
        "{v}"
    );
    ssogate(&config)
        .args(["user", "update", "alice", "--revoke", "group:Readers"])
        .assert()
        .success();
    let v = json_of(ssogate(&config).args(["user", "show", "alice", "--json"]));
    assert!(v["groups"].as_array().unwrap().is_empty(), "{v}");
    for (args, message) in [
        (vec!["user", "update", "alice"], "nothing to change"),
        (
            vec!["user", "update", "alice", "--grant", "superpower"],
            "is not KIND:NAME",
        ),
        (
            vec!["user", "update", "alice", "--grant", "permission:fly"],
            "no permission \"fly\"",
        ),
        (
            vec!["user", "update", "alice", "--revoke", "library:kids"],
            "no grant",
        ),
    ] {
        ssogate(&config)
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message));
    }
    let v = json_of(ssogate(&config).args([
        "audit",
        "query",
        "--event",
        "admin.user.granted",
        "--json",
    ]));
    assert_eq!(v["events"].as_array().unwrap().len(), 2);
}

#[test]
fn providers_and_settings_are_shown_and_settings_changed() {
    let (_dir, config) = fixture();
    let out = ssogate(&config)
        .args(["provider", "list", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v[0]["slug"], "corp");
    let out = ssogate(&config)
        .args(["provider", "show", "corp", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["linked_accounts"], 2);
    assert_eq!(v["client_secret"], "[set]");
    assert!(
        !v.to_string().contains("\"secret\""),
        "the secret is never printed"
    );
    ssogate(&config)
        .args(["provider", "show", "nope"])
        .assert()
        .code(2);

    let v = json_of(ssogate(&config).args(["settings", "show", "--json"]));
    assert_eq!(v["corp"]["auto_provision"], true);
    assert_eq!(v["corp"]["default_permissions"], json!(["download_books"]));
    ssogate(&config)
        .args(["settings", "set", "corp", "auto_provision", "false"])
        .assert()
        .success();
    let v = json_of(ssogate(&config).args(["settings", "show", "corp", "--json"]));
    assert_eq!(v["corp"]["auto_provision"], false);
    assert_eq!(
        v["corp"]["default_permissions"],
        json!(["download_books"]),
        "the defaults are kept"
    );
    for (args, message) in [
        (
            vec!["settings", "set", "corp", "colour", "1"],
            "not a provisioning setting",
        ),
        (
            vec!["settings", "set", "corp", "auto_provision", "perhaps"],
            "not a JSON value",
        ),
        (
            vec![
                "settings",
                "set",
                "corp",
                "default_permissions",
                "[\"fly\"]",
            ],
            "nothing was saved",
        ),
        (
            vec!["settings", "set", "nope", "auto_provision", "true"],
            "no provider \"nope\"",
        ),
    ] {
        ssogate(&config)
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message));
    }
    let v = json_of(ssogate(&config).args(["settings", "show", "corp", "--json"]));
    assert_eq!(v["corp"]["default_permissions"], json!(["download_books"]));
    ssogate(&config)
        .args(["audit", "tail", "-n", "3"])
        .assert()
        .success()
        .stdout(predicate::str::contains("admin.settings.saved"));
    ssogate(&config)
        .args(["audit", "tail", "-n", "0"])
        .assert()
        .code(2);
}

#[test]
fn providers_are_added_updated_and_deleted_in_the_database() {
    let (dir, config) = fixture();
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "s3cr3t-value\n").unwrap();
    let v = json_of(ssogate(&config).args([
        "provider",
        "add",
        "partner",
        "--issuer",
        "https://partner.example",
        "--client-id",
        "app",
        "--client-secret-file",
        secret.to_str().unwrap(),
        "--display-name",
        "Partner",
        "--set",
        "trust_email=\"always\"",
        "--json",
    ]));
    assert_eq!(v["slug"], "partner");
    assert_eq!(v["client_secret_set"], true);
    assert!(!v.to_string().contains("s3cr3t"), "{v}");
    let v = json_of(ssogate(&config).args(["provider", "list", "--json"]));
    let slugs: Vec<(&str, &str)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["slug"].as_str().unwrap(),
                p["managed_by"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(slugs, [("corp", "config"), ("partner", "database")]);
    let v = json_of(ssogate(&config).args(["provider", "show", "partner", "--json"]));
    assert_eq!(v["client_secret"], "[set]");
    assert_eq!(v["name"], "Partner");
    ssogate(&config)
        .args([
            "provider",
            "update",
            "partner",
            "--display-name",
            "Partner Co",
            "--unset",
            "trust_email",
        ])
        .assert()
        .success();
    let v = json_of(ssogate(&config).args(["provider", "show", "partner", "--json"]));
    assert_eq!(v["name"], "Partner Co");
    // Saved settings of a database provider apply like a file provider's.
    ssogate(&config)
        .args(["settings", "set", "partner", "auto_provision", "false"])
        .assert()
        .success();
    let v = json_of(ssogate(&config).args(["settings", "show", "partner", "--json"]));
    assert_eq!(v["partner"]["auto_provision"], false);
    for (args, message) in [
        (
            vec!["provider", "add", "corp", "--issuer", "https://x"],
            "configuration file",
        ),
        (
            vec!["provider", "add", "partner", "--issuer", "https://x"],
            "already a provider",
        ),
        (
            vec!["provider", "add", "Bad Slug", "--issuer", "https://x"],
            "slug",
        ),
        (
            vec!["provider", "add", "new", "--set", "issuer"],
            "KEY=JSON",
        ),
        (
            vec![
                "provider",
                "add",
                "new",
                "--issuer",
                "https://x",
                "--set",
                "colour=\"red\"",
            ],
            "colour",
        ),
        (
            vec!["provider", "update", "corp", "--display-name", "x"],
            "configuration file",
        ),
        (vec!["provider", "update", "partner"], "nothing to change"),
        (
            vec!["provider", "update", "nope", "--display-name", "x"],
            "no provider",
        ),
        (vec!["provider", "delete", "partner"], "needs confirmation"),
        (
            vec!["provider", "delete", "corp", "--force"],
            "configuration file",
        ),
        (vec!["provider", "jwks-refresh", "nope"], "no provider"),
    ] {
        ssogate(&config)
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message));
    }
    ssogate(&config)
        .args(["provider", "delete", "partner", "--force"])
        .assert()
        .success()
        .stdout(predicate::str::contains("0 linked accounts kept"));
    let v = json_of(ssogate(&config).args(["provider", "list", "--json"]));
    assert_eq!(v.as_array().unwrap().len(), 1);
    ssogate(&config)
        .args([
            "audit",
            "query",
            "--event",
            "admin.provider.deleted",
            "--json",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("cli:tester"));
}

#[test]
fn groups_libraries_and_permissions_are_managed() {
    let (_dir, config) = fixture();
    let v = json_of(ssogate(&config).args([
        "group",
        "add",
        "Night Shift",
        "--external-ids",
        "night, cn=night\\,ou=staff",
        "--json",
    ]));
    let mut ids: Vec<String> = serde_json::from_value(v["external_ids"].clone()).unwrap();
    ids.sort();
    assert_eq!(ids, ["cn=night,ou=staff", "night"]);
    ssogate(&config)
        .args(["user", "update", "alice", "--grant", "group:Night Shift"])
        .assert()
        .success();
    ssogate(&config)
        .args([
            "group",
            "update",
            "night shift",
            "--rename",
            "Nights",
            "--external-ids",
            "",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("1 account holds it"));
    let v = json_of(ssogate(&config).args(["user", "show", "alice", "--json"]));
    assert!(v.to_string().contains("Nights"), "{v}");
    let v = json_of(ssogate(&config).args(["group", "list", "--json"]));
    let names: Vec<(&str, &str)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["name"].as_str().unwrap(),
                g["managed_by"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        names.contains(&("Nights", "database")) && names.contains(&("Readers", "config")),
        "{names:?}"
    );
    ssogate(&config)
        .args(["library", "add", "comics", "--label", "Comics"])
        .assert()
        .success();
    ssogate(&config)
        .args(["library", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("comics").and(predicate::str::contains("Comics")));
    ssogate(&config)
        .args(["permission", "add", "upload_books", "--required", "false"])
        .assert()
        .success();
    // A permission the provisioning settings use cannot go.
    ssogate(&config)
        .args([
            "settings",
            "set-global",
            "default_permissions",
            "[\"upload_books\"]",
        ])
        .assert()
        .success();
    let v = json_of(ssogate(&config).args(["settings", "show", "--json"]));
    assert_eq!(v["global"]["default_permissions"], json!(["upload_books"]));
    assert_eq!(v["corp"]["default_permissions"], json!(["upload_books"]));
    for (args, message) in [
        (
            vec!["permission", "delete", "upload_books", "--force"],
            "upload_books",
        ),
        (vec!["permission", "add", "two words"], "no spaces"),
        (vec!["permission", "add", "upload_books"], "already"),
        (
            vec!["permission", "update", "read_books", "--label", "x"],
            "configuration file",
        ),
        (
            vec!["permission", "add", "x", "--external-ids", "y"],
            "no --external-ids",
        ),
        (vec!["group", "add", "g", "--label", "y"], "no --label"),
        (
            vec!["library", "update", "nope", "--label", "x"],
            "no library",
        ),
        (vec!["library", "delete", "comics"], "needs confirmation"),
        (
            vec!["settings", "set-global", "default_permissions", "[\"fly\"]"],
            "nothing was saved",
        ),
    ] {
        ssogate(&config)
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message));
    }
    ssogate(&config)
        .args(["settings", "set-global", "default_permissions", "[]"])
        .assert()
        .success();
    ssogate(&config)
        .args(["permission", "delete", "upload_books", "--force"])
        .assert()
        .success();
    ssogate(&config)
        .args(["group", "delete", "Nights", "--force"])
        .assert()
        .success()
        .stdout(predicate::str::contains("1 account lost it"));
    let v = json_of(ssogate(&config).args(["user", "show", "alice", "--json"]));
    assert!(!v.to_string().contains("Nights"), "{v}");
}

/// Passwords never come from argv: stdin (a pipe here) or a file. The first
/// administrator can be made before any provider works, and signs in with it.
#[test]
fn passwords_are_set_from_stdin_or_a_file_and_reset_links_are_printed_once() {
    let (dir, config) = fixture();
    ssogate(&config)
        .args(["user", "add", "root", "--admin", "--password-stdin"])
        .write_stdin("the first admin's passphrase\n")
        .assert()
        .success()
        .stdout(predicate::str::contains("created \"root\""));
    let store = SqliteStore::open(&dir.path().join("s.db")).unwrap();
    let root = store.user_by_username("root").unwrap().unwrap();
    assert!(root.has_password);
    assert!(
        root.grants
            .iter()
            .any(|g| g.kind == ssogate_core::domain::GrantKind::Admin)
    );
    assert_eq!(
        store
            .check_password("root", "the first admin's passphrase")
            .unwrap(),
        ssogate_store::credentials::PasswordCheck::Ok(root.id)
    );
    // The policy, before anything is created: nothing half-made is left behind.
    ssogate(&config)
        .args(["user", "add", "short", "--password-stdin"])
        .write_stdin("short\n")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("too short"));
    assert!(store.user_by_username("short").unwrap().is_none());
    // There is no way to give it on the command line.
    ssogate(&config)
        .args(["user", "set-password", "alice", "--password", "x"])
        .assert()
        .code(2);
    let file = dir.path().join("pw");
    std::fs::write(&file, "alice's new passphrase\nignored second line\n").unwrap();
    ssogate(&config)
        .args(["user", "set-password", "alice", "--password-file"])
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::contains("\"alice\" has a new password"));
    let alice = store.user_by_username("alice").unwrap().unwrap();
    assert_eq!(
        store
            .check_password("alice", "alice's new passphrase")
            .unwrap(),
        ssogate_store::credentials::PasswordCheck::Ok(alice.id)
    );
    ssogate(&config)
        .args(["user", "set-password", "alice"])
        .write_stdin("alice@example.org\n")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("must not be the username"));
    // The only way in for root: removing it is refused; alice has a provider too.
    ssogate(&config)
        .args(["user", "set-password", "root", "--remove"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("signs in only with its password"));
    ssogate(&config)
        .args(["user", "set-password", "alice", "--remove"])
        .assert()
        .success();
    let link = json_of(ssogate(&config).args(["user", "reset-link", "alice", "--json"]));
    let url = link["url"].as_str().unwrap();
    assert!(url.contains("/password/reset?token="), "{link}");
    let token = url.rsplit_once("token=").unwrap().1;
    assert_eq!(
        store
            .peek_password_reset(token, RequestContext::now().now)
            .unwrap(),
        Some(alice.id)
    );
    let audit = json_of(ssogate(&config).args(["audit", "query", "--json"]));
    let text = audit.to_string();
    for event in [
        "admin.user.password_set",
        "admin.user.password_removed",
        "admin.user.password_reset_link",
    ] {
        assert!(text.contains(event), "{event}: {text}");
    }
    assert!(!text.contains("passphrase"), "no password in the audit log");
    assert!(!text.contains(token), "no token in the audit log");
}
