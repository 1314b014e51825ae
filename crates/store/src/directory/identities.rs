//! Identities: the sign-in methods linked to an account, linking and unlinking them,
//! external ids, and the claims a provider last sent.

use super::Backend;
use crate::StoreError;
use crate::accounts::{
    self, ExternalIdOutcome, IdentityInfo, LinkOutcome, NewIdentity, UnlinkOutcome,
};
use crate::{provision, settings};
use ssogate_core::domain::UserId;

pub trait IdentityStore {
    /// The identities linked to an account, oldest first.
    fn identities(&self, user_id: UserId) -> Result<Vec<IdentityInfo>, StoreError>;
    /// Links a verified identity to a signed-in account (account linking), in one
    /// transaction; never moves an identity from another account.
    fn link_identity(
        &self,
        user_id: UserId,
        identity: NewIdentity,
        now: i64,
    ) -> Result<LinkOutcome, StoreError>;
    /// Unlinks an account's identity at a provider, unless it is the last way to sign in.
    fn unlink_identity(&self, user_id: UserId, provider: &str)
    -> Result<UnlinkOutcome, StoreError>;
    /// Sets or (with `None`) removes an account's external authentication id at a
    /// provider.
    fn set_external_id(
        &self,
        user_id: UserId,
        provider: &str,
        external_id: Option<&str>,
    ) -> Result<ExternalIdOutcome, StoreError>;
    /// The identities that signed in most recently: (provider, subject, username).
    fn recent_identities(&self, limit: i64) -> Result<Vec<(String, String, String)>, StoreError>;
    /// The redacted claims of the last login through (provider, subject).
    fn last_claims(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<serde_json::Value>, StoreError>;
    /// How many accounts have an identity at a provider.
    fn accounts_linked_to(&self, slug: &str) -> Result<i64, StoreError>;
}

impl<B: Backend> IdentityStore for B {
    fn identities(&self, user_id: UserId) -> Result<Vec<IdentityInfo>, StoreError> {
        self.read(|db| accounts::identities(db, user_id))
    }
    fn link_identity(
        &self,
        user_id: UserId,
        identity: NewIdentity,
        now: i64,
    ) -> Result<LinkOutcome, StoreError> {
        self.write_tx(move |db, changed| {
            let out = accounts::link_identity(db, user_id, &identity, now)?;
            changed.user(user_id);
            Ok(out)
        })
    }
    fn unlink_identity(
        &self,
        user_id: UserId,
        provider: &str,
    ) -> Result<UnlinkOutcome, StoreError> {
        self.write_tx(|db, changed| {
            let out = accounts::unlink_identity(db, user_id, provider)?;
            changed.user(user_id);
            Ok(out)
        })
    }
    fn set_external_id(
        &self,
        user_id: UserId,
        provider: &str,
        external_id: Option<&str>,
    ) -> Result<ExternalIdOutcome, StoreError> {
        self.write_tx(|db, _| accounts::set_external_id(db, user_id, provider, external_id))
    }
    fn recent_identities(&self, limit: i64) -> Result<Vec<(String, String, String)>, StoreError> {
        self.read(|db| accounts::recent_identities(db, limit))
    }
    fn last_claims(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        self.read(|db| provision::last_claims(db, provider, subject))
    }
    fn accounts_linked_to(&self, slug: &str) -> Result<i64, StoreError> {
        self.read(|db| settings::accounts_linked_to(db, slug))
    }
}
