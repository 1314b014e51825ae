//! ssogate-store: the directory on disk.
//!
//! Owns the schema and its migrations, turns the engine's [`Outcome`]s into rows in one
//! transaction (account, identity, grants with their source, audit event — all or
//! nothing), and answers the engine's lookups. SQLite is the embedded default: its
//! one writing connection runs each login's read–decide–write in a single `IMMEDIATE`
//! transaction, so concurrent first logins cannot create two accounts.
//!
//! Layout: [`directory`] holds the focused traits the surfaces call (accounts,
//! identities, grants and catalogue, sessions and login states, audit, keys and
//! settings, logins), each written once over a small [`Backend`]; [`SqliteStore`] and
//! [`PgStore`] are the two backends (how to read, write, and tell watchers); the other
//! modules are the query layer both share (`$1`-style SQL over [`sql::Db`]).
//!
//! It must not know HTTP, sessions cookies or the protocol: it receives verified claims
//! and returns decisions.

pub mod accounts;
pub mod audit;
pub mod catalogue;
pub mod credentials;
pub mod directory;
mod error;
pub mod import;
pub mod invalidate;
#[cfg(feature = "postgres")]
pub mod postgres;
mod provision;
pub mod query;
pub mod sessions;
pub mod settings;
pub mod sql;
pub mod sqlite;
mod users;

pub use audit::AuditEvent;
pub use directory::{
    AccountStore, AuditStore, Backend, Changed, Directory, GrantStore, IdentityStore, KeyStore,
    LifecycleStore, LoginStore, ProviderStore, SessionStore, Table, prelude,
};
pub use error::StoreError;
#[cfg(feature = "postgres")]
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use ssogate_core::Outcome;
use ssogate_core::domain::UserId;

/// Who asked, for the audit trail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// Unix seconds; injected so tests control the clock.
    pub now: i64,
    pub address: Option<String>,
    pub user_agent: Option<String>,
}

impl RequestContext {
    /// A context stamped with the current time.
    pub fn now() -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        RequestContext {
            now,
            ..Default::default()
        }
    }
}

/// A login, decided and written.
#[derive(Debug, Clone)]
pub struct LoginResult {
    pub outcome: Outcome,
    /// The account signed in to or created; `None` for rejections without one.
    pub user_id: Option<UserId>,
}
