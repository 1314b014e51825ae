//! A working set of grants with provenance: what a login adds, removes and refuses.

use crate::domain::{Grant, GrantKind, GrantSource};
use crate::trace::{Step, Trace};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A removal the engine would not make, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub grant: Grant,
    pub reason: String,
}

/// Whether a planned grant was there before this login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Held,
    Added,
}

const KINDS: [GrantKind; 4] = [
    GrantKind::Permission,
    GrantKind::Library,
    GrantKind::Group,
    GrantKind::Admin,
];

fn slot(kind: GrantKind) -> usize {
    match kind {
        GrantKind::Permission => 0,
        GrantKind::Library => 1,
        GrantKind::Group => 2,
        GrantKind::Admin => 3,
    }
}

/// Grants being planned for one account. Lookups by name do not allocate: a login
/// touches every group of a large groups claim.
#[derive(Debug, Clone, Default)]
pub struct GrantPlan<'a> {
    /// Names borrow from the account's grants until this login adds one.
    current: [BTreeMap<Cow<'a, str>, (GrantSource, Origin)>; 4],
    removed: Vec<Grant>,
    refused: Vec<Refusal>,
    /// Removing the admin grant would leave the directory with no active admin.
    last_admin: bool,
    /// Additions not yet written to the trace, one line per kind and source: a first
    /// login adds dozens of grants, and a line each cost more than the decision.
    pending: Vec<(GrantKind, GrantSource, String)>,
}

/// The plan once every assignment provider has run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GrantDiff {
    /// Every grant the account ends with.
    pub grants: Vec<Grant>,
    pub added: Vec<Grant>,
    pub removed: Vec<Grant>,
    pub refused: Vec<Refusal>,
}

impl<'a> GrantPlan<'a> {
    /// Starts from an account's grants. `last_admin`: this account is the only active admin.
    pub fn from_existing(grants: &'a [Grant], last_admin: bool) -> Self {
        let mut plan = GrantPlan {
            last_admin,
            ..Default::default()
        };
        for g in grants {
            if let Some(map) = plan.current.get_mut(slot(g.kind)) {
                map.insert(Cow::Borrowed(g.name.as_str()), (g.source, Origin::Held));
            }
        }
        plan
    }

    fn map(&self, kind: GrantKind) -> Option<&BTreeMap<Cow<'a, str>, (GrantSource, Origin)>> {
        self.current.get(slot(kind))
    }

    pub fn has(&self, kind: GrantKind, name: &str) -> bool {
        self.map(kind).is_some_and(|m| m.contains_key(name))
    }

    pub fn source_of(&self, kind: GrantKind, name: &str) -> Option<GrantSource> {
        self.map(kind).and_then(|m| m.get(name)).map(|(s, _)| *s)
    }

    /// Current grants of one kind from one source.
    pub fn names_from(&self, kind: GrantKind, source: GrantSource) -> Vec<String> {
        self.map(kind)
            .into_iter()
            .flatten()
            .filter(|(_, (s, _))| *s == source)
            .map(|(n, _)| n.to_string())
            .collect()
    }

    /// Current grants of one kind, with their sources, in name order.
    pub fn of_kind(&self, kind: GrantKind) -> Vec<(&str, GrantSource)> {
        self.map(kind)
            .into_iter()
            .flatten()
            .map(|(n, (s, _))| (n.as_ref(), *s))
            .collect()
    }

    /// Adds a grant unless the account already has it (from any source, which is kept).
    pub fn grant(
        &mut self,
        kind: GrantKind,
        name: &str,
        source: GrantSource,
        trace: &mut Trace,
    ) -> bool {
        let Some(map) = self.current.get_mut(slot(kind)) else {
            return false;
        };
        if let Some((existing, _)) = map.get(name) {
            if *existing != source {
                trace.note(
                    Step::Grants,
                    format!("{kind} \"{name}\" already held (from {existing}); kept as is"),
                );
            }
            return false;
        }
        match self
            .pending
            .iter_mut()
            .find(|(k, s, _)| *k == kind && *s == source)
        {
            Some((_, _, line)) => {
                line.push_str(", \"");
                line.push_str(name);
                line.push('"');
            }
            None => self.pending.push((kind, source, format!("\"{name}\""))),
        }
        // Re-granting what this login removed restores it rather than adding it.
        let origin = match self
            .removed
            .iter()
            .position(|g| g.kind == kind && g.name == name)
        {
            Some(i) => {
                self.removed.remove(i);
                Origin::Held
            }
            None => Origin::Added,
        };
        map.insert(Cow::Owned(name.to_owned()), (source, origin));
        true
    }

    /// Removes a grant. Refuses (and records why) to remove what an administrator gave
    /// or the last active admin's admin flag.
    pub fn revoke(&mut self, kind: GrantKind, name: &str, why: &str, trace: &mut Trace) -> bool {
        let last_admin = self.last_admin;
        let Some(map) = self.current.get_mut(slot(kind)) else {
            return false;
        };
        let Some(&(source, origin)) = map.get(name) else {
            return false;
        };
        let refusal = if source == GrantSource::Admin {
            Some("granted by an administrator; a login never removes it")
        } else if source == GrantSource::Scim {
            Some("pushed by a provider over SCIM; only SCIM removes it")
        } else if kind == GrantKind::Admin && last_admin {
            Some("this is the last active administrator; removing it would leave no admin")
        } else {
            None
        };
        let grant = Grant::new(kind, name, source);
        if let Some(reason) = refusal {
            trace.note(
                Step::Grants,
                format!("refused to remove {kind} \"{name}\" ({why}): {reason}"),
            );
            self.refused.push(Refusal {
                grant,
                reason: reason.to_owned(),
            });
            return false;
        }
        trace.note(
            Step::Grants,
            format!("- {kind} \"{name}\" ({source}): {why}"),
        );
        map.remove(name);
        if origin == Origin::Held {
            self.removed.push(grant);
        }
        true
    }

    /// Writes the additions made since the last flush to the trace.
    pub fn flush(&mut self, trace: &mut Trace) {
        for (kind, source, names) in self.pending.drain(..) {
            trace.note(Step::Grants, format!("+ {kind} ({source}): {names}"));
        }
    }

    pub fn finish(self) -> GrantDiff {
        let mut diff = GrantDiff {
            removed: self.removed,
            refused: self.refused,
            ..Default::default()
        };
        for (kind, map) in KINDS.into_iter().zip(self.current) {
            for (name, (source, origin)) in map {
                let g = Grant::new(kind, name.into_owned(), source);
                if origin == Origin::Added {
                    diff.added.push(g.clone());
                }
                diff.grants.push(g);
            }
        }
        diff.removed.sort();
        diff
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provenance_is_respected() {
        let mut t = Trace::default();
        let held = [
            Grant::new(GrantKind::Group, "ops", GrantSource::Admin),
            Grant::new(GrantKind::Group, "dev", GrantSource::Provider),
            Grant::new(GrantKind::Admin, "admin", GrantSource::Rule),
        ];
        let mut plan = GrantPlan::from_existing(&held, true);
        assert!(!plan.grant(GrantKind::Group, "ops", GrantSource::Provider, &mut t));
        assert_eq!(
            plan.source_of(GrantKind::Group, "ops"),
            Some(GrantSource::Admin)
        );
        assert!(!plan.revoke(GrantKind::Group, "ops", "test", &mut t));
        assert!(plan.revoke(GrantKind::Group, "dev", "test", &mut t));
        assert!(!plan.revoke(GrantKind::Admin, "admin", "test", &mut t));
        assert!(plan.grant(GrantKind::Library, "main", GrantSource::Default, &mut t));
        let diff = plan.finish();
        assert_eq!(
            diff.added,
            vec![Grant::new(GrantKind::Library, "main", GrantSource::Default)]
        );
        assert_eq!(
            diff.removed,
            vec![Grant::new(GrantKind::Group, "dev", GrantSource::Provider)]
        );
        assert_eq!(diff.refused.len(), 2);
    }
}
