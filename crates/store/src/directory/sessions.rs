//! Sessions and login states: opening, touching and ending sessions, pending logins
//! (one-time, bound to the browser) and the back-channel logout replay guard.

use super::Backend;
use crate::StoreError;
use crate::invalidate::Invalidation;
use crate::sessions::{
    self, EndedSession, LoginState, Secret, Session, SessionLifetimes, SessionOrigin,
    TakeStateError,
};
use crate::settings;
use ssogate_core::domain::UserId;

pub trait SessionStore {
    /// Opens a session; returns the cookie's secret (stored only as a digest).
    fn create_session(
        &self,
        user_id: UserId,
        origin: &SessionOrigin<'_>,
        now: i64,
        life: SessionLifetimes,
    ) -> Result<Secret, StoreError>;
    /// The live session for a cookie's secret, its idle deadline pushed back.
    fn touch_session(
        &self,
        secret: &str,
        now: i64,
        life: SessionLifetimes,
    ) -> Result<Option<Session>, StoreError>;
    /// Ends one session: `None` when there was none, otherwise the ID token it was
    /// opened with, if any (for `id_token_hint` at RP-initiated logout).
    fn end_session(&self, secret: &str) -> Result<Option<EndedSession>, StoreError>;
    /// Ends the sessions a back-channel logout names (by `sid`, else by subject).
    fn end_sessions_by_provider(
        &self,
        provider: &str,
        sid: Option<&str>,
        subject: Option<&str>,
    ) -> Result<u64, StoreError>;
    /// Ends every session of an account.
    fn end_sessions_for_user(&self, user_id: UserId) -> Result<u64, StoreError>;
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
    ) -> Result<LoginState, TakeStateError>;
    /// Deletes expired sessions and login states.
    fn sweep(&self, now: i64) -> Result<(u64, u64), StoreError>;
    /// Claims a session's re-validation at the provider when the last one was at or
    /// before `due_before`: the refresh token to use, for exactly one caller.
    fn claim_refresh(
        &self,
        secret: &str,
        now: i64,
        due_before: i64,
    ) -> Result<Option<Secret>, StoreError>;
    /// Keeps the refresh token the provider rotated to. Whether the session still exists.
    fn record_refresh(&self, secret: &str, refresh_token: &str) -> Result<bool, StoreError>;
    /// Records a back-channel logout token's `jti`; `false` when it is a replay.
    fn record_logout_jti(
        &self,
        provider: &str,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError>;
}

impl<B: Backend> SessionStore for B {
    fn create_session(
        &self,
        user_id: UserId,
        origin: &SessionOrigin<'_>,
        now: i64,
        life: SessionLifetimes,
    ) -> Result<Secret, StoreError> {
        self.write(|db, _| sessions::create(db, user_id, origin, now, life))
    }
    fn touch_session(
        &self,
        secret: &str,
        now: i64,
        life: SessionLifetimes,
    ) -> Result<Option<Session>, StoreError> {
        self.write(|db, _| sessions::touch(db, secret, now, life))
    }
    fn end_session(&self, secret: &str) -> Result<Option<EndedSession>, StoreError> {
        self.write_tx(|db, changed| {
            let ended = sessions::end(db, secret)?;
            changed.push(Invalidation::Session(sessions::digest(secret)));
            Ok(ended)
        })
    }
    fn end_sessions_by_provider(
        &self,
        provider: &str,
        sid: Option<&str>,
        subject: Option<&str>,
    ) -> Result<u64, StoreError> {
        self.write_tx(|db, changed| {
            let ended = sessions::end_by_provider(db, provider, sid, subject)?;
            let n = ended.len() as u64;
            for digest in ended {
                changed.push(Invalidation::Session(digest));
            }
            Ok(n)
        })
    }
    fn end_sessions_for_user(&self, user_id: UserId) -> Result<u64, StoreError> {
        self.write_tx(move |db, changed| {
            let n = sessions::end_for_user(db, user_id)?;
            changed.user(user_id);
            Ok(n)
        })
    }
    fn put_login_state(
        &self,
        provider: &str,
        state: &str,
        payload: &str,
        now: i64,
        ttl: i64,
    ) -> Result<String, StoreError> {
        self.write(|db, _| sessions::put_state(db, provider, state, payload, now, ttl))
    }
    fn take_login_state(
        &self,
        state: &str,
        binding: Option<&str>,
        provider: &str,
        now: i64,
    ) -> Result<LoginState, TakeStateError> {
        sessions::taken(self.write(|db, _| sessions::take_state(db, state, binding, provider, now)))
    }
    fn claim_refresh(
        &self,
        secret: &str,
        now: i64,
        due_before: i64,
    ) -> Result<Option<Secret>, StoreError> {
        self.write(|db, _| sessions::claim_refresh(db, secret, now, due_before))
    }
    fn record_refresh(&self, secret: &str, refresh_token: &str) -> Result<bool, StoreError> {
        self.write(|db, _| sessions::record_refresh(db, secret, refresh_token))
    }
    fn sweep(&self, now: i64) -> Result<(u64, u64), StoreError> {
        self.write(move |db, _| sessions::sweep(db, now))
    }
    fn record_logout_jti(
        &self,
        provider: &str,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.write(|db, _| settings::record_logout_jti(db, provider, jti, expires_at, now))
    }
}
