//! Scenario tests for the provisioning engine: one per policy row of DESIGN.md and per
//! seed behaviour. Everything here runs in memory against `InMemoryDirectory`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use serde_json::{Value, json};
use ssogate_core::claims::ClaimSources;
use ssogate_core::decision::{Attribute, Decision, IdentityChange, RejectReason};
use ssogate_core::domain::{Grant, GrantKind, GrantSource, Permission, UserStatus};
use ssogate_core::grants::GrantPlan;
use ssogate_core::memory::{DirectoryFile, InMemoryDirectory};
use ssogate_core::policy::{ClaimMap, Collision, EmailConflict, MatchBy, RuleSpec, TrustEmail};
use ssogate_core::spi::{
    AssignContext, AssignmentError, AssignmentProvider, CreateContext, IdentityCreator, NewAccount,
};
use ssogate_core::trace::Trace;
use ssogate_core::{ClaimExpr, Engine, Outcome, ProviderPolicy, ProvisioningPolicy};
use std::sync::Arc;

fn catalogue() -> Vec<Permission> {
    let p = |name: &str, required| Permission {
        name: name.into(),
        label: None,
        required,
    };
    vec![
        p("read_books", true),
        p("download_books", false),
        p("upload_books", false),
        p("manage_library", false),
    ]
}

fn provider() -> ProviderPolicy {
    ProviderPolicy::new("corp", "https://idp.example.com")
}

/// Booklore/Nextcloud adoption: match by subject, external id, verified email, username.
fn adopting(policy: ProvisioningPolicy) -> ProvisioningPolicy {
    ProvisioningPolicy {
        match_by: vec![
            MatchBy::Subject,
            MatchBy::ExternalIdClaim,
            MatchBy::VerifiedEmail,
            MatchBy::Username,
        ],
        ..policy
    }
}

fn engine(policy: ProvisioningPolicy) -> Engine {
    Engine::new(provider(), policy, catalogue()).unwrap()
}

fn engine_with(provider: ProviderPolicy, policy: ProvisioningPolicy) -> Engine {
    Engine::new(provider, policy, catalogue()).unwrap()
}

fn dir(v: Value) -> InMemoryDirectory {
    let file: DirectoryFile = serde_json::from_value(v).unwrap();
    InMemoryDirectory::from(file)
}

fn base_dir() -> InMemoryDirectory {
    dir(json!({
        "libraries": [{"name": "main"}, {"name": "kids"}, {"name": "archive"}],
        "groups": [
            {"name": "Editors"},
            {"name": "Readers"},
            {"name": "Admins", "external_ids": ["idp-admins"]}
        ],
        "users": [
            {"username": "root", "email": "root@example.com", "email_verified": true, "is_admin": true,
             "identities": [{"provider": "other", "subject": "root-sub"}]}
        ]
    }))
}

fn claims(v: Value) -> ClaimSources {
    ClaimSources::id_token(v)
}

fn ada() -> Value {
    json!({
        "sub": "ada-sub", "preferred_username": "Ada", "email": "ada@example.com",
        "email_verified": true, "name": "Ada Lovelace", "groups": ["Editors"]
    })
}

fn reason(o: &Outcome) -> Option<&'static str> {
    o.reason().map(RejectReason::code)
}

fn names(o: &Outcome, kind: GrantKind) -> Vec<String> {
    o.names(kind).into_iter().map(String::from).collect()
}

fn trace_has(o: &Outcome, needle: &str) -> bool {
    o.trace.to_strings().iter().any(|l| l.contains(needle))
}

/// A directory with one local account "ada" (no identity) — someone Booklore's admin made.
fn with_local_ada() -> InMemoryDirectory {
    let mut d = base_dir();
    let extra = dir(json!({"users": [{
        "username": "ada", "email": "ada@example.com", "email_verified": true,
        "display_name": "Old Name", "has_password": true, "permissions": ["download_books"]
    }]}));
    for u in extra.users() {
        d.insert(u.clone());
    }
    d
}

// ---------------------------------------------------------------- Nextcloud's four scenarios

#[test]
fn nextcloud_scenario_create_users_and_adopt_existing_ones() {
    let e = engine(adopting(ProvisioningPolicy::default()));
    let new = e.decide(
        &claims(json!({"sub": "n1", "preferred_username": "newbie", "email": "n@x.io"})),
        &with_local_ada(),
    );
    assert!(
        matches!(new.decision, Decision::Provision { .. }),
        "{:?}",
        new.trace
    );

    let existing = e.decide(&claims(ada()), &with_local_ada());
    assert!(
        matches!(
            existing.decision,
            Decision::Link {
                matched_by: MatchBy::Username,
                ..
            }
        ),
        "{:?}",
        existing.trace
    );
    assert_eq!(
        existing.user.display_name.as_deref(),
        Some("Ada Lovelace"),
        "attributes updated"
    );
    assert!(
        existing
            .changes
            .attributes
            .iter()
            .any(|a| a.field == Attribute::DisplayName)
    );
}

#[test]
fn nextcloud_scenario_create_users_but_refuse_existing_ones() {
    let e = engine(adopting(ProvisioningPolicy {
        soft_auto_provision: false,
        ..Default::default()
    }));
    let new = e.decide(
        &claims(json!({"sub": "n1", "preferred_username": "newbie"})),
        &with_local_ada(),
    );
    assert!(matches!(new.decision, Decision::Provision { .. }));

    let existing = e.decide(&claims(ada()), &with_local_ada());
    assert_eq!(reason(&existing), Some("existing_account_not_adoptable"));
    assert!(existing.changes.identity.is_none());
}

#[test]
fn nextcloud_scenario_update_existing_users_without_creating_any() {
    let e = engine(adopting(ProvisioningPolicy {
        disable_account_creation: true,
        ..Default::default()
    }));
    let new = e.decide(
        &claims(json!({"sub": "n1", "preferred_username": "newbie"})),
        &with_local_ada(),
    );
    assert_eq!(reason(&new), Some("account_creation_disabled"));

    let existing = e.decide(&claims(ada()), &with_local_ada());
    assert!(matches!(existing.decision, Decision::Link { .. }));
    assert_eq!(existing.user.display_name.as_deref(), Some("Ada Lovelace"));
}

#[test]
fn nextcloud_scenario_no_provisioning_and_no_attribute_updates() {
    let e = engine(adopting(ProvisioningPolicy {
        auto_provision: false,
        ..Default::default()
    }));
    let new = e.decide(
        &claims(json!({"sub": "n1", "preferred_username": "newbie"})),
        &with_local_ada(),
    );
    assert_eq!(reason(&new), Some("auto_provisioning_disabled"));
    assert!(
        new.to_json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("disabled"))
    );

    // Booklore: "must be manually created first; username must match exactly".
    let existing = e.decide(&claims(ada()), &with_local_ada());
    assert!(matches!(
        existing.decision,
        Decision::Link {
            matched_by: MatchBy::Username,
            ..
        }
    ));
    assert!(existing.changes.attributes.is_empty());
    assert_eq!(existing.user.display_name.as_deref(), Some("Old Name"));
}

#[test]
fn tududi_invite_only_means_pre_linked_identities_only() {
    let e = engine(ProvisioningPolicy {
        auto_provision: false,
        match_by: vec![MatchBy::Subject],
        ..Default::default()
    });
    assert_eq!(
        reason(&e.decide(&claims(ada()), &with_local_ada())),
        Some("auto_provisioning_disabled")
    );
}

// ---------------------------------------------------------------- matching order

#[test]
fn subject_wins_over_every_other_match() {
    let mut d = with_local_ada();
    let other = dir(
        json!({"users": [{"username": "someone", "identities": [{"provider": "corp", "subject": "ada-sub"}]}]}),
    );
    d.insert(other.users()[0].clone());
    let id = d.find("someone").unwrap().id;
    let o = engine(ProvisioningPolicy {
        link_by_email: true,
        ..Default::default()
    })
    .decide(&claims(ada()), &d);
    assert_eq!(o.decision, Decision::SignIn { user_id: id });
}

/// BookStack's `OIDC_EXTERNAL_ID_CLAIM`: the claim's value becomes the account's external
/// id when it is created and is kept current, so a later change of `sub` still finds it.
#[test]
fn the_external_id_claim_is_recorded_at_provisioning_and_kept_current() {
    let p = ProviderPolicy {
        claims: ClaimMap {
            external_id: Some(ClaimExpr::claim("upn")),
            ..Default::default()
        },
        ..provider()
    };
    let e = engine_with(p, ProvisioningPolicy::default());
    let mut d = base_dir();
    let first = e.decide(
        &claims(json!({"sub": "s1", "upn": "G-1", "preferred_username": "grace"})),
        &d,
    );
    assert!(matches!(first.decision, Decision::Provision { .. }));
    assert_eq!(first.changes.external_id.as_deref(), Some("G-1"));
    d.apply(&first);
    let mut grace = d.find("grace").unwrap().clone();
    grace.external_ids.insert("corp".into(), "G-1".into());
    d.insert(grace);
    // Unchanged: nothing to write.
    let again = e.decide(&claims(json!({"sub": "s1", "upn": "G-1"})), &d);
    assert!(matches!(again.decision, Decision::SignIn { .. }));
    assert_eq!(again.changes.external_id, None);
    // Changed at the provider: recorded.
    let moved = e.decide(&claims(json!({"sub": "s1", "upn": "G-2"})), &d);
    assert_eq!(moved.changes.external_id.as_deref(), Some("G-2"));
    // Held by another account: never taken from it.
    let other = dir(json!({"users": [{"username": "hopper", "external_ids": {"corp": "G-9"}}]}));
    d.insert(other.users()[0].clone());
    let taken = e.decide(&claims(json!({"sub": "s1", "upn": "G-9"})), &d);
    assert!(
        matches!(taken.decision, Decision::SignIn { .. }),
        "subject wins"
    );
    assert_eq!(taken.changes.external_id, None);
    assert!(trace_has(&taken, "belongs to \"hopper\"; not recorded"));
}

/// Regression: a sign-in that only authenticates answered the account's grants in the
/// order they were stored, where `Outcome::names` promises name order.
#[test]
fn without_auto_provision_the_grants_are_answered_in_name_order() {
    let d = dir(json!({
        "groups": [{"name": "Readers"}, {"name": "Admins"}, {"name": "Editors"}],
        "users": [{"username": "ada", "email": "ada@example.com", "email_verified": true,
            "identities": [{"provider": "corp", "subject": "ada-sub"}],
            "groups": [{"name": "Readers", "source": "admin"}, {"name": "Admins", "source": "admin"},
                {"name": "Editors", "source": "admin"}]}]
    }));
    let o = engine(ProvisioningPolicy {
        auto_provision: false,
        ..ProvisioningPolicy::default()
    })
    .decide(&claims(ada()), &d);
    assert!(
        matches!(o.decision, Decision::SignIn { .. }),
        "{:?}",
        o.trace
    );
    assert_eq!(
        names(&o, GrantKind::Group),
        ["Admins", "Editors", "Readers"]
    );
}

/// `auto_provision = false` authenticates only (Booklore, Nextcloud): rules and group
/// sync change no grant and no attribute changes; `sync_without_provisioning` keeps
/// syncing. Deny rules still refuse.
#[test]
fn without_auto_provision_a_sign_in_only_authenticates() {
    let policy = |sync: bool| ProvisioningPolicy {
        auto_provision: false,
        sync_without_provisioning: sync,
        groups: ssogate_core::policy::GroupSyncPolicy {
            enabled: true,
            ..Default::default()
        },
        rules: vec![ssogate_core::policy::RuleSpec {
            name: "readers".into(),
            when: "true".into(),
            grant_permissions: vec!["download_books".into()],
            grant_libraries: vec![],
            grant_groups: vec![],
            grant_admin: false,
            deny: false,
            message: None,
        }],
        ..ProvisioningPolicy::default()
    };
    let d = dir(json!({
        "groups": [{"name": "Editors"}, {"name": "Readers"}],
        "users": [{"username": "ada", "email": "old@example.com", "email_verified": true,
            "identities": [{"provider": "corp", "subject": "ada-sub"}],
            "groups": [{"name": "Readers", "source": "provider"}]}]
    }));
    let only = engine(policy(false)).decide(&claims(ada()), &d);
    assert!(
        matches!(only.decision, Decision::SignIn { .. }),
        "{:?}",
        only.trace
    );
    assert!(only.changes.attributes.is_empty());
    assert!(only.changes.grants.added.is_empty() && only.changes.grants.removed.is_empty());
    assert_eq!(names(&only, GrantKind::Group), ["Readers"]);
    assert!(trace_has(&only, "only authenticates"));
    let synced = engine(policy(true)).decide(&claims(ada()), &d);
    assert!(
        !synced.changes.attributes.is_empty(),
        "the email follows the claims"
    );
    assert!(names(&synced, GrantKind::Group).contains(&"Editors".to_owned()));
    assert!(names(&synced, GrantKind::Permission).contains(&"download_books".to_owned()));
    let mut deny = policy(false);
    deny.rules[0].deny = true;
    let refused = engine(deny).decide(&claims(ada()), &d);
    assert!(matches!(refused.decision, Decision::Reject(_)));
}

/// Tududi's rule as a first-class choice: the username is the email's prefix even when
/// a username claim is there; Booklore's usernames keep `@` and capitals when asked.
#[test]
fn usernames_come_from_the_email_prefix_or_keep_at_signs_and_capitals() {
    let c = claims(
        json!({"sub": "s1", "preferred_username": "Grace.Hopper@Navy.mil",
        "email": "ghopper@example.com", "email_verified": true}),
    );
    let with = |username: ssogate_core::policy::UsernamePolicy| {
        let o = engine(ProvisioningPolicy {
            username,
            ..ProvisioningPolicy::default()
        })
        .decide(&c, &base_dir());
        match o.decision {
            Decision::Provision { account } => account.username,
            other => panic!("{other:?}"),
        }
    };
    let default = ssogate_core::policy::UsernamePolicy::default();
    assert_eq!(
        with(default.clone()),
        "grace.hopper_navy.mil",
        "the safe default"
    );
    assert_eq!(
        with(ssogate_core::policy::UsernamePolicy {
            source: ssogate_core::policy::UsernameSource::EmailPrefix,
            ..default.clone()
        }),
        "ghopper"
    );
    assert_eq!(
        with(ssogate_core::policy::UsernamePolicy {
            allow_at_sign: true,
            lowercase: false,
            ..default
        }),
        "Grace.Hopper@Navy.mil"
    );
}

/// Nextcloud user_oidc's ids, exactly: an account moved from Nextcloud (imported with
/// its Nextcloud user id) is found by the id only this identity gives, and new accounts
/// get the id Nextcloud would have given them.
#[test]
fn nextcloud_user_ids_are_user_oidcs_exactly() {
    use ssogate_core::policy::{NextcloudIdMode, NextcloudIds};
    use ssogate_core::username::nextcloud_user_id;
    let ids = |mode| NextcloudIds {
        provider_id: 1,
        mode,
        provider_identifier: None,
    };
    // user_oidc's own integration test: provider 1, this subject.
    assert_eq!(
        nextcloud_user_id(
            &ids(NextcloudIdMode::Unique),
            "corp",
            "aea81860-b25c-4f75-b9b5-9d632c3ba06f"
        ),
        "f617ef761d09b2afe1647c0bf9080ab75ec0d0fa1fbc95850091614f5fec1eea"
    );
    assert_eq!(
        nextcloud_user_id(&ids(NextcloudIdMode::ProviderBased), "corp", "ada"),
        "corp-ada"
    );
    // Over 64 characters: hashed once more, as getOrCreate does.
    assert_eq!(
        nextcloud_user_id(
            &ids(NextcloudIdMode::ProviderBased),
            "corp",
            &"x".repeat(70)
        ),
        "708c19b71912985b7b07b9d4ef7c94d7e38d1742a7ada71d5d353c2bcf362d5d"
    );
    assert_eq!(
        nextcloud_user_id(&ids(NextcloudIdMode::Plain), "corp", "auth0|7"),
        "auth0|7"
    );

    let policy = ProvisioningPolicy {
        nextcloud_user_ids: Some(ids(NextcloudIdMode::Unique)),
        ..ProvisioningPolicy::default()
    };
    let sub = "aea81860-b25c-4f75-b9b5-9d632c3ba06f";
    let id = "f617ef761d09b2afe1647c0bf9080ab75ec0d0fa1fbc95850091614f5fec1eea";
    let fresh = engine(policy.clone()).decide(
        &claims(json!({"sub": sub, "preferred_username": "kc1"})),
        &base_dir(),
    );
    assert!(
        matches!(&fresh.decision, Decision::Provision { account } if account.username == id),
        "{:?}",
        fresh.decision
    );
    let mut d = base_dir();
    let moved = dir(json!({"users": [{"username": id, "display_name": "Key Cloak 1"}]}));
    d.insert(moved.users()[0].clone());
    let o = engine(policy).decide(&claims(json!({"sub": sub})), &d);
    assert!(matches!(o.decision, Decision::Link { .. }), "{:?}", o.trace);
    assert!(trace_has(&o, "the account moved from Nextcloud"));
    assert!(
        Engine::new(
            provider(),
            ProvisioningPolicy {
                unique_user_ids: true,
                nextcloud_user_ids: Some(ids(NextcloudIdMode::Plain)),
                ..ProvisioningPolicy::default()
            },
            catalogue(),
        )
        .is_err(),
        "one id scheme at a time"
    );
}

#[test]
fn bookstack_external_id_claim_links_and_rebinds() {
    let p = ProviderPolicy {
        claims: ClaimMap {
            external_id: Some(ClaimExpr::claim("upn")),
            ..Default::default()
        },
        ..provider()
    };
    let mut d = base_dir();
    let u = dir(
        json!({"users": [{"username": "grace", "external_ids": {"corp": "G-1"},
        "identities": [{"provider": "corp", "subject": "old-sub"}]}]}),
    );
    d.insert(u.users()[0].clone());
    let o = engine_with(p, ProvisioningPolicy::default()).decide(
        &claims(json!({"sub": "new-sub", "upn": "G-1", "preferred_username": "gh"})),
        &d,
    );
    assert!(
        matches!(
            o.decision,
            Decision::Link {
                matched_by: MatchBy::ExternalIdClaim,
                ..
            }
        ),
        "{:?}",
        o.trace
    );
    match &o.changes.identity {
        Some(IdentityChange::Rebind { previous, current }) => {
            assert_eq!(
                (previous.subject.as_str(), current.subject.as_str()),
                ("old-sub", "new-sub")
            );
        }
        other => panic!("expected a rebind, got {other:?}"),
    }
}

#[test]
fn verified_email_links_only_when_everything_is_verified() {
    let e = engine(ProvisioningPolicy {
        link_by_email: true,
        match_by: vec![MatchBy::Subject, MatchBy::VerifiedEmail],
        ..Default::default()
    });
    let d = with_local_ada();
    let o = e.decide(&claims(ada()), &d);
    assert!(matches!(
        o.decision,
        Decision::Link {
            matched_by: MatchBy::VerifiedEmail,
            ..
        }
    ));

    // The provider did not verify it: never links, and the account is not taken over.
    let mut unverified = ada();
    unverified["email_verified"] = json!(false);
    let o = e.decide(&claims(unverified.clone()), &d);
    assert_eq!(reason(&o), Some("email_in_use"));
    assert!(trace_has(&o, "never links"));

    // With email_conflict = allow, it gets an account of its own, never Ada's.
    let allow = engine(ProvisioningPolicy {
        link_by_email: true,
        email_conflict: EmailConflict::Allow,
        match_by: vec![MatchBy::Subject, MatchBy::VerifiedEmail],
        ..Default::default()
    });
    let o = allow.decide(&claims(unverified), &d);
    assert!(
        matches!(&o.decision, Decision::Provision { account } if account.username == "ada-2"),
        "{:?}",
        o.trace
    );

    // The local account never verified its own address: not linked either.
    let mut d2 = base_dir();
    let squatter = dir(
        json!({"users": [{"username": "squat", "email": "ada@example.com", "email_verified": false}]}),
    );
    d2.insert(squatter.users()[0].clone());
    let o = e.decide(&claims(ada()), &d2);
    assert!(!matches!(o.decision, Decision::Link { .. }));
    assert!(trace_has(&o, "never verified it"));

    // link_by_email off (the default): not linked.
    let off = engine(ProvisioningPolicy {
        match_by: vec![MatchBy::Subject, MatchBy::VerifiedEmail],
        ..Default::default()
    });
    assert_eq!(
        reason(&off.decide(&claims(ada()), &d)),
        Some("email_in_use")
    );
}

#[test]
fn trust_email_per_provider() {
    let policy = ProvisioningPolicy {
        link_by_email: true,
        match_by: vec![MatchBy::Subject, MatchBy::VerifiedEmail],
        ..Default::default()
    };
    let mut unverified = ada();
    unverified["email_verified"] = json!(false);
    let always = ProviderPolicy {
        trust_email: TrustEmail::Always,
        ..provider()
    };
    let o = engine_with(always, policy.clone()).decide(&claims(unverified), &with_local_ada());
    assert!(matches!(o.decision, Decision::Link { .. }));
    let never = ProviderPolicy {
        trust_email: TrustEmail::Never,
        ..provider()
    };
    let o = engine_with(never, policy).decide(&claims(ada()), &with_local_ada());
    assert!(!matches!(o.decision, Decision::Link { .. }));
}

#[test]
fn userinfo_email_is_verified_only_by_userinfo() {
    let e = engine(ProvisioningPolicy {
        link_by_email: true,
        match_by: vec![MatchBy::Subject, MatchBy::VerifiedEmail],
        ..Default::default()
    });
    let sources = ClaimSources {
        id_token: json!({"sub": "ada-sub", "email_verified": true}),
        userinfo: Some(json!({"sub": "ada-sub", "email": "ada@example.com"})),
    };
    let o = e.decide(&sources, &with_local_ada());
    assert!(
        !matches!(o.decision, Decision::Link { .. }),
        "{:?}",
        o.trace
    );
}

#[test]
fn username_never_takes_over_a_linked_account_or_an_admin() {
    let mut d = base_dir();
    let linked = dir(
        json!({"users": [{"username": "ada", "identities": [{"provider": "google", "subject": "g1"}]},
        {"username": "boss", "is_admin": true}]}),
    );
    for u in linked.users() {
        d.insert(u.clone());
    }
    let e = engine(adopting(ProvisioningPolicy::default()));
    let o = e.decide(
        &claims(json!({"sub": "x", "preferred_username": "ada"})),
        &d,
    );
    assert!(
        matches!(&o.decision, Decision::Provision { account } if account.username == "ada-2"),
        "{:?}",
        o.trace
    );
    let o = e.decide(
        &claims(json!({"sub": "y", "preferred_username": "boss"})),
        &d,
    );
    assert!(
        matches!(&o.decision, Decision::Provision { account } if account.username == "boss-2"),
        "{:?}",
        o.trace
    );
}

#[test]
fn by_default_only_subject_and_external_id_match() {
    let o = engine(ProvisioningPolicy::default()).decide(&claims(ada()), &with_local_ada());
    // Not adopted by username; the shared verified email makes it a conflict instead.
    assert_eq!(reason(&o), Some("email_in_use"));
    let mut c = ada();
    c["email"] = json!("other@example.org");
    let o = engine(ProvisioningPolicy::default()).decide(&claims(c), &with_local_ada());
    assert!(matches!(&o.decision, Decision::Provision { account } if account.username == "ada-2"));
}

#[test]
fn issuer_alias_keeps_accounts_across_an_idp_move() {
    let p = ProviderPolicy {
        issuer_aliases: vec!["https://old-idp.example.com".into()],
        ..provider()
    };
    let mut d = base_dir();
    let u = dir(
        json!({"users": [{"username": "moved", "identities": [{"provider": "legacy", "issuer": "https://old-idp.example.com", "subject": "s1"}]}]}),
    );
    d.insert(u.users()[0].clone());
    let id = d.find("moved").unwrap().id;
    let o = engine_with(p, ProvisioningPolicy::default()).decide(&claims(json!({"sub": "s1"})), &d);
    assert_eq!(o.decision, Decision::SignIn { user_id: id });
    assert!(matches!(
        o.changes.identity,
        Some(IdentityChange::Rebind { .. })
    ));
    // Without the alias, the same subject is a stranger.
    let o = engine(ProvisioningPolicy::default()).decide(
        &claims(json!({"sub": "s1", "preferred_username": "moved"})),
        &d,
    );
    assert!(matches!(o.decision, Decision::Provision { .. }));
}

#[test]
fn unique_user_ids_never_share_an_account() {
    let e = engine(ProvisioningPolicy {
        unique_user_ids: true,
        link_by_email: true,
        ..Default::default()
    });
    let o = e.decide(&claims(ada()), &with_local_ada());
    match &o.decision {
        Decision::Provision { account } => {
            assert_eq!(
                account.username,
                ssogate_core::username::subject_hash("corp", "ada-sub")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(trace_has(&o, "only ever matched by (provider, subject)"));
}

// ---------------------------------------------------------------- usernames

#[test]
fn username_derivation_and_collisions() {
    let d = with_local_ada();
    let cases: &[(Value, Collision, Result<&str, &str>)] = &[
        (
            json!({"sub": "1", "preferred_username": "José Núñez"}),
            Collision::Suffix,
            Ok("jose_nunez"),
        ),
        (
            json!({"sub": "2", "email": "grace.hopper@navy.mil"}),
            Collision::Suffix,
            Ok("grace.hopper"),
        ),
        (
            json!({"sub": "3", "preferred_username": "ROOT"}),
            Collision::Suffix,
            Ok("root-2"),
        ),
        (
            json!({"sub": "4", "preferred_username": "root"}),
            Collision::Reject,
            Err("username_conflict"),
        ),
        (
            json!({"sub": "5", "preferred_username": "張三"}),
            Collision::Suffix,
            Err("no_username"),
        ),
    ];
    for (c, collision, want) in cases {
        let mut policy = ProvisioningPolicy::default();
        policy.username.collision = *collision;
        let o = engine(policy).decide(&claims(c.clone()), &d);
        let got = match &o.decision {
            Decision::Provision { account } => Ok(account.username.as_str()),
            Decision::Reject(r) => Err(r.code()),
            other => panic!("{other:?}"),
        };
        assert_eq!(got, *want, "{c}");
    }
    let mut policy = ProvisioningPolicy::default();
    policy.username.collision = Collision::Hash;
    let o = engine(policy).decide(
        &claims(json!({"sub": "6", "preferred_username": "root"})),
        &d,
    );
    let hash = ssogate_core::username::subject_hash("corp", "6");
    assert!(
        matches!(&o.decision, Decision::Provision { account } if account.username == format!("root-{}", &hash[..8]))
    );
}

// ---------------------------------------------------------------- defaults and provenance

fn booklore_policy() -> ProvisioningPolicy {
    ProvisioningPolicy {
        default_permissions: vec!["download_books".into()],
        default_libraries: vec!["main".into(), "gone".into()],
        default_groups: vec!["Readers".into()],
        ..Default::default()
    }
}

#[test]
fn defaults_apply_on_first_provisioning_only() {
    let e = engine(booklore_policy());
    let mut d = base_dir();
    let first = e.decide(&claims(ada()), &d);
    assert!(matches!(first.decision, Decision::Provision { .. }));
    assert_eq!(
        names(&first, GrantKind::Permission),
        ["download_books", "read_books"]
    );
    assert_eq!(names(&first, GrantKind::Library), ["main"]);
    assert_eq!(names(&first, GrantKind::Group), ["Readers"]);
    assert!(trace_has(&first, "default library \"gone\" does not exist"));
    assert!(
        first
            .changes
            .grants
            .grants()
            .all(|g| g.source == GrantSource::Default)
    );
    d.apply(&first);

    // An admin removes "download_books" and "main", and grants "kids".
    let mut user = d.find("ada").unwrap().clone();
    user.grants
        .retain(|g| g.name != "download_books" && g.name != "main" && g.name != "read_books");
    user.grants
        .push(Grant::new(GrantKind::Library, "kids", GrantSource::Admin));
    let ada_id = user.id;
    d.insert(user);

    let second = e.decide(&claims(ada()), &d);
    assert_eq!(second.decision, Decision::SignIn { user_id: ada_id });
    assert_eq!(
        names(&second, GrantKind::Permission),
        ["read_books"],
        "required restored, default not re-added"
    );
    assert_eq!(names(&second, GrantKind::Library), ["kids"]);
    assert_eq!(
        second.changes.grants.added,
        vec![Grant::new(
            GrantKind::Permission,
            "read_books",
            GrantSource::Default
        )]
    );
}

#[test]
fn admin_by_email_domain() {
    let cases = [
        ("ada@Example.COM", true, false, true),
        ("ada@example.com", false, false, false),
        ("ada@sub.example.com", true, false, false),
        ("ada@sub.example.com", true, true, true),
        ("ada@notexample.com", true, true, false),
    ];
    for (email, verified, subdomains, admin) in cases {
        let e = engine(ProvisioningPolicy {
            admin_email_domains: vec!["EXAMPLE.com".into()],
            admin_email_subdomains: subdomains,
            email_conflict: EmailConflict::Allow,
            ..Default::default()
        });
        let o = e.decide(
            &claims(json!({"sub": email, "email": email, "email_verified": verified})),
            &base_dir(),
        );
        assert_eq!(
            o.user.is_admin, admin,
            "{email} verified={verified} subdomains={subdomains}: {:?}",
            o.trace
        );
    }
    // Existing non-admins are not promoted.
    let e = engine(adopting(ProvisioningPolicy {
        admin_email_domains: vec!["example.com".into()],
        ..Default::default()
    }));
    let o = e.decide(&claims(ada()), &with_local_ada());
    assert!(matches!(o.decision, Decision::Link { .. }));
    assert!(!o.user.is_admin);
}

#[test]
fn disabled_and_pending_accounts_never_sign_in() {
    for (status, code) in [
        ("disabled", "account_disabled"),
        ("pending", "awaiting_approval"),
    ] {
        let d = dir(json!({"users": [{"username": "ada", "status": status,
            "identities": [{"provider": "corp", "subject": "ada-sub"}]}]}));
        let o = engine(ProvisioningPolicy::default()).decide(&claims(ada()), &d);
        assert_eq!(reason(&o), Some(code));
        assert!(!o.allow_session);
    }
}

#[test]
fn require_approval_creates_pending_accounts() {
    let e = engine(ProvisioningPolicy {
        require_approval: true,
        ..Default::default()
    });
    let o = e.decide(&claims(ada()), &base_dir());
    assert!(
        matches!(&o.decision, Decision::Provision { account } if account.status == UserStatus::Pending)
    );
    assert!(!o.allow_session);
    assert_eq!(o.to_json()["reason"], "awaiting_approval");
}

// ---------------------------------------------------------------- group sync

fn sync_policy() -> ProvisioningPolicy {
    let mut p = ProvisioningPolicy {
        default_groups: vec!["Readers".into()],
        ..Default::default()
    };
    p.groups.enabled = true;
    p.groups.remove_unmatched = true;
    p
}

fn member(groups: Value) -> InMemoryDirectory {
    let mut d = base_dir();
    let u = dir(
        json!({"users": [{"username": "ada", "identities": [{"provider": "corp", "subject": "ada-sub"}],
        "groups": groups}]}),
    );
    d.insert(u.users()[0].clone());
    d
}

#[test]
fn group_sync_removes_only_what_the_provider_gave() {
    let d = member(json!([
        {"name": "Editors", "source": "provider"},
        {"name": "Admins", "source": "provider"},
        {"name": "Readers", "source": "default"},
        {"name": "Ops", "source": "admin"},
        {"name": "Imported", "source": "import"}
    ]));
    let o = engine(sync_policy()).decide(
        &claims(json!({"sub": "ada-sub", "groups": ["editors"]})),
        &d,
    );
    assert_eq!(
        names(&o, GrantKind::Group),
        ["Editors", "Imported", "Ops", "Readers"]
    );
    assert_eq!(
        o.changes.grants.removed,
        vec![Grant::new(
            GrantKind::Group,
            "Admins",
            GrantSource::Provider
        )]
    );

    // preserve_manual = false also drops default/import memberships, but never the
    // default role (it counts as matched) nor what an admin gave.
    let mut p = sync_policy();
    p.groups.preserve_manual = false;
    let o = engine(p).decide(
        &claims(json!({"sub": "ada-sub", "groups": ["editors"]})),
        &d,
    );
    assert_eq!(names(&o, GrantKind::Group), ["Editors", "Ops", "Readers"]);

    // remove_unmatched off (BookStack's default): nothing is removed.
    let mut p = sync_policy();
    p.groups.remove_unmatched = false;
    let o = engine(p).decide(&claims(json!({"sub": "ada-sub", "groups": []})), &d);
    assert!(o.changes.grants.removed.is_empty());

    // An absent claim is not an empty one: memberships stay.
    let o = engine(sync_policy()).decide(&claims(json!({"sub": "ada-sub"})), &d);
    assert!(o.changes.grants.removed.is_empty());
    // An empty one is.
    let o = engine(sync_policy()).decide(&claims(json!({"sub": "ada-sub", "groups": []})), &d);
    assert_eq!(o.changes.grants.removed.len(), 2);
}

#[test]
fn group_sync_by_external_ids_and_create_missing() {
    let mut p = sync_policy();
    p.groups.create_missing = true;
    let o = engine(p).decide(
        &claims(
            json!({"sub": "new", "preferred_username": "n", "groups": ["IDP-Admins", "Brand New"]}),
        ),
        &base_dir(),
    );
    assert_eq!(
        names(&o, GrantKind::Group),
        ["Admins", "Brand New", "Readers"]
    );
    assert_eq!(o.changes.create_groups, ["Brand New"]);
    assert!(
        o.changes
            .grants
            .grants()
            .any(|g| g.name == "Admins" && g.source == GrantSource::Provider)
    );
}

/// Regression: control characters (CR, LF, ESC, BEL, C1, bidi overrides) from claims
/// reached stored display names, usernames and group names, and a group with a comma
/// could be created although names travel in comma-separated headers.
#[test]
fn control_characters_and_commas_never_reach_stored_names() {
    let mut p = sync_policy();
    p.groups.create_missing = true;
    let o = engine(p).decide(
        &claims(json!({
            "sub": "evil", "preferred_username": "mal\u{7}lory",
            "name": "Eve\r\nRemote-User: admin\u{1b}[31m\u{202e}x\u{85}",
            "email": "eve@example.com\r\nBcc: x@y", "email_verified": true,
            "groups": ["Editors", "bad\ngroup", "\u{1b}]0;pwned\u{7}", "cn=ops,dc=example"]
        })),
        &base_dir(),
    );
    assert!(
        matches!(o.decision, Decision::Provision { .. }),
        "{:?}",
        o.trace
    );
    let shown = |v: &Option<String>| v.clone().unwrap_or_default();
    let display = shown(&o.user.display_name);
    let username = shown(&o.user.username);
    for (what, v) in [("display name", &display), ("username", &username)] {
        assert!(
            !v.chars()
                .any(|c| c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c)),
            "{what}: {v:?}"
        );
    }
    assert_eq!(display, "EveRemote-User: admin[31mx");
    assert_eq!(o.user.email, None, "an address with CR/LF is no address");
    assert!(trace_has(&o, "removed"), "{:?}", o.trace);
    // Only the clean group is granted; nothing with a control character or a comma is
    // created.
    assert!(
        o.changes.create_groups.is_empty(),
        "{:?}",
        o.changes.create_groups
    );
    assert_eq!(names(&o, GrantKind::Group), ["Editors", "Readers"]);
    assert!(trace_has(&o, "holds a comma"), "{:?}", o.trace);
    assert!(trace_has(&o, "control characters cannot"), "{:?}", o.trace);
}

#[test]
fn nextcloud_allow_regex_and_login_restriction() {
    let mut p = sync_policy();
    p.groups.allow_regex = Some("^app-".into());
    p.groups.restrict_login_to_allowed = true;
    let e = engine(p);
    let o = e.decide(
        &claims(json!({"sub": "x", "groups": ["Editors", "staff"]})),
        &base_dir(),
    );
    assert_eq!(reason(&o), Some("not_in_allowed_group"));
    let o = e.decide(&claims(json!({"sub": "x"})), &base_dir());
    assert_eq!(
        reason(&o),
        Some("not_in_allowed_group"),
        "no claim, no allowed group"
    );

    // Memberships outside the regex are left untouched by sync.
    let d = member(json!([{"name": "Editors", "source": "provider"}]));
    let mut p = sync_policy();
    p.groups.allow_regex = Some("^app-".into());
    let o = engine(p).decide(&claims(json!({"sub": "ada-sub", "groups": ["app-x"]})), &d);
    assert!(o.changes.grants.removed.is_empty(), "{:?}", o.trace);
}

// ---------------------------------------------------------------- attributes

#[test]
fn attribute_sync_per_attribute() {
    let d = dir(
        json!({"users": [{"username": "ada", "email": "old@example.com", "display_name": "Old",
        "quota": "1 GB", "identities": [{"provider": "corp", "subject": "ada-sub"}]}]}),
    );
    let c = json!({"sub": "ada-sub", "email": "new@example.com", "email_verified": true, "name": "New",
        "quota": "5GB", "picture": "https://cdn.example.com/ada.png"});
    let o = engine(ProvisioningPolicy::default()).decide(&claims(c.clone()), &d);
    let fields: Vec<String> = o
        .changes
        .attributes
        .iter()
        .map(|a| a.field.to_string())
        .collect();
    assert_eq!(
        fields,
        ["email", "email_verified", "display_name", "avatar", "quota"]
    );

    let mut p = ProvisioningPolicy::default();
    p.sync_attributes.email = false;
    p.sync_attributes.quota = false;
    let o = engine(p).decide(&claims(c), &d);
    let fields: Vec<String> = o
        .changes
        .attributes
        .iter()
        .map(|a| a.field.to_string())
        .collect();
    assert_eq!(fields, ["display_name", "avatar"]);
}

// ---------------------------------------------------------------- rules

fn rule(name: &str, when: &str) -> RuleSpec {
    RuleSpec {
        name: name.into(),
        when: when.into(),
        grant_permissions: vec![],
        grant_libraries: vec![],
        grant_groups: vec![],
        grant_admin: false,
        deny: false,
        message: None,
    }
}

#[test]
fn rules_grant_deny_and_are_re_evaluated() {
    let p = ProvisioningPolicy {
        rules: vec![
            RuleSpec {
                grant_permissions: vec!["upload_books".into()],
                grant_libraries: vec!["kids".into()],
                ..rule("editors upload", "\"editors\" in groups")
            },
            RuleSpec {
                grant_admin: true,
                ..rule("ops are admins", "\"ops\" in groups")
            },
            RuleSpec {
                deny: true,
                message: Some("Contractors use the other portal.".into()),
                ..rule(
                    "no contractors",
                    "has(claims.contractor) && claims.contractor",
                )
            },
        ],
        ..Default::default()
    };
    let e = engine(p);
    let mut d = base_dir();
    let first = e.decide(
        &claims(json!({"sub": "s", "preferred_username": "r", "groups": ["Editors", "ops"]})),
        &d,
    );
    assert_eq!(
        names(&first, GrantKind::Permission),
        ["read_books", "upload_books"]
    );
    assert_eq!(names(&first, GrantKind::Library), ["kids"]);
    assert!(first.user.is_admin);
    d.apply(&first);

    // Next login: no longer an editor; the rule's grants go, the last-admin guard holds.
    let next = e.decide(&claims(json!({"sub": "s", "groups": []})), &d);
    assert_eq!(names(&next, GrantKind::Permission), ["read_books"]);
    assert!(
        next.changes
            .grants
            .removed
            .iter()
            .any(|g| g.name == "upload_books")
    );
    assert!(
        !next.user.is_admin,
        "rule-given admin removed: root is still an admin"
    );
    assert!(next.changes.grants.refused.is_empty());

    let denied = e.decide(&claims(json!({"sub": "c", "contractor": true})), &d);
    assert_eq!(reason(&denied), Some("denied_by_rule"));
    assert_eq!(
        denied.to_json()["message"],
        "Contractors use the other portal."
    );
}

/// A rule that still holds keeps what it gave even when it names a library that has left
/// the catalogue since (it cannot grant it again, and must not take it away); a rule that
/// stopped holding takes its grant away.
#[test]
fn a_holding_rule_keeps_its_grants_even_for_a_library_gone_from_the_catalogue() {
    let p = ProvisioningPolicy {
        rules: vec![RuleSpec {
            grant_libraries: vec!["gone".into(), "kids".into()],
            ..rule("editors read", "\"editors\" in groups")
        }],
        ..Default::default()
    };
    let e = engine(p);
    let d = dir(json!({
        "libraries": [{"name": "kids"}],
        "users": [{"username": "ada", "identities": [{"provider": "corp", "subject": "ada-sub"}],
                   "libraries": [{"name": "gone", "source": "rule"}, {"name": "kids", "source": "rule"}]}]
    }));
    let holds = e.decide(
        &claims(json!({"sub": "ada-sub", "groups": ["Editors"]})),
        &d,
    );
    assert_eq!(names(&holds, GrantKind::Library), ["gone", "kids"]);
    assert!(holds.changes.grants.removed.is_empty());
    assert!(trace_has(
        &holds,
        "rule grants library \"gone\", which does not exist"
    ));

    let stopped = e.decide(&claims(json!({"sub": "ada-sub", "groups": []})), &d);
    assert!(names(&stopped, GrantKind::Library).is_empty());
    assert_eq!(stopped.changes.grants.removed.len(), 2);
}

#[test]
fn removing_the_last_admin_is_refused() {
    let p = ProvisioningPolicy {
        rules: vec![RuleSpec {
            grant_admin: true,
            ..rule("ops", "\"ops\" in groups")
        }],
        ..Default::default()
    };
    let d = dir(
        json!({"users": [{"username": "solo", "is_admin": true, "admin_source": "rule",
        "identities": [{"provider": "corp", "subject": "solo"}]}]}),
    );
    let o = engine(p).decide(&claims(json!({"sub": "solo", "groups": []})), &d);
    assert!(o.user.is_admin);
    assert_eq!(o.changes.grants.refused.len(), 1);
    assert!(
        o.changes.grants.refused[0]
            .reason
            .contains("last active administrator")
    );
}

#[test]
fn deny_rules_fail_closed() {
    let p = ProvisioningPolicy {
        rules: vec![RuleSpec {
            deny: true,
            ..rule("typo", "claims.no_such_claim == 1")
        }],
        ..Default::default()
    };
    let o = engine(p).decide(&claims(ada()), &base_dir());
    assert_eq!(reason(&o), Some("denied_by_rule"));
    assert!(trace_has(&o, "fail closed"));
}

// ---------------------------------------------------------------- invalid claims

#[test]
fn invalid_claims_are_rejected_with_a_reason() {
    let e = engine(ProvisioningPolicy::default());
    for c in [json!({"email": "a@b.c"}), json!({"sub": ""}), json!("nope")] {
        assert_eq!(
            reason(&e.decide(&claims(c), &base_dir())),
            Some("invalid_claims")
        );
    }
    let mismatch = ClaimSources {
        id_token: json!({"sub": "a"}),
        userinfo: Some(json!({"sub": "b"})),
    };
    assert_eq!(
        reason(&e.decide(&mismatch, &base_dir())),
        Some("invalid_claims")
    );
}

#[test]
fn policy_errors_are_typed() {
    let bad = |p: ProvisioningPolicy| {
        Engine::new(provider(), p, catalogue())
            .err()
            .map(|e| e.to_string())
    };
    assert!(
        bad(ProvisioningPolicy {
            default_permissions: vec!["fly".into()],
            ..Default::default()
        })
        .is_some_and(|e| e.contains("\"fly\"") && e.contains("read_books"))
    );
    assert!(
        bad(ProvisioningPolicy {
            match_by: vec![MatchBy::Username, MatchBy::Subject],
            ..Default::default()
        })
        .is_some()
    );
    assert!(
        bad(ProvisioningPolicy {
            rules: vec![rule("x", "(((")],
            ..Default::default()
        })
        .is_some_and(|e| e.contains("rule \"x\""))
    );
    let mut p = ProvisioningPolicy::default();
    p.groups.allow_regex = Some("(".into());
    assert!(bad(p).is_some_and(|e| e.contains("allow_regex")));
    assert!(
        bad(ProvisioningPolicy {
            admin_email_domains: vec!["not a domain".into()],
            ..Default::default()
        })
        .is_some()
    );
    let mut p = ProvisioningPolicy {
        unique_user_ids: true,
        ..Default::default()
    };
    p.username.max_length = 32;
    assert!(bad(p).is_some_and(|e| e.contains("64 hex digits")));
    let mut p = ProvisioningPolicy::default();
    p.username.max_length = 0;
    assert!(bad(p).is_some_and(|e| e.contains("at least 1")));
}

#[test]
fn soft_provisioning_off_refuses_adoption_by_email_too() {
    let e = engine(adopting(ProvisioningPolicy {
        soft_auto_provision: false,
        link_by_email: true,
        ..Default::default()
    }));
    let mut c = ada();
    c["preferred_username"] = json!("someone-else");
    let o = e.decide(&claims(c), &with_local_ada());
    assert_eq!(reason(&o), Some("existing_account_not_adoptable"));
    assert!(
        o.to_json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("matching your email"))
    );
}

// ---------------------------------------------------------------- LiveCycle SPI

struct TeamLibraries;

impl AssignmentProvider for TeamLibraries {
    fn name(&self) -> &str {
        "team-libraries"
    }
    fn assign(
        &self,
        ctx: &AssignContext<'_>,
        plan: &mut GrantPlan,
        trace: &mut Trace,
    ) -> Result<(), AssignmentError> {
        match ctx.profile.claims.get("team").and_then(Value::as_str) {
            Some("kids") => {
                plan.grant(GrantKind::Library, "kids", GrantSource::Rule, trace);
                Ok(())
            }
            Some("banned") => Err(AssignmentError("team is banned".into())),
            _ => Ok(()),
        }
    }
}

struct Contractors;

impl IdentityCreator for Contractors {
    fn name(&self) -> &str {
        "contractors"
    }
    fn create(
        &self,
        ctx: &CreateContext<'_>,
        _trace: &mut Trace,
    ) -> Result<Option<NewAccount>, RejectReason> {
        if ctx.profile.claims.get("contractor") != Some(&json!(true)) {
            return Ok(None);
        }
        Ok(Some(NewAccount {
            username: format!("ext-{}", ctx.profile.subject),
            email: None,
            email_verified: false,
            display_name: ctx.profile.display_name.clone(),
            avatar: None,
            quota: None,
            status: UserStatus::Pending,
            source: ssogate_core::domain::UserSource::Provider,
        }))
    }
}

#[test]
fn livecycle_spi_custom_assignment_provider_and_identity_creator() {
    let e = engine(booklore_policy())
        .with_assignment_provider(Arc::new(TeamLibraries))
        .with_identity_creator(Arc::new(Contractors));
    let o = e.decide(
        &claims(json!({"sub": "k", "preferred_username": "kid", "team": "kids"})),
        &base_dir(),
    );
    assert_eq!(
        names(&o, GrantKind::Library),
        ["kids", "main"],
        "built-in defaults, then the custom provider"
    );

    let o = e.decide(
        &claims(json!({"sub": "b", "preferred_username": "b", "team": "banned"})),
        &base_dir(),
    );
    assert_eq!(reason(&o), Some("assignment_failed"));

    let o = e.decide(
        &claims(json!({"sub": "c9", "contractor": true})),
        &base_dir(),
    );
    assert!(
        matches!(&o.decision, Decision::Provision { account } if account.username == "ext-c9" && account.status == UserStatus::Pending)
    );
    assert!(trace_has(&o, "identity creator \"contractors\" creates"));
    assert!(format!("{e:?}").contains("team-libraries"));
}

// ---------------------------------------------------------------- properties

fn arb_claims() -> impl Strategy<Value = Value> {
    (
        "[a-z0-9]{1,6}",
        proptest::option::of("[A-Za-z .]{0,12}"),
        proptest::option::of("[a-c]{1,2}@(example\\.com|other\\.org)"),
        any::<bool>(),
        proptest::collection::vec(
            prop_oneof![
                Just("Editors"),
                Just("Readers"),
                Just("idp-admins"),
                Just("x y")
            ],
            0..4,
        ),
    )
        .prop_map(|(sub, user, email, verified, groups)| {
            let mut c = json!({"sub": sub, "email_verified": verified, "groups": groups});
            if let Some(u) = user {
                c["preferred_username"] = json!(u);
            }
            if let Some(e) = email {
                c["email"] = json!(e);
            }
            c
        })
}

fn arb_directory() -> impl Strategy<Value = InMemoryDirectory> {
    proptest::collection::vec(("[a-c]{1,3}", proptest::option::of("[a-c]{1,2}@example\\.com"), any::<bool>(), any::<bool>()), 0..8).prop_map(
        |users| {
            let mut d = base_dir();
            for (i, (name, email, verified, linked)) in users.into_iter().enumerate() {
                let identities = if linked { json!([{"provider": "corp", "subject": format!("u{i}")}]) } else { json!([]) };
                let u = dir(json!({"users": [{"username": name, "email": email, "email_verified": verified, "identities": identities}]}));
                d.insert(u.users()[0].clone());
            }
            d
        },
    )
}

fn arb_policy() -> impl Strategy<Value = ProvisioningPolicy> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(auto, soft, link, groups, remove)| {
            let mut p = adopting(booklore_policy());
            p.auto_provision = auto;
            p.soft_auto_provision = soft;
            p.link_by_email = link;
            p.groups.enabled = groups;
            p.groups.remove_unmatched = remove;
            p.groups.create_missing = true;
            p.email_conflict = EmailConflict::Allow;
            p
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_second_login_with_the_same_claims_changes_nothing(c in arb_claims(), mut d in arb_directory(), p in arb_policy()) {
        let e = engine(p);
        let first = e.decide(&claims(c.clone()), &d);
        if let Some(id) = d.apply(&first) {
            let second = e.decide(&claims(c), &d);
            prop_assert_eq!(&second.decision, &Decision::SignIn { user_id: id });
            prop_assert!(second.changes.attributes.is_empty(), "{:?}", second.changes.attributes);
            prop_assert!(second.changes.grants.added.is_empty() && second.changes.grants.removed.is_empty(), "{:?}", second.trace);
            prop_assert!(second.changes.identity.is_none());
        }
    }

    #[test]
    fn an_unverified_email_never_links(mut c in arb_claims(), d in arb_directory(), p in arb_policy()) {
        c["email_verified"] = json!(false);
        let o = engine(p).decide(&claims(c), &d);
        let linked_by_email = matches!(o.decision, Decision::Link { matched_by: MatchBy::VerifiedEmail, .. });
        prop_assert!(!linked_by_email);
    }

    #[test]
    fn every_new_username_is_valid_and_free(c in arb_claims(), d in arb_directory(), p in arb_policy()) {
        let e = engine(p.clone());
        if let Decision::Provision { account } = e.decide(&claims(c), &d).decision {
            prop_assert!(ssogate_core::username::is_valid(&account.username, &p.username));
            prop_assert!(d.find(&account.username).is_none());
        }
    }

    #[test]
    fn a_decision_is_deterministic(c in arb_claims(), d in arb_directory(), p in arb_policy()) {
        let e = engine(p);
        let (a, b) = (e.decide(&claims(c.clone()), &d), e.decide(&claims(c), &d));
        prop_assert_eq!(a.to_json(), b.to_json());
    }
}

#[test]
fn json_contract_shape() {
    let o = engine(booklore_policy()).decide(&claims(ada()), &base_dir());
    let j = o.to_json();
    for key in [
        "decision",
        "reason",
        "user",
        "permissions",
        "libraries",
        "groups",
        "trace",
    ] {
        assert!(j.get(key).is_some(), "missing {key}: {j}");
    }
    for key in ["username", "email", "display_name", "is_admin", "status"] {
        assert!(j["user"].get(key).is_some(), "missing user.{key}");
    }
    assert_eq!(j["decision"], "provision");
    assert_eq!(j["reason"], Value::Null);
    assert_eq!(j["user"]["status"], "active");
    assert!(
        j["trace"]
            .as_array()
            .is_some_and(|t| !t.is_empty() && t.iter().all(Value::is_string))
    );
}

#[test]
fn a_verified_login_verifies_the_same_address_but_never_unverifies_it() {
    let d = dir(json!({"users": [
        {"username": "u", "email": "u@example.com", "email_verified": false,
         "identities": [{"provider": "corp", "subject": "u"}]},
        {"username": "v", "email": "v@example.com", "email_verified": true,
         "identities": [{"provider": "corp", "subject": "v"}]}
    ]}));
    let e = engine(ProvisioningPolicy::default());
    let o = e.decide(
        &claims(json!({"sub": "u", "email": "U@example.com", "email_verified": true})),
        &d,
    );
    assert_eq!(o.changes.attributes.len(), 1);
    assert_eq!(o.changes.attributes[0].field, Attribute::EmailVerified);
    assert!(o.user.email_verified);
    let o = e.decide(
        &claims(json!({"sub": "v", "email": "v@example.com", "email_verified": false})),
        &d,
    );
    assert!(o.changes.attributes.is_empty());
    assert!(o.user.email_verified);
    // Moving to an address another account holds is refused, and the login goes on.
    let o = e.decide(
        &claims(json!({"sub": "v", "email": "u@example.com", "email_verified": true})),
        &d,
    );
    assert!(matches!(o.decision, Decision::SignIn { .. }));
    assert!(o.changes.attributes.is_empty());
    assert!(trace_has(&o, "another account uses it"));
}

#[test]
fn two_provider_entries_of_one_issuer_share_the_account() {
    // A second client of the same IdP (same issuer): the same person, the same account;
    // the identity of this entry is recorded beside the first, never moved.
    let mut d = base_dir();
    let u = dir(
        json!({"users": [{"username": "kim", "identities": [{"provider": "corp-web", "issuer": "https://idp.example.com", "subject": "k1"}]}]}),
    );
    d.insert(u.users()[0].clone());
    let kim = d.find("kim").unwrap().id;
    let o = engine(ProvisioningPolicy::default()).decide(&claims(json!({"sub": "k1"})), &d);
    assert_eq!(o.decision, Decision::SignIn { user_id: kim });
    assert!(
        matches!(&o.changes.identity, Some(IdentityChange::Create(i)) if i.provider == "corp" && i.subject == "k1"),
        "{:?}",
        o.changes.identity
    );
    d.apply(&o);
    let again = engine(ProvisioningPolicy::default()).decide(&claims(json!({"sub": "k1"})), &d);
    assert_eq!(again.decision, Decision::SignIn { user_id: kim });
    assert!(again.changes.identity.is_none());
    assert_eq!(d.find("kim").unwrap().identities.len(), 2);
}

/// What a provisioning hook answered, as the server would hand it over.
fn answered(hook: &str, answer: Value) -> ssogate_core::hooks::HookVerdict {
    ssogate_core::hooks::HookVerdict::Answered {
        hook: hook.into(),
        answer: Box::new(serde_json::from_value(answer).unwrap()),
    }
}

fn decide_with(
    e: &Engine,
    d: &InMemoryDirectory,
    c: &ClaimSources,
    v: &[ssogate_core::hooks::HookVerdict],
) -> Outcome {
    e.decide_mapped_with(e.map(c), d, v)
}

/// LiveCycle's IdentityCreator and AssignmentProvider at run time: hooks' answers set
/// attributes, add and take away grants (within the plan's limits), deny, and a failed
/// hook refuses unless it fails open; every step is in the trace.
#[test]
fn provisioning_hook_answers_shape_the_decision() {
    let e = engine(ProvisioningPolicy {
        default_permissions: vec!["download_books".into()],
        default_libraries: vec!["main".into()],
        ..ProvisioningPolicy::default()
    });
    let d = base_dir();
    let c = claims(ada());
    let o = decide_with(
        &e,
        &d,
        &c,
        &[
            answered(
                "crm",
                json!({"attributes": {"display_name": "Ada (Engineering)", "email": "ada@corp.example", "email_verified": true},
                       "grant": {"permissions": ["upload_books"], "groups": ["Editors"]},
                       "note": "engineering staff"}),
            ),
            answered(
                "policy",
                json!({"revoke": {"permissions": ["download_books", "read_books"], "libraries": ["main"]}}),
            ),
        ],
    );
    let Decision::Provision { account } = &o.decision else {
        panic!("{:?}", o.decision)
    };
    assert_eq!(account.display_name.as_deref(), Some("Ada (Engineering)"));
    assert_eq!(account.email.as_deref(), Some("ada@corp.example"));
    assert!(account.email_verified);
    assert_eq!(
        names(&o, GrantKind::Permission),
        ["read_books", "upload_books"]
    );
    assert_eq!(names(&o, GrantKind::Library), Vec::<String>::new());
    assert_eq!(names(&o, GrantKind::Group), ["Editors"]);
    assert!(trace_has(
        &o,
        "hook \"crm\" grants permission \"upload_books\", group \"Editors\" (engineering staff)"
    ));
    assert!(trace_has(&o, "required permissions stay"));

    // A denial refuses, with the hook's message; nothing after it runs.
    let o = decide_with(
        &e,
        &d,
        &c,
        &[
            answered(
                "crm",
                json!({"deny": "Contractors sign in through the partner portal."}),
            ),
            answered("policy", json!({"grant": {"admin": true}})),
        ],
    );
    assert_eq!(reason(&o), Some("denied_by_hook"));
    assert_eq!(
        o.reason().unwrap().to_string(),
        "Contractors sign in through the partner portal."
    );
    assert!(!trace_has(&o, "hook \"policy\""));

    // A hook that could not be asked: closed refuses, open lets the policy decide.
    let failed = |fail_open| ssogate_core::hooks::HookVerdict::Failed {
        hook: "crm".into(),
        error: "timed out after 3000 ms".into(),
        fail_open,
    };
    let o = decide_with(&e, &d, &c, &[failed(false)]);
    assert_eq!(reason(&o), Some("hook_failed"));
    assert!(!o.allow_session);
    let o = decide_with(&e, &d, &c, &[failed(true)]);
    assert!(matches!(o.decision, Decision::Provision { .. }));
    assert!(trace_has(&o, "fails open"));

    // An email the hook sets without vouching for it is not verified.
    let o = decide_with(
        &e,
        &d,
        &c,
        &[answered(
            "crm",
            json!({"attributes": {"email": "ada@elsewhere.example"}}),
        )],
    );
    let Decision::Provision { account } = &o.decision else {
        panic!()
    };
    assert!(!account.email_verified);
}

/// Hook grants are re-evaluated at every sign-in like a rule's; an administrator's grant
/// is never taken away by one.
#[test]
fn hook_grants_follow_the_hook_and_never_undo_an_administrator() {
    let e = engine(ProvisioningPolicy::default());
    let d = dir(json!({
        "libraries": [{"name": "main"}],
        "users": [{"username": "ada", "identities": [{"provider": "corp", "subject": "ada-sub"}],
                   "permissions": [
                     {"name": "read_books", "source": "default"},
                     {"name": "manage_library", "source": "admin"},
                     {"name": "upload_books", "source": "rule"}
                   ]}]
    }));
    let c = claims(json!({"sub": "ada-sub", "preferred_username": "ada"}));
    // Still given: kept. Taking away the administrator's grant is refused.
    let o = decide_with(
        &e,
        &d,
        &c,
        &[answered(
            "crm",
            json!({"grant": {"permissions": ["upload_books"]}, "revoke": {"permissions": ["manage_library"]}}),
        )],
    );
    assert!(
        matches!(o.decision, Decision::SignIn { .. }),
        "{:?}",
        o.decision
    );
    assert!(
        o.changes.grants.removed.is_empty(),
        "{:?}",
        o.changes.grants
    );
    assert_eq!(o.changes.grants.refused.len(), 1);
    // No longer given: taken back.
    let o = decide_with(&e, &d, &c, &[answered("crm", json!({}))]);
    assert_eq!(
        o.changes.grants.removed,
        [Grant::new(
            GrantKind::Permission,
            "upload_books",
            GrantSource::Rule
        )]
    );
}
