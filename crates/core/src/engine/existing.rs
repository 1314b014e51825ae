//! An account that exists: status, adoption, re-binding, attributes kept in sync.

use super::*;

impl Engine {
    pub(super) fn existing(
        &self,
        profile: &Profile,
        dir: &dyn DirectoryView,
        found: Found<'_>,
        granted: &Granted,
        resolution: &GroupResolution<'_>,
        mut trace: Trace,
    ) -> Outcome {
        let user = found.user;
        let mut view = UserView {
            id: Some(user.id),
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
                Decision::SignIn { user_id: user.id },
                found
                    .also_link
                    .then(|| IdentityChange::Create(current.clone())),
            ),
            (MatchBy::Subject, Some(previous)) => (
                Decision::SignIn { user_id: user.id },
                Some(IdentityChange::Rebind { previous, current }),
            ),
            (by, Some(previous)) => (
                Decision::Link {
                    user_id: user.id,
                    matched_by: by,
                },
                Some(IdentityChange::Rebind { previous, current }),
            ),
            (by, None) => (
                Decision::Link {
                    user_id: user.id,
                    matched_by: by,
                },
                Some(IdentityChange::Create(current)),
            ),
        };

        let mut changes = Changes {
            identity,
            external_id: self.external_id_to_record(profile, dir, Some(user), &mut trace),
            ..Changes::default()
        };
        // With auto_provision off a sign-in only authenticates, unless asked to sync.
        let sync = p.auto_provision || p.sync_without_provisioning;
        if sync {
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
                "auto_provision is off: the sign-in only authenticates; attributes and grants are left as they are (sync_without_provisioning keeps them in sync)",
            );
            view.is_admin = user.is_admin();
            let mut kept = user.grants.clone();
            kept.sort_unstable_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
            changes.grants = GrantDiff {
                kept,
                ..GrantDiff::default()
            };
            trace.note(
                Step::Decision,
                match &decision {
                    Decision::SignIn { .. } => format!("sign in as \"{}\"", user.username),
                    _ => format!("link this identity to \"{}\" and sign in", user.username),
                },
            );
            return Outcome {
                decision,
                allow_session: true,
                user: view,
                changes,
                trace,
            };
        }

        let last_admin = user.is_admin() && dir.active_admin_count() <= 1;
        let plan =
            GrantPlan::from_existing(&user.grants, last_admin, self.room(granted, resolution));
        let ctx = AssignContext {
            provider: &self.provider.slug,
            profile,
            existing: Some(user),
            username: &user.username,
            first_login: false,
            directory: dir,
            rule_grants: &granted.grants,
            revokes: &granted.revokes,
            groups: resolution,
        };
        let diff = match self.run_assigners(&ctx, plan, &mut trace) {
            Ok(d) => d,
            Err(r) => return reject(r, view, trace),
        };
        view.is_admin = diff.grants().any(|g| g.kind == GrantKind::Admin);
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

    /// The external id to record for the account (`user`, or the one being created):
    /// the claim's value when it differs from what is stored and no other account holds
    /// it at this provider.
    pub(super) fn external_id_to_record(
        &self,
        profile: &Profile,
        dir: &dyn DirectoryView,
        user: Option<&ExistingUser>,
        trace: &mut Trace,
    ) -> Option<String> {
        let value = profile.external_id.as_ref()?;
        let slug = &self.provider.slug;
        if user.and_then(|u| u.external_ids.get(slug)) == Some(value) {
            return None;
        }
        if let Some(other) = dir.find_by_external_id(slug, value)
            && user.is_none_or(|u| u.id != other.id)
        {
            trace.note(
                Step::Match,
                format!(
                    "external authentication id \"{value}\" belongs to \"{}\"; not recorded for this account",
                    other.username
                ),
            );
            return None;
        }
        trace.note(
            Step::Attributes,
            format!("external authentication id at {slug} recorded: \"{value}\""),
        );
        Some(value.clone())
    }

    pub(super) fn sync_attributes(
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
}
