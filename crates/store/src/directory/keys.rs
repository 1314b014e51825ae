//! Keys and settings: local passwords, API keys, provisioning settings documents and the
//! providers managed in the database.

use super::Backend;
use crate::StoreError;
use crate::credentials::{self, ApiKeyInfo, ApiScope, PasswordCheck, PasswordRecord};
use crate::invalidate::Invalidation;
use crate::sessions::Secret;
use crate::settings;
use serde_json::Value;
use ssogate_core::domain::UserId;
use ssogate_core::policy::Scope;

pub trait KeyStore {
    /// Sets (or removes) an account's local password (Argon2id). Whether it exists.
    fn set_password(
        &self,
        user_id: UserId,
        password: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Stores a password hash made beforehand ([`credentials::hash_password`], on a
    /// thread of the caller's choosing), or removes the password. Whether it exists.
    fn set_password_hash(
        &self,
        user_id: UserId,
        hash: Option<String>,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// A one-time reset link's token for an account, valid `ttl` seconds; earlier links
    /// of the account stop working. `None`: no such account.
    fn create_password_reset(
        &self,
        user_id: UserId,
        by: Option<&str>,
        now: i64,
        ttl: i64,
    ) -> Result<Option<Secret>, StoreError>;
    /// The account a live reset token is for, without using it up.
    fn peek_password_reset(&self, token: &str, now: i64) -> Result<Option<UserId>, StoreError>;
    /// Uses a reset token up: the account it was for, once, while it lives.
    fn take_password_reset(&self, token: &str, now: i64) -> Result<Option<UserId>, StoreError>;
    /// Checks a username and password (Argon2 on the calling thread, after the
    /// connection is given back).
    fn check_password(&self, username: &str, password: &str) -> Result<PasswordCheck, StoreError>;
    /// What a password check needs of an account (no hashing: cheap), for callers that
    /// verify on threads of their own with [`credentials::judge_password`].
    fn password_record(&self, username: &str) -> Result<PasswordRecord, StoreError>;
    /// Creates an API key; returns it whole, once.
    fn create_api_key(&self, name: &str, scope: ApiScope, now: i64) -> Result<Secret, StoreError>;
    /// The scope of a presented key, if live; records its use.
    fn check_api_key(&self, key: &str, now: i64) -> Result<Option<ApiScope>, StoreError>;
    /// A SCIM token for `provider`'s SCIM client; returned whole, once.
    fn create_scim_token(&self, name: &str, provider: &str, now: i64)
    -> Result<Secret, StoreError>;
    /// The provider a presented SCIM token is bound to, if it is one and live; records
    /// its use.
    fn check_scim_token(&self, key: &str, now: i64) -> Result<Option<String>, StoreError>;
    /// Every key, newest first (never their secrets).
    fn list_api_keys(&self) -> Result<Vec<ApiKeyInfo>, StoreError>;
    /// Revokes a key; whether it was live.
    fn revoke_api_key(&self, id: i64, now: i64) -> Result<bool, StoreError>;
    /// The provisioning settings document of a scope.
    fn get_settings(&self, scope: &Scope) -> Result<Option<Value>, StoreError>;
    /// Every saved provisioning settings document: (scope, document).
    fn all_settings(&self) -> Result<Vec<(Scope, Value)>, StoreError>;
    /// Saves a scope's provisioning settings document whole.
    fn put_settings(
        &self,
        scope: &Scope,
        document: &Value,
        by: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Providers managed in the database: (slug, document).
    fn list_providers(&self) -> Result<Vec<(String, Value)>, StoreError>;
    /// Adds or replaces a provider managed in the database.
    fn put_provider(&self, slug: &str, document: &Value, now: i64) -> Result<(), StoreError>;
    /// Deletes a provider and ends the sessions begun through it; how many accounts were
    /// linked to it (`None`: no such provider). Watchers hear `All`.
    fn delete_provider(&self, slug: &str) -> Result<Option<i64>, StoreError>;
}

impl<B: Backend> KeyStore for B {
    fn set_password(
        &self,
        user_id: UserId,
        password: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        // Hashed before a connection is taken, so no one waits behind Argon2.
        let hash = password.map(credentials::hash_password).transpose()?;
        self.write(move |db, _| credentials::set_password_hash(db, user_id, hash.as_deref(), now))
    }
    fn set_password_hash(
        &self,
        user_id: UserId,
        hash: Option<String>,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.write(move |db, _| credentials::set_password_hash(db, user_id, hash.as_deref(), now))
    }
    fn create_password_reset(
        &self,
        user_id: UserId,
        by: Option<&str>,
        now: i64,
        ttl: i64,
    ) -> Result<Option<Secret>, StoreError> {
        self.write_tx(|db, _| credentials::create_password_reset(db, user_id, by, now, ttl))
    }
    fn peek_password_reset(&self, token: &str, now: i64) -> Result<Option<UserId>, StoreError> {
        self.read(|db| credentials::peek_password_reset(db, token, now))
    }
    fn take_password_reset(&self, token: &str, now: i64) -> Result<Option<UserId>, StoreError> {
        self.write_tx(|db, _| credentials::take_password_reset(db, token, now))
    }
    fn check_password(&self, username: &str, password: &str) -> Result<PasswordCheck, StoreError> {
        // Judged after the connection is given back, for the same reason.
        let record = self.password_record(username)?;
        Ok(credentials::judge_password(record, password))
    }
    fn password_record(&self, username: &str) -> Result<PasswordRecord, StoreError> {
        self.read(|db| credentials::password_record(db, username))
    }
    fn create_api_key(&self, name: &str, scope: ApiScope, now: i64) -> Result<Secret, StoreError> {
        self.write(|db, _| credentials::create_api_key(db, name, scope, None, now))
    }
    fn check_api_key(&self, key: &str, now: i64) -> Result<Option<ApiScope>, StoreError> {
        self.write(|db, _| Ok(credentials::check_api_key(db, key, now)?.map(|(s, _)| s)))
    }
    fn create_scim_token(
        &self,
        name: &str,
        provider: &str,
        now: i64,
    ) -> Result<Secret, StoreError> {
        self.write(|db, _| {
            credentials::create_api_key(db, name, ApiScope::Scim, Some(provider), now)
        })
    }
    fn check_scim_token(&self, key: &str, now: i64) -> Result<Option<String>, StoreError> {
        self.write(|db, _| {
            Ok(match credentials::check_api_key(db, key, now)? {
                Some((ApiScope::Scim, provider)) => provider,
                _ => None,
            })
        })
    }
    fn list_api_keys(&self) -> Result<Vec<ApiKeyInfo>, StoreError> {
        self.read(credentials::list_api_keys)
    }
    fn revoke_api_key(&self, id: i64, now: i64) -> Result<bool, StoreError> {
        self.write(move |db, _| credentials::revoke_api_key(db, id, now))
    }
    fn get_settings(&self, scope: &Scope) -> Result<Option<Value>, StoreError> {
        self.read(|db| settings::get_settings(db, scope))
    }
    fn all_settings(&self) -> Result<Vec<(Scope, Value)>, StoreError> {
        self.read(settings::all_settings)
    }
    fn put_settings(
        &self,
        scope: &Scope,
        document: &Value,
        by: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        self.write_tx(|db, changed| {
            settings::put_settings(db, scope, document, by, now)?;
            changed.push(Invalidation::Settings(scope.clone()));
            Ok(())
        })
    }
    fn list_providers(&self) -> Result<Vec<(String, Value)>, StoreError> {
        self.read(settings::list_providers)
    }
    fn put_provider(&self, slug: &str, document: &Value, now: i64) -> Result<(), StoreError> {
        self.write_tx(|db, changed| {
            settings::put_provider(db, slug, document, now)?;
            changed.push(Invalidation::Providers);
            Ok(())
        })
    }
    fn delete_provider(&self, slug: &str) -> Result<Option<i64>, StoreError> {
        self.write_tx(|db, changed| {
            let out = settings::delete_provider(db, slug)?;
            if out.is_some() {
                changed.push(Invalidation::All);
            }
            Ok(out)
        })
    }
}
