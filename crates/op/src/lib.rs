//! ssogate-op: ssogate as an OpenID Provider for downstream applications — the protocol.
//!
//! Owns what OpenID Connect Core, Discovery, RFC 6749, RFC 7636 (PKCE) and RFC 9207
//! (`iss` in the authorization response) say about the provider's side: checking an
//! authorization request ([`authorize`], [`pkce`]), authenticating a client and a code exchange
//! ([`token`]), signing keys, JWKS and ID tokens ([`keys`]), which claims a scope
//! releases ([`claims`]) and the discovery document ([`discovery`]).
//!
//! It must not know SQL, HTTP routing, cookies or sessions: the server keeps codes,
//! tokens and keys in the directory, finds the signed-in person, and hands them in.

pub mod authorize;
pub mod claims;
pub mod client;
pub mod discovery;
pub mod keys;
pub mod person;
pub mod pkce;
pub mod token;

pub use client::{Client, ClientAuth};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A fresh random token (codes, access tokens): `bytes` random bytes, base64url.
pub fn random_token(bytes: usize) -> Result<String, OpError> {
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buf).map_err(|_| OpError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// SHA-256 of a secret (codes and access tokens are kept as this, never as given).
pub fn digest(secret: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    URL_SAFE_NO_PAD.encode(d.as_ref())
}

/// Something the provider's own machinery could not do.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("the system's random number generator failed")]
    Random,
    #[error("a signing key could not be made or read: {0}")]
    Key(String),
    #[error("a token could not be signed")]
    Sign,
}
