//! What the directory already knows, as the engine sees it: a read-only view.
//!
//! The engine never performs I/O; whoever calls it (the store, the dry-run command, a
//! test) answers these lookups, typically from rows fetched before the call.

use crate::domain::{
    ExternalIdentity, Grant, GrantKind, Group, Library, UserId, UserSource, UserStatus,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An account that exists already, with everything the engine may look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExistingUser {
    /// The id in the directory; in files, given or numbered in order.
    #[serde(default)]
    pub id: UserId,
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    /// Whether this account's own email was verified (an attacker must not be able to
    /// pre-register a victim's address locally and have it linked).
    #[serde(default)]
    pub email_verified: bool,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub avatar: Option<String>,
    #[serde(default)]
    pub quota: Option<String>,
    #[serde(default)]
    pub status: UserStatus,
    #[serde(default)]
    pub source: UserSource,
    #[serde(default)]
    pub has_password: bool,
    #[serde(default)]
    pub identities: Vec<ExternalIdentity>,
    /// BookStack's "External Authentication ID", per provider slug.
    #[serde(default)]
    pub external_ids: BTreeMap<String, String>,
    /// Every grant with its source; admin is a grant of kind `admin`.
    #[serde(default)]
    pub grants: Vec<Grant>,
}

impl ExistingUser {
    pub fn is_admin(&self) -> bool {
        self.grants.iter().any(|g| g.kind == GrantKind::Admin)
    }

    /// The identity this account has at `provider`, if any.
    pub fn identity_at(&self, provider: &str) -> Option<&ExternalIdentity> {
        self.identities.iter().find(|i| i.provider == provider)
    }
}

/// Read-only lookups the engine needs. Email and username comparisons are
/// case-insensitive.
/// The groups one provider group names: almost always one or none, so kept inline (a
/// login asks once per claimed group).
pub type GroupMatches<'a> = smallvec::SmallVec<[&'a Group; 2]>;

use std::hash::BuildHasher as _;

/// Groups by exact name, so asking whether a group exists does not compare every name
/// (a rule granting groups asks once per grant). Holds positions, not names: it costs
/// no allocation per group.
#[derive(Debug, Clone, Default)]
struct GroupNames {
    table: hashbrown::HashTable<usize>,
    state: foldhash::fast::RandomState,
}

impl GroupNames {
    /// Records `groups[i]`, just pushed.
    fn added(&mut self, groups: &[Group], i: usize) {
        let Some(g) = groups.get(i) else { return };
        let state = &self.state;
        let hash = |j: &usize| {
            groups
                .get(*j)
                .map_or(0, |g| state.hash_one(g.name.as_str()))
        };
        self.table
            .insert_unique(state.hash_one(g.name.as_str()), i, hash);
    }

    fn get<'g>(&self, groups: &'g [Group], name: &str) -> Option<&'g Group> {
        self.table
            .find(self.state.hash_one(name), |&i| {
                groups.get(i).is_some_and(|g| g.name == name)
            })
            .and_then(|&i| groups.get(i))
    }
}

/// A directory's groups with the two lookups a login makes of them, each answered from
/// an index: whether a group of this exact name exists, and which groups a provider
/// group names (by [normalised](crate::groups::normalise) external id when a group has
/// any, otherwise by name) — so a 50-group claim against a large catalogue is 50
/// lookups, not 50 scans. What [`DirectoryView`]s that hold their groups answer from.
#[derive(Debug, Clone, Default)]
pub struct GroupCatalogue {
    groups: Vec<Group>,
    names: GroupNames,
    /// Normalised external id (or name) → positions in `groups`.
    keys: foldhash::HashMap<String, Vec<usize>>,
}

/// The indexes say nothing of their own: two catalogues are equal when their groups are.
impl PartialEq for GroupCatalogue {
    fn eq(&self, other: &Self) -> bool {
        self.groups == other.groups
    }
}
impl Eq for GroupCatalogue {}

impl GroupCatalogue {
    pub fn new(groups: impl IntoIterator<Item = Group>) -> Self {
        let mut c = GroupCatalogue::default();
        for g in groups {
            c.push(g);
        }
        c
    }

    pub fn push(&mut self, g: Group) {
        let at = self.groups.len();
        for k in g.match_keys() {
            self.keys.entry(k).or_default().push(at);
        }
        self.groups.push(g);
        self.names.added(&self.groups, at);
    }

    pub fn all(&self) -> &[Group] {
        &self.groups
    }

    pub fn exists(&self, name: &str) -> bool {
        self.names.get(&self.groups, name).is_some()
    }

    pub fn matching(&self, normalised: &str) -> GroupMatches<'_> {
        let mut out: GroupMatches<'_> = self
            .keys
            .get(normalised)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.groups.get(i))
            .collect();
        out.dedup_by(|a, b| a.name == b.name);
        out
    }
}

pub trait DirectoryView {
    fn find_by_identity(&self, provider: &str, subject: &str) -> Option<&ExistingUser>;
    /// For issuer aliases: an identity recorded under an older issuer.
    fn find_by_issuer_subject(&self, issuer: &str, subject: &str) -> Option<&ExistingUser>;
    fn find_by_external_id(&self, provider: &str, external_id: &str) -> Option<&ExistingUser>;
    /// Every account with this email, verified or not.
    fn find_by_email(&self, email: &str) -> Vec<&ExistingUser>;
    fn find_by_username(&self, username: &str) -> Option<&ExistingUser>;
    fn username_taken(&self, username: &str) -> bool {
        self.find_by_username(username).is_some()
    }
    /// Groups that exist in the directory.
    fn groups(&self) -> &[Group];
    /// Groups a provider group (already [normalised](crate::groups::normalise)) names:
    /// by external id when the group has any, otherwise by name. Directories with many
    /// groups should answer from an index ([`GroupCatalogue`]); this default scans.
    fn groups_matching(&self, normalised: &str) -> GroupMatches<'_> {
        self.groups()
            .iter()
            .filter(|g| g.matches(normalised))
            .collect()
    }
    /// Whether a group with exactly this name exists. Directories with many groups
    /// should answer from an index ([`GroupCatalogue`]); this default scans.
    fn group_exists(&self, name: &str) -> bool {
        self.groups().iter().any(|g| g.name == name)
    }
    /// Libraries that exist in the directory.
    fn libraries(&self) -> &[Library];
    /// Active administrators, to refuse removing the last one.
    fn active_admin_count(&self) -> usize;
}
