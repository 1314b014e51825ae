//! Local passwords as administrators set them: checked against the configured policy,
//! hashed (Argon2id) before the directory is touched, audited without the password.
//! Reset links are one-time and expire; only their digest is stored.

use crate::{Admin, AdminError, UserDetail};
use ssogate_store::StoreError;
use ssogate_store::credentials::hash_password;
use ssogate_store::sessions::Secret;

/// A reset link's token, shown once, and when it stops working.
#[derive(Debug)]
pub struct ResetLink {
    pub token: Secret,
    pub username: String,
    /// Unix seconds.
    pub expires_at: i64,
}

impl Admin {
    /// Whether the policy accepts `password` for an account of this username and email
    /// (before the account exists, so a refused password creates nothing).
    pub fn check_password_policy(
        &self,
        username: &str,
        email: Option<&str>,
        password: &str,
    ) -> Result<(), AdminError> {
        self.configured
            .passwords
            .check(password, username, email)
            .map_err(|p| AdminError::Invalid {
                field: "password",
                message: p.to_string(),
            })
    }

    /// Sets an account's local password once the policy accepts it. Its sessions go on
    /// (an administrator setting a password is not a sign of theft; a reset is).
    pub fn set_password(&self, who: &str, password: &str) -> Result<UserDetail, AdminError> {
        let (id, user) = self.find(who)?;
        self.check_password_policy(&user.username, user.email.as_deref(), password)?;
        let hash = hash_password(password)?;
        self.directory
            .set_password_hash(id, Some(hash), (self.now)())?;
        self.audit(
            "admin.user.password_set",
            Some(id),
            serde_json::json!({"username": user.username}),
        )?;
        self.user(who)
    }

    /// Removes an account's local password, unless it is the only way the account can
    /// sign in (no identity linked: it would be locked out).
    pub fn remove_password(&self, who: &str) -> Result<UserDetail, AdminError> {
        let (id, user) = self.find(who)?;
        if !user.has_password {
            return Err(AdminError::NotFound {
                what: "password of account",
                name: user.username,
            });
        }
        if self.directory.identities(id)?.is_empty() {
            return Err(AdminError::Conflict(format!(
                "\"{}\" signs in only with its password; link a provider first, or disable the account instead",
                user.username
            )));
        }
        self.directory.set_password_hash(id, None, (self.now)())?;
        self.audit(
            "admin.user.password_removed",
            Some(id),
            serde_json::json!({"username": user.username}),
        )?;
        self.user(who)
    }

    /// A one-time link for the person to choose a password (the newest only; it expires
    /// after the configured minutes). The token is returned once and stored as a digest.
    pub fn create_reset_link(&self, who: &str) -> Result<ResetLink, AdminError> {
        let (id, user) = self.find(who)?;
        let now = (self.now)();
        let ttl = self.configured.reset_link_seconds;
        let token = self
            .directory
            .create_password_reset(id, Some(&self.actor), now, ttl)?
            .ok_or_else(|| {
                AdminError::Store(StoreError::Corrupt(format!(
                    "account {id} vanished while its reset link was made"
                )))
            })?;
        self.audit(
            "admin.user.password_reset_link",
            Some(id),
            serde_json::json!({"username": user.username, "expires_at": now + ttl}),
        )?;
        Ok(ResetLink {
            token,
            username: user.username,
            expires_at: now + ttl,
        })
    }
}
