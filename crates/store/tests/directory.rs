//! One directory test suite, run against both engines: SQLite (a file in a temporary
//! directory) and PostgreSQL (a fresh database on the server `scripts/test` starts; set
//! `TEST_SSOGATE_POSTGRES_URL` to use another, or the PostgreSQL cases are skipped with
//! a printed reason — unless `TEST_SSOGATE_REQUIRE_POSTGRES` is set, as in `scripts/test`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::{Value, json};
use ssogate_core::claims::ClaimSources;
use ssogate_core::decision::Decision;
use ssogate_core::domain::UserId;
use ssogate_core::domain::UserSource;
use ssogate_core::domain::{
    Catalogue, GrantKind, GrantSource, Group, Library, Permission, UserStatus,
};
use ssogate_core::policy::ProvisioningPolicy;
use ssogate_core::policy::Scope;
use ssogate_core::{Engine, ProviderPolicy};
use ssogate_store::accounts::Change;
use ssogate_store::credentials::{ApiScope, PasswordCheck};
use ssogate_store::import::{ImportOutcome, ImportRow};
use ssogate_store::invalidate::Invalidation;
use ssogate_store::prelude::*;
use ssogate_store::query::{AuditFilter, UserFilter, UserPage, UserSort};
use ssogate_store::sessions::{EndedSession, SessionLifetimes, SessionOrigin, StateError};
use ssogate_store::{
    Directory, LoginResult, PgStore, RequestContext, SqliteStore, StoreError, Table,
};
use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

fn catalogue() -> Catalogue {
    Catalogue {
        permissions: vec![
            Permission {
                name: "read".into(),
                label: None,
                required: true,
            },
            Permission {
                name: "download".into(),
                label: None,
                required: false,
            },
        ],
        libraries: vec![Library {
            name: "main".into(),
            label: None,
        }],
        groups: vec![
            Group {
                name: "Readers".into(),
                external_ids: vec![],
            },
            Group {
                name: "Editors".into(),
                external_ids: vec!["editor".into()],
            },
        ],
    }
}

fn policy() -> ProvisioningPolicy {
    let mut p = ProvisioningPolicy {
        default_permissions: vec!["download".into()],
        default_libraries: vec!["main".into()],
        default_groups: vec!["Readers".into()],
        admin_email_domains: vec!["example.com".into()],
        ..Default::default()
    };
    p.groups.enabled = true;
    p.groups.remove_unmatched = true;
    p
}

fn engine(policy: ProvisioningPolicy) -> Arc<Engine> {
    Arc::new(
        Engine::new(
            ProviderPolicy::new("corp", "https://idp.example.com"),
            policy,
            catalogue().permissions,
        )
        .unwrap(),
    )
}

fn ctx() -> RequestContext {
    RequestContext {
        now: 1_800_000_000,
        address: Some("127.0.0.1".into()),
        user_agent: Some("test".into()),
    }
}

fn login(s: &dyn Directory, e: &Arc<Engine>, claims: Value) -> LoginResult {
    s.login(e.clone(), ClaimSources::id_token(claims), ctx())
        .unwrap()
}

/// A store of one engine, with what keeps it alive (a temporary directory).
struct Fixture {
    store: Arc<dyn Directory>,
    /// A second, independent handle on the same database (another "instance").
    second: Option<Arc<dyn Directory>>,
    _dir: Option<tempfile::TempDir>,
}

fn sqlite(with_catalogue: bool) -> Option<Fixture> {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("ssogate.db")).unwrap();
    if with_catalogue {
        s.sync_catalogue(&catalogue()).unwrap();
    }
    Some(Fixture {
        store: Arc::new(s),
        second: None,
        _dir: Some(dir),
    })
}

/// A fresh database on the test server.
fn postgres_url() -> Option<String> {
    let Ok(base) = std::env::var("TEST_SSOGATE_POSTGRES_URL") else {
        assert!(
            std::env::var_os("TEST_SSOGATE_REQUIRE_POSTGRES").is_none(),
            "TEST_SSOGATE_REQUIRE_POSTGRES is set but TEST_SSOGATE_POSTGRES_URL is not"
        );
        eprintln!(
            "skipping the PostgreSQL case: TEST_SSOGATE_POSTGRES_URL is not set (scripts/test starts a server)"
        );
        return None;
    };
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "t_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = postgres::Client::connect(&base, postgres::NoTls).unwrap();
    // A process id can come again while the same server runs (a long session).
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let (head, _) = base.rsplit_once('/').unwrap();
    Some(format!("{head}/{name}"))
}

fn postgres(with_catalogue: bool) -> Option<Fixture> {
    let url = postgres_url()?;
    let s = PgStore::open(&url).unwrap();
    if with_catalogue {
        s.sync_catalogue(&catalogue()).unwrap();
    }
    let second: Arc<dyn Directory> = Arc::new(PgStore::open(&url).unwrap());
    Some(Fixture {
        store: Arc::new(s),
        second: Some(second),
        _dir: None,
    })
}

/// `both!(name)` runs `name(fixture)` on SQLite and on PostgreSQL.
macro_rules! both {
    ($($case:ident),* $(,)?) => {
        mod sqlite_engine {
            $( #[test] fn $case() { if let Some(f) = super::sqlite(true) { super::$case(f) } } )*
        }
        mod postgres_engine {
            $( #[test] fn $case() { if let Some(f) = super::postgres(true) { super::$case(f) } } )*
        }
    };
}

both!(
    first_login_provisions_and_the_next_signs_in,
    group_sync_and_admin_grants_persist_with_their_sources,
    rejections_are_audited_and_create_nothing,
    concurrent_first_logins_make_one_account_per_subject,
    two_subjects_racing_for_one_username_get_two_accounts,
    sessions_expire_end_and_follow_the_account,
    back_channel_logout_ends_sessions_by_sid_or_subject,
    login_states_are_one_time_bound_to_the_browser_and_expire,
    users_are_listed_with_filters_sorting_and_keyset_pages,
    audit_events_are_queried_and_purged,
    imports_are_row_by_row_and_a_dry_run_writes_nothing,
    passwords_are_argon2id_and_sso_only_accounts_say_so,
    password_reset_links_are_one_time_newest_only_and_expire,
    a_changed_subject_finds_the_account_by_its_recorded_external_id,
    imports_keep_argon2_and_bcrypt_passwords_and_set_quotas,
    imports_keep_usernames_with_capitals_and_at_signs,
    lifecycle_facts_and_the_lease,
    api_keys_are_shown_once_stored_hashed_and_revocable,
    settings_providers_and_logout_replays,
    invalidations_reach_every_watcher_after_commit,
    identities_link_and_unlink_with_the_last_method_guard,
    administration_reads_and_writes,
    catalogue_items_are_created_renamed_and_deleted_with_their_grants,
    webhook_events_are_written_with_the_change_claimed_once_and_logged,
    back_channel_logouts_are_claimed_once_by_racing_instances,
    registered_clients_keep_a_digest_and_leave_with_what_they_were_issued,
);

fn catalogue_items_are_created_renamed_and_deleted_with_their_grants(f: Fixture) {
    use ssogate_store::catalogue::{Edit, Edited, Item, ItemKind};
    let s = &*f.store;
    let heard = Heard::default();
    s.watch(heard.sink()).unwrap();
    let item = |kind, name: &str| Item {
        kind,
        name: name.into(),
        label: None,
        required: false,
        external_ids: vec![],
    };
    assert_eq!(
        s.edit_catalogue(Edit::Create(Item {
            label: Some("Upload books".into()),
            ..item(ItemKind::Permission, "upload")
        }))
        .unwrap(),
        Edited::Done { holders: 0 }
    );
    heard.wait_for(&Invalidation::All);
    // Names are unique; a group's case-insensitively.
    assert_eq!(
        s.edit_catalogue(Edit::Create(item(ItemKind::Permission, "upload")))
            .unwrap(),
        Edited::Taken
    );
    assert_eq!(
        s.edit_catalogue(Edit::Create(item(ItemKind::Group, "readers")))
            .unwrap(),
        Edited::Taken
    );
    let group = Item {
        external_ids: vec!["cn=staff,dc=example".into(), "staff".into()],
        ..item(ItemKind::Group, "Staff")
    };
    s.edit_catalogue(Edit::Create(group.clone())).unwrap();
    s.edit_catalogue(Edit::Create(item(ItemKind::Library, "comics")))
        .unwrap();

    let id = account(s, "cat");
    s.grant_by_admin(id, GrantKind::Permission, "upload", 10)
        .unwrap();
    s.grant_by_admin(id, GrantKind::Group, "Staff", 10).unwrap();
    s.grant_by_admin(id, GrantKind::Library, "comics", 10)
        .unwrap();
    let entries = s.catalogue_entries().unwrap();
    let staff = entries
        .iter()
        .find(|e| e.item.name == "Staff")
        .expect("the group is listed");
    assert_eq!(staff.holders, 1);
    let mut ids = staff.item.external_ids.clone();
    ids.sort();
    assert_eq!(ids, ["cn=staff,dc=example", "staff"]);
    let upload = entries.iter().find(|e| e.item.name == "upload").unwrap();
    assert_eq!(upload.item.label.as_deref(), Some("Upload books"));
    assert_eq!(upload.holders, 1);

    // A rename carries the grants along; a group's external ids are replaced.
    assert_eq!(
        s.edit_catalogue(Edit::Update {
            name: "upload".into(),
            item: Item {
                required: true,
                ..item(ItemKind::Permission, "upload-books")
            },
        })
        .unwrap(),
        Edited::Done { holders: 1 }
    );
    s.edit_catalogue(Edit::Update {
        name: "staff".into(),
        item: Item {
            external_ids: vec!["employees".into()],
            ..item(ItemKind::Group, "Employees")
        },
    })
    .unwrap();
    assert_eq!(
        s.edit_catalogue(Edit::Update {
            name: "comics".into(),
            item: item(ItemKind::Library, "main"),
        })
        .unwrap(),
        Edited::Taken,
        "a rename onto another item's name is refused"
    );
    let u = s.user(id).unwrap().unwrap();
    let names: Vec<(GrantKind, &str)> =
        u.grants.iter().map(|g| (g.kind, g.name.as_str())).collect();
    assert!(
        names.contains(&(GrantKind::Permission, "upload-books")),
        "{names:?}"
    );
    assert!(
        names.contains(&(GrantKind::Group, "Employees")),
        "{names:?}"
    );
    let c = s.catalogue().unwrap();
    assert!(
        c.permissions
            .iter()
            .any(|p| p.name == "upload-books" && p.required)
    );
    let g = c.groups.iter().find(|g| g.name == "Employees").unwrap();
    assert_eq!(g.external_ids, ["employees"]);

    // A delete takes the grants away and says from how many accounts.
    assert_eq!(
        s.edit_catalogue(Edit::Delete {
            kind: ItemKind::Library,
            name: "comics".into()
        })
        .unwrap(),
        Edited::Done { holders: 1 }
    );
    s.edit_catalogue(Edit::Delete {
        kind: ItemKind::Group,
        name: "EMPLOYEES".into(),
    })
    .unwrap();
    assert_eq!(
        s.edit_catalogue(Edit::Delete {
            kind: ItemKind::Group,
            name: "Employees".into()
        })
        .unwrap(),
        Edited::NotFound
    );
    let u = s.user(id).unwrap().unwrap();
    assert!(
        !u.grants
            .iter()
            .any(|g| g.name == "comics" || g.name == "Employees"),
        "{:?}",
        u.grants
    );
    assert!(!s.catalogue().unwrap().has_library("comics"));
}

fn administration_reads_and_writes(f: Fixture) {
    use ssogate_store::accounts::ExternalIdOutcome;
    let s = &*f.store;
    let a = account(s, "adm-a");
    let b = account(s, "adm-b");
    // Dashboard figures.
    let stats = s.stats(0).unwrap();
    assert_eq!(
        stats.accounts,
        vec![("provider".to_owned(), "active".to_owned(), 2)]
    );
    assert_eq!(
        stats.days.iter().map(|d| d.1).sum::<i64>(),
        2,
        "{:?}",
        stats.days
    );
    // A dry run decides without writing.
    let before = s.count(Table::Users).unwrap();
    let out = s
        .decide(
            engine(policy()),
            ClaimSources::id_token(json!({"sub": "dry", "preferred_username": "dry"})),
        )
        .unwrap();
    assert_eq!(out.decision.code(), "provision");
    let out = s
        .decide(
            engine(policy()),
            ClaimSources::id_token(json!({"sub": "adm-a"})),
        )
        .unwrap();
    assert_eq!(out.decision.code(), "sign_in");
    assert_eq!(s.count(Table::Users).unwrap(), before);
    // Grants taken away; unknown ones say so.
    assert!(
        s.revoke_by_admin(a, GrantKind::Permission, "download", 0)
            .unwrap()
    );
    assert!(
        !s.revoke_by_admin(a, GrantKind::Permission, "download", 0)
            .unwrap()
    );
    assert!(
        s.revoke_by_admin(a, GrantKind::Group, "readers", 0)
            .unwrap(),
        "group names match case-insensitively"
    );
    s.grant_by_admin(a, GrantKind::Admin, "admin", 5).unwrap();
    assert!(s.revoke_by_admin(a, GrantKind::Admin, "admin", 0).unwrap());
    let user = s.user(a).unwrap().unwrap();
    assert!(
        !user
            .grants
            .iter()
            .any(|g| g.name == "download" || g.kind == GrantKind::Admin)
    );
    // External ids are unique per provider.
    assert_eq!(
        s.set_external_id(a, "corp", Some("X1")).unwrap(),
        ExternalIdOutcome::Set
    );
    assert_eq!(
        s.set_external_id(b, "corp", Some("X1")).unwrap(),
        ExternalIdOutcome::TakenByAnother
    );
    assert_eq!(
        s.set_external_id(UserId(9999), "corp", Some("X2")).unwrap(),
        ExternalIdOutcome::NoSuchUser
    );
    assert_eq!(s.user(a).unwrap().unwrap().external_ids["corp"], "X1");
    assert_eq!(
        s.set_external_id(a, "corp", None).unwrap(),
        ExternalIdOutcome::Cleared
    );
    // Profile: a new email is unverified.
    assert!(
        s.update_profile(
            a,
            Change::Set("Ada A".into()),
            Change::Set("ada@new.example".into()),
            9
        )
        .unwrap()
    );
    let user = s.user(a).unwrap().unwrap();
    assert_eq!(
        (
            user.display_name.as_deref(),
            user.email.as_deref(),
            user.email_verified
        ),
        (Some("Ada A"), Some("ada@new.example"), false)
    );
    assert!(
        s.update_profile(a, Change::Clear, Change::Keep, 10)
            .unwrap()
    );
    assert_eq!(s.user(a).unwrap().unwrap().display_name, None);
    assert!(
        !s.update_profile(UserId(9999), Change::Clear, Change::Keep, 10)
            .unwrap()
    );
    // Recent sign-ins, newest first.
    let recent = s.recent_identities(10).unwrap();
    assert_eq!(recent.len(), 2);
    assert!(recent.iter().any(|r| r.2 == "adm-b"));
    // Deleting takes sessions with it; the audit keeps its history.
    let secret = s
        .create_session(
            b,
            &SessionOrigin::default(),
            100,
            SessionLifetimes::default(),
        )
        .unwrap();
    let events = s.count(Table::AuditEvents).unwrap();
    assert!(s.delete_user(b, 0).unwrap());
    assert!(!s.delete_user(b, 0).unwrap());
    assert!(
        s.touch_session(&secret, 101, SessionLifetimes::default())
            .unwrap()
            .is_none()
    );
    assert!(s.user(b).unwrap().is_none());
    assert_eq!(s.count(Table::AuditEvents).unwrap(), events);
}

/// Collects what a watcher hears; `wait_for` returns once `want` arrived (bounded: the
/// PostgreSQL listener hears it from another thread).
#[derive(Clone, Default)]
struct Heard(Arc<std::sync::Mutex<Vec<Invalidation>>>);

impl Heard {
    fn sink(&self) -> ssogate_store::invalidate::Sink {
        let me = self.clone();
        Arc::new(move |i: &Invalidation| me.0.lock().unwrap().push(i.clone()))
    }
    fn wait_for(&self, want: &Invalidation) {
        for _ in 0..400 {
            if self.0.lock().unwrap().contains(want) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("never heard {want:?}; heard {:?}", self.0.lock().unwrap());
    }
}

fn invalidations_reach_every_watcher_after_commit(f: Fixture) {
    let s = &*f.store;
    let here = Heard::default();
    s.watch(here.sink()).unwrap();
    // Another instance on the same database hears it too (PostgreSQL).
    let there = Heard::default();
    if let Some(second) = &f.second {
        second.watch(there.sink()).unwrap();
    }
    // A first login creates an account no cache can hold: nothing is said. The next
    // login (which may change grants) is heard — once, so the first said nothing
    // (invalidations arrive in commit order).
    let id = account(s, "inv");
    assert_eq!(account(s, "inv"), id);
    here.wait_for(&Invalidation::User(id));
    assert_eq!(
        here.0
            .lock()
            .unwrap()
            .iter()
            .filter(|i| **i == Invalidation::User(id))
            .count(),
        1
    );
    let life = SessionLifetimes::default();
    let secret = s
        .create_session(id, &SessionOrigin::default(), 100, life)
        .unwrap();
    assert!(s.end_session(&secret).unwrap().is_some());
    let ended = Invalidation::Session(ssogate_store::sessions::digest(&secret));
    here.wait_for(&ended);
    let origin = SessionOrigin {
        provider: Some("corp"),
        sid: Some("sid-9"),
        subject: Some("inv"),
        ..Default::default()
    };
    let other = s.create_session(id, &origin, 100, life).unwrap();
    assert_eq!(
        s.end_sessions_by_provider("corp", Some("sid-9"), None)
            .unwrap(),
        1
    );
    let by_sid = Invalidation::Session(ssogate_store::sessions::digest(&other));
    here.wait_for(&by_sid);
    s.set_user_status(id, UserStatus::Disabled, 200).unwrap();
    here.wait_for(&Invalidation::User(id));
    if f.second.is_some() {
        there.wait_for(&ended);
        there.wait_for(&by_sid);
        there.wait_for(&Invalidation::User(id));
    }
}

fn identities_link_and_unlink_with_the_last_method_guard(f: Fixture) {
    use ssogate_store::accounts::{LinkOutcome, NewIdentity, UnlinkOutcome};
    let s = &*f.store;
    let a = account(s, "link-a");
    let b = account(s, "link-b");
    let id = |provider: &str, subject: &str| NewIdentity {
        provider: provider.into(),
        issuer: "https://other.example".into(),
        subject: subject.into(),
        email: Some("a@example.org".into()),
        claims: json!({"sub": subject, "nonce": "secret-nonce"}),
    };
    assert_eq!(
        s.link_identity(a, id("other", "x"), 10).unwrap(),
        LinkOutcome::Linked
    );
    assert_eq!(
        s.link_identity(a, id("other", "x"), 11).unwrap(),
        LinkOutcome::AlreadyLinked
    );
    assert_eq!(
        s.link_identity(b, id("other", "x"), 12).unwrap(),
        LinkOutcome::BelongsToAnother
    );
    assert_eq!(
        s.link_identity(a, id("other", "y"), 13).unwrap(),
        LinkOutcome::ProviderAlreadyLinked
    );
    assert_eq!(
        s.link_identity(UserId(9999), id("third", "z"), 13).unwrap(),
        LinkOutcome::NoSuchUser
    );
    let ids = s.identities(a).unwrap();
    assert_eq!(ids.len(), 2);
    let other = ids.iter().find(|i| i.provider == "other").unwrap();
    assert_eq!((other.first_login_at, other.last_login_at), (10, 11));
    assert_eq!(other.email.as_deref(), Some("a@example.org"));
    assert_eq!(
        s.last_claims("other", "x").unwrap().unwrap()["nonce"],
        "[redacted]"
    );
    assert_eq!(s.user_by_identity("other", "x").unwrap().unwrap().id, a);
    assert_eq!(
        s.unlink_identity(a, "other").unwrap(),
        UnlinkOutcome::Unlinked
    );
    assert_eq!(
        s.unlink_identity(a, "other").unwrap(),
        UnlinkOutcome::NotFound
    );
    assert_eq!(
        s.unlink_identity(a, "corp").unwrap(),
        UnlinkOutcome::LastMethod
    );
    s.set_password(a, Some("a long enough password"), 20)
        .unwrap();
    assert_eq!(
        s.unlink_identity(a, "corp").unwrap(),
        UnlinkOutcome::Unlinked
    );
    assert!(s.identities(a).unwrap().is_empty());
    assert!(s.user(a).unwrap().is_some());
    assert!(s.user(UserId(9999)).unwrap().is_none());
}

fn settings_providers_and_logout_replays(f: Fixture) {
    let s = &*f.store;
    assert!(s.record_logout_jti("corp", "j1", 100, 10).unwrap());
    assert!(
        !s.record_logout_jti("corp", "j1", 100, 20).unwrap(),
        "a replayed jti is refused"
    );
    assert!(
        s.record_logout_jti("other", "j1", 100, 20).unwrap(),
        "jti is per provider"
    );
    assert!(
        s.record_logout_jti("corp", "j1", 300, 150).unwrap(),
        "expired records are forgotten"
    );

    assert_eq!(s.get_settings(&Scope::Global).unwrap(), None);
    let doc = json!({"auto_provision": true, "default_permissions": ["download"]});
    s.put_settings(&Scope::Global, &doc, Some("admin"), 1)
        .unwrap();
    // Switching provisioning off keeps the defaults it holds.
    let off = json!({"auto_provision": false, "default_permissions": ["download"]});
    s.put_settings(&Scope::Global, &off, Some("admin"), 2)
        .unwrap();
    assert_eq!(s.get_settings(&Scope::Global).unwrap(), Some(off.clone()));
    s.put_settings(&Scope::Provider("corp".into()), &json!({}), None, 3)
        .unwrap();
    assert_eq!(
        s.all_settings().unwrap(),
        [
            (Scope::Global, off),
            (Scope::Provider("corp".into()), json!({}))
        ],
        "every document in one read"
    );

    s.put_provider("db-idp", &json!({"issuer": "https://db-idp.example"}), 1)
        .unwrap();
    s.put_provider("db-idp", &json!({"issuer": "https://db-idp2.example"}), 2)
        .unwrap();
    assert_eq!(
        s.list_providers().unwrap(),
        [(
            "db-idp".to_owned(),
            json!({"issuer": "https://db-idp2.example"})
        )]
    );
    let e = Arc::new(
        Engine::new(
            ProviderPolicy::new("db-idp", "https://db-idp2.example"),
            ProvisioningPolicy::default(),
            catalogue().permissions,
        )
        .unwrap(),
    );
    login(s, &e, json!({"sub": "one", "preferred_username": "one"}));
    assert_eq!(s.accounts_linked_to("db-idp").unwrap(), 1);
    assert_eq!(s.delete_provider("db-idp").unwrap(), Some(1));
    assert_eq!(s.delete_provider("db-idp").unwrap(), None);
    assert!(
        s.user_by_identity("db-idp", "one").unwrap().is_some(),
        "accounts stay"
    );
}

fn passwords_are_argon2id_and_sso_only_accounts_say_so(f: Fixture) {
    let s = &*f.store;
    let id = account(s, "pw");
    assert_eq!(
        s.check_password("pw", "whatever-password").unwrap(),
        PasswordCheck::SingleSignOnOnly
    );
    assert!(
        s.set_password(id, Some(""), 1).is_err(),
        "never an empty password (the policy beyond that is the caller's)"
    );
    assert!(
        s.set_password(id, Some("correct horse battery"), 1)
            .unwrap()
    );
    assert!(s.user_by_username("pw").unwrap().unwrap().has_password);
    assert_eq!(
        s.check_password("PW", "correct horse battery").unwrap(),
        PasswordCheck::Ok(id)
    );
    assert_eq!(
        s.check_password("pw", "wrong horse battery").unwrap(),
        PasswordCheck::Wrong
    );
    assert_eq!(
        s.check_password("nobody", "correct horse battery").unwrap(),
        PasswordCheck::Wrong
    );
    s.set_user_status(id, UserStatus::Disabled, 2).unwrap();
    assert_eq!(
        s.check_password("pw", "correct horse battery").unwrap(),
        PasswordCheck::Disabled
    );
    s.set_user_status(id, UserStatus::Pending, 2).unwrap();
    assert_eq!(
        s.check_password("pw", "correct horse battery").unwrap(),
        PasswordCheck::Pending
    );
    assert!(s.set_password(id, None, 3).unwrap());
    assert_eq!(
        s.check_password("pw", "correct horse battery").unwrap(),
        PasswordCheck::SingleSignOnOnly
    );
}

/// BookStack's `OIDC_EXTERNAL_ID_CLAIM`: the first sign-in records the claim as the
/// account's external id (on PostgreSQL through the one-statement first login too), so
/// when the provider later sends another `sub` for the person, the same account signs
/// in — before, this was a duplicate account or an `email_in_use` refusal.
fn a_changed_subject_finds_the_account_by_its_recorded_external_id(f: Fixture) {
    let s = &*f.store;
    let e = Arc::new(
        Engine::new(
            ProviderPolicy {
                claims: ssogate_core::ClaimMap {
                    external_id: Some(ssogate_core::ClaimExpr::claim("upn")),
                    ..Default::default()
                },
                ..ProviderPolicy::new("corp", "https://idp.example.com")
            },
            policy(),
            catalogue().permissions,
        )
        .unwrap(),
    );
    let first = login(
        s,
        &e,
        json!({"sub": "old-sub", "upn": "E-7", "preferred_username": "grace", "email": "grace@example.com", "email_verified": true}),
    );
    let id = first.user_id.unwrap();
    assert_eq!(
        s.user(id)
            .unwrap()
            .unwrap()
            .external_ids
            .get("corp")
            .map(String::as_str),
        Some("E-7")
    );
    let moved = login(
        s,
        &e,
        json!({"sub": "new-sub", "upn": "E-7", "preferred_username": "grace", "email": "grace@example.com", "email_verified": true}),
    );
    assert!(moved.outcome.allow_session, "{:?}", moved.outcome.decision);
    assert_eq!(moved.user_id, Some(id), "the same account");
    assert_eq!(s.count(Table::Users).unwrap(), 1);
    assert_eq!(
        s.user_by_identity("corp", "new-sub").unwrap().map(|u| u.id),
        Some(id)
    );
    // A change of the claim at the provider is kept current.
    login(s, &e, json!({"sub": "new-sub", "upn": "E-8"}));
    assert_eq!(
        s.user(id)
            .unwrap()
            .unwrap()
            .external_ids
            .get("corp")
            .map(String::as_str),
        Some("E-8")
    );
}

fn password_reset_links_are_one_time_newest_only_and_expire(f: Fixture) {
    let s = &*f.store;
    let id = account(s, "rl");
    assert!(
        s.create_password_reset(UserId(999_999), None, 10, 60)
            .unwrap()
            .is_none()
    );
    let older = s
        .create_password_reset(id, Some("user:root"), 10, 60)
        .unwrap()
        .unwrap();
    let newest = s
        .create_password_reset(id, Some("user:root"), 11, 60)
        .unwrap()
        .unwrap();
    assert_eq!(newest.len(), 43);
    assert_eq!(s.peek_password_reset(&older, 12).unwrap(), None, "replaced");
    assert_eq!(s.peek_password_reset(&newest, 12).unwrap(), Some(id));
    assert_eq!(
        s.peek_password_reset(&newest, 12).unwrap(),
        Some(id),
        "peeking keeps it"
    );
    assert_eq!(s.take_password_reset(&newest, 71).unwrap(), None, "expired");
    let again = s.create_password_reset(id, None, 100, 60).unwrap().unwrap();
    assert_eq!(s.take_password_reset(&again, 101).unwrap(), Some(id));
    assert_eq!(s.take_password_reset(&again, 102).unwrap(), None, "once");
    // Only a digest is kept.
    let later = s.create_password_reset(id, None, 200, 60).unwrap().unwrap();
    assert_eq!(s.count(Table::PasswordResets).unwrap(), 1);
    assert!(s.delete_user(id, 0).unwrap());
    assert_eq!(s.peek_password_reset(&later, 201).unwrap(), None);
    assert_eq!(
        s.count(Table::PasswordResets).unwrap(),
        0,
        "gone with the account"
    );
}

/// What the lifecycle rules read of each account, and the lease only one run takes.
fn lifecycle_facts_and_the_lease(f: Fixture) {
    let s = &*f.store;
    let argon = ssogate_store::credentials::hash_password("a long local password").unwrap();
    let row = |u: &str| ImportRow {
        username: u.into(),
        ..Default::default()
    };
    s.import_users(
        vec![
            row("plain"),
            ImportRow {
                admin: Some(true),
                ..row("boss")
            },
            ImportRow {
                password_hash: Some(argon),
                ..row("local")
            },
        ],
        1_000,
        false,
        None,
        Box::new(|_| {}),
    )
    .unwrap();
    let plain = s.user_by_username("plain").unwrap().unwrap().id;
    s.set_user_status(plain, UserStatus::Disabled, 5_000)
        .unwrap();
    let facts = s.lifecycle_accounts().unwrap();
    let by = |u: &str| facts.iter().find(|a| a.username == u).unwrap().clone();
    assert_eq!(by("plain").status, UserStatus::Disabled);
    assert_eq!(by("plain").disabled_since, Some(5_000));
    assert_eq!(by("plain").last_active, 1_000);
    assert!(by("boss").is_admin && !by("boss").has_password);
    assert!(by("local").has_password && by("local").disabled_since.is_none());
    // Enabled again: the clock of deletion stops.
    s.set_user_status(plain, UserStatus::Active, 6_000).unwrap();
    assert_eq!(
        s.lifecycle_accounts()
            .unwrap()
            .iter()
            .find(|a| a.username == "plain")
            .unwrap()
            .disabled_since,
        None
    );
    assert!(s.claim_lifecycle_run(10_000, 3_600).unwrap());
    assert!(
        !s.claim_lifecycle_run(10_001, 3_600).unwrap(),
        "held for an hour"
    );
    assert!(s.claim_lifecycle_run(13_600, 3_600).unwrap());
}

/// Booklore's and Nextcloud's usernames (capitals, email-shaped) come over as they are,
/// unique regardless of case; spaces and control characters still do not.
fn imports_keep_usernames_with_capitals_and_at_signs(f: Fixture) {
    let s = &*f.store;
    let row = |u: &str| ImportRow {
        username: u.into(),
        ..Default::default()
    };
    let out = s
        .import_users(
            vec![
                row("Ada.Lovelace@Example.org"),
                row("ada.lovelace@example.org"),
                row("ada lovelace"),
                row("ada\u{7}"),
            ],
            1,
            false,
            None,
            Box::new(|_| {}),
        )
        .unwrap();
    assert!(matches!(out[0], ImportOutcome::Created(_)), "{out:?}");
    assert!(
        !matches!(out[1], ImportOutcome::Created(_)),
        "one account per name, whatever its case: {out:?}"
    );
    assert!(
        matches!(&out[2], ImportOutcome::Failed(m) if m.contains("not valid")),
        "{out:?}"
    );
    assert!(
        matches!(&out[3], ImportOutcome::Failed(m) if m.contains("not valid")),
        "{out:?}"
    );
    let u = s
        .user_by_username("ADA.LOVELACE@EXAMPLE.ORG")
        .unwrap()
        .unwrap();
    assert_eq!(u.username, "Ada.Lovelace@Example.org");
}

fn imports_keep_argon2_and_bcrypt_passwords_and_set_quotas(f: Fixture) {
    let s = &*f.store;
    let argon = ssogate_store::credentials::hash_password("kept from the old app").unwrap();
    let bcrypt = bcrypt::hash("kept from the old app", 4).unwrap();
    let row = |u: &str, hash: &str| ImportRow {
        username: u.into(),
        quota: Some("5 GB".into()),
        password_hash: Some(hash.into()),
        ..Default::default()
    };
    let out = s
        .import_users(
            vec![
                row("argo", &argon),
                row("bcry", &bcrypt),
                row("junk", "plaintext-password"),
            ],
            1,
            false,
            None,
            Box::new(|_| {}),
        )
        .unwrap();
    assert!(matches!(out[0], ImportOutcome::Created(_)), "{out:?}");
    assert!(matches!(out[1], ImportOutcome::Created(_)), "{out:?}");
    assert!(
        matches!(&out[2], ImportOutcome::Failed(m) if m.contains("password_hash")),
        "a password in clear is refused: {out:?}"
    );
    for user in ["argo", "bcry"] {
        let u = s.user_by_username(user).unwrap().unwrap();
        assert_eq!(u.quota.as_deref(), Some("5 GB"));
        assert_eq!(
            s.check_password(user, "kept from the old app").unwrap(),
            PasswordCheck::Ok(u.id),
            "{user}"
        );
        assert_eq!(
            s.check_password(user, "not it").unwrap(),
            PasswordCheck::Wrong
        );
    }
    assert!(!ssogate_store::credentials::needs_rehash(&argon));
    assert!(ssogate_store::credentials::needs_rehash(&bcrypt));
    // An update may change the quota alone.
    let out = s
        .import_users(
            vec![ImportRow {
                username: "argo".into(),
                quota: Some("10 GB".into()),
                ..Default::default()
            }],
            2,
            false,
            None,
            Box::new(|_| {}),
        )
        .unwrap();
    assert!(matches!(out[0], ImportOutcome::Updated(_)), "{out:?}");
    assert_eq!(
        s.user_by_username("argo")
            .unwrap()
            .unwrap()
            .quota
            .as_deref(),
        Some("10 GB")
    );
}

fn api_keys_are_shown_once_stored_hashed_and_revocable(f: Fixture) {
    let s = &*f.store;
    let admin = s
        .create_api_key("provisioning script", ApiScope::Admin, 10)
        .unwrap();
    let read = s.create_api_key("dashboard", ApiScope::Read, 11).unwrap();
    assert!(admin.starts_with("ssg_") && admin.len() > 50);
    assert_eq!(s.check_api_key(&admin, 20).unwrap(), Some(ApiScope::Admin));
    assert_eq!(s.check_api_key(&read, 21).unwrap(), Some(ApiScope::Read));
    let forged = format!("{}x", &admin[..admin.len() - 1]);
    assert_eq!(s.check_api_key(&forged, 22).unwrap(), None);
    assert_eq!(s.check_api_key("ssg_nope_nope", 22).unwrap(), None);
    assert_eq!(s.check_api_key("Bearer whatever", 22).unwrap(), None);
    let keys = s.list_api_keys().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(
        (keys[1].name.as_str(), keys[1].last_used_at),
        ("provisioning script", Some(20))
    );
    // Listed by name and public prefix, newest first.
    assert_eq!(keys[0].name, "dashboard");
    assert!(
        read.starts_with(&format!("ssg_{}_", keys[0].prefix)),
        "{} / {}",
        read.expose(),
        keys[0].prefix
    );
    assert!(admin.starts_with(&format!("ssg_{}_", keys[1].prefix)));
    assert!(s.revoke_api_key(keys[1].id, 30).unwrap());
    assert!(!s.revoke_api_key(keys[1].id, 31).unwrap());
    assert_eq!(s.check_api_key(&admin, 32).unwrap(), None, "revoked");
    assert!(s.create_api_key("  ", ApiScope::Read, 1).is_err());
}

fn imports_are_row_by_row_and_a_dry_run_writes_nothing(f: Fixture) {
    let s = &*f.store;
    let row = |u: &str, sub: Option<&str>| ImportRow {
        username: u.into(),
        email: Some(format!("{u}@example.com")),
        provider: sub.map(|_| "corp".into()),
        subject: sub.map(String::from),
        permissions: vec!["download".into()],
        groups: vec!["editors".into()],
        ..Default::default()
    };
    let rows = vec![
        row("ann", Some("a1")),
        row("ben", Some("a1")),
        row("cyd", None),
        ImportRow {
            permissions: vec!["fly".into()],
            ..row("dee", None)
        },
    ];
    let audit = ssogate_store::import::ImportAudit {
        actor: "cli:tester".into(),
        source: "people.csv".into(),
        unreadable: 0,
    };
    let seen = Arc::new(AtomicU32::new(0));
    let counter = seen.clone();
    let dry = s
        .import_users(
            rows.clone(),
            5,
            true,
            Some(audit.clone()),
            Box::new(move |n| {
                counter.fetch_add(u32::try_from(n).unwrap(), Ordering::Relaxed);
            }),
        )
        .unwrap();
    assert_eq!(seen.load(Ordering::Relaxed), 4);
    assert_eq!(
        s.count(Table::Users).unwrap(),
        0,
        "a dry run writes nothing"
    );
    assert!(
        s.audit_events(50).unwrap().is_empty(),
        "a dry run records nothing either"
    );
    let real = s
        .import_users(rows, 5, false, Some(audit), Box::new(|_| {}))
        .unwrap();
    // Regression: an import changed accounts without a trace in the audit log. Now one
    // event per account created or changed, and a summary with who, where from, counts.
    let events = s.audit_events(50).unwrap();
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        names,
        [
            "import.completed",
            "import.user.created",
            "import.user.created"
        ]
    );
    let summary: serde_json::Value =
        serde_json::from_str(events[0].detail.as_deref().unwrap()).unwrap();
    assert_eq!(
        summary,
        serde_json::json!({"actor": "cli:tester", "source": "people.csv", "rows": 4,
            "created": 2, "updated": 0, "skipped": 0, "failed": 2})
    );
    assert!(events[1].user_id.is_some());
    // (PostgreSQL sequences are not rolled back, so ids may differ.)
    let kinds = |v: &[ImportOutcome]| {
        v.iter()
            .map(|o| match o {
                ImportOutcome::Created(_) => "created".to_owned(),
                ImportOutcome::Updated(_) => "updated".to_owned(),
                ImportOutcome::Skipped(_) => "skipped".to_owned(),
                ImportOutcome::Failed(r) | ImportOutcome::Conflict(r) => r.clone(),
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kinds(&dry),
        kinds(&real),
        "the dry run predicts the real run"
    );
    assert!(matches!(real[0], ImportOutcome::Created(_)));
    assert!(
        matches!(&real[1], ImportOutcome::Conflict(r) if r.contains("already belongs")),
        "{real:?}"
    );
    assert!(matches!(real[2], ImportOutcome::Created(_)));
    assert!(
        matches!(&real[3], ImportOutcome::Failed(r) if r.contains("\"fly\" does not exist")),
        "{real:?}"
    );
    assert_eq!(
        s.count(Table::Users).unwrap(),
        2,
        "failed rows left nothing"
    );
    let ann = s.user_by_identity("corp", "a1").unwrap().unwrap();
    assert_eq!(ann.username, "ann");
    assert!(
        ann.grants
            .iter()
            .all(|g| g.source == GrantSource::Import && g.kind != GrantKind::Admin)
    );
    // A pre-provisioned identity binds on first login.
    let r = login(
        s,
        &engine(policy()),
        json!({"sub": "a1", "preferred_username": "whatever"}),
    );
    assert_eq!(r.outcome.decision, Decision::SignIn { user_id: ann.id });
}

fn users_are_listed_with_filters_sorting_and_keyset_pages(f: Fixture) {
    let s = &*f.store;
    let e = engine(policy());
    let other = Arc::new(
        Engine::new(
            ProviderPolicy::new("gh", "https://gh.example"),
            ProvisioningPolicy::default(),
            catalogue().permissions,
        )
        .unwrap(),
    );
    for i in 0..25 {
        let groups = if i % 5 == 0 {
            json!(["editor"])
        } else {
            json!([])
        };
        let claims = json!({"sub": format!("u{i}"), "preferred_username": format!("user{i:02}"), "name": format!("Person {i}"),
            "email": format!("p{i}@{}.org", if i % 2 == 0 { "even" } else { "odd" }), "groups": groups});
        let engine = if i < 20 { &e } else { &other };
        let ctx = RequestContext {
            now: 1_000 + i,
            ..ctx()
        };
        s.login(engine.clone(), ClaimSources::id_token(claims), ctx)
            .unwrap();
    }
    let names = |p: &UserPage| {
        p.users
            .iter()
            .map(|u| u.username.clone())
            .collect::<Vec<_>>()
    };

    // Keyset pages, ascending and descending, cover everyone exactly once.
    for (sort, descending) in [
        (UserSort::Username, false),
        (UserSort::Username, true),
        (UserSort::Created, true),
        (UserSort::LastLogin, false),
    ] {
        let mut seen = Vec::new();
        let mut filter = UserFilter {
            sort,
            descending,
            limit: 10,
            ..Default::default()
        };
        loop {
            let page = s.list_users(&filter).unwrap();
            assert!(page.users.len() <= 10);
            seen.extend(names(&page));
            match page.next {
                Some(c) => filter.after = Some(c),
                None => break,
            }
        }
        let mut sorted = seen.clone();
        sorted.sort();
        if descending {
            sorted.reverse();
        }
        assert_eq!(seen, sorted, "{sort:?} descending={descending}");
        assert_eq!(seen.len(), 25);
    }

    let count = |f: UserFilter| {
        s.list_users(&UserFilter { limit: 100, ..f })
            .unwrap()
            .users
            .len()
    };
    assert_eq!(
        count(UserFilter {
            search: Some("PERSON 1".into()),
            ..Default::default()
        }),
        11,
        "1, 10–19"
    );
    assert_eq!(
        count(UserFilter {
            search: Some("@even".into()),
            ..Default::default()
        }),
        13
    );
    assert_eq!(
        count(UserFilter {
            search: Some("%".into()),
            ..Default::default()
        }),
        0,
        "LIKE wildcards are literal"
    );
    assert_eq!(
        count(UserFilter {
            provider: Some("gh".into()),
            ..Default::default()
        }),
        5
    );
    assert_eq!(
        count(UserFilter {
            group: Some("editors".into()),
            ..Default::default()
        }),
        4
    );
    assert_eq!(
        count(UserFilter {
            permission: Some("download".into()),
            ..Default::default()
        }),
        20
    );
    assert_eq!(
        count(UserFilter {
            library: Some("main".into()),
            provider: Some("corp".into()),
            ..Default::default()
        }),
        20
    );
    assert_eq!(
        count(UserFilter {
            admin: Some(true),
            ..Default::default()
        }),
        0
    );
    assert_eq!(
        count(UserFilter {
            source: Some(UserSource::Provider),
            status: Some(UserStatus::Active),
            ..Default::default()
        }),
        25
    );
    let err = s
        .list_users(&UserFilter {
            after: Some("garbage".into()),
            limit: 10,
            ..Default::default()
        })
        .unwrap_err();
    assert!(
        err.to_string().contains("start from the first page"),
        "{err}"
    );
}

fn audit_events_are_queried_and_purged(f: Fixture) {
    let s = &*f.store;
    let e = engine(ProvisioningPolicy {
        auto_provision: false,
        ..policy()
    });
    for i in 0..6i64 {
        let ctx = RequestContext {
            now: 100 * i,
            ..ctx()
        };
        s.login(
            e.clone(),
            ClaimSources::id_token(json!({"sub": format!("x{i}")})),
            ctx,
        )
        .unwrap();
    }
    let q = |f: AuditFilter| s.query_audit(&AuditFilter { limit: 100, ..f }).unwrap();
    let all = q(AuditFilter::default());
    assert_eq!(all.len(), 6);
    assert!(all.windows(2).all(|w| w[0].0 > w[1].0), "newest first");
    assert_eq!(
        q(AuditFilter {
            from: Some(200),
            to: Some(400),
            ..Default::default()
        })
        .len(),
        2
    );
    assert_eq!(
        q(AuditFilter {
            outcome: Some("failure".into()),
            event: Some("login.rejected".into()),
            provider: Some("corp".into()),
            ..Default::default()
        })
        .len(),
        6
    );
    assert_eq!(
        q(AuditFilter {
            outcome: Some("success".into()),
            ..Default::default()
        })
        .len(),
        0
    );
    let page2 = q(AuditFilter {
        before_id: Some(all[2].0),
        ..Default::default()
    });
    assert_eq!(page2.len(), 3);
    assert_eq!(s.purge_audit(300).unwrap(), 3);
    assert_eq!(q(AuditFilter::default()).len(), 3);
}

const LIFE: SessionLifetimes = SessionLifetimes {
    idle: 600,
    absolute: 3600,
};

fn account(s: &dyn Directory, sub: &str) -> UserId {
    login(
        s,
        &engine(policy()),
        json!({"sub": sub, "preferred_username": sub}),
    )
    .user_id
    .unwrap()
}

fn sessions_expire_end_and_follow_the_account(f: Fixture) {
    let s = &*f.store;
    let id = account(s, "sess");
    let t0 = 1_000_000;
    let origin = SessionOrigin {
        provider: Some("corp"),
        sid: Some("sid-1"),
        subject: Some("sess"),
        ..Default::default()
    };
    let secret = s.create_session(id, &origin, t0, LIFE).unwrap();
    assert_eq!(secret.len(), 43);
    assert_ne!(
        s.create_session(id, &origin, t0, LIFE).unwrap(),
        secret,
        "every session gets a fresh secret"
    );
    let live = s.touch_session(&secret, t0 + 1, LIFE).unwrap().unwrap();
    assert_eq!(
        (live.user_id, live.sid.as_deref(), live.expires_at),
        (id, Some("sid-1"), t0 + 3600)
    );
    assert_eq!(
        s.touch_session("not-a-session", t0 + 1, LIFE).unwrap(),
        None
    );

    // Each request pushes the idle deadline back, but never past the absolute one.
    let mut t = t0;
    while t + 500 < t0 + 3600 {
        t += 500;
        assert!(
            s.touch_session(&secret, t, LIFE).unwrap().is_some(),
            "alive at {t}"
        );
    }
    assert_eq!(
        s.touch_session(&secret, t0 + 3600, LIFE).unwrap(),
        None,
        "absolute lifetime"
    );

    let idle = s.create_session(id, &origin, t0, LIFE).unwrap();
    assert_eq!(
        s.touch_session(&idle, t0 + 601, LIFE).unwrap(),
        None,
        "idle lifetime"
    );

    // Ending a session hands back the ID token it was opened with (id_token_hint).
    let signed_in = SessionOrigin {
        id_token: Some("eyJh.eyJz.c2ln"),
        ..origin.clone()
    };
    let out = s.create_session(id, &signed_in, t0, LIFE).unwrap();
    assert_eq!(
        s.end_session(&out).unwrap(),
        Some(EndedSession {
            id_token: Some("eyJh.eyJz.c2ln".to_owned())
        })
    );
    let out = s
        .create_session(id, &SessionOrigin::default(), t0, LIFE)
        .unwrap();
    assert_eq!(
        s.end_session(&out).unwrap(),
        Some(EndedSession { id_token: None }),
        "no ID token: a password sign-in"
    );
    assert!(s.end_session(&out).unwrap().is_none());
    assert_eq!(
        s.touch_session(&out, t0 + 1, LIFE).unwrap(),
        None,
        "logged out"
    );

    // Disabling the account ends its sessions; a pending one cannot use one either.
    let live = s.create_session(id, &origin, t0, LIFE).unwrap();
    assert!(s.set_user_status(id, UserStatus::Disabled, t0).unwrap());
    assert_eq!(s.touch_session(&live, t0 + 1, LIFE).unwrap(), None);
    assert!(s.set_user_status(id, UserStatus::Active, t0).unwrap());
    assert!(
        !s.set_user_status(UserId(999_999), UserStatus::Active, t0)
            .unwrap()
    );

    // Sweeping removes every expired session.
    let kept = s.create_session(id, &origin, t0, LIFE).unwrap();
    let (swept, _) = s.sweep(t0 + 10_000).unwrap();
    assert!(swept >= 1);
    assert_eq!(
        s.count(Table::Sessions).unwrap(),
        0,
        "{} expired and swept",
        kept.expose()
    );
}

fn back_channel_logout_ends_sessions_by_sid_or_subject(f: Fixture) {
    let s = &*f.store;
    let (a, b) = (account(s, "alice"), account(s, "bob"));
    let t = 1_000_000;
    let a1 = s
        .create_session(
            a,
            &SessionOrigin {
                provider: Some("corp"),
                sid: Some("s1"),
                subject: Some("alice"),
                ..Default::default()
            },
            t,
            LIFE,
        )
        .unwrap();
    let a2 = s
        .create_session(
            a,
            &SessionOrigin {
                provider: Some("corp"),
                sid: Some("s2"),
                subject: Some("alice"),
                ..Default::default()
            },
            t,
            LIFE,
        )
        .unwrap();
    let b1 = s
        .create_session(
            b,
            &SessionOrigin {
                provider: Some("corp"),
                sid: Some("s1"),
                subject: Some("bob"),
                ..Default::default()
            },
            t,
            LIFE,
        )
        .unwrap();
    // sid and sub together: only that pair.
    assert_eq!(
        s.end_sessions_by_provider("corp", Some("s1"), Some("alice"))
            .unwrap(),
        1
    );
    assert!(s.touch_session(&a1, t, LIFE).unwrap().is_none());
    assert!(s.touch_session(&b1, t, LIFE).unwrap().is_some());
    // Another provider's sid never matches.
    assert_eq!(
        s.end_sessions_by_provider("other", Some("s2"), None)
            .unwrap(),
        0
    );
    // sub alone: every session of that subject at that provider.
    assert_eq!(
        s.end_sessions_by_provider("corp", None, Some("alice"))
            .unwrap(),
        1
    );
    assert!(s.touch_session(&a2, t, LIFE).unwrap().is_none());
    assert_eq!(s.end_sessions_by_provider("corp", None, None).unwrap(), 0);
    assert_eq!(s.end_sessions_for_user(b).unwrap(), 1);
}

/// A state as unique as a relying party's (these tests need no randomness).
fn fresh_state() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "state-{:032}-{}",
        N.fetch_add(1, Ordering::Relaxed),
        std::process::id()
    )
}

fn login_states_are_one_time_bound_to_the_browser_and_expire(f: Fixture) {
    let s = &*f.store;
    let t = 1_000_000;
    let state = fresh_state();
    let binding = s
        .put_login_state("corp", &state, "{\"nonce\":\"n\"}", t, 600)
        .unwrap();
    assert_ne!(state, binding);
    let taken = s
        .take_login_state(&state, Some(&binding), "corp", t + 5)
        .unwrap();
    assert_eq!(
        (taken.provider.as_str(), taken.payload.as_str()),
        ("corp", "{\"nonce\":\"n\"}")
    );
    assert_eq!(
        s.take_login_state(&state, Some(&binding), "corp", t + 6)
            .err()
            .and_then(|e| e.refusal()),
        Some(StateError::Unknown),
        "one-time"
    );

    let state = fresh_state();
    let first_binding = s.put_login_state("corp", &state, "p", t, 600).unwrap();
    assert_eq!(
        s.take_login_state(&state, Some("another-browser"), "corp", t)
            .err()
            .and_then(|e| e.refusal()),
        Some(StateError::OtherBrowser)
    );
    assert_eq!(
        s.take_login_state(&state, None, "corp", t)
            .err()
            .and_then(|e| e.refusal()),
        Some(StateError::OtherBrowser),
        "a try without the binding is another browser's too"
    );
    assert!(
        s.take_login_state(&state, Some(&first_binding), "corp", t + 1)
            .is_ok(),
        "the tries from elsewhere did not burn the rightful browser's state"
    );

    let state = fresh_state();
    let binding = s.put_login_state("corp", &state, "p", t, 600).unwrap();
    assert_eq!(
        s.take_login_state(&state, Some(&binding), "corp", t + 600)
            .err()
            .and_then(|e| e.refusal()),
        Some(StateError::Expired)
    );
    let state = fresh_state();
    let binding = s.put_login_state("corp", &state, "p", t, 600).unwrap();
    assert_eq!(
        s.take_login_state(&state, Some(&binding), "google", t)
            .err()
            .and_then(|e| e.refusal()),
        Some(StateError::OtherProvider)
    );

    s.put_login_state("corp", &fresh_state(), "p", t, 600)
        .unwrap();
    assert_eq!(s.sweep(t + 599).unwrap().1, 0);
    assert_eq!(s.sweep(t + 600).unwrap().1, 1);
    assert_eq!(s.count(Table::LoginStates).unwrap(), 0);
}

fn first_login_provisions_and_the_next_signs_in(f: Fixture) {
    let s = &*f.store;
    s.ping().unwrap();
    let e = engine(policy());
    let claims = json!({"sub": "ada", "preferred_username": "Ada", "email": "ada@example.com",
        "email_verified": true, "name": "Ada Lovelace", "groups": ["editor"], "nonce": "n0nce"});
    let first = login(s, &e, claims.clone());
    assert!(matches!(first.outcome.decision, Decision::Provision { .. }));
    let id = first.user_id.unwrap();

    let user = s.user_by_username("ADA").unwrap().unwrap();
    assert_eq!(user.id, id);
    assert_eq!(user.display_name.as_deref(), Some("Ada Lovelace"));
    assert!(user.email_verified && user.is_admin());
    let mut grants: Vec<(GrantKind, &str, GrantSource)> = user
        .grants
        .iter()
        .map(|g| (g.kind, g.name.as_str(), g.source))
        .collect();
    grants.sort();
    assert_eq!(
        grants,
        [
            (GrantKind::Permission, "download", GrantSource::Default),
            (GrantKind::Permission, "read", GrantSource::Default),
            (GrantKind::Library, "main", GrantSource::Default),
            (GrantKind::Group, "Editors", GrantSource::Provider),
            (GrantKind::Group, "Readers", GrantSource::Default),
            (GrantKind::Admin, "admin", GrantSource::Default),
        ]
    );
    assert_eq!(
        s.user_by_identity("corp", "ada").unwrap().map(|u| u.id),
        Some(id)
    );

    // The event says what was decided, what changed and why, line by line.
    let provisioned = s.audit_events(1).unwrap().remove(0);
    let detail: serde_json::Value =
        serde_json::from_str(provisioned.detail.as_deref().unwrap()).unwrap();
    assert_eq!(
        detail,
        json!({"decision": "provision", "changes": first.outcome.changes,
            "trace": first.outcome.trace.to_strings()})
    );

    let second = login(s, &e, claims);
    assert_eq!(second.outcome.decision, Decision::SignIn { user_id: id });
    assert!(second.outcome.changes.grants.added.is_empty());
    assert_eq!(s.count(Table::Users).unwrap(), 1);
    let events: Vec<String> = s
        .audit_events(10)
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(events, ["login", "user.provisioned"]);

    // The raw claims of the last login are kept, secrets redacted.
    let raw = s.last_claims("corp", "ada").unwrap().unwrap();
    assert_eq!(raw["nonce"], "[redacted]");
    assert_eq!(raw["name"], "Ada Lovelace");
}

fn group_sync_and_admin_grants_persist_with_their_sources(f: Fixture) {
    let s = &*f.store;
    let e = engine(policy());
    let id = login(
        s,
        &e,
        json!({"sub": "g", "preferred_username": "g", "groups": ["editor"]}),
    )
    .user_id
    .unwrap();
    // An administrator grants "download" by hand; the provider then drops "editor".
    s.grant_by_admin(id, GrantKind::Permission, "download", 1)
        .unwrap();
    let r = login(s, &e, json!({"sub": "g", "groups": []}));
    let removed: Vec<&str> = r
        .outcome
        .changes
        .grants
        .removed
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    assert_eq!(removed, ["Editors"]);
    let user = s.user_by_username("g").unwrap().unwrap();
    assert!(
        user.grants
            .iter()
            .any(|g| g.name == "download" && g.source == GrantSource::Admin)
    );
    assert!(
        user.grants.iter().any(|g| g.name == "Readers"),
        "the default role counts as matched"
    );
    assert!(!user.grants.iter().any(|g| g.name == "Editors"));
}

fn rejections_are_audited_and_create_nothing(f: Fixture) {
    let s = &*f.store;
    let e = engine(ProvisioningPolicy {
        auto_provision: false,
        ..policy()
    });
    let r = login(s, &e, json!({"sub": "nobody"}));
    assert_eq!(
        r.outcome.reason().map(|r| r.code()),
        Some("auto_provisioning_disabled")
    );
    assert_eq!(s.count(Table::Users).unwrap(), 0);
    let events = s.audit_events(10).unwrap();
    assert_eq!(events.len(), 1);
    let ev = &events[0];
    assert_eq!(
        (
            ev.event.as_str(),
            ev.outcome.as_str(),
            ev.reason.as_deref(),
            ev.subject.as_deref(),
            ev.user_id
        ),
        (
            "login.rejected",
            "failure",
            Some("auto_provisioning_disabled"),
            Some("nobody"),
            None
        )
    );
}

fn concurrent_first_logins_make_one_account_per_subject(f: Fixture) {
    let e = engine(policy());
    // Half the threads go through a second instance when the engine has one.
    let stores = [
        f.store.clone(),
        f.second.clone().unwrap_or_else(|| f.store.clone()),
    ];
    std::thread::scope(|scope| {
        for t in 0..8usize {
            let (s, e) = (stores[t % 2].clone(), e.clone());
            scope.spawn(move || {
                for i in 0..125usize {
                    let n = (i * 8 + t) % 100;
                    let r = s.login(e.clone(), ClaimSources::id_token(json!({"sub": format!("s{n}"), "preferred_username": format!("user{n}")})), ctx());
                    assert!(r.is_ok(), "{r:?}");
                }
            });
        }
    });
    let s = &*f.store;
    assert_eq!(s.count(Table::Users).unwrap(), 100);
    assert_eq!(s.count(Table::Identities).unwrap(), 100);
    let events = s.audit_events(5000).unwrap();
    assert_eq!(events.len(), 1000);
    assert_eq!(
        events
            .iter()
            .filter(|e| e.event == "user.provisioned")
            .count(),
        100
    );
}

fn two_subjects_racing_for_one_username_get_two_accounts(f: Fixture) {
    let e = engine(policy());
    let stores = [
        f.store.clone(),
        f.second.clone().unwrap_or_else(|| f.store.clone()),
    ];
    for round in 0..5 {
        std::thread::scope(|scope| {
            for (i, s) in stores.iter().enumerate() {
                let (s, e) = (s.clone(), e.clone());
                scope.spawn(move || {
                    s.login(e, ClaimSources::id_token(json!({"sub": format!("r{round}-{i}"), "preferred_username": format!("race{round}")})), ctx()).unwrap()
                });
            }
        });
        let s = &*f.store;
        assert!(
            s.user_by_username(&format!("race{round}"))
                .unwrap()
                .is_some()
        );
        assert!(
            s.user_by_username(&format!("race{round}-2"))
                .unwrap()
                .is_some()
        );
    }
}

#[test]
fn a_failing_write_leaves_no_partial_account() {
    // The catalogue is not in the database: granting "download" breaks a foreign key
    // after the account row was inserted; the whole login must roll back.
    for f in [sqlite(false), postgres(false)].into_iter().flatten() {
        let s = &*f.store;
        let r = s.login(
            engine(policy()),
            ClaimSources::id_token(json!({"sub": "x", "preferred_username": "x"})),
            ctx(),
        );
        assert!(r.is_err(), "{r:?}");
        assert_eq!(s.count(Table::Users).unwrap(), 0);
        assert_eq!(s.count(Table::Identities).unwrap(), 0);
        assert_eq!(s.count(Table::AuditEvents).unwrap(), 0);
    }
}

#[test]
fn sqlite_migrations_run_once_and_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ssogate.db");
    drop(SqliteStore::open(&path).unwrap());
    drop(SqliteStore::open(&path).unwrap());
    let mut c = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(
        ssogate_store::sqlite::migrate(&mut c).unwrap(),
        ssogate_store::sqlite::SCHEMA_VERSION
    );
    c.pragma_update(None, "user_version", 99).unwrap();
    drop(c);
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(
        err,
        StoreError::NewerSchema {
            found: 99,
            supported: ssogate_store::sqlite::SCHEMA_VERSION
        }
    ));
    assert!(err.to_string().contains("Upgrade ssogate"), "{err}");
}

#[test]
fn postgres_migrations_run_once_and_a_newer_schema_is_refused() {
    let Some(url) = postgres_url() else { return };
    drop(PgStore::open(&url).unwrap());
    drop(PgStore::open(&url).unwrap());
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    c.batch_execute("UPDATE ssogate_schema SET version = 99")
        .unwrap();
    let err = PgStore::open(&url).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NewerSchema {
                found: 99,
                supported: ssogate_store::sqlite::SCHEMA_VERSION
            }
        ),
        "{err}"
    );
}

#[test]
fn an_unreachable_database_is_a_clear_error() {
    let err = SqliteStore::open(std::path::Path::new("/nonexistent/dir/ssogate.db")).unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot open the SQLite database /nonexistent/dir/ssogate.db"),
        "{err}"
    );
    // Port 1 on loopback: nothing listens there.
    let err = PgStore::open("postgres://ssogate:hunter2@127.0.0.1:1/ssogate").unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("cannot connect to PostgreSQL") && msg.contains("Check database_url"),
        "{msg}"
    );
    assert!(!msg.contains("hunter2"), "{msg}");
}

/// Run by `killing_the_process_mid_login_leaves_no_partial_account` in a child process:
/// logs in new subjects as fast as it can, printing each committed one, until killed.
#[test]
#[ignore = "a helper run in a child process by the crash test"]
fn crash_child() {
    let store: Box<dyn Directory> = match (
        std::env::var("TEST_SSOGATE_CRASH_SQLITE"),
        std::env::var("TEST_SSOGATE_CRASH_POSTGRES"),
    ) {
        (Ok(path), _) => Box::new(SqliteStore::open(std::path::Path::new(&path)).unwrap()),
        (_, Ok(url)) => Box::new(PgStore::open(&url).unwrap()),
        _ => return,
    };
    store.sync_catalogue(&catalogue()).unwrap();
    let e = engine(policy());
    for i in 0.. {
        store
            .login(e.clone(), ClaimSources::id_token(json!({"sub": format!("c{i}"), "preferred_username": format!("c{i}"), "groups": ["editor"]})), ctx())
            .unwrap();
        println!("committed {i}");
    }
}

fn crash(var: &str, target: &str, open: impl Fn() -> Box<dyn Directory>) {
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(var, target)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut committed = 0;
    for line in BufReader::new(stdout).lines() {
        if line.unwrap().starts_with("committed ") {
            committed += 1;
            if committed == 200 {
                break;
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        committed, 200,
        "the child stopped before committing 200 logins"
    );

    let s = open();
    let users = s.count(Table::Users).unwrap();
    assert!(users >= 200, "{users} users");
    // Every account that exists is whole: one identity, two permissions, two groups,
    // one provisioning event.
    assert_eq!(s.count(Table::Identities).unwrap(), users);
    assert_eq!(s.count(Table::UserPermissions).unwrap(), 2 * users);
    assert_eq!(s.count(Table::UserGroups).unwrap(), 2 * users);
    let provisioned = s
        .audit_events(100_000)
        .unwrap()
        .iter()
        .filter(|e| e.event == "user.provisioned")
        .count();
    assert_eq!(i64::try_from(provisioned).unwrap(), users);
}

#[test]
fn killing_the_process_mid_login_leaves_no_partial_account() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ssogate.db");
    crash("TEST_SSOGATE_CRASH_SQLITE", path.to_str().unwrap(), || {
        Box::new(SqliteStore::open(&path).unwrap())
    });
    if let Some(url) = postgres_url() {
        crash("TEST_SSOGATE_CRASH_POSTGRES", &url, || {
            Box::new(PgStore::open(&url).unwrap())
        });
    }
}

#[test]
fn postgres_over_tls_is_verified() {
    let Some(url) = postgres_url() else { return };
    let ca = std::env::var("TEST_SSOGATE_POSTGRES_CA")
        .expect("scripts/postgres-test-server exports the CA with the URL");
    // Verified against the CA given: works, and logins go through.
    let s = PgStore::open(&format!("{url}?sslmode=require&sslrootcert={ca}")).unwrap();
    s.sync_catalogue(&catalogue()).unwrap();
    login(
        &s,
        &engine(policy()),
        json!({"sub": "tls", "preferred_username": "tls"}),
    );
    // The system's roots do not know the test CA: refused, and the message says why.
    let err = PgStore::open(&format!("{url}?sslmode=require"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("cannot connect to PostgreSQL")
            && err.to_lowercase().contains("certificate"),
        "{err}"
    );
    let err = PgStore::open(&format!(
        "{url}?sslmode=require&sslrootcert=/nonexistent/ca.pem"
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("cannot read sslrootcert /nonexistent/ca.pem"),
        "{err}"
    );
}

#[test]
fn sqlite_changes_of_another_process_are_heard() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let server = SqliteStore::open(&path).unwrap();
    let heard = Heard::default();
    server.watch(heard.sink()).unwrap();
    // The CLI: another handle on the same file that broadcasts its changes.
    let cli = SqliteStore::open(&path).unwrap();
    cli.broadcast_to_other_processes();
    cli.sync_catalogue(&catalogue()).unwrap();
    let id = account(&cli, "far");
    cli.set_user_status(id, UserStatus::Disabled, 10).unwrap();
    heard.wait_for(&Invalidation::User(id));
    cli.put_settings(&Scope::Global, &json!({"auto_provision": false}), None, 10)
        .unwrap();
    heard.wait_for(&Invalidation::Settings(Scope::Global));
    // A handle that does not broadcast (a second server would) is not heard.
    let quiet = SqliteStore::open(&path).unwrap();
    quiet
        .put_settings(&Scope::Provider("x".into()), &json!({}), None, 11)
        .unwrap();
    cli.put_settings(&Scope::Provider("y".into()), &json!({}), None, 12)
        .unwrap();
    heard.wait_for(&Invalidation::Settings(Scope::Provider("y".into())));
    assert!(
        !heard
            .0
            .lock()
            .unwrap()
            .contains(&Invalidation::Settings(Scope::Provider("x".into())))
    );
}

fn webhook_events_are_written_with_the_change_claimed_once_and_logged(f: Fixture) {
    use ssogate_core::events::Subscription;
    use ssogate_store::directory::webhooks::{Attempt, WebhookError};
    let s = &*f.store;
    const T: i64 = 1_800_000_000;
    let e = engine(ProvisioningPolicy {
        require_approval: true,
        ..policy()
    });
    // Nothing is queued while no endpoint listens.
    login(
        s,
        &e,
        json!({"sub": "early", "preferred_username": "early"}),
    );
    let all = s
        .add_webhook(
            "all",
            "https://hooks.example.com/a",
            &Subscription::All,
            "whsec_a",
            1,
        )
        .unwrap()
        .unwrap();
    assert!(all.enabled);
    let only = Subscription::parse("user.deleted,user.disabled").unwrap();
    s.add_webhook(
        "leavers",
        "https://hooks.example.com/l",
        &only,
        "whsec_l",
        1,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        s.add_webhook("all", "https://x.example.com", &only, "whsec_x", 1)
            .unwrap(),
        Err(WebhookError::NameTaken("all".into()))
    );
    assert!(s.deliveries(None, None, 100).unwrap().is_empty());

    // A first sign-in under require_approval: provisioned, and an approval is needed.
    let id = login(s, &e, json!({"sub": "ada", "preferred_username": "ada", "email": "ada@example.com", "groups": ["editor"]}))
        .user_id
        .unwrap();
    // Approved (once: the second time is no change).
    s.set_user_status(id, UserStatus::Active, T + 2).unwrap();
    s.set_user_status(id, UserStatus::Active, T + 2).unwrap();
    // A sign-in that changes nothing tells nobody; one that changes the profile does.
    login(
        s,
        &e,
        json!({"sub": "ada", "preferred_username": "ada", "email": "ada@example.com", "groups": ["editor"]}),
    );
    login(
        s,
        &e,
        json!({"sub": "ada", "preferred_username": "ada", "email": "ada@example.org", "groups": []}),
    );
    s.grant_by_admin(id, GrantKind::Library, "main", T + 3)
        .unwrap();
    s.set_user_status(id, UserStatus::Disabled, T + 4).unwrap();
    s.delete_user(id, T + 5).unwrap();
    s.delete_user(id, T + 5).unwrap();

    let log = s.deliveries(Some("all"), None, 100).unwrap();
    let mut types: Vec<&str> = log.iter().map(|d| d.event_type.as_str()).collect();
    types.reverse();
    assert_eq!(
        types,
        [
            "user.provisioned",
            "approval.needed",
            "user.enabled",
            "user.updated",
            "grants.changed",
            "grants.changed",
            "user.disabled",
            "user.deleted",
        ]
    );
    let leavers: Vec<String> = s
        .deliveries(Some("leavers"), None, 100)
        .unwrap()
        .into_iter()
        .map(|d| d.event_type)
        .collect();
    assert_eq!(leavers, ["user.deleted", "user.disabled"]);
    // The deleted account is shown as it was; the message ids are shared by endpoints.
    let deleted: Value = serde_json::from_str(&log[0].payload).unwrap();
    assert_eq!(deleted["type"], "user.deleted");
    assert_eq!(deleted["data"]["user"]["username"], "ada");
    assert_eq!(deleted["data"]["user"]["email"], "ada@example.org");
    assert_eq!(deleted["timestamp"], "2027-01-15T08:00:05Z");
    let updated: Value = serde_json::from_str(&log[4].payload).unwrap();
    assert_eq!(updated["type"], "user.updated");
    assert_eq!(updated["data"]["provider"], "corp");
    assert_eq!(updated["data"]["attributes"][0]["to"], "ada@example.org");
    let leaver_ids: Vec<String> = s
        .deliveries(Some("leavers"), None, 100)
        .unwrap()
        .into_iter()
        .map(|d| d.msg_id)
        .collect();
    assert_eq!(leaver_ids[0], log[0].msg_id);
    assert_ne!(log[0].msg_id, log[1].msg_id);

    // Claimed once across instances; backoff; delivered or failed for good; replayed.
    let other = f.second.as_deref().unwrap_or(s);
    let claimed = s.claim_deliveries(T + 10, 100, |_| 60).unwrap();
    assert_eq!(claimed.len(), 10);
    assert!(
        other
            .claim_deliveries(T + 10, 100, |_| 60)
            .unwrap()
            .is_empty()
    );
    assert!(claimed.iter().all(|d| d.attempts == 1));
    let first = &claimed[0];
    assert_eq!(first.secret, "whsec_a");
    s.finish_delivery(first.id, T + 11, Attempt::Delivered { status: 204 })
        .unwrap();
    let second = &claimed[1];
    s.finish_delivery(
        second.id,
        11,
        Attempt::Failed {
            status: Some(500),
            error: "HTTP 500".into(),
            last: false,
        },
    )
    .unwrap();
    let again = other.claim_deliveries(T + 70, 1, |n| n * 100).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempts), (second.id, 2));
    s.finish_delivery(
        second.id,
        71,
        Attempt::Failed {
            status: None,
            error: "connection refused".into(),
            last: true,
        },
    )
    .unwrap();
    let failed = s.delivery(second.id).unwrap().unwrap();
    assert_eq!(failed.state(), "failed");
    assert_eq!(failed.last_error.as_deref(), Some("connection refused"));
    assert_eq!(s.delivery(first.id).unwrap().unwrap().state(), "delivered");
    let replay = s.replay_delivery(second.id, T + 80).unwrap().unwrap();
    let replayed = s.delivery(replay).unwrap().unwrap();
    assert_eq!(
        (
            replayed.state(),
            replayed.msg_id.as_str(),
            replayed.attempts
        ),
        ("pending", failed.msg_id.as_str(), 0)
    );
    assert!(s.replay_delivery(999_999, 80).unwrap().is_none());

    // A disabled endpoint is neither queued for nor sent to; a ping goes to one.
    assert!(s.update_webhook("all", None, None, Some(false)).unwrap());
    assert!(!s.update_webhook("nobody", None, None, Some(false)).unwrap());
    assert!(!s.webhook("all").unwrap().unwrap().enabled);
    let before = s.deliveries(Some("all"), None, 1000).unwrap().len();
    login(s, &e, json!({"sub": "bob", "preferred_username": "bob"}));
    assert_eq!(s.deliveries(Some("all"), None, 1000).unwrap().len(), before);
    assert!(
        s.claim_deliveries(T + 100_000, 100, |_| 60)
            .unwrap()
            .iter()
            .all(|d| d.url.ends_with("/l"))
    );
    let ping = s.ping_webhook("leavers", T + 90).unwrap().unwrap();
    assert_eq!(s.delivery(ping).unwrap().unwrap().event_type, "ping");
    assert!(s.ping_webhook("nobody", 90).unwrap().is_none());
    // Keyset pages of the log, newest first.
    let page = s.deliveries(Some("all"), Some(log[2].id), 2).unwrap();
    assert_eq!(
        page.iter().map(|d| d.id).collect::<Vec<_>>(),
        [log[3].id, log[4].id]
    );
    // Finished deliveries leave the log after 30 days; pending ones stay.
    let before = s.deliveries(Some("all"), None, 1000).unwrap();
    s.sweep(T + 80 + 31 * 86_400).unwrap();
    let after = s.deliveries(Some("all"), None, 1000).unwrap();
    assert!(
        after.len() < before.len(),
        "{} → {}",
        before.len(),
        after.len()
    );
    assert!(after.iter().all(|d| d.state() == "pending"), "{after:?}");
    // Removing an endpoint takes its log with it.
    assert!(s.remove_webhook("all").unwrap());
    assert!(s.deliveries(Some("all"), None, 100).unwrap().is_empty());
    assert_eq!(s.webhooks().unwrap().len(), 1);
}

fn back_channel_logouts_are_claimed_once_by_racing_instances(f: Fixture) {
    use ssogate_store::directory::op::{IssuedTokens, NewAccess, TokenGrant};
    let s = f.store.clone();
    let e = engine(policy());
    let id = login(&*s, &e, json!({"sub": "ada", "preferred_username": "ada"}))
        .user_id
        .unwrap();
    // Ada signed in to 40 applications (sessions), then her account is disabled.
    for n in 0..40 {
        let grant = TokenGrant {
            client_id: format!("app{n}"),
            user_id: id,
            scope: "openid".into(),
        };
        s.op_issue(IssuedTokens {
            access: NewAccess {
                token_hash: format!("t{n}"),
                family: format!("c{n}"),
                grant,
                sid: Some(format!("sid{n}")),
                now: 1,
                expires_at: 10_000,
            },
            refresh: None,
            event: None,
        })
        .unwrap();
    }
    s.set_user_status(id, UserStatus::Disabled, 2).unwrap();
    // Two instances (on SQLite: two threads on one store) claim side by side.
    let other = f.second.clone().unwrap_or_else(|| s.clone());
    let claim = |d: std::sync::Arc<dyn Directory>| {
        std::thread::spawn(move || {
            let mut mine = Vec::new();
            for _ in 0..20 {
                mine.extend(
                    d.op_claim_logouts(3, 3, |_| 600)
                        .unwrap()
                        .into_iter()
                        .map(|p| p.id),
                );
            }
            mine
        })
    };
    let (a, b) = (claim(s.clone()), claim(other));
    let (mut a, b) = (a.join().unwrap(), b.join().unwrap());
    a.extend(b);
    let total = a.len();
    a.sort_unstable();
    a.dedup();
    assert_eq!(
        (total, a.len()),
        (40, 40),
        "each logout claimed exactly once"
    );
}

fn registered_clients_keep_a_digest_and_leave_with_what_they_were_issued(f: Fixture) {
    use ssogate_store::directory::clients::ClientError;
    use ssogate_store::directory::op::{NewCode, Redeemed};
    let s = &*f.store;
    let heard = Heard::default();
    s.watch(heard.sink()).unwrap();
    let spec = json!({"redirect_uris": ["https://wiki.example.org/cb"], "name": "Wiki"});
    let wiki = s
        .add_op_client("wiki", &spec, Some("ab".repeat(32).as_str()), 10)
        .unwrap()
        .unwrap();
    assert_eq!(wiki.spec, spec);
    heard.wait_for(&Invalidation::Providers);
    assert_eq!(
        s.add_op_client("wiki", &spec, None, 11).unwrap(),
        Err(ClientError::IdTaken("wiki".into()))
    );
    s.add_op_client(
        "spa",
        &json!({"public": true, "redirect_uris": ["https://spa.example.org/cb"]}),
        None,
        12,
    )
    .unwrap()
    .unwrap();
    let ids: Vec<String> = s.op_clients().unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(ids, ["spa", "wiki"]);

    let changed = json!({"redirect_uris": ["https://wiki.example.org/cb2"]});
    assert!(s.update_op_client("wiki", &changed, 20).unwrap());
    assert!(!s.update_op_client("nobody", &changed, 20).unwrap());
    assert!(
        s.set_op_client_secret("wiki", &"cd".repeat(32), 21)
            .unwrap()
    );
    // A public client has no secret to change.
    assert!(!s.set_op_client_secret("spa", &"cd".repeat(32), 21).unwrap());
    let read = s.op_client("wiki").unwrap().unwrap();
    assert_eq!(
        (
            read.spec,
            read.secret_sha256.as_deref(),
            read.created_at,
            read.updated_at
        ),
        (changed, Some("cd".repeat(32).as_str()), 10, 21)
    );

    // Removed with its codes: what it was issued stops working with it.
    let user = account(s, "wikireader");
    for client in ["wiki", "spa"] {
        s.op_put_code(NewCode {
            code_hash: format!("code-{client}"),
            client_id: client.into(),
            user_id: user,
            grant_json: "{}".into(),
            auth_time: 30,
            sid: None,
            expires_at: i64::MAX,
        })
        .unwrap();
    }
    assert!(s.remove_op_client("wiki").unwrap());
    assert!(!s.remove_op_client("wiki").unwrap());
    assert!(s.op_client("wiki").unwrap().is_none());
    assert_eq!(
        s.op_redeem_code("code-wiki", 40).unwrap(),
        Redeemed::Unknown
    );
    assert!(matches!(
        s.op_redeem_code("code-spa", 40).unwrap(),
        Redeemed::Fresh { .. }
    ));
}
