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

#[derive(Debug, Clone, Copy)]
struct Entry {
    source: GrantSource,
    origin: Origin,
    /// Named by this login's group sync (or kept by it): not stale.
    kept: bool,
    /// Named by a rule that holds at this login.
    ruled: bool,
}

/// What an addition also records about the grant it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    None,
    Kept,
    Ruled,
}

impl Entry {
    fn new(source: GrantSource, origin: Origin) -> Self {
        Entry {
            source,
            origin,
            kept: false,
            ruled: false,
        }
    }
}

/// Grants being planned for one account. Lookups by name do not allocate: a login
/// touches every group of a large groups claim.
#[derive(Debug, Clone, Default)]
pub struct GrantPlan<'a> {
    /// Names borrow from the account's grants until this login adds one.
    current: [BTreeMap<Cow<'a, str>, Entry>; 4],
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
        // Built in bulk: `BTreeMap::from_iter` sorts (one pass over the directory's
        // already ordered rows) and fills the tree without a search per grant.
        let of = |kind: GrantKind| {
            grants
                .iter()
                .filter(|g| g.kind == kind)
                .map(|g| {
                    (
                        Cow::Borrowed(g.name.as_str()),
                        Entry::new(g.source, Origin::Held),
                    )
                })
                .collect()
        };
        GrantPlan {
            current: KINDS.map(of),
            last_admin,
            ..Default::default()
        }
    }

    fn map(&self, kind: GrantKind) -> Option<&BTreeMap<Cow<'a, str>, Entry>> {
        self.current.get(slot(kind))
    }

    pub fn has(&self, kind: GrantKind, name: &str) -> bool {
        self.map(kind).is_some_and(|m| m.contains_key(name))
    }

    pub fn source_of(&self, kind: GrantKind, name: &str) -> Option<GrantSource> {
        self.map(kind).and_then(|m| m.get(name)).map(|e| e.source)
    }

    /// Current grants of one kind that [`keep`](Self::keep) and
    /// [`grant_kept`](Self::grant_kept) did not mark, with their sources, in name order.
    pub fn not_kept(&self, kind: GrantKind) -> Vec<(&str, GrantSource)> {
        self.map(kind)
            .into_iter()
            .flatten()
            .filter(|(_, e)| !e.kept)
            .map(|(n, e)| (n.as_ref(), e.source))
            .collect()
    }

    fn entry_mut(&mut self, kind: GrantKind, name: &str) -> Option<&mut Entry> {
        self.current
            .get_mut(slot(kind))
            .and_then(|m| m.get_mut(name))
    }

    /// Marks a grant, if held, as one this login's sync keeps.
    pub fn keep(&mut self, kind: GrantKind, name: &str) {
        if let Some(e) = self.entry_mut(kind, name) {
            e.kept = true;
        }
    }

    /// [`grant`](Self::grant), then [`keep`](Self::keep), with one lookup when the
    /// account already holds it (the common case of a returning member of many groups).
    pub fn grant_kept(
        &mut self,
        kind: GrantKind,
        name: &str,
        source: GrantSource,
        trace: &mut Trace,
    ) -> bool {
        self.add(kind, name, source, Mark::Kept, trace)
    }

    /// [`grant`](Self::grant) for a rule that holds, remembering that a rule names it.
    pub fn grant_ruled(
        &mut self,
        kind: GrantKind,
        name: &str,
        source: GrantSource,
        trace: &mut Trace,
    ) -> bool {
        self.add(kind, name, source, Mark::Ruled, trace)
    }

    /// Remembers that a holding rule names this grant, without granting it (the rule
    /// names something that does not exist any more: what it gave earlier stays).
    pub fn rule_names(&mut self, kind: GrantKind, name: &str) {
        if let Some(e) = self.entry_mut(kind, name) {
            e.ruled = true;
        }
    }

    /// Grants a rule gave that no holding rule names any more, in name order.
    pub fn no_longer_ruled(&self, kind: GrantKind) -> Vec<String> {
        self.map(kind)
            .into_iter()
            .flatten()
            .filter(|(_, e)| e.source == GrantSource::Rule && !e.ruled)
            .map(|(n, _)| n.to_string())
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
        self.add(kind, name, source, Mark::None, trace)
    }

    fn add(
        &mut self,
        kind: GrantKind,
        name: &str,
        source: GrantSource,
        mark: Mark,
        trace: &mut Trace,
    ) -> bool {
        let (kept, ruled) = (mark == Mark::Kept, mark == Mark::Ruled);
        let Some(map) = self.current.get_mut(slot(kind)) else {
            return false;
        };
        if let Some(entry) = map.get_mut(name) {
            entry.kept |= kept;
            entry.ruled |= ruled;
            let existing = &entry.source;
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
        map.insert(
            Cow::Owned(name.to_owned()),
            Entry {
                source,
                origin,
                kept,
                ruled,
            },
        );
        true
    }

    /// Removes a grant. Refuses (and records why) to remove what an administrator gave
    /// or the last active admin's admin flag.
    pub fn revoke(&mut self, kind: GrantKind, name: &str, why: &str, trace: &mut Trace) -> bool {
        let last_admin = self.last_admin;
        let Some(map) = self.current.get_mut(slot(kind)) else {
            return false;
        };
        let Some(&Entry { source, origin, .. }) = map.get(name) else {
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
        diff.grants
            .reserve_exact(self.current.iter().map(BTreeMap::len).sum());
        for (kind, map) in KINDS.into_iter().zip(self.current) {
            for (name, Entry { source, origin, .. }) in map {
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
