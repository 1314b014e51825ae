//! ssogate-oidc: the OpenID Connect relying party — everything between "Sign in with X"
//! and "here are the verified claims", plus logout and API bearer tokens.
//!
//! It owns discovery, JWKS caching, the login request (state, nonce, PKCE), the code
//! exchange (through the `oauth2` crate), validation of ID tokens, logout tokens and JWT
//! access tokens (aws-lc-rs signatures over keys parsed once per fetch), userinfo,
//! refresh, RP-initiated and back-channel logout. It hands out claims as JSON.
//!
//! It holds no state and calls no storage: [`Provider::begin`] hands the pending login
//! to the caller, [`Provider::finish`] takes it back, and replay guards (used states,
//! logout `jti`s) are the caller's. It must not know provisioning, SQL, sessions or
//! HTTP routes; the web layer calls it.

pub mod bearer;
pub mod bearer_cache;
pub mod check;
pub mod discovery;
pub mod error;
pub mod http;
pub mod jose;
pub mod login;
pub mod provider;
pub mod validate;

pub use bearer::BearerIdentity;
pub use check::CheckReport;
pub use error::OidcError;
pub use jose::Algorithm;
pub use login::PendingLogin;
pub use provider::{CallbackParams, Provider, TokenSet, VerifiedLogin};
pub use ssogate_protocol::{ClientSecret, ProtocolSettings, ProviderSettings, settings};
pub use validate::LogoutRequest;

/// Where "now" comes from (injectable so tests never depend on the wall clock).
pub trait Clock: Send + Sync {
    /// Unix seconds.
    fn now(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock tests move by hand.
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    pub fn new(now: i64) -> Self {
        ManualClock(std::sync::atomic::AtomicI64::new(now))
    }
    pub fn set(&self, now: i64) {
        self.0.store(now, std::sync::atomic::Ordering::Relaxed);
    }
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}
