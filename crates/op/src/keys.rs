//! ssogate's signing keys: RSA 2048 made here, kept (as PKCS#8) in the directory by the
//! server so every instance signs with the same key, published as a JWKS, and used to
//! sign ID tokens (RS256, JWS compact serialisation). `alg: none` is never produced.

use crate::OpError;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// One signing key.
pub struct SigningKey {
    /// The RFC 7638 thumbprint of its public key.
    pub kid: String,
    pair: KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish()
    }
}

impl SigningKey {
    /// A new RSA 2048 key.
    pub fn generate() -> Result<SigningKey, OpError> {
        let pair = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| OpError::Key("RSA key generation failed".into()))?;
        Ok(Self::wrap(pair))
    }

    /// A key as the directory keeps it.
    pub fn from_pkcs8(der: &[u8]) -> Result<SigningKey, OpError> {
        let pair = KeyPair::from_pkcs8(der).map_err(|e| OpError::Key(e.to_string()))?;
        Ok(Self::wrap(pair))
    }

    fn wrap(pair: KeyPair) -> SigningKey {
        let (n, e) = components(&pair);
        // RFC 7638: SHA-256 over the required members in lexicographic order.
        let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
        SigningKey {
            kid: URL_SAFE_NO_PAD.encode(d.as_ref()),
            pair,
        }
    }

    /// The private key as PKCS#8 DER, for the directory.
    pub fn to_pkcs8(&self) -> Result<Vec<u8>, OpError> {
        self.pair
            .as_der()
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| OpError::Key("the key could not be encoded".into()))
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> Value {
        let (n, e) = components(&self.pair);
        json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid, "n": n, "e": e})
    }

    /// `claims` signed as a compact JWS with RS256 and this key's `kid`.
    pub fn sign(&self, claims: &Value) -> Result<String, OpError> {
        self.sign_typed(claims, "JWT")
    }

    /// [`Self::sign`] with another `typ` (`logout+jwt` for logout tokens).
    pub fn sign_typed(&self, claims: &Value, typ: &str) -> Result<String, OpError> {
        let header = json!({"alg": "RS256", "typ": typ, "kid": self.kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.pair
            .sign(&RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut sig)
            .map_err(|_| OpError::Sign)?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}

impl SigningKey {
    /// The claims of a token this key signed (RS256, this `kid`), or `None`. Expiry is
    /// the caller's to judge: an `id_token_hint` may be expired and still name a session.
    pub fn verify(&self, token: &str) -> Option<Value> {
        let mut parts = token.split('.');
        let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
        if header.get("alg")?.as_str()? != "RS256" || header.get("kid")?.as_str()? != self.kid {
            return None;
        }
        let sig = URL_SAFE_NO_PAD.decode(s).ok()?;
        let public = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            self.pair.public_key().as_ref(),
        );
        public.verify(format!("{h}.{p}").as_bytes(), &sig).ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()
    }
}

fn components(pair: &KeyPair) -> (String, String) {
    let public = pair.public_key();
    (
        URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
        URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
    )
}

/// The JWKS document for `keys`.
pub fn jwks(keys: &[&SigningKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()})
}

/// `at_hash` (Core 3.1.3.6): the left half of SHA-256 of the access token, base64url.
pub fn at_hash(access_token: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access_token.as_bytes());
    let half = d.as_ref().get(..16).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(half)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_survives_the_directory_and_signs_verifiable_rs256() {
        let key = SigningKey::generate().unwrap();
        let again = SigningKey::from_pkcs8(&key.to_pkcs8().unwrap()).unwrap();
        assert_eq!(key.kid, again.kid);
        assert_eq!(key.jwk(), again.jwk());
        let token = again
            .sign(&json!({"sub": "1", "iss": "https://sso.example"}))
            .unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["kid"], key.kid.as_str());
        // Verified with the public key alone, as a relying party would.
        let public = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            key.pair.public_key().as_ref(),
        );
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        public
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .unwrap();
        assert_eq!(key.verify(&token).unwrap()["sub"], "1");
        // A changed payload, `alg: none`, another key: nothing.
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(r#"{"sub":"2"}"#),
            parts[2]
        );
        assert!(key.verify(&forged).is_none());
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            parts[1]
        );
        assert!(key.verify(&none).is_none());
        let other = SigningKey::generate().unwrap();
        assert!(other.verify(&token).is_none());
    }
}
