//! What ssogate as an OpenID Provider keeps: signing keys, authorization codes and
//! access tokens (codes and tokens as SHA-256 digests only; the caller hashes).
//!
//! Over ~600 lines on purpose: one trait and its one implementation, because codes,
//! access and refresh tokens and queued back-channel logouts change together in the same
//! transactions (a code spent twice revokes what it issued; a refresh rotates its
//! family) — split, those invariants would sit in files that do not see each other.

use super::{Backend, Changed};
use crate::StoreError;
use crate::sql::{Db, args};
use ssogate_core::domain::UserId;

/// A signing key as kept: PKCS#8 DER, base64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub kid: String,
    pub alg: String,
    pub private_key: String,
    pub created_at: i64,
    /// Signs from this time on (published before).
    pub activates_at: i64,
    /// Published until this time, when set.
    pub retired_at: Option<i64>,
}

/// A code to keep until it is redeemed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCode {
    pub code_hash: String,
    pub client_id: String,
    pub user_id: UserId,
    /// The authorization it earns, as the protocol crate serialises it.
    pub grant_json: String,
    pub auth_time: i64,
    pub sid: Option<String>,
    pub expires_at: i64,
}

/// What redeeming a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    /// Live and now used up.
    Fresh {
        client_id: String,
        user_id: UserId,
        grant_json: String,
        auth_time: i64,
        sid: Option<String>,
    },
    /// Used before: every token it earned is revoked now (RFC 6749 4.1.2).
    Replayed { client_id: String, revoked: u64 },
    /// Unknown or expired.
    Unknown,
}

/// An access token to keep (its digest), with what it grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccess {
    pub token_hash: String,
    /// The digest of the code its family started from.
    pub family: String,
    pub grant: TokenGrant,
    /// The ssogate session it was issued in (recorded for back-channel logout).
    pub sid: Option<String>,
    pub now: i64,
    pub expires_at: i64,
}

/// Everything one token response writes.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access: NewAccess,
    pub refresh: Option<NewRefresh>,
    pub event: Option<crate::audit::NewEvent>,
}

/// A code as [`ProviderStore::op_peek_code`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeekedCode {
    pub client_id: String,
    pub user_id: UserId,
    pub grant_json: String,
    pub auth_time: i64,
    pub sid: Option<String>,
}

fn put_issued(db: &mut dyn Db, issued: &IssuedTokens) -> Result<(), StoreError> {
    put_token(db, &issued.access)?;
    if let Some(r) = &issued.refresh {
        put_refresh(db, r)?;
    }
    if let Some(e) = &issued.event {
        crate::audit::record_event(db, e)?;
    }
    Ok(())
}

fn put_token(db: &mut dyn Db, a: &NewAccess) -> Result<(), StoreError> {
    let g = &a.grant;
    db.exec(
        "INSERT INTO op_tokens (token_hash, code_hash, client_id, user_id, scope, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        args![
            a.token_hash.as_str(),
            a.family.as_str(),
            g.client_id.as_str(),
            g.user_id,
            g.scope.as_str(),
            a.expires_at
        ],
    )?;
    if let Some(sid) = &a.sid {
        db.exec(
            "INSERT INTO op_logins (sid, client_id, user_id, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (sid, client_id) DO NOTHING",
            args![sid.as_str(), g.client_id.as_str(), g.user_id, a.now],
        )?;
    }
    Ok(())
}

fn put_refresh(db: &mut dyn Db, r: &NewRefresh) -> Result<(), StoreError> {
    db.exec(
        "INSERT INTO op_refresh (token_hash, family, client_id, user_id, grant_json, auth_time, sid, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        args![
            r.token_hash.as_str(),
            r.family.as_str(),
            r.client_id.as_str(),
            r.user_id,
            r.grant_json.as_str(),
            r.auth_time,
            r.sid.as_deref(),
            r.expires_at
        ],
    )?;
    Ok(())
}

/// A refresh token to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefresh {
    pub token_hash: String,
    /// The digest of the code the family started from.
    pub family: String,
    pub client_id: String,
    pub user_id: UserId,
    pub grant_json: String,
    pub auth_time: i64,
    pub sid: Option<String>,
    pub expires_at: i64,
}

/// What presenting a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refreshed {
    /// Live, now used up: issue its successor in the same family.
    Fresh(NewRefresh),
    /// Used before: the whole family (refresh and access tokens) is revoked now.
    Reused {
        client_id: String,
        revoked: u64,
    },
    Unknown,
}

/// A back-channel logout to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLogout {
    pub id: i64,
    pub client_id: String,
    pub user_id: UserId,
    pub sid: String,
    /// Including this one.
    pub attempts: i64,
}

/// Queues back-channel logouts for every application the session `sid` signed in to.
pub(crate) fn queue_logouts_for_sid(db: &mut dyn Db, sid: &str) -> Result<u64, StoreError> {
    let n = db.exec(
        "INSERT INTO op_logouts (client_id, user_id, sid)
         SELECT client_id, user_id, sid FROM op_logins WHERE sid = $1",
        args![sid],
    )?;
    db.exec("DELETE FROM op_logins WHERE sid = $1", args![sid])?;
    // Refresh tokens issued in the session end with it.
    db.exec("DELETE FROM op_refresh WHERE sid = $1", args![sid])?;
    Ok(n)
}

/// Queues back-channel logouts for every session of an account (disabled, deleted).
pub(crate) fn queue_logouts_for_user(db: &mut dyn Db, user_id: UserId) -> Result<u64, StoreError> {
    let n = db.exec(
        "INSERT INTO op_logouts (client_id, user_id, sid)
         SELECT client_id, user_id, sid FROM op_logins WHERE user_id = $1",
        args![user_id],
    )?;
    db.exec("DELETE FROM op_logins WHERE user_id = $1", args![user_id])?;
    db.exec("DELETE FROM op_refresh WHERE user_id = $1", args![user_id])?;
    Ok(n)
}

/// A live access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub client_id: String,
    pub user_id: UserId,
    pub scope: String,
}

pub trait ProviderStore {
    /// The keys published at `now`, by activation (the last active one signs).
    fn op_keys(&self, now: i64) -> Result<Vec<StoredKey>, StoreError>;
    /// Rotation: `next` is published now and signs from its `activates_at`; every key of
    /// its algorithm not yet retired is retired at `retire_at` (when what it signed has
    /// expired).
    fn op_rotate_key(&self, next: StoredKey, retire_at: i64) -> Result<(), StoreError>;
    /// Keeps `key` unless a live key of its algorithm exists already (another instance
    /// made one first).
    fn op_add_first_key(&self, key: StoredKey) -> Result<(), StoreError>;
    fn op_put_code(&self, code: NewCode) -> Result<(), StoreError>;
    /// Redeems a code once.
    fn op_redeem_code(&self, code_hash: &str, now: i64) -> Result<Redeemed, StoreError>;
    /// What one token response issues — the access token, its refresh token, the audit
    /// event — in one transaction (one trip to the writer per response).
    fn op_issue(&self, issued: IssuedTokens) -> Result<(), StoreError>;
    /// A live, unused code as kept, read without using it up (the token endpoint reads
    /// it, signs, then redeems and issues in one write with [`Self::op_exchange`]).
    fn op_peek_code(&self, code_hash: &str, now: i64) -> Result<Option<PeekedCode>, StoreError>;
    /// Redeems a code and, when it was fresh, keeps what it earns — in one transaction:
    /// a code used meanwhile (a race, a replay) issues nothing and revokes as
    /// [`Self::op_redeem_code`] does.
    fn op_exchange(
        &self,
        code_hash: &str,
        now: i64,
        issued: IssuedTokens,
    ) -> Result<Redeemed, StoreError>;
    /// What introspection may say of a token `client_id` holds (RFC 7662): a live access
    /// token or an unused refresh token of that client, with its expiry.
    fn op_introspect(
        &self,
        token_hash: &str,
        client_id: &str,
        now: i64,
    ) -> Result<Option<(TokenGrant, i64, &'static str)>, StoreError>;
    /// Revokes a token of `client_id` (RFC 7009); a refresh token takes its family (and
    /// the access tokens it earned) with it. How many tokens went.
    fn op_revoke(&self, token_hash: &str, client_id: &str) -> Result<u64, StoreError>;
    /// Uses a refresh token of `client_id` up, once (another client's is `Unknown` and
    /// stays as it was).
    fn op_use_refresh(
        &self,
        token_hash: &str,
        client_id: &str,
        now: i64,
    ) -> Result<Refreshed, StoreError>;
    /// Claims up to `limit` back-channel logouts due now for this instance to send: each
    /// is put off by `retry_in(attempts)` seconds, so another instance does not send it too.
    fn op_claim_logouts(
        &self,
        now: i64,
        limit: i64,
        retry_in: fn(i64) -> i64,
    ) -> Result<Vec<PendingLogout>, StoreError>;
    /// Marks a logout delivered, or (with `error`) failed for good.
    fn op_logout_finished(&self, id: i64, now: i64, error: Option<&str>) -> Result<(), StoreError>;
    /// Records why a delivery attempt failed (it is tried again when due).
    fn op_logout_failed(&self, id: i64, error: &str) -> Result<(), StoreError>;
    /// The grant of a live access token and when it expires. (Expired codes and tokens
    /// go with [`crate::SessionStore::sweep`].)
    fn op_token(&self, token_hash: &str, now: i64)
    -> Result<Option<(TokenGrant, i64)>, StoreError>;
    /// The secret kept under `name`: `fresh` if there was none (every instance then reads
    /// the one that was stored first).
    fn op_secret(&self, name: &str, fresh: &str) -> Result<String, StoreError>;
}

/// Deletes the access tokens of a family (a code's, or a refresh-token family's, whose
/// name is its first code's), telling the caches of every account they were issued to.
fn drop_family_tokens(
    db: &mut dyn Db,
    family: &str,
    changed: &mut Changed,
) -> Result<u64, StoreError> {
    let rows = db.query(
        "DELETE FROM op_tokens WHERE code_hash = $1 RETURNING user_id",
        args![family],
    )?;
    for r in &rows {
        changed.user(UserId(r.get(0)?.int()?));
    }
    Ok(rows.len() as u64)
}

fn redeem(
    db: &mut dyn Db,
    code_hash: &str,
    now: i64,
    changed: &mut Changed,
) -> Result<Redeemed, StoreError> {
    let rows = db.query(
        "UPDATE op_codes SET used_at = $2
         WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2
         RETURNING client_id, user_id, grant_json, auth_time, sid",
        args![code_hash, now],
    )?;
    if let Some(r) = rows.first() {
        return Ok(Redeemed::Fresh {
            client_id: r.get(0)?.text()?,
            user_id: UserId(r.get(1)?.int()?),
            grant_json: r.get(2)?.text()?,
            auth_time: r.get(3)?.int()?,
            sid: r.get(4)?.opt_text()?,
        });
    }
    let used = db.query(
        "SELECT client_id FROM op_codes WHERE code_hash = $1 AND used_at IS NOT NULL",
        args![code_hash],
    )?;
    match used.first() {
        Some(r) => {
            let client_id = r.get(0)?.text()?;
            let revoked = drop_family_tokens(db, code_hash, changed)?;
            Ok(Redeemed::Replayed { client_id, revoked })
        }
        None => Ok(Redeemed::Unknown),
    }
}

impl<B: Backend> ProviderStore for B {
    fn op_keys(&self, now: i64) -> Result<Vec<StoredKey>, StoreError> {
        self.read(|db| {
            db.query(
                "SELECT kid, alg, private_key, created_at, activates_at, retired_at FROM op_keys
                 WHERE retired_at IS NULL OR retired_at > $1
                 ORDER BY activates_at, created_at, kid",
                args![now],
            )?
            .iter()
            .map(|r| {
                Ok(StoredKey {
                    kid: r.get(0)?.text()?,
                    alg: r.get(1)?.text()?,
                    private_key: r.get(2)?.text()?,
                    created_at: r.get(3)?.int()?,
                    activates_at: r.get(4)?.int()?,
                    retired_at: match r.get(5)? {
                        crate::sql::Cell::Null => None,
                        c => Some(c.int()?),
                    },
                })
            })
            .collect()
        })
    }
    fn op_rotate_key(&self, next: StoredKey, retire_at: i64) -> Result<(), StoreError> {
        self.write_tx(move |db, _| {
            // Keys of other algorithms sign for other clients: they stay.
            db.exec(
                "UPDATE op_keys SET retired_at = $1 WHERE retired_at IS NULL AND alg = $2",
                args![retire_at, next.alg.as_str()],
            )?;
            db.exec(
                "INSERT INTO op_keys (kid, alg, private_key, created_at, activates_at)
                 VALUES ($1, $2, $3, $4, $5)",
                args![
                    next.kid.as_str(),
                    next.alg.as_str(),
                    next.private_key.as_str(),
                    next.created_at,
                    next.activates_at
                ],
            )?;
            Ok(())
        })
    }
    fn op_add_first_key(&self, key: StoredKey) -> Result<(), StoreError> {
        self.write_tx(move |db, _| {
            db.exec(
                "INSERT INTO op_keys (kid, alg, private_key, created_at, activates_at)
                 SELECT $1, $2, $3, $4, 0
                 WHERE NOT EXISTS (SELECT 1 FROM op_keys WHERE retired_at IS NULL AND alg = $2)",
                args![
                    key.kid.as_str(),
                    key.alg.as_str(),
                    key.private_key.as_str(),
                    key.created_at
                ],
            )?;
            Ok(())
        })
    }
    fn op_put_code(&self, code: NewCode) -> Result<(), StoreError> {
        self.write(move |db, _| {
            db.exec(
                "INSERT INTO op_codes (code_hash, client_id, user_id, grant_json, auth_time, sid, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                args![
                    code.code_hash.as_str(),
                    code.client_id.as_str(),
                    code.user_id,
                    code.grant_json.as_str(),
                    code.auth_time,
                    code.sid.as_deref(),
                    code.expires_at
                ],
            )?;
            Ok(())
        })
    }
    fn op_redeem_code(&self, code_hash: &str, now: i64) -> Result<Redeemed, StoreError> {
        self.write_tx(|db, changed| redeem(db, code_hash, now, changed))
    }
    fn op_issue(&self, issued: IssuedTokens) -> Result<(), StoreError> {
        self.write_tx(move |db, _| put_issued(db, &issued))
    }
    fn op_peek_code(&self, code_hash: &str, now: i64) -> Result<Option<PeekedCode>, StoreError> {
        self.read(|db| {
            let rows = db.query(
                "SELECT client_id, user_id, grant_json, auth_time, sid FROM op_codes
                 WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2",
                args![code_hash, now],
            )?;
            rows.first()
                .map(|r| {
                    Ok(PeekedCode {
                        client_id: r.get(0)?.text()?,
                        user_id: UserId(r.get(1)?.int()?),
                        grant_json: r.get(2)?.text()?,
                        auth_time: r.get(3)?.int()?,
                        sid: r.get(4)?.opt_text()?,
                    })
                })
                .transpose()
        })
    }
    fn op_exchange(
        &self,
        code_hash: &str,
        now: i64,
        issued: IssuedTokens,
    ) -> Result<Redeemed, StoreError> {
        self.write_tx(|db, changed| {
            let redeemed = redeem(db, code_hash, now, changed)?;
            if matches!(redeemed, Redeemed::Fresh { .. }) {
                put_issued(db, &issued)?;
            }
            Ok(redeemed)
        })
    }
    fn op_introspect(
        &self,
        token_hash: &str,
        client_id: &str,
        now: i64,
    ) -> Result<Option<(TokenGrant, i64, &'static str)>, StoreError> {
        self.read(|db| {
            let rows = db.query(
                "SELECT client_id, user_id, scope, expires_at FROM op_tokens
                 WHERE token_hash = $1 AND client_id = $2 AND expires_at > $3",
                args![token_hash, client_id, now],
            )?;
            if let Some(r) = rows.first() {
                return Ok(Some((
                    TokenGrant {
                        client_id: r.get(0)?.text()?,
                        user_id: UserId(r.get(1)?.int()?),
                        scope: r.get(2)?.text()?,
                    },
                    r.get(3)?.int()?,
                    "access_token",
                )));
            }
            let rows = db.query(
                "SELECT client_id, user_id, grant_json, expires_at FROM op_refresh
                 WHERE token_hash = $1 AND client_id = $2 AND expires_at > $3 AND used_at IS NULL",
                args![token_hash, client_id, now],
            )?;
            match rows.first() {
                Some(r) => {
                    let scope = serde_json::from_str::<serde_json::Value>(&r.get(2)?.text()?)
                        .ok()
                        .and_then(|g| {
                            g.get("scopes").and_then(|s| s.as_array()).map(|a| {
                                a.iter()
                                    .filter_map(|v| v.as_str())
                                    .collect::<Vec<_>>()
                                    .join(" ")
                            })
                        })
                        .unwrap_or_default();
                    Ok(Some((
                        TokenGrant {
                            client_id: r.get(0)?.text()?,
                            user_id: UserId(r.get(1)?.int()?),
                            scope,
                        },
                        r.get(3)?.int()?,
                        "refresh_token",
                    )))
                }
                None => Ok(None),
            }
        })
    }
    fn op_revoke(&self, token_hash: &str, client_id: &str) -> Result<u64, StoreError> {
        let (t, c) = (token_hash.to_owned(), client_id.to_owned());
        self.write_tx(move |db, changed| {
            let access = db.query(
                "DELETE FROM op_tokens WHERE token_hash = $1 AND client_id = $2 RETURNING user_id",
                args![t.as_str(), c.as_str()],
            )?;
            if let Some(r) = access.first() {
                changed.user(UserId(r.get(0)?.int()?));
                return Ok(1);
            }
            let family = db.query(
                "SELECT family FROM op_refresh WHERE token_hash = $1 AND client_id = $2",
                args![t.as_str(), c.as_str()],
            )?;
            match family.first() {
                Some(r) => {
                    let f = r.get(0)?.text()?;
                    Ok(db.exec(
                        "DELETE FROM op_refresh WHERE family = $1",
                        args![f.as_str()],
                    )? + drop_family_tokens(db, &f, changed)?)
                }
                None => Ok(0),
            }
        })
    }
    fn op_use_refresh(
        &self,
        token_hash: &str,
        client_id: &str,
        now: i64,
    ) -> Result<Refreshed, StoreError> {
        let (token_hash, client) = (token_hash.to_owned(), client_id.to_owned());
        self.write_tx(move |db, changed| {
            let rows = db.query(
                "UPDATE op_refresh SET used_at = $2
                 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 AND client_id = $3
                 RETURNING family, client_id, user_id, grant_json, auth_time, sid, expires_at",
                args![token_hash.as_str(), now, client.as_str()],
            )?;
            if let Some(r) = rows.first() {
                return Ok(Refreshed::Fresh(NewRefresh {
                    token_hash: token_hash.clone(),
                    family: r.get(0)?.text()?,
                    client_id: r.get(1)?.text()?,
                    user_id: UserId(r.get(2)?.int()?),
                    grant_json: r.get(3)?.text()?,
                    auth_time: r.get(4)?.int()?,
                    sid: r.get(5)?.opt_text()?,
                    expires_at: r.get(6)?.int()?,
                }));
            }
            let used = db.query(
                "SELECT family, client_id FROM op_refresh
                 WHERE token_hash = $1 AND used_at IS NOT NULL AND client_id = $2",
                args![token_hash.as_str(), client.as_str()],
            )?;
            match used.first() {
                Some(r) => {
                    let (family, client_id) = (r.get(0)?.text()?, r.get(1)?.text()?);
                    let refresh = db.exec(
                        "DELETE FROM op_refresh WHERE family = $1",
                        args![family.as_str()],
                    )?;
                    let access = drop_family_tokens(db, &family, changed)?;
                    Ok(Refreshed::Reused {
                        client_id,
                        revoked: refresh + access,
                    })
                }
                None => Ok(Refreshed::Unknown),
            }
        })
    }
    fn op_claim_logouts(
        &self,
        now: i64,
        limit: i64,
        retry_in: fn(i64) -> i64,
    ) -> Result<Vec<PendingLogout>, StoreError> {
        // A read first: an idle outbox never takes the write lock.
        let any = self.read(|db| {
            db.query_int(
                "SELECT id FROM op_logouts WHERE delivered_at IS NULL AND next_at <= $1 LIMIT 1",
                args![now],
            )
        })?;
        if any.is_none() {
            return Ok(Vec::new());
        }
        self.write_tx(move |db, _| {
            let due = db.query(
                "SELECT id, client_id, user_id, sid, attempts FROM op_logouts
                 WHERE delivered_at IS NULL AND next_at <= $1 ORDER BY id LIMIT $2",
                args![now, limit],
            )?;
            let mut out = Vec::with_capacity(due.len());
            for r in &due {
                let p = PendingLogout {
                    id: r.get(0)?.int()?,
                    client_id: r.get(1)?.text()?,
                    user_id: UserId(r.get(2)?.int()?),
                    sid: r.get(3)?.text()?,
                    attempts: r.get(4)?.int()? + 1,
                };
                // Only the instance whose update lands sends it.
                let claimed = db.exec(
                    "UPDATE op_logouts SET attempts = $2, next_at = $3
                     WHERE id = $1 AND attempts = $4 AND delivered_at IS NULL",
                    args![p.id, p.attempts, now + retry_in(p.attempts), p.attempts - 1],
                )?;
                if claimed > 0 {
                    out.push(p);
                }
            }
            Ok(out)
        })
    }
    fn op_logout_finished(&self, id: i64, now: i64, error: Option<&str>) -> Result<(), StoreError> {
        self.write(|db, _| {
            db.exec(
                "UPDATE op_logouts SET delivered_at = $2, last_error = $3 WHERE id = $1",
                args![id, now, error],
            )?;
            Ok(())
        })
    }
    fn op_logout_failed(&self, id: i64, error: &str) -> Result<(), StoreError> {
        self.write(|db, _| {
            db.exec(
                "UPDATE op_logouts SET last_error = $2 WHERE id = $1",
                args![id, error],
            )?;
            Ok(())
        })
    }
    fn op_secret(&self, name: &str, fresh: &str) -> Result<String, StoreError> {
        self.write(|db, _| {
            db.exec(
                "INSERT INTO op_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                args![name, fresh],
            )?;
            db.query(
                "SELECT value FROM op_secrets WHERE name = $1",
                args![name],
            )?
            .first()
            .map(|r| r.get(0)?.text())
            .transpose()?
            .ok_or_else(|| StoreError::Corrupt("a provider secret vanished as it was kept".into()))
        })
    }
    fn op_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<(TokenGrant, i64)>, StoreError> {
        self.read(|db| {
            let rows = db.query(
                "SELECT client_id, user_id, scope, expires_at FROM op_tokens
                 WHERE token_hash = $1 AND expires_at > $2",
                args![token_hash, now],
            )?;
            match rows.first() {
                Some(r) => Ok(Some((
                    TokenGrant {
                        client_id: r.get(0)?.text()?,
                        user_id: UserId(r.get(1)?.int()?),
                        scope: r.get(2)?.text()?,
                    },
                    r.get(3)?.int()?,
                ))),
                None => Ok(None),
            }
        })
    }
}
