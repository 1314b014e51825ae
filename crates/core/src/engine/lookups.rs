//! What a decision will look up in the directory, known before it runs, so a store can
//! fetch it all at once (one query instead of a round trip per lookup). Derived from the
//! claims with the engine's own rules (the username sanitised as matching and
//! provisioning do), so it cannot drift from what the decision asks.

use super::*;

/// The keys a decision will ask the directory for.
#[derive(Debug, Clone, Default)]
pub struct Lookups {
    pub provider: String,
    pub subject: Option<String>,
    /// The provider's issuer and its aliases.
    pub issuers: Vec<String>,
    pub external_id: Option<String>,
    pub email: Option<String>,
    /// Candidate usernames: the username claim and the email's local part, sanitised.
    pub usernames: Vec<String>,
}

impl Engine {
    /// What deciding on these mapped claims will look up.
    pub fn lookups(&self, mapped: &Mapped<'_>) -> Lookups {
        let provider = &self.provider;
        let Ok(profile) = &mapped.profile else {
            return Lookups {
                provider: provider.slug.clone(),
                ..Lookups::default()
            };
        };
        let up = &self.policy.username;
        let mut usernames: Vec<String> = [
            profile
                .username
                .as_deref()
                .and_then(|u| username::sanitize(u, up)),
            profile
                .email
                .as_deref()
                .and_then(|e| e.rsplit_once('@'))
                .and_then(|(l, _)| username::sanitize(l, up)),
        ]
        .into_iter()
        .flatten()
        .collect();
        if let Some(ids) = &self.policy.nextcloud_user_ids {
            usernames.push(username::nextcloud_user_id(
                ids,
                &provider.slug,
                &profile.subject,
            ));
        }
        usernames.dedup();
        Lookups {
            provider: provider.slug.clone(),
            subject: Some(profile.subject.clone()),
            issuers: std::iter::once(provider.issuer.clone())
                .chain(provider.issuer_aliases.iter().cloned())
                .collect(),
            external_id: profile.external_id.clone(),
            email: profile.email.clone(),
            usernames,
        }
    }
}
