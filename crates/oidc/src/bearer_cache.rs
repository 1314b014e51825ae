//! The bearer tokens a provider accepted, kept under the SHA-256 of their value (never
//! the token itself) until they expire, in a map of bounded size.

use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Who a bearer token speaks for.
#[derive(Debug, Clone, PartialEq)]
pub struct BearerIdentity {
    pub provider: String,
    pub subject: String,
    pub client_id: Option<String>,
    pub scopes: Vec<String>,
    /// Unix seconds; the cache forgets the token then.
    pub expires_at: i64,
    pub claims: Map<String, Value>,
}

type Digest = [u8; 32];

/// A bounded map from token digest to identity.
pub struct BearerCache {
    capacity: usize,
    map: RwLock<HashMap<Digest, Arc<BearerIdentity>>>,
}

fn digest(token: &str) -> Digest {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl BearerCache {
    pub fn new(capacity: usize) -> Self {
        BearerCache {
            capacity: capacity.max(1),
            map: RwLock::new(HashMap::new()),
        }
    }

    pub fn get(&self, token: &str, now: i64) -> Option<Arc<BearerIdentity>> {
        let key = digest(token);
        let map = self.map.read().ok()?;
        map.get(&key).filter(|id| id.expires_at > now).cloned()
    }

    pub(crate) fn put(&self, token: &str, id: Arc<BearerIdentity>, now: i64) {
        let Ok(mut map) = self.map.write() else {
            return;
        };
        if map.len() >= self.capacity {
            map.retain(|_, v| v.expires_at > now);
        }
        if map.len() >= self.capacity {
            // Still full of live entries: drop the ones closest to expiry.
            let mut expiries: Vec<i64> = map.values().map(|v| v.expires_at).collect();
            expiries.sort_unstable();
            let cut = expiries.get(self.capacity / 4).copied().unwrap_or(i64::MAX);
            map.retain(|_, v| v.expires_at > cut);
        }
        map.insert(digest(token), id);
    }

    pub fn len(&self) -> usize {
        self.map.read().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
