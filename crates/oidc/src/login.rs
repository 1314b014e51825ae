//! The pending login between "Sign in with X" and the callback: state, nonce, PKCE
//! verifier, where to return, which provider, when. The relying party holds none of it:
//! [`crate::Provider::begin`] hands it to the caller, which keeps it (one-time, ten
//! minutes, bound to the browser that started it) and gives it back to
//! [`crate::Provider::finish`] — as openidconnect-rs does.

use crate::error::OidcError;
use crate::validate::constant_time_eq;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How long a login may take, in seconds.
pub const LOGIN_TTL: i64 = 600;

/// `n` random bytes, base64url.
pub fn random_token(n: usize) -> Result<String, OidcError> {
    let mut bytes = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| OidcError::StateStore("the system random generator failed".into()))?;
    Ok(B64.encode(bytes))
}

/// What the callback needs to finish a login. Serialised for storage without its
/// `state`: the caller keys it by the state (a digest of it, ideally) and puts the state
/// back when it takes the login, so the state itself need never be stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLogin {
    /// Sent to the provider and back; the caller finds the pending login by it.
    #[serde(skip)]
    pub state: String,
    pub provider: String,
    pub nonce: String,
    pub pkce_verifier: Option<String>,
    pub return_to: String,
    pub created_at: i64,
    /// Opaque to the relying party: the server's purpose (e.g. linking to a session).
    #[serde(default)]
    pub purpose: Option<String>,
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("provider", &self.provider)
            .field("return_to", &self.return_to)
            .field("created_at", &self.created_at)
            .field("purpose", &self.purpose)
            .finish_non_exhaustive()
    }
}

impl PendingLogin {
    /// The relying party's own checks when the login comes back: the callback's state is
    /// this login's, for this provider, within its time.
    pub(crate) fn check(&self, state: &str, provider: &str, now: i64) -> Result<(), OidcError> {
        if !constant_time_eq(state.as_bytes(), self.state.as_bytes()) {
            return Err(OidcError::StateUnknown);
        }
        if now > self.created_at.saturating_add(LOGIN_TTL) {
            return Err(OidcError::StateExpired);
        }
        if self.provider != provider {
            return Err(OidcError::StateWrongProvider {
                expected: self.provider.clone(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(now: i64) -> PendingLogin {
        PendingLogin {
            state: "s".repeat(43),
            provider: "corp".into(),
            nonce: "n".into(),
            pkce_verifier: Some("v".into()),
            return_to: "/".into(),
            created_at: now,
            purpose: None,
        }
    }

    #[test]
    fn a_pending_login_comes_back_for_its_state_provider_and_time_only() {
        let p = pending(1000);
        assert!(p.check(&"s".repeat(43), "corp", 1000 + LOGIN_TTL).is_ok());
        assert_eq!(
            p.check("another", "corp", 1000),
            Err(OidcError::StateUnknown)
        );
        assert_eq!(
            p.check(&"s".repeat(43), "corp", 1001 + LOGIN_TTL),
            Err(OidcError::StateExpired)
        );
        assert!(matches!(
            p.check(&"s".repeat(43), "google", 1000),
            Err(OidcError::StateWrongProvider { .. })
        ));
    }

    #[test]
    fn the_state_is_never_serialised() {
        let json = serde_json::to_string(&pending(1)).unwrap_or_default();
        assert!(!json.contains("sss"), "{json}");
        assert!(format!("{:?}", pending(1)).contains("PendingLogin"));
        assert!(!format!("{:?}", pending(1)).contains("sss"));
    }
}
