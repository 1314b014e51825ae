//! Map + decide for a realistic login: 30 claims, 50 groups in the claim and in the
//! directory, 10 rules, a directory of 10,000 users. Target: no slower than one raw
//! RS256 signature verification (`floor/rs256_verify`, a 2048-bit key parsed once, as
//! the relying party keeps it), measured in the same run; the ratio is printed.
//!
//! Run: `cargo bench -p ssogate-core --bench decide`. The `parts/*` rows break the
//! decision down (mapping alone, rules alone) so a regression can be located.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use criterion::{Criterion, criterion_group};
use serde_json::{Value, json};
use ssogate_core::claims::ClaimSources;
use ssogate_core::domain::Permission;
use ssogate_core::memory::{DirectoryFile, InMemoryDirectory};
use ssogate_core::policy::{MatchBy, RuleSpec, TrustEmail};
use ssogate_core::rules::{self, CompiledRule, RuleInput};
use ssogate_core::trace::Trace;
use ssogate_core::{ClaimExpr, Engine, ProviderPolicy, ProvisioningPolicy};
use std::hint::black_box;

// The allocator the `ssogate` binary ships with, so the figure is the product's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn claims(sub: &str) -> Value {
    let groups: Vec<String> = (0..50).map(|i| format!("Team {i}")).collect();
    let mut c = json!({
        "iss": "https://idp.example.com/realms/main", "sub": sub, "aud": ["ssogate", "account"],
        "azp": "ssogate", "exp": 1_900_000_000, "iat": 1_800_000_000, "auth_time": 1_800_000_000,
        "nonce": "n-0S6_WzA2Mj", "at_hash": "77QmUPtjPfzWtF2AnpK9RQ", "sid": "f2b3c1e0-aaaa",
        "acr": "1", "typ": "ID", "session_state": "0c3b2a", "scope": "openid profile email groups",
        "preferred_username": "ada.lovelace", "email": "ada@example.com", "email_verified": true,
        "name": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace",
        "locale": "en-GB", "zoneinfo": "Europe/London", "picture": "https://cdn.example.com/a/ada.png",
        "quota": "5GB", "department": "Engineering", "employee_id": "E-1815", "level": 3,
        "realm_access": {"roles": ["offline_access", "uma_authorization"]},
        "resource_access": {"ssogate": {"roles": ["reader", "writer"]}},
    });
    c["groups"] = json!(groups);
    assert_eq!(c.as_object().unwrap().len(), 30);
    c
}

fn engine() -> Engine {
    let mut provider = ProviderPolicy::new("corp", "https://idp.example.com/realms/main");
    provider.trust_email = TrustEmail::VerifiedClaim;
    provider.claims.external_id = Some(ClaimExpr::parse("employee_id").unwrap());
    let rule = |i: usize, when: &str| RuleSpec {
        name: format!("rule {i}"),
        when: when.into(),
        grant_permissions: vec![format!("perm_{}", i % 8)],
        grant_libraries: vec![format!("lib-{}", i % 5)],
        grant_groups: vec![format!("Team {}", i + 60)],
        grant_admin: false,
        deny: false,
        message: None,
    };
    let mut rules: Vec<RuleSpec> = (0..7)
        .map(|i| rule(i, &format!("\"team-{}\" in groups", i * 7)))
        .collect();
    rules.push(rule(
        7,
        "email_verified && email.endsWith(\"@example.com\")",
    ));
    rules.push(rule(
        8,
        "has(claims.department) && claims.department == \"Engineering\" && claims.level >= 2",
    ));
    rules.push(RuleSpec {
        deny: true,
        ..rule(9, "has(claims.suspended) && claims.suspended == true")
    });
    let mut policy = ProvisioningPolicy {
        match_by: vec![
            MatchBy::Subject,
            MatchBy::ExternalIdClaim,
            MatchBy::VerifiedEmail,
            MatchBy::Username,
        ],
        link_by_email: true,
        default_permissions: vec!["perm_1".into(), "perm_2".into()],
        default_libraries: vec!["lib-0".into(), "lib-1".into()],
        default_groups: vec!["Team 0".into()],
        admin_email_domains: vec!["corp.example.com".into()],
        rules,
        ..Default::default()
    };
    policy.groups.enabled = true;
    policy.groups.remove_unmatched = true;
    let mut perms: Vec<Permission> = (0..8)
        .map(|i| Permission {
            name: format!("perm_{i}"),
            label: None,
            required: false,
        })
        .collect();
    perms[0].required = true;
    Engine::new(provider, policy, perms).unwrap()
}

fn directory() -> InMemoryDirectory {
    let groups: Vec<Value> = (0..70)
        .map(|i| json!({"name": format!("Team {i}")}))
        .collect();
    let libraries: Vec<Value> = (0..5)
        .map(|i| json!({"name": format!("lib-{i}")}))
        .collect();
    let mut users: Vec<Value> = (0..10_000)
        .map(|i| json!({"username": format!("user{i}"), "email": format!("user{i}@example.com"), "email_verified": true,
            "identities": [{"provider": "corp", "subject": format!("sub-{i}")}]}))
        .collect();
    let memberships: Vec<Value> = (0..50)
        .map(|i| json!({"name": format!("Team {i}"), "source": "provider"}))
        .collect();
    users.push(json!({"username": "ada.lovelace", "email": "ada@example.com", "email_verified": true,
        "display_name": "Ada Lovelace", "avatar": "https://cdn.example.com/a/ada.png", "quota": "5 GB",
        "identities": [{"provider": "corp", "subject": "ada-sub"}], "external_ids": {"corp": "E-1815"},
        "permissions": [{"name": "perm_0", "source": "default"}], "groups": memberships}));
    let file: DirectoryFile =
        serde_json::from_value(json!({"users": users, "groups": groups, "libraries": libraries}))
            .unwrap();
    InMemoryDirectory::from(file)
}

fn bench(c: &mut Criterion) {
    let e = engine();
    let dir = directory();
    let returning = ClaimSources::id_token(claims("ada-sub"));
    let mut newcomer_claims = claims("new-sub");
    newcomer_claims["email"] = json!("newcomer@example.org");
    newcomer_claims["employee_id"] = json!("E-9999");
    newcomer_claims["preferred_username"] = json!("newcomer");
    let newcomer = ClaimSources::id_token(newcomer_claims);

    // Sanity: the scenarios are what they claim to be.
    assert!(matches!(
        e.decide(&returning, &dir).decision,
        ssogate_core::Decision::SignIn { .. }
    ));
    assert!(matches!(
        e.decide(&newcomer, &dir).decision,
        ssogate_core::Decision::Provision { .. }
    ));

    let mut g = c.benchmark_group("map_and_decide");
    g.bench_function("returning_user", |b| {
        b.iter(|| e.decide(black_box(&returning), black_box(&dir)))
    });
    g.bench_function("first_login", |b| {
        b.iter(|| e.decide(black_box(&newcomer), black_box(&dir)))
    });
    g.finish();

    // The floor: the one RS256 verification every sign-in pays anyway.
    let mut g = c.benchmark_group("floor");
    let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let message = b"eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhZGEifQ";
    let mut signature = vec![0; key.public_modulus_len()];
    key.sign(
        &aws_lc_rs::signature::RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        message,
        &mut signature,
    )
    .unwrap();
    use aws_lc_rs::signature::KeyPair as _;
    let public = aws_lc_rs::signature::ParsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        key.public_key().as_ref(),
    )
    .unwrap();
    g.bench_function("rs256_verify", |b| {
        b.iter(|| {
            public
                .verify_sig(black_box(message), black_box(&signature))
                .unwrap()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("parts");
    let map = ssogate_core::ClaimMap {
        external_id: Some(ClaimExpr::parse("employee_id").unwrap()),
        ..Default::default()
    };
    g.bench_function("map_only", |b| {
        b.iter(|| {
            map.map(
                black_box(&returning),
                TrustEmail::VerifiedClaim,
                None,
                &mut Trace::default(),
            )
        })
    });
    let profile = map
        .map(
            &returning,
            TrustEmail::VerifiedClaim,
            None,
            &mut Trace::default(),
        )
        .unwrap();
    let compiled: Vec<CompiledRule> = e
        .policy()
        .rules
        .iter()
        .cloned()
        .map(|r| CompiledRule::compile(r).unwrap())
        .collect();
    g.bench_function("ten_rules", |b| {
        b.iter(|| {
            rules::evaluate(
                &compiled,
                RuleInput::for_rules(&compiled, black_box(&profile), "corp"),
                &profile.groups_normalised,
            )
            .len()
        })
    });
    g.finish();
}

#[path = "../../../benches/ratio.rs"]
mod ratio;

criterion_group!(benches, bench);

fn main() {
    ratio::start();
    benches();
    Criterion::default().configure_from_args().final_summary();
    for case in ["returning_user", "first_login"] {
        ratio::report(
            &format!("map_and_decide/{case} vs one RS256 verification"),
            ("map_and_decide", case),
            ("floor", "rs256_verify"),
            ratio::Target::TimeAtMost(1.0),
        );
    }
}
