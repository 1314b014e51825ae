//! Lifecycle rules applied to a real directory: idle accounts disabled, long-disabled
//! ones deleted, administrators, local passwords and excluded groups left alone, a
//! provider's own rules for the people it signs in, every action audited, and a dry run
//! changing nothing.

use crate::support::{Browser, Harness, Opts};
use ssogate_core::domain::UserStatus;
use ssogate_core::lifecycle::Act;
use ssogate_store::import::ImportRow;

const DAY: i64 = 86_400;

#[tokio::test]
async fn idle_accounts_are_disabled_and_long_disabled_ones_deleted() {
    let h = Harness::start(Opts {
        extra: "[lifecycle]\ndisable_after_days = 90\ndelete_after_days = 30\nexclude_groups = [\"Admins\"]\nrun_every_minutes = 0\n",
        ..Opts::default()
    })
    .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let row = |u: &str| ImportRow {
        username: u.into(),
        ..Default::default()
    };
    let argon = ssogate_store::credentials::hash_password("a long local password").unwrap();
    h.directory
        .import_users(
            vec![
                row("idle"),
                ImportRow {
                    admin: Some(true),
                    ..row("boss")
                },
                ImportRow {
                    password_hash: Some(argon),
                    ..row("local")
                },
                ImportRow {
                    groups: vec!["Admins".into()],
                    ..row("excluded")
                },
                row("gone"),
            ],
            now - 100 * DAY,
            false,
            None,
            Box::new(|_| {}),
        )
        .unwrap();
    let id = |u: &str| h.directory.user_by_username(u).unwrap().unwrap().id;
    h.directory
        .set_user_status(id("gone"), UserStatus::Disabled, now - 40 * DAY)
        .unwrap();
    // Someone who signed in today through the provider: left alone.
    h.idp
        .set_user("alice", serde_json::json!({"preferred_username": "alice"}));
    let b = Browser::new();
    assert_eq!(b.login(&h, "alice").await.status, 303);
    let config = ssogate_config::load_with_env(Some(&h.config_path()), &[]).unwrap();
    let dry = ssogate_server::lifecycle::apply(h.directory.as_ref(), &config, now, true).unwrap();
    let got: Vec<(&str, Act)> = dry.iter().map(|p| (p.username.as_str(), p.act)).collect();
    assert_eq!(got, [("idle", Act::Disable), ("gone", Act::Delete)]);
    assert_eq!(h.users(), 6, "a dry run changes nothing");
    let done = ssogate_server::lifecycle::apply(h.directory.as_ref(), &config, now, false).unwrap();
    assert_eq!(done.len(), 2);
    assert_eq!(
        h.directory
            .user_by_username("idle")
            .unwrap()
            .unwrap()
            .status,
        UserStatus::Disabled
    );
    assert!(h.directory.user_by_username("gone").unwrap().is_none());
    for u in ["boss", "local", "excluded", "alice"] {
        assert_eq!(
            h.directory.user_by_username(u).unwrap().unwrap().status,
            UserStatus::Active,
            "{u}"
        );
    }
    let audit = h.audit();
    assert!(
        audit.iter().any(|e| e == "lifecycle.disabled/success/"),
        "{audit:?}"
    );
    assert!(
        audit.iter().any(|e| e == "lifecycle.deleted/success/"),
        "{audit:?}"
    );
    // Applied again: nothing more to do.
    assert!(
        ssogate_server::lifecycle::apply(h.directory.as_ref(), &config, now, false)
            .unwrap()
            .is_empty()
    );
    // Alice's provider has rules of its own: a day without signing in is enough there.
    let p = h.config_path();
    let text = std::fs::read_to_string(&p).unwrap()
        + "\n[providers.fake.lifecycle]\ndisable_after_days = 1\n";
    std::fs::write(&p, text).unwrap();
    let strict = ssogate_config::load_with_env(Some(&p), &[]).unwrap();
    let later =
        ssogate_server::lifecycle::apply(h.directory.as_ref(), &strict, now + 2 * DAY, true)
            .unwrap();
    assert_eq!(later.len(), 1, "{later:?}");
    assert_eq!(later[0].username, "alice");
    assert_eq!(later[0].rule, "provider fake");
}

/// The console shows the rules and who they would disable, and why, before anything
/// happens; nothing changes by looking.
#[tokio::test]
async fn the_console_lists_who_the_rules_would_change_and_why() {
    let h = Harness::start(Opts {
        provisioning: "[[provisioning.rules]]\nname = \"admins administer\"\nwhen = '\"admins\" in groups'\ngrant_admin = true",
        extra: "[lifecycle]\ndisable_after_days = 30\nrun_every_minutes = 0\n",
        ..Opts::default()
    })
    .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    h.directory
        .import_users(
            vec![ImportRow {
                username: "sleeper".into(),
                ..Default::default()
            }],
            now - 45 * DAY,
            false,
            None,
            Box::new(|_| {}),
        )
        .unwrap();
    let admin = Browser::new();
    assert_eq!(admin.login(&h, "alice").await.status, 303);
    let r = admin.get(&h.url("/admin/lifecycle")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("disable after 30 days without a sign-in"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("sleeper") && r.body.contains("no sign-in for 45 days"),
        "{}",
        r.body
    );
    assert_eq!(
        h.directory
            .user_by_username("sleeper")
            .unwrap()
            .unwrap()
            .status,
        UserStatus::Active,
        "looking changes nothing"
    );
}
