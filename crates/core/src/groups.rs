//! Group sync: from the groups claim to the directory's groups.

use crate::directory::DirectoryView;
use crate::domain::Group;
use crate::names::Names;
use crate::policy::GroupSyncPolicy;
use crate::trace::{Step, Trace};
use foldhash::{HashSet, HashSetExt};
use regex::Regex;

pub use crate::domain::normalise_group_name as normalise;

/// What the groups claim means for this login.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupResolution<'d> {
    /// Existing directory groups the claim names.
    pub matched: Vec<&'d str>,
    /// Groups to create (`create_missing`).
    pub create: Vec<String>,
    /// How many claim groups passed `allow_regex`.
    pub allowed: usize,
    /// `false` when sync must not touch memberships (claim absent, oversized, sync off).
    pub sync: bool,
}

impl GroupResolution<'_> {
    #[cfg(test)]
    fn into_owned(self) -> tests::Owned {
        tests::Owned {
            matched: self.matched.into_iter().map(String::from).collect(),
            create: self.create,
            allowed: self.allowed,
            sync: self.sync,
        }
    }
}

/// Resolves the claim's groups against the directory's groups.
pub fn resolve<'d>(
    claim: Option<(&Names, &Names)>,
    directory: &'d dyn DirectoryView,
    policy: &GroupSyncPolicy,
    allow: Option<&Regex>,
    trace: &mut Trace,
) -> GroupResolution<'d> {
    let mut out = GroupResolution::default();
    let Some((claim, normalised)) = claim else {
        return out;
    };
    if claim.len() > policy.max_groups {
        trace.note(
            Step::Groups,
            format!(
                "the groups claim lists {} groups, more than max_groups = {}; memberships are left as they are. Narrow the claim at the provider or raise max_groups.",
                claim.len(),
                policy.max_groups
            ),
        );
        return out;
    }
    out.sync = true;
    out.matched.reserve(claim.len());
    let mut seen = Seen::new(directory.groups());
    let mut matched_line = String::with_capacity(claim.len().saturating_mul(24));
    for (raw, n) in claim.iter().zip(normalised.iter()) {
        if let Some(re) = allow
            && !re.is_match(raw)
        {
            trace.note(
                Step::Groups,
                format!("\"{raw}\" does not match allow_regex; ignored"),
            );
            continue;
        }
        out.allowed += 1;
        let found = directory.groups_matching(n);
        if found.is_empty() {
            if !policy.create_missing {
                trace.note(
                    Step::Groups,
                    format!(
                        "\"{raw}\" (as \"{n}\") matches no group; ignored (create_missing is off)"
                    ),
                );
            } else if raw.contains(',') {
                // Names travel in comma-separated identity headers: a comma would split
                // one group into two for the application. Matching by external id is
                // still fine (the stored name has no comma).
                trace.note(
                    Step::Groups,
                    format!(
                        "\"{raw}\" matches no group and holds a comma, which a group name cannot (names travel in comma-separated headers); not created. Add the group in the catalogue with this value as an external id."
                    ),
                );
            } else if !out.create.iter().any(|c| normalise(c) == n) {
                trace.note(
                    Step::Groups,
                    format!("\"{raw}\" matches no group; it will be created (create_missing)"),
                );
                out.create.push(raw.trim().to_owned());
            }
        }
        for g in found {
            if seen.insert(g) {
                // Built by hand: one format! per group was a third of a login's cost.
                matched_line.push_str(if matched_line.is_empty() {
                    "matched \""
                } else {
                    ", \""
                });
                // A group named as the claim names it is said once.
                if raw != g.name {
                    matched_line.push_str(raw);
                    matched_line.push_str("\" → \"");
                }
                matched_line.push_str(&g.name);
                matched_line.push('"');
                if !g.external_ids.is_empty() {
                    matched_line.push_str(" by external id");
                }
                out.matched.push(g.name.as_str());
            }
        }
    }
    if !matched_line.is_empty() {
        trace.note(Step::Groups, matched_line);
    }
    out
}

/// The groups a login has matched so far. The directory holds each group once, so a
/// group is known by where it is: a bit per position in the directory's list when it
/// is in that list (as every lookup here answers), its address otherwise. Hashing names
/// was a tenth of the decision, hashing addresses still a twentieth.
struct Seen<'d> {
    all: &'d [Group],
    bits: Vec<u64>,
    elsewhere: HashSet<*const Group>,
}

impl<'d> Seen<'d> {
    fn new(all: &'d [Group]) -> Self {
        Seen {
            all,
            bits: vec![0; all.len().div_ceil(64)],
            elsewhere: HashSet::new(),
        }
    }

    /// Whether `g` is new, marking it seen.
    fn insert(&mut self, g: &Group) -> bool {
        let at = std::ptr::from_ref(g)
            .addr()
            .checked_sub(self.all.as_ptr().addr())
            .map(|offset| offset / std::mem::size_of::<Group>().max(1));
        if let Some(i) = at
            && self.all.get(i).is_some_and(|x| std::ptr::eq(x, g))
            && let Some(word) = self.bits.get_mut(i / 64)
        {
            let bit = 1u64 << (i % 64);
            let new = *word & bit == 0;
            *word |= bit;
            return new;
        }
        self.elsewhere.insert(std::ptr::from_ref(g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::parse_external_ids;

    fn groups() -> Vec<Group> {
        vec![
            Group {
                name: "Editors".into(),
                external_ids: vec![],
            },
            Group {
                name: "United Kingdom".into(),
                external_ids: vec![],
            },
            Group {
                name: "Admins".into(),
                external_ids: parse_external_ids(r"idp-admins, Ops\, Inc"),
            },
        ]
    }

    pub(super) struct Owned {
        pub(super) matched: Vec<String>,
        pub(super) create: Vec<String>,
        pub(super) allowed: usize,
        pub(super) sync: bool,
    }

    fn run(claim: &[&str], policy: &GroupSyncPolicy, allow: Option<&str>) -> Owned {
        let normalised: Names = claim.iter().map(|s| normalise(s)).collect();
        let claim: Names = claim.iter().copied().collect();
        let re = allow.map(|r| Regex::new(r).unwrap_or_else(|e| unreachable!("{e}")));
        let dir = crate::memory::InMemoryDirectory::new(vec![], groups(), vec![]);
        resolve(
            Some((&claim, &normalised)),
            &dir,
            policy,
            re.as_ref(),
            &mut Trace::default(),
        )
        .into_owned()
    }

    #[test]
    fn the_trace_names_a_group_once_when_the_claim_names_it_so() {
        let claim: Names = ["Editors", "united kingdom", "idp-admins"]
            .into_iter()
            .collect();
        let normalised: Names = claim.iter().map(normalise).collect();
        let dir = crate::memory::InMemoryDirectory::new(vec![], groups(), vec![]);
        let mut trace = Trace::default();
        let p = GroupSyncPolicy {
            enabled: true,
            ..Default::default()
        };
        resolve(Some((&claim, &normalised)), &dir, &p, None, &mut trace);
        assert_eq!(
            trace.to_strings(),
            [
                r#"groups: matched "Editors", "united kingdom" → "United Kingdom", "idp-admins" → "Admins" by external id"#
            ]
        );
    }

    #[test]
    fn bookstack_matching() {
        let p = GroupSyncPolicy {
            enabled: true,
            ..Default::default()
        };
        let r = run(
            &["EDITORS", "United Kingdom", "Ops, Inc", "admins", "nobody"],
            &p,
            None,
        );
        // "admins" does not match Admins: its external ids replace its name.
        assert_eq!(r.matched, vec!["Editors", "United Kingdom", "Admins"]);
        assert!(r.create.is_empty());
        assert_eq!(normalise(" United Kingdom "), "united-kingdom");
    }

    #[test]
    fn create_missing_and_allow_regex() {
        let p = GroupSyncPolicy {
            enabled: true,
            create_missing: true,
            ..Default::default()
        };
        let r = run(
            &["lib-new", "other", "Lib New", "editors"],
            &p,
            Some("^(?i)lib-|^editors$"),
        );
        assert_eq!(r.matched, vec!["Editors"]);
        assert_eq!(r.create, vec!["lib-new"]);
        assert_eq!(r.allowed, 2);
    }

    #[test]
    fn a_group_is_seen_once_in_the_list_or_outside_it() {
        let all: Vec<Group> = (0..130)
            .map(|i| Group {
                name: format!("g{i}"),
                external_ids: vec![],
            })
            .collect();
        let outside = groups();
        let mut seen = Seen::new(&all[..100]);
        let picks = [
            &all[0],
            &all[63],
            &all[64],
            &all[99],
            &all[100],
            &all[129],
            &outside[0],
        ];
        for g in picks {
            assert!(seen.insert(g), "{}", g.name);
        }
        for g in picks {
            assert!(!seen.insert(g), "{} twice", g.name);
        }
        // An equal group elsewhere is another group.
        let copy = all[1].clone();
        assert!(seen.insert(&all[1]) && seen.insert(&copy));
        assert_eq!(seen.elsewhere.len(), 4);
    }

    #[test]
    fn oversized_claims_are_not_synced() {
        let p = GroupSyncPolicy {
            enabled: true,
            max_groups: 2,
            ..Default::default()
        };
        let r = run(&["a", "b", "c"], &p, None);
        assert!(!r.sync);
    }
}
