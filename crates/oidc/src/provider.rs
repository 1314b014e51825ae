//! One provider: its cached metadata and keys, and every protocol exchange with it.
//!
//! Over ~600 lines on purpose: it is one provider's whole conversation (discovery, keys
//! and their refresh, authorization URL, code exchange, ID token checks, userinfo,
//! refresh, logout tokens) around one cached state whose rules (when to refetch keys,
//! what a metadata change invalidates) every exchange relies on.

use crate::Clock;
use crate::discovery::{Metadata, discovery_url};
use crate::error::OidcError;
use crate::http::{self, checked_url};
use crate::jose::{Algorithm, Jws, KeySet};
use crate::login::{PendingLogin, random_token};
use crate::settings::{EndSession, ProviderSettings, UserinfoMode};
use crate::validate::{self, Expected, LogoutRequest};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenResponse as _, TokenUrl,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use url::Url;

/// The `id_token` member of a token response, kept as the raw compact JWS: we validate
/// it ourselves (see [`crate::jose`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IdTokenField {
    #[serde(default)]
    pub id_token: Option<String>,
}
impl oauth2::ExtraTokenFields for IdTokenField {}

type TokenResp = StandardTokenResponse<IdTokenField, BasicTokenType>;
type OAuthClient<HasAuth, HasToken> = oauth2::Client<
    BasicErrorResponse,
    TokenResp,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    HasAuth,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    HasToken,
>;

/// The query of `GET /auth/{slug}/callback`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CallbackParams {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// RFC 9207.
    pub iss: Option<String>,
}

/// Tokens held after a login or a refresh. Never printed.
#[derive(Clone, Default)]
pub struct TokenSet {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    /// Unix seconds, when the provider said.
    pub expires_at: Option<i64>,
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"[redacted]")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("id_token", &self.id_token.as_ref().map(|_| "[redacted]"))
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A finished login: verified claims, tokens, and what the login request carried.
#[derive(Debug, Clone)]
pub struct VerifiedLogin {
    pub provider: String,
    pub subject: String,
    /// The provider's session id (`sid`), for back-channel logout.
    pub sid: Option<String>,
    pub id_token_claims: Map<String, Value>,
    /// Present when userinfo was fetched; its `sub` equals the ID token's.
    pub userinfo: Option<Map<String, Value>>,
    pub tokens: TokenSet,
    pub pending: PendingLogin,
    /// With `dump_claims`: what the provider sent, tokens redacted.
    pub dump: Option<Value>,
}

struct Cached<T> {
    value: Arc<T>,
    fetched_at: i64,
}

/// One provider's relying party.
pub struct Provider {
    settings: ProviderSettings,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    metadata: RwLock<Option<Cached<Metadata>>>,
    keys: RwLock<Option<Cached<KeySet>>>,
    // Separate gates: fetching keys may need the metadata first.
    meta_gate: tokio::sync::Mutex<()>,
    keys_gate: tokio::sync::Mutex<()>,
    jwks_fetches: AtomicU64,
    pub(crate) bearer_cache: crate::bearer_cache::BearerCache,
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("slug", &self.settings.slug)
            .finish_non_exhaustive()
    }
}

fn read_lock<T>(l: &RwLock<Option<Cached<T>>>) -> Option<(Arc<T>, i64)> {
    l.read()
        .ok()
        .and_then(|g| g.as_ref().map(|c| (c.value.clone(), c.fetched_at)))
}

fn write_lock<T>(l: &RwLock<Option<Cached<T>>>, value: Option<Cached<T>>) {
    if let Ok(mut g) = l.write() {
        *g = value;
    }
}

impl Provider {
    /// Checks the settings that can be checked without the network.
    pub fn new(settings: ProviderSettings, clock: Arc<dyn Clock>) -> Result<Provider, OidcError> {
        let config_err = |message: String| OidcError::Config {
            slug: settings.slug.clone(),
            message,
        };
        checked_url(&settings.issuer, settings.protocol.allow_insecure_http)?;
        if !settings.scopes.iter().any(|s| s == "openid") {
            return Err(config_err("the scopes must include \"openid\"".into()));
        }
        if settings.protocol.allow_hs256 && settings.client_secret.is_none() {
            return Err(config_err(
                "allow_hs256 needs a client_secret to verify with".into(),
            ));
        }
        if settings.protocol.bearer.uses_userinfo()
            && !settings.protocol.bearer_userinfo_accept_any_client
        {
            return Err(config_err(
                "bearer = \"userinfo\" accepts an access token this provider issued to any of its clients (the userinfo endpoint cannot tell which client a token is for); use bearer = \"jwt\" or \"introspection\", or set bearer_userinfo_accept_any_client = true to accept that risk".into(),
            ));
        }
        if settings.protocol.algorithms.is_empty() {
            return Err(config_err("the algorithm allow-list is empty".into()));
        }
        RedirectUrl::new(settings.redirect_uri.clone())
            .map_err(|e| config_err(format!("bad redirect URI: {e}")))?;
        let http = http::client(&settings.slug, &settings.protocol)?;
        let cache =
            crate::bearer_cache::BearerCache::new(settings.protocol.bearer_cache_size as usize);
        Ok(Provider {
            settings,
            http,
            clock,
            metadata: RwLock::new(None),
            keys: RwLock::new(None),
            meta_gate: tokio::sync::Mutex::new(()),
            keys_gate: tokio::sync::Mutex::new(()),
            jwks_fetches: AtomicU64::new(0),
            bearer_cache: cache,
        })
    }

    pub fn settings(&self) -> &ProviderSettings {
        &self.settings
    }

    pub fn slug(&self) -> &str {
        &self.settings.slug
    }

    pub(crate) fn now(&self) -> i64 {
        self.clock.now()
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// JWKS documents fetched so far (a metric, and how tests see refetch limits).
    pub fn jwks_fetches(&self) -> u64 {
        self.jwks_fetches.load(Ordering::Relaxed)
    }

    /// The provider's metadata, discovered once per `discovery_ttl_seconds`.
    pub async fn metadata(&self) -> Result<Arc<Metadata>, OidcError> {
        let now = self.now();
        let ttl = i64::from(self.settings.protocol.discovery_ttl_seconds);
        if let Some((m, at)) = read_lock(&self.metadata)
            && now < at.saturating_add(ttl)
        {
            return Ok(m);
        }
        let _gate = self.meta_gate.lock().await;
        if let Some((m, at)) = read_lock(&self.metadata)
            && now < at.saturating_add(ttl)
        {
            return Ok(m);
        }
        let fresh = if self.settings.protocol.discovery {
            let url = discovery_url(
                &self.settings.issuer,
                self.settings.protocol.allow_insecure_http,
            )?;
            match http::get(&self.http, &url, None, "application/json").await {
                Ok((body, _)) => Metadata::from_discovery(&body, &self.settings),
                Err(e) => Err(e),
            }
        } else {
            Metadata::manual(&self.settings)
        };
        match fresh {
            Ok(m) => {
                let m = Arc::new(m);
                write_lock(
                    &self.metadata,
                    Some(Cached {
                        value: m.clone(),
                        fetched_at: now,
                    }),
                );
                Ok(m)
            }
            // A provider that is briefly down should not stop logins that the cached
            // (stale) metadata can still serve.
            Err(e) => match read_lock(&self.metadata) {
                Some((stale, _)) if e.is_provider_side() => {
                    tracing::warn!(provider = %self.settings.slug, error = %e, "using stale provider metadata");
                    Ok(stale)
                }
                _ => Err(e),
            },
        }
    }

    async fn fetch_keys(&self, now: i64) -> Result<Arc<KeySet>, OidcError> {
        let p = &self.settings.protocol;
        let set = if let Some(path) = &p.public_key_file {
            let pem = std::fs::read(path).map_err(|e| OidcError::Config {
                slug: self.settings.slug.clone(),
                message: format!("cannot read public_key_file {} ({e})", path.display()),
            })?;
            KeySet::from_pem(&pem, &p.algorithms, p.validate_key_strength)?
        } else {
            let meta = self.metadata().await?;
            match &meta.jwks_uri {
                Some(uri) => {
                    self.jwks_fetches.fetch_add(1, Ordering::Relaxed);
                    let (body, _) = http::get(&self.http, uri, None, "application/json").await?;
                    KeySet::from_jwks(&body, &p.algorithms, p.validate_key_strength)?
                }
                // HS256-only provider.
                None => KeySet::default(),
            }
        };
        let set = Arc::new(set);
        write_lock(
            &self.keys,
            Some(Cached {
                value: set.clone(),
                fetched_at: now,
            }),
        );
        Ok(set)
    }

    /// The provider's keys, cached for `jwks_ttl_seconds`.
    pub async fn keys(&self) -> Result<Arc<KeySet>, OidcError> {
        let now = self.now();
        let ttl = i64::from(self.settings.protocol.jwks_ttl_seconds);
        if let Some((k, at)) = read_lock(&self.keys)
            && now < at.saturating_add(ttl)
        {
            return Ok(k);
        }
        let _gate = self.keys_gate.lock().await;
        if let Some((k, at)) = read_lock(&self.keys)
            && now < at.saturating_add(ttl)
        {
            return Ok(k);
        }
        match self.fetch_keys(now).await {
            Ok(k) => Ok(k),
            Err(e) => match read_lock(&self.keys) {
                Some((stale, _)) if e.is_provider_side() => {
                    tracing::warn!(provider = %self.settings.slug, error = %e, "using stale JWKS");
                    Ok(stale)
                }
                _ => Err(e),
            },
        }
    }

    /// Forgets the cached metadata and keys (after a provider rotated on purpose).
    pub fn invalidate(&self) {
        write_lock(&self.keys, None);
        write_lock(&self.metadata, None);
    }

    /// Refetches the JWKS because a token named an unknown key, at most once per
    /// `jwks_min_refetch_seconds` (forged `kid`s must not make us hammer the provider).
    async fn refetch_for(&self, kid: &str) -> Result<Arc<KeySet>, OidcError> {
        let _gate = self.keys_gate.lock().await;
        let now = self.now();
        if let Some((k, at)) = read_lock(&self.keys) {
            if k.has_kid(kid) {
                return Ok(k);
            }
            let min = i64::from(self.settings.protocol.jwks_min_refetch_seconds);
            if now < at.saturating_add(min) {
                return Err(OidcError::UnknownKey {
                    kid: kid.to_owned(),
                });
            }
        }
        self.fetch_keys(now).await
    }

    fn hmac_secret(&self) -> Option<&[u8]> {
        if self.settings.protocol.allow_hs256 {
            self.settings
                .client_secret
                .as_ref()
                .map(|s| s.expose().as_bytes())
        } else {
            None
        }
    }

    /// Verifies a JWS's signature against the provider's keys (one refetch on an
    /// unknown `kid`). Returns the parsed token and the algorithm used.
    pub async fn verify_signature<'t>(
        &self,
        token: &'t str,
    ) -> Result<(Jws<'t>, Algorithm), OidcError> {
        let jws = Jws::parse(token)?;
        let allowed = &self.settings.protocol.algorithms;
        let keys = self.keys().await?;
        match jws.verify(&keys, allowed, self.hmac_secret()) {
            Err(OidcError::UnknownKey { kid }) => {
                let keys = self.refetch_for(&kid).await?;
                let alg = jws.verify(&keys, allowed, self.hmac_secret())?;
                Ok((jws, alg))
            }
            Err(e) => Err(e),
            Ok(alg) => Ok((jws, alg)),
        }
    }

    /// The OIDC `claims` request parameter (Core 5.5): Nextcloud's default claims
    /// (`quota`, `name`, `email`, `groups`) and the claims the map reads, asked for in the
    /// ID token and from userinfo.
    fn claims_request(&self) -> String {
        let mut names: Vec<String> = ["quota", "name", "email", "groups"]
            .map(String::from)
            .to_vec();
        for c in &self.settings.wanted_claims {
            if !names.contains(c) {
                names.push(c.clone());
            }
        }
        let wanted: Map<String, Value> = names.into_iter().map(|n| (n, Value::Null)).collect();
        serde_json::json!({ "id_token": wanted, "userinfo": wanted }).to_string()
    }

    pub(crate) fn expected<'a>(&'a self, audience: Option<&'a str>) -> Expected<'a> {
        Expected {
            issuer: &self.settings.issuer,
            audience: audience.unwrap_or(&self.settings.client_id),
            client_id: &self.settings.client_id,
            check_audience: self.settings.protocol.check_audience,
            check_azp: self
                .settings
                .protocol
                .check_azp
                .unwrap_or(self.settings.protocol.check_audience),
            leeway: self.settings.leeway(),
            now: self.now(),
        }
    }

    /// Validates an ID token: signature, then Core 3.1.3.7. `nonce` is `None` only for
    /// refreshed tokens.
    pub async fn validate_id_token(
        &self,
        token: &str,
        nonce: Option<&str>,
        access_token: Option<&str>,
    ) -> Result<Map<String, Value>, OidcError> {
        let (jws, alg) = self.verify_signature(token).await?;
        validate::check_id_token(&jws.claims, &self.expected(None), nonce, alg, access_token)?;
        Ok(jws.claims)
    }

    fn oauth_client(&self, meta: &Metadata) -> OAuthClient<EndpointSet, EndpointSet> {
        let mut client = oauth2::Client::new(ClientId::new(self.settings.client_id.clone()))
            .set_auth_uri(AuthUrl::from_url(meta.authorization_endpoint.clone()))
            .set_token_uri(TokenUrl::from_url(meta.token_endpoint.clone()))
            .set_auth_type(if meta.use_client_secret_post(&self.settings) {
                AuthType::RequestBody
            } else {
                AuthType::BasicAuth
            });
        if let Ok(redirect) = RedirectUrl::new(self.settings.redirect_uri.clone()) {
            client = client.set_redirect_uri(redirect);
        }
        if let Some(secret) = &self.settings.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose().to_owned()));
        }
        client
    }

    /// Starts a login: the authorization URL, and the pending login (state, nonce, PKCE
    /// verifier, return-to, purpose) for the caller to keep until the callback.
    pub async fn begin(
        &self,
        return_to: &str,
        purpose: Option<String>,
    ) -> Result<(Url, PendingLogin), OidcError> {
        let meta = self.metadata().await?;
        let nonce = random_token(32)?;
        let pkce = meta
            .use_pkce(&self.settings)
            .then(PkceCodeChallenge::new_random_sha256);
        let pending = PendingLogin {
            state: random_token(32)?,
            provider: self.settings.slug.clone(),
            nonce: nonce.clone(),
            pkce_verifier: pkce.as_ref().map(|(_, v)| v.secret().clone()),
            return_to: return_to.to_owned(),
            created_at: self.now(),
            purpose,
        };
        let client = self.oauth_client(&meta);
        let state = pending.state.clone();
        let mut req = client
            .authorize_url(move || CsrfToken::new(state))
            .add_scopes(self.settings.scopes.iter().cloned().map(Scope::new))
            .add_extra_param("nonce", nonce);
        if let Some((challenge, _)) = pkce {
            req = req.set_pkce_challenge(challenge);
        }
        if let Some(prompt) = &self.settings.protocol.prompt {
            req = req.add_extra_param("prompt", prompt.clone());
        }
        if self.settings.protocol.request_claims {
            req = req.add_extra_param("claims", self.claims_request());
        }
        let (url, _) = req.url();
        Ok((url, pending))
    }

    /// Finishes a login from the callback's query and the pending login the caller kept
    /// for its `state` (taken once, from the browser it was issued to: the caller's job).
    pub async fn finish(
        &self,
        params: &CallbackParams,
        pending: PendingLogin,
    ) -> Result<VerifiedLogin, OidcError> {
        let state = params.state.as_deref().ok_or(OidcError::StateMissing)?;
        pending.check(state, &self.settings.slug, self.now())?;
        if let Some(error) = &params.error {
            return Err(OidcError::ProviderError {
                error: error.clone(),
                description: params.error_description.clone(),
            });
        }
        let meta = self.metadata().await?;
        match &params.iss {
            Some(iss) if *iss != self.settings.issuer => {
                return Err(OidcError::ResponseIssuerMismatch {
                    expected: self.settings.issuer.clone(),
                    found: iss.clone(),
                });
            }
            None if meta.iss_parameter_supported => {
                return Err(OidcError::ResponseIssuerMismatch {
                    expected: self.settings.issuer.clone(),
                    found: "(none, though the provider announces RFC 9207)".into(),
                });
            }
            _ => {}
        }
        let code = params
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or(OidcError::CodeMissing)?;
        let client = self.oauth_client(&meta);
        let mut req = client.exchange_code(AuthorizationCode::new(code.to_owned()));
        if let Some(v) = &pending.pkce_verifier {
            req = req.set_pkce_verifier(PkceCodeVerifier::new(v.clone()));
        }
        let resp = req
            .request_async(&self.http)
            .await
            .map_err(|e| token_error(&meta, e))?;
        let tokens = self.token_set(&resp);
        let id_token = tokens.id_token.clone().ok_or(OidcError::IdTokenMissing)?;
        let claims = self
            .validate_id_token(&id_token, Some(&pending.nonce), Some(&tokens.access_token))
            .await?;
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let wants_userinfo = match self.settings.protocol.userinfo {
            UserinfoMode::Never => false,
            UserinfoMode::Always => true,
            UserinfoMode::Auto => self
                .settings
                .wanted_claims
                .iter()
                .any(|c| !claims.contains_key(c)),
        };
        let userinfo = if wants_userinfo && meta.userinfo_endpoint.is_some() {
            Some(self.userinfo(&tokens.access_token, Some(&subject)).await?)
        } else {
            None
        };
        let dump = self.settings.protocol.dump_claims.then(|| {
            json!({
                "provider": self.settings.slug,
                "token_response": {
                    "token_type": format!("{:?}", resp.token_type()),
                    "expires_in": resp.expires_in().map(|d| d.as_secs()),
                    "scope": resp.scopes().map(|s| s.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
                    "access_token": "[redacted]",
                    "refresh_token": tokens.refresh_token.as_ref().map(|_| "[redacted]"),
                    "id_token": "[redacted]",
                },
                "id_token_claims": Value::Object(claims.clone()),
                "userinfo": userinfo.clone().map(Value::Object),
            })
        });
        Ok(VerifiedLogin {
            provider: self.settings.slug.clone(),
            sid: claims.get("sid").and_then(Value::as_str).map(str::to_owned),
            subject,
            id_token_claims: claims,
            userinfo,
            tokens,
            pending,
            dump,
        })
    }

    fn token_set(&self, resp: &TokenResp) -> TokenSet {
        TokenSet {
            access_token: resp.access_token().secret().clone(),
            refresh_token: resp.refresh_token().map(|r| r.secret().clone()),
            id_token: resp.extra_fields().id_token.clone(),
            expires_at: resp.expires_in().map(|d| {
                self.now()
                    .saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            }),
        }
    }

    /// Calls the userinfo endpoint (JSON or signed JWT). With `expected_sub`, its `sub`
    /// must equal it (Core 5.3.2).
    pub async fn userinfo(
        &self,
        access_token: &str,
        expected_sub: Option<&str>,
    ) -> Result<Map<String, Value>, OidcError> {
        let meta = self.metadata().await?;
        let url = meta
            .userinfo_endpoint
            .as_ref()
            .ok_or_else(|| OidcError::BadDocument {
                document: "discovery document",
                detail: "there is no userinfo_endpoint".into(),
            })?;
        let (body, content_type) = http::get(
            &self.http,
            url,
            Some(access_token),
            "application/json, application/jwt",
        )
        .await?;
        let claims: Map<String, Value> = if content_type.starts_with("application/jwt") {
            let text = std::str::from_utf8(&body)
                .map_err(|_| OidcError::Malformed("userinfo JWT is not UTF-8".into()))?;
            let (jws, _) = self.verify_signature(text.trim()).await?;
            // Core 5.3.2: a signed response SHOULD carry iss and aud; when present they must be ours.
            if let Some(iss) = jws.claims.get("iss").and_then(Value::as_str)
                && iss != self.settings.issuer
            {
                return Err(OidcError::WrongIssuer {
                    expected: self.settings.issuer.clone(),
                    found: iss.to_owned(),
                });
            }
            if self.settings.protocol.check_audience
                && let Some(aud) = jws.claims.get("aud")
            {
                let ours = match aud {
                    Value::String(s) => *s == self.settings.client_id,
                    Value::Array(a) => a
                        .iter()
                        .any(|v| v.as_str() == Some(&self.settings.client_id)),
                    _ => false,
                };
                if !ours {
                    return Err(OidcError::WrongAudience {
                        found: aud.to_string(),
                    });
                }
            }
            jws.claims
        } else {
            serde_json::from_slice(&body).map_err(|e| OidcError::BadDocument {
                document: "userinfo response",
                detail: e.to_string(),
            })?
        };
        if let Some(sub) = expected_sub
            && claims.get("sub").and_then(Value::as_str) != Some(sub)
        {
            return Err(OidcError::UserinfoSubMismatch);
        }
        Ok(claims)
    }

    /// Uses a refresh token. A new ID token, if any, is validated and must keep the subject.
    pub async fn refresh(&self, refresh_token: &str, subject: &str) -> Result<TokenSet, OidcError> {
        let meta = self.metadata().await?;
        let client = self.oauth_client(&meta);
        let token = RefreshToken::new(refresh_token.to_owned());
        let resp = client
            .exchange_refresh_token(&token)
            .request_async(&self.http)
            .await
            .map_err(|e| token_error(&meta, e))?;
        let mut tokens = self.token_set(&resp);
        if let Some(id_token) = &tokens.id_token {
            let claims = self
                .validate_id_token(id_token, None, Some(&tokens.access_token))
                .await?;
            if claims.get("sub").and_then(Value::as_str) != Some(subject) {
                return Err(OidcError::SubjectChanged);
            }
        }
        // Providers that do not rotate refresh tokens keep the old one valid.
        if tokens.refresh_token.is_none() {
            tokens.refresh_token = Some(refresh_token.to_owned());
        }
        Ok(tokens)
    }

    /// The RP-initiated logout URL (RP-Initiated Logout 1.0, 2), if logout at the
    /// provider is configured and possible.
    pub async fn end_session_url(
        &self,
        id_token_hint: Option<&str>,
        post_logout_redirect_uri: Option<&str>,
        state: Option<&str>,
    ) -> Result<Option<Url>, OidcError> {
        let mut url = match &self.settings.protocol.end_session {
            EndSession::Off => return Ok(None),
            EndSession::Url(u) => checked_url(u, self.settings.protocol.allow_insecure_http)?,
            EndSession::Discovered => match &self.metadata().await?.end_session_endpoint {
                Some(u) => u.clone(),
                None => return Ok(None),
            },
        };
        {
            let mut q = url.query_pairs_mut();
            if let Some(hint) = id_token_hint {
                q.append_pair("id_token_hint", hint);
            }
            q.append_pair("client_id", &self.settings.client_id);
            if let Some(uri) = post_logout_redirect_uri {
                q.append_pair("post_logout_redirect_uri", uri);
            }
            if let Some(s) = state {
                q.append_pair("state", s);
            }
        }
        Ok(Some(url))
    }

    /// Validates a back-channel logout token (Back-Channel Logout 1.0, 2.6); returns
    /// which sessions to end, and the `jti` the caller must refuse to see again until
    /// `remember_until` (replay guards are the caller's, shared by its instances).
    pub async fn logout_token(&self, token: &str) -> Result<LogoutRequest, OidcError> {
        let (jws, _) = self.verify_signature(token).await?;
        validate::check_logout_token(jws.header_str("typ"), &jws.claims, &self.expected(None))
    }
}

fn token_error<RE: std::error::Error + 'static>(
    meta: &Metadata,
    e: oauth2::RequestTokenError<RE, BasicErrorResponse>,
) -> OidcError {
    use oauth2::RequestTokenError as E;
    match e {
        E::ServerResponse(r) => OidcError::CodeRejected {
            error: r.error().to_string(),
            description: r.error_description().cloned(),
        },
        E::Request(e) => OidcError::Unreachable {
            url: meta.token_endpoint.to_string(),
            detail: http::error_chain(&e),
        },
        E::Parse(e, _) => OidcError::BadDocument {
            document: "token response",
            detail: e.to_string(),
        },
        E::Other(s) => OidcError::BadDocument {
            document: "token response",
            detail: s,
        },
    }
}
