//! A working set of grants with provenance: what a login adds, removes and refuses.

use crate::domain::{Grant, GrantKind, GrantSource};
use crate::trace::{Step, Trace};
use serde::Serialize;
use std::borrow::Cow;

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

/// What an addition also records about the grant it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    None,
    Kept,
    Ruled,
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

/// One planned grant. Names borrow from the account's grants until this login adds one.
#[derive(Debug, Clone)]
struct Planned<'a> {
    kind: GrantKind,
    name: Cow<'a, str>,
    entry: Entry,
}

/// Grants being planned for one account: a list, and an index of it by kind and name.
/// A login looks up every group of a large groups claim (and every default and rule
/// grant): hashing a name and comparing it once is cheaper than the string comparisons
/// of a search tree. Name order is needed only at the end, when the list — the
/// account's grants, then this login's additions — is sorted once.
#[derive(Debug, Clone, Default)]
pub struct GrantPlan<'a> {
    /// `None` where a grant was removed (its position stays, so the index stays valid).
    items: Vec<Option<Planned<'a>>>,
    /// Positions in `items` of the grants held now.
    index: hashbrown::HashTable<usize>,
    state: foldhash::fast::RandomState,
    removed: Vec<Grant>,
    refused: Vec<Refusal>,
    /// Removing the admin grant would leave the directory with no active admin.
    last_admin: bool,
    /// Additions not yet written to the trace, one line per kind and source: a first
    /// login adds dozens of grants, and a line each cost more than the decision.
    pending: Vec<(GrantKind, GrantSource, String)>,
}

/// The index's hash of a grant (the one place it is computed: lookups and growth must agree).
fn key_hash(state: &foldhash::fast::RandomState, kind: GrantKind, name: &str) -> u64 {
    use std::hash::BuildHasher as _;
    state.hash_one((kind, name))
}

/// A grant's place in (kind, name) order, to the precision of its first seven bytes: the
/// kind in the top byte, then the name's bytes, zero-padded. A shorter name sorts
/// before a longer one it begins, as in `str`'s order; equal keys need the names compared.
fn order_key(kind: GrantKind, name: &str) -> u64 {
    let mut key = u64::from(kind as u8) << 56;
    for (i, byte) in name.bytes().take(7).enumerate() {
        key |= u64::from(byte) << (48 - 8 * i);
    }
    key
}

/// The plan once every assignment provider has run. What the account ends with is
/// [`grants`](Self::grants): what it kept and what was added, each held once (a login
/// copied every added grant a second time for a list of all).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantDiff {
    /// Grants the account held before and still holds, in (kind, name) order.
    pub kept: Vec<Grant>,
    /// Grants this login gives, in (kind, name) order.
    pub added: Vec<Grant>,
    pub removed: Vec<Grant>,
    pub refused: Vec<Refusal>,
}

impl GrantDiff {
    /// Every grant the account ends with, in (kind, name) order.
    pub fn grants(&self) -> impl Iterator<Item = &Grant> + Clone {
        let (mut kept, mut added) = (self.kept.iter().peekable(), self.added.iter().peekable());
        std::iter::from_fn(move || match (kept.peek(), added.peek()) {
            (Some(k), Some(a)) if (k.kind, &k.name) > (a.kind, &a.name) => added.next(),
            (Some(_), _) => kept.next(),
            (None, _) => added.next(),
        })
    }
}

/// As it always read: `grants` (all the account ends with), `added`, `removed`, `refused`.
impl Serialize for GrantDiff {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        struct All<'a>(&'a GrantDiff);
        impl Serialize for All<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.grants())
            }
        }
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("grants", &All(self))?;
        m.serialize_entry("added", &self.added)?;
        m.serialize_entry("removed", &self.removed)?;
        m.serialize_entry("refused", &self.refused)?;
        m.end()
    }
}

impl<'a> GrantPlan<'a> {
    /// An empty plan (a first login's) with room for `room` grants.
    pub fn with_room(room: usize) -> Self {
        GrantPlan::from_existing(&[], false, room)
    }

    /// Starts from an account's grants. `last_admin`: this account is the only active
    /// admin. `more`: how many grants this login may add (defaults, rules, the groups
    /// claim), so the index never grows — each growth hashes every name again.
    pub fn from_existing(grants: &'a [Grant], last_admin: bool, more: usize) -> Self {
        let room = grants.len().saturating_add(more);
        let mut plan = GrantPlan {
            items: Vec::with_capacity(room),
            index: hashbrown::HashTable::with_capacity(room),
            last_admin,
            ..Default::default()
        };
        for g in grants {
            let entry = Entry::new(g.source, Origin::Held);
            let hash = plan.hash(g.kind, &g.name);
            match plan.find_hashed(hash, g.kind, &g.name) {
                // The same grant twice (a file written by hand): the last one counts.
                Some(i) => {
                    if let Some(Some(p)) = plan.items.get_mut(i) {
                        p.entry = entry;
                    }
                }
                None => plan.push(hash, g.kind, Cow::Borrowed(g.name.as_str()), entry),
            }
        }
        plan
    }

    fn hash(&self, kind: GrantKind, name: &str) -> u64 {
        key_hash(&self.state, kind, name)
    }

    /// The position of a held grant.
    fn find(&self, kind: GrantKind, name: &str) -> Option<usize> {
        self.find_hashed(self.hash(kind, name), kind, name)
    }

    /// [`find`](Self::find) with the name's hash known (a miss is followed by a push).
    fn find_hashed(&self, hash: u64, kind: GrantKind, name: &str) -> Option<usize> {
        let items = &self.items;
        self.index
            .find(
                hash,
                |&i| matches!(items.get(i), Some(Some(p)) if p.kind == kind && p.name == name),
            )
            .copied()
    }

    /// Adds a grant not held, whose [hash](Self::hash) is `hash`.
    fn push(&mut self, hash: u64, kind: GrantKind, name: Cow<'a, str>, entry: Entry) {
        let at = self.items.len();
        self.items.push(Some(Planned { kind, name, entry }));
        let (items, state) = (&self.items, &self.state);
        self.index.insert_unique(hash, at, |&i| match items.get(i) {
            Some(Some(p)) => key_hash(state, p.kind, &p.name),
            _ => 0,
        });
    }

    fn held(&self) -> impl Iterator<Item = &Planned<'a>> {
        self.items.iter().flatten()
    }

    fn entry(&self, kind: GrantKind, name: &str) -> Option<&Entry> {
        let i = self.find(kind, name)?;
        match self.items.get(i) {
            Some(Some(p)) => Some(&p.entry),
            _ => None,
        }
    }

    fn entry_mut(&mut self, kind: GrantKind, name: &str) -> Option<&mut Entry> {
        let i = self.find(kind, name)?;
        match self.items.get_mut(i) {
            Some(Some(p)) => Some(&mut p.entry),
            _ => None,
        }
    }

    pub fn has(&self, kind: GrantKind, name: &str) -> bool {
        self.find(kind, name).is_some()
    }

    pub fn source_of(&self, kind: GrantKind, name: &str) -> Option<GrantSource> {
        self.entry(kind, name).map(|e| e.source)
    }

    /// Current grants of one kind that [`keep`](Self::keep) and
    /// [`grant_kept`](Self::grant_kept) did not mark, with their sources, in name order.
    pub fn not_kept(&self, kind: GrantKind) -> Vec<(&str, GrantSource)> {
        let mut v: Vec<(&str, GrantSource)> = self
            .held()
            .filter(|p| p.kind == kind && !p.entry.kept)
            .map(|p| (p.name.as_ref(), p.entry.source))
            .collect();
        v.sort_unstable_by(|a, b| a.0.cmp(b.0));
        v
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
        let mut v: Vec<String> = self
            .held()
            .filter(|p| p.kind == kind && p.entry.source == GrantSource::Rule && !p.entry.ruled)
            .map(|p| p.name.to_string())
            .collect();
        v.sort_unstable();
        v
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
        let hash = self.hash(kind, name);
        if let Some(Some(Planned { entry, .. })) = self
            .find_hashed(hash, kind, name)
            .and_then(|i| self.items.get_mut(i))
        {
            entry.kept |= kept;
            entry.ruled |= ruled;
            let existing = entry.source;
            if existing != source {
                trace.note_parts(
                    Step::Grants,
                    &[
                        kind.as_str(),
                        " \"",
                        name,
                        "\" already held (from ",
                        existing.as_str(),
                        "); kept as is",
                    ],
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
            None => {
                let mut line = String::with_capacity(128);
                line.push('"');
                line.push_str(name);
                line.push('"');
                self.pending.push((kind, source, line));
            }
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
        self.push(
            hash,
            kind,
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
        let Some(at) = self.find(kind, name) else {
            return false;
        };
        let Some(Some(Planned {
            entry: Entry { source, origin, .. },
            ..
        })) = self.items.get(at)
        else {
            return false;
        };
        let (source, origin) = (*source, *origin);
        let refusal = if source == GrantSource::Admin {
            Some("granted by an administrator; a login never removes it")
        } else if source == GrantSource::Scim {
            Some("pushed by a provider over SCIM; only SCIM removes it")
        } else if kind == GrantKind::Admin && self.last_admin {
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
        let hash = self.hash(kind, name);
        if let Ok(slot) = self.index.find_entry(hash, |&i| i == at) {
            slot.remove();
        }
        if let Some(item) = self.items.get_mut(at) {
            *item = None;
        }
        if origin == Origin::Held {
            self.removed.push(grant);
        }
        true
    }

    /// Writes the additions made since the last flush to the trace.
    pub fn flush(&mut self, trace: &mut Trace) {
        for (kind, source, names) in self.pending.drain(..) {
            trace.note_parts(
                Step::Grants,
                &["+ ", kind.as_str(), " (", source.as_str(), "): ", &names],
            );
        }
    }

    pub fn finish(self) -> GrantDiff {
        let mut held: Vec<(u64, Planned<'a>)> = self
            .items
            .into_iter()
            .flatten()
            .map(|p| (order_key(p.kind, &p.name), p))
            .collect();
        // Names are unique per kind, so an unstable sort gives the one order. Most pairs
        // differ in their key (kind and first bytes), compared as one integer.
        held.sort_unstable_by(|(ka, a), (kb, b)| {
            ka.cmp(kb)
                .then_with(|| (a.kind, a.name.as_ref()).cmp(&(b.kind, b.name.as_ref())))
        });
        let added = held
            .iter()
            .filter(|(_, p)| p.entry.origin == Origin::Added)
            .count();
        let mut diff = GrantDiff {
            removed: self.removed,
            refused: self.refused,
            kept: Vec::with_capacity(held.len().saturating_sub(added)),
            added: Vec::with_capacity(added),
        };
        for (_, Planned { kind, name, entry }) in held {
            let g = Grant::new(kind, name.into_owned(), entry.source);
            match entry.origin {
                Origin::Added => diff.added.push(g),
                Origin::Held => diff.kept.push(g),
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
        let mut plan = GrantPlan::from_existing(&held, true, 0);
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

    fn kind(k: u8) -> GrantKind {
        [
            GrantKind::Permission,
            GrantKind::Library,
            GrantKind::Group,
            GrantKind::Admin,
        ]
        .into_iter()
        .nth(usize::from(k % 4))
        .unwrap_or(GrantKind::Group)
    }

    proptest::proptest! {
        // The sort's integer key never contradicts (kind, name) order: names that share
        // a prefix, differ past seven bytes, hold NUL or multi-byte characters.
        #[test]
        fn order_key_agrees_with_name_order(
            kinds in (0u8..4, 0u8..2),
            prefix in "[a-]{0,8}",
            ends in ("[a\u{0}\u{e9}-]{0,4}", "[a\u{0}\u{e9}-]{0,4}"),
        ) {
            let a = (kind(kinds.0), format!("{prefix}{}", ends.0));
            let b = (kind(kinds.1), format!("{prefix}{}", ends.1));
            let (ka, kb) = (order_key(a.0, &a.1), order_key(b.0, &b.1));
            if ka < kb {
                proptest::prop_assert!(a < b);
            }
            if a <= b {
                proptest::prop_assert!(ka <= kb);
            }
        }
    }

    #[test]
    fn the_answer_lists_grants_in_kind_then_name_order() {
        let held: Vec<Grant> = [
            "Team 10",
            "Team 2",
            "Team 1",
            "Team 100000000",
            "Team 10000000",
        ]
        .into_iter()
        .map(|n| Grant::new(GrantKind::Group, n, GrantSource::Provider))
        .chain([Grant::new(GrantKind::Admin, "admin", GrantSource::Rule)])
        .collect();
        let mut plan = GrantPlan::from_existing(&held, false, 2);
        let t = &mut Trace::default();
        plan.grant(GrantKind::Permission, "read", GrantSource::Default, t);
        plan.grant(GrantKind::Group, "Team 0", GrantSource::Default, t);
        let diff = plan.finish();
        let names: Vec<(GrantKind, String)> =
            diff.grants().map(|g| (g.kind, g.name.clone())).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert_eq!(names.len(), 8);
        // Written as it always was: all the account ends with, then the changes.
        let json = serde_json::to_value(&diff).unwrap_or_default();
        let keys: Vec<&String> = json
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys, ["added", "grants", "refused", "removed"]);
        let all: Vec<&str> = json["grants"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g["name"].as_str())
            .collect();
        assert_eq!(
            all,
            names.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>()
        );
        assert_eq!(json["added"][0]["name"], "read");
        assert_eq!(json["added"][1]["name"], "Team 0");
    }
}
