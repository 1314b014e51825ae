//! The directory as the surfaces see it: focused traits (accounts, identities, grants and
//! the catalogue, sessions and login states, audit, keys and settings, logins), each
//! written once over a small [`Backend`] that the two engines implement.
//!
//! An engine only says how to read, how to write (with or without a transaction) and
//! how to tell watchers what changed; every operation is the same code on SQLite and
//! PostgreSQL, so the two cannot drift apart.

mod accounts;
mod audit;
pub mod clients;
mod grants;
mod identities;
mod keys;
pub mod lifecycle;
pub mod op;
mod provisioning;
pub mod scim;
mod sessions;
pub mod webhooks;

pub use accounts::AccountStore;
pub use audit::AuditStore;
pub use clients::ClientStore;
pub use grants::GrantStore;
pub use identities::IdentityStore;
pub use keys::KeyStore;
pub use lifecycle::LifecycleStore;
pub use op::ProviderStore;
pub use provisioning::LoginStore;
pub use scim::ScimStore;
pub use sessions::SessionStore;
pub use webhooks::WebhookStore;

use crate::StoreError;
use crate::invalidate::{Invalidation, Sink};
use crate::sql::Db;
use ssogate_core::domain::UserId;

/// What an engine offers the directory. Implemented by [`crate::SqliteStore`] and
/// [`crate::PgStore`]; the operations above are written once over it.
pub trait Backend: Send + Sync {
    /// Runs `f` on a connection for reading (SQLite: one of a small pool of read-only
    /// connections beside the writer).
    fn read<T>(
        &self,
        f: impl FnOnce(&mut dyn Db) -> Result<T, StoreError>,
    ) -> Result<T, StoreError>;

    /// Runs `f` where writes go, outside a transaction (each statement commits on its
    /// own, or `f` manages its own): SQLite's one writing connection, any PostgreSQL connection.
    /// What `f` reports in [`Changed`] is told to watchers once it has returned.
    fn write<T>(
        &self,
        f: impl FnOnce(&mut dyn Db, &mut Changed) -> Result<T, StoreError>,
    ) -> Result<T, StoreError>;

    /// Runs `f` in one write transaction, committed when it returns `Ok`. SQLite: a
    /// `BEGIN IMMEDIATE` on the one writing connection. PostgreSQL: run again after losing a race
    /// to another writer (a unique violation, serialization failure or deadlock), so `f`
    /// may run more than once; what it reports in [`Changed`] is sent with the commit.
    fn write_tx<T>(
        &self,
        f: impl FnMut(&mut dyn Db, &mut Changed) -> Result<T, StoreError>,
    ) -> Result<T, StoreError>;

    /// Tells every watcher (every instance, on PostgreSQL) something no write says.
    fn emit(&self, what: Vec<Invalidation>) -> Result<(), StoreError>;

    /// Calls `sink` whenever a committed write ends sessions or changes an account.
    fn subscribe(&self, sink: Sink) -> Result<(), StoreError>;
}

/// What a write changed, for the caches of sessions to forget.
#[derive(Debug, Default)]
pub struct Changed(Vec<Invalidation>);

impl Changed {
    pub fn push(&mut self, what: Invalidation) {
        self.0.push(what);
    }
    /// Every session and token of an account (said once however often it is asked).
    pub fn user(&mut self, user_id: UserId) {
        let what = Invalidation::User(user_id);
        if !self.0.contains(&what) {
            self.0.push(what);
        }
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// What was reported, leaving nothing (a retried transaction starts afresh).
    pub fn take(&mut self) -> Vec<Invalidation> {
        std::mem::take(&mut self.0)
    }
}

/// Everything the surfaces use; they hold a `dyn Directory`.
pub trait Directory:
    AccountStore
    + IdentityStore
    + GrantStore
    + SessionStore
    + AuditStore
    + KeyStore
    + LoginStore
    + ProviderStore
    + LifecycleStore
    + WebhookStore
    + ScimStore
    + ClientStore
    + Send
    + Sync
{
    /// How many rows a table has.
    fn count(&self, table: Table) -> Result<i64, StoreError>;
    /// Whether the database answers (for readiness checks).
    fn ping(&self) -> Result<(), StoreError> {
        self.count(Table::LoginStates).map(drop)
    }
    /// Calls `sink` whenever a committed write ends sessions or changes an account —
    /// on this instance, and (PostgreSQL) on every other instance on the database.
    fn watch(&self, sink: Sink) -> Result<(), StoreError>;
    /// Tells every watcher (on every instance, for PostgreSQL) something no write says,
    /// e.g. `ProviderKeys(slug)` after an operator asks for a provider's keys anew.
    fn announce(&self, what: Invalidation) -> Result<(), StoreError>;
}

impl<B: Backend> Directory for B {
    fn count(&self, table: Table) -> Result<i64, StoreError> {
        self.read(|db| {
            Ok(db
                .query_int(&format!("SELECT count(*) FROM {}", table.name()), &[])?
                .unwrap_or(0))
        })
    }
    fn watch(&self, sink: Sink) -> Result<(), StoreError> {
        self.subscribe(sink)
    }
    fn announce(&self, what: Invalidation) -> Result<(), StoreError> {
        self.emit(vec![what])
    }
}

/// Tables [`Directory::count`] can count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Users,
    Identities,
    AuditEvents,
    UserGroups,
    UserPermissions,
    Sessions,
    LoginStates,
    PasswordResets,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Users => "users",
            Table::Identities => "identities",
            Table::AuditEvents => "audit_events",
            Table::UserGroups => "user_groups",
            Table::UserPermissions => "user_permissions",
            Table::Sessions => "sessions",
            Table::LoginStates => "login_states",
            Table::PasswordResets => "password_resets",
        }
    }
}

/// The directory's traits in scope, for calling them on a `dyn Directory`:
/// `use ssogate_store::prelude::*;`.
pub mod prelude {
    pub use super::Directory;
    pub use super::{
        AccountStore as _, AuditStore as _, ClientStore as _, GrantStore as _, IdentityStore as _,
        KeyStore as _, LifecycleStore as _, LoginStore as _, ProviderStore as _, ScimStore as _,
        SessionStore as _, WebhookStore as _,
    };
}
