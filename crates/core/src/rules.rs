//! Rules on claims, written in CEL (Common Expression Language) through the `cel` crate.
//!
//! A rule's `when` sees these variables:
//!
//! | variable | type | value |
//! |---|---|---|
//! | `claims` | map | the ID token ∪ userinfo (ID token wins) |
//! | `groups` | list of strings | the groups claim, normalised like group sync (lower-case, spaces → hyphens; empty if absent) |
//! | `email` | string | the mapped email, or `""` |
//! | `email_verified` | bool | whether that email counts as verified |
//! | `username` | string | the username claim as sent, or `""` |
//! | `provider` | string | the provider's slug |
//!
//! Examples: `"staff" in groups`, `email_verified && email.endsWith("@example.com")`,
//! `has(claims.department) && claims.department == "Library"`,
//! `groups.exists(g, g.startsWith("lib-"))`. Reading a claim that is absent is an error
//! (use `has(...)`): a granting rule that errors grants nothing; a denying rule that
//! errors denies — rules fail closed.

use crate::claims::Profile;
use crate::policy::RuleSpec;
use cel::{Context, Program, Value};
use std::sync::Arc;

/// A rule with its condition compiled once.
pub struct CompiledRule {
    pub spec: RuleSpec,
    program: Program,
}

impl std::fmt::Debug for CompiledRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledRule")
            .field("spec", &self.spec)
            .finish()
    }
}

/// A rule whose condition does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule \"{name}\": `when` is not valid CEL: {message}")]
pub struct RuleError {
    pub name: String,
    pub message: String,
}

impl CompiledRule {
    pub fn compile(spec: RuleSpec) -> Result<Self, RuleError> {
        let program = Program::compile(&spec.when).map_err(|e| RuleError {
            name: spec.name.clone(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        Ok(CompiledRule { spec, program })
    }
}

/// The outcome of one rule for one login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleResult {
    Matched,
    NotMatched,
    /// The condition failed to evaluate or was not a boolean.
    Error(String),
}

/// The CEL variables for one login, built once and shared by all rules.
pub struct RuleInput {
    vars: Vec<(&'static str, Value)>,
}

impl RuleInput {
    pub fn new(profile: &Profile, provider: &str) -> Self {
        let claims = cel::to_value(&profile.claims).unwrap_or(Value::Null);
        let groups = Value::List(Arc::new(
            profile
                .groups
                .iter()
                .flatten()
                .map(|g| Value::String(Arc::new(crate::groups::normalise(g))))
                .collect(),
        ));
        let s = |v: Option<&String>| Value::String(Arc::new(v.cloned().unwrap_or_default()));
        RuleInput {
            vars: vec![
                ("claims", claims),
                ("groups", groups),
                ("email", s(profile.email.as_ref())),
                ("email_verified", Value::Bool(profile.email_verified)),
                ("username", s(profile.username.as_ref())),
                ("provider", Value::String(Arc::new(provider.to_owned()))),
            ],
        }
    }

    fn context(&self) -> Context<'_, '_> {
        let mut ctx = Context::default();
        for (name, value) in &self.vars {
            ctx.add_variable_from_value(*name, value.clone());
        }
        ctx
    }
}

impl CompiledRule {
    pub fn eval_in(&self, ctx: &Context<'_, '_>) -> RuleResult {
        match self.program.execute(ctx) {
            Ok(Value::Bool(true)) => RuleResult::Matched,
            Ok(Value::Bool(false)) => RuleResult::NotMatched,
            Ok(other) => RuleResult::Error(format!("evaluated to {other:?}, not true or false")),
            Err(e) => RuleResult::Error(e.to_string()),
        }
    }
}

/// Evaluates every rule against one login, in order.
pub fn evaluate<'r>(
    rules: &'r [CompiledRule],
    input: &RuleInput,
) -> Vec<(&'r CompiledRule, RuleResult)> {
    if rules.is_empty() {
        return Vec::new();
    }
    let ctx = input.context();
    rules.iter().map(|r| (r, r.eval_in(&ctx))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::{ClaimSources, Profile};
    use crate::policy::{ClaimMap, TrustEmail};
    use crate::trace::Trace;
    use serde_json::json;

    fn rule(when: &str) -> CompiledRule {
        CompiledRule::compile(RuleSpec {
            name: "t".into(),
            when: when.into(),
            grant_permissions: vec![],
            grant_libraries: vec![],
            grant_groups: vec![],
            grant_admin: false,
            deny: false,
            message: None,
        })
        .unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn profile() -> Profile {
        ClaimMap::default()
            .map(
                &ClaimSources::id_token(json!({
                    "sub": "s", "email": "ada@example.com", "email_verified": true,
                    "preferred_username": "ada", "groups": ["staff", "lib-main"],
                    "department": "Library", "level": 3
                })),
                TrustEmail::VerifiedClaim,
                None,
                &mut Trace::default(),
            )
            .unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn conditions() {
        let input = RuleInput::new(&profile(), "google");
        let cases = [
            ("\"staff\" in groups", RuleResult::Matched),
            ("\"admins\" in groups", RuleResult::NotMatched),
            (
                "email_verified && email.endsWith(\"@example.com\")",
                RuleResult::Matched,
            ),
            (
                "claims.department == \"Library\" && claims.level >= 3",
                RuleResult::Matched,
            ),
            (
                "has(claims.missing) && claims.missing == 1",
                RuleResult::NotMatched,
            ),
            (
                "groups.exists(g, g.startsWith(\"lib-\"))",
                RuleResult::Matched,
            ),
            (
                "provider == \"google\" && username == \"ada\"",
                RuleResult::Matched,
            ),
        ];
        for (when, want) in cases {
            let r = rule(when);
            assert_eq!(
                evaluate(std::slice::from_ref(&r), &input)[0].1,
                want,
                "{when}"
            );
        }
        for bad in ["claims.missing == 1", "claims.level"] {
            let r = rule(bad);
            assert!(
                matches!(
                    evaluate(std::slice::from_ref(&r), &input)[0].1,
                    RuleResult::Error(_)
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn compile_errors_name_the_rule() {
        let err = CompiledRule::compile(RuleSpec {
            name: "broken".into(),
            when: "groups.exists(".into(),
            grant_permissions: vec![],
            grant_libraries: vec![],
            grant_groups: vec![],
            grant_admin: false,
            deny: false,
            message: None,
        })
        .err();
        assert!(err.is_some_and(|e| e.to_string().starts_with("rule \"broken\"")));
    }
}
