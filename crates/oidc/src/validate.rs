//! Claim checks for ID tokens (Core 3.1.3.7), logout tokens (Back-Channel Logout 2.6)
//! and JWT access tokens (RFC 9068 4). Pure: the caller passes the time.

use crate::error::OidcError;
use crate::jose::{Algorithm, left_half_hash};
use serde_json::{Map, Value};

/// The logout event's member name (Back-Channel Logout 1.0, 2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How old a logout token without `exp` may be.
pub const LOGOUT_TOKEN_MAX_AGE: i64 = 600;

/// What a token must say to be accepted.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub issuer: &'a str,
    /// The audience the token must contain.
    pub audience: &'a str,
    /// Checked against `azp` (the client id).
    pub client_id: &'a str,
    pub check_audience: bool,
    /// Check `azp` against the client id (ID tokens; independent of the audience).
    pub check_azp: bool,
    pub leeway: i64,
    pub now: i64,
}

fn int(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, OidcError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| OidcError::Malformed(format!("\"{name}\" is not a number of seconds"))),
        Some(_) => Err(OidcError::Malformed(format!("\"{name}\" is not a number"))),
    }
}

fn string<'c>(claims: &'c Map<String, Value>, name: &'static str) -> Option<&'c str> {
    claims.get(name).and_then(Value::as_str)
}

fn audiences(claims: &Map<String, Value>) -> Result<Vec<&str>, OidcError> {
    match claims.get("aud") {
        Some(Value::String(s)) => Ok(vec![s.as_str()]),
        Some(Value::Array(a)) => Ok(a.iter().filter_map(Value::as_str).collect()),
        None => Err(OidcError::MissingClaim("aud")),
        Some(_) => Err(OidcError::Malformed(
            "\"aud\" is neither a string nor an array".into(),
        )),
    }
}

/// `iss`, `aud` / `azp`, `exp` (required unless `exp_required` is false), `iat`, `nbf`.
pub fn check_common(
    claims: &Map<String, Value>,
    want: &Expected<'_>,
    exp_required: bool,
) -> Result<(), OidcError> {
    let iss = string(claims, "iss").ok_or(OidcError::MissingClaim("iss"))?;
    if iss != want.issuer {
        return Err(OidcError::WrongIssuer {
            expected: want.issuer.to_owned(),
            found: iss.to_owned(),
        });
    }
    let audiences = audiences(claims)?;
    if want.check_audience && !audiences.contains(&want.audience) {
        return Err(OidcError::WrongAudience {
            found: audiences.join(", "),
        });
    }
    if want.check_azp {
        match string(claims, "azp") {
            Some(azp) if azp != want.client_id => {
                return Err(OidcError::WrongAzp {
                    found: azp.to_owned(),
                });
            }
            None if audiences.len() > 1 => return Err(OidcError::AzpMissing),
            _ => {}
        }
    }
    let leeway = want.leeway;
    let now = want.now;
    match int(claims, "exp")? {
        Some(exp) if now > exp.saturating_add(leeway) => {
            return Err(OidcError::Expired { exp, now, leeway });
        }
        None if exp_required => return Err(OidcError::MissingClaim("exp")),
        _ => {}
    }
    let iat = int(claims, "iat")?.ok_or(OidcError::MissingClaim("iat"))?;
    if iat > now.saturating_add(leeway) {
        return Err(OidcError::IssuedInFuture { iat, now, leeway });
    }
    if let Some(nbf) = int(claims, "nbf")?
        && nbf > now.saturating_add(leeway)
    {
        return Err(OidcError::NotYetValid { nbf, now, leeway });
    }
    Ok(())
}

fn subject(claims: &Map<String, Value>) -> Result<&str, OidcError> {
    string(claims, "sub")
        .filter(|s| !s.is_empty())
        .ok_or(OidcError::MissingClaim("sub"))
}

/// The ID token's own checks after the signature: common claims, `sub`, `nonce`,
/// `at_hash`. `nonce` is `None` only on refresh (Core 12.2).
pub fn check_id_token(
    claims: &Map<String, Value>,
    want: &Expected<'_>,
    nonce: Option<&str>,
    alg: Algorithm,
    access_token: Option<&str>,
) -> Result<(), OidcError> {
    check_common(claims, want, true)?;
    subject(claims)?;
    if let Some(expected) = nonce {
        let got = string(claims, "nonce").ok_or(OidcError::NonceMissing)?;
        if !constant_time_eq(got.as_bytes(), expected.as_bytes()) {
            return Err(OidcError::NonceMismatch);
        }
    }
    if let (Some(at_hash), Some(at)) = (string(claims, "at_hash"), access_token)
        && !constant_time_eq(left_half_hash(alg, at).as_bytes(), at_hash.as_bytes())
    {
        return Err(OidcError::AtHashMismatch);
    }
    Ok(())
}

/// What a valid logout token asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    pub sid: Option<String>,
    pub sub: Option<String>,
    pub jti: String,
    /// Until when its `jti` must be remembered.
    pub remember_until: i64,
}

/// Back-Channel Logout 1.0, 2.6 steps 3–6 (the signature is checked before).
pub fn check_logout_token(
    header_typ: Option<&str>,
    claims: &Map<String, Value>,
    want: &Expected<'_>,
) -> Result<LogoutRequest, OidcError> {
    if let Some(typ) = header_typ
        && !["logout+jwt", "application/logout+jwt", "JWT"]
            .iter()
            .any(|t| t.eq_ignore_ascii_case(typ))
    {
        return Err(OidcError::WrongTokenType {
            expected: "logout+jwt",
            found: typ.to_owned(),
        });
    }
    if claims.contains_key("nonce") {
        return Err(OidcError::LogoutTokenHasNonce);
    }
    check_common(claims, want, false)?;
    let event = claims
        .get("events")
        .and_then(Value::as_object)
        .and_then(|e| e.get(BACKCHANNEL_LOGOUT_EVENT));
    if !matches!(event, Some(Value::Object(_))) {
        return Err(OidcError::LogoutTokenNoEvent);
    }
    let sid = string(claims, "sid").map(str::to_owned);
    let sub = string(claims, "sub").map(str::to_owned);
    if sid.is_none() && sub.is_none() {
        return Err(OidcError::LogoutTokenNoSubject);
    }
    let jti = string(claims, "jti")
        .filter(|j| !j.is_empty())
        .ok_or(OidcError::MissingClaim("jti"))?
        .to_owned();
    let iat = int(claims, "iat")?.unwrap_or(want.now);
    let remember_until = match int(claims, "exp")? {
        Some(exp) => exp.saturating_add(want.leeway),
        None => {
            if want.now > iat.saturating_add(LOGOUT_TOKEN_MAX_AGE + want.leeway) {
                return Err(OidcError::LogoutTokenTooOld { iat, now: want.now });
            }
            iat.saturating_add(LOGOUT_TOKEN_MAX_AGE + want.leeway)
        }
    };
    Ok(LogoutRequest {
        sid,
        sub,
        jti,
        remember_until,
    })
}

/// RFC 9068 4: `typ` must be `at+jwt`; `iss`, `exp`, `iat`, `sub` checked, and `aud`
/// must name one of the `accepted` audiences — always checked, whatever
/// `check_audience` says for ID tokens: a token issued for another resource or client
/// of the same provider is not a credential here.
pub fn check_access_token(
    header_typ: Option<&str>,
    claims: &Map<String, Value>,
    want: &Expected<'_>,
    accepted: &[&str],
) -> Result<(), OidcError> {
    let typ = header_typ.unwrap_or("");
    if !typ.eq_ignore_ascii_case("at+jwt") && !typ.eq_ignore_ascii_case("application/at+jwt") {
        return Err(OidcError::WrongTokenType {
            expected: "at+jwt",
            found: typ.to_owned(),
        });
    }
    // The client that obtained the token is not us, so `azp` is not ours to check.
    check_common(
        claims,
        &Expected {
            check_audience: false,
            check_azp: false,
            ..*want
        },
        true,
    )?;
    let audiences = audiences(claims)?;
    if !audiences.iter().any(|a| accepted.contains(a)) {
        return Err(OidcError::WrongAudience {
            found: audiences.join(", "),
        });
    }
    subject(claims)?;
    Ok(())
}

/// Compares secrets without an early exit.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn want(now: i64) -> Expected<'static> {
        Expected {
            issuer: "https://idp",
            audience: "app",
            client_id: "app",
            check_audience: true,
            check_azp: true,
            leeway: 60,
            now,
        }
    }

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn leeway_is_honoured_on_both_sides() {
        let c = obj(json!({"iss":"https://idp","aud":"app","exp":1000,"iat":900,"sub":"s"}));
        assert!(check_common(&c, &want(1060), true).is_ok());
        assert!(matches!(
            check_common(&c, &want(1061), true),
            Err(OidcError::Expired { .. })
        ));
        assert!(check_common(&c, &want(840), true).is_ok());
        assert!(matches!(
            check_common(&c, &want(839), true),
            Err(OidcError::IssuedInFuture { .. })
        ));
    }

    #[test]
    fn audience_checks_can_be_switched_off() {
        let c = obj(json!({"iss":"https://idp","aud":["x","y"],"exp":1000,"iat":900}));
        assert!(matches!(
            check_common(&c, &want(950), true),
            Err(OidcError::WrongAudience { .. })
        ));
        let off = Expected {
            check_audience: false,
            check_azp: false,
            ..want(950)
        };
        assert!(check_common(&c, &off, true).is_ok());
        // Each check is its own switch (Nextcloud's two settings).
        let aud_only_off = Expected {
            check_audience: false,
            ..want(950)
        };
        assert!(matches!(
            check_common(&c, &aud_only_off, true),
            Err(OidcError::AzpMissing)
        ));
        let foreign_azp =
            obj(json!({"iss":"https://idp","aud":"app","azp":"other","exp":1000,"iat":900}));
        assert!(matches!(
            check_common(&foreign_azp, &want(950), true),
            Err(OidcError::WrongAzp { .. })
        ));
        let azp_off = Expected {
            check_azp: false,
            ..want(950)
        };
        assert!(check_common(&foreign_azp, &azp_off, true).is_ok());
    }

    #[test]
    fn access_tokens_need_their_type_and_ignore_azp() {
        let c = obj(
            json!({"iss":"https://idp","aud":"app","exp":1000,"iat":900,"sub":"s","azp":"other","client_id":"other"}),
        );
        let ok = ["app"];
        assert!(check_access_token(Some("at+jwt"), &c, &want(950), &ok).is_ok());
        assert!(check_access_token(Some("application/at+JWT"), &c, &want(950), &ok).is_ok());
        assert!(matches!(
            check_access_token(Some("JWT"), &c, &want(950), &ok),
            Err(OidcError::WrongTokenType { .. })
        ));
        assert!(matches!(
            check_access_token(None, &c, &want(950), &ok),
            Err(OidcError::WrongTokenType { .. })
        ));
    }

    #[test]
    fn access_tokens_must_be_for_an_accepted_audience_even_with_audience_checks_off() {
        let off = Expected {
            check_audience: false,
            ..want(950)
        };
        let other = obj(
            json!({"iss":"https://idp","aud":"other-app","exp":1000,"iat":900,"sub":"s","client_id":"other-app"}),
        );
        assert!(matches!(
            check_access_token(Some("at+jwt"), &other, &off, &["app"]),
            Err(OidcError::WrongAudience { .. })
        ));
        let api = obj(
            json!({"iss":"https://idp","aud":["x","api://books"],"exp":1000,"iat":900,"sub":"s"}),
        );
        assert!(check_access_token(Some("at+jwt"), &api, &off, &["app", "api://books"]).is_ok());
        let none = obj(json!({"iss":"https://idp","exp":1000,"iat":900,"sub":"s"}));
        assert!(matches!(
            check_access_token(Some("at+jwt"), &none, &off, &["app"]),
            Err(OidcError::MissingClaim("aud"))
        ));
    }

    #[test]
    fn logout_token_without_exp_ages_out() {
        let c = obj(
            json!({"iss":"https://idp","aud":"app","iat":1000,"jti":"j","sid":"s",
            "events":{BACKCHANNEL_LOGOUT_EVENT:{}}}),
        );
        let ok = check_logout_token(Some("logout+jwt"), &c, &want(1000));
        assert_eq!(ok.map(|r| r.remember_until).ok(), Some(1660));
        assert!(matches!(
            check_logout_token(None, &c, &want(1661)),
            Err(OidcError::LogoutTokenTooOld { .. })
        ));
    }
}
