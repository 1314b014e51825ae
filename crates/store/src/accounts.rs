//! What the account page and the server need beyond a login: one account by id, its
//! linked identities, linking an identity to a signed-in account, unlinking with the
//! last-method guard, and audit events for things that are not logins.

use crate::StoreError;
use crate::directory::webhooks;
use crate::sql::{Db, args};
use crate::users::load_user;
use ssogate_core::directory::ExistingUser;
use ssogate_core::domain::UserId;
use ssogate_core::events::EventType;

/// A change to an optional field: leave it, clear it, or set it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Change<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Change<T> {
    /// `None` to leave the field; `Some(value)` to write (`None` inside clears it).
    fn new_value(&self) -> Option<Option<&str>>
    where
        T: AsRef<str>,
    {
        match self {
            Change::Keep => None,
            Change::Clear => Some(None),
            Change::Set(v) => Some(Some(v.as_ref())),
        }
    }
}

/// A linked identity as the account page shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IdentityInfo {
    pub provider: String,
    pub subject: String,
    pub email: Option<String>,
    pub first_login_at: i64,
    pub last_login_at: i64,
}

/// What linking an identity to an account did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOutcome {
    Linked,
    /// The identity already belongs to this account (nothing changed but the time).
    AlreadyLinked,
    /// The identity signs in to another account; nothing changed.
    BelongsToAnother,
    /// The account already has an identity at this provider; nothing changed.
    ProviderAlreadyLinked,
    NoSuchUser,
}

/// What unlinking did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnlinkOutcome {
    Unlinked,
    /// Refused: the account would have no way left to sign in.
    LastMethod,
    NotFound,
}

pub(crate) fn user_by_id(db: &mut dyn Db, id: UserId) -> Result<Option<ExistingUser>, StoreError> {
    if db
        .query_int("SELECT id FROM users WHERE id = $1", args![id])?
        .is_none()
    {
        return Ok(None);
    }
    load_user(db, id).map(Some)
}

pub(crate) fn identities(
    db: &mut dyn Db,
    user_id: UserId,
) -> Result<Vec<IdentityInfo>, StoreError> {
    db.query(
        "SELECT provider, subject, email, first_login_at, last_login_at
         FROM identities WHERE user_id = $1 ORDER BY first_login_at, id",
        args![user_id],
    )?
    .iter()
    .map(|r| {
        Ok(IdentityInfo {
            provider: r.get(0)?.text()?,
            subject: r.get(1)?.text()?,
            email: r.get(2)?.opt_text()?,
            first_login_at: r.get(3)?.int()?,
            last_login_at: r.get(4)?.int()?,
        })
    })
    .collect()
}

/// The identity to link, as the relying party verified it.
#[derive(Debug, Clone)]
pub struct NewIdentity {
    pub provider: String,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    /// Redacted before it is stored.
    pub claims: serde_json::Value,
}

pub(crate) fn link_identity(
    db: &mut dyn Db,
    user_id: UserId,
    id: &NewIdentity,
    now: i64,
) -> Result<LinkOutcome, StoreError> {
    if db
        .query_int("SELECT id FROM users WHERE id = $1", args![user_id])?
        .is_none()
    {
        return Ok(LinkOutcome::NoSuchUser);
    }
    let owner = db.query_int(
        "SELECT user_id FROM identities WHERE provider = $1 AND subject = $2",
        args![&id.provider, &id.subject],
    )?;
    match owner {
        Some(owner) if owner == user_id.0 => {
            db.exec(
                "UPDATE identities SET last_login_at = $3 WHERE provider = $1 AND subject = $2",
                args![&id.provider, &id.subject, now],
            )?;
            return Ok(LinkOutcome::AlreadyLinked);
        }
        Some(_) => return Ok(LinkOutcome::BelongsToAnother),
        None => {}
    }
    if db
        .query_int(
            "SELECT id FROM identities WHERE user_id = $1 AND provider = $2",
            args![user_id, &id.provider],
        )?
        .is_some()
    {
        return Ok(LinkOutcome::ProviderAlreadyLinked);
    }
    let claims = crate::audit::redact(&id.claims).to_string();
    db.exec(
        "INSERT INTO identities (user_id, provider, issuer, subject, email, raw_claims, first_login_at, last_login_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        args![user_id, &id.provider, &id.issuer, &id.subject, &id.email, claims.as_str(), now],
    )?;
    Ok(LinkOutcome::Linked)
}

pub(crate) fn unlink_identity(
    db: &mut dyn Db,
    user_id: UserId,
    provider: &str,
) -> Result<UnlinkOutcome, StoreError> {
    let count = db
        .query_int(
            "SELECT COUNT(*) FROM identities WHERE user_id = $1",
            args![user_id],
        )?
        .unwrap_or(0);
    let has_password = db
        .query_int(
            "SELECT COUNT(*) FROM users WHERE id = $1 AND password_hash IS NOT NULL",
            args![user_id],
        )?
        .unwrap_or(0)
        > 0;
    let exists = db
        .query_int(
            "SELECT id FROM identities WHERE user_id = $1 AND provider = $2",
            args![user_id, provider],
        )?
        .is_some();
    if !exists {
        return Ok(UnlinkOutcome::NotFound);
    }
    if count <= 1 && !has_password {
        return Ok(UnlinkOutcome::LastMethod);
    }
    db.exec(
        "DELETE FROM identities WHERE user_id = $1 AND provider = $2",
        args![user_id, provider],
    )?;
    // Sessions opened through that identity end with it.
    db.exec(
        "DELETE FROM sessions WHERE user_id = $1 AND provider = $2",
        args![user_id, provider],
    )?;
    Ok(UnlinkOutcome::Unlinked)
}

/// What setting an external authentication id did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternalIdOutcome {
    Set,
    Cleared,
    /// Another account has this id at this provider; nothing changed.
    TakenByAnother,
    NoSuchUser,
}

/// Sets (or with `None` removes) an account's external authentication id at a provider
/// (BookStack's "External Authentication ID").
pub(crate) fn set_external_id(
    db: &mut dyn Db,
    user_id: UserId,
    provider: &str,
    external_id: Option<&str>,
) -> Result<ExternalIdOutcome, StoreError> {
    if db
        .query_int("SELECT id FROM users WHERE id = $1", args![user_id])?
        .is_none()
    {
        return Ok(ExternalIdOutcome::NoSuchUser);
    }
    let Some(ext) = external_id else {
        db.exec(
            "DELETE FROM external_ids WHERE user_id = $1 AND provider = $2",
            args![user_id, provider],
        )?;
        return Ok(ExternalIdOutcome::Cleared);
    };
    let owner = db.query_int(
        "SELECT user_id FROM external_ids WHERE provider = $1 AND external_id = $2",
        args![provider, ext],
    )?;
    if owner.is_some_and(|o| o != user_id.0) {
        return Ok(ExternalIdOutcome::TakenByAnother);
    }
    db.exec(
        "DELETE FROM external_ids WHERE user_id = $1 AND provider = $2",
        args![user_id, provider],
    )?;
    db.exec(
        "INSERT INTO external_ids (user_id, provider, external_id) VALUES ($1, $2, $3)",
        args![user_id, provider, ext],
    )?;
    Ok(ExternalIdOutcome::Set)
}

/// Deletes an account with its identities, grants and sessions; whether it existed.
pub(crate) fn delete_user(db: &mut dyn Db, user_id: UserId, now: i64) -> Result<bool, StoreError> {
    // Sessions and the rest go with the account (ON DELETE CASCADE); audit events keep
    // their user id as history.
    // The applications it signed in to through ssogate hear of it (back-channel logout).
    crate::directory::op::queue_logouts_for_user(db, user_id)?;
    if let Some(user) = webhooks::user_snapshot(db, user_id)? {
        webhooks::enqueue(
            db,
            user_id,
            Some(user),
            &[EventType::UserDeleted],
            serde_json::json!({}),
            now,
        )?;
    }
    db.exec("DELETE FROM sessions WHERE user_id = $1", args![user_id])?;
    Ok(db.exec("DELETE FROM users WHERE id = $1", args![user_id])? > 0)
}

/// Changes an account's display name and/or email (`Some(None)` clears it). A changed
/// email is no longer verified: the new address has not been proven to be the person's,
/// so it cannot link by email until a provider vouches for it. Whether the account exists.
pub(crate) fn update_profile(
    db: &mut dyn Db,
    user_id: UserId,
    display_name: &Change<String>,
    email: &Change<String>,
    now: i64,
) -> Result<bool, StoreError> {
    if db
        .query_int("SELECT id FROM users WHERE id = $1", args![user_id])?
        .is_none()
    {
        return Ok(false);
    }
    if let Some(name) = display_name.new_value() {
        db.exec(
            "UPDATE users SET display_name = $1, updated_at = $2 WHERE id = $3",
            args![name, now, user_id],
        )?;
    }
    if let Some(email) = email.new_value() {
        db.exec(
            "UPDATE users SET email = $1, email_verified = $2, updated_at = $3 WHERE id = $4",
            args![email, false, now, user_id],
        )?;
    }
    let mut changes = serde_json::Map::new();
    if let Some(name) = display_name.new_value() {
        changes.insert("display_name".into(), name.into());
    }
    if let Some(email) = email.new_value() {
        changes.insert("email".into(), email.into());
    }
    if !changes.is_empty() {
        webhooks::enqueue(
            db,
            user_id,
            None,
            &[EventType::UserUpdated],
            serde_json::json!({"changes": changes}),
            now,
        )?;
    }
    Ok(true)
}

/// The identities that signed in most recently: (provider, subject, username).
pub(crate) fn recent_identities(
    db: &mut dyn Db,
    limit: i64,
) -> Result<Vec<(String, String, String)>, StoreError> {
    db.query(
        "SELECT i.provider, i.subject, u.username FROM identities i JOIN users u ON u.id = i.user_id
         ORDER BY i.last_login_at DESC, i.id DESC LIMIT $1",
        args![limit],
    )?
    .iter()
    .map(|r| Ok((r.get(0)?.text()?, r.get(1)?.text()?, r.get(2)?.text()?)))
    .collect()
}
