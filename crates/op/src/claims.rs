//! What a downstream application learns about a person: the ID token's and userinfo's
//! claims, released by scope. `email` is released only when ssogate knows it is the
//! person's (verified): an unverified address must never become a login elsewhere.

use crate::authorize::Authorization;
pub use crate::person::Person;
use serde_json::{Map, Value, json};

/// The claims `scopes` release.
pub fn released(person: &Person, scopes: &[String]) -> Map<String, Value> {
    let has = |s: &str| scopes.iter().any(|x| x == s);
    let mut c = Map::new();
    c.insert("sub".into(), json!(person.sub));
    if has("profile") {
        c.insert("preferred_username".into(), json!(person.username));
        if let Some(n) = &person.name {
            c.insert("name".into(), json!(n));
        }
    }
    if has("email")
        && person.email_verified
        && let Some(e) = &person.email
    {
        c.insert("email".into(), json!(e));
        c.insert("email_verified".into(), json!(true));
    }
    if has("groups") {
        c.insert("groups".into(), json!(person.groups));
    }
    if has("permissions") {
        c.insert("permissions".into(), json!(person.permissions));
        c.insert("admin".into(), json!(person.admin));
    }
    if has("libraries") {
        c.insert("libraries".into(), json!(person.libraries));
    }
    c
}

/// The session a token is issued from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued<'a> {
    pub issuer: &'a str,
    pub now: i64,
    pub auth_time: i64,
    /// ssogate's session id for this sign-in (for back-channel logout).
    pub sid: Option<&'a str>,
    pub lifetime: i64,
    pub access_token: &'a str,
    /// What signs the ID token (`at_hash` uses its hash).
    pub alg: crate::keys::Alg,
}

/// An ID token's claims (Core 2 and 3.1.3.6).
pub fn id_token(person: &Person, a: &Authorization, i: &Issued<'_>) -> Value {
    let mut c = released(person, &a.scopes);
    c.insert("iss".into(), json!(i.issuer));
    c.insert("aud".into(), json!(a.client_id));
    c.insert("azp".into(), json!(a.client_id));
    c.insert("iat".into(), json!(i.now));
    c.insert("exp".into(), json!(i.now + i.lifetime));
    c.insert("auth_time".into(), json!(i.auth_time));
    c.insert(
        "at_hash".into(),
        json!(crate::keys::at_hash(i.access_token, i.alg)),
    );
    if let Some(n) = &a.nonce {
        c.insert("nonce".into(), json!(n));
    }
    if let Some(sid) = i.sid {
        c.insert("sid".into(), json!(sid));
    }
    if !a.amr.is_empty() {
        c.insert("amr".into(), json!(a.amr));
    }
    if let Some(acr) = &a.acr {
        c.insert("acr".into(), json!(acr));
    }
    Value::Object(c)
}

/// What an RFC 9068 access token is issued from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessIssued<'a> {
    pub issuer: &'a str,
    pub now: i64,
    pub lifetime: i64,
    pub auth_time: i64,
    /// Unique per token.
    pub jti: &'a str,
}

/// A JWT access token's claims (RFC 9068 2.2): for the client's own API (`aud` is the
/// client, there being no resource indicator), `typ: at+jwt` in the header, so it can
/// never pass for an ID token. Profile claims stay in userinfo and the ID token.
pub fn access_token(sub: &str, a: &Authorization, i: &AccessIssued<'_>) -> Value {
    let mut c = Map::new();
    c.insert("iss".into(), json!(i.issuer));
    c.insert("exp".into(), json!(i.now + i.lifetime));
    c.insert("aud".into(), json!(a.client_id));
    c.insert("sub".into(), json!(sub));
    c.insert("client_id".into(), json!(a.client_id));
    c.insert("iat".into(), json!(i.now));
    c.insert("jti".into(), json!(i.jti));
    c.insert("scope".into(), json!(a.scopes.join(" ")));
    c.insert("auth_time".into(), json!(i.auth_time));
    if !a.amr.is_empty() {
        c.insert("amr".into(), json!(a.amr));
    }
    if let Some(acr) = &a.acr {
        c.insert("acr".into(), json!(acr));
    }
    Value::Object(c)
}

/// A logout token's claims (Back-Channel Logout 1.0, 2.4): the account and the session
/// that ended, for one client; never a `nonce`.
pub fn logout_token(
    issuer: &str,
    client_id: &str,
    sub: &str,
    sid: &str,
    jti: &str,
    now: i64,
) -> Value {
    json!({
        "iss": issuer,
        "aud": client_id,
        "iat": now,
        "exp": now + 120,
        "jti": jti,
        "sub": sub,
        "sid": sid,
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(verified: bool) -> Person {
        Person {
            sub: "42".into(),
            username: "ada".into(),
            email: Some("ada@example.org".into()),
            email_verified: verified,
            name: Some("Ada".into()),
            groups: vec!["Readers".into()],
            permissions: vec!["read_books".into()],
            libraries: vec!["main".into()],
            admin: false,
        }
    }

    #[test]
    fn scopes_release_claims_and_an_unverified_email_is_never_released() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let c = released(&person(true), &s(&["openid"]));
        assert_eq!(c.keys().collect::<Vec<_>>(), ["sub"]);
        let c = released(&person(true), &s(&["openid", "email", "groups"]));
        assert_eq!(c["email"], "ada@example.org");
        assert_eq!(c["email_verified"], true);
        assert_eq!(c["groups"], json!(["Readers"]));
        assert!(!c.contains_key("permissions"));
        let c = released(&person(false), &s(&["openid", "email"]));
        assert!(!c.contains_key("email") && !c.contains_key("email_verified"));
    }
}
