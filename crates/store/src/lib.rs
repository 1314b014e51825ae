//! ssogate-store: the directory on disk.
//!
//! Owns the schema and its migrations, turns the engine's [`Outcome`]s into rows in one
//! transaction (account, identity, grants with their source, audit event — all or
//! nothing), and answers the engine's lookups. SQLite is the embedded default: one
//! writer thread runs each login's read–decide–write in a single `IMMEDIATE`
//! transaction, so concurrent first logins cannot create two accounts.
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
pub mod query;
pub mod sessions;
pub mod settings;
pub mod sql;
pub mod sqlite;
mod users;

pub use audit::AuditEvent;
pub use error::StoreError;
#[cfg(feature = "postgres")]
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use accounts::{ExternalIdOutcome, IdentityInfo, LinkOutcome, NewIdentity, UnlinkOutcome};
use audit::NewEvent;
use credentials::{ApiKeyInfo, ApiScope, PasswordCheck};
use import::{ImportOutcome, ImportRow};
use query::{AuditFilter, UserFilter, UserPage};
use sessions::{LoginState, Session, SessionLifetimes, SessionOrigin};
use ssogate_core::claims::ClaimSources;
use ssogate_core::directory::ExistingUser;
use ssogate_core::domain::{Catalogue, GrantKind, UserStatus};
use ssogate_core::{Engine, Outcome};
use std::sync::Arc;

/// What both engines offer; the surfaces hold a `dyn Directory`.
pub trait Directory: Send + Sync {
    /// Makes the configured catalogue exist: permissions, libraries and groups (with
    /// their external ids) are inserted or updated; nothing is deleted.
    fn sync_catalogue(&self, catalogue: &Catalogue) -> Result<(), StoreError>;
    /// Decides a login with `engine` and writes the outcome — account, identity, grants
    /// and an audit event — in one transaction.
    fn login(
        &self,
        engine: Arc<Engine>,
        sources: ClaimSources,
        ctx: RequestContext,
    ) -> Result<LoginResult, StoreError>;
    /// The account with this username (case-insensitive).
    fn user_by_username(&self, username: &str) -> Result<Option<ExistingUser>, StoreError>;
    /// The account signed in by (provider, subject), with its grants.
    fn user_by_identity(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<ExistingUser>, StoreError>;
    /// Grants something as an administrator (source `admin`; a login never removes it).
    fn grant_by_admin(
        &self,
        user_id: i64,
        kind: GrantKind,
        name: &str,
        now: i64,
    ) -> Result<(), StoreError>;
    /// The newest audit events first.
    fn audit_events(&self, limit: i64) -> Result<Vec<AuditEvent>, StoreError>;
    /// The redacted claims of the last login through (provider, subject).
    fn last_claims(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<serde_json::Value>, StoreError>;
    /// How many rows a table has.
    fn count(&self, table: Table) -> Result<i64, StoreError>;
    /// Whether the database answers (for readiness checks).
    fn ping(&self) -> Result<(), StoreError> {
        self.count(Table::LoginStates).map(drop)
    }

    /// Opens a session; returns the cookie's secret (stored only as a digest).
    fn create_session(
        &self,
        user_id: i64,
        origin: &SessionOrigin<'_>,
        now: i64,
        life: SessionLifetimes,
    ) -> Result<sessions::Secret, StoreError>;
    /// The live session for a cookie's secret, its idle deadline pushed back.
    fn touch_session(
        &self,
        secret: &str,
        now: i64,
        life: SessionLifetimes,
    ) -> Result<Option<Session>, StoreError>;
    /// Ends one session: `None` when there was none, otherwise the ID token it was
    /// opened with, if any (for `id_token_hint` at RP-initiated logout).
    fn end_session(&self, secret: &str) -> Result<Option<sessions::EndedSession>, StoreError>;
    /// Ends the sessions a back-channel logout names (by `sid`, else by subject).
    fn end_sessions_by_provider(
        &self,
        provider: &str,
        sid: Option<&str>,
        subject: Option<&str>,
    ) -> Result<u64, StoreError>;
    /// Ends every session of an account.
    fn end_sessions_for_user(&self, user_id: i64) -> Result<u64, StoreError>;
    /// Stores a pending login under its state; returns the browser-binding secret.
    fn put_login_state(
        &self,
        provider: &str,
        state: &str,
        payload: &str,
        now: i64,
        ttl: i64,
    ) -> Result<String, StoreError>;
    /// Takes a pending login, once.
    fn take_login_state(
        &self,
        state: &str,
        binding: Option<&str>,
        provider: &str,
        now: i64,
    ) -> Result<LoginState, sessions::TakeStateError>;
    /// Deletes expired sessions and login states.
    fn sweep(&self, now: i64) -> Result<(u64, u64), StoreError>;
    /// Lists accounts with filters, sorting and keyset pagination.
    fn list_users(&self, filter: &UserFilter) -> Result<UserPage, StoreError>;
    /// Audit events, newest first, with their ids.
    fn query_audit(&self, filter: &AuditFilter) -> Result<Vec<(i64, AuditEvent)>, StoreError>;
    /// Deletes audit events older than `before` (retention); how many.
    fn purge_audit(&self, before: i64) -> Result<u64, StoreError>;
    /// Creates or updates pre-provisioned accounts, each row whole or absent; a dry run
    /// writes nothing. `progress` is called after each row.
    ///
    /// With `audit`, each account created or changed is an audit event and the run ends
    /// with an `import.completed` summary (callers that record their own event pass
    /// `None`).
    fn import_users(
        &self,
        rows: Vec<ImportRow>,
        now: i64,
        dry_run: bool,
        audit: Option<import::ImportAudit>,
        progress: Box<dyn Fn(u64) + Send + Sync>,
    ) -> Result<Vec<ImportOutcome>, StoreError>;
    /// Sets (or removes) an account's local password (Argon2id). Whether it exists.
    fn set_password(
        &self,
        user_id: i64,
        password: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Checks a username and password.
    fn check_password(&self, username: &str, password: &str) -> Result<PasswordCheck, StoreError>;
    /// Creates an API key; returns it whole, once.
    fn create_api_key(
        &self,
        name: &str,
        scope: ApiScope,
        now: i64,
    ) -> Result<sessions::Secret, StoreError>;
    /// The scope of a presented key, if live; records its use.
    fn check_api_key(&self, key: &str, now: i64) -> Result<Option<ApiScope>, StoreError>;
    /// Every key, newest first (never their secrets).
    fn list_api_keys(&self) -> Result<Vec<ApiKeyInfo>, StoreError>;
    /// Revokes a key; whether it was live.
    fn revoke_api_key(&self, id: i64, now: i64) -> Result<bool, StoreError>;
    /// Records a back-channel logout token's `jti`; `false` when it is a replay.
    fn record_logout_jti(
        &self,
        provider: &str,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// The provisioning settings document of a scope (`global` or `provider:<slug>`).
    fn get_settings(&self, scope: &str) -> Result<Option<serde_json::Value>, StoreError>;
    /// Every saved provisioning settings document: (scope, document).
    fn all_settings(&self) -> Result<Vec<(String, serde_json::Value)>, StoreError>;
    /// Saves a scope's provisioning settings document whole.
    fn put_settings(
        &self,
        scope: &str,
        document: &serde_json::Value,
        by: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Providers managed in the database: (slug, document).
    fn list_providers(&self) -> Result<Vec<(String, serde_json::Value)>, StoreError>;
    /// Adds or replaces a provider managed in the database.
    fn put_provider(
        &self,
        slug: &str,
        document: &serde_json::Value,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Deletes a provider and ends the sessions begun through it; how many accounts were
    /// linked to it (`None`: no such provider). Watchers hear `All`.
    fn delete_provider(&self, slug: &str) -> Result<Option<i64>, StoreError>;
    /// How many accounts have an identity at a provider.
    fn accounts_linked_to(&self, slug: &str) -> Result<i64, StoreError>;
    /// Sets an account's status; anything but active ends its sessions. Whether it exists.
    fn set_user_status(
        &self,
        user_id: i64,
        status: UserStatus,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// One account with its identities, external ids and grants.
    fn user(&self, id: i64) -> Result<Option<ExistingUser>, StoreError>;
    /// The identities linked to an account, oldest first.
    fn identities(&self, user_id: i64) -> Result<Vec<IdentityInfo>, StoreError>;
    /// Links a verified identity to a signed-in account (account linking), in one
    /// transaction; never moves an identity from another account.
    fn link_identity(
        &self,
        user_id: i64,
        identity: NewIdentity,
        now: i64,
    ) -> Result<LinkOutcome, StoreError>;
    /// Unlinks an account's identity at a provider, unless it is the last way to sign in.
    fn unlink_identity(&self, user_id: i64, provider: &str) -> Result<UnlinkOutcome, StoreError>;
    /// Records an audit event that is not a login decision.
    fn record_event(&self, event: NewEvent) -> Result<(), StoreError>;
    /// Sets or (with `None`) removes an account's external authentication id at a
    /// provider.
    fn set_external_id(
        &self,
        user_id: i64,
        provider: &str,
        external_id: Option<&str>,
    ) -> Result<ExternalIdOutcome, StoreError>;
    /// Accounts by source and status; provisioned accounts and failed sign-ins per day
    /// since `since`.
    fn stats(&self, since: i64) -> Result<query::Stats, StoreError>;
    /// What a login with these claims would decide now, writing nothing.
    fn decide(&self, engine: Arc<Engine>, sources: ClaimSources) -> Result<Outcome, StoreError>;
    /// Takes a grant away as an administrator; whether there was one.
    fn revoke_by_admin(
        &self,
        user_id: i64,
        kind: GrantKind,
        name: &str,
    ) -> Result<bool, StoreError>;
    /// Changes an account's display name and/or email; a new email is unverified.
    /// Whether the account exists.
    fn update_profile(
        &self,
        user_id: i64,
        display_name: accounts::Change<String>,
        email: accounts::Change<String>,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// The identities that signed in most recently: (provider, subject, username).
    fn recent_identities(&self, limit: i64) -> Result<Vec<(String, String, String)>, StoreError>;
    /// Deletes an account (identities, grants, sessions); whether it existed.
    fn delete_user(&self, user_id: i64) -> Result<bool, StoreError>;
    /// Calls `sink` whenever a committed write ends sessions or changes an account —
    /// on this instance, and (PostgreSQL) on every other instance on the database.
    fn watch(&self, sink: invalidate::Sink) -> Result<(), StoreError>;
    /// Every catalogue item with how many accounts hold it.
    fn catalogue_entries(&self) -> Result<Vec<catalogue::Entry>, StoreError>;
    /// The catalogue as stored (the configured one and what administrators added).
    fn catalogue(&self) -> Result<Catalogue, StoreError>;
    /// Creates, changes or deletes a catalogue item; watchers hear `All` when it is done
    /// (grants may have been renamed or taken away, engines must recompile).
    fn edit_catalogue(&self, edit: catalogue::Edit) -> Result<catalogue::Edited, StoreError>;
    /// Tells every watcher (on every instance, for PostgreSQL) something no write says,
    /// e.g. `Settings("keys:<slug>")` after an operator asks for a provider's keys anew.
    fn announce(&self, what: invalidate::Invalidation) -> Result<(), StoreError>;
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
        }
    }
}

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
    pub user_id: Option<i64>,
}
