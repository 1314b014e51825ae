//! What an operator configures about one provider's protocol side.

use crate::Algorithm;
use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;

/// A client secret: never printed.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct ClientSecret(String);

impl ClientSecret {
    pub fn new(s: impl Into<String>) -> Self {
        ClientSecret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
}

/// When to call the userinfo endpoint at login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserinfoMode {
    /// When one of the wanted claims is absent from the ID token (Nextcloud's
    /// `enrich_login_id_token_with_userinfo` when its claims are missing).
    #[default]
    Auto,
    Always,
    Never,
}

/// How API bearer tokens from this provider are validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BearerMode {
    /// Not accepted.
    #[default]
    Off,
    /// JWT access tokens (RFC 9068), validated locally against the JWKS.
    Jwt,
    /// Whatever the userinfo endpoint accepts. Userinfo cannot say which client a token
    /// was issued to, so this mode needs `bearer_userinfo_accept_any_client = true`.
    Userinfo,
    /// RFC 7662 token introspection.
    Introspection,
    /// Nextcloud's `selfencoded_bearer_validation` with `userinfo_bearer_validation`: a
    /// JWT is validated locally (its audience checked), any other token through the
    /// userinfo endpoint — which, as with `userinfo`, needs
    /// `bearer_userinfo_accept_any_client = true`.
    JwtOrUserinfo,
}

impl BearerMode {
    /// Whether some tokens are validated through the userinfo endpoint.
    pub fn uses_userinfo(self) -> bool {
        matches!(self, BearerMode::Userinfo | BearerMode::JwtOrUserinfo)
    }
}

/// RP-initiated logout: on (the discovered `end_session_endpoint`), off, or an explicit
/// URL (BookStack's `OIDC_END_SESSION_ENDPOINT`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum EndSession {
    #[default]
    Discovered,
    Off,
    Url(String),
}

impl<'de> Deserialize<'de> for EndSession {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            B(bool),
            S(String),
        }
        Ok(match Raw::deserialize(d)? {
            Raw::B(true) => EndSession::Discovered,
            Raw::B(false) => EndSession::Off,
            Raw::S(s) if s == "true" || s == "on" => EndSession::Discovered,
            Raw::S(s) if s == "false" || s == "off" || s.is_empty() => EndSession::Off,
            Raw::S(s) => EndSession::Url(s),
        })
    }
}

/// A string or a list of strings.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::One(s) if s.is_empty() => Vec::new(),
        Raw::One(s) => vec![s],
        Raw::Many(v) => v.into_iter().filter(|s| !s.is_empty()).collect(),
    })
}

/// The protocol keys of a `[providers.<slug>]` table. Every field has a safe default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProtocolSettings {
    /// `prompt` sent on the authorization request (`login`, `consent`, `select_account`…).
    pub prompt: Option<String>,
    /// Unset: `client_secret_basic`, or `client_secret_post` when discovery lists only that.
    pub token_auth_method: Option<TokenAuthMethod>,
    /// Unset: PKCE S256 unless discovery lists code-challenge methods without S256.
    pub pkce: Option<bool>,
    /// Fetch `<issuer>/.well-known/openid-configuration`; `false` = the endpoints below.
    pub discovery: bool,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub userinfo_endpoint: Option<String>,
    pub jwks_uri: Option<String>,
    pub introspection_endpoint: Option<String>,
    /// A PEM public key used instead of a JWKS (BookStack's `OIDC_PUBLIC_KEY`).
    pub public_key_file: Option<PathBuf>,
    pub end_session: EndSession,
    /// Development only: accept an `http://` issuer off loopback.
    pub allow_insecure_http: bool,
    /// Extra trusted CA certificates (PEM) for this provider's endpoints.
    pub ca_file: Option<PathBuf>,
    /// Escape hatch: do not verify the provider's TLS certificate. Warned about at every start.
    pub danger_accept_invalid_certs: bool,
    /// Signature algorithms accepted on ID tokens, logout tokens and access tokens.
    pub algorithms: Vec<Algorithm>,
    /// Accept HS256 ID tokens keyed by the client secret (never by a public key).
    pub allow_hs256: bool,
    /// Clock skew tolerated on `exp`, `iat`, `nbf` (at most 300 s).
    pub leeway_seconds: u32,
    /// Check an ID token's `aud` (Nextcloud `login_validation_audience_check`); on by
    /// default.
    pub check_audience: bool,
    /// Check an ID token's `azp` (Nextcloud `login_validation_azp_check`); unset, it
    /// follows `check_audience` (which switched both before they were separate).
    pub check_azp: Option<bool>,
    /// Ask for `quota`, `name`, `email` and `groups` (and the mapped claims) through the
    /// OIDC `claims` request parameter (Nextcloud `enable_default_claims`); off by default.
    pub request_claims: bool,
    pub discovery_ttl_seconds: u32,
    pub jwks_ttl_seconds: u32,
    /// The least time between two JWKS fetches caused by an unknown `kid`.
    pub jwks_min_refetch_seconds: u32,
    /// RSA ≥ 2048 bits, EC P-256/P-384, Ed25519 (Nextcloud `validate_jwk_strength`).
    pub validate_key_strength: bool,
    pub userinfo: UserinfoMode,
    /// Record what the provider sent (tokens and secrets redacted), never blocking the login.
    pub dump_claims: bool,
    pub bearer: BearerMode,
    /// Audiences accepted on access tokens besides this client's id (a string or a
    /// list): a JWT's `aud`, an introspection answer's `aud` or `client_id`.
    #[serde(deserialize_with = "one_or_many")]
    pub bearer_audience: Vec<String>,
    /// The operator's acknowledgement that `bearer = "userinfo"` accepts an access
    /// token this provider issued to *any* of its clients (userinfo cannot tell).
    pub bearer_userinfo_accept_any_client: bool,
    /// How long an opaque-token validation (userinfo / introspection) is cached at most.
    pub bearer_cache_seconds: u32,
    /// Entries kept in the bearer cache.
    pub bearer_cache_size: u32,
    pub http_timeout_seconds: u32,
}

impl Default for ProtocolSettings {
    fn default() -> Self {
        ProtocolSettings {
            prompt: None,
            token_auth_method: None,
            pkce: None,
            discovery: true,
            authorization_endpoint: None,
            token_endpoint: None,
            userinfo_endpoint: None,
            jwks_uri: None,
            introspection_endpoint: None,
            public_key_file: None,
            end_session: EndSession::Discovered,
            allow_insecure_http: false,
            ca_file: None,
            danger_accept_invalid_certs: false,
            algorithms: Algorithm::ASYMMETRIC.to_vec(),
            allow_hs256: false,
            leeway_seconds: 60,
            check_audience: true,
            check_azp: None,
            request_claims: false,
            discovery_ttl_seconds: 3600,
            jwks_ttl_seconds: 3600,
            jwks_min_refetch_seconds: 30,
            validate_key_strength: true,
            userinfo: UserinfoMode::Auto,
            dump_claims: false,
            bearer: BearerMode::Off,
            bearer_audience: Vec::new(),
            bearer_userinfo_accept_any_client: false,
            bearer_cache_seconds: 300,
            bearer_cache_size: 10_000,
            http_timeout_seconds: 10,
        }
    }
}

/// One provider, as the relying party needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSettings {
    pub slug: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<ClientSecret>,
    /// Always contains `openid`.
    pub scopes: Vec<String>,
    /// `{base_url}/auth/{slug}/callback`.
    pub redirect_uri: String,
    /// Top-level claims the claim map reads; with `userinfo = "auto"`, one missing from
    /// the ID token triggers a userinfo call.
    pub wanted_claims: Vec<String>,
    pub protocol: ProtocolSettings,
}

impl ProviderSettings {
    /// The largest leeway accepted, whatever the configuration says.
    pub const MAX_LEEWAY: i64 = 300;

    pub fn leeway(&self) -> i64 {
        i64::from(self.protocol.leeway_seconds).min(Self::MAX_LEEWAY)
    }

    /// The audiences a bearer token may be for: this client's id and `bearer_audience`.
    pub fn bearer_audiences(&self) -> Vec<&str> {
        std::iter::once(self.client_id.as_str())
            .chain(self.protocol.bearer_audience.iter().map(String::as_str))
            .collect()
    }
}
