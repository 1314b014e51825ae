//! Finding the account a sign-in is for: subject, external id, verified email,
//! username, in the order `match_by` says.

use super::*;

impl Engine {
    pub(super) fn find_account<'d>(
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
        // An account Nextcloud made for this person has the id only this identity gives.
        if let Some(ids) = &self.policy.nextcloud_user_ids {
            let id = username::nextcloud_user_id(ids, slug, sub);
            if let Some(user) = dir
                .find_by_username(&id)
                .filter(|u| u.identity_at(slug).is_none())
            {
                trace.note(
                    Step::Match,
                    format!("\"{id}\" is the Nextcloud user id of this identity: the account moved from Nextcloud"),
                );
                return Some(Found {
                    user,
                    by: MatchBy::Username,
                    rebind: None,
                    also_link: false,
                });
            }
        }
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

    pub(super) fn match_external_id<'d>(
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

    pub(super) fn match_email<'d>(
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

    pub(super) fn match_username<'d>(
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
}
