//! Sessions and login states, for both engines.
//!
//! Secrets (the session cookie's value, the `state` parameter, the browser-binding
//! cookie) are 32 random bytes from the operating system, handed out once as base64url
//! and stored only as SHA-256 digests. A session lookup is one query on the primary key.

use crate::StoreError;
use crate::directory::webhooks::enqueue;
use crate::sql::{Db, args};
use base64::Engine as _;
use ssogate_core::domain::UserId;
use ssogate_core::events::EventType;

/// A secret handed to its holder once (a session cookie's value, an API key): it prints
/// as `[redacted]` in `Debug` and has no `Display`, so it cannot slip into a log line or
/// a message by accident; [`Secret::expose`] (or `&*secret`) gives the text where it must
/// go.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub(crate) String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Secret {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// A fresh secret: 32 random bytes, base64url without padding (43 characters).
pub fn new_secret() -> Result<String, StoreError> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| {
        StoreError::Corrupt("the system's random generator gave no randomness".into())
    })?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// A client secret of ssogate's provider: 256 random bits, base64url (43 characters).
pub fn new_client_secret() -> Result<Secret, StoreError> {
    new_secret().map(Secret)
}

/// A fresh Standard Webhooks signing secret: `whsec_` and the standard base64 of 32
/// random bytes (what the specification's libraries take as they are).
pub fn new_webhook_secret() -> Result<Secret, StoreError> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| {
        StoreError::Corrupt("the system's random generator gave no randomness".into())
    })?;
    Ok(Secret(format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )))
}

/// SHA-256 of a secret, as lowercase hex: what is stored, and invalidated, in its place.
pub fn digest(secret: &str) -> String {
    Digest::of(secret).as_str().to_owned()
}

/// [`digest`] on the stack: forward-auth looks one up for every request, and a lookup
/// needs no allocation. `prefix` (at most [`Digest::PREFIX`] bytes; longer is cut)
/// comes before the hex, for keys kept apart by kind.
pub struct Digest {
    text: [u8; Digest::PREFIX + 64],
    len: usize,
}

impl Digest {
    /// The longest prefix kept.
    pub const PREFIX: usize = 2;

    pub fn of(secret: &str) -> Digest {
        Digest::prefixed("", secret)
    }

    pub fn prefixed(prefix: &str, secret: &str) -> Digest {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
        let mut text = [0u8; Digest::PREFIX + 64];
        let mut len = 0;
        let hex = d
            .as_ref()
            .iter()
            .flat_map(|b| [b >> 4, b & 0x0f])
            .map(|n| HEX.get(usize::from(n)).copied().unwrap_or(b'0'));
        for (slot, byte) in text
            .iter_mut()
            .zip(prefix.bytes().take(Digest::PREFIX).chain(hex))
        {
            *slot = byte;
            len += 1;
        }
        Digest { text, len }
    }

    pub fn as_str(&self) -> &str {
        // ASCII hex after an ASCII prefix; a prefix cut inside a character reads as
        // nothing (never made so here).
        self.text
            .get(..self.len)
            .and_then(|t| std::str::from_utf8(t).ok())
            .unwrap_or_default()
    }
}

/// How long sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLifetimes {
    /// Seconds without a request before the session ends.
    pub idle: i64,
    /// Seconds after sign-in when the session ends whatever happens.
    pub absolute: i64,
}

impl Default for SessionLifetimes {
    fn default() -> Self {
        SessionLifetimes {
            idle: 8 * 3600,
            absolute: 7 * 24 * 3600,
        }
    }
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user_id: UserId,
    pub provider: Option<String>,
    pub sid: Option<String>,
    pub subject: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    /// Whether the session holds a refresh token to re-validate it at the provider with.
    pub refreshable: bool,
    /// When the session was last re-validated at the provider (its sign-in, at first).
    pub refreshed_at: i64,
    /// How the person authenticated (RFC 8176 values), when known.
    pub amr: Vec<String>,
    /// The authentication context class the upstream provider stated, if any.
    pub acr: Option<String>,
}

/// What a new session records about the login that opened it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionOrigin<'a> {
    pub provider: Option<&'a str>,
    pub sid: Option<&'a str>,
    pub subject: Option<&'a str>,
    /// The sign-in's ID token, for `id_token_hint` at RP-initiated logout.
    pub id_token: Option<&'a str>,
    /// The provider's refresh token, to re-validate the session later.
    pub refresh_token: Option<&'a str>,
    /// How the person authenticated: RFC 8176 values separated by spaces (`pwd`).
    pub amr: Option<&'a str>,
    pub acr: Option<&'a str>,
}

/// Opens a session; returns the secret for the cookie (shown once, stored as a digest).
pub(crate) fn create(
    db: &mut dyn Db,
    user_id: UserId,
    origin: &SessionOrigin<'_>,
    now: i64,
    life: SessionLifetimes,
) -> Result<Secret, StoreError> {
    let secret = new_secret()?;
    db.exec(
        "INSERT INTO sessions (id_hash, user_id, provider, sid, subject, created_at, last_seen_at, idle_expires_at, expires_at, id_token, refresh_token, refreshed_at, amr, acr)
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10, $6, $11, $12)",
        args![digest(&secret).as_str(), user_id, origin.provider, origin.sid, origin.subject, now, now + life.idle, now + life.absolute, origin.id_token, origin.refresh_token, origin.amr, origin.acr],
    )?;
    Ok(Secret(secret))
}

/// The live session for a cookie's secret, its idle deadline pushed back; `None` when
/// unknown, idle too long, past its absolute lifetime, or its account is not active.
pub(crate) fn touch(
    db: &mut dyn Db,
    secret: &str,
    now: i64,
    life: SessionLifetimes,
) -> Result<Option<Session>, StoreError> {
    let id = digest(secret);
    let rows = db.query(
        "UPDATE sessions SET last_seen_at = $2, idle_expires_at = $3
         WHERE id_hash = $1 AND idle_expires_at > $2 AND expires_at > $2
           AND user_id IN (SELECT id FROM users WHERE status = 'active')
         RETURNING user_id, provider, sid, subject, created_at, expires_at, refresh_token, refreshed_at, amr, acr",
        args![id.as_str(), now, now + life.idle],
    )?;
    match rows.first() {
        Some(r) => Ok(Some(Session {
            user_id: r.get(0)?.user_id()?,
            provider: r.get(1)?.opt_text()?,
            sid: r.get(2)?.opt_text()?,
            subject: r.get(3)?.opt_text()?,
            created_at: r.get(4)?.int()?,
            expires_at: r.get(5)?.int()?,
            refreshable: r.get(6)?.opt_text()?.is_some(),
            refreshed_at: match r.get(7)? {
                crate::sql::Cell::Null => r.get(4)?.int()?,
                c => c.int()?,
            },
            amr: r
                .get(8)?
                .opt_text()?
                .map(|a| {
                    a.split(' ')
                        .filter(|v| !v.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            acr: r.get(9)?.opt_text()?,
        })),
        None => Ok(None),
    }
}

/// Claims a session's re-validation: when it holds a refresh token and was last
/// re-validated at or before `due_before`, marks it re-validated `now` and hands out the
/// token. Exactly one caller wins, across instances, so a rotating refresh token is
/// never presented twice (which a provider's reuse detection would punish).
pub(crate) fn claim_refresh(
    db: &mut dyn Db,
    secret: &str,
    now: i64,
    due_before: i64,
) -> Result<Option<Secret>, StoreError> {
    let rows = db.query(
        "UPDATE sessions SET refreshed_at = $2
         WHERE id_hash = $1 AND refresh_token IS NOT NULL
           AND coalesce(refreshed_at, created_at) <= $3 AND expires_at > $2
         RETURNING refresh_token",
        args![digest(secret).as_str(), now, due_before],
    )?;
    match rows.first() {
        Some(r) => Ok(r.get(0)?.opt_text()?.map(Secret)),
        None => Ok(None),
    }
}

/// Keeps the refresh token a provider rotated to.
pub(crate) fn record_refresh(
    db: &mut dyn Db,
    secret: &str,
    refresh_token: &str,
) -> Result<bool, StoreError> {
    Ok(db.exec(
        "UPDATE sessions SET refresh_token = $2 WHERE id_hash = $1",
        args![digest(secret).as_str(), refresh_token],
    )? > 0)
}

/// A session that was ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedSession {
    /// The ID token it was opened with, if any (for RP-initiated logout's
    /// `id_token_hint`).
    pub id_token: Option<String>,
}

/// Ends one session (logout); `None` when there was none.
pub(crate) fn end(db: &mut dyn Db, secret: &str) -> Result<Option<EndedSession>, StoreError> {
    let id = digest(secret);
    let rows = db.query(
        "DELETE FROM sessions WHERE id_hash = $1 RETURNING id_token",
        args![id.as_str()],
    )?;
    crate::directory::op::queue_logouts_for_sid(db, &id)?;
    rows.first()
        .map(|r| {
            Ok(EndedSession {
                id_token: r.get(0)?.opt_text()?,
            })
        })
        .transpose()
}

/// Ends every session a provider's back-channel logout names: by `sid`, or by subject
/// when the token carries no `sid`. Returns how many ended.
pub(crate) fn end_by_provider(
    db: &mut dyn Db,
    provider: &str,
    sid: Option<&str>,
    subject: Option<&str>,
) -> Result<Vec<String>, StoreError> {
    let rows = match (sid, subject) {
        (Some(sid), Some(sub)) => db.query(
            "DELETE FROM sessions WHERE provider = $1 AND sid = $2 AND subject = $3 RETURNING id_hash",
            args![provider, sid, sub],
        )?,
        (Some(sid), None) => db.query(
            "DELETE FROM sessions WHERE provider = $1 AND sid = $2 RETURNING id_hash",
            args![provider, sid],
        )?,
        (None, Some(sub)) => db.query(
            "DELETE FROM sessions WHERE provider = $1 AND subject = $2 RETURNING id_hash",
            args![provider, sub],
        )?,
        (None, None) => Vec::new(),
    };
    let ended: Vec<String> = rows
        .iter()
        .map(|r| r.get(0)?.text())
        .collect::<Result<_, _>>()?;
    for id in &ended {
        crate::directory::op::queue_logouts_for_sid(db, id)?;
    }
    Ok(ended)
}

pub(crate) fn end_for_user(db: &mut dyn Db, user_id: UserId) -> Result<u64, StoreError> {
    crate::directory::op::queue_logouts_for_user(db, user_id)?;
    db.exec("DELETE FROM sessions WHERE user_id = $1", args![user_id])
}

/// Sets an account's status; disabling or suspending it ends its sessions at once.
pub(crate) fn set_status(
    db: &mut dyn Db,
    user_id: UserId,
    status: ssogate_core::domain::UserStatus,
    now: i64,
) -> Result<bool, StoreError> {
    let before = db
        .query("SELECT status FROM users WHERE id = $1", args![user_id])?
        .first()
        .map(|r| r.get(0)?.text())
        .transpose()?
        .and_then(|s| ssogate_core::domain::UserStatus::parse(&s));
    let changed = db.exec(
        "UPDATE users SET status = $1, updated_at = $2,
                disabled_at = CASE WHEN $1 = 'disabled' THEN coalesce(disabled_at, $2) ELSE NULL END
         WHERE id = $3",
        args![status.as_str(), now, user_id],
    )? > 0;
    if status != ssogate_core::domain::UserStatus::Active {
        end_for_user(db, user_id)?;
    }
    if let Some(e) = before.and_then(|b| EventType::of_status(b, status)) {
        let from = before.map(|b| b.as_str());
        enqueue(
            db,
            user_id,
            None,
            &[e],
            serde_json::json!({"previous_status": from}),
            now,
        )?;
    }
    Ok(changed)
}

/// A pending login: what the callback needs, kept until it comes back (once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginState {
    pub provider: String,
    /// Opaque to the store (nonce, PKCE verifier, return-to…), written by the relying party.
    pub payload: String,
    pub created_at: i64,
}

/// Why a login state could not be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("this sign-in link is unknown or was already used; start again")]
    Unknown,
    #[error("this sign-in took too long and expired; start again")]
    Expired,
    #[error("this sign-in was started in another browser; start again here")]
    OtherBrowser,
    #[error("this sign-in was started for another provider; start again")]
    OtherProvider,
}

/// Why a pending login was not handed out: refused (and why), or the directory failed.
#[derive(Debug, thiserror::Error)]
pub enum TakeStateError {
    #[error(transparent)]
    Refused(StateError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TakeStateError {
    /// The refusal, if it was one.
    pub fn refusal(&self) -> Option<StateError> {
        match self {
            TakeStateError::Refused(r) => Some(*r),
            TakeStateError::Store(_) => None,
        }
    }
}

/// Flattens the store's two layers (the query, then the verdict) into one error.
pub(crate) fn taken(
    r: Result<Result<LoginState, StateError>, StoreError>,
) -> Result<LoginState, TakeStateError> {
    r?.map_err(TakeStateError::Refused)
}

/// Keeps a pending login under the digest of its `state` (the relying party's), bound to
/// a new browser secret, which is returned for the browser's cookie.
pub(crate) fn put_state(
    db: &mut dyn Db,
    provider: &str,
    state: &str,
    payload: &str,
    now: i64,
    ttl: i64,
) -> Result<String, StoreError> {
    if state.len() < 16 {
        return Err(StoreError::InvalidInput(
            "a login state must be at least 16 characters of randomness".into(),
        ));
    }
    let binding = new_secret()?;
    db.exec(
        "INSERT INTO login_states (state_hash, provider, binding_hash, payload, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        args![digest(state).as_str(), provider, digest(&binding).as_str(), payload, now, now + ttl],
    )?;
    Ok(binding)
}

/// Takes a pending login, once, for the browser it was issued to: a try from another
/// browser is refused and leaves it in place; a used state cannot be replayed.
pub(crate) fn take_state(
    db: &mut dyn Db,
    state: &str,
    binding: Option<&str>,
    provider: &str,
    now: i64,
) -> Result<Result<LoginState, StateError>, StoreError> {
    let state_hash = digest(state);
    // Only the browser the state was issued to consumes it: a try from anywhere else
    // (a leaked callback URL, a login CSRF) must not burn the rightful browser's login.
    let binding_hash = binding.map(digest).unwrap_or_default();
    let rows = db.query(
        "DELETE FROM login_states WHERE state_hash = $1 AND binding_hash = $2 RETURNING provider, payload, created_at, expires_at",
        args![state_hash.as_str(), binding_hash.as_str()],
    )?;
    let Some(r) = rows.first() else {
        let exists = db.query(
            "SELECT expires_at FROM login_states WHERE state_hash = $1",
            args![state_hash.as_str()],
        )?;
        return Ok(Err(match exists.first() {
            None => StateError::Unknown,
            Some(r) if r.get(0)?.int()? <= now => StateError::Expired,
            Some(_) => StateError::OtherBrowser,
        }));
    };
    let (stored_provider, payload, created_at, expires_at) = (
        r.get(0)?.text()?,
        r.get(1)?.text()?,
        r.get(2)?.int()?,
        r.get(3)?.int()?,
    );
    if expires_at <= now {
        return Ok(Err(StateError::Expired));
    }
    // The rightful browser at the wrong provider's callback: a mix-up; the state is spent.
    if stored_provider != provider {
        return Ok(Err(StateError::OtherProvider));
    }
    Ok(Ok(LoginState {
        provider: stored_provider,
        payload,
        created_at,
    }))
}

/// Deletes expired sessions and login states; returns how many of each.
pub(crate) fn sweep(db: &mut dyn Db, now: i64) -> Result<(u64, u64), StoreError> {
    let sessions = db.exec(
        "DELETE FROM sessions WHERE expires_at <= $1 OR idle_expires_at <= $1",
        args![now],
    )?;
    let states = db.exec(
        "DELETE FROM login_states WHERE expires_at <= $1",
        args![now],
    )?;
    // The provider's codes and access tokens: used codes stay an hour past expiry, so a
    // late replay is still recognised (and revokes what the code earned).
    let codes = db.exec(
        "DELETE FROM op_codes WHERE expires_at <= $1",
        args![now - 3600],
    )?;
    let tokens = db.exec("DELETE FROM op_tokens WHERE expires_at <= $1", args![now])?
        + db.exec("DELETE FROM op_refresh WHERE expires_at <= $1", args![now])?;
    // Finished deliveries (webhooks, back-channel logouts) stay in the log for a while,
    // then go; pending ones stay until they are done.
    let log_until = now - crate::directory::webhooks::LOG_DAYS * 86_400;
    let logs = db.exec(
        "DELETE FROM webhook_deliveries
         WHERE coalesce(delivered_at, failed_at) IS NOT NULL AND coalesce(delivered_at, failed_at) <= $1",
        args![log_until],
    )? + db.exec(
        "DELETE FROM op_logouts WHERE delivered_at IS NOT NULL AND delivered_at <= $1",
        args![log_until],
    )?;
    Ok((sessions, states + codes + tokens + logs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_is_sha256_in_lower_case_hex() {
        // FIPS 180-2's example.
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Digest::of("abc").as_str(), digest("abc"));
        assert_eq!(
            Digest::prefixed("b:", "abc").as_str(),
            format!("b:{}", digest("abc"))
        );
    }

    fn db() -> rusqlite::Connection {
        let mut c = rusqlite::Connection::open_in_memory().unwrap_or_else(|e| unreachable!("{e}"));
        crate::sqlite::migrate(&mut c).unwrap_or_else(|e| unreachable!("{e}"));
        c.execute_batch("INSERT INTO users (id, username, source, created_at, updated_at) VALUES (1, 'u', 'local', 0, 0)")
            .unwrap_or_else(|e| unreachable!("{e}"));
        c
    }

    fn everything(c: &mut rusqlite::Connection, sql: &str) -> String {
        c.query(sql, &[])
            .unwrap_or_else(|e| unreachable!("{e}"))
            .iter()
            .flat_map(|r| r.0.iter().map(|cell| format!("{cell:?}")))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret("hunter2-hunter2".into());
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
        assert_eq!(s.expose(), "hunter2-hunter2");
    }

    #[test]
    fn only_digests_of_secrets_are_stored() {
        let mut c = db();
        let session = create(
            &mut c,
            UserId(1),
            &SessionOrigin::default(),
            0,
            SessionLifetimes::default(),
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        let state = new_secret().unwrap_or_else(|e| unreachable!("{e}"));
        let binding =
            put_state(&mut c, "corp", &state, "p", 0, 600).unwrap_or_else(|e| unreachable!("{e}"));
        let key = crate::credentials::create_api_key(
            &mut c,
            "k",
            crate::credentials::ApiScope::Read,
            None,
            0,
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        // The secret may itself hold '_': it is everything after the prefix.
        let key_secret = key
            .strip_prefix("ssg_")
            .and_then(|k| k.split_once('_'))
            .map(|(_, secret)| secret.to_owned())
            .unwrap_or_default();
        let stored = everything(&mut c, "SELECT * FROM sessions")
            + &everything(&mut c, "SELECT * FROM login_states")
            + &everything(&mut c, "SELECT * FROM api_keys");
        for secret in [
            session.expose(),
            state.as_str(),
            binding.as_str(),
            key_secret.as_str(),
        ] {
            assert!(!stored.contains(secret), "{secret} stored as is");
            assert!(
                stored.contains(&digest(secret)),
                "digest of {secret} missing"
            );
        }
    }
}
