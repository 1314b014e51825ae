//! The pending login between "Sign in with X" and the callback: state, nonce, PKCE
//! verifier, where to return, which provider, when. One-time use, ten minutes, bound
//! to the browser that started it (the binding secret lives in a cookie).

use crate::error::OidcError;
use crate::validate::constant_time_eq;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

/// How long a login may take, in seconds.
pub const LOGIN_TTL: i64 = 600;

/// `n` random bytes, base64url.
pub fn random_token(n: usize) -> Result<String, OidcError> {
    let mut bytes = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| OidcError::StateStore("the system random generator failed".into()))?;
    Ok(B64.encode(bytes))
}

/// What the callback needs to finish a login.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLogin {
    pub provider: String,
    pub nonce: String,
    pub pkce_verifier: Option<String>,
    pub return_to: String,
    pub created_at: i64,
    /// Opaque to the relying party: the server's purpose (e.g. linking to a session).
    #[serde(default)]
    pub purpose: Option<String>,
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("provider", &self.provider)
            .field("return_to", &self.return_to)
            .field("created_at", &self.created_at)
            .field("purpose", &self.purpose)
            .finish_non_exhaustive()
    }
}

/// The values handed to the browser: `state` goes to the provider, `binding` into a cookie.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedState {
    pub state: String,
    pub binding: String,
}

impl fmt::Debug for IssuedState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IssuedState([redacted])")
    }
}

/// Where pending logins live: in the directory (across instances), in memory, or in
/// a sealed cookie.
pub trait LoginStateStore: Send + Sync {
    fn put(&self, pending: &PendingLogin) -> Result<IssuedState, OidcError>;
    /// Takes the pending login once: a second call with the same state fails.
    fn take(
        &self,
        state: &str,
        binding: Option<&str>,
        provider: &str,
        now: i64,
    ) -> Result<PendingLogin, OidcError>;
}

fn lock<T>(m: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>, OidcError> {
    m.lock()
        .map_err(|_| OidcError::StateStore("lock poisoned".into()))
}

fn check(pending: &PendingLogin, provider: &str, now: i64) -> Result<(), OidcError> {
    if now > pending.created_at.saturating_add(LOGIN_TTL) {
        return Err(OidcError::StateExpired);
    }
    if pending.provider != provider {
        return Err(OidcError::StateWrongProvider {
            expected: pending.provider.clone(),
        });
    }
    Ok(())
}

/// Used states, remembered until they would have expired anyway.
#[derive(Default)]
struct Spent(HashMap<String, i64>);

impl Spent {
    fn spend(&mut self, state: &str, created_at: i64, now: i64) {
        if self.0.len() > 10_000 {
            self.0.retain(|_, until| *until >= now);
        }
        self.0
            .insert(state.to_owned(), created_at.saturating_add(LOGIN_TTL));
    }
    fn is_spent(&self, state: &str) -> bool {
        self.0.contains_key(state)
    }
}

/// state → (binding secret, pending login).
type Pending = HashMap<String, (String, PendingLogin)>;

/// Pending logins in this process's memory (single instance, or tests).
#[derive(Default)]
pub struct InMemoryStates {
    inner: Mutex<(Pending, Spent)>,
}

impl InMemoryStates {
    pub fn new() -> Self {
        Self::default()
    }
}

impl LoginStateStore for InMemoryStates {
    fn put(&self, pending: &PendingLogin) -> Result<IssuedState, OidcError> {
        let issued = IssuedState {
            state: random_token(32)?,
            binding: random_token(32)?,
        };
        let mut inner = lock(&self.inner)?;
        let now = pending.created_at;
        inner
            .0
            .retain(|_, (_, p)| now <= p.created_at.saturating_add(LOGIN_TTL));
        inner.0.insert(
            issued.state.clone(),
            (issued.binding.clone(), pending.clone()),
        );
        Ok(issued)
    }

    fn take(
        &self,
        state: &str,
        binding: Option<&str>,
        provider: &str,
        now: i64,
    ) -> Result<PendingLogin, OidcError> {
        let mut inner = lock(&self.inner)?;
        let Some((expected, pending)) = inner.0.get(state) else {
            return Err(if inner.1.is_spent(state) {
                OidcError::StateReplayed
            } else {
                OidcError::StateUnknown
            });
        };
        // Another browser must not burn the real user's state.
        if !binding.is_some_and(|b| constant_time_eq(b.as_bytes(), expected.as_bytes())) {
            return Err(OidcError::StateOtherBrowser);
        }
        let pending = pending.clone();
        inner.0.remove(state);
        inner.1.spend(state, pending.created_at, now);
        check(&pending, provider, now)?;
        Ok(pending)
    }
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    state: String,
    pending: PendingLogin,
}

/// Pending logins sealed (AES-256-GCM) into the binding cookie itself: nothing stored
/// server-side but the set of used states (for one-time use on this instance).
pub struct SealedStates {
    key: LessSafeKey,
    spent: Mutex<Spent>,
}

impl SealedStates {
    /// `key`: 32 secret bytes, the same on every instance.
    pub fn new(key: &[u8; 32]) -> Result<Self, OidcError> {
        let unbound = UnboundKey::new(&AES_256_GCM, key)
            .map_err(|_| OidcError::StateStore("bad sealing key".into()))?;
        Ok(SealedStates {
            key: LessSafeKey::new(unbound),
            spent: Mutex::new(Spent::default()),
        })
    }
}

impl LoginStateStore for SealedStates {
    fn put(&self, pending: &PendingLogin) -> Result<IssuedState, OidcError> {
        let state = random_token(32)?;
        let mut plain = serde_json::to_vec(&Sealed {
            state: state.clone(),
            pending: pending.clone(),
        })
        .map_err(|e| OidcError::StateStore(e.to_string()))?;
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce)
            .map_err(|_| OidcError::StateStore("the system random generator failed".into()))?;
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(b"ssogate-login-state"),
                &mut plain,
            )
            .map_err(|_| OidcError::StateStore("sealing failed".into()))?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&plain);
        Ok(IssuedState {
            state,
            binding: B64.encode(sealed),
        })
    }

    fn take(
        &self,
        state: &str,
        binding: Option<&str>,
        provider: &str,
        now: i64,
    ) -> Result<PendingLogin, OidcError> {
        let mut spent = lock(&self.spent)?;
        if spent.is_spent(state) {
            return Err(OidcError::StateReplayed);
        }
        // No cookie, a cookie that does not open, or one sealed for another state: this
        // browser did not start this login.
        let binding = binding.ok_or(OidcError::StateOtherBrowser)?;
        let mut bytes = B64
            .decode(binding)
            .map_err(|_| OidcError::StateOtherBrowser)?;
        if bytes.len() < NONCE_LEN {
            return Err(OidcError::StateOtherBrowser);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(bytes.get(..NONCE_LEN).unwrap_or_default());
        let opened = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(b"ssogate-login-state"),
                bytes.get_mut(NONCE_LEN..).unwrap_or_default(),
            )
            .map_err(|_| OidcError::StateOtherBrowser)?;
        let sealed: Sealed =
            serde_json::from_slice(opened).map_err(|_| OidcError::StateOtherBrowser)?;
        if !constant_time_eq(sealed.state.as_bytes(), state.as_bytes()) {
            return Err(OidcError::StateOtherBrowser);
        }
        spent.spend(state, sealed.pending.created_at, now);
        check(&sealed.pending, provider, now)?;
        Ok(sealed.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(now: i64) -> PendingLogin {
        PendingLogin {
            provider: "idp".into(),
            nonce: "n".into(),
            pkce_verifier: Some("v".into()),
            return_to: "/".into(),
            created_at: now,
            purpose: None,
        }
    }

    fn all_rules(store: &dyn LoginStateStore) {
        let a = store.put(&pending(1000)).unwrap();
        assert!(B64.decode(&a.state).unwrap().len() >= 32);
        assert_eq!(
            store.take(&a.state, None, "idp", 1001).unwrap_err(),
            OidcError::StateOtherBrowser
        );
        let b = store.put(&pending(1000)).unwrap();
        assert_eq!(
            store
                .take(&a.state, Some(&b.binding), "idp", 1001)
                .unwrap_err(),
            OidcError::StateOtherBrowser
        );
        assert_eq!(
            store
                .take(&a.state, Some(&a.binding), "idp", 1001)
                .unwrap()
                .nonce,
            "n"
        );
        assert_eq!(
            store
                .take(&a.state, Some(&a.binding), "idp", 1002)
                .unwrap_err(),
            OidcError::StateReplayed
        );
        assert_eq!(
            store
                .take(&b.state, Some(&b.binding), "idp", 1000 + LOGIN_TTL + 1)
                .unwrap_err(),
            OidcError::StateExpired
        );
        let c = store.put(&pending(1000)).unwrap();
        assert!(matches!(
            store.take(&c.state, Some(&c.binding), "other", 1001),
            Err(OidcError::StateWrongProvider { .. })
        ));
    }

    #[test]
    fn in_memory_states_follow_every_rule() {
        all_rules(&InMemoryStates::new());
        assert_eq!(
            InMemoryStates::new()
                .take("nope", Some("x"), "idp", 1)
                .unwrap_err(),
            OidcError::StateUnknown
        );
    }

    #[test]
    fn sealed_states_follow_every_rule_and_reject_tampering() {
        let store = SealedStates::new(&[7; 32]).unwrap();
        all_rules(&store);
        let a = store.put(&pending(1000)).unwrap();
        let mut raw = B64.decode(&a.binding).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert_eq!(
            store
                .take(&a.state, Some(&B64.encode(raw)), "idp", 1001)
                .unwrap_err(),
            OidcError::StateOtherBrowser
        );
        let other_key = SealedStates::new(&[8; 32]).unwrap();
        assert_eq!(
            other_key
                .take(&a.state, Some(&a.binding), "idp", 1001)
                .unwrap_err(),
            OidcError::StateOtherBrowser
        );
    }
}
