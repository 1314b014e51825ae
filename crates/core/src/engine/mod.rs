//! The provisioning engine: `decide(claims, directory) -> Outcome`, pure and explained.
//! This module holds the engine and the decision's outline; its steps are rooms of their
//! own: `matching` (which account), `existing` (an account that exists) and
//! `provisioning` (a new one, with its grants).

mod existing;
mod lookups;
mod matching;
mod provisioning;

pub use lookups::Lookups;

use crate::claims::{ClaimSources, MapError, Profile};
use crate::decision::{
    Attribute, AttributeChange, AttributesMut, Changes, Decision, IdentityChange, Outcome,
    RejectReason, UserView,
};
use crate::directory::{DirectoryView, ExistingUser};
use crate::domain::{
    ExternalIdentity, Grant, GrantKind, GrantSource, Permission, UserSource, UserStatus,
};
use crate::grants::{GrantDiff, GrantPlan};
use crate::groups::{self, GroupResolution};
use crate::hooks::HookVerdict;
use crate::policy::{
    EmailConflict, MatchBy, ProviderPolicy, ProvisioningPolicy, UsernameFallback, UsernameSource,
};
use crate::rules::{self, CompiledRule, RuleError, RuleInput, RuleResult, RulesNeed};
use crate::spi::{
    AssignContext, AssignmentError, AssignmentProvider, CreateContext, IdentityCreator, NewAccount,
};
use crate::trace::{Step, Trace};
use crate::username::{self, CollisionError};
use regex::Regex;
use std::sync::Arc;

/// A configuration the engine cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error("groups.allow_regex `{regex}` is not a valid regular expression: {message}")]
    AllowRegex { regex: String, message: String },
    #[error(
        "permission \"{name}\" in {setting} is not in the permission catalogue (known: {known})"
    )]
    UnknownPermission {
        name: String,
        setting: String,
        known: String,
    },
    #[error(
        "match_by must start with \"subject\" (a known identity always signs in to its own account)"
    )]
    SubjectNotFirst,
    #[error("unique_user_ids needs username.max_length of at least 64 (the id is 64 hex digits)")]
    UniqueIdsTooLong,
    #[error("username.max_length must be at least 1")]
    ZeroLength,
    #[error("unique_user_ids and nextcloud_user_ids are two id schemes: choose one")]
    TwoIdSchemes,
    #[error("admin_email_domains entry \"{0}\" is not a domain")]
    BadDomain(String),
}

/// Claims mapped by [`Engine::map`], with the trace so far.
#[derive(Debug)]
pub struct Mapped<'s> {
    pub profile: Result<Profile<'s>, MapError>,
    trace: Trace,
}

/// The engine for one provider: its policy compiled, plus the SPI chains.
pub struct Engine {
    provider: ProviderPolicy,
    policy: ProvisioningPolicy,
    permissions: Vec<Permission>,
    rules: Vec<CompiledRule>,
    /// What the rules read of a login (found once).
    rules_need: RulesNeed,
    allow_regex: Option<Regex>,
    admin_domains: Vec<String>,
    creators: Vec<Arc<dyn IdentityCreator>>,
    assigners: Vec<Arc<dyn AssignmentProvider>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("provider", &self.provider.slug)
            .field(
                "creators",
                &self
                    .creators
                    .iter()
                    .map(|c| c.name().to_owned())
                    .collect::<Vec<_>>(),
            )
            .field(
                "assigners",
                &self
                    .assigners
                    .iter()
                    .map(|a| a.name().to_owned())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// What rules and hooks give a sign-in, and what hooks take away.
#[derive(Default)]
struct Granted {
    grants: Vec<Grant>,
    revokes: Vec<Grant>,
}

struct Found<'d> {
    user: &'d ExistingUser,
    by: MatchBy,
    rebind: Option<ExternalIdentity>,
    /// Signed in through the issuer of another provider entry: record this one too.
    also_link: bool,
}

impl Engine {
    /// Compiles rules and regexes and checks the policy against the permission catalogue.
    pub fn new(
        provider: ProviderPolicy,
        policy: ProvisioningPolicy,
        permissions: Vec<Permission>,
    ) -> Result<Self, PolicyError> {
        if policy
            .match_by
            .first()
            .is_some_and(|m| *m != MatchBy::Subject)
        {
            return Err(PolicyError::SubjectNotFirst);
        }
        if policy.username.max_length == 0 {
            return Err(PolicyError::ZeroLength);
        }
        if policy.unique_user_ids && policy.username.max_length < 64 {
            return Err(PolicyError::UniqueIdsTooLong);
        }
        if policy.unique_user_ids && policy.nextcloud_user_ids.is_some() {
            return Err(PolicyError::TwoIdSchemes);
        }
        let known = || {
            permissions
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let check = |name: &String, setting: &str| {
            if permissions.iter().any(|p| &p.name == name) {
                Ok(())
            } else {
                Err(PolicyError::UnknownPermission {
                    name: name.clone(),
                    setting: setting.to_owned(),
                    known: known(),
                })
            }
        };
        for p in &policy.default_permissions {
            check(p, "default_permissions")?;
        }
        for r in &policy.rules {
            for p in &r.grant_permissions {
                check(p, &format!("rule \"{}\"", r.name))?;
            }
        }
        let allow_regex = match &policy.groups.allow_regex {
            Some(re) => Some(Regex::new(re).map_err(|e| {
                PolicyError::AllowRegex {
                    regex: re.clone(),
                    message: e
                        .to_string()
                        .lines()
                        .last()
                        .unwrap_or_default()
                        .trim()
                        .to_owned(),
                }
            })?),
            None => None,
        };
        let mut admin_domains = Vec::new();
        for d in &policy.admin_email_domains {
            let d = d.trim().trim_start_matches('@').to_ascii_lowercase();
            if d.is_empty() || d.contains(['@', ' ', '/']) || !d.contains('.') && d != "localhost" {
                return Err(PolicyError::BadDomain(d));
            }
            admin_domains.push(d);
        }
        let rules = policy
            .rules
            .iter()
            .cloned()
            .map(CompiledRule::compile)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Engine {
            provider,
            policy,
            permissions,
            rules_need: RulesNeed::of(&rules),
            rules,
            allow_regex,
            admin_domains,
            creators: Vec::new(),
            assigners: Vec::new(),
        })
    }

    /// Adds an identity creator, consulted (in the order added) before the policy's own.
    pub fn with_identity_creator(mut self, creator: Arc<dyn IdentityCreator>) -> Self {
        self.creators.push(creator);
        self
    }

    /// Adds an assignment provider, run (in the order added) after the policy's own.
    pub fn with_assignment_provider(mut self, provider: Arc<dyn AssignmentProvider>) -> Self {
        self.assigners.push(provider);
        self
    }

    pub fn provider(&self) -> &ProviderPolicy {
        &self.provider
    }

    pub fn policy(&self) -> &ProvisioningPolicy {
        &self.policy
    }

    /// Maps the claims and decides. Pure: the same inputs give the same outcome.
    pub fn decide(&self, sources: &ClaimSources, dir: &dyn DirectoryView) -> Outcome {
        self.decide_mapped(self.map(sources), dir)
    }

    /// The first half of [`Engine::decide`]: the claims mapped (and traced), so a caller
    /// can fetch what the decision will look up before asking for it.
    pub fn map<'s>(&self, sources: &'s ClaimSources) -> Mapped<'s> {
        // A login writes a line per mapped claim, per rule, and about twenty more.
        let mut trace = Trace::with_capacity(self.rules.len() + 32);
        let profile = self.provider.claims.map(
            sources,
            self.provider.trust_email,
            self.policy.groups.separator.as_deref(),
            &mut trace,
        );
        Mapped { profile, trace }
    }

    /// The second half of [`Engine::decide`].
    pub fn decide_mapped(&self, mapped: Mapped<'_>, dir: &dyn DirectoryView) -> Outcome {
        self.decide_mapped_with(mapped, dir, &[])
    }

    /// [`Engine::decide_mapped`] with what the provisioning hooks answered about this
    /// sign-in (see [`crate::hooks`]), applied in their order: a denial or a failed hook
    /// that fails closed refuses; attributes replace the mapped claims; grants join the
    /// rules' and revocations come last.
    pub fn decide_mapped_with(
        &self,
        mapped: Mapped<'_>,
        dir: &dyn DirectoryView,
        verdicts: &[HookVerdict],
    ) -> Outcome {
        match mapped.profile {
            Ok(mut profile) => {
                let mut trace = mapped.trace;
                for v in verdicts {
                    if let HookVerdict::Answered { hook, answer } = v {
                        apply_attributes(&mut profile, hook, &answer.attributes, &mut trace);
                    }
                }
                self.decide_profile(&profile, dir, trace, verdicts)
            }
            Err(e) => reject(
                RejectReason::InvalidClaims(e),
                UserView::default(),
                mapped.trace,
            ),
        }
    }

    fn decide_profile(
        &self,
        profile: &Profile,
        dir: &dyn DirectoryView,
        mut trace: Trace,
        verdicts: &[HookVerdict],
    ) -> Outcome {
        let mapped = UserView {
            username: profile.username.clone(),
            email: profile.email.clone(),
            email_verified: profile.email_verified,
            display_name: profile.display_name.clone(),
            ..UserView::default()
        };

        // Rules: a deny stops everything; grants are kept for the assignment step.
        let mut rule_grants = Vec::new();
        if !self.rules.is_empty() {
            let input = RuleInput::for_need(&self.rules_need, profile, &self.provider.slug);
            for (rule, result) in rules::evaluate(&self.rules, input, &profile.groups_normalised) {
                let name = &rule.spec.name;
                match (&result, rule.spec.deny) {
                    (RuleResult::Matched, true) | (RuleResult::Error(_), true) => {
                        let why = match &result {
                            RuleResult::Error(e) => {
                                format!("could not be evaluated ({e}); deny rules fail closed")
                            }
                            _ => "matched".into(),
                        };
                        trace.note(Step::Rules, format!("deny rule \"{name}\" {why}"));
                        let message = rule.spec.message.clone().unwrap_or_else(|| {
                            "Sign-in was refused by a policy rule. Ask an administrator.".into()
                        });
                        return reject(
                            RejectReason::DeniedByRule {
                                rule: name.clone(),
                                message,
                            },
                            mapped,
                            trace,
                        );
                    }
                    (RuleResult::Matched, false) => {
                        trace.note_parts(Step::Rules, &["rule \"", name, "\" matched"]);
                        let s = &rule.spec;
                        for (kind, list) in [
                            (GrantKind::Permission, &s.grant_permissions),
                            (GrantKind::Library, &s.grant_libraries),
                            (GrantKind::Group, &s.grant_groups),
                        ] {
                            rule_grants.extend(
                                list.iter()
                                    .map(|n| Grant::new(kind, n.clone(), GrantSource::Rule)),
                            );
                        }
                        if s.grant_admin {
                            rule_grants.push(Grant::new(
                                GrantKind::Admin,
                                "admin",
                                GrantSource::Rule,
                            ));
                        }
                    }
                    (RuleResult::NotMatched, _) => {
                        trace.note_parts(Step::Rules, &["rule \"", name, "\" did not match"])
                    }
                    (RuleResult::Error(e), false) => trace.note(
                        Step::Rules,
                        format!("rule \"{name}\" could not be evaluated ({e}); it grants nothing"),
                    ),
                }
            }
        }

        // Provisioning hooks, in the chain's order.
        let mut revokes = Vec::new();
        for v in verdicts {
            match v {
                HookVerdict::Failed {
                    hook,
                    error,
                    fail_open: true,
                } => trace.note(
                    Step::Hooks,
                    format!("hook \"{hook}\" failed ({error}); it fails open, so the decision stands without it"),
                ),
                HookVerdict::Failed { hook, error, .. } => {
                    trace.note(
                        Step::Hooks,
                        format!("hook \"{hook}\" failed ({error}); it fails closed"),
                    );
                    return reject(
                        RejectReason::HookFailed {
                            hook: hook.clone(),
                            message: error.clone(),
                        },
                        mapped,
                        trace,
                    );
                }
                HookVerdict::Answered { hook, answer } => {
                    let note = answer
                        .note
                        .as_deref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default();
                    if let Some(message) = &answer.deny {
                        trace.note(Step::Hooks, format!("hook \"{hook}\" denies the sign-in{note}"));
                        return reject(
                            RejectReason::DeniedByHook {
                                hook: hook.clone(),
                                message: message.clone(),
                            },
                            mapped,
                            trace,
                        );
                    }
                    let granted = answer.grant.grants(GrantSource::Rule);
                    let taken = answer.revoke.grants(GrantSource::Rule);
                    let names = |g: &[Grant]| {
                        g.iter()
                            .map(|g| format!("{} \"{}\"", g.kind, g.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    let what = match (granted.is_empty(), taken.is_empty()) {
                        (true, true) => "changes no grant".to_owned(),
                        (false, true) => format!("grants {}", names(&granted)),
                        (true, false) => format!("takes away {}", names(&taken)),
                        (false, false) => {
                            format!("grants {}; takes away {}", names(&granted), names(&taken))
                        }
                    };
                    trace.note(Step::Hooks, format!("hook \"{hook}\" {what}{note}"));
                    rule_grants.extend(granted);
                    revokes.extend(taken);
                }
            }
        }

        let granted = Granted {
            grants: rule_grants,
            revokes,
        };

        // Groups.
        let gp = &self.policy.groups;
        let resolution = if gp.enabled {
            let r = groups::resolve(
                profile
                    .groups
                    .as_ref()
                    .map(|raw| (raw, &profile.groups_normalised)),
                dir,
                gp,
                self.allow_regex.as_ref(),
                &mut trace,
            );
            if gp.restrict_login_to_allowed && r.allowed == 0 {
                trace.note(
                    Step::Groups,
                    "no group of the claim is allowed; restrict_login_to_allowed refuses the login",
                );
                return reject(RejectReason::NotInAllowedGroup, mapped, trace);
            }
            r
        } else {
            trace.note(Step::Groups, "group sync is off");
            GroupResolution::default()
        };

        match self.find_account(profile, dir, &mut trace) {
            Some(found) => self.existing(profile, dir, found, &granted, &resolution, trace),
            None => self.provision(profile, dir, &granted, &resolution, mapped, trace),
        }
    }
}

/// A hook's attributes in place of the mapped claims, traced.
fn apply_attributes(
    profile: &mut Profile<'_>,
    hook: &str,
    a: &crate::hooks::HookAttributes,
    trace: &mut Trace,
) {
    let mut set = Vec::new();
    if let Some(v) = &a.username {
        profile.username = Some(v.clone());
        set.push("username");
    }
    if let Some(v) = &a.email {
        profile.email = Some(v.clone());
        // Only the hook's word makes its address verified.
        profile.email_verified = a.email_verified.unwrap_or(false);
        set.push("email");
    } else if let Some(v) = a.email_verified {
        profile.email_verified = profile.email_verified && v;
    }
    if let Some(v) = &a.display_name {
        profile.display_name = Some(v.clone());
        set.push("display name");
    }
    if let Some(v) = &a.quota {
        profile.quota = Some(v.clone());
        set.push("quota");
    }
    if !set.is_empty() {
        trace.note(
            Step::Hooks,
            format!("hook \"{hook}\" sets the {}", set.join(", ")),
        );
    }
}

fn reject(reason: RejectReason, user: UserView, mut trace: Trace) -> Outcome {
    trace.note(
        Step::Decision,
        format!("reject ({}): {reason}", reason.code()),
    );
    Outcome {
        decision: Decision::Reject(reason),
        allow_session: false,
        user,
        changes: Changes::default(),
        trace,
    }
}
