//! Telling caches of sessions what to forget. A write that ends a session or changes
//! what an account may do names what it touched; the SQLite engine hands that to its
//! watchers after commit, the PostgreSQL engine sends it with `NOTIFY` inside the same
//! transaction, so every instance on the database hears it when (and only if) the write
//! commits.

use ssogate_core::domain::UserId;
use ssogate_core::policy::Scope;
use std::sync::{Arc, Mutex};

/// The PostgreSQL channel.
pub const CHANNEL: &str = "ssogate_invalidate";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// One session, by the digest of its secret.
    Session(String),
    /// Every session and cached access token of an account (ended or revoked, or the
    /// account's grants or status changed).
    User(UserId),
    /// A provisioning settings document changed.
    Settings(Scope),
    /// The providers managed in the database changed.
    Providers,
    /// A provider's discovery document and keys must be fetched anew (it rotated them).
    ProviderKeys(String),
    /// Everything (a notification may have been missed, or a bulk change happened).
    All,
}

impl Invalidation {
    pub fn payload(&self) -> String {
        match self {
            Invalidation::Session(h) => format!("s:{h}"),
            Invalidation::User(id) => format!("u:{id}"),
            Invalidation::Settings(scope) => format!("c:{}", scope.key()),
            // Spelled as settings scopes, as instances of earlier versions send them.
            Invalidation::Providers => "c:providers".to_owned(),
            Invalidation::ProviderKeys(slug) => format!("c:keys:{slug}"),
            Invalidation::All => "*".to_owned(),
        }
    }

    /// Reads a payload; anything unknown means "forget everything".
    pub fn parse(payload: &str) -> Invalidation {
        match payload.split_once(':') {
            Some(("s", h)) if !h.is_empty() => Invalidation::Session(h.to_owned()),
            Some(("u", id)) => id.parse().map_or(Invalidation::All, Invalidation::User),
            Some(("c", "providers")) => Invalidation::Providers,
            Some(("c", scope)) => match scope.strip_prefix("keys:") {
                Some(slug) if !slug.is_empty() => Invalidation::ProviderKeys(slug.to_owned()),
                Some(_) => Invalidation::All,
                None => Scope::parse(scope).map_or(Invalidation::All, Invalidation::Settings),
            },
            _ => Invalidation::All,
        }
    }
}

/// A watcher; called on the store's threads, so it must be quick.
pub type Sink = Arc<dyn Fn(&Invalidation) + Send + Sync>;

#[derive(Default, Clone)]
pub(crate) struct Sinks(Arc<Mutex<Vec<Sink>>>);

impl Sinks {
    pub(crate) fn add(&self, sink: Sink) {
        if let Ok(mut s) = self.0.lock() {
            s.push(sink);
        }
    }

    pub(crate) fn emit(&self, what: &[Invalidation]) {
        let sinks = self.0.lock().map(|s| s.clone()).unwrap_or_default();
        for s in &sinks {
            for w in what {
                s(w);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_unknown_means_everything() {
        for i in [
            Invalidation::Session("ab12".into()),
            Invalidation::User(UserId(42)),
            Invalidation::Settings(Scope::Provider("corp".into())),
            Invalidation::Settings(Scope::Global),
            Invalidation::Providers,
            Invalidation::ProviderKeys("corp".into()),
            Invalidation::All,
        ] {
            assert_eq!(Invalidation::parse(&i.payload()), i);
        }
        assert_eq!(Invalidation::parse("u:x"), Invalidation::All);
        assert_eq!(Invalidation::parse("s:"), Invalidation::All);
        assert_eq!(Invalidation::parse("what"), Invalidation::All);
        assert_eq!(Invalidation::parse("c:keys:"), Invalidation::All);
        assert_eq!(Invalidation::parse("c:provider:"), Invalidation::All);
        assert_eq!(Invalidation::parse("c:other"), Invalidation::All);
        // What earlier versions send is still understood.
        assert_eq!(
            Invalidation::parse("c:keys:corp"),
            Invalidation::ProviderKeys("corp".into())
        );
        assert_eq!(
            Invalidation::parse("c:global"),
            Invalidation::Settings(Scope::Global)
        );
    }
}
