//! The token endpoint (RFC 6749 3.2 and 4.1.3, RFC 7636 4.6): who the client is, and
//! whether a code it presents was issued to it, for this redirect URI and this verifier.

use crate::authorize::Authorization;
use crate::client::{Client, ClientAuth};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// A refusal at the token endpoint, as RFC 6749 5.2 names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    /// 401; `basic`: the client tried HTTP Basic (the answer carries `WWW-Authenticate`).
    #[error("invalid_client: {message}")]
    InvalidClient { message: String, basic: bool },
    #[error("invalid_grant: {0}")]
    InvalidGrant(String),
    #[error("unsupported_grant_type: {0}")]
    UnsupportedGrantType(String),
    /// ssogate itself could not answer (its directory, its keys): 503, said generically.
    #[error("temporarily_unavailable: {0}")]
    Unavailable(String),
}

impl TokenError {
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::InvalidRequest(_) => "invalid_request",
            TokenError::InvalidClient { .. } => "invalid_client",
            TokenError::InvalidGrant(_) => "invalid_grant",
            TokenError::UnsupportedGrantType(_) => "unsupported_grant_type",
            TokenError::Unavailable(_) => "temporarily_unavailable",
        }
    }
    pub fn description(&self) -> String {
        match self {
            TokenError::InvalidRequest(m)
            | TokenError::InvalidGrant(m)
            | TokenError::UnsupportedGrantType(m)
            | TokenError::InvalidClient { message: m, .. } => m.clone(),
            TokenError::Unavailable(_) => {
                "ssogate cannot answer right now; try again in a moment".into()
            }
        }
    }
}

fn bad_client(message: &str, basic: bool) -> TokenError {
    TokenError::InvalidClient {
        message: message.to_owned(),
        basic,
    }
}

/// `client_id:client_secret` from an `Authorization: Basic` value (each part
/// form-urlencoded, RFC 6749 2.3.1).
pub fn basic_credentials(header: &str) -> Option<(String, String)> {
    let b64 = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))?;
    let raw = String::from_utf8(STANDARD.decode(b64.trim()).ok()?).ok()?;
    let (id, secret) = raw.split_once(':')?;
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((decode(id)?, decode(secret)?))
}

/// Authenticates the client of a token request: HTTP Basic, or `client_id` and
/// `client_secret` in the form, or `client_id` alone for a public client. One method
/// per request; a confidential client never passes without its secret.
pub fn authenticate<'c>(
    basic: Option<(String, String)>,
    form_id: Option<&str>,
    form_secret: Option<&str>,
    client: impl Fn(&str) -> Option<&'c Client>,
) -> Result<&'c Client, TokenError> {
    match (basic, form_secret) {
        (Some(_), Some(_)) => Err(TokenError::InvalidRequest(
            "use one client authentication method, not two".into(),
        )),
        (Some((id, secret)), None) => {
            if form_id.is_some_and(|f| f != id) {
                return Err(TokenError::InvalidRequest(
                    "client_id differs from the authenticated client".into(),
                ));
            }
            let c = client(&id).ok_or_else(|| bad_client("unknown client", true))?;
            match &c.secret {
                Some(s) if c.auth == ClientAuth::Secret && s.matches(&secret) => Ok(c),
                _ => Err(bad_client("client authentication failed", true)),
            }
        }
        (None, Some(secret)) => {
            let id = form_id.ok_or_else(|| bad_client("client_id is missing", false))?;
            let c = client(id).ok_or_else(|| bad_client("unknown client", false))?;
            match &c.secret {
                Some(s) if c.auth == ClientAuth::Secret && s.matches(secret) => Ok(c),
                _ => Err(bad_client("client authentication failed", false)),
            }
        }
        (None, None) => {
            let id =
                form_id.ok_or_else(|| bad_client("client authentication is missing", false))?;
            let c = client(id).ok_or_else(|| bad_client("unknown client", false))?;
            match c.auth {
                ClientAuth::None => Ok(c),
                ClientAuth::PrivateKeyJwt => Err(bad_client(
                    "this client must authenticate with a client assertion (private_key_jwt)",
                    false,
                )),
                ClientAuth::Secret => Err(bad_client(
                    "this client must authenticate with its secret",
                    false,
                )),
            }
        }
    }
}

/// The `client_assertion_type` of `private_key_jwt` (RFC 7523 2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The longest a client assertion may live: a client makes one per request.
pub const ASSERTION_MAX_SECONDS: i64 = 600;

/// A client assertion's identity, checked: the caller keeps `jti` until `exp` so it is
/// never accepted twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asserted {
    pub jti: String,
    pub exp: i64,
}

/// The `iss` a client assertion claims, unverified: only to know whose keys to fetch.
pub fn assertion_issuer(assertion: &str) -> Option<String> {
    assertion
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|p| serde_json::from_slice::<serde_json::Value>(&p).ok())
        .and_then(|v| v.get("iss").and_then(|i| i.as_str()).map(str::to_owned))
}

/// Authenticates a client by `private_key_jwt` (OpenID Connect Core 9, RFC 7523 3):
/// `client_assertion_type` is [`JWT_BEARER`]; the client is the assertion's `iss` (and
/// the form's `client_id`, when given); `verify` checks the signature with the client's
/// registered keys and answers the claims; `iss` and `sub` are the client, `aud` names
/// one of `audiences` (the token endpoint or the issuer), `exp` is in the future but
/// not beyond [`ASSERTION_MAX_SECONDS`], and a `jti` is there. Only a client registered
/// for `private_key_jwt` may use it, and such a client nothing else.
pub fn authenticate_assertion<'c>(
    form_id: Option<&str>,
    assertion: &str,
    kind: Option<&str>,
    client: impl Fn(&str) -> Option<&'c Client>,
    verify: impl FnOnce(&Client, &str) -> Option<serde_json::Map<String, serde_json::Value>>,
    audiences: &[&str],
    now: i64,
) -> Result<(&'c Client, Asserted), TokenError> {
    if kind != Some(JWT_BEARER) {
        return Err(TokenError::InvalidRequest(format!(
            "client_assertion_type must be {JWT_BEARER}"
        )));
    }
    // Who it claims to be, to find the keys; nothing is trusted before `verify`.
    let unverified_iss = assertion_issuer(assertion)
        .ok_or_else(|| bad_client("the client assertion names no issuer", false))?;
    if form_id.is_some_and(|f| f != unverified_iss) {
        return Err(bad_client(
            "client_id differs from the client assertion's issuer",
            false,
        ));
    }
    let c = client(&unverified_iss).ok_or_else(|| bad_client("unknown client", false))?;
    if c.auth != crate::client::ClientAuth::PrivateKeyJwt {
        return Err(bad_client(
            "this client does not authenticate with private_key_jwt",
            false,
        ));
    }
    let claims = verify(c, assertion).ok_or_else(|| {
        bad_client(
            "the client assertion's signature does not verify with the client's registered keys",
            false,
        )
    })?;
    let text = |k: &str| claims.get(k).and_then(|v| v.as_str());
    if text("iss") != Some(c.id.as_str()) || text("sub") != Some(c.id.as_str()) {
        return Err(bad_client(
            "the client assertion's iss and sub must both be the client_id",
            false,
        ));
    }
    let aud_ok = match claims.get("aud") {
        Some(serde_json::Value::String(a)) => audiences.contains(&a.as_str()),
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .filter_map(|a| a.as_str())
            .any(|a| audiences.contains(&a)),
        _ => false,
    };
    if !aud_ok {
        return Err(bad_client(
            "the client assertion's aud is not this token endpoint or issuer",
            false,
        ));
    }
    let exp = claims
        .get("exp")
        .and_then(|v| v.as_i64())
        .ok_or_else(|| bad_client("the client assertion has no exp", false))?;
    if exp <= now {
        return Err(bad_client("the client assertion has expired", false));
    }
    if exp > now.saturating_add(ASSERTION_MAX_SECONDS) {
        return Err(bad_client(
            "the client assertion lives too long (at most 10 minutes)",
            false,
        ));
    }
    let jti = text("jti")
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or_else(|| bad_client("the client assertion has no jti", false))?;
    Ok((
        c,
        Asserted {
            jti: jti.to_owned(),
            exp,
        },
    ))
}

/// Checks a redeemed code's authorization against the request that redeems it.
pub fn check_code(
    granted: &Authorization,
    client: &Client,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
) -> Result<(), TokenError> {
    if granted.client_id != client.id {
        return Err(TokenError::InvalidGrant(
            "the code was issued to another client".into(),
        ));
    }
    if redirect_uri != Some(granted.redirect_uri.as_str()) {
        return Err(TokenError::InvalidGrant(
            "redirect_uri differs from the authorization request's".into(),
        ));
    }
    match (&granted.code_challenge, verifier) {
        (Some(c), Some(v)) if crate::pkce::matches(c, v) => Ok(()),
        (Some(_), Some(_)) => Err(TokenError::InvalidGrant(
            "the code_verifier does not match".into(),
        )),
        (Some(_), None) => Err(TokenError::InvalidGrant("code_verifier is missing".into())),
        // A verifier for a code issued without a challenge is a downgrade attempt.
        (None, Some(_)) => Err(TokenError::InvalidGrant(
            "a code_verifier for a code issued without PKCE".into(),
        )),
        (None, None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(id: &str, secret: Option<&str>) -> Client {
        crate::client::test_client(id, "https://app.example/cb", secret)
    }

    #[test]
    fn clients_authenticate_one_way_and_confidential_ones_always_with_their_secret() {
        let (conf, public) = (client("conf", Some("s3cret")), client("spa", None));
        let find = |id: &str| [&conf, &public].into_iter().find(|c| c.id == id);
        let basic = |s: &str| basic_credentials(&format!("Basic {}", STANDARD.encode(s)));
        assert_eq!(
            authenticate(basic("conf:s3cret"), None, None, find)
                .unwrap()
                .id,
            "conf"
        );
        assert!(matches!(
            authenticate(basic("conf:wrong"), None, None, find),
            Err(TokenError::InvalidClient { basic: true, .. })
        ));
        assert_eq!(
            authenticate(None, Some("conf"), Some("s3cret"), find)
                .unwrap()
                .id,
            "conf"
        );
        assert!(authenticate(None, Some("conf"), Some("wrong"), find).is_err());
        assert!(
            authenticate(None, Some("conf"), None, find).is_err(),
            "no secret, no token"
        );
        assert_eq!(
            authenticate(None, Some("spa"), None, find).unwrap().id,
            "spa"
        );
        assert!(authenticate(None, Some("spa"), Some("anything"), find).is_err());
        assert!(matches!(
            authenticate(basic("conf:s3cret"), None, Some("s3cret"), find),
            Err(TokenError::InvalidRequest(_))
        ));
        assert!(authenticate(basic("conf:s3cret"), Some("spa"), None, find).is_err());
        assert!(authenticate(None, None, None, find).is_err());
        // Form-urlencoded parts (RFC 6749 2.3.1).
        assert_eq!(
            basic_credentials(&format!("Basic {}", STANDARD.encode("a%3Ab:c%2Bd"))),
            Some(("a:b".into(), "c+d".into()))
        );
    }
}
