//! ssogate's signing keys: RSA 2048 (RS256, the default every client can verify), ECDSA
//! P-256 (ES256) and Ed25519 (EdDSA), made here, kept (as PKCS#8) in the directory by
//! the server so every instance signs with the same keys, published as a JWKS, and used
//! to sign ID tokens, logout tokens and JWT access tokens (JWS compact serialisation).
//! Which algorithm signs for a client is the client's choice. `alg: none` is never
//! produced, and a token is verified only with the algorithm of the key its `kid` names.

use crate::OpError;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, EcdsaKeyPair,
    Ed25519KeyPair, KeyPair as _, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, UnparsedPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// A JWS algorithm ssogate signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Alg {
    #[default]
    RS256,
    ES256,
    EdDSA,
}

impl Alg {
    pub const ALL: [Alg; 3] = [Alg::RS256, Alg::ES256, Alg::EdDSA];

    /// The JOSE name (`RS256`, `ES256`, `EdDSA`).
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
            Alg::EdDSA => "EdDSA",
        }
    }

    pub fn parse(name: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

impl std::fmt::Display for Alg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

enum Pair {
    Rsa(KeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// One signing key.
pub struct SigningKey {
    /// The RFC 7638 thumbprint of its public key.
    pub kid: String,
    pub alg: Alg,
    pair: Pair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish()
    }
}

fn key_error(what: &str) -> OpError {
    OpError::Key(format!("{what} key generation failed"))
}

impl SigningKey {
    /// A new RSA 2048 key (RS256).
    pub fn generate() -> Result<SigningKey, OpError> {
        Self::generate_for(Alg::RS256)
    }

    /// A new key for `alg`.
    pub fn generate_for(alg: Alg) -> Result<SigningKey, OpError> {
        let pair = match alg {
            Alg::RS256 => {
                Pair::Rsa(KeyPair::generate(KeySize::Rsa2048).map_err(|_| key_error("RSA"))?)
            }
            Alg::ES256 => Pair::Ec(
                EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(|_| key_error("P-256"))?,
            ),
            Alg::EdDSA => Pair::Ed(Ed25519KeyPair::generate().map_err(|_| key_error("Ed25519"))?),
        };
        Ok(Self::wrap(alg, pair))
    }

    /// An RS256 key as the directory keeps it.
    pub fn from_pkcs8(der: &[u8]) -> Result<SigningKey, OpError> {
        Self::from_pkcs8_for(Alg::RS256, der)
    }

    /// A key of `alg` as the directory keeps it.
    pub fn from_pkcs8_for(alg: Alg, der: &[u8]) -> Result<SigningKey, OpError> {
        let bad = |e: aws_lc_rs::error::KeyRejected| OpError::Key(format!("{alg} key: {e}"));
        let pair = match alg {
            Alg::RS256 => Pair::Rsa(KeyPair::from_pkcs8(der).map_err(bad)?),
            Alg::ES256 => Pair::Ec(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).map_err(bad)?,
            ),
            Alg::EdDSA => Pair::Ed(Ed25519KeyPair::from_pkcs8(der).map_err(bad)?),
        };
        Ok(Self::wrap(alg, pair))
    }

    /// An operator's key file: a PEM private key, PKCS#8 (`PRIVATE KEY`: RSA of 2048
    /// bits or more → RS256, P-256 → ES256, Ed25519 → EdDSA) or PKCS#1 (`RSA PRIVATE
    /// KEY`). The algorithm is the key's.
    pub fn from_pem(pem: &[u8]) -> Result<SigningKey, OpError> {
        use rustls_pki_types::PrivateKeyDer;
        use rustls_pki_types::pem::PemObject as _;
        let der = PrivateKeyDer::from_pem_slice(pem)
            .map_err(|e| OpError::Key(format!("no PEM private key in it ({e})")))?;
        match der {
            PrivateKeyDer::Pkcs8(p) => Alg::ALL
                .into_iter()
                .find_map(|alg| Self::from_pkcs8_for(alg, p.secret_pkcs8_der()).ok())
                .ok_or_else(|| {
                    OpError::Key(
                        "the key is not one ssogate signs with: RSA of 2048 bits or more, \
                         EC P-256 or Ed25519"
                            .into(),
                    )
                }),
            PrivateKeyDer::Pkcs1(p) => KeyPair::from_der(p.secret_pkcs1_der())
                .map(|k| Self::wrap(Alg::RS256, Pair::Rsa(k)))
                .map_err(|e| OpError::Key(format!("RSA key: {e}"))),
            PrivateKeyDer::Sec1(_) => Err(OpError::Key(
                "an EC key in SEC1 form: convert it to PKCS#8 with \
                 `openssl pkcs8 -topk8 -nocrypt -in key.pem -out key.p8.pem`"
                    .into(),
            )),
            _ => Err(OpError::Key("an unknown kind of private key".into())),
        }
    }

    fn wrap(alg: Alg, pair: Pair) -> SigningKey {
        // RFC 7638: SHA-256 over the required members in lexicographic order.
        let canonical = match public_members(&pair) {
            Public::Rsa { n, e } => format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#),
            Public::Ec { x, y } => format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#),
            Public::Okp { x } => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#),
        };
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
        SigningKey {
            kid: URL_SAFE_NO_PAD.encode(d.as_ref()),
            alg,
            pair,
        }
    }

    /// The private key as PKCS#8 DER, for the directory.
    pub fn to_pkcs8(&self) -> Result<Vec<u8>, OpError> {
        let failed = |_| OpError::Key("the key could not be encoded".into());
        match &self.pair {
            Pair::Rsa(p) => p.as_der().map(|d| d.as_ref().to_vec()).map_err(failed),
            Pair::Ec(p) => p.to_pkcs8v1().map(|d| d.as_ref().to_vec()).map_err(failed),
            Pair::Ed(p) => p.to_pkcs8().map(|d| d.as_ref().to_vec()).map_err(failed),
        }
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> Value {
        let (kid, alg) = (&self.kid, self.alg.as_str());
        match public_members(&self.pair) {
            Public::Rsa { n, e } => {
                json!({"kty": "RSA", "use": "sig", "alg": alg, "kid": kid, "n": n, "e": e})
            }
            Public::Ec { x, y } => {
                json!({"kty": "EC", "use": "sig", "alg": alg, "kid": kid, "crv": "P-256", "x": x, "y": y})
            }
            Public::Okp { x } => {
                json!({"kty": "OKP", "use": "sig", "alg": alg, "kid": kid, "crv": "Ed25519", "x": x})
            }
        }
    }

    /// `claims` signed as a compact JWS with this key's algorithm and `kid`.
    pub fn sign(&self, claims: &Value) -> Result<String, OpError> {
        self.sign_typed(claims, "JWT")
    }

    /// [`Self::sign`] with another `typ` (`logout+jwt`, `at+jwt`).
    pub fn sign_typed(&self, claims: &Value, typ: &str) -> Result<String, OpError> {
        let header = json!({"alg": self.alg.as_str(), "typ": typ, "kid": self.kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let sig = match &self.pair {
            Pair::Rsa(p) => {
                let mut sig = vec![0u8; p.public_modulus_len()];
                p.sign(&RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut sig)
                    .map_err(|_| OpError::Sign)?;
                sig
            }
            // The fixed (r ‖ s) form JWS wants (RFC 7518 3.4), not DER.
            Pair::Ec(p) => p
                .sign(&rng, input.as_bytes())
                .map_err(|_| OpError::Sign)?
                .as_ref()
                .to_vec(),
            Pair::Ed(p) => p.sign(input.as_bytes()).as_ref().to_vec(),
        };
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }

    /// The claims of a token this key signed (its algorithm, its `kid`), or `None`.
    /// Expiry is the caller's to judge: an `id_token_hint` may be expired and still name
    /// a session.
    pub fn verify(&self, token: &str) -> Option<Value> {
        let mut parts = token.split('.');
        let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
        if header.get("alg")?.as_str()? != self.alg.as_str()
            || header.get("kid")?.as_str()? != self.kid
        {
            return None;
        }
        let sig = URL_SAFE_NO_PAD.decode(s).ok()?;
        let message = format!("{h}.{p}");
        let ok = match &self.pair {
            Pair::Rsa(k) => {
                UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, k.public_key().as_ref())
                    .verify(message.as_bytes(), &sig)
            }
            Pair::Ec(k) => {
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, k.public_key().as_ref())
                    .verify(message.as_bytes(), &sig)
            }
            Pair::Ed(k) => UnparsedPublicKey::new(&ED25519, k.public_key().as_ref())
                .verify(message.as_bytes(), &sig),
        };
        ok.ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()
    }
}

/// The members of a public key's JWK, base64url.
enum Public {
    Rsa { n: String, e: String },
    Ec { x: String, y: String },
    Okp { x: String },
}

fn public_members(pair: &Pair) -> Public {
    match pair {
        Pair::Rsa(p) => {
            let public = p.public_key();
            Public::Rsa {
                n: URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
                e: URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
            }
        }
        Pair::Ec(p) => {
            // The uncompressed point: 0x04 ‖ X (32) ‖ Y (32).
            let point = p.public_key().as_ref();
            let coord = |r: std::ops::Range<usize>| {
                URL_SAFE_NO_PAD.encode(point.get(r).unwrap_or_default())
            };
            Public::Ec {
                x: coord(1..33),
                y: coord(33..65),
            }
        }
        Pair::Ed(p) => Public::Okp {
            x: URL_SAFE_NO_PAD.encode(p.public_key().as_ref()),
        },
    }
}

/// The JWKS document for `keys`.
pub fn jwks(keys: &[&SigningKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()})
}

/// The key that seals the signing keys kept in the directory (AES-256-GCM, derived with
/// HKDF-SHA256 from the operator's secret, `signing_key_encryption_key_file`): whoever
/// reads the database without it reads no signing key. Each sealed key is bound to its
/// `kid` (the additional data), so a sealed key cannot be moved to another row.
pub struct KeyWrap(aws_lc_rs::aead::LessSafeKey);

impl std::fmt::Debug for KeyWrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyWrap([redacted])")
    }
}

/// How a sealed key's stored text begins.
const SEALED: &str = "enc1:";

impl KeyWrap {
    /// From the operator's secret (at least 32 characters of randomness).
    pub fn from_secret(secret: &[u8]) -> Result<KeyWrap, OpError> {
        use aws_lc_rs::{aead, hkdf};
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"ssogate signing keys").extract(secret);
        let okm = prk
            .expand(&[b"aes-256-gcm v1"], &aead::AES_256_GCM)
            .map_err(|_| OpError::Key("the key-encryption key could not be derived".into()))?;
        Ok(KeyWrap(aead::LessSafeKey::new(aead::UnboundKey::from(okm))))
    }

    fn seal(&self, kid: &str, der: &[u8]) -> Result<String, OpError> {
        use aws_lc_rs::aead::{Aad, NONCE_LEN, Nonce};
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| OpError::Random)?;
        let mut sealed = der.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| OpError::Key("a signing key could not be sealed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{SEALED}{}", STANDARD_B64.encode(out)))
    }

    fn open(&self, kid: &str, text: &str) -> Result<Vec<u8>, OpError> {
        use aws_lc_rs::aead::{Aad, NONCE_LEN, Nonce};
        let bad = || {
            OpError::Key(format!(
                "the signing key {kid} does not open with this key-encryption key (another key, or a damaged row)"
            ))
        };
        let raw = STANDARD_B64.decode(text).map_err(|_| bad())?;
        let (nonce, sealed) = raw.split_at_checked(NONCE_LEN).ok_or_else(bad)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| bad())?;
        let mut buf = sealed.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut buf)
            .map_err(|_| bad())?;
        Ok(plain.to_vec())
    }
}

use base64::engine::general_purpose::STANDARD as STANDARD_B64;

/// The text a signing key is kept under in the directory: sealed with `wrap` when the
/// operator set a key-encryption key, else its PKCS#8 in base64.
pub fn stored_text(wrap: Option<&KeyWrap>, key: &SigningKey) -> Result<String, OpError> {
    let der = key.to_pkcs8()?;
    match wrap {
        Some(w) => w.seal(&key.kid, &der),
        None => Ok(STANDARD_B64.encode(der)),
    }
}

/// A signing key read back from its stored text ([`stored_text`]). A sealed key needs
/// the key-encryption key; a key kept in clear (made before one was set) still reads.
pub fn from_stored(
    wrap: Option<&KeyWrap>,
    alg: Alg,
    kid: &str,
    text: &str,
) -> Result<SigningKey, OpError> {
    let der = match (text.strip_prefix(SEALED), wrap) {
        (Some(sealed), Some(w)) => w.open(kid, sealed)?,
        (Some(_), None) => {
            return Err(OpError::Key(format!(
                "the signing key {kid} is sealed; set [server] signing_key_encryption_key_file to the file it was sealed with"
            )));
        }
        (None, _) => STANDARD_B64
            .decode(text)
            .map_err(|e| OpError::Key(format!("a stored signing key is not base64: {e}")))?,
    };
    SigningKey::from_pkcs8_for(alg, &der)
}

/// `at_hash` (Core 3.1.3.6): the left half of the hash of the access token, base64url —
/// the hash of the signing algorithm: SHA-256 for RS256 and ES256, SHA-512 for EdDSA
/// (Ed25519 hashes with SHA-512; oidc-provider and ssogate's relying party read it so).
pub fn at_hash(access_token: &str, alg: Alg) -> String {
    let hash = match alg {
        Alg::RS256 | Alg::ES256 => &aws_lc_rs::digest::SHA256,
        Alg::EdDSA => &aws_lc_rs::digest::SHA512,
    };
    let d = aws_lc_rs::digest::digest(hash, access_token.as_bytes());
    let bytes = d.as_ref();
    URL_SAFE_NO_PAD.encode(bytes.get(..bytes.len() / 2).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PEM as `openssl` writes it.
    pub(crate) fn pem(label: &str, der: &[u8]) -> String {
        let b64 = STANDARD_B64.encode(der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    }

    #[test]
    fn operator_key_files_are_read_with_their_algorithm() {
        for alg in Alg::ALL {
            let key = SigningKey::generate_for(alg).unwrap();
            let text = pem("PRIVATE KEY", &key.to_pkcs8().unwrap());
            let read = SigningKey::from_pem(text.as_bytes()).unwrap();
            assert_eq!((read.alg, &read.kid), (alg, &key.kid), "{alg}");
            let token = read.sign(&json!({"sub": "1"})).unwrap();
            assert!(key.verify(&token).is_some(), "{alg}: signs as the same key");
        }
        for (text, says) in [
            ("not a key".to_owned(), "no PEM private key"),
            (pem("EC PRIVATE KEY", &[0x30, 0x00]), "PKCS#8"),
            (
                pem("PRIVATE KEY", &[0x30, 0x03, 0x02, 0x01, 0x00]),
                "not one ssogate signs with",
            ),
        ] {
            let e = SigningKey::from_pem(text.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{e}");
        }
    }

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
        let Pair::Rsa(pair) = &key.pair else {
            unreachable!("an RS256 key is RSA")
        };
        let public = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            pair.public_key().as_ref(),
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

    #[test]
    fn es256_and_eddsa_keys_survive_the_directory_sign_and_verify_only_their_own() {
        for alg in [Alg::ES256, Alg::EdDSA] {
            let key = SigningKey::generate_for(alg).unwrap();
            let again = SigningKey::from_pkcs8_for(alg, &key.to_pkcs8().unwrap()).unwrap();
            assert_eq!(
                (key.kid.as_str(), key.jwk()),
                (again.kid.as_str(), again.jwk())
            );
            assert_eq!(key.jwk()["alg"], alg.as_str());
            let token = again.sign(&json!({"sub": "1"})).unwrap();
            let header: Value = serde_json::from_slice(
                &URL_SAFE_NO_PAD
                    .decode(token.split('.').next().unwrap())
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(header["alg"], alg.as_str());
            assert_eq!(key.verify(&token).unwrap()["sub"], "1");
            // The same kid under another alg (algorithm confusion) is refused.
            let (_, rest) = token.split_once('.').unwrap();
            let confused = format!(
                "{}.{rest}",
                URL_SAFE_NO_PAD.encode(json!({"alg": "HS256", "kid": key.kid}).to_string())
            );
            assert!(key.verify(&confused).is_none());
            assert!(
                SigningKey::generate_for(alg)
                    .unwrap()
                    .verify(&token)
                    .is_none()
            );
            // Another algorithm's key material is refused when read back.
            assert!(SigningKey::from_pkcs8_for(Alg::RS256, &key.to_pkcs8().unwrap()).is_err());
        }
        // ES256's signature is the fixed 64 bytes JWS wants.
        let es = SigningKey::generate_for(Alg::ES256).unwrap();
        let sig = es.sign(&json!({})).unwrap();
        let raw = URL_SAFE_NO_PAD
            .decode(sig.rsplit('.').next().unwrap())
            .unwrap();
        assert_eq!(raw.len(), 64);
        assert_eq!(es.jwk()["crv"], "P-256");
        assert_eq!(Alg::parse("EdDSA"), Some(Alg::EdDSA));
        assert_eq!(Alg::parse("none"), None);
    }

    #[test]
    fn sealed_keys_open_only_with_their_wrap_and_kid() {
        let key = SigningKey::generate_for(Alg::ES256).unwrap();
        let wrap = KeyWrap::from_secret(b"0123456789abcdef0123456789abcdef-operator").unwrap();
        let text = stored_text(Some(&wrap), &key).unwrap();
        assert!(text.starts_with("enc1:"), "{text}");
        let der = key.to_pkcs8().unwrap();
        assert!(
            !text.contains(&STANDARD_B64.encode(&der)),
            "no clear key inside"
        );
        let back = from_stored(Some(&wrap), Alg::ES256, &key.kid, &text).unwrap();
        assert_eq!(back.jwk(), key.jwk());
        // Without the wrap, with another, or under another kid: refused, said plainly.
        let e = from_stored(None, Alg::ES256, &key.kid, &text).unwrap_err();
        assert!(
            e.to_string().contains("signing_key_encryption_key_file"),
            "{e}"
        );
        let other = KeyWrap::from_secret(b"another-operator-secret-0123456789abcdef").unwrap();
        assert!(from_stored(Some(&other), Alg::ES256, &key.kid, &text).is_err());
        assert!(from_stored(Some(&wrap), Alg::ES256, "another-kid", &text).is_err());
        // A key kept in clear before a wrap was set still reads.
        let clear = stored_text(None, &key).unwrap();
        assert_eq!(
            from_stored(Some(&wrap), Alg::ES256, &key.kid, &clear)
                .unwrap()
                .kid,
            key.kid
        );
        assert_eq!(format!("{wrap:?}"), "KeyWrap([redacted])");
    }
}
