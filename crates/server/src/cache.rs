//! Sessions in memory for forward-auth, kept correct by the directory's invalidations:
//! a logout, a back-channel logout, a disabled account or changed grants — on this
//! instance or (PostgreSQL `LISTEN/NOTIFY`) any other — removes the entry before the
//! write's caller hears back (SQLite) or as soon as the notification lands (PostgreSQL).
//!
//! A lookup that misses reads the directory; its result is kept only if no invalidation
//! arrived meanwhile (a generation counter), so a stale read can never be cached.

use axum::http::{HeaderName, HeaderValue};
use ssogate_core::directory::ExistingUser;
use ssogate_store::invalidate::Invalidation;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// The directory is told a session is still in use at most this often (it pushes the
/// idle deadline); in between, the cache answers alone.
pub(crate) const TOUCH_EVERY: i64 = 60;
const MAX_ENTRIES: usize = 200_000;

pub(crate) struct CachedSession {
    pub user_id: i64,
    pub expires_at: i64,
    pub idle: i64,
    /// When the directory last pushed the idle deadline.
    pub touched_at: AtomicI64,
    pub user: Arc<ExistingUser>,
    /// The provider signed in through (`None`: a local password).
    pub provider: Option<String>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl CachedSession {
    pub(crate) fn live(&self, now: i64) -> bool {
        now < self.expires_at && now < self.touched_at.load(Ordering::Relaxed) + self.idle
    }
}

#[derive(Default)]
struct Maps {
    by_hash: HashMap<String, Arc<CachedSession>>,
    by_user: HashMap<i64, HashSet<String>>,
}

#[derive(Default)]
pub(crate) struct SessionCache {
    maps: RwLock<Maps>,
    generation: AtomicU64,
}

impl SessionCache {
    pub(crate) fn get(&self, hash: &str) -> Option<Arc<CachedSession>> {
        self.maps.read().ok()?.by_hash.get(hash).cloned()
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps `entry` unless something was invalidated since `seen` was read.
    pub(crate) fn insert(&self, hash: String, entry: Arc<CachedSession>, seen: u64) {
        let Ok(mut m) = self.maps.write() else {
            return;
        };
        if self.generation.load(Ordering::Acquire) != seen || m.by_hash.len() >= MAX_ENTRIES {
            return;
        }
        m.by_user
            .entry(entry.user_id)
            .or_default()
            .insert(hash.clone());
        m.by_hash.insert(hash, entry);
    }

    pub(crate) fn invalidate(&self, what: &Invalidation) {
        // Bump first: a lookup in flight must not cache what it read before this.
        self.generation.fetch_add(1, Ordering::AcqRel);
        let Ok(mut m) = self.maps.write() else {
            return;
        };
        match what {
            Invalidation::Session(hash) => {
                if let Some(e) = m.by_hash.remove(hash)
                    && let Some(set) = m.by_user.get_mut(&e.user_id)
                {
                    set.remove(hash);
                    if set.is_empty() {
                        m.by_user.remove(&e.user_id);
                    }
                }
            }
            Invalidation::User(id) => {
                for hash in m.by_user.remove(id).unwrap_or_default() {
                    m.by_hash.remove(&hash);
                }
            }
            Invalidation::All => *m = Maps::default(),
            // Settings change engines, not sessions.
            Invalidation::Settings(_) => {}
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.maps.read().map(|m| m.by_hash.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(user_id: i64) -> Arc<CachedSession> {
        Arc::new(CachedSession {
            user_id,
            expires_at: 1_000,
            idle: 100,
            touched_at: AtomicI64::new(0),
            user: Arc::new(
                serde_json::from_value::<ExistingUser>(serde_json::json!({"username": "u"}))
                    .unwrap_or_else(|_| unreachable!()),
            ),
            provider: None,
            headers: Vec::new(),
        })
    }

    #[test]
    fn invalidations_remove_sessions_users_and_everything() {
        let c = SessionCache::default();
        c.insert("a".into(), entry(1), c.generation());
        c.insert("b".into(), entry(1), c.generation());
        c.insert("c".into(), entry(2), c.generation());
        assert_eq!(c.len(), 3);
        c.invalidate(&Invalidation::Session("a".into()));
        assert!(c.get("a").is_none() && c.get("b").is_some());
        c.invalidate(&Invalidation::User(1));
        assert!(c.get("b").is_none() && c.get("c").is_some());
        c.invalidate(&Invalidation::All);
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn a_read_that_raced_an_invalidation_is_not_kept() {
        let c = SessionCache::default();
        let seen = c.generation();
        c.invalidate(&Invalidation::User(7));
        c.insert("x".into(), entry(7), seen);
        assert!(c.get("x").is_none());
    }

    #[test]
    fn liveness_follows_the_absolute_and_idle_deadlines() {
        let e = entry(1);
        assert!(e.live(50));
        assert!(!e.live(100), "idle since the last touch");
        e.touched_at.store(950, Ordering::Relaxed);
        assert!(e.live(999));
        assert!(!e.live(1_000), "absolute lifetime");
    }
}
