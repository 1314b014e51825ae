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
use crate::names::Names;
use crate::policy::RuleSpec;
use cel::{Context, Env, Program, Value};
use std::sync::{Arc, OnceLock};

/// CEL's standard library, built once: building it per login cost more than the rules.
fn env() -> Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| Arc::new(Env::stdlib())).clone()
}

/// A rule with its condition compiled once.
pub struct CompiledRule {
    pub spec: RuleSpec,
    program: Program,
    claims: ClaimsNeed,
    uses_groups: bool,
    /// Which of [`VARIABLES`] CEL reads for it (a bit each; none when answered without CEL).
    variables: u8,
    /// The rule is exactly `"name" in groups`, the commonest rule there is: answered by a
    /// string comparison, without building CEL values for the whole groups list (which
    /// was most of a decision's cost with 50 groups). Same answer as CEL, by test.
    member_of: Option<String>,
}

/// `"name" in groups` (or single quotes), and nothing else.
fn plain_membership(source: &str) -> Option<String> {
    static PATTERN: OnceLock<Option<regex::Regex>> = OnceLock::new();
    let re = PATTERN
        .get_or_init(|| {
            regex::Regex::new(r#"^\s*(?:"([^"\\]*)"|'([^'\\]*)')\s+in\s+groups\s*$"#).ok()
        })
        .as_ref()?;
    let c = re.captures(source)?;
    c.get(1).or_else(|| c.get(2)).map(|m| m.as_str().to_owned())
}

/// Which claims a rule reads. Converting the whole claims document to CEL values cost
/// more than evaluating ten rules, so only what is read is converted.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ClaimsNeed {
    None,
    /// Only `claims.<key>` / `claims["key"]` for these top-level keys.
    Keys(std::collections::BTreeSet<String>),
    /// `claims` used some other way (`"k" in claims`, `claims[x]`): all of it.
    All,
}

impl ClaimsNeed {
    /// Conservative: anything but a plain `claims.key` or `claims["key"]` access —
    /// including the word inside a string literal — asks for everything.
    fn of(source: &str, referenced: bool) -> Self {
        if !referenced {
            return ClaimsNeed::None;
        }
        static ACCESS: OnceLock<Option<regex::Regex>> = OnceLock::new();
        let Some(re) = ACCESS
            .get_or_init(|| {
                regex::Regex::new(r#"(?:^|[^A-Za-z0-9_.])claims\b(?:\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)(\s*\()?|\s*\[\s*"([^"\\]*)"\s*\]|\s*\[\s*'([^'\\]*)'\s*\])?"#).ok()
            })
            .as_ref()
        else {
            return ClaimsNeed::All;
        };
        let mut keys = std::collections::BTreeSet::new();
        for c in re.captures_iter(source) {
            if c.get(2).is_some() {
                return ClaimsNeed::All; // a method call such as `claims.size()`
            }
            match c.get(1).or_else(|| c.get(3)).or_else(|| c.get(4)) {
                Some(k) => keys.insert(k.as_str().to_owned()),
                None => return ClaimsNeed::All,
            };
        }
        ClaimsNeed::Keys(keys)
    }

    fn merge(self, other: &ClaimsNeed) -> ClaimsNeed {
        match (self, other) {
            (ClaimsNeed::All, _) | (_, ClaimsNeed::All) => ClaimsNeed::All,
            (ClaimsNeed::None, o) => o.clone(),
            (s, ClaimsNeed::None) => s,
            (ClaimsNeed::Keys(mut a), ClaimsNeed::Keys(b)) => {
                a.extend(b.iter().cloned());
                ClaimsNeed::Keys(a)
            }
        }
    }
}

/// What a set of rules reads of a login: which claims, and whether its groups. The
/// same for every login, so an engine finds it once, not at each sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesNeed {
    claims: ClaimsNeed,
    groups: bool,
    /// Which of [`VARIABLES`] they read (a bit each).
    variables: u8,
}

impl RulesNeed {
    pub fn of(rules: &[CompiledRule]) -> Self {
        RulesNeed {
            claims: rules
                .iter()
                .fold(ClaimsNeed::None, |acc, r| acc.merge(&r.claims)),
            groups: rules.iter().any(|r| r.uses_groups),
            variables: rules.iter().fold(0, |acc, r| acc | r.variables),
        }
    }
}

/// The variables a rule may read. A login gives the rules only those they read: each
/// costs CEL a conversion and a map entry.
const VARIABLES: [&str; 6] = [
    "claims",
    "groups",
    "email",
    "email_verified",
    "username",
    "provider",
];

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
        let program = env().compile(&spec.when).map_err(|e| RuleError {
            name: spec.name.clone(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        let refs = program.references();
        let claims = ClaimsNeed::of(&spec.when, refs.has_variable("claims"));
        let member_of = plain_membership(&spec.when);
        let uses_groups = refs.has_variable("groups") && member_of.is_none();
        let variables = if member_of.is_some() {
            0
        } else {
            VARIABLES
                .iter()
                .enumerate()
                .filter(|(_, v)| refs.has_variable(v))
                .fold(0, |acc, (i, _)| acc | 1 << i)
        };
        Ok(CompiledRule {
            spec,
            program,
            claims,
            uses_groups,
            variables,
            member_of,
        })
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
#[derive(Clone)]
pub struct RuleInput {
    vars: Vec<(&'static str, Value)>,
}

impl RuleInput {
    /// All variables, the whole claims document included.
    pub fn new(profile: &Profile, provider: &str) -> Self {
        Self::build(profile, provider, &ClaimsNeed::All, true, u8::MAX)
    }

    /// Only what these rules read.
    pub fn for_rules(rules: &[CompiledRule], profile: &Profile, provider: &str) -> Self {
        Self::for_need(&RulesNeed::of(rules), profile, provider)
    }

    /// Only what a set of rules reads, found once ([`RulesNeed::of`]).
    pub fn for_need(need: &RulesNeed, profile: &Profile, provider: &str) -> Self {
        Self::build(profile, provider, &need.claims, need.groups, need.variables)
    }

    fn build(
        profile: &Profile,
        provider: &str,
        need: &ClaimsNeed,
        with_groups: bool,
        variables: u8,
    ) -> Self {
        let claims = || match need {
            ClaimsNeed::None => Value::Null,
            ClaimsNeed::All => cel::to_value(&*profile.claims).unwrap_or(Value::Null),
            ClaimsNeed::Keys(keys) => {
                // Each value converted from the document itself (no copy of it first).
                let subset: std::collections::HashMap<String, Value> = keys
                    .iter()
                    .filter_map(|k| {
                        let v = profile.claims.get(k)?;
                        Some((k.clone(), cel::to_value(v).unwrap_or(Value::Null)))
                    })
                    .collect();
                Value::from(subset)
            }
        };
        let groups = || {
            let list = if with_groups {
                profile
                    .groups_normalised
                    .iter()
                    .map(|g| Value::String(Arc::new(g.to_owned())))
                    .collect()
            } else {
                Vec::new()
            };
            Value::List(Arc::new(list))
        };
        let s = |v: Option<&String>| Value::String(Arc::new(v.cloned().unwrap_or_default()));
        let vars = VARIABLES
            .into_iter()
            .enumerate()
            .filter(|(i, _)| variables & (1 << i) != 0)
            .map(|(_, name)| {
                let value = match name {
                    "claims" => claims(),
                    "groups" => groups(),
                    "email" => s(profile.email.as_ref()),
                    "email_verified" => Value::Bool(profile.email_verified),
                    "username" => s(profile.username.as_ref()),
                    "provider" => Value::String(Arc::new(provider.to_owned())),
                    // Every name of VARIABLES has its arm above.
                    _ => Value::Null,
                };
                (name, value)
            })
            .collect();
        RuleInput { vars }
    }

    /// Moves the values in: a shared `Arc` would make CEL copy every string.
    fn into_context(self) -> Context<'static, 'static> {
        let mut ctx = Context::with_env(env());
        for (name, value) in self.vars {
            ctx.add_variable_from_value(name, value);
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

/// Evaluates every rule against one login, in order. `groups` are the login's normalised
/// groups (what `groups` holds in CEL).
pub fn evaluate<'r>(
    rules: &'r [CompiledRule],
    input: RuleInput,
    groups: &Names,
) -> Vec<(&'r CompiledRule, RuleResult)> {
    let ctx = rules
        .iter()
        .any(|r| r.member_of.is_none())
        .then(|| input.into_context());
    rules
        .iter()
        .map(|r| {
            let result = match (&r.member_of, &ctx) {
                (Some(name), _) => {
                    if groups.contains(name) {
                        RuleResult::Matched
                    } else {
                        RuleResult::NotMatched
                    }
                }
                (None, Some(ctx)) => r.eval_in(ctx),
                (None, None) => RuleResult::Error("no evaluation context".into()),
            };
            (r, result)
        })
        .collect()
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

    fn profile() -> Profile<'static> {
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
            .map(Profile::into_owned)
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
                evaluate(
                    std::slice::from_ref(&r),
                    input.clone(),
                    &profile().groups_normalised
                )[0]
                .1,
                want,
                "{when}"
            );
        }
        for bad in ["claims.missing == 1", "claims.level"] {
            let r = rule(bad);
            assert!(
                matches!(
                    evaluate(
                        std::slice::from_ref(&r),
                        input.clone(),
                        &profile().groups_normalised
                    )[0]
                    .1,
                    RuleResult::Error(_)
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn only_the_claims_a_rule_reads_are_converted() {
        let keys = |v: &[&str]| ClaimsNeed::Keys(v.iter().map(|s| s.to_string()).collect());
        assert_eq!(rule("\"a\" in groups").claims, ClaimsNeed::None);
        assert_eq!(
            rule("has(claims.dept) && claims . level > 1").claims,
            keys(&["dept", "level"])
        );
        assert_eq!(
            rule("claims[\"https://x/roles\"].size() > 0").claims,
            keys(&["https://x/roles"])
        );
        assert_eq!(rule("\"dept\" in claims").claims, ClaimsNeed::All);
        assert_eq!(rule("claims[email] == 1").claims, ClaimsNeed::All);
        assert_eq!(rule("claims.size() > 3").claims, ClaimsNeed::All);
        // The subset gives the same answers as the whole document.
        let p = profile();
        for when in [
            "claims.department == \"Library\"",
            "has(claims.nope)",
            "claims.level >= 3",
        ] {
            let r = rule(when);
            let subset = RuleInput::for_rules(std::slice::from_ref(&r), &p, "g");
            let whole = RuleInput::new(&p, "g");
            assert_eq!(
                evaluate(
                    std::slice::from_ref(&r),
                    subset.clone(),
                    &p.groups_normalised
                )[0]
                .1,
                evaluate(
                    std::slice::from_ref(&r),
                    whole.clone(),
                    &p.groups_normalised
                )[0]
                .1,
                "{when}"
            );
        }
    }

    #[test]
    fn rules_are_given_the_variables_they_read_and_answer_as_with_all() {
        let p = profile();
        for (when, expected) in [
            ("username == \"ada\"", RuleResult::Matched),
            ("provider == \"g\"", RuleResult::Matched),
            (
                "email_verified && email.endsWith(\"@example.com\")",
                RuleResult::Matched,
            ),
            (
                "groups.exists(g, g == \"lib-main\") && size(groups) == 2",
                RuleResult::Matched,
            ),
            ("[1].exists(email, email == 1)", RuleResult::Matched),
            (
                "username == \"bob\" || provider == \"x\"",
                RuleResult::NotMatched,
            ),
        ] {
            let r = rule(when);
            let subset = RuleInput::for_rules(std::slice::from_ref(&r), &p, "g");
            assert!(
                subset.vars.len() < VARIABLES.len(),
                "{when}: {}",
                subset.vars.len()
            );
            let whole = RuleInput::new(&p, "g");
            let one = |input| {
                evaluate(std::slice::from_ref(&r), input, &p.groups_normalised)[0]
                    .1
                    .clone()
            };
            assert_eq!(one(subset), expected, "{when}");
            assert_eq!(one(whole), expected, "{when}");
        }
    }

    #[test]
    fn plain_membership_rules_answer_like_cel() {
        assert_eq!(
            plain_membership(" \"staff\" in groups "),
            Some("staff".into())
        );
        assert_eq!(
            plain_membership("'lib-main' in groups"),
            Some("lib-main".into())
        );
        assert_eq!(plain_membership("\"a\" in groups || true"), None);
        assert_eq!(plain_membership("\"a\" in claims.groups"), None);
        let p = profile();
        for when in [
            "\"staff\" in groups",
            "'lib-main' in groups",
            "\"Staff\" in groups",
            "\"nobody\" in groups",
        ] {
            let fast = rule(when);
            assert!(fast.member_of.is_some(), "{when}");
            let cel = CompiledRule {
                member_of: None,
                ..rule(when)
            };
            let input = RuleInput::new(&p, "g");
            let a = evaluate(
                std::slice::from_ref(&fast),
                input.clone(),
                &p.groups_normalised,
            )[0]
            .1
            .clone();
            let b = evaluate(std::slice::from_ref(&cel), input, &p.groups_normalised)[0]
                .1
                .clone();
            assert_eq!(a, b, "{when}");
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
