//! Sessions (forward-auth) and ssogate-issued access tokens (userinfo) in memory, kept
//! correct by the directory's invalidations: a logout, a back-channel logout, a revoked
//! token, a disabled account or changed grants — on this instance or (PostgreSQL
//! `LISTEN/NOTIFY`) any other — removes the entry before the write's caller hears back
//! (SQLite) or as soon as the notification lands (PostgreSQL).
//!
//! A lookup that misses reads the directory; its result is kept only if no invalidation
//! arrived meanwhile (a generation counter), so a stale read can never be cached.
//! Misses of one key at once read it once ([`Cache::turn`]): after a restart, a page
//! whose assets all pass through forward-auth with one cookie used to send as many
//! identical reads — each a write, pushing the idle deadline — and on PostgreSQL they
//! queued on the row's lock for a tenth of a second.

use ssogate_core::directory::ExistingUser;
use ssogate_core::domain::UserId;
use ssogate_store::invalidate::Invalidation;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// What a cache keeps: an account's, until a deadline.
pub(crate) trait Cached: Send + Sync {
    fn user_id(&self) -> UserId;
    /// When it stops being usable (may move later, never earlier, while cached).
    fn deadline(&self) -> i64;
    /// Whether `what`, beyond a session, an account or everything, empties this cache.
    fn flushed_by(what: &Invalidation) -> bool;
    /// How many the cache keeps at most (then the soonest to expire make room).
    const MAX: usize = MAX_ENTRIES;
}

pub(crate) type SessionCache = Cache<CachedSession>;
pub(crate) type TokenCache = Cache<CachedToken>;

/// The directory is told a session is still in use at most this often (it pushes the
/// idle deadline); in between, the cache answers alone.
pub(crate) const TOUCH_EVERY: i64 = 60;
const MAX_ENTRIES: usize = 200_000;
/// Access tokens live minutes, not days, and each holds its account: fewer are kept.
const MAX_TOKENS: usize = 50_000;

pub(crate) struct CachedSession {
    pub user_id: UserId,
    pub expires_at: i64,
    pub idle: i64,
    /// When the directory last pushed the idle deadline.
    pub touched_at: AtomicI64,
    pub user: Arc<ExistingUser>,
    /// The provider signed in through (`None`: a local password).
    pub provider: Option<String>,
    /// Forward-auth's answer, sealed in advance (`session::answer_headers`).
    pub headers: axum::http::HeaderMap,
}

impl Cached for CachedSession {
    fn user_id(&self) -> UserId {
        self.user_id
    }

    /// When it stops being live unless touched again.
    fn deadline(&self) -> i64 {
        self.expires_at.min(
            self.touched_at
                .load(Ordering::Relaxed)
                .saturating_add(self.idle),
        )
    }

    // Providers, settings and keys change engines, not sessions.
    fn flushed_by(_: &Invalidation) -> bool {
        false
    }
}

/// An access token ssogate issued as a provider, with its account as read with it.
pub(crate) struct CachedToken {
    pub client_id: String,
    pub user_id: UserId,
    pub scopes: Vec<String>,
    pub expires_at: i64,
    pub user: Arc<ExistingUser>,
}

impl Cached for CachedToken {
    const MAX: usize = MAX_TOKENS;

    fn user_id(&self) -> UserId {
        self.user_id
    }

    fn deadline(&self) -> i64 {
        self.expires_at
    }

    /// A client removed from the directory takes its tokens with it (the write says
    /// `Providers`); rare enough to forget every token rather than index them by client.
    fn flushed_by(what: &Invalidation) -> bool {
        matches!(what, Invalidation::Providers)
    }
}

struct Maps<E> {
    /// Keys are SHA-256 digests, and only the directory's sessions and tokens are kept:
    /// nobody can choose keys to collide, so the fast hash (forward-auth hashes one key
    /// per request; SipHash was a tenth of the lookup).
    by_hash: HashMap<String, Arc<E>, foldhash::fast::RandomState>,
    by_user: HashMap<UserId, HashSet<String>>,
    /// (deadline when queued, hash), soonest first. A deadline pushed back by a touch
    /// is found late and queued again; entries invalidated meanwhile are skipped.
    by_deadline: BTreeSet<(i64, String)>,
}

impl<E> Default for Maps<E> {
    fn default() -> Self {
        Maps {
            by_hash: HashMap::default(),
            by_user: HashMap::new(),
            by_deadline: BTreeSet::new(),
        }
    }
}

impl<E: Cached> Maps<E> {
    fn remove(&mut self, hash: &str) {
        if let Some(e) = self.by_hash.remove(hash)
            && let Some(set) = self.by_user.get_mut(&e.user_id())
        {
            set.remove(hash);
            if set.is_empty() {
                self.by_user.remove(&e.user_id());
            }
        }
    }

    /// Makes room for one more: expired entries first, then the soonest to expire.
    /// Amortised O(log n) per insert: each queued item is popped at most once more
    /// than it was pushed.
    fn make_room(&mut self, now: i64) {
        while self.by_hash.len() >= E::MAX {
            let Some((queued, hash)) = self.by_deadline.pop_first() else {
                return;
            };
            let Some(e) = self.by_hash.get(&hash) else {
                continue; // invalidated meanwhile
            };
            let deadline = e.deadline();
            if deadline > queued && deadline > now {
                // Touched since it was queued: not expired, back in line.
                self.by_deadline.insert((deadline, hash));
                continue;
            }
            self.remove(&hash);
        }
    }

    /// Drops queue items of entries no longer cached, once they outnumber the entries.
    fn compact(&mut self) {
        if self.by_deadline.len() > 2 * self.by_hash.len() + 1024 {
            let by_hash = &self.by_hash;
            self.by_deadline.retain(|(_, h)| by_hash.contains_key(h));
        }
    }
}

pub(crate) struct Cache<E> {
    maps: RwLock<Maps<E>>,
    generation: AtomicU64,
    /// Keys being read now, each with how its reader tells the waiting what it found.
    flights: Mutex<HashMap<String, tokio::sync::watch::Receiver<bool>>>,
}

impl<E> Default for Cache<E> {
    fn default() -> Self {
        Cache {
            maps: RwLock::new(Maps::default()),
            generation: AtomicU64::new(0),
            flights: Mutex::new(HashMap::new()),
        }
    }
}

/// Whose turn it is to read a key that missed.
enum Turn<'c> {
    /// This request reads it; the others wait until the guard goes.
    Lead(Flight<'c>),
    /// Another request read it meanwhile: look again, and read it only if it is still
    /// missing (that read failed, or an invalidation kept it out). Such reads are not
    /// shared: a failure is never handed to a request that did not try, and the
    /// generation check stays each reader's own.
    Waited,
    /// Another request read it and found nothing there (no such session or token):
    /// nothing can bring a random secret's entry into being meanwhile, so that answer
    /// is shared — a page's requests with a stale cookie read the directory once too.
    Absent,
}

/// What a lookup that missed is to do next.
pub(crate) enum Miss<'c, E> {
    /// Another request read the entry meanwhile, and memory keeps it.
    Found(Arc<E>),
    /// Another request read it and found nothing there.
    Absent,
    /// Read it from the directory now.
    Read(Reading<'c>),
}

/// A read from the directory about to happen: keep what it finds with
/// [`Cache::insert`] and `seen`, then drop this (which lets any request waiting on it
/// look again).
pub(crate) struct Reading<'c> {
    flight: Option<Flight<'c>>,
    /// The generation before the read: what it finds is kept only if no invalidation
    /// arrived since.
    pub seen: u64,
}

impl Reading<'_> {
    /// The read found no entry: the requests waiting on it need not read again.
    pub(crate) fn found_nothing(&self) {
        if let Some(f) = &self.flight {
            f.told.send_replace(true);
        }
    }
}

/// A read in flight; dropping it ends the flight.
struct Flight<'c> {
    flights: &'c Mutex<HashMap<String, tokio::sync::watch::Receiver<bool>>>,
    key: String,
    told: tokio::sync::watch::Sender<bool>,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        if let Ok(mut f) = self.flights.lock() {
            f.remove(&self.key);
        }
    }
}

impl<E: Cached> Cache<E> {
    pub(crate) fn get(&self, hash: &str) -> Option<Arc<E>> {
        self.maps.read().ok()?.by_hash.get(hash).cloned()
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The entry for `key` if memory holds one still live at `now`.
    pub(crate) fn live(&self, key: &str, now: i64) -> Option<Arc<E>> {
        self.get(key).filter(|e| now < e.deadline())
    }

    /// After a miss of `key`: what another request read meanwhile, or this request's
    /// turn to read it (one at a time per key; see [`Turn`]).
    pub(crate) async fn after_miss(&self, key: &str, now: i64) -> Miss<'_, E> {
        match self.turn(key).await {
            Turn::Lead(flight) => Miss::Read(Reading {
                flight: Some(flight),
                seen: self.generation(),
            }),
            Turn::Absent => Miss::Absent,
            Turn::Waited => match self.live(key, now) {
                Some(e) => Miss::Found(e),
                None => Miss::Read(self.reading()),
            },
        }
    }

    /// A read of its own, for a request that shares nothing with others.
    pub(crate) fn reading(&self) -> Reading<'_> {
        Reading {
            flight: None,
            seen: self.generation(),
        }
    }

    /// Takes the turn to read `key`, or waits for the request reading it now.
    async fn turn(&self, key: &str) -> Turn<'_> {
        let mut told = {
            let Ok(mut f) = self.flights.lock() else {
                return Turn::Waited;
            };
            match f.get(key) {
                Some(flight) => flight.clone(),
                None => {
                    let (tell, told) = tokio::sync::watch::channel(false);
                    f.insert(key.to_owned(), told);
                    return Turn::Lead(Flight {
                        flights: &self.flights,
                        key: key.to_owned(),
                        told: tell,
                    });
                }
            }
        };
        // Returns when the reader says it found nothing, or when its guard goes.
        match told.changed().await {
            Ok(()) if *told.borrow() => Turn::Absent,
            _ => Turn::Waited,
        }
    }

    /// Keeps `entry` unless something was invalidated since `seen` was read. A full
    /// cache makes room: expired entries go first, then those closest to expiry.
    pub(crate) fn insert(&self, hash: String, entry: Arc<E>, seen: u64, now: i64) {
        let Ok(mut m) = self.maps.write() else {
            return;
        };
        if self.generation.load(Ordering::Acquire) != seen {
            return;
        }
        m.remove(&hash);
        m.make_room(now);
        m.compact();
        m.by_user
            .entry(entry.user_id())
            .or_default()
            .insert(hash.clone());
        m.by_deadline.insert((entry.deadline(), hash.clone()));
        m.by_hash.insert(hash, entry);
    }

    pub(crate) fn invalidate(&self, what: &Invalidation) {
        // Bump first: a lookup in flight must not cache what it read before this.
        self.generation.fetch_add(1, Ordering::AcqRel);
        let Ok(mut m) = self.maps.write() else {
            return;
        };
        match what {
            Invalidation::Session(hash) => m.remove(hash),
            Invalidation::User(id) => {
                for hash in m.by_user.remove(id).unwrap_or_default() {
                    m.by_hash.remove(&hash);
                }
            }
            Invalidation::All => *m = Maps::default(),
            other if E::flushed_by(other) => *m = Maps::default(),
            Invalidation::Settings(_) | Invalidation::Providers | Invalidation::ProviderKeys(_) => {
            }
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

    fn entry(user_id: UserId) -> Arc<CachedSession> {
        entry_until(user_id, 1_000)
    }

    fn entry_until(user_id: UserId, expires_at: i64) -> Arc<CachedSession> {
        Arc::new(CachedSession {
            user_id,
            expires_at,
            idle: 100,
            touched_at: AtomicI64::new(0),
            user: Arc::new(
                serde_json::from_value::<ExistingUser>(serde_json::json!({"username": "u"}))
                    .unwrap_or_else(|_| unreachable!()),
            ),
            provider: None,
            headers: axum::http::HeaderMap::new(),
        })
    }

    #[test]
    fn invalidations_remove_sessions_users_and_everything() {
        let c = SessionCache::default();
        c.insert("a".into(), entry(UserId(1)), c.generation(), 0);
        c.insert("b".into(), entry(UserId(1)), c.generation(), 0);
        c.insert("c".into(), entry(UserId(2)), c.generation(), 0);
        assert_eq!(c.len(), 3);
        c.invalidate(&Invalidation::Session("a".into()));
        assert!(c.get("a").is_none() && c.get("b").is_some());
        c.invalidate(&Invalidation::User(UserId(1)));
        assert!(c.get("b").is_none() && c.get("c").is_some());
        c.invalidate(&Invalidation::All);
        assert_eq!(c.len(), 0);
    }

    fn token(user_id: UserId) -> Arc<CachedToken> {
        Arc::new(CachedToken {
            client_id: "app".into(),
            user_id,
            scopes: vec!["openid".into()],
            expires_at: 1_000,
            user: entry(user_id).user.clone(),
        })
    }

    /// Removing a client (`Providers`) must forget its tokens; sessions stay.
    #[test]
    fn tokens_go_with_their_account_and_with_a_client_change() {
        let (s, t) = (SessionCache::default(), TokenCache::default());
        s.insert("s".into(), entry(UserId(1)), s.generation(), 0);
        t.insert("t1".into(), token(UserId(1)), t.generation(), 0);
        t.insert("t2".into(), token(UserId(2)), t.generation(), 0);
        t.invalidate(&Invalidation::User(UserId(1)));
        assert!(t.get("t1").is_none() && t.get("t2").is_some());
        t.invalidate(&Invalidation::Settings(ssogate_core::policy::Scope::Global));
        assert!(t.get("t2").is_some(), "a settings change keeps tokens");
        s.invalidate(&Invalidation::Providers);
        t.invalidate(&Invalidation::Providers);
        assert!(s.get("s").is_some(), "sessions outlive a client change");
        assert!(t.get("t2").is_none(), "tokens do not");
    }

    /// Each cached token holds its account: the token cache is bounded lower.
    #[test]
    fn the_token_cache_keeps_at_most_its_own_bound() {
        let t = TokenCache::default();
        for i in 0..=MAX_TOKENS {
            t.insert(format!("t{i}"), token(UserId(1)), t.generation(), 0);
        }
        assert_eq!(t.len(), MAX_TOKENS);
        assert!(
            t.get(&format!("t{MAX_TOKENS}")).is_some(),
            "the newest is kept"
        );
    }

    #[test]
    fn a_read_that_raced_an_invalidation_is_not_kept() {
        let c = SessionCache::default();
        let seen = c.generation();
        c.invalidate(&Invalidation::User(UserId(7)));
        c.insert("x".into(), entry(UserId(7)), seen, 0);
        assert!(c.get("x").is_none());
    }

    /// Regression: at 200,000 entries the cache silently stopped caching (every
    /// forward-auth became a directory read). Now expired entries make room first,
    /// then the ones closest to expiry; live, fresh sessions are always cached.
    #[test]
    fn a_full_cache_evicts_by_expiry_and_keeps_caching() {
        let c = SessionCache::default();
        // Half expire at 50 (idle 100 from touched 0 → 100; absolute 50 sooner).
        for i in 0..MAX_ENTRIES {
            let until = if i % 2 == 0 { 50 } else { 1_000 };
            c.insert(
                format!("s{i}"),
                entry_until(UserId(i as i64), until),
                c.generation(),
                0,
            );
        }
        assert_eq!(c.len(), MAX_ENTRIES);
        c.insert("new".into(), entry(UserId(1)), c.generation(), 60);
        assert!(c.get("new").is_some(), "a new session is cached when full");
        assert!(c.get("s0").is_none(), "an expired one made room");
        assert!(c.get("s1").is_some(), "live ones stay");
        assert_eq!(c.len(), MAX_ENTRIES);
        // Touched entries move back in line: the untouched soonest-expiring goes.
        let touched = c.get("s3").unwrap_or_else(|| unreachable!());
        touched.touched_at.store(900, Ordering::Relaxed);
        for i in 0..(MAX_ENTRIES / 2) {
            c.insert(format!("n{i}"), entry(UserId(9)), c.generation(), 60);
        }
        assert!(
            c.get("s3").is_some(),
            "touched, so not the soonest to expire"
        );
        assert_eq!(c.len(), MAX_ENTRIES);
    }

    #[test]
    fn liveness_follows_the_absolute_and_idle_deadlines() {
        let cache = SessionCache::default();
        let e = entry(UserId(1));
        cache.insert("k".into(), e.clone(), cache.generation(), 0);
        let live = |now| cache.live("k", now).is_some();
        assert!(live(50));
        assert!(!live(100), "idle since the last touch");
        e.touched_at.store(950, Ordering::Relaxed);
        assert!(live(999));
        assert!(!live(1_000), "absolute lifetime");
    }

    /// Whether a future is done after one poll (no runtime, no waiting).
    fn poll_once<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> Option<F::Output> {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match f.poll(&mut cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        }
    }

    #[test]
    fn one_request_reads_a_missing_key_while_the_others_wait() {
        let cache = SessionCache::default();
        let Some(Turn::Lead(flight)) = poll_once(std::pin::pin!(cache.turn("k"))) else {
            unreachable!("the first miss reads")
        };
        // Another key is not held up.
        let Some(Turn::Lead(_other)) = poll_once(std::pin::pin!(cache.turn("j"))) else {
            unreachable!("another key reads at once")
        };
        let mut second = std::pin::pin!(cache.turn("k"));
        let mut third = std::pin::pin!(cache.turn("k"));
        assert!(poll_once(second.as_mut()).is_none(), "waits for the read");
        assert!(poll_once(third.as_mut()).is_none(), "waits for the read");
        // Done, failed or dropped with its request: the waiting look again.
        drop(flight);
        assert!(matches!(poll_once(second), Some(Turn::Waited)));
        assert!(matches!(poll_once(third), Some(Turn::Waited)));
        // The flight is over: the next miss reads.
        let Some(Turn::Lead(flight)) = poll_once(std::pin::pin!(cache.turn("k"))) else {
            unreachable!("a miss after the flight reads")
        };
        // A read that found nothing says so to those waiting, even once it is gone.
        let mut waiting = std::pin::pin!(cache.turn("k"));
        assert!(poll_once(waiting.as_mut()).is_none());
        flight.told.send_replace(true);
        drop(flight);
        assert!(matches!(poll_once(waiting), Some(Turn::Absent)));
    }
}
