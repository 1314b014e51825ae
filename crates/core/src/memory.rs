//! A whole directory in memory, and the `DIRECTORY.json` file format: for dry runs,
//! tests, fuzzing and benchmarks. It applies outcomes the way the store does.

use crate::decision::{AttributesMut, Decision, IdentityChange, Outcome};
use crate::directory::{DirectoryView, ExistingUser};
use crate::domain::{
    ExternalIdentity, Grant, GrantKind, GrantSource, Group, Library, UserId, UserSource, UserStatus,
};
use foldhash::HashMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A whole directory in memory: used by dry runs, tests and benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InMemoryDirectory {
    users: Vec<ExistingUser>,
    groups: crate::directory::GroupCatalogue,
    libraries: Vec<Library>,
    by_username: HashMap<String, usize>,
    by_identity: HashMap<(String, String), usize>,
    by_issuer_subject: HashMap<(String, String), usize>,
    by_external_id: HashMap<(String, String), usize>,
    by_email: HashMap<String, Vec<usize>>,
}

/// The `DIRECTORY.json` file of `ssogate provision --dry-run --existing`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryFile {
    #[serde(default)]
    pub users: Vec<UserRecord>,
    #[serde(default)]
    pub groups: Vec<Group>,
    #[serde(default)]
    pub libraries: Vec<Library>,
}

/// A grant in a file: a bare name (granted by an admin) or `{name, source}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum GrantRecord {
    Name(String),
    Sourced { name: String, source: GrantSource },
}

/// A user in `DIRECTORY.json`: grants as name lists, admin as a flag.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRecord {
    /// Numbered in file order when absent.
    #[serde(default)]
    pub id: Option<UserId>,
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
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
    pub is_admin: bool,
    #[serde(default = "admin_source")]
    pub admin_source: GrantSource,
    #[serde(default)]
    pub identities: Vec<ExternalIdentity>,
    #[serde(default)]
    pub external_ids: BTreeMap<String, String>,
    #[serde(default)]
    pub permissions: Vec<GrantRecord>,
    #[serde(default)]
    pub libraries: Vec<GrantRecord>,
    #[serde(default)]
    pub groups: Vec<GrantRecord>,
}

fn admin_source() -> GrantSource {
    GrantSource::Admin
}

impl From<UserRecord> for ExistingUser {
    fn from(r: UserRecord) -> Self {
        let mut grants = Vec::new();
        for (kind, list) in [
            (GrantKind::Permission, r.permissions),
            (GrantKind::Library, r.libraries),
            (GrantKind::Group, r.groups),
        ] {
            grants.extend(list.into_iter().map(|g| match g {
                GrantRecord::Name(name) => Grant::new(kind, name, GrantSource::Admin),
                GrantRecord::Sourced { name, source } => Grant::new(kind, name, source),
            }));
        }
        if r.is_admin {
            grants.push(Grant::new(GrantKind::Admin, "admin", r.admin_source));
        }
        ExistingUser {
            id: r.id.unwrap_or_default(),
            username: r.username,
            email: r.email,
            email_verified: r.email_verified,
            display_name: r.display_name,
            avatar: r.avatar,
            quota: r.quota,
            status: r.status,
            source: r.source,
            has_password: r.has_password,
            identities: r.identities,
            external_ids: r.external_ids,
            grants,
        }
    }
}

impl InMemoryDirectory {
    pub fn new(users: Vec<ExistingUser>, groups: Vec<Group>, libraries: Vec<Library>) -> Self {
        let mut dir = InMemoryDirectory {
            libraries,
            ..Default::default()
        };
        dir.add_groups(groups);
        for user in users {
            dir.insert(user);
        }
        dir
    }

    /// The id the next new account gets.
    fn next_id(&self) -> UserId {
        UserId(self.users.iter().map(|u| u.id.0).max().unwrap_or(0) + 1)
    }

    /// Adds (or replaces, by username) an account. One without an id (0), or with the id
    /// of another account (copied from another directory), gets the next id.
    pub fn insert(&mut self, mut user: ExistingUser) {
        let taken = self
            .users
            .iter()
            .any(|u| u.id == user.id && !u.username.eq_ignore_ascii_case(&user.username));
        if user.id == UserId::default() || taken {
            user.id = self.next_id();
        }
        let key = user.username.to_lowercase();
        let index = match self.by_username.get(&key).copied() {
            Some(i) => {
                self.index(i, false);
                if let Some(slot) = self.users.get_mut(i) {
                    *slot = user;
                }
                i
            }
            None => {
                self.users.push(user);
                self.users.len() - 1
            }
        };
        self.index(index, true);
    }

    /// Adds (`add`) or removes the lookup entries of the user at `i`.
    fn index(&mut self, i: usize, add: bool) {
        let Some(u) = self.users.get(i) else { return };
        let username = u.username.to_lowercase();
        let identities: Vec<(String, String)> = u
            .identities
            .iter()
            .map(|id| (id.provider.clone(), id.subject.clone()))
            .collect();
        let issued: Vec<(String, String)> = u
            .identities
            .iter()
            .filter_map(|id| id.issuer.clone().map(|iss| (iss, id.subject.clone())))
            .collect();
        let external: Vec<(String, String)> = u
            .external_ids
            .iter()
            .map(|(p, v)| (p.clone(), v.clone()))
            .collect();
        let email = u.email.as_ref().map(|e| e.to_lowercase());
        if add {
            self.by_username.insert(username, i);
            self.by_identity
                .extend(identities.into_iter().map(|k| (k, i)));
            self.by_issuer_subject
                .extend(issued.into_iter().map(|k| (k, i)));
            self.by_external_id
                .extend(external.into_iter().map(|k| (k, i)));
            if let Some(e) = email {
                self.by_email.entry(e).or_default().push(i);
            }
        } else {
            self.by_username.remove(&username);
            for k in identities {
                self.by_identity.remove(&k);
            }
            for k in issued {
                self.by_issuer_subject.remove(&k);
            }
            for k in external {
                self.by_external_id.remove(&k);
            }
            if let Some(list) = email.and_then(|e| self.by_email.get_mut(&e)) {
                list.retain(|&j| j != i);
            }
        }
    }

    /// Adds groups (by name) that are not there yet, e.g. from the configured catalogue.
    pub fn add_groups(&mut self, groups: impl IntoIterator<Item = Group>) {
        for g in groups {
            if self
                .groups
                .all()
                .iter()
                .any(|x| x.name.eq_ignore_ascii_case(&g.name))
            {
                continue;
            }
            self.groups.push(g);
        }
    }

    /// Adds libraries (by name) that are not there yet.
    pub fn add_libraries(&mut self, libraries: impl IntoIterator<Item = Library>) {
        for l in libraries {
            if !self.libraries.iter().any(|x| x.name == l.name) {
                self.libraries.push(l);
            }
        }
    }

    /// The account with this username (case-insensitive).
    pub fn find(&self, username: &str) -> Option<&ExistingUser> {
        self.find_by_username(username)
    }

    pub fn users(&self) -> &[ExistingUser] {
        &self.users
    }

    /// Applies an outcome the way the store does, in memory: for tests, simulations and
    /// dry runs of several logins in a row. Returns the account's id, if any.
    pub fn apply(&mut self, outcome: &Outcome) -> Option<UserId> {
        let id = match &outcome.decision {
            Decision::Reject(_) => return None,
            Decision::SignIn { user_id } | Decision::Link { user_id, .. } => *user_id,
            Decision::Provision { .. } => self.next_id(),
        };
        let mut user = match &outcome.decision {
            Decision::Provision { account } => ExistingUser {
                id,
                username: account.username.clone(),
                email: account.email.clone(),
                email_verified: account.email_verified,
                display_name: account.display_name.clone(),
                avatar: account.avatar.clone(),
                quota: account.quota.clone(),
                status: account.status,
                source: account.source,
                has_password: false,
                identities: Vec::new(),
                external_ids: BTreeMap::new(),
                grants: Vec::new(),
            },
            _ => self.users.iter().find(|u| u.id == id)?.clone(),
        };
        let c = &outcome.changes;
        let mut fields = AttributesMut {
            email: &mut user.email,
            email_verified: &mut user.email_verified,
            display_name: &mut user.display_name,
            avatar: &mut user.avatar,
            quota: &mut user.quota,
        };
        for a in &c.attributes {
            a.apply(&mut fields);
        }
        match &c.identity {
            Some(IdentityChange::Create(i)) => user.identities.push(i.clone()),
            Some(IdentityChange::Rebind { previous, current }) => {
                user.identities.retain(|i| i != previous);
                user.identities.push(current.clone());
            }
            None => {}
        }
        user.grants = c.grants.grants().cloned().collect();
        self.add_groups(c.create_groups.iter().map(|name| Group {
            name: name.clone(),
            external_ids: Vec::new(),
        }));
        self.insert(user);
        Some(id)
    }
}

impl From<DirectoryFile> for InMemoryDirectory {
    fn from(f: DirectoryFile) -> Self {
        InMemoryDirectory::new(
            f.users.into_iter().map(ExistingUser::from).collect(),
            f.groups,
            f.libraries,
        )
    }
}

impl DirectoryView for InMemoryDirectory {
    fn find_by_identity(&self, provider: &str, subject: &str) -> Option<&ExistingUser> {
        self.by_identity
            .get(&(provider.to_owned(), subject.to_owned()))
            .and_then(|&i| self.users.get(i))
    }

    fn find_by_issuer_subject(&self, issuer: &str, subject: &str) -> Option<&ExistingUser> {
        self.by_issuer_subject
            .get(&(issuer.to_owned(), subject.to_owned()))
            .and_then(|&i| self.users.get(i))
    }

    fn find_by_external_id(&self, provider: &str, external_id: &str) -> Option<&ExistingUser> {
        self.by_external_id
            .get(&(provider.to_owned(), external_id.to_owned()))
            .and_then(|&i| self.users.get(i))
    }

    fn find_by_email(&self, email: &str) -> Vec<&ExistingUser> {
        self.by_email
            .get(&email.to_lowercase())
            .into_iter()
            .flatten()
            .filter_map(|&i| self.users.get(i))
            .collect()
    }

    fn find_by_username(&self, username: &str) -> Option<&ExistingUser> {
        self.by_username
            .get(&username.to_lowercase())
            .and_then(|&i| self.users.get(i))
    }

    fn groups(&self) -> &[Group] {
        self.groups.all()
    }

    fn group_exists(&self, name: &str) -> bool {
        self.groups.exists(name)
    }

    fn groups_matching(&self, normalised: &str) -> crate::directory::GroupMatches<'_> {
        self.groups.matching(normalised)
    }

    fn libraries(&self) -> &[Library] {
        &self.libraries
    }

    fn active_admin_count(&self) -> usize {
        self.users
            .iter()
            .filter(|u| u.status == UserStatus::Active && u.is_admin())
            .count()
    }
}
