//! Any bytes as the claims JSON (and as userinfo): mapping and deciding never panic,
//! and an unverified email never links an account.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use ssogate_core::claims::ClaimSources;
use ssogate_core::memory::{DirectoryFile, InMemoryDirectory};
use ssogate_core::domain::Permission;
use ssogate_core::decision::Decision;
use ssogate_core::policy::{MatchBy, RuleSpec};
use ssogate_core::{ClaimExpr, Engine, ProviderPolicy, ProvisioningPolicy};
use std::sync::OnceLock;

fn setup() -> &'static (Engine, InMemoryDirectory) {
    static S: OnceLock<(Engine, InMemoryDirectory)> = OnceLock::new();
    S.get_or_init(|| {
        let mut provider = ProviderPolicy::new("fz", "https://idp.example");
        provider.claims.external_id = Some(ClaimExpr::parse("upn | employee.id").expect("expr"));
        provider.claims.groups = Some(ClaimExpr::parse("\"https://x/roles\" | groups").expect("expr"));
        let mut policy = ProvisioningPolicy {
            match_by: vec![MatchBy::Subject, MatchBy::ExternalIdClaim, MatchBy::VerifiedEmail, MatchBy::Username],
            link_by_email: true,
            default_permissions: vec!["read".into()],
            default_libraries: vec!["main".into()],
            default_groups: vec!["Readers".into()],
            admin_email_domains: vec!["example.com".into()],
            rules: vec![RuleSpec {
                name: "r".into(),
                when: "\"ops\" in groups || (has(claims.level) && claims.level == 3)".into(),
                grant_permissions: vec!["write".into()],
                grant_libraries: vec!["kids".into()],
                grant_groups: vec![],
                grant_admin: true,
                deny: false,
                message: None,
            }],
            ..Default::default()
        };
        policy.groups.enabled = true;
        policy.groups.create_missing = true;
        policy.groups.remove_unmatched = true;
        let perms = vec![
            Permission { name: "read".into(), label: None, required: true },
            Permission { name: "write".into(), label: None, required: false },
        ];
        let engine = Engine::new(provider, policy, perms).expect("engine");
        let file: DirectoryFile = serde_json::from_value(json!({
            "libraries": [{"name": "main"}, {"name": "kids"}],
            "groups": [{"name": "Readers"}, {"name": "Ops", "external_ids": ["ops", "x,y"]}],
            "users": [
                {"username": "ada", "email": "ada@example.com", "email_verified": true},
                {"username": "bob", "email": "bob@example.com", "external_ids": {"fz": "E1"},
                 "identities": [{"provider": "fz", "subject": "bob"}], "is_admin": true}
            ]
        }))
        .expect("directory");
        (engine, InMemoryDirectory::from(file))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let Ok(value) = serde_json::from_slice::<Value>(rest) else { return };
    let (engine, dir) = setup();
    let sources = match mode % 3 {
        0 => ClaimSources::id_token(value),
        1 => ClaimSources { id_token: json!({"sub": value.get("sub").cloned().unwrap_or(json!("s"))}), userinfo: Some(value) },
        _ => ClaimSources { id_token: value.clone(), userinfo: Some(value) },
    };
    let outcome = engine.decide(&sources, dir);
    let _ = outcome.to_json();
    if let Decision::Link { matched_by: MatchBy::VerifiedEmail, .. } = outcome.decision {
        assert!(outcome.user.email_verified, "linked by an unverified email");
    }
});
