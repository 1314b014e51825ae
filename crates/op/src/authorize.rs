//! The authorization request (OpenID Connect Core 3.1.2, RFC 6749 4.1, RFC 7636): what
//! is checked before anyone is asked to sign in, and the answers sent back.
//!
//! Two kinds of refusal, never confused: while the client or its redirect URI is not
//! established the person gets a page and is never redirected (an open redirect);
//! after, errors go back to the client with its `state` and ssogate's `iss`.

use crate::client::Client;
use serde::{Deserialize, Serialize};
use url::Url;

/// What a valid authorization request asks for; kept with the code it earns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorization {
    pub client_id: String,
    pub redirect_uri: String,
    /// The scopes granted: those asked for that the client may have, `openid` first.
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// The S256 challenge, when the client sent one (required for public clients and
    /// by default for all).
    pub code_challenge: Option<String>,
    /// `prompt=none`: never show a page; `login_required` when nobody is signed in.
    pub prompt_none: bool,
    /// `prompt=login`: a fresh sign-in, whatever session exists.
    pub prompt_login: bool,
    /// Seconds since the sign-in beyond which it must be done again.
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// How the person authenticated for the code (RFC 8176 values), filled in when the
    /// code is issued; released as `amr` in the ID token when known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// The authentication context class, when the upstream provider stated one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
}

/// Why an authorization request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// Shown to the person; the browser is not sent anywhere.
    Page {
        error: &'static str,
        description: String,
    },
    /// Sent back to the client's (verified) redirect URI.
    Redirect {
        redirect_uri: String,
        error: &'static str,
        description: String,
        state: Option<String>,
    },
}

fn page(error: &'static str, description: impl Into<String>) -> AuthorizeError {
    AuthorizeError::Page {
        error,
        description: description.into(),
    }
}

/// Checks a request's parameters (`pairs` as they came, so a repeated one is caught)
/// against the registered clients.
pub fn validate<'c>(
    pairs: &[(String, String)],
    client: impl Fn(&str) -> Option<&'c Client>,
) -> Result<Authorization, AuthorizeError> {
    let mut seen = std::collections::BTreeSet::new();
    for (k, _) in pairs {
        if !seen.insert(k.as_str()) {
            // Which value is meant cannot be known; RFC 6749 3.1 forbids repeats.
            return Err(page(
                "invalid_request",
                format!("the parameter {k} is given more than once"),
            ));
        }
    }
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let Some(client_id) = get("client_id") else {
        return Err(page("invalid_request", "client_id is missing"));
    };
    let Some(client) = client(client_id) else {
        return Err(page(
            "invalid_client",
            format!("no application \"{client_id}\" is registered here"),
        ));
    };
    // Exact match only: no prefixes, no case folding, no added paths or ports.
    let redirect_uri = match get("redirect_uri") {
        Some(r) if client.redirect_uris.iter().any(|u| u == r) => r.to_owned(),
        Some(_) => {
            return Err(page(
                "invalid_request",
                "the redirect_uri is not one registered for this application",
            ));
        }
        None => {
            return Err(page(
                "invalid_request",
                "redirect_uri is missing (OpenID Connect requires it)",
            ));
        }
    };
    let state = get("state").map(str::to_owned);
    let back = |error: &'static str, description: &str| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        error,
        description: description.to_owned(),
        state: state.clone(),
    };
    if get("request").is_some() {
        return Err(back(
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    if get("request_uri").is_some() {
        return Err(back(
            "request_uri_not_supported",
            "request_uri is not supported",
        ));
    }
    match get("response_type") {
        Some("code") => {}
        Some(_) => {
            return Err(back(
                "unsupported_response_type",
                "only the authorization code flow (response_type=code) is supported",
            ));
        }
        None => return Err(back("invalid_request", "response_type is missing")),
    }
    if let Some(mode) = get("response_mode")
        && mode != "query"
    {
        return Err(back(
            "invalid_request",
            "only response_mode=query is supported",
        ));
    }
    let asked: Vec<&str> = get("scope")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    if !asked.contains(&"openid") {
        return Err(back("invalid_scope", "the openid scope is required"));
    }
    // Scopes the client may not have, or nobody knows, are left out (Core 3.1.2.1).
    let mut scopes = vec!["openid".to_owned()];
    for s in asked {
        if s != "openid" && client.scopes.iter().any(|c| c == s) && !scopes.iter().any(|x| x == s) {
            scopes.push(s.to_owned());
        }
    }
    let code_challenge = match (get("code_challenge"), get("code_challenge_method")) {
        (Some(c), Some("S256")) if crate::pkce::value_ok(c) => Some(c.to_owned()),
        (Some(_), Some("S256")) => {
            return Err(back(
                "invalid_request",
                "code_challenge is not a valid S256 challenge",
            ));
        }
        // `plain` (or no method, which means plain) would let an intercepted code be
        // redeemed: refused.
        (Some(_), _) => {
            return Err(back(
                "invalid_request",
                "code_challenge_method must be S256",
            ));
        }
        (None, Some(_)) => {
            return Err(back(
                "invalid_request",
                "code_challenge_method without code_challenge",
            ));
        }
        (None, None) if client.require_pkce || client.is_public() => {
            return Err(back(
                "invalid_request",
                "PKCE is required: send code_challenge with code_challenge_method=S256",
            ));
        }
        (None, None) => None,
    };
    let prompts: Vec<&str> = get("prompt")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    for p in &prompts {
        if !matches!(*p, "none" | "login" | "consent" | "select_account") {
            return Err(back(
                "invalid_request",
                "prompt may be none, login, consent or select_account",
            ));
        }
    }
    let prompt_none = prompts.contains(&"none");
    if prompt_none && prompts.len() > 1 {
        return Err(back(
            "invalid_request",
            "prompt=none cannot be combined with another prompt",
        ));
    }
    let max_age = match get("max_age") {
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                return Err(back(
                    "invalid_request",
                    "max_age must be a number of seconds",
                ));
            }
        },
        None => None,
    };
    Ok(Authorization {
        client_id: client.id.clone(),
        redirect_uri,
        scopes,
        state,
        nonce: get("nonce").map(str::to_owned),
        code_challenge,
        prompt_none,
        prompt_login: prompts.contains(&"login"),
        max_age,
        login_hint: get("login_hint").map(str::to_owned),
        amr: Vec::new(),
        acr: None,
    })
}

/// The redirect URI with `params` added to its query (kept as registered otherwise).
pub fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    match Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            url.to_string()
        }
        // Registered URIs are checked as URLs when loaded; this keeps it total.
        Err(_) => redirect_uri.to_owned(),
    }
}

/// The success answer: `code`, `state` and `iss` (RFC 9207) on the redirect URI.
pub fn success(a: &Authorization, code: &str, issuer: &str) -> String {
    let mut p = vec![("code", code)];
    if let Some(s) = &a.state {
        p.push(("state", s));
    }
    p.push(("iss", issuer));
    redirect_with(&a.redirect_uri, &p)
}

/// An error answer on the client's redirect URI.
pub fn error_redirect(
    redirect_uri: &str,
    error: &str,
    description: &str,
    state: Option<&str>,
    issuer: &str,
) -> String {
    let mut p = vec![("error", error), ("error_description", description)];
    if let Some(s) = state {
        p.push(("state", s));
    }
    p.push(("iss", issuer));
    redirect_with(redirect_uri, &p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Client;

    fn client(public: bool) -> Client {
        Client {
            name: "Wiki".into(),
            scopes: ["openid", "profile", "email", "groups"]
                .map(String::from)
                .to_vec(),
            ..crate::client::test_client(
                "wiki",
                "https://wiki.example.org/oidc/callback",
                (!public).then_some("s"),
            )
        }
    }

    fn ask(c: &Client, extra: &[(&str, &str)]) -> Result<Authorization, AuthorizeError> {
        let mut pairs: Vec<(String, String)> = vec![
            ("response_type".into(), "code".into()),
            ("client_id".into(), "wiki".into()),
            (
                "redirect_uri".into(),
                "https://wiki.example.org/oidc/callback".into(),
            ),
            (
                "scope".into(),
                "openid email groups admin_everything".into(),
            ),
            ("state".into(), "st".into()),
            (
                "code_challenge".into(),
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            ),
            ("code_challenge_method".into(), "S256".into()),
        ];
        for (k, v) in extra {
            pairs.retain(|(n, _)| n != k);
            if !v.is_empty() {
                pairs.push(((*k).into(), (*v).into()));
            }
        }
        validate(&pairs, |id| (id == c.id).then_some(c))
    }

    #[test]
    fn a_good_request_keeps_only_the_scopes_the_client_may_have() {
        let a = ask(&client(false), &[]).unwrap();
        assert_eq!(a.scopes, ["openid", "email", "groups"]);
        assert_eq!(a.state.as_deref(), Some("st"));
        let url = success(&a, "c0de", "https://sso.example.org");
        assert_eq!(
            url,
            "https://wiki.example.org/oidc/callback?code=c0de&state=st&iss=https%3A%2F%2Fsso.example.org"
        );
    }

    /// An unregistered redirect URI in any disguise is a page, never a redirect.
    #[test]
    fn redirect_uri_variants_are_never_followed() {
        for bad in [
            "https://wiki.example.org/oidc/callback/",
            "https://wiki.example.org/oidc/callback/../evil",
            "https://WIKI.example.org/oidc/callback",
            "https://wiki.example.org/oidc/Callback",
            "https://wiki.example.org:444/oidc/callback",
            "http://wiki.example.org/oidc/callback",
            "https://wiki.example.org/oidc/callback?x=1",
            "https://wiki.example.org/oidc/callback#frag",
            "https://wiki.example.org.evil.example/oidc/callback",
            "https://evil.example/",
            "//evil.example/",
        ] {
            let e = ask(&client(false), &[("redirect_uri", bad)]).unwrap_err();
            assert!(matches!(e, AuthorizeError::Page { .. }), "{bad}: {e:?}");
        }
        assert!(matches!(
            ask(&client(false), &[("redirect_uri", "")]).unwrap_err(),
            AuthorizeError::Page { .. }
        ));
        assert!(matches!(
            ask(&client(false), &[("client_id", "other")]).unwrap_err(),
            AuthorizeError::Page {
                error: "invalid_client",
                ..
            }
        ));
    }

    #[test]
    fn pkce_is_s256_and_required_and_other_flows_are_refused() {
        let code = |r: Result<Authorization, AuthorizeError>| match r {
            Err(AuthorizeError::Redirect { error, .. }) => error,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            code(ask(&client(false), &[("code_challenge_method", "plain")])),
            "invalid_request"
        );
        assert_eq!(
            code(ask(&client(false), &[("code_challenge_method", "")])),
            "invalid_request"
        );
        assert_eq!(
            code(ask(
                &client(false),
                &[("code_challenge", ""), ("code_challenge_method", "")]
            )),
            "invalid_request"
        );
        let mut relaxed = client(false);
        relaxed.require_pkce = false;
        assert!(
            ask(
                &relaxed,
                &[("code_challenge", ""), ("code_challenge_method", "")]
            )
            .is_ok()
        );
        let mut public = client(true);
        public.require_pkce = false;
        assert_eq!(
            code(ask(
                &public,
                &[("code_challenge", ""), ("code_challenge_method", "")]
            )),
            "invalid_request",
            "public clients always need PKCE"
        );
        assert_eq!(
            code(ask(&client(false), &[("response_type", "token")])),
            "unsupported_response_type"
        );
        assert_eq!(
            code(ask(&client(false), &[("response_type", "code id_token")])),
            "unsupported_response_type"
        );
        assert_eq!(
            code(ask(&client(false), &[("scope", "email")])),
            "invalid_scope"
        );
        assert_eq!(
            code(ask(&client(false), &[("prompt", "none login")])),
            "invalid_request"
        );
        assert_eq!(
            code(ask(&client(false), &[("request", "eyJ…")])),
            "request_not_supported"
        );
        assert_eq!(
            code(ask(&client(false), &[("response_mode", "fragment")])),
            "invalid_request"
        );
    }

    #[test]
    fn a_repeated_parameter_is_refused_on_a_page() {
        let mut pairs: Vec<(String, String)> = vec![
            ("client_id".into(), "wiki".into()),
            (
                "redirect_uri".into(),
                "https://wiki.example.org/oidc/callback".into(),
            ),
            ("redirect_uri".into(), "https://evil.example/".into()),
        ];
        pairs.push(("response_type".into(), "code".into()));
        let c = client(false);
        assert!(matches!(
            validate(&pairs, |id| (id == c.id).then_some(&c)).unwrap_err(),
            AuthorizeError::Page { .. }
        ));
    }
}
