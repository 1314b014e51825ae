//! Provisioning hooks' answers: LiveCycle's `IdentityCreator` and `AssignmentProvider`
//! chosen at run time. An operator's endpoint sees the proposed decision and answers with
//! attribute changes, grants to add or take away, or a denial; the engine applies the
//! answers like rules, so they are explained in the trace and re-evaluated at every
//! sign-in. Calling the endpoint (HTTP, signatures, time limits) is the server's job:
//! this module only holds what came back.

use serde::{Deserialize, Serialize};

/// What one hook answered. Every field is optional: `{}` changes nothing and passes the
/// decision on to the next hook.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookAnswer {
    /// Refuse the sign-in, with this message for the person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny: Option<String>,
    #[serde(default, skip_serializing_if = "HookAttributes::is_empty")]
    pub attributes: HookAttributes,
    /// Grants this sign-in should have (on top of the policy's; re-evaluated every time,
    /// like a rule's, so what a hook stops giving is taken back).
    #[serde(default, skip_serializing_if = "HookGrants::is_empty")]
    pub grant: HookGrants,
    /// Grants this sign-in should not have. Never an administrator's grant, the last
    /// administrator's admin flag or a required permission.
    #[serde(default, skip_serializing_if = "HookGrants::is_empty")]
    pub revoke: HookGrants,
    /// Why, in the hook's words, for the trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Profile values a hook sets in place of the mapped claims.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookAttributes {
    /// For new accounts (an existing account keeps its username).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the hook vouches for `email`; unverified unless it says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<String>,
}

impl HookAttributes {
    pub fn is_empty(&self) -> bool {
        self == &HookAttributes::default()
    }
}

/// Permissions, libraries, groups and the admin flag, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookGrants {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub libraries: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub admin: bool,
}

impl HookGrants {
    pub fn is_empty(&self) -> bool {
        self == &HookGrants::default()
    }

    /// `kind name` pairs, for grants and traces.
    pub fn grants(&self, source: crate::domain::GrantSource) -> Vec<crate::domain::Grant> {
        use crate::domain::{Grant, GrantKind};
        let mut out = Vec::new();
        for (kind, list) in [
            (GrantKind::Permission, &self.permissions),
            (GrantKind::Library, &self.libraries),
            (GrantKind::Group, &self.groups),
        ] {
            out.extend(list.iter().map(|n| Grant::new(kind, n.clone(), source)));
        }
        if self.admin {
            out.push(Grant::new(GrantKind::Admin, "admin", source));
        }
        out
    }
}

/// One hook's part in a decision, in the order the chain ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookVerdict {
    Answered {
        hook: String,
        answer: Box<HookAnswer>,
    },
    /// The hook could not be asked or gave no usable answer.
    Failed {
        hook: String,
        error: String,
        /// The operator's choice for this hook: the decision stands without it (`true`)
        /// or the sign-in is refused (`false`, the default).
        fail_open: bool,
    },
}

impl HookVerdict {
    pub fn hook(&self) -> &str {
        match self {
            HookVerdict::Answered { hook, .. } | HookVerdict::Failed { hook, .. } => hook,
        }
    }
}

/// Where ssogate may send hooks and webhooks: `https://…`, or `http://` to a loopback
/// host (a receiver beside it). Plain HTTP elsewhere would carry accounts in the clear.
pub fn url_allowed(url: &str) -> bool {
    if url.starts_with("https://") && url.len() > "https://".len() {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
