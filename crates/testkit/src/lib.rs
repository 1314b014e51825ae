//! ssogate-testkit: an in-process OpenID provider for tests. It serves discovery, JWKS,
//! token, userinfo and introspection endpoints on 127.0.0.1, issues good tokens, and
//! forges every bad one the attack suite needs (`alg: none`, HMAC keyed by the public
//! key, wrong issuer/audience, expired, replayed nonce, unknown keys, weak keys…).
//!
//! It is a dev-dependency only; it must never be reachable from `serve`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::result_large_err
)]

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use url::Url;

/// The back-channel logout event member.
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

enum KeyKind {
    Rsa(aws_lc_rs::rsa::KeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A signing key with its `kid` and JWS algorithm.
pub struct SigningKey {
    pub kid: String,
    pub alg: &'static str,
    kind: KeyKind,
}

impl SigningKey {
    /// RS256 with a fresh key of `bits` bits (1024 makes a weak key).
    pub fn rsa(kid: &str, bits: usize) -> Self {
        let size = match bits {
            3072 => aws_lc_rs::rsa::KeySize::Rsa3072,
            4096 => aws_lc_rs::rsa::KeySize::Rsa4096,
            _ => aws_lc_rs::rsa::KeySize::Rsa2048,
        };
        SigningKey {
            kid: kid.into(),
            alg: "RS256",
            kind: KeyKind::Rsa(aws_lc_rs::rsa::KeyPair::generate(size).unwrap()),
        }
    }

    /// The same RSA key, signing with another RSA algorithm (PS256, RS512…).
    pub fn with_alg(mut self, alg: &'static str) -> Self {
        self.alg = alg;
        self
    }

    pub fn es256(kid: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .unwrap();
        SigningKey {
            kid: kid.into(),
            alg: "ES256",
            kind: KeyKind::Ec(
                EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    pkcs8.as_ref(),
                )
                .unwrap(),
            ),
        }
    }

    pub fn es384(kid: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
            .unwrap();
        SigningKey {
            kid: kid.into(),
            alg: "ES384",
            kind: KeyKind::Ec(
                EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                    pkcs8.as_ref(),
                )
                .unwrap(),
            ),
        }
    }

    pub fn eddsa(kid: &str) -> Self {
        SigningKey {
            kid: kid.into(),
            alg: "EdDSA",
            kind: KeyKind::Ed(Ed25519KeyPair::generate().unwrap()),
        }
    }

    /// The public JWK.
    pub fn jwk(&self) -> Value {
        match &self.kind {
            KeyKind::Rsa(k) => {
                let p = k.public_key();
                json!({"kty":"RSA","kid":self.kid,"use":"sig","alg":self.alg,
                    "n": B64.encode(p.modulus().big_endian_without_leading_zero()),
                    "e": B64.encode(p.exponent().big_endian_without_leading_zero())})
            }
            KeyKind::Ec(k) => {
                let point = k.public_key().as_ref();
                let half = (point.len() - 1) / 2;
                let crv = if half == 32 { "P-256" } else { "P-384" };
                json!({"kty":"EC","kid":self.kid,"use":"sig","alg":self.alg,"crv":crv,
                    "x": B64.encode(&point[1..1 + half]), "y": B64.encode(&point[1 + half..])})
            }
            KeyKind::Ed(k) => {
                json!({"kty":"OKP","kid":self.kid,"use":"sig","alg":"EdDSA","crv":"Ed25519",
                    "x": B64.encode(k.public_key().as_ref())})
            }
        }
    }

    /// The public key as DER SubjectPublicKeyInfo, PEM-armoured (RSA only).
    pub fn public_pem(&self) -> String {
        let KeyKind::Rsa(k) = &self.kind else {
            panic!("PEM export is for RSA keys")
        };
        let der = k.public_key().as_der().unwrap();
        let b = STANDARD.encode(der.as_ref());
        let lines: Vec<&str> = b
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    }

    /// Bytes an attacker would use as an HMAC key: the public key as published.
    pub fn public_bytes(&self) -> Vec<u8> {
        self.jwk().to_string().into_bytes()
    }

    fn sign(&self, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.kind {
            KeyKind::Rsa(k) => {
                let enc: &'static dyn signature::RsaEncoding = match self.alg {
                    "RS384" => &signature::RSA_PKCS1_SHA384,
                    "RS512" => &signature::RSA_PKCS1_SHA512,
                    "PS256" => &signature::RSA_PSS_SHA256,
                    "PS384" => &signature::RSA_PSS_SHA384,
                    "PS512" => &signature::RSA_PSS_SHA512,
                    _ => &signature::RSA_PKCS1_SHA256,
                };
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(enc, &rng, input, &mut sig).unwrap();
                sig
            }
            KeyKind::Ec(k) => k.sign(&rng, input).unwrap().as_ref().to_vec(),
            KeyKind::Ed(k) => k.sign(input).as_ref().to_vec(),
        }
    }

    /// A compact JWS over `header` (alg and kid filled in unless present) and `claims`.
    pub fn sign_jwt(&self, header: Value, claims: &Value) -> String {
        let mut h = header.as_object().cloned().unwrap_or_default();
        h.entry("alg").or_insert(json!(self.alg));
        h.entry("kid").or_insert(json!(self.kid));
        let input = format!(
            "{}.{}",
            B64.encode(Value::Object(h).to_string()),
            B64.encode(claims.to_string())
        );
        let sig = self.sign(input.as_bytes());
        format!("{input}.{}", B64.encode(sig))
    }
}

/// An unsigned token (`alg: none`).
pub fn forge_none(claims: &Value) -> String {
    format!(
        "{}.{}.",
        B64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        B64.encode(claims.to_string())
    )
}

/// A token "signed" with HMAC-SHA256 keyed by `key` (e.g. the provider's public key).
pub fn forge_hs256(key: &[u8], kid: Option<&str>, claims: &Value) -> String {
    let mut header = json!({"alg":"HS256","typ":"JWT"});
    if let Some(kid) = kid {
        header["kid"] = json!(kid);
    }
    let input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    let tag = aws_lc_rs::hmac::sign(&k, input.as_bytes());
    format!("{input}.{}", B64.encode(tag.as_ref()))
}

/// `at_hash` for an RS256/ES256 token.
pub fn at_hash_sha256(access_token: &str) -> String {
    at_hash(access_token, "RS256")
}

/// `at_hash` for a token signed with `alg`: the left half of the alg's hash.
pub fn at_hash(access_token: &str, alg: &str) -> String {
    let hash = match alg {
        "RS384" | "PS384" | "ES384" => &aws_lc_rs::digest::SHA384,
        "RS512" | "PS512" | "EdDSA" => &aws_lc_rs::digest::SHA512,
        _ => &aws_lc_rs::digest::SHA256,
    };
    let d = aws_lc_rs::digest::digest(hash, access_token.as_bytes());
    B64.encode(&d.as_ref()[..d.as_ref().len() / 2])
}

/// Changes the provider makes to the next ID tokens it issues (header, claims).
pub type Tamper = Box<dyn Fn(&mut Map<String, Value>, &mut Map<String, Value>) + Send>;

struct Grant {
    subject: String,
    nonce: Option<String>,
    redirect_uri: String,
    challenge: Option<String>,
    used: bool,
}

struct Inner {
    keys: Vec<Arc<SigningKey>>,
    raw_jwks: Vec<Value>,
    signer: Arc<SigningKey>,
    client_id: String,
    client_secret: String,
    /// "client_secret_basic" or "client_secret_post": what the token endpoint accepts.
    auth_method: &'static str,
    users: HashMap<String, Map<String, Value>>,
    login_as: String,
    codes: HashMap<String, Grant>,
    access: HashMap<String, String>,
    /// Opaque access tokens issued to *other* clients of this provider: the subject and
    /// what introspection adds for them.
    foreign: HashMap<String, (String, Map<String, Value>)>,
    refresh: HashMap<String, String>,
    refreshes: u64,
    tamper: Option<Tamper>,
    userinfo_override: Option<Map<String, Value>>,
    userinfo_jwt: bool,
    discovery_extra: Map<String, Value>,
    send_iss: bool,
    jwks_fetches: u64,
    token_requests: u64,
    counter: u64,
}

/// The fake provider. Stops when dropped.
pub struct FakeProvider {
    pub issuer: String,
    inner: Arc<Mutex<Inner>>,
    now: Arc<AtomicI64>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

#[derive(Clone)]
struct App {
    issuer: String,
    inner: Arc<Mutex<Inner>>,
    now: Arc<AtomicI64>,
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

impl FakeProvider {
    /// Starts on 127.0.0.1 with client `app` / `secret`, one RSA-2048 key `k1`, and two
    /// people: `alice` (email verified, groups) and `bob` (unverified email).
    pub async fn start() -> FakeProvider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let key = Arc::new(SigningKey::rsa("k1", 2048));
        let mut users = HashMap::new();
        users.insert(
            "alice".to_owned(),
            json!({"email":"alice@example.org","email_verified":true,"name":"Alice Liddell",
                   "preferred_username":"alice","groups":["readers","admins"]})
            .as_object()
            .cloned()
            .unwrap(),
        );
        users.insert(
            "bob".to_owned(),
            json!({"email":"bob@example.org","email_verified":false,"name":"Bob"})
                .as_object()
                .cloned()
                .unwrap(),
        );
        let inner = Arc::new(Mutex::new(Inner {
            keys: vec![key.clone()],
            raw_jwks: Vec::new(),
            signer: key,
            client_id: "app".into(),
            client_secret: "secret".into(),
            auth_method: "client_secret_basic",
            users,
            login_as: "alice".into(),
            codes: HashMap::new(),
            access: HashMap::new(),
            foreign: HashMap::new(),
            refresh: HashMap::new(),
            refreshes: 0,
            tamper: None,
            userinfo_override: None,
            userinfo_jwt: false,
            discovery_extra: Map::new(),
            send_iss: true,
            jwks_fetches: 0,
            token_requests: 0,
            counter: 0,
        }));
        let now = Arc::new(AtomicI64::new(system_now()));
        let app = App {
            issuer: issuer.clone(),
            inner: inner.clone(),
            now: now.clone(),
        };
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .route("/introspect", post(introspect))
            .with_state(app);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        FakeProvider {
            issuer,
            inner,
            now,
            shutdown: Some(tx),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    /// The provider's idea of "now" (Unix seconds); tokens are issued at this time.
    pub fn now(&self) -> i64 {
        self.now.load(Ordering::Relaxed)
    }

    pub fn set_now(&self, now: i64) {
        self.now.store(now, Ordering::Relaxed);
    }

    pub fn client_id(&self) -> String {
        self.lock().client_id.clone()
    }

    pub fn client_secret(&self) -> String {
        self.lock().client_secret.clone()
    }

    /// Accept only this client authentication method at the token endpoint, and
    /// advertise only it.
    pub fn require_auth_method(&self, method: &'static str) {
        self.lock().auth_method = method;
    }

    /// Who the next authorization signs in as.
    pub fn login_as(&self, subject: &str) {
        self.lock().login_as = subject.into();
    }

    pub fn set_user(&self, subject: &str, claims: Value) {
        self.lock().users.insert(
            subject.into(),
            claims.as_object().cloned().unwrap_or_default(),
        );
    }

    /// Publish another key (without signing with it).
    pub fn publish(&self, key: SigningKey) -> Arc<SigningKey> {
        let key = Arc::new(key);
        self.lock().keys.push(key.clone());
        key
    }

    /// Publish `key` and sign new tokens with it.
    pub fn rotate_to(&self, key: SigningKey) -> Arc<SigningKey> {
        let key = self.publish(key);
        self.lock().signer = key.clone();
        key
    }

    /// Publish a JWK as given (e.g. [`weak_rsa_jwk`]).
    pub fn publish_jwk(&self, jwk: Value) {
        self.lock().raw_jwks.push(jwk);
    }

    /// Stop publishing a key.
    pub fn unpublish(&self, kid: &str) {
        let mut inner = self.lock();
        inner.keys.retain(|k| k.kid != kid);
        inner.raw_jwks.retain(|k| k["kid"] != kid);
    }

    pub fn signer(&self) -> Arc<SigningKey> {
        self.lock().signer.clone()
    }

    pub fn set_tamper(&self, tamper: Option<Tamper>) {
        self.lock().tamper = tamper;
    }

    /// Revokes every refresh token issued for `subject` (the person removed, or their
    /// grant withdrawn): using one is then `invalid_grant`.
    pub fn revoke_refresh_tokens(&self, subject: &str) {
        self.lock().refresh.retain(|_, s| s != subject);
    }

    /// How many refresh-token grants the token endpoint has granted (each used token is
    /// gone: a second use is refused).
    pub fn refreshes(&self) -> u64 {
        self.lock().refreshes
    }

    /// Replace what userinfo answers (e.g. another `sub`).
    pub fn set_userinfo(&self, claims: Option<Value>) {
        self.lock().userinfo_override = claims.and_then(|c| c.as_object().cloned());
    }

    /// Answer userinfo as a signed JWT.
    pub fn userinfo_as_jwt(&self, on: bool) {
        self.lock().userinfo_jwt = on;
    }

    /// Add (or, with `null`, remove) members of the discovery document.
    pub fn discovery_set(&self, key: &str, value: Value) {
        self.lock().discovery_extra.insert(key.into(), value);
    }

    /// Whether the authorization response carries RFC 9207 `iss`.
    pub fn send_iss(&self, on: bool) {
        self.lock().send_iss = on;
    }

    pub fn jwks_fetches(&self) -> u64 {
        self.lock().jwks_fetches
    }

    pub fn token_requests(&self) -> u64 {
        self.lock().token_requests
    }

    /// Claims of a good ID token for `subject`.
    pub fn id_claims(&self, subject: &str, nonce: Option<&str>) -> Value {
        let inner = self.lock();
        let now = self.now();
        let mut c = json!({"iss": self.issuer, "sub": subject, "aud": inner.client_id,
            "exp": now + 300, "iat": now, "auth_time": now, "sid": format!("sid-{subject}")});
        if let Some(n) = nonce {
            c["nonce"] = json!(n);
        }
        if let Some(user) = inner.users.get(subject) {
            for (k, v) in user {
                c[k] = v.clone();
            }
        }
        c
    }

    /// A token signed by the current key.
    pub fn sign(&self, header: Value, claims: &Value) -> String {
        self.signer().sign_jwt(header, claims)
    }

    /// A good back-channel logout token.
    pub fn logout_claims(&self, sub: Option<&str>, sid: Option<&str>) -> Value {
        let inner = self.lock();
        let now = self.now();
        let mut c = json!({"iss": self.issuer, "aud": inner.client_id, "iat": now, "exp": now + 120,
            "jti": format!("jti-{}-{}", now, inner.counter), "events": {LOGOUT_EVENT: {}}});
        if let Some(s) = sub {
            c["sub"] = json!(s);
        }
        if let Some(s) = sid {
            c["sid"] = json!(s);
        }
        c
    }

    /// An opaque access token this provider issued to another of its clients (another
    /// application's public client): userinfo accepts it, introspection answers it
    /// `active` with `sub`, `iss`, `exp` and `introspected` (say, `client_id`, `aud`).
    pub fn issue_foreign_token(&self, subject: &str, introspected: Value) -> String {
        let mut inner = self.lock();
        inner.counter += 1;
        let token = format!("foreign-{}-{subject}", inner.counter);
        inner.foreign.insert(
            token.clone(),
            (
                subject.to_owned(),
                introspected.as_object().cloned().unwrap_or_default(),
            ),
        );
        token
    }

    /// Claims of a good RFC 9068 access token for `audience`.
    pub fn access_claims(&self, subject: &str, audience: &str) -> Value {
        let now = self.now();
        json!({"iss": self.issuer, "sub": subject, "aud": audience, "exp": now + 300, "iat": now,
            "client_id": "some-api-client", "scope": "read write", "jti": format!("at-{now}")})
    }

    /// Plays the browser at the authorization endpoint: checks the request like a
    /// provider would and returns the redirect back to the client with a code.
    pub fn authorize(&self, auth_url: &Url) -> Url {
        let q: HashMap<String, String> = auth_url.query_pairs().into_owned().collect();
        let mut inner = self.lock();
        assert_eq!(q.get("response_type").map(String::as_str), Some("code"));
        assert_eq!(q.get("client_id"), Some(&inner.client_id));
        assert!(
            q.get("scope")
                .is_some_and(|s| s.split(' ').any(|s| s == "openid"))
        );
        if let Some(method) = q.get("code_challenge_method") {
            assert_eq!(method, "S256", "plain PKCE must never be used");
        }
        inner.counter += 1;
        let code = format!("code-{}", inner.counter);
        let grant = Grant {
            subject: inner.login_as.clone(),
            nonce: q.get("nonce").cloned(),
            redirect_uri: q.get("redirect_uri").cloned().unwrap_or_default(),
            challenge: q.get("code_challenge").cloned(),
            used: false,
        };
        let mut back = Url::parse(&grant.redirect_uri).unwrap();
        inner.codes.insert(code.clone(), grant);
        {
            let mut pairs = back.query_pairs_mut();
            pairs.append_pair("code", &code);
            if let Some(s) = q.get("state") {
                pairs.append_pair("state", s);
            }
            if inner.send_iss {
                pairs.append_pair("iss", &self.issuer);
            }
        }
        back
    }
}

async fn discovery(State(app): State<App>) -> Json<Value> {
    let inner = app.inner.lock().unwrap();
    let i = &app.issuer;
    let mut doc = json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "jwks_uri": format!("{i}/jwks"),
        "end_session_endpoint": format!("{i}/logout"),
        "introspection_endpoint": format!("{i}/introspect"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256","ES256","EdDSA"],
        "token_endpoint_auth_methods_supported": [inner.auth_method],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": inner.send_iss,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
    });
    for (k, v) in &inner.discovery_extra {
        if v.is_null() {
            doc.as_object_mut().unwrap().remove(k);
        } else {
            doc[k] = v.clone();
        }
    }
    Json(doc)
}

async fn jwks(State(app): State<App>) -> Json<Value> {
    let mut inner = app.inner.lock().unwrap();
    inner.jwks_fetches += 1;
    let mut keys: Vec<Value> = inner.keys.iter().map(|k| k.jwk()).collect();
    keys.extend(inner.raw_jwks.iter().cloned());
    Json(json!({ "keys": keys }))
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

fn client_auth(
    inner: &Inner,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<(), Response> {
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let (id, secret, method) = match (basic, form.get("client_secret")) {
        (Some(b), None) => {
            let (id, secret) = b.split_once(':').unwrap_or((&b, ""));
            let dec = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            (dec(id), dec(secret), "client_secret_basic")
        }
        (None, Some(secret)) => (
            form.get("client_id").cloned().unwrap_or_default(),
            secret.clone(),
            "client_secret_post",
        ),
        _ => {
            return Err(oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "exactly one client authentication method",
            ));
        }
    };
    if method != inner.auth_method {
        return Err(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "authentication method not allowed",
        ));
    }
    if id != inner.client_id || secret != inner.client_secret {
        return Err(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "bad client credentials",
        ));
    }
    Ok(())
}

fn issue(app: &App, inner: &mut Inner, subject: &str, nonce: Option<&str>) -> Value {
    inner.counter += 1;
    let n = inner.counter;
    let access = format!("at-{n}-{subject}");
    let refresh = format!("rt-{n}-{subject}");
    inner.access.insert(access.clone(), subject.to_owned());
    inner.refresh.insert(refresh.clone(), subject.to_owned());
    let now = app.now.load(Ordering::Relaxed);
    let mut claims = json!({"iss": app.issuer, "sub": subject, "aud": inner.client_id,
        "exp": now + 300, "iat": now, "auth_time": now, "sid": format!("sid-{subject}"),
        "at_hash": at_hash(&access, inner.signer.alg)});
    if let Some(n) = nonce {
        claims["nonce"] = json!(n);
    }
    if let Some(user) = inner.users.get(subject) {
        for (k, v) in user {
            claims[k] = v.clone();
        }
    }
    let mut header = Map::new();
    header.insert("typ".into(), json!("JWT"));
    let mut claims = claims.as_object().cloned().unwrap();
    if let Some(t) = &inner.tamper {
        t(&mut header, &mut claims);
    }
    let id_token = match header.get("alg").and_then(Value::as_str) {
        Some("none") => forge_none(&Value::Object(claims)),
        _ => inner
            .signer
            .sign_jwt(Value::Object(header), &Value::Object(claims)),
    };
    json!({"access_token": access, "token_type": "Bearer", "expires_in": 300,
        "refresh_token": refresh, "id_token": id_token, "scope": "openid profile email"})
}

async fn token(
    State(app): State<App>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut inner = app.inner.lock().unwrap();
    inner.token_requests += 1;
    if let Err(r) = client_auth(&inner, &headers, &form) {
        return r;
    }
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = form.get("code").cloned().unwrap_or_default();
            let Some(grant) = inner.codes.get_mut(&code) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "unknown code");
            };
            if grant.used {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "code already used",
                );
            }
            grant.used = true;
            if form.get("redirect_uri") != Some(&grant.redirect_uri) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "redirect_uri mismatch",
                );
            }
            if let Some(challenge) = &grant.challenge {
                let ok = form.get("code_verifier").is_some_and(|v| {
                    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, v.as_bytes());
                    B64.encode(d.as_ref()) == *challenge
                });
                if !ok {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "PKCE verification failed",
                    );
                }
            }
            let subject = grant.subject.clone();
            let nonce = grant.nonce.clone();
            Json(issue(&app, &mut inner, &subject, nonce.as_deref())).into_response()
        }
        Some("refresh_token") => {
            let rt = form.get("refresh_token").cloned().unwrap_or_default();
            let Some(subject) = inner.refresh.remove(&rt) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "unknown refresh token",
                );
            };
            inner.refreshes += 1;
            Json(issue(&app, &mut inner, &subject, None)).into_response()
        }
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "no"),
    }
}

async fn userinfo(State(app): State<App>, headers: HeaderMap) -> Response {
    let inner = app.inner.lock().unwrap();
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let Some(subject) = inner
        .access
        .get(token)
        .or_else(|| inner.foreign.get(token).map(|(sub, _)| sub))
    else {
        return (StatusCode::UNAUTHORIZED, "invalid_token").into_response();
    };
    let mut claims = inner.users.get(subject).cloned().unwrap_or_default();
    claims.insert("sub".into(), json!(subject));
    claims.insert("userinfo_only".into(), json!("from userinfo"));
    if let Some(o) = &inner.userinfo_override {
        claims = o.clone();
    }
    if inner.userinfo_jwt {
        claims.insert("iss".into(), json!(app.issuer));
        claims.insert("aud".into(), json!(inner.client_id));
        let jwt = inner.signer.sign_jwt(json!({}), &Value::Object(claims));
        return ([("content-type", "application/jwt")], jwt).into_response();
    }
    Json(Value::Object(claims)).into_response()
}

async fn introspect(
    State(app): State<App>,
    headers: HeaderMap,
    Query(_q): Query<HashMap<String, String>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let inner = app.inner.lock().unwrap();
    if let Err(r) = client_auth(&inner, &headers, &form) {
        return r;
    }
    let token = form.get("token").cloned().unwrap_or_default();
    let now = app.now.load(Ordering::Relaxed);
    if let Some((sub, extra)) = inner.foreign.get(&token) {
        let mut answer = json!({"active": true, "sub": sub, "exp": now + 300, "iss": app.issuer,
            "scope": "openid", "token_type": "Bearer"});
        if let Some(o) = answer.as_object_mut() {
            o.extend(extra.clone());
        }
        return Json(answer).into_response();
    }
    match inner.access.get(&token) {
        Some(sub) => Json(
            json!({"active": true, "sub": sub, "exp": now + 300, "iss": app.issuer,
            "client_id": inner.client_id, "scope": "openid profile", "token_type": "Bearer"}),
        )
        .into_response(),
        None => Json(json!({"active": false})).into_response(),
    }
}

/// A published RSA public key of 1024 bits (no private half: a verifier that checks key
/// strength refuses it before looking at any signature).
pub fn weak_rsa_jwk(kid: &str) -> Value {
    let mut n = vec![0xc5u8; 128];
    n[127] |= 1;
    json!({"kty":"RSA","kid":kid,"use":"sig","alg":"RS256","n":B64.encode(n),"e":"AQAB"})
}
