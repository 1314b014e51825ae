//! The provider's metadata: discovered (OpenID Connect Discovery 1.0) or configured.
//!
//! Parsed leniently (unknown members ignored, only what we use typed), so a provider
//! that publishes an unusual value elsewhere in its document still works.

use crate::error::OidcError;
use crate::http::checked_url;
use crate::settings::ProviderSettings;
use serde::Deserialize;
use url::Url;

#[derive(Debug, Clone, Default, Deserialize)]
struct Raw {
    issuer: Option<String>,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    userinfo_endpoint: Option<String>,
    jwks_uri: Option<String>,
    end_session_endpoint: Option<String>,
    introspection_endpoint: Option<String>,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    code_challenge_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    id_token_signing_alg_values_supported: Vec<String>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
    #[serde(default)]
    backchannel_logout_supported: bool,
    #[serde(default)]
    backchannel_logout_session_supported: bool,
    #[serde(default)]
    scopes_supported: Vec<String>,
}

/// What we know of a provider's endpoints and capabilities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    pub userinfo_endpoint: Option<Url>,
    pub jwks_uri: Option<Url>,
    pub end_session_endpoint: Option<Url>,
    pub introspection_endpoint: Option<Url>,
    /// `None`: not advertised (the spec's default is `client_secret_basic`).
    pub token_endpoint_auth_methods: Option<Vec<String>>,
    /// `None`: not advertised.
    pub code_challenge_methods: Option<Vec<String>>,
    pub id_token_algs: Vec<String>,
    pub iss_parameter_supported: bool,
    pub backchannel_logout_supported: bool,
    pub backchannel_logout_session_supported: bool,
    pub scopes_supported: Vec<String>,
    /// Whether this came from a discovery document.
    pub discovered: bool,
}

/// `<issuer>/.well-known/openid-configuration` (Discovery 4.1: the path is appended,
/// keeping any path the issuer has).
pub fn discovery_url(issuer: &str, allow_insecure_http: bool) -> Result<Url, OidcError> {
    let base = issuer.trim_end_matches('/');
    checked_url(
        &format!("{base}/.well-known/openid-configuration"),
        allow_insecure_http,
    )
}

impl Metadata {
    /// Parses and checks a discovery document against the configured provider.
    pub fn from_discovery(
        bytes: &[u8],
        settings: &ProviderSettings,
    ) -> Result<Metadata, OidcError> {
        let raw: Raw = serde_json::from_slice(bytes).map_err(|e| OidcError::BadDocument {
            document: "discovery document",
            detail: e.to_string(),
        })?;
        let found = raw.issuer.clone().unwrap_or_default();
        if found != settings.issuer {
            return Err(OidcError::DiscoveryIssuerMismatch {
                expected: settings.issuer.clone(),
                found,
            });
        }
        Self::build(raw, settings, true)
    }

    /// Endpoints from configuration only (`discovery = false`).
    pub fn manual(settings: &ProviderSettings) -> Result<Metadata, OidcError> {
        let p = &settings.protocol;
        let raw = Raw {
            issuer: Some(settings.issuer.clone()),
            authorization_endpoint: p.authorization_endpoint.clone(),
            token_endpoint: p.token_endpoint.clone(),
            userinfo_endpoint: p.userinfo_endpoint.clone(),
            jwks_uri: p.jwks_uri.clone(),
            introspection_endpoint: p.introspection_endpoint.clone(),
            ..Raw::default()
        };
        Self::build(raw, settings, false)
    }

    fn build(
        raw: Raw,
        settings: &ProviderSettings,
        discovered: bool,
    ) -> Result<Metadata, OidcError> {
        let p = &settings.protocol;
        let insecure = p.allow_insecure_http;
        let required = |name: &'static str, v: Option<String>| -> Result<Url, OidcError> {
            let v = v.ok_or_else(|| OidcError::BadDocument {
                document: if discovered {
                    "discovery document"
                } else {
                    "configuration"
                },
                detail: format!("{name} is missing"),
            })?;
            checked_url(&v, insecure)
        };
        let optional = |v: Option<String>| v.map(|v| checked_url(&v, insecure)).transpose();
        // Configured endpoints override discovered ones.
        let pick = |configured: &Option<String>, discovered: Option<String>| {
            configured.clone().or(discovered)
        };
        checked_url(&settings.issuer, insecure)?;
        let jwks_uri = optional(pick(&p.jwks_uri, raw.jwks_uri))?;
        if jwks_uri.is_none() && p.public_key_file.is_none() && !p.allow_hs256 {
            return Err(OidcError::BadDocument {
                document: if discovered {
                    "discovery document"
                } else {
                    "configuration"
                },
                detail: "there is neither a jwks_uri nor a public_key_file to verify tokens with"
                    .into(),
            });
        }
        Ok(Metadata {
            issuer: settings.issuer.clone(),
            authorization_endpoint: required(
                "authorization_endpoint",
                pick(&p.authorization_endpoint, raw.authorization_endpoint),
            )?,
            token_endpoint: required(
                "token_endpoint",
                pick(&p.token_endpoint, raw.token_endpoint),
            )?,
            userinfo_endpoint: optional(pick(&p.userinfo_endpoint, raw.userinfo_endpoint))?,
            jwks_uri,
            end_session_endpoint: optional(raw.end_session_endpoint)?,
            introspection_endpoint: optional(pick(
                &p.introspection_endpoint,
                raw.introspection_endpoint,
            ))?,
            token_endpoint_auth_methods: raw.token_endpoint_auth_methods_supported,
            code_challenge_methods: raw.code_challenge_methods_supported,
            id_token_algs: raw.id_token_signing_alg_values_supported,
            iss_parameter_supported: raw.authorization_response_iss_parameter_supported,
            backchannel_logout_supported: raw.backchannel_logout_supported,
            backchannel_logout_session_supported: raw.backchannel_logout_session_supported,
            scopes_supported: raw.scopes_supported,
            discovered,
        })
    }

    /// Whether PKCE S256 will be used.
    pub fn use_pkce(&self, settings: &ProviderSettings) -> bool {
        match settings.protocol.pkce {
            Some(on) => on,
            None => self
                .code_challenge_methods
                .as_ref()
                .is_none_or(|m| m.iter().any(|m| m == "S256")),
        }
    }

    /// Whether the client secret goes in the form body rather than the Basic header.
    pub fn use_client_secret_post(&self, settings: &ProviderSettings) -> bool {
        use crate::settings::TokenAuthMethod;
        match settings.protocol.token_auth_method {
            Some(m) => m == TokenAuthMethod::ClientSecretPost,
            None => self.token_endpoint_auth_methods.as_ref().is_some_and(|m| {
                m.iter().any(|m| m == "client_secret_post")
                    && !m.iter().any(|m| m == "client_secret_basic")
            }),
        }
    }
}
