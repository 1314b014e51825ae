//! The provisioning engine: `decide(claims, directory) -> Outcome`, pure and explained.

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
use crate::policy::{EmailConflict, MatchBy, ProviderPolicy, ProvisioningPolicy, UsernameFallback};
use crate::rules::{self, CompiledRule, RuleError, RuleInput, RuleResult};
use crate::spi::{
    AssignContext, AssignmentError, AssignmentProvider, CreateContext, IdentityCreator, NewAccount,
};
use crate::trace::{Step, Trace};
use crate::username::{self, CollisionError};
use foldhash::HashSet;
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
        let mut trace = Trace::default();
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
        match mapped.profile {
            Ok(profile) => self.decide_profile(&profile, dir, mapped.trace),
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
            let input = RuleInput::for_rules(&self.rules, profile, &self.provider.slug);
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
                        trace.note(Step::Rules, format!("rule \"{name}\" matched"));
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
                        trace.note(Step::Rules, format!("rule \"{name}\" did not match"))
                    }
                    (RuleResult::Error(e), false) => trace.note(
                        Step::Rules,
                        format!("rule \"{name}\" could not be evaluated ({e}); it grants nothing"),
                    ),
                }
            }
        }

        // Groups.
        let gp = &self.policy.groups;
        let resolution = if gp.enabled {
            let r = groups::resolve(
                profile
                    .groups
                    .as_deref()
                    .map(|raw| (raw, profile.groups_normalised.as_slice())),
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
            Some(found) => self.existing(profile, dir, found, &rule_grants, &resolution, trace),
            None => self.provision(profile, dir, &rule_grants, &resolution, mapped, trace),
        }
    }

    fn find_account<'d>(
        &self,
        profile: &Profile,
        dir: &'d dyn DirectoryView,
        trace: &mut Trace,
    ) -> Option<Found<'d>> {
        let slug = &self.provider.slug;
        let sub = &profile.subject;
        let current = ExternalIdentity {
            provider: slug.clone(),
            issuer: Some(self.provider.issuer.clone()),
            subject: sub.clone(),
        };
        if let Some(user) = dir.find_by_identity(slug, sub) {
            trace.note(
                Step::Match,
                format!("identity ({slug}, {sub}) belongs to \"{}\"", user.username),
            );
            return Some(Found {
                user,
                by: MatchBy::Subject,
                rebind: None,
                also_link: false,
            });
        }
        // Another provider entry with this issuer (say, a second client of the same IdP)
        // knows the person: the same account, with an identity for this provider too.
        if let Some(user) = dir.find_by_issuer_subject(&self.provider.issuer, sub) {
            trace.note(
                Step::Match,
                format!("identity ({}, {sub}) belongs to \"{}\" through another provider entry; this provider is linked too", self.provider.issuer, user.username),
            );
            return Some(Found {
                user,
                by: MatchBy::Subject,
                rebind: None,
                also_link: true,
            });
        }
        // An issuer alias: the IdP moved; the identity is re-keyed to the new issuer.
        for issuer in &self.provider.issuer_aliases {
            if let Some(user) = dir.find_by_issuer_subject(issuer, sub) {
                let previous = user
                    .identities
                    .iter()
                    .find(|i| i.subject == *sub && i.issuer.as_deref() == Some(issuer.as_str()))
                    .cloned();
                trace.note(
                    Step::Match,
                    format!("identity ({issuer}, {sub}) belongs to \"{}\"; it is re-keyed to this provider", user.username),
                );
                return Some(Found {
                    user,
                    by: MatchBy::Subject,
                    rebind: previous,
                    also_link: false,
                });
            }
        }
        trace.note(Step::Match, format!("no identity ({slug}, {sub}) yet"));
        if self.policy.unique_user_ids {
            trace.note(
                Step::Match,
                "unique_user_ids: accounts are only ever matched by (provider, subject)",
            );
            return None;
        }
        for m in self.policy.match_by.iter().skip(1) {
            let found = match m {
                MatchBy::Subject => None,
                MatchBy::ExternalIdClaim => self.match_external_id(profile, dir, &current, trace),
                MatchBy::VerifiedEmail => self.match_email(profile, dir, trace),
                MatchBy::Username => self.match_username(profile, dir, trace),
            };
            if found.is_some() {
                return found;
            }
        }
        None
    }

    fn match_external_id<'d>(
        &self,
        profile: &Profile,
        dir: &'d dyn DirectoryView,
        current: &ExternalIdentity,
        trace: &mut Trace,
    ) -> Option<Found<'d>> {
        let slug = &self.provider.slug;
        let Some(value) = &profile.external_id else {
            if self.provider.claims.external_id.is_some() {
                trace.note(Step::Match, "external id claim absent; not matched by it");
            }
            return None;
        };
        let Some(user) = dir.find_by_external_id(slug, value) else {
            trace.note(
                Step::Match,
                format!("no account has external authentication id \"{value}\" for {slug}"),
            );
            return None;
        };
        let rebind = user
            .identity_at(slug)
            .filter(|i| i.subject != current.subject)
            .cloned();
        match &rebind {
            Some(old) => trace.note(
                Step::Match,
                format!(
                    "external authentication id \"{value}\" belongs to \"{}\", whose subject at {slug} was \"{}\"; the identity is updated to \"{}\"",
                    user.username, old.subject, current.subject
                ),
            ),
            None => trace.note(Step::Match, format!("external authentication id \"{value}\" belongs to \"{}\"", user.username)),
        }
        Some(Found {
            user,
            by: MatchBy::ExternalIdClaim,
            rebind,
            also_link: false,
        })
    }

    fn match_email<'d>(
        &self,
        profile: &Profile,
        dir: &'d dyn DirectoryView,
        trace: &mut Trace,
    ) -> Option<Found<'d>> {
        let slug = &self.provider.slug;
        let email = profile.email.as_ref()?;
        if !self.policy.link_by_email {
            trace.note(Step::Match, "link_by_email is off; not matched by email");
            return None;
        }
        if !profile.email_verified {
            trace.note(
                Step::Match,
                format!(
                    "email {email} is not verified by the provider; an unverified email never links"
                ),
            );
            return None;
        }
        let all = dir.find_by_email(email);
        let linkable: Vec<&ExistingUser> = all
            .iter()
            .copied()
            .filter(|u| u.email_verified && u.identity_at(slug).is_none())
            .collect();
        match linkable.as_slice() {
            [user] => {
                trace.note(
                    Step::Match,
                    format!(
                        "verified email {email} matches \"{}\", whose own email is verified",
                        user.username
                    ),
                );
                Some(Found {
                    user,
                    by: MatchBy::VerifiedEmail,
                    rebind: None,
                    also_link: false,
                })
            }
            [] => {
                if let Some(u) = all.iter().find(|u| !u.email_verified) {
                    trace.note(
                        Step::Match,
                        format!(
                            "\"{}\" has email {email} but never verified it; not linked",
                            u.username
                        ),
                    );
                } else if let Some(u) = all.first() {
                    trace.note(Step::Match, format!("\"{}\" has email {email} but is already linked to another {slug} identity; not linked", u.username));
                }
                None
            }
            many => {
                trace.note(
                    Step::Match,
                    format!(
                        "{} accounts have verified email {email}; ambiguous, not linked",
                        many.len()
                    ),
                );
                None
            }
        }
    }

    fn match_username<'d>(
        &self,
        profile: &Profile,
        dir: &'d dyn DirectoryView,
        trace: &mut Trace,
    ) -> Option<Found<'d>> {
        let raw = profile.username.as_ref()?;
        let name = username::sanitize(raw, &self.policy.username)?;
        let Some(user) = dir.find_by_username(&name) else {
            trace.note(Step::Match, format!("no account is named \"{name}\""));
            return None;
        };
        if user.is_admin() {
            trace.note(
                Step::Match,
                format!("username \"{name}\" is an administrator; administrators are never adopted by username (link the provider from the account page)"),
            );
            None
        } else if user.identities.is_empty() {
            trace.note(
                Step::Match,
                format!(
                    "username \"{name}\" matches \"{}\", which has no linked identity",
                    user.username
                ),
            );
            Some(Found {
                user,
                by: MatchBy::Username,
                rebind: None,
                also_link: false,
            })
        } else {
            trace.note(
                Step::Match,
                format!("username \"{name}\" exists but is linked to a provider already; a username never takes over a linked account"),
            );
            None
        }
    }

    fn existing(
        &self,
        profile: &Profile,
        dir: &dyn DirectoryView,
        found: Found<'_>,
        rule_grants: &[Grant],
        resolution: &GroupResolution<'_>,
        mut trace: Trace,
    ) -> Outcome {
        let user = found.user;
        let mut view = UserView {
            id: Some(user.id.clone()),
            username: Some(user.username.clone()),
            email: user.email.clone(),
            email_verified: user.email_verified,
            display_name: user.display_name.clone(),
            avatar: user.avatar.clone(),
            quota: user.quota.clone(),
            is_admin: user.is_admin(),
            status: Some(user.status),
            source: Some(user.source),
        };
        match user.status {
            UserStatus::Disabled => return reject(RejectReason::AccountDisabled, view, trace),
            UserStatus::Pending => return reject(RejectReason::AwaitingApproval, view, trace),
            UserStatus::Active => {}
        }
        let p = &self.policy;
        let adopting = matches!(found.by, MatchBy::VerifiedEmail | MatchBy::Username);
        if adopting && p.auto_provision && !p.soft_auto_provision {
            trace.note(
                Step::Policy,
                "soft_auto_provision is off: accounts that exist outside this provider are not taken over",
            );
            let matched_by = match found.by {
                MatchBy::VerifiedEmail => "email",
                _ => "username",
            };
            return reject(
                RejectReason::ExistingAccountNotAdoptable {
                    matched_by: matched_by.into(),
                },
                view,
                trace,
            );
        }
        let current = ExternalIdentity {
            provider: self.provider.slug.clone(),
            issuer: Some(self.provider.issuer.clone()),
            subject: profile.subject.clone(),
        };
        let (decision, identity) = match (found.by, found.rebind) {
            (MatchBy::Subject, None) => (
                Decision::SignIn {
                    user_id: user.id.clone(),
                },
                found
                    .also_link
                    .then(|| IdentityChange::Create(current.clone())),
            ),
            (MatchBy::Subject, Some(previous)) => (
                Decision::SignIn {
                    user_id: user.id.clone(),
                },
                Some(IdentityChange::Rebind { previous, current }),
            ),
            (by, Some(previous)) => (
                Decision::Link {
                    user_id: user.id.clone(),
                    matched_by: by,
                },
                Some(IdentityChange::Rebind { previous, current }),
            ),
            (by, None) => (
                Decision::Link {
                    user_id: user.id.clone(),
                    matched_by: by,
                },
                Some(IdentityChange::Create(current)),
            ),
        };

        let mut changes = Changes {
            identity,
            ..Changes::default()
        };
        if p.auto_provision {
            changes.attributes = self.sync_attributes(profile, user, dir, &mut trace);
            let mut fields = AttributesMut {
                email: &mut view.email,
                email_verified: &mut view.email_verified,
                display_name: &mut view.display_name,
                avatar: &mut view.avatar,
                quota: &mut view.quota,
            };
            for c in &changes.attributes {
                c.apply(&mut fields);
            }
        } else {
            trace.note(
                Step::Attributes,
                "auto_provision is off: attributes are not updated from claims",
            );
        }

        let last_admin = user.is_admin() && dir.active_admin_count() <= 1;
        let plan = GrantPlan::from_existing(&user.grants, last_admin);
        let ctx = AssignContext {
            provider: &self.provider.slug,
            profile,
            existing: Some(user),
            username: &user.username,
            first_login: false,
            directory: dir,
            rule_grants,
            groups: resolution,
        };
        let diff = match self.run_assigners(&ctx, plan, &mut trace) {
            Ok(d) => d,
            Err(r) => return reject(r, view, trace),
        };
        view.is_admin = diff.grants.iter().any(|g| g.kind == GrantKind::Admin);
        changes.grants = diff;
        changes.create_groups = resolution.create.clone();
        trace.note(
            Step::Decision,
            match &decision {
                Decision::SignIn { .. } => format!("sign in as \"{}\"", user.username),
                _ => format!("link this identity to \"{}\" and sign in", user.username),
            },
        );
        Outcome {
            decision,
            allow_session: true,
            user: view,
            changes,
            trace,
        }
    }

    fn sync_attributes(
        &self,
        profile: &Profile,
        user: &ExistingUser,
        dir: &dyn DirectoryView,
        trace: &mut Trace,
    ) -> Vec<AttributeChange> {
        let s = self.policy.sync_attributes;
        let mut out = Vec::new();
        let mut set = |field: Attribute,
                       on: bool,
                       from: Option<&String>,
                       to: Option<&String>,
                       trace: &mut Trace| {
            let Some(to) = to else { return };
            if !on || from == Some(to) {
                return;
            }
            let shown = from.map_or_else(|| "none".to_owned(), |f| format!("\"{f}\""));
            trace.note(Step::Attributes, format!("{field}: {shown} → \"{to}\""));
            out.push(AttributeChange {
                field,
                from: from.cloned(),
                to: Some(to.clone()),
            });
        };
        if s.email
            && let Some(email) = &profile.email
        {
            let same = user
                .email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(email));
            let verified = |v: bool| Some(v.to_string());
            if same {
                // The provider now vouches for the address the account already has.
                if profile.email_verified && !user.email_verified {
                    set(
                        Attribute::EmailVerified,
                        true,
                        verified(false).as_ref(),
                        verified(true).as_ref(),
                        trace,
                    );
                }
            } else if dir
                .find_by_email(email)
                .into_iter()
                .any(|u| u.id != user.id)
                && self.policy.email_conflict == EmailConflict::Reject
            {
                trace.note(
                    Step::Attributes,
                    format!("email not changed to {email}: another account uses it"),
                );
            } else {
                set(
                    Attribute::Email,
                    true,
                    user.email.as_ref(),
                    Some(email),
                    trace,
                );
                if user.email_verified != profile.email_verified {
                    set(
                        Attribute::EmailVerified,
                        true,
                        verified(user.email_verified).as_ref(),
                        verified(profile.email_verified).as_ref(),
                        trace,
                    );
                }
            }
        }
        set(
            Attribute::DisplayName,
            s.display_name,
            user.display_name.as_ref(),
            profile.display_name.as_ref(),
            trace,
        );
        set(
            Attribute::Avatar,
            s.avatar,
            user.avatar.as_ref(),
            profile.avatar.as_ref(),
            trace,
        );
        set(
            Attribute::Quota,
            s.quota,
            user.quota.as_ref(),
            profile.quota.as_ref(),
            trace,
        );
        out
    }

    fn provision(
        &self,
        profile: &Profile,
        dir: &dyn DirectoryView,
        rule_grants: &[Grant],
        resolution: &GroupResolution<'_>,
        mapped: UserView,
        mut trace: Trace,
    ) -> Outcome {
        let p = &self.policy;
        if !p.auto_provision {
            trace.note(Step::Policy, "no account matches and auto_provision is off");
            return reject(RejectReason::AutoProvisioningDisabled, mapped, trace);
        }
        if p.disable_account_creation {
            trace.note(
                Step::Policy,
                "no account matches and disable_account_creation is on",
            );
            return reject(RejectReason::AccountCreationDisabled, mapped, trace);
        }
        // Under unique_user_ids one person has one account per provider by design, so a
        // shared email is expected there and not a conflict.
        if let Some(email) = &profile.email
            && p.email_conflict == EmailConflict::Reject
            && !p.unique_user_ids
            && !dir.find_by_email(email).is_empty()
        {
            trace.note(
                Step::Policy,
                format!("another account already uses {email} and email_conflict = reject"),
            );
            return reject(
                RejectReason::EmailInUse {
                    email: email.clone(),
                },
                mapped,
                trace,
            );
        }

        let ctx = CreateContext {
            provider: &self.provider.slug,
            profile,
            directory: dir,
        };
        // Custom creators first, in order; the policy's own creator is the fallback, and
        // it always decides (an account, or a reason to refuse).
        let mut account = None;
        for creator in &self.creators {
            match creator.create(&ctx, &mut trace) {
                Ok(Some(a)) => {
                    trace.note(
                        Step::Username,
                        format!(
                            "identity creator \"{}\" creates \"{}\"",
                            creator.name(),
                            a.username
                        ),
                    );
                    account = Some(a);
                    break;
                }
                Ok(None) => trace.note(
                    Step::Username,
                    format!("identity creator \"{}\" passed", creator.name()),
                ),
                Err(r) => return reject(r, mapped, trace),
            }
        }
        let account = match account {
            Some(a) => a,
            None => match (PolicyCreator { engine: self }).make(&ctx, &mut trace) {
                Ok(a) => {
                    trace.note(
                        Step::Username,
                        format!("identity creator \"policy\" creates \"{}\"", a.username),
                    );
                    a
                }
                Err(r) => return reject(r, mapped, trace),
            },
        };

        let ctx = AssignContext {
            provider: &self.provider.slug,
            profile,
            existing: None,
            username: &account.username,
            first_login: true,
            directory: dir,
            rule_grants,
            groups: resolution,
        };
        let mut view = UserView {
            id: None,
            username: Some(account.username.clone()),
            email: account.email.clone(),
            email_verified: account.email_verified,
            display_name: account.display_name.clone(),
            avatar: account.avatar.clone(),
            quota: account.quota.clone(),
            is_admin: false,
            status: Some(account.status),
            source: Some(account.source),
        };
        let diff = match self.run_assigners(&ctx, GrantPlan::default(), &mut trace) {
            Ok(d) => d,
            Err(r) => return reject(r, view, trace),
        };
        view.is_admin = diff.grants.iter().any(|g| g.kind == GrantKind::Admin);
        let pending = account.status == UserStatus::Pending;
        trace.note(
            Step::Decision,
            if pending {
                format!("provision \"{}\" as pending: an administrator must approve it before it can sign in", account.username)
            } else {
                format!("provision \"{}\" and sign in", account.username)
            },
        );
        let changes = Changes {
            identity: Some(IdentityChange::Create(ExternalIdentity {
                provider: self.provider.slug.clone(),
                issuer: Some(self.provider.issuer.clone()),
                subject: profile.subject.clone(),
            })),
            attributes: Vec::new(),
            create_groups: resolution.create.clone(),
            grants: diff,
        };
        Outcome {
            decision: Decision::Provision { account },
            allow_session: !pending,
            user: view,
            changes,
            trace,
        }
    }

    fn run_assigners(
        &self,
        ctx: &AssignContext<'_>,
        mut plan: GrantPlan,
        trace: &mut Trace,
    ) -> Result<GrantDiff, RejectReason> {
        let builtin = PolicyAssignments { engine: self };
        let chain = std::iter::once(&builtin as &dyn AssignmentProvider)
            .chain(self.assigners.iter().map(|a| a.as_ref()));
        for a in chain {
            let result = a.assign(ctx, &mut plan, trace);
            plan.flush(trace);
            result.map_err(|AssignmentError(message)| {
                trace.note(
                    Step::Assign,
                    format!("assignment provider \"{}\" failed: {message}", a.name()),
                );
                RejectReason::AssignmentFailed {
                    provider: a.name().to_owned(),
                    message,
                }
            })?;
        }
        Ok(plan.finish())
    }

    fn admin_by_domain(&self, profile: &Profile, trace: &mut Trace) -> bool {
        if self.admin_domains.is_empty() {
            return false;
        }
        let Some(email) = &profile.email else {
            return false;
        };
        let Some((_, domain)) = email.rsplit_once('@') else {
            return false;
        };
        let domain = domain.to_ascii_lowercase();
        let hit = self.admin_domains.iter().find(|d| {
            domain == **d
                || (self.policy.admin_email_subdomains && domain.ends_with(&format!(".{d}")))
        });
        match (hit, profile.email_verified) {
            (Some(d), true) => {
                trace.note(
                    Step::Grants,
                    format!("email domain {domain} is in admin_email_domains ({d}): admin"),
                );
                true
            }
            (Some(_), false) => {
                trace.note(Step::Grants, format!("email domain {domain} is an admin domain, but the email is not verified: not admin"));
                false
            }
            (None, _) => {
                trace.note(
                    Step::Grants,
                    format!("email domain {domain} is not an admin domain"),
                );
                false
            }
        }
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

/// The policy's identity creator: username derivation, sanitising, collisions.
struct PolicyCreator<'e> {
    engine: &'e Engine,
}

impl PolicyCreator<'_> {
    fn make(&self, ctx: &CreateContext<'_>, trace: &mut Trace) -> Result<NewAccount, RejectReason> {
        let p = &self.engine.policy;
        let profile = ctx.profile;
        let username = if p.unique_user_ids {
            let id = username::subject_hash(ctx.provider, &profile.subject);
            trace.note(
                Step::Username,
                format!("unique_user_ids: username is SHA-256(provider, subject) = {id}"),
            );
            if ctx.directory.username_taken(&id) {
                return Err(RejectReason::UsernameConflict { username: id });
            }
            id
        } else {
            let base = self
                .base_username(profile, trace)
                .ok_or(RejectReason::NoUsername)?;
            let taken = |n: &str| ctx.directory.username_taken(n);
            match username::resolve_collision(
                &base,
                &p.username,
                ctx.provider,
                &profile.subject,
                &taken,
            ) {
                Ok(name) => {
                    if name != base {
                        trace.note(
                            Step::Username,
                            format!(
                                "\"{base}\" is taken; {:?} strategy gives \"{name}\"",
                                p.username.collision
                            ),
                        );
                    }
                    name
                }
                Err(CollisionError::Taken(u) | CollisionError::Exhausted(u)) => {
                    trace.note(
                        Step::Username,
                        format!(
                            "\"{u}\" is taken and cannot be resolved ({:?})",
                            p.username.collision
                        ),
                    );
                    return Err(RejectReason::UsernameConflict { username: u });
                }
            }
        };
        Ok(NewAccount {
            username,
            email: profile.email.clone(),
            email_verified: profile.email_verified,
            display_name: profile.display_name.clone(),
            avatar: profile.avatar.clone(),
            quota: profile.quota.clone(),
            status: if p.require_approval {
                UserStatus::Pending
            } else {
                UserStatus::Active
            },
            source: UserSource::Provider,
        })
    }
}

impl PolicyCreator<'_> {
    fn base_username(&self, profile: &Profile, trace: &mut Trace) -> Option<String> {
        let up = &self.engine.policy.username;
        if let Some(raw) = &profile.username {
            if let Some(name) = username::sanitize(raw, up) {
                trace.note(
                    Step::Username,
                    format!("username \"{raw}\" sanitised to \"{name}\""),
                );
                return Some(name);
            }
            trace.note(
                Step::Username,
                format!("username \"{raw}\" has no usable characters"),
            );
        }
        let (what, raw) = match up.fallback {
            UsernameFallback::EmailPrefix => (
                "email prefix",
                profile
                    .email
                    .as_ref()
                    .and_then(|e| e.rsplit_once('@'))
                    .map(|(l, _)| l.to_owned()),
            ),
            UsernameFallback::Subject => ("subject", Some(profile.subject.clone())),
            UsernameFallback::None => {
                trace.note(
                    Step::Username,
                    "no username claim and no fallback configured",
                );
                return None;
            }
        };
        let name = raw.as_deref().and_then(|r| username::sanitize(r, up));
        match &name {
            Some(n) => trace.note(Step::Username, format!("fallback to the {what}: \"{n}\"")),
            None => trace.note(
                Step::Username,
                format!("fallback to the {what} gives nothing usable"),
            ),
        }
        name
    }
}

/// The policy's assignment provider: defaults, required permissions, rules, group sync.
struct PolicyAssignments<'e> {
    engine: &'e Engine,
}

impl AssignmentProvider for PolicyAssignments<'_> {
    fn name(&self) -> &str {
        "policy"
    }

    fn assign(
        &self,
        ctx: &AssignContext<'_>,
        plan: &mut GrantPlan,
        trace: &mut Trace,
    ) -> Result<(), AssignmentError> {
        let e = self.engine;
        let p = &e.policy;
        let dir = ctx.directory;
        let library_exists = |n: &str| dir.libraries().iter().any(|l| l.name == n);
        let group_exists = |n: &str| {
            dir.groups().iter().any(|g| g.name == n) || ctx.groups.create.iter().any(|c| c == n)
        };

        for required in e.permissions.iter().filter(|x| x.required) {
            if !plan.has(GrantKind::Permission, &required.name) {
                trace.note(
                    Step::Grants,
                    format!(
                        "required permission \"{}\" is always granted",
                        required.name
                    ),
                );
                plan.grant(
                    GrantKind::Permission,
                    &required.name,
                    GrantSource::Default,
                    trace,
                );
            }
        }
        if ctx.first_login {
            for name in &p.default_permissions {
                plan.grant(GrantKind::Permission, name, GrantSource::Default, trace);
            }
            for name in &p.default_libraries {
                if library_exists(name) {
                    plan.grant(GrantKind::Library, name, GrantSource::Default, trace);
                } else {
                    trace.note(Step::Grants, format!("default library \"{name}\" does not exist; skipped (check the provisioning defaults)"));
                }
            }
            for name in &p.default_groups {
                if group_exists(name) {
                    plan.grant(GrantKind::Group, name, GrantSource::Default, trace);
                } else {
                    trace.note(Step::Grants, format!("default group \"{name}\" does not exist; skipped (check the provisioning defaults)"));
                }
            }
            if e.admin_by_domain(ctx.profile, trace) {
                plan.grant(GrantKind::Admin, "admin", GrantSource::Default, trace);
            }
        } else {
            trace.note(
                Step::Grants,
                "not a first login: defaults are not re-applied, per-user changes stand",
            );
        }

        plan.flush(trace);
        // Rules are re-evaluated at every login: they add what holds now and remove the
        // rule-given grants that no longer hold.
        for g in ctx.rule_grants {
            let exists = match g.kind {
                GrantKind::Library => library_exists(&g.name),
                GrantKind::Group => group_exists(&g.name),
                GrantKind::Permission | GrantKind::Admin => true,
            };
            if exists {
                plan.grant(g.kind, &g.name, GrantSource::Rule, trace);
            } else {
                trace.note(
                    Step::Grants,
                    format!(
                        "rule grants {} \"{}\", which does not exist; skipped",
                        g.kind, g.name
                    ),
                );
            }
        }
        for kind in [
            GrantKind::Permission,
            GrantKind::Library,
            GrantKind::Group,
            GrantKind::Admin,
        ] {
            for name in plan.names_from(kind, GrantSource::Rule) {
                if !ctx
                    .rule_grants
                    .iter()
                    .any(|g| g.kind == kind && g.name == name)
                {
                    plan.revoke(kind, &name, "no rule grants it any more", trace);
                }
            }
        }

        plan.flush(trace);
        // Group sync.
        let r = ctx.groups;
        if r.sync {
            for name in r
                .matched
                .iter()
                .copied()
                .chain(r.create.iter().map(String::as_str))
            {
                plan.grant(GrantKind::Group, name, GrantSource::Provider, trace);
            }
            if p.groups.remove_unmatched && !ctx.first_login {
                let kept: HashSet<&str> = r
                    .matched
                    .iter()
                    .copied()
                    .chain(r.create.iter().chain(&p.default_groups).map(String::as_str))
                    .collect();
                let stale: Vec<String> = plan
                    .of_kind(GrantKind::Group)
                    .into_iter()
                    .filter(|(name, source)| {
                        let removable = match source {
                            GrantSource::Provider => true,
                            GrantSource::Default | GrantSource::Import => !p.groups.preserve_manual,
                            GrantSource::Rule | GrantSource::Admin => false,
                        };
                        removable && !kept.contains(name)
                    })
                    .map(|(name, _)| name.to_owned())
                    .collect();
                for name in stale {
                    if let Some(re) = &e.allow_regex
                        && !re.is_match(&name)
                    {
                        trace.note(
                            Step::Groups,
                            format!("membership of \"{name}\" kept: outside allow_regex, so not managed by sync"),
                        );
                        continue;
                    }
                    plan.revoke(
                        GrantKind::Group,
                        &name,
                        "not in the groups claim (remove_unmatched)",
                        trace,
                    );
                }
            }
        }
        Ok(())
    }
}
