//! API bearer tokens: JWT access tokens (RFC 9068), or opaque tokens checked by the
//! userinfo endpoint or introspection (RFC 7662). Every accepted token is cached under
//! the SHA-256 of its value until it expires, in a bounded map.

use crate::error::OidcError;
use crate::provider::Provider;
use crate::settings::BearerMode;
use crate::validate;
use oauth2::basic::{BasicErrorResponse, BasicTokenIntrospectionResponse};
use oauth2::{
    AccessToken, ClientId, ClientSecret, IntrospectionUrl, TokenIntrospectionResponse as _,
};
use serde_json::{Map, Value};
use std::sync::Arc;

pub use crate::bearer_cache::{BearerCache, BearerIdentity};

fn scopes(claims: &Map<String, Value>) -> Vec<String> {
    match claims.get("scope").or_else(|| claims.get("scp")) {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

impl Provider {
    /// Validates an API bearer token as this provider's `bearer` setting says.
    pub async fn bearer(&self, token: &str) -> Result<Arc<BearerIdentity>, OidcError> {
        let now = self.now();
        if let Some(hit) = self.bearer_cache.get(token, now) {
            return Ok(hit);
        }
        let p = &self.settings().protocol;
        let max_cache = now.saturating_add(i64::from(p.bearer_cache_seconds));
        let identity = match p.bearer {
            BearerMode::Off => return Err(OidcError::BearerDisabled),
            BearerMode::Jwt => self.jwt_bearer(token, now).await?,
            BearerMode::Userinfo => self.userinfo_bearer(token, max_cache).await?,
            BearerMode::Introspection => self.introspect(token, now, max_cache).await?,
            // A compact JWS has three dot-separated parts; anything else is opaque.
            BearerMode::JwtOrUserinfo if token.split('.').count() == 3 => {
                self.jwt_bearer(token, now).await?
            }
            BearerMode::JwtOrUserinfo => self.userinfo_bearer(token, max_cache).await?,
        };
        let identity = Arc::new(identity);
        self.bearer_cache.put(token, identity.clone(), now);
        Ok(identity)
    }

    /// An RFC 9068 JWT access token, validated locally: signature, issuer, expiry, and an
    /// accepted audience.
    async fn jwt_bearer(&self, token: &str, now: i64) -> Result<BearerIdentity, OidcError> {
        let (jws, _) = self.verify_signature(token).await?;
        validate::check_access_token(
            jws.header_str("typ"),
            &jws.claims,
            &self.expected(None),
            &self.settings().bearer_audiences(),
        )?;
        let exp = jws.claims.get("exp").and_then(Value::as_i64).unwrap_or(now);
        Ok(BearerIdentity {
            provider: self.slug().to_owned(),
            subject: jws
                .claims
                .get("sub")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            client_id: jws
                .claims
                .get("client_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            scopes: scopes(&jws.claims),
            expires_at: exp,
            claims: jws.claims,
        })
    }

    /// Whatever the userinfo endpoint accepts (it cannot say which client a token is
    /// for: acknowledged with `bearer_userinfo_accept_any_client`).
    async fn userinfo_bearer(
        &self,
        token: &str,
        max_cache: i64,
    ) -> Result<BearerIdentity, OidcError> {
        let claims = self.userinfo(token, None).await.map_err(|e| match e {
            OidcError::HttpStatus {
                status: 401 | 403, ..
            } => OidcError::TokenInactive,
            other => other,
        })?;
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or(OidcError::MissingClaim("sub"))?
            .to_owned();
        Ok(BearerIdentity {
            provider: self.slug().to_owned(),
            subject,
            client_id: None,
            scopes: Vec::new(),
            expires_at: max_cache,
            claims,
        })
    }

    async fn introspect(
        &self,
        token: &str,
        now: i64,
        max_cache: i64,
    ) -> Result<BearerIdentity, OidcError> {
        let meta = self.metadata().await?;
        let url = meta
            .introspection_endpoint
            .clone()
            .ok_or_else(|| OidcError::BadDocument {
                document: "discovery document",
                detail: "bearer = \"introspection\" but there is no introspection_endpoint".into(),
            })?;
        let s = self.settings();
        let mut client = oauth2::Client::<
            BasicErrorResponse,
            oauth2::basic::BasicTokenResponse,
            BasicTokenIntrospectionResponse,
            oauth2::StandardRevocableToken,
            oauth2::basic::BasicRevocationErrorResponse,
        >::new(ClientId::new(s.client_id.clone()))
        .set_introspection_url(IntrospectionUrl::from_url(url.clone()))
        .set_auth_type(if meta.use_client_secret_post(s) {
            oauth2::AuthType::RequestBody
        } else {
            oauth2::AuthType::BasicAuth
        });
        if let Some(secret) = &s.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose().to_owned()));
        }
        let at = AccessToken::new(token.to_owned());
        let resp = client
            .introspect(&at)
            .request_async(self.http())
            .await
            .map_err(|e| match e {
                oauth2::RequestTokenError::Request(e) => OidcError::Unreachable {
                    url: url.to_string(),
                    detail: e.to_string(),
                },
                other => OidcError::BadDocument {
                    document: "introspection response",
                    detail: other.to_string(),
                },
            })?;
        if !resp.active() {
            return Err(OidcError::TokenInactive);
        }
        if let Some(iss) = resp.iss()
            && iss != s.issuer
        {
            return Err(OidcError::WrongIssuer {
                expected: s.issuer.clone(),
                found: iss.to_owned(),
            });
        }
        // RFC 7662 leaves both optional; a token is ours only when its `aud` or the
        // `client_id` it was issued to is one we accept. A public client of another
        // application gets tokens from the same provider: they must not pass here.
        let accepted = s.bearer_audiences();
        let aud = resp.aud().cloned().unwrap_or_default();
        let client_id = resp.client_id().map(|c| c.to_string());
        let ours = aud.iter().any(|a| accepted.contains(&a.as_str()))
            || client_id.as_deref().is_some_and(|c| accepted.contains(&c));
        if !ours {
            let mut found = aud.clone();
            found.extend(client_id.iter().map(|c| format!("client_id {c}")));
            return Err(OidcError::WrongAudience {
                found: if found.is_empty() {
                    "neither aud nor client_id".to_owned()
                } else {
                    found.join(", ")
                },
            });
        }
        let exp = resp.exp().map(|t| t.timestamp());
        if let Some(exp) = exp
            && exp <= now
        {
            return Err(OidcError::Expired {
                exp,
                now,
                leeway: 0,
            });
        }
        let subject = resp
            .sub()
            .filter(|s| !s.is_empty())
            .ok_or(OidcError::MissingClaim("sub"))?
            .to_owned();
        Ok(BearerIdentity {
            provider: self.slug().to_owned(),
            subject,
            client_id,
            scopes: resp
                .scopes()
                .map(|s| s.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default(),
            expires_at: exp.map_or(max_cache, |e| e.min(max_cache)),
            claims: Map::new(),
        })
    }
}
