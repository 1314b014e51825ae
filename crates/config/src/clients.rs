//! `[clients.<id>]`: downstream applications that sign in through ssogate as their
//! OpenID Provider.

use crate::ConfigError;
use serde::Deserialize;
use ssogate_op::client::{Client, ClientAuth, ClientSecret};
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawClient {
    #[serde(default)]
    name: Option<String>,
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    backchannel_logout_uri: Option<String>,
    #[serde(default)]
    access: RawAccess,
    #[serde(default)]
    public: bool,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    secret_file: Option<PathBuf>,
    #[serde(default = "default_scopes")]
    scopes: Vec<String>,
    #[serde(default = "yes")]
    require_pkce: bool,
    #[serde(default = "five_minutes")]
    id_token_seconds: i64,
    #[serde(default = "ten_minutes")]
    access_token_seconds: i64,
    #[serde(default = "two_weeks")]
    refresh_token_days: i64,
    /// `public` (the account's id) or `pairwise` (a `sub` per sector).
    #[serde(default)]
    subject_type: Option<String>,
    /// The sector of a pairwise client, when its redirect URIs are on several hosts.
    #[serde(default)]
    sector_identifier: Option<String>,
    /// Released claims under other names: `{ groups = "roles" }`.
    #[serde(default)]
    claim_names: std::collections::BTreeMap<String, String>,
    /// Only the values matching: `{ groups = "^wiki-" }`.
    #[serde(default)]
    filters: RawFilters,
    /// What signs its ID tokens (and JWT access tokens, logout tokens): `RS256`,
    /// `ES256` or `EdDSA` (the name of OpenID Connect Dynamic Client Registration).
    #[serde(default)]
    id_token_signed_response_alg: Option<String>,
    /// `opaque` (the default) or `jwt` (RFC 9068).
    #[serde(default)]
    access_token_format: Option<String>,
    /// `client_secret_basic`/`client_secret_post` (a secret, the default), `none` (a
    /// public client) or `private_key_jwt` (with `jwks`).
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    /// The public keys of a `private_key_jwt` client: a JWKS (`{ keys = [...] }`).
    #[serde(default)]
    jwks: Option<serde_json::Value>,
    /// …or where the client publishes them (https, or http on this machine).
    #[serde(default)]
    jwks_uri: Option<String>,
    /// Signing out of this application at ssogate (RP-initiated logout) signs the
    /// person out of the upstream provider too.
    #[serde(default)]
    logout_upstream: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFilters {
    #[serde(default)]
    groups: Option<String>,
    #[serde(default)]
    permissions: Option<String>,
    #[serde(default)]
    libraries: Option<String>,
}

fn two_weeks() -> i64 {
    14
}

/// `access = { groups = [...], permissions = [...], libraries = [...] }`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAccess {
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    permissions: Vec<String>,
    #[serde(default)]
    libraries: Vec<String>,
}

fn default_scopes() -> Vec<String> {
    ["openid", "profile", "email", "groups"]
        .map(String::from)
        .to_vec()
}
fn yes() -> bool {
    true
}
fn five_minutes() -> i64 {
    300
}
fn ten_minutes() -> i64 {
    600
}

/// A redirect URI as OpenID Connect allows it: absolute, http(s), no fragment.
fn uri_ok(u: &str) -> bool {
    url::Url::parse(u).is_ok_and(|p| {
        matches!(p.scheme(), "https" | "http") && p.fragment().is_none() && p.host().is_some()
    })
}

/// Where a client was registered, for messages and the console.
const DIRECTORY: &str = "the directory";

/// A client registered in the directory (console, API, CLI): the keys of
/// `[clients.<id>]` as a JSON object, without `secret` and `secret_file` (ssogate makes a
/// confidential client's secret and keeps only its SHA-256 digest, `secret_sha256`).
/// Checked exactly as the file's clients are.
pub fn client_from_document(
    id: &str,
    doc: &serde_json::Value,
    secret_sha256: Option<[u8; 32]>,
) -> Result<Client, ConfigError> {
    let raw = RawClient::deserialize(doc).map_err(|e| {
        ConfigError::new(
            DIRECTORY,
            format!("clients.{id}"),
            e.to_string(),
            "Use the keys of [clients.<id>] (docs/provider.md), e.g. {\"redirect_uris\": [\"https://app.example.org/callback\"]}.",
        )
    })?;
    if raw.secret.is_some() || raw.secret_file.is_some() {
        return Err(ConfigError::new(
            DIRECTORY,
            format!("clients.{id}.secret"),
            "a client registered in the directory does not take a secret",
            "ssogate makes the secret and shows it once; use rotate-secret for a new one.",
        ));
    }
    build_client_with(
        id,
        raw,
        DIRECTORY,
        secret_sha256.map(ClientSecret::from_sha256),
    )
}

pub(crate) fn build_client(id: &str, raw: RawClient, origin: &str) -> Result<Client, ConfigError> {
    build_client_with(id, raw, origin, None)
}

fn build_client_with(
    id: &str,
    raw: RawClient,
    origin: &str,
    stored: Option<ClientSecret>,
) -> Result<Client, ConfigError> {
    let key = |k: &str| format!("clients.{id}.{k}");
    let bad =
        |k: &str, message: String, hint: &str| ConfigError::new(origin, key(k), message, hint);
    if id.is_empty()
        || id.len() > 100
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(ConfigError::new(
            origin,
            format!("clients.{id}"),
            "a client id is 1–100 letters, digits, '-', '_' or '.'",
            "Rename the [clients.<id>] table; the application sends this id as client_id.",
        ));
    }
    if raw.redirect_uris.is_empty() {
        return Err(bad(
            "redirect_uris",
            "a client needs at least one redirect URI".into(),
            "List the application's callback URL exactly as it sends it.",
        ));
    }
    for u in raw
        .redirect_uris
        .iter()
        .chain(&raw.post_logout_redirect_uris)
    {
        if !uri_ok(u) {
            return Err(bad(
                "redirect_uris",
                format!("\"{u}\" is not an absolute http(s) URL without a fragment"),
                "Give the full URL, e.g. https://wiki.example.org/oidc/callback.",
            ));
        }
    }
    if !raw.scopes.iter().any(|s| s == "openid") {
        return Err(bad(
            "scopes",
            "the scopes must include openid".into(),
            "Add \"openid\" (and profile, email, groups, permissions, libraries as the application needs).",
        ));
    }
    for s in &raw.scopes {
        if !ssogate_op::discovery::SCOPES.contains(&s.as_str()) {
            return Err(bad(
                "scopes",
                format!("\"{s}\" is not a scope ssogate releases"),
                "Use openid, profile, email, groups, permissions and libraries.",
            ));
        }
    }
    for (k, v) in [
        ("id_token_seconds", raw.id_token_seconds),
        ("access_token_seconds", raw.access_token_seconds),
    ] {
        if !(30..=86_400).contains(&v) {
            return Err(bad(
                k,
                format!("{v} is not between 30 and 86400"),
                "Tokens live minutes, not days.",
            ));
        }
    }
    if !(0..=365).contains(&raw.refresh_token_days) {
        return Err(bad(
            "refresh_token_days",
            format!("{} is not between 0 and 365", raw.refresh_token_days),
            "0 issues no refresh tokens.",
        ));
    }
    let key_jwt = match raw.token_endpoint_auth_method.as_deref() {
        None | Some("client_secret_basic" | "client_secret_post") if !raw.public => false,
        None | Some("none") if raw.public => false,
        Some("private_key_jwt") if !raw.public => true,
        Some(other) => {
            return Err(bad(
                "token_endpoint_auth_method",
                format!(
                    "\"{other}\" does not fit this client (public = {})",
                    raw.public
                ),
                "Use client_secret_basic or client_secret_post (a secret), private_key_jwt (with jwks), or public = true for none.",
            ));
        }
        None => false,
    };
    let jwks_uri = match (&raw.jwks_uri, key_jwt, &raw.jwks) {
        (None, _, _) => None,
        (Some(_), false, _) => {
            return Err(bad(
                "jwks_uri",
                "jwks_uri is only for token_endpoint_auth_method = \"private_key_jwt\"".into(),
                "Remove it, or set the method.",
            ));
        }
        (Some(_), true, Some(_)) => {
            return Err(bad(
                "jwks_uri",
                "jwks and jwks_uri are both set".into(),
                "Keep one: the keys inline, or where the application publishes them.",
            ));
        }
        (Some(u), true, None) => {
            let loopback = |h: &str| matches!(h, "localhost" | "127.0.0.1" | "[::1]");
            let ok = url::Url::parse(u).is_ok_and(|p| match p.scheme() {
                "https" => p.host().is_some(),
                "http" => p.host_str().is_some_and(loopback),
                _ => false,
            });
            if !ok {
                return Err(bad(
                    "jwks_uri",
                    format!("\"{u}\" is not an https:// URL (or http:// to this machine)"),
                    "Give the URL where the application publishes its public JWKS.",
                ));
            }
            Some(u.clone())
        }
    };
    let jwks = match (&raw.jwks, key_jwt) {
        (None, false) => None,
        (Some(_), false) => {
            return Err(bad(
                "jwks",
                "jwks is only for token_endpoint_auth_method = \"private_key_jwt\"".into(),
                "Remove it, or set the method.",
            ));
        }
        (None, true) if jwks_uri.is_some() => None,
        (None, true) => {
            return Err(bad(
                "jwks",
                "a private_key_jwt client needs the public keys it signs with".into(),
                "Set jwks = { keys = [ { kty = \"EC\", crv = \"P-256\", x = \"…\", y = \"…\" } ] } (its public JWKS), or jwks_uri.",
            ));
        }
        (Some(doc), true) => {
            let usable = doc
                .get("keys")
                .and_then(serde_json::Value::as_array)
                .is_some_and(|k| {
                    !k.is_empty()
                        && k.iter()
                            .all(|j| j.get("kty").is_some() && j.get("d").is_none())
                });
            if !usable {
                return Err(bad(
                    "jwks",
                    "not a JWKS of public keys (an object with a non-empty keys array, no private parts)".into(),
                    "Give the application's public JWKS: { keys = [ … ] }, never its private key.",
                ));
            }
            Some(doc.to_string())
        }
    };
    let secret = match (raw.public, raw.secret, raw.secret_file) {
        (false, None, None) if key_jwt => None,
        (false, Some(_), _) | (false, _, Some(_)) if key_jwt => {
            return Err(bad(
                "secret",
                "a private_key_jwt client has no secret".into(),
                "Remove the secret: the client proves itself with its key.",
            ));
        }
        (true, None, None) if stored.is_some() => {
            return Err(bad(
                "public",
                "a public client has no secret".into(),
                "Remove the client and add it again as public.",
            ));
        }
        (true, None, None) => None,
        (true, _, _) => {
            return Err(bad(
                "secret",
                "a public client has no secret".into(),
                "Remove the secret, or set public = false.",
            ));
        }
        (false, Some(_), Some(_)) => {
            return Err(bad(
                "secret_file",
                "secret and secret_file are both set".into(),
                "Keep one.",
            ));
        }
        (false, Some(s), None) => Some(s),
        (false, None, Some(file)) => Some(
            std::fs::read_to_string(&file)
                .map_err(|e| {
                    bad(
                        "secret_file",
                        format!("cannot read {} ({e})", file.display()),
                        "Check the path and its permissions.",
                    )
                })?
                .trim()
                .to_owned(),
        ),
        (false, None, None) if stored.is_some() => None,
        (false, None, None) => {
            return Err(bad(
                "secret",
                "a confidential client needs a secret".into(),
                "Set secret_file (or secret) to at least 24 random characters, or public = true for an application that cannot keep one.",
            ));
        }
    };
    if secret.as_ref().is_some_and(|s| s.len() < 24) {
        return Err(bad(
            "secret",
            "the secret is shorter than 24 characters".into(),
            "Use at least 24 random characters.",
        ));
    }
    let subject = match raw.subject_type.as_deref() {
        None | Some("public") => ssogate_op::client::Subject::Public,
        Some("pairwise") => {
            let hosts: std::collections::BTreeSet<String> = raw
                .redirect_uris
                .iter()
                .filter_map(|u| url::Url::parse(u).ok())
                .filter_map(|u| u.host_str().map(str::to_ascii_lowercase))
                .collect();
            let sector = match (&raw.sector_identifier, hosts.len()) {
                (Some(s), _) if !s.trim().is_empty() => s.trim().to_ascii_lowercase(),
                (_, 1) => hosts.into_iter().next().unwrap_or_default(),
                _ => {
                    return Err(bad(
                        "sector_identifier",
                        "a pairwise client's redirect URIs are on several hosts, so its sector is not clear".into(),
                        "Set sector_identifier to the host that names the application (e.g. \"app.example.org\"), and keep it: changing it changes every sub.",
                    ));
                }
            };
            ssogate_op::client::Subject::Pairwise { sector }
        }
        Some(other) => {
            return Err(bad(
                "subject_type",
                format!("\"{other}\" is not public or pairwise"),
                "Use subject_type = \"pairwise\" for a sub of its own per application, or leave it out.",
            ));
        }
    };
    let alg = match raw.id_token_signed_response_alg.as_deref() {
        None => ssogate_op::keys::Alg::RS256,
        Some(name) => ssogate_op::keys::Alg::parse(name).ok_or_else(|| {
            bad(
                "id_token_signed_response_alg",
                format!("\"{name}\" is not RS256, ES256 or EdDSA"),
                "Leave it out for RS256 (what every application can verify), or choose the one the application asks for.",
            )
        })?,
    };
    let jwt_access_tokens = match raw.access_token_format.as_deref() {
        None | Some("opaque") => false,
        Some("jwt") => true,
        Some(other) => {
            return Err(bad(
                "access_token_format",
                format!("\"{other}\" is not opaque or jwt"),
                "Use \"jwt\" for RFC 9068 access tokens an API can check by itself, or leave it out.",
            ));
        }
    };
    let mut shape = ssogate_op::client::ClaimShape::default();
    let mut targets = std::collections::BTreeSet::new();
    for (from, to) in &raw.claim_names {
        if !ssogate_op::client::RENAMEABLE.contains(&from.as_str()) {
            return Err(bad(
                &format!("claim_names.{from}"),
                format!("\"{from}\" is not a claim scopes release"),
                &format!(
                    "Rename one of {}.",
                    ssogate_op::client::RENAMEABLE.join(", ")
                ),
            ));
        }
        let protocol = [
            "iss",
            "sub",
            "aud",
            "azp",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "at_hash",
            "sid",
            "jti",
            "acr",
            "amr",
        ];
        let clash = protocol.contains(&to.as_str())
            || (ssogate_op::client::RENAMEABLE.contains(&to.as_str())
                && !raw.claim_names.contains_key(to))
            || !targets.insert(to.clone());
        if to.trim().is_empty() || clash {
            return Err(bad(
                &format!("claim_names.{from}"),
                format!("\"{to}\" would overwrite another claim"),
                "Choose a name no other claim of the token has.",
            ));
        }
    }
    shape.names = raw.claim_names.clone();
    for (what, pattern, slot) in [
        ("groups", &raw.filters.groups, &mut shape.groups),
        (
            "permissions",
            &raw.filters.permissions,
            &mut shape.permissions,
        ),
        ("libraries", &raw.filters.libraries, &mut shape.libraries),
    ] {
        if let Some(p) = pattern {
            *slot = Some(regex::Regex::new(p).map_err(|e| {
                bad(
                    &format!("filters.{what}"),
                    format!("not a regular expression: {e}"),
                    "Write a regular expression such as \"^wiki-\".",
                )
            })?);
        }
    }
    Ok(Client {
        id: id.to_owned(),
        name: raw.name.unwrap_or_else(|| id.to_owned()),
        auth: if raw.public {
            ClientAuth::None
        } else if key_jwt {
            ClientAuth::PrivateKeyJwt
        } else {
            ClientAuth::Secret
        },
        jwks,
        jwks_uri,
        secret: if key_jwt {
            None
        } else {
            stored.or_else(|| secret.map(ClientSecret::new))
        },
        redirect_uris: raw.redirect_uris,
        post_logout_redirect_uris: raw.post_logout_redirect_uris,
        backchannel_logout_uri: raw.backchannel_logout_uri,
        access: ssogate_op::client::Access {
            groups: raw.access.groups,
            permissions: raw.access.permissions,
            libraries: raw.access.libraries,
        },
        scopes: raw.scopes,
        require_pkce: raw.require_pkce || raw.public,
        id_token_seconds: raw.id_token_seconds,
        access_token_seconds: raw.access_token_seconds,
        refresh_token_seconds: raw.refresh_token_days * 86_400,
        subject,
        shape,
        alg,
        jwt_access_tokens,
        logout_upstream: raw.logout_upstream,
    })
}
