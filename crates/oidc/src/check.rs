//! `ssogate provider check`: what a provider publishes and whether we can use it.

use crate::error::OidcError;
use crate::http::is_loopback;
use crate::provider::Provider;
use serde::Serialize;

/// One published key.
#[derive(Debug, Clone, Serialize)]
pub struct KeyLine {
    pub kid: Option<String>,
    pub description: String,
    pub algorithms: Vec<String>,
    pub weakness: Option<String>,
}

/// The report; `usable` says whether logins can work.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    pub provider: String,
    pub issuer: String,
    /// Whether the metadata (discovered or configured) could be had at all; when not,
    /// `discovered`, the endpoints, the token authentication and PKCE say nothing.
    pub metadata_fetched: bool,
    pub discovered: bool,
    pub endpoints: Vec<(String, String)>,
    pub id_token_algorithms: Vec<String>,
    pub token_auth_methods: Vec<String>,
    pub token_auth_method_used: String,
    pub pkce: bool,
    pub keys: Vec<KeyLine>,
    pub skipped_keys: Vec<String>,
    pub warnings: Vec<String>,
    pub errors: Vec<String>,
    pub usable: bool,
}

impl Provider {
    /// Fetches discovery and keys afresh and reports on them.
    pub async fn check(&self) -> CheckReport {
        self.invalidate();
        let s = self.settings();
        let mut r = CheckReport {
            provider: s.slug.clone(),
            issuer: s.issuer.clone(),
            ..CheckReport::default()
        };
        if let Ok(u) = url::Url::parse(&s.issuer)
            && u.scheme() == "http"
        {
            r.warnings.push(if is_loopback(&u) {
                "the issuer uses http (accepted on loopback only; use https in production)".into()
            } else {
                "the issuer uses http off loopback (allow_insecure_http): tokens and codes cross the network in clear".into()
            });
        }
        if s.protocol.bearer.uses_userinfo() {
            r.warnings.push(
                "bearer = \"userinfo\" accepts access tokens this provider issued to any of its clients (acknowledged with bearer_userinfo_accept_any_client); prefer \"jwt\" or \"introspection\", which check the audience".into(),
            );
        }
        if s.protocol.danger_accept_invalid_certs {
            r.warnings.push(
                "danger_accept_invalid_certs is set: the provider's certificate is not verified"
                    .into(),
            );
        }
        let meta = match self.metadata().await {
            Ok(m) => m,
            Err(e) => {
                r.errors.push(e.to_string());
                return r;
            }
        };
        r.metadata_fetched = true;
        r.discovered = meta.discovered;
        let mut ep = |name: &str, v: Option<&url::Url>| {
            if let Some(v) = v {
                r.endpoints.push((name.to_owned(), v.to_string()));
            }
        };
        ep("authorization_endpoint", Some(&meta.authorization_endpoint));
        ep("token_endpoint", Some(&meta.token_endpoint));
        ep("userinfo_endpoint", meta.userinfo_endpoint.as_ref());
        ep("jwks_uri", meta.jwks_uri.as_ref());
        ep("end_session_endpoint", meta.end_session_endpoint.as_ref());
        ep(
            "introspection_endpoint",
            meta.introspection_endpoint.as_ref(),
        );
        r.id_token_algorithms = meta.id_token_algs.clone();
        r.token_auth_methods = meta.token_endpoint_auth_methods.clone().unwrap_or_default();
        r.token_auth_method_used = if s.client_secret.is_none() {
            // A public client: PKCE is what protects its codes.
            "none".into()
        } else if meta.use_client_secret_post(s) {
            "client_secret_post".into()
        } else {
            "client_secret_basic".into()
        };
        r.pkce = meta.use_pkce(s);
        if !r.pkce {
            r.warnings.push(if s.protocol.pkce == Some(false) {
                "PKCE is switched off in the configuration".into()
            } else {
                "the provider does not support PKCE S256; codes are protected by the client secret only".into()
            });
        }
        if meta.end_session_endpoint.is_none()
            && matches!(
                s.protocol.end_session,
                crate::settings::EndSession::Discovered
            )
        {
            r.warnings.push(
                "no end_session_endpoint: signing out of ssogate will not sign out of the provider"
                    .into(),
            );
        }
        let allowed: Vec<String> = s
            .protocol
            .algorithms
            .iter()
            .map(|a| a.to_string())
            .collect();
        if !meta.id_token_algs.is_empty() && !meta.id_token_algs.iter().any(|a| allowed.contains(a))
        {
            r.errors.push(format!(
                "the provider signs ID tokens with {} but the allow-list is {}",
                meta.id_token_algs.join(", "),
                allowed.join(", ")
            ));
        }
        match self.keys().await {
            Ok(keys) => {
                for k in &keys.keys {
                    if let Some(w) = &k.weakness {
                        r.warnings.push(format!(
                            "key {} is refused: {w}",
                            k.kid.as_deref().unwrap_or("(no kid)")
                        ));
                    }
                    r.keys.push(KeyLine {
                        kid: k.kid.clone(),
                        description: k.description.clone(),
                        algorithms: k.algorithms().iter().map(|a| a.to_string()).collect(),
                        weakness: k.weakness.clone(),
                    });
                }
                r.skipped_keys = keys.skipped.clone();
                if !keys.keys.iter().any(|k| k.weakness.is_none()) && !s.protocol.allow_hs256 {
                    r.errors.push("no usable signing key is published".into());
                }
            }
            Err(e) => r.errors.push(e.to_string()),
        }
        r.usable = r.errors.is_empty();
        r
    }
}

impl From<&OidcError> for CheckReport {
    fn from(e: &OidcError) -> Self {
        CheckReport {
            errors: vec![e.to_string()],
            ..CheckReport::default()
        }
    }
}
