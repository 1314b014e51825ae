//! Username derivation: sanitising, fallbacks, collisions, and `unique_user_ids`.

use crate::policy::{Collision, NextcloudIdMode, NextcloudIds, UsernamePolicy};
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Characters allowed besides letters and digits.
const SEPARATORS: [char; 3] = ['.', '_', '-'];

/// SHA-256 over `provider`, a zero byte, and `subject`, as lowercase hex.
///
/// This is the account id under `unique_user_ids` (Nextcloud's "hash of the provider id
/// and the user id"), and the source of `hash` collision suffixes. The zero byte keeps
/// (`ab`, `c`) and (`a`, `bc`) apart. It is stable across releases: changing it would
/// orphan accounts.
pub fn subject_hash(provider: &str, subject: &str) -> String {
    let mut h = Sha256::new();
    h.update(provider.as_bytes());
    h.update([0u8]);
    h.update(subject.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The user id Nextcloud's user_oidc gives the person `subject` of provider `slug`
/// (`LocalIdService::getId`, then `UserMapper::getOrCreate`: ids over 64 characters are
/// hashed once more). Stable: it must equal what Nextcloud stored.
pub fn nextcloud_user_id(ids: &NextcloudIds, slug: &str, subject: &str) -> String {
    let id = match ids.mode {
        NextcloudIdMode::Unique => sha256_hex(&format!("{}_0_{subject}", ids.provider_id)),
        NextcloudIdMode::ProviderBased => format!(
            "{}-{subject}",
            ids.provider_identifier.as_deref().unwrap_or(slug)
        ),
        NextcloudIdMode::Plain => subject.to_owned(),
    };
    if id.len() > 64 { sha256_hex(&id) } else { id }
}

fn allowed(c: char, policy: &UsernamePolicy) -> bool {
    SEPARATORS.contains(&c)
        || (c == '@' && policy.allow_at_sign)
        || if policy.ascii_only {
            c.is_ascii_alphanumeric()
        } else {
            c.is_alphanumeric()
        }
}

/// Turns a claim value into a valid username, or `None` if nothing usable is left.
///
/// NFKC-normalises; with `ascii_only`, strips accents (`José` → `Jose`) and drops other
/// non-ASCII letters; lower-cases if asked; replaces any other character with `_`;
/// collapses runs of separators; trims separators at both ends; truncates.
pub fn sanitize(raw: &str, policy: &UsernamePolicy) -> Option<String> {
    if already_clean(raw, policy) {
        return Some(raw.to_owned());
    }
    sanitize_fully(raw, policy)
}

/// An ASCII name every step of [`sanitize`] leaves as it is (most claims are): checked
/// in one pass instead of four copies through Unicode normalisation.
fn already_clean(raw: &str, policy: &UsernamePolicy) -> bool {
    let sep = |b: u8| SEPARATORS.contains(&char::from(b));
    let bytes = raw.as_bytes();
    raw.len() <= policy.max_length
        && bytes.first().is_some_and(|&b| !sep(b))
        && bytes.last().is_some_and(|&b| !sep(b))
        && bytes.iter().all(|&b| {
            b.is_ascii()
                && allowed(char::from(b), policy)
                && !(policy.lowercase && b.is_ascii_uppercase())
        })
        && bytes
            .windows(2)
            .all(|w| !matches!(w, [x, y] if sep(*x) && sep(*y)))
}

fn sanitize_fully(raw: &str, policy: &UsernamePolicy) -> Option<String> {
    let normalised: String = raw.nfkc().collect();
    let folded: String = if policy.ascii_only {
        normalised
            .nfkd()
            .filter(|c| !is_combining_mark(*c))
            .filter(|c| c.is_ascii() || !c.is_alphanumeric())
            .collect()
    } else {
        normalised
    };
    let cased = if policy.lowercase {
        folded.to_lowercase()
    } else {
        folded
    };
    let mut out = String::with_capacity(cased.len());
    for c in cased.chars() {
        let c = if allowed(c, policy) { c } else { '_' };
        let last_is_sep = out.chars().last().is_some_and(|l| SEPARATORS.contains(&l));
        if SEPARATORS.contains(&c) && last_is_sep {
            continue;
        }
        out.push(c);
    }
    let out = truncate(out.trim_matches(&SEPARATORS[..]), policy.max_length);
    (!out.is_empty()).then_some(out)
}

/// At most `max` characters, never ending in a separator.
fn truncate(s: &str, max: usize) -> String {
    s.chars()
        .take(max)
        .collect::<String>()
        .trim_end_matches(&SEPARATORS[..])
        .to_owned()
}

/// What [`sanitize`] guarantees; property tests hold it to that.
pub fn is_valid(name: &str, policy: &UsernamePolicy) -> bool {
    let count = name.chars().count();
    count >= 1
        && count <= policy.max_length
        && name.chars().all(|c| allowed(c, policy))
        && !name.starts_with(&SEPARATORS[..])
        && !name.ends_with(&SEPARATORS[..])
        && (!policy.lowercase || name.to_lowercase() == name)
}

/// Why no free username could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CollisionError {
    #[error("the username \"{0}\" is taken and the collision strategy is `reject`")]
    Taken(String),
    #[error("no free username near \"{0}\"")]
    Exhausted(String),
}

/// Picks a free username from `base` by the policy's collision strategy. Deterministic:
/// the same base, identity and directory always give the same answer.
pub fn resolve_collision(
    base: &str,
    policy: &UsernamePolicy,
    provider: &str,
    subject: &str,
    taken: &dyn Fn(&str) -> bool,
) -> Result<String, CollisionError> {
    if !taken(base) {
        return Ok(base.to_owned());
    }
    let with_suffix = |suffix: &str| {
        let room = policy.max_length.saturating_sub(suffix.chars().count());
        let head = truncate(base, room);
        if head.is_empty() {
            suffix.trim_start_matches('-').to_owned()
        } else {
            format!("{head}{suffix}")
        }
    };
    match policy.collision {
        Collision::Reject => Err(CollisionError::Taken(base.to_owned())),
        Collision::Suffix => (2..=10_000u32)
            .map(|n| with_suffix(&format!("-{n}")))
            .find(|c| !taken(c))
            .ok_or_else(|| CollisionError::Exhausted(base.to_owned())),
        Collision::Hash => {
            let hash = subject_hash(provider, subject);
            [8usize, 16, 32, 64]
                .iter()
                .filter_map(|&n| hash.get(..n))
                .map(|h| with_suffix(&format!("-{h}")))
                .find(|c| !taken(c))
                .ok_or_else(|| CollisionError::Exhausted(base.to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn policy() -> UsernamePolicy {
        UsernamePolicy::default()
    }

    #[test]
    fn sanitize_table() {
        let p = policy();
        let (long, cut) = ("x".repeat(100), "x".repeat(64));
        let cases: &[(&str, Option<&str>)] = &[
            ("Ada", Some("ada")),
            ("José Álvarez", Some("jose_alvarez")),
            ("ﬁsh", Some("fish")),
            ("ada@example.com", Some("ada_example.com")),
            ("--ada..lovelace--", Some("ada.lovelace")),
            ("a  b", Some("a_b")),
            ("張三", None),
            ("   ", None),
            ("Ａｄａ", Some("ada")),
            (long.as_str(), Some(cut.as_str())),
        ];
        for (raw, want) in cases {
            assert_eq!(sanitize(raw, &p).as_deref(), *want, "{raw:?}");
        }
        let unicode = UsernamePolicy {
            ascii_only: false,
            ..policy()
        };
        assert_eq!(sanitize("張三", &unicode).as_deref(), Some("張三"));
        assert_eq!(sanitize("José", &unicode).as_deref(), Some("josé"));
        let keep_case = UsernamePolicy {
            lowercase: false,
            ..policy()
        };
        assert_eq!(sanitize("Ada", &keep_case).as_deref(), Some("Ada"));
    }

    #[test]
    fn collisions() {
        let p = policy();
        let taken: BTreeSet<&str> = ["ada", "ada-2", "bob"].into();
        let is_taken = |s: &str| taken.contains(s);
        assert_eq!(
            resolve_collision("eve", &p, "x", "s", &is_taken),
            Ok("eve".into())
        );
        assert_eq!(
            resolve_collision("ada", &p, "x", "s", &is_taken),
            Ok("ada-3".into())
        );
        let hash = UsernamePolicy {
            collision: Collision::Hash,
            ..policy()
        };
        let h = resolve_collision("bob", &hash, "google", "1234", &is_taken);
        assert_eq!(
            h,
            Ok(format!("bob-{}", &subject_hash("google", "1234")[..8]))
        );
        let reject = UsernamePolicy {
            collision: Collision::Reject,
            ..policy()
        };
        assert_eq!(
            resolve_collision("bob", &reject, "x", "s", &is_taken),
            Err(CollisionError::Taken("bob".into()))
        );
        let short = UsernamePolicy {
            max_length: 4,
            ..policy()
        };
        let full: BTreeSet<&str> = ["abcd"].into();
        assert_eq!(
            resolve_collision("abcd", &short, "x", "s", &|s| full.contains(s)),
            Ok("ab-2".into())
        );
    }

    #[test]
    fn subject_hash_is_stable() {
        // Pinned: changing the derivation would orphan every unique_user_ids account.
        assert_eq!(
            subject_hash("google", "1234"),
            "e84c74d92765c1f1466f1c286cbe2ba6134e75d278fc9b45ea965d834afb11a9"
        );
        assert_ne!(subject_hash("ab", "c"), subject_hash("a", "bc"));
        assert_eq!(subject_hash("google", "1234").len(), 64);
    }

    proptest! {
        #[test]
        fn sanitized_names_are_valid(raw in "\\PC{0,80}", ascii in any::<bool>(), lower in any::<bool>(), max in 1usize..80) {
            let p = UsernamePolicy { ascii_only: ascii, lowercase: lower, max_length: max, ..policy() };
            if let Some(name) = sanitize(&raw, &p) {
                prop_assert!(is_valid(&name, &p), "{raw:?} -> {name:?}");
                prop_assert_eq!(sanitize(&name, &p), Some(name.clone()), "sanitize is idempotent");
            }
        }

        #[test]
        fn clean_ascii_names_are_taken_as_they_are(
            raw in "[ -~]{0,12}|[a-zA-Z0-9@._-]{0,12}",
            ascii in any::<bool>(), lower in any::<bool>(), at in any::<bool>(), max in 1usize..14,
        ) {
            let p = UsernamePolicy { ascii_only: ascii, lowercase: lower, max_length: max, allow_at_sign: at, ..policy() };
            if already_clean(&raw, &p) {
                prop_assert_eq!(sanitize_fully(&raw, &p), Some(raw.clone()));
            }
            prop_assert_eq!(sanitize(&raw, &p), sanitize_fully(&raw, &p));
        }

        #[test]
        fn resolved_names_are_valid_and_free(
            raw in "[a-zA-Z0-9 ._-]{1,30}",
            existing in proptest::collection::btree_set("[a-z0-9._-]{1,12}", 0..40),
            strategy in prop_oneof![Just(Collision::Suffix), Just(Collision::Hash)],
            max in 8usize..40,
        ) {
            let p = UsernamePolicy { collision: strategy, max_length: max, ..policy() };
            if let Some(base) = sanitize(&raw, &p) {
                let mut taken = existing.clone();
                taken.insert(base.clone());
                for i in 0..3 {
                    let got = resolve_collision(&base, &p, "prov", &format!("sub{i}"), &|s| taken.contains(s));
                    let name = got.map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert!(is_valid(&name, &p), "{name:?}");
                    prop_assert!(!taken.contains(&name));
                    taken.insert(name);
                }
            }
        }
    }
}
