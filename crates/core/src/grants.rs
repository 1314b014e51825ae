//! A working set of grants with provenance: what a login adds, removes and refuses.

use crate::domain::{Grant, GrantKind, GrantSource};
use crate::trace::{Step, Trace};
use serde::Serialize;
use std::collections::BTreeMap;

/// A removal the engine would not make, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub grant: Grant,
    pub reason: String,
}

/// Grants being planned for one account.
#[derive(Debug, Clone, Default)]
pub struct GrantPlan {
    original: BTreeMap<(GrantKind, String), GrantSource>,
    current: BTreeMap<(GrantKind, String), GrantSource>,
    refused: Vec<Refusal>,
    /// Removing the admin grant would leave the directory with no active admin.
    last_admin: bool,
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

impl GrantPlan {
    /// Starts from an account's grants. `last_admin`: this account is the only active admin.
    pub fn from_existing(grants: &[Grant], last_admin: bool) -> Self {
        let original: BTreeMap<_, _> = grants
            .iter()
            .map(|g| ((g.kind, g.name.clone()), g.source))
            .collect();
        GrantPlan {
            current: original.clone(),
            original,
            refused: Vec::new(),
            last_admin,
        }
    }

    pub fn has(&self, kind: GrantKind, name: &str) -> bool {
        self.current.contains_key(&(kind, name.to_owned()))
    }

    pub fn source_of(&self, kind: GrantKind, name: &str) -> Option<GrantSource> {
        self.current.get(&(kind, name.to_owned())).copied()
    }

    /// Current grants of one kind, with their sources.
    pub fn of_kind(&self, kind: GrantKind) -> Vec<(String, GrantSource)> {
        self.current
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|((_, n), s)| (n.clone(), *s))
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
        let key = (kind, name.to_owned());
        if let Some(existing) = self.current.get(&key) {
            if *existing != source {
                trace.note(
                    Step::Grants,
                    format!("{kind} \"{name}\" already held (from {existing}); kept as is"),
                );
            }
            return false;
        }
        trace.note(Step::Grants, format!("+ {kind} \"{name}\" ({source})"));
        self.current.insert(key, source);
        true
    }

    /// Removes a grant. Refuses (and records why) to remove what an administrator gave
    /// or the last active admin's admin flag.
    pub fn revoke(&mut self, kind: GrantKind, name: &str, why: &str, trace: &mut Trace) -> bool {
        let key = (kind, name.to_owned());
        let Some(&source) = self.current.get(&key) else {
            return false;
        };
        let refusal = if source == GrantSource::Admin {
            Some("granted by an administrator; a login never removes it".to_owned())
        } else if kind == GrantKind::Admin && self.last_admin {
            Some(
                "this is the last active administrator; removing it would leave no admin"
                    .to_owned(),
            )
        } else {
            None
        };
        let grant = Grant::new(kind, name, source);
        if let Some(reason) = refusal {
            trace.note(
                Step::Grants,
                format!("refused to remove {kind} \"{name}\" ({why}): {reason}"),
            );
            self.refused.push(Refusal { grant, reason });
            return false;
        }
        trace.note(
            Step::Grants,
            format!("- {kind} \"{name}\" ({source}): {why}"),
        );
        self.current.remove(&key);
        true
    }

    pub fn finish(self) -> GrantDiff {
        let to_grant =
            |((k, n), s): (&(GrantKind, String), &GrantSource)| Grant::new(*k, n.clone(), *s);
        GrantDiff {
            grants: self.current.iter().map(to_grant).collect(),
            added: self
                .current
                .iter()
                .filter(|(k, _)| !self.original.contains_key(*k))
                .map(to_grant)
                .collect(),
            removed: self
                .original
                .iter()
                .filter(|(k, _)| !self.current.contains_key(*k))
                .map(to_grant)
                .collect(),
            refused: self.refused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provenance_is_respected() {
        let mut t = Trace::default();
        let mut plan = GrantPlan::from_existing(
            &[
                Grant::new(GrantKind::Group, "ops", GrantSource::Admin),
                Grant::new(GrantKind::Group, "dev", GrantSource::Provider),
                Grant::new(GrantKind::Admin, "admin", GrantSource::Rule),
            ],
            true,
        );
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
