//! Accounts: one by id, username or identity; the list; status, profile, deletion and
//! bulk import.

use super::Backend;
use crate::StoreError;
use crate::accounts::{self, Change};
use crate::import::{self, ImportAudit, ImportOutcome, ImportRow};
use crate::invalidate::Invalidation;
use crate::query::{self, UserFilter, UserPage};
use crate::sessions;
use crate::sql::args;
use crate::users::load_user;
use ssogate_core::directory::ExistingUser;
use ssogate_core::domain::UserId;
use ssogate_core::domain::UserStatus;

pub trait AccountStore {
    /// One account with its identities, external ids and grants.
    fn user(&self, id: UserId) -> Result<Option<ExistingUser>, StoreError>;
    /// The account with this username (case-insensitive).
    fn user_by_username(&self, username: &str) -> Result<Option<ExistingUser>, StoreError>;
    /// The account signed in by (provider, subject), with its grants.
    fn user_by_identity(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<ExistingUser>, StoreError>;
    /// Lists accounts with filters, sorting and keyset pagination.
    fn list_users(&self, filter: &UserFilter) -> Result<UserPage, StoreError>;
    /// Sets an account's status; anything but active ends its sessions. Whether it exists.
    fn set_user_status(
        &self,
        user_id: UserId,
        status: UserStatus,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Changes an account's display name and/or email; a new email is unverified.
    /// Whether the account exists.
    fn update_profile(
        &self,
        user_id: UserId,
        display_name: Change<String>,
        email: Change<String>,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Deletes an account (identities, grants, sessions); whether it existed.
    fn delete_user(&self, user_id: UserId, now: i64) -> Result<bool, StoreError>;
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
        audit: Option<ImportAudit>,
        progress: Box<dyn Fn(u64) + Send + Sync>,
    ) -> Result<Vec<ImportOutcome>, StoreError>;
}

impl<B: Backend> AccountStore for B {
    fn user(&self, id: UserId) -> Result<Option<ExistingUser>, StoreError> {
        self.read(|db| accounts::user_by_id(db, id))
    }
    fn user_by_username(&self, username: &str) -> Result<Option<ExistingUser>, StoreError> {
        self.read(|db| {
            let id = db.query_int(
                "SELECT id FROM users WHERE lower(username) = lower($1)",
                args![username],
            )?;
            id.map(|id| load_user(db, UserId(id))).transpose()
        })
    }
    /// One indexed lookup plus the account's rows.
    fn user_by_identity(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<ExistingUser>, StoreError> {
        self.read(|db| {
            let id = db.query_int(
                "SELECT user_id FROM identities WHERE provider = $1 AND subject = $2",
                args![provider, subject],
            )?;
            id.map(|id| load_user(db, UserId(id))).transpose()
        })
    }
    fn list_users(&self, filter: &UserFilter) -> Result<UserPage, StoreError> {
        self.read(|db| query::list_users(db, filter))
    }
    fn set_user_status(
        &self,
        user_id: UserId,
        status: UserStatus,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.write_tx(move |db, changed| {
            let out = sessions::set_status(db, user_id, status, now)?;
            changed.user(user_id);
            Ok(out)
        })
    }
    fn update_profile(
        &self,
        user_id: UserId,
        display_name: Change<String>,
        email: Change<String>,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.write_tx(move |db, changed| {
            let out = accounts::update_profile(db, user_id, &display_name, &email, now)?;
            changed.user(user_id);
            Ok(out)
        })
    }
    fn delete_user(&self, user_id: UserId, now: i64) -> Result<bool, StoreError> {
        self.write_tx(move |db, changed| {
            let out = accounts::delete_user(db, user_id, now)?;
            changed.user(user_id);
            Ok(out)
        })
    }
    /// Outside a transaction: the import commits in chunks of its own, so logins are not
    /// held up behind one long transaction.
    fn import_users(
        &self,
        rows: Vec<ImportRow>,
        now: i64,
        dry_run: bool,
        audit: Option<ImportAudit>,
        progress: Box<dyn Fn(u64) + Send + Sync>,
    ) -> Result<Vec<ImportOutcome>, StoreError> {
        self.write(move |db, changed| {
            let out = import::import_rows(db, &rows, now, dry_run, audit.as_ref(), &*progress)?;
            if !dry_run {
                changed.push(Invalidation::All);
            }
            Ok(out)
        })
    }
}
