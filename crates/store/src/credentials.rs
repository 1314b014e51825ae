//! Local passwords (Argon2id; Argon2 and bcrypt hashes brought by an import are verified
//! too, and replaced by Argon2id at the next sign-in), one-time reset links, and API keys
//! (a random secret, stored as a SHA-256 digest).
//!
//! What a new password must be (length, not the username) is the caller's policy
//! (`ssogate_core::password`); this module only hashes, stores and verifies.

use crate::StoreError;
use crate::sessions::{Secret, digest, new_secret};
use crate::sql::{Cell, Db, args};
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use ssogate_core::domain::UserId;

/// Hashes a password with Argon2id (the crate's defaults: 19 MiB, 2 passes). Slow on
/// purpose: call it outside any database lock.
pub fn hash_password(password: &str) -> Result<String, StoreError> {
    if password.is_empty() {
        return Err(StoreError::InvalidInput(
            "a password cannot be empty".into(),
        ));
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Corrupt(format!("cannot hash the password: {e}")))
}

/// Sets (or, with `None`, removes) an account's password. Whether the account exists.
/// Stores an Argon2 hash made beforehand with [`hash_password`] — never inside a
/// database lock, where its ~50 ms would stall every other reader or writer.
pub(crate) fn set_password_hash(
    db: &mut dyn Db,
    user_id: UserId,
    hash: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(db.exec(
        "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3",
        args![hash, now, user_id],
    )? > 0)
}

/// Makes a one-time reset link's token for an account (`None`: no such account). Only
/// the newest link of an account works: earlier ones, and expired ones, are deleted.
pub(crate) fn create_password_reset(
    db: &mut dyn Db,
    user_id: UserId,
    by: Option<&str>,
    now: i64,
    ttl: i64,
) -> Result<Option<Secret>, StoreError> {
    if db
        .query_int("SELECT id FROM users WHERE id = $1", args![user_id])?
        .is_none()
    {
        return Ok(None);
    }
    db.exec(
        "DELETE FROM password_resets WHERE user_id = $1 OR expires_at <= $2",
        args![user_id, now],
    )?;
    let token = new_secret()?;
    db.exec(
        "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at, created_by)
         VALUES ($1, $2, $3, $4, $5)",
        args![digest(&token).as_str(), user_id, now, now + ttl, by],
    )?;
    Ok(Some(Secret(token)))
}

/// The account a live reset token is for, without using it up (to show the form).
pub(crate) fn peek_password_reset(
    db: &mut dyn Db,
    token: &str,
    now: i64,
) -> Result<Option<UserId>, StoreError> {
    Ok(db
        .query_int(
            "SELECT user_id FROM password_resets WHERE token_hash = $1 AND expires_at > $2",
            args![digest(token).as_str(), now],
        )?
        .map(UserId))
}

/// Uses a reset token up: the account it was for, once, while it lives.
pub(crate) fn take_password_reset(
    db: &mut dyn Db,
    token: &str,
    now: i64,
) -> Result<Option<UserId>, StoreError> {
    let taken = db
        .query_int(
            "DELETE FROM password_resets WHERE token_hash = $1 AND expires_at > $2 RETURNING user_id",
            args![digest(token).as_str(), now],
        )?
        .map(UserId);
    db.exec(
        "DELETE FROM password_resets WHERE expires_at <= $1",
        args![now],
    )?;
    Ok(taken)
}

/// The answer to a username and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordCheck {
    Ok(UserId),
    /// No such account, or the wrong password: the two are not told apart.
    Wrong,
    /// The account has no password: it signs in through a provider (Tududi's message).
    SingleSignOnOnly,
    Disabled,
    Pending,
}

/// A hash of a password nobody has, verified when the account does not exist (or has
/// no password) so that timing does not reveal which usernames exist.
fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let secret = new_secret().unwrap_or_else(|_| "ssogate decoy password".into());
        hash_password(&secret).unwrap_or_default()
    })
}

/// Which stored hash a string is: Argon2 in PHC form, or bcrypt (`$2a$`, `$2b$`, `$2y$`,
/// as PHP, Node's bcrypt, Rails and Spring store them).
fn scheme(phc: &str) -> Option<&'static str> {
    if phc.starts_with("$argon2id$") || phc.starts_with("$argon2i$") || phc.starts_with("$argon2d$")
    {
        PasswordHash::new(phc).ok().map(|_| "argon2")
    } else if ["$2a$", "$2b$", "$2y$"].iter().any(|p| phc.starts_with(p)) && phc.len() == 60 {
        Some("bcrypt")
    } else {
        None
    }
}

/// Whether `hash` can be stored as a password: an Argon2 PHC string or a bcrypt hash.
/// An import accepts these so people keep their passwords when they move.
pub fn accepted_hash(hash: &str) -> bool {
    scheme(hash).is_some()
}

/// Whether a stored hash should be replaced after a successful sign-in (anything but
/// Argon2id: bcrypt truncates at 72 bytes and is cheaper to attack).
pub fn needs_rehash(hash: &str) -> bool {
    !hash.starts_with("$argon2id$")
}

fn verify(password: &str, phc: &str) -> bool {
    match scheme(phc) {
        Some("argon2") => PasswordHash::new(phc).is_ok_and(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        }),
        Some("bcrypt") => bcrypt::verify(password, phc).unwrap_or(false),
        _ => false,
    }
}

/// What a password check needs of an account: its id, hash and status.
pub type PasswordRecord = Option<(UserId, Option<String>, String)>;

/// Reads what [`judge_password`] needs; cheap, so it may run under a database lock.
pub(crate) fn password_record(
    db: &mut dyn Db,
    username: &str,
) -> Result<PasswordRecord, StoreError> {
    let rows = db.query(
        "SELECT id, password_hash, status FROM users WHERE lower(username) = lower($1)",
        args![username],
    )?;
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    Ok(Some((
        r.get(0)?.user_id()?,
        r.get(1)?.opt_text()?,
        r.get(2)?.text()?,
    )))
}

/// Verifies `password` against a record (Argon2: run it outside any database lock).
/// An unknown account or one without a password costs the same time as a wrong
/// password, so neither can be told apart by timing.
pub fn judge_password(record: PasswordRecord, password: &str) -> PasswordCheck {
    let Some((id, hash, status)) = record else {
        let _ = verify(password, decoy());
        return PasswordCheck::Wrong;
    };
    let Some(hash) = hash else {
        let _ = verify(password, decoy());
        return PasswordCheck::SingleSignOnOnly;
    };
    if !verify(password, &hash) {
        return PasswordCheck::Wrong;
    }
    match status.as_str() {
        "active" => PasswordCheck::Ok(id),
        "pending" => PasswordCheck::Pending,
        _ => PasswordCheck::Disabled,
    }
}

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiScope {
    Read,
    Admin,
    /// A SCIM client's token, bound to one provider: `/scim/v2` only.
    Scim,
}

impl ApiScope {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiScope::Read => "read",
            ApiScope::Admin => "admin",
            ApiScope::Scim => "scim",
        }
    }

    fn parse(s: &str) -> Option<ApiScope> {
        match s {
            "read" => Some(ApiScope::Read),
            "admin" => Some(ApiScope::Admin),
            "scim" => Some(ApiScope::Scim),
            _ => None,
        }
    }
}

/// An API key as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyInfo {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub scope: ApiScope,
    /// The provider a SCIM token is bound to.
    pub provider: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// Creates a key; returns it whole, once: `ssg_<prefix>_<secret>`.
pub(crate) fn create_api_key(
    db: &mut dyn Db,
    name: &str,
    scope: ApiScope,
    provider: Option<&str>,
    now: i64,
) -> Result<Secret, StoreError> {
    if name.trim().is_empty() {
        return Err(StoreError::InvalidInput(
            "an API key needs a name (what uses it)".into(),
        ));
    }
    if (scope == ApiScope::Scim) != provider.is_some() {
        return Err(StoreError::InvalidInput(
            "a SCIM token is bound to a provider, and only a SCIM token is".into(),
        ));
    }
    let prefix: String = new_secret()?
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(10)
        .collect();
    let secret = new_secret()?;
    db.exec(
        "INSERT INTO api_keys (name, prefix, secret_hash, scope, provider, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        args![name.trim(), prefix.as_str(), digest(&secret).as_str(), scope.as_str(), provider, now],
    )?;
    Ok(Secret(format!("ssg_{prefix}_{secret}")))
}

/// The scope of a presented key (and a SCIM token's provider), if it is known and not
/// revoked; records its use.
pub(crate) fn check_api_key(
    db: &mut dyn Db,
    key: &str,
    now: i64,
) -> Result<Option<(ApiScope, Option<String>)>, StoreError> {
    let Some((prefix, secret)) = key.strip_prefix("ssg_").and_then(|k| k.split_once('_')) else {
        return Ok(None);
    };
    let rows = db.query(
        "SELECT id, secret_hash, scope, provider FROM api_keys WHERE prefix = $1 AND revoked_at IS NULL",
        args![prefix],
    )?;
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    let (id, stored, scope) = (r.get(0)?.int()?, r.get(1)?.text()?, r.get(2)?.text()?);
    // Digests of a 256-bit secret: comparing them leaks nothing useful, but compare all
    // bytes anyway.
    let presented = digest(secret);
    let same = presented.len() == stored.len()
        && presented
            .bytes()
            .zip(stored.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return Ok(None);
    }
    db.exec(
        "UPDATE api_keys SET last_used_at = $1 WHERE id = $2",
        args![now, id],
    )?;
    let provider = r.get(3)?.opt_text()?;
    Ok(ApiScope::parse(&scope).map(|s| (s, provider)))
}

/// Every key, newest first.
pub(crate) fn list_api_keys(db: &mut dyn Db) -> Result<Vec<ApiKeyInfo>, StoreError> {
    let opt_int = |c: &Cell| -> Result<Option<i64>, StoreError> {
        match c {
            Cell::Null => Ok(None),
            c => c.int().map(Some),
        }
    };
    db.query("SELECT id, name, prefix, scope, created_at, last_used_at, revoked_at, provider FROM api_keys ORDER BY id DESC", &[])?
        .iter()
        .map(|r| {
            Ok(ApiKeyInfo {
                id: r.get(0)?.int()?,
                name: r.get(1)?.text()?,
                prefix: r.get(2)?.text()?,
                scope: ApiScope::parse(&r.get(3)?.text()?).unwrap_or(ApiScope::Read),
                provider: r.get(7)?.opt_text()?,
                created_at: r.get(4)?.int()?,
                last_used_at: opt_int(r.get(5)?)?,
                revoked_at: opt_int(r.get(6)?)?,
            })
        })
        .collect()
}

/// Revokes a key; whether it was live.
pub(crate) fn revoke_api_key(db: &mut dyn Db, id: i64, now: i64) -> Result<bool, StoreError> {
    Ok(db.exec(
        "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        args![now, id],
    )? > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hashes made by another implementation (Python's argon2-cffi, the reference C
    /// code): every variant, an older version, other costs and lengths.
    #[test]
    fn argon2_hashes_made_elsewhere_verify_and_wrong_passwords_do_not() {
        for phc in [
            "$argon2id$v=19$m=4096,t=3,p=2$KAMtwdU4fn2hQTxvf+2vaA$49ixXUXXkDImElWeVlKO8UZwTYZhE1hr",
            "$argon2i$v=19$m=4096,t=3,p=2$+wESWAOQFseFu38gcsFD8A$nuhO2ZTraeXJ1PkcHl1WfDeQzhL/vr+1",
            "$argon2d$v=19$m=4096,t=3,p=2$bjSO3AY/WOL4JJMy6CWR9w$PPks4Hvujpkhh6So4g1nJl8M+p0v/Pez",
            "$argon2i$v=16$m=1024,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$79uhzeglFImgzBRmjhBiK17Whu3wlDY1j++O8fJz1UA",
        ] {
            assert!(verify("correct horse", phc), "{phc}");
            assert!(!verify("correct horse ", phc), "{phc}");
            assert!(!verify("", phc), "{phc}");
        }
        // ssogate's own hash verifies beside them.
        let ours = hash_password("battery staple").unwrap_or_default();
        assert!(verify("battery staple", &ours));
        assert!(verify(
            "correct horse",
            "$argon2i$v=16$m=1024,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$79uhzeglFImgzBRmjhBiK17Whu3wlDY1j++O8fJz1UA"
        ));
        // A hash cut short or with an unknown version is no match, not a panic.
        assert!(!verify(
            "correct horse",
            "$argon2id$v=19$m=4096,t=3,p=2$KAMtwdU4fn2hQTxvf+2vaA$"
        ));
        assert!(!verify(
            "correct horse",
            "$argon2id$v=18$m=4096,t=3,p=2$KAMtwdU4fn2hQTxvf+2vaA$49ixXUXXkDImElWeVlKO8UZwTYZhE1hr"
        ));
    }
}
