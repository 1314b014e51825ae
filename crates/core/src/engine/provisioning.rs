//! A new account: the identity creator, defaults, rules, admin by domain, and the
//! assignment providers (the policy's own and any an embedder added).

use super::*;

impl Engine {
    pub(super) fn provision(
        &self,
        profile: &Profile,
        dir: &dyn DirectoryView,
        granted: &Granted,
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
            rule_grants: &granted.grants,
            revokes: &granted.revokes,
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
        let diff = match self.run_assigners(
            &ctx,
            GrantPlan::with_room(self.room(granted, resolution)),
            &mut trace,
        ) {
            Ok(d) => d,
            Err(r) => return reject(r, view, trace),
        };
        view.is_admin = diff.grants().any(|g| g.kind == GrantKind::Admin);
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
            external_id: self.external_id_to_record(profile, dir, None, &mut trace),
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

    /// How many grants a login may add: defaults, rules and hooks, the groups claim.
    pub(super) fn room(&self, granted: &Granted, groups: &GroupResolution<'_>) -> usize {
        let p = &self.policy;
        [
            granted.grants.len(),
            groups.matched.len(),
            groups.create.len(),
            p.default_permissions.len(),
            p.default_libraries.len(),
            p.default_groups.len(),
            self.permissions.iter().filter(|x| x.required).count(),
        ]
        .into_iter()
        .fold(0, usize::saturating_add)
    }

    pub(super) fn run_assigners(
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

    pub(super) fn admin_by_domain(&self, profile: &Profile, trace: &mut Trace) -> bool {
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

/// The policy's identity creator: username derivation, sanitising, collisions.
struct PolicyCreator<'e> {
    engine: &'e Engine,
}

impl PolicyCreator<'_> {
    fn make(&self, ctx: &CreateContext<'_>, trace: &mut Trace) -> Result<NewAccount, RejectReason> {
        let p = &self.engine.policy;
        let profile = ctx.profile;
        let username = if let Some(ids) = &p.nextcloud_user_ids {
            let id = username::nextcloud_user_id(ids, ctx.provider, &profile.subject);
            trace.note(
                Step::Username,
                format!(
                    "nextcloud_user_ids ({:?}): username is Nextcloud's user id \"{id}\"",
                    ids.mode
                ),
            );
            if ctx.directory.username_taken(&id) {
                return Err(RejectReason::UsernameConflict { username: id });
            }
            id
        } else if p.unique_user_ids {
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
        let email_prefix = || {
            profile
                .email
                .as_ref()
                .and_then(|e| e.rsplit_once('@'))
                .map(|(l, _)| l.to_owned())
        };
        if up.source == UsernameSource::EmailPrefix {
            match email_prefix().and_then(|raw| username::sanitize(&raw, up)) {
                Some(name) => {
                    trace.note(
                        Step::Username,
                        format!(
                            "username from the email's prefix (source = email_prefix): \"{name}\""
                        ),
                    );
                    return Some(name);
                }
                None => trace.note(
                    Step::Username,
                    "source = email_prefix, but there is no usable email",
                ),
            }
        } else if let Some(raw) = &profile.username {
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
            UsernameFallback::EmailPrefix => ("email prefix", email_prefix()),
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
        let group_exists =
            |n: &str| dir.group_exists(n) || ctx.groups.create.iter().any(|c| c == n);

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
                plan.grant_ruled(g.kind, &g.name, GrantSource::Rule, trace);
            } else {
                plan.rule_names(g.kind, &g.name);
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
            for name in plan.no_longer_ruled(kind) {
                plan.revoke(kind, &name, "no rule grants it any more", trace);
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
                plan.grant_kept(GrantKind::Group, name, GrantSource::Provider, trace);
            }
            if p.groups.remove_unmatched && !ctx.first_login {
                for name in &p.default_groups {
                    plan.keep(GrantKind::Group, name);
                }
                let stale: Vec<String> = plan
                    .not_kept(GrantKind::Group)
                    .into_iter()
                    .filter(|(_, source)| match source {
                        GrantSource::Provider => true,
                        GrantSource::Default | GrantSource::Import => !p.groups.preserve_manual,
                        GrantSource::Rule | GrantSource::Admin | GrantSource::Scim => false,
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
        plan.flush(trace);
        // Provisioning hooks have the last word on what this sign-in holds, within the
        // plan's limits (never an administrator's grant, never the last admin).
        for g in ctx.revokes {
            let required = g.kind == GrantKind::Permission
                && e.permissions.iter().any(|x| x.required && x.name == g.name);
            if required {
                trace.note(
                    Step::Grants,
                    format!("a hook asked to remove required permission \"{}\"; required permissions stay", g.name),
                );
            } else if plan.has(g.kind, &g.name) {
                plan.revoke(g.kind, &g.name, "a provisioning hook takes it away", trace);
            }
        }
        Ok(())
    }
}
