//! The events ssogate tells the outside about (webhooks): their names, and which of them
//! a sign-in decision implies. Each is written by the directory in the transaction that
//! makes the change, so an event is never sent for a change that did not happen, nor lost
//! for one that did.

use crate::decision::{Decision, Outcome};
use crate::domain::UserStatus;

/// An event a webhook endpoint can subscribe to. The names are the wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// An account was created: by a first sign-in, an administrator or an import.
    UserProvisioned,
    /// An account's profile changed (claims at sign-in, an administrator).
    UserUpdated,
    UserDisabled,
    /// An account became active again: enabled, or approved.
    UserEnabled,
    UserDeleted,
    /// Permissions, libraries, groups or the administrator role changed.
    GrantsChanged,
    /// An account was created waiting for an administrator's approval.
    ApprovalNeeded,
}

impl EventType {
    pub const ALL: [EventType; 7] = [
        EventType::UserProvisioned,
        EventType::UserUpdated,
        EventType::UserDisabled,
        EventType::UserEnabled,
        EventType::UserDeleted,
        EventType::GrantsChanged,
        EventType::ApprovalNeeded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::UserProvisioned => "user.provisioned",
            EventType::UserUpdated => "user.updated",
            EventType::UserDisabled => "user.disabled",
            EventType::UserEnabled => "user.enabled",
            EventType::UserDeleted => "user.deleted",
            EventType::GrantsChanged => "grants.changed",
            EventType::ApprovalNeeded => "approval.needed",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// The event a change of status from `from` to `to` is, if any.
    pub fn of_status(from: UserStatus, to: UserStatus) -> Option<EventType> {
        match (from, to) {
            (a, b) if a == b => None,
            (_, UserStatus::Disabled) => Some(EventType::UserDisabled),
            (_, UserStatus::Active) => Some(EventType::UserEnabled),
            (_, UserStatus::Pending) => Some(EventType::ApprovalNeeded),
        }
    }

    /// The events a sign-in decision implies once written: none for a refusal or a
    /// sign-in that changed nothing.
    pub fn of_login(outcome: &Outcome) -> Vec<EventType> {
        let c = &outcome.changes;
        let mut out = Vec::new();
        match &outcome.decision {
            Decision::Reject(_) => return out,
            Decision::Provision { account } => {
                out.push(EventType::UserProvisioned);
                if account.status == UserStatus::Pending {
                    out.push(EventType::ApprovalNeeded);
                }
                // The grants an account starts with are part of its provisioning.
                return out;
            }
            Decision::SignIn { .. } | Decision::Link { .. } => {}
        }
        if !c.attributes.is_empty() || c.external_id.is_some() || c.identity.is_some() {
            out.push(EventType::UserUpdated);
        }
        if !c.grants.added.is_empty() || !c.grants.removed.is_empty() {
            out.push(EventType::GrantsChanged);
        }
        out
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an endpoint subscribes to: everything, or a list of events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    All,
    Only(Vec<EventType>),
}

/// What to say of a name that is no event: the names there are.
pub fn unknown_event(name: &str) -> String {
    let known: Vec<&str> = EventType::ALL.iter().map(|e| e.as_str()).collect();
    format!(
        "unknown event `{name}`: use * or some of {}",
        known.join(", ")
    )
}

impl Subscription {
    /// `*` (or nothing) for all, else event names separated by commas or spaces. Every
    /// name is checked, also beside a `*` (which then makes it all).
    pub fn parse(s: &str) -> Result<Subscription, String> {
        let names: Vec<&str> = s
            .split([',', ' '])
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect();
        let mut out = Vec::new();
        for n in names.iter().copied().filter(|n| *n != "*") {
            let e = EventType::parse(n).ok_or_else(|| unknown_event(n))?;
            if !out.contains(&e) {
                out.push(e);
            }
        }
        if names.is_empty() || names.contains(&"*") {
            return Ok(Subscription::All);
        }
        Ok(Subscription::Only(out))
    }

    pub fn includes(&self, e: EventType) -> bool {
        match self {
            Subscription::All => true,
            Subscription::Only(list) => list.contains(&e),
        }
    }

    /// As stored: `*`, or `,a,b,` (so one event is found with `LIKE '%,name,%'`).
    pub fn stored(&self) -> String {
        match self {
            Subscription::All => "*".into(),
            Subscription::Only(list) => {
                let names: Vec<&str> = list.iter().map(|e| e.as_str()).collect();
                format!(",{},", names.join(","))
            }
        }
    }

    /// For people: `*` or `a, b`.
    pub fn describe(&self) -> String {
        match self {
            Subscription::All => "*".into(),
            Subscription::Only(list) => {
                let names: Vec<&str> = list.iter().map(|e| e.as_str()).collect();
                names.join(", ")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_parse_store_and_refuse_unknown_events() {
        assert_eq!(Subscription::parse(" * ").unwrap(), Subscription::All);
        assert_eq!(Subscription::parse("").unwrap(), Subscription::All);
        let s = Subscription::parse("user.deleted, user.disabled user.deleted").unwrap();
        assert_eq!(s.stored(), ",user.deleted,user.disabled,");
        assert!(s.includes(EventType::UserDisabled));
        assert!(!s.includes(EventType::UserProvisioned));
        let e = Subscription::parse("user.removed").unwrap_err();
        assert!(
            e.contains("user.removed") && e.contains("user.deleted"),
            "{e}"
        );
        // `*` among names is all of them; a misspelt name beside it is still refused.
        assert_eq!(
            Subscription::parse("user.deleted, *").unwrap(),
            Subscription::All
        );
        let e = Subscription::parse("*, user.removed").unwrap_err();
        assert!(e.contains("user.removed"), "{e}");
    }

    #[test]
    fn status_changes_are_events_and_staying_put_is_none() {
        use UserStatus::*;
        assert_eq!(EventType::of_status(Active, Active), None);
        assert_eq!(
            EventType::of_status(Active, Disabled),
            Some(EventType::UserDisabled)
        );
        assert_eq!(
            EventType::of_status(Pending, Active),
            Some(EventType::UserEnabled)
        );
        assert_eq!(
            EventType::of_status(Disabled, Active),
            Some(EventType::UserEnabled)
        );
    }
}
