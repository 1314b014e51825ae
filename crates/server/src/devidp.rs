//! The development provider `ssogate demo` starts: a small OpenID provider with a few
//! sample people and no passwords (the page lists them; a click signs in as one). It
//! exists so that the demo needs nothing else. It binds to loopback only (anything else
//! is refused) and `ssogate serve` never starts it.
//!
//! It speaks the authorization-code flow with PKCE, signs ID tokens with a fresh Ed25519
//! key (EdDSA), answers userinfo, and sends the browser back after logout.

use askama::Template;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// A sample person.
#[derive(Debug, Clone)]
pub struct DevPerson {
    pub sub: String,
    pub username: String,
    pub name: String,
    pub email: String,
    pub email_verified: bool,
    pub groups: Vec<String>,
}

/// Alice (verified email, librarian and reader), Bob (unverified email, no groups) and
/// Carol (admin).
pub fn sample_people() -> Vec<DevPerson> {
    let p = |sub: &str, username: &str, name: &str, verified: bool, groups: &[&str]| DevPerson {
        sub: sub.into(),
        username: username.into(),
        name: name.into(),
        email: format!("{username}@example.org"),
        email_verified: verified,
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
    };
    vec![
        p(
            "dev-alice",
            "alice",
            "Alice Liddell",
            true,
            &["librarians", "readers"],
        ),
        p("dev-bob", "bob", "Bob Baker", false, &[]),
        p(
            "dev-carol",
            "carol",
            "Carol Admin",
            true,
            &["admins", "readers"],
        ),
    ]
}

#[derive(Debug, thiserror::Error)]
pub enum DevIdpError {
    #[error("the development provider only listens on loopback, not {0}; it is for the demo")]
    NotLoopback(SocketAddr),
    #[error("the development provider could not start: {0}")]
    Io(#[from] std::io::Error),
    #[error("the development provider could not make its signing key")]
    Key,
}

struct AuthRequest {
    redirect_uri: String,
    state: Option<String>,
    nonce: Option<String>,
    challenge: Option<String>,
}

struct Grant {
    person: DevPerson,
    nonce: Option<String>,
    challenge: Option<String>,
    redirect_uri: String,
    expires: i64,
}

struct Shared {
    issuer: String,
    client_id: String,
    client_secret: String,
    redirect_uris: Vec<String>,
    post_logout_uris: Vec<String>,
    people: Vec<DevPerson>,
    key: Ed25519KeyPair,
    kid: String,
    requests: Mutex<HashMap<String, AuthRequest>>,
    codes: Mutex<HashMap<String, Grant>>,
    tokens: Mutex<HashMap<String, (DevPerson, i64)>>,
}

/// A running development provider; stops when dropped.
pub struct DevProvider {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for DevProvider {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn sha256(data: &[u8]) -> aws_lc_rs::digest::Digest {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
}

fn random() -> String {
    ssogate_oidc::login::random_token(32).unwrap_or_default()
}

/// Starts the provider on `listener` (which must be on loopback) for one client whose
/// callbacks are `redirect_uris`.
pub fn start(
    listener: tokio::net::TcpListener,
    redirect_uris: Vec<String>,
    post_logout_uris: Vec<String>,
    people: Vec<DevPerson>,
) -> Result<DevProvider, DevIdpError> {
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() {
        return Err(DevIdpError::NotLoopback(addr));
    }
    let pkcs8 =
        Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| DevIdpError::Key)?;
    let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| DevIdpError::Key)?;
    let issuer = format!("http://{addr}");
    let shared = Arc::new(Shared {
        issuer: issuer.clone(),
        client_id: "ssogate-demo".into(),
        client_secret: random(),
        redirect_uris,
        post_logout_uris,
        people,
        kid: URL_SAFE_NO_PAD
            .encode(sha256(key.public_key().as_ref()))
            .chars()
            .take(16)
            .collect(),
        key,
        requests: Mutex::new(HashMap::new()),
        codes: Mutex::new(HashMap::new()),
        tokens: Mutex::new(HashMap::new()),
    });
    let (client_id, client_secret) = (shared.client_id.clone(), shared.client_secret.clone());
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/authorize", get(authorize).post(pick))
        .route("/token", post(token))
        .route("/userinfo", get(userinfo))
        .route("/jwks", get(jwks))
        .route("/logout", get(logout))
        .with_state(shared);
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Ok(DevProvider {
        issuer,
        client_id,
        client_secret,
        stop: Some(tx),
    })
}

async fn discovery(State(s): State<Arc<Shared>>) -> Json<Value> {
    let i = &s.issuer;
    Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "jwks_uri": format!("{i}/jwks"),
        "end_session_endpoint": format!("{i}/logout"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "grant_types_supported": ["authorization_code"],
        "scopes_supported": ["openid", "profile", "email", "groups"],
        "claims_supported": ["sub", "name", "preferred_username", "email", "email_verified", "groups"],
        "authorization_response_iss_parameter_supported": true,
    }))
}

fn bad(msg: &str) -> Response {
    (StatusCode::BAD_REQUEST, msg.to_owned()).into_response()
}

#[derive(Template)]
#[template(path = "devidp.html")]
struct PickPage<'a> {
    request: String,
    people: &'a [DevPerson],
}

async fn authorize(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).cloned();
    if get("client_id").as_deref() != Some(s.client_id.as_str()) {
        return bad("unknown client_id");
    }
    let Some(redirect_uri) = get("redirect_uri").filter(|r| s.redirect_uris.contains(r)) else {
        return bad("redirect_uri is not registered for this client");
    };
    if get("response_type").as_deref() != Some("code") {
        return bad("only response_type=code is supported");
    }
    if get("code_challenge").is_some() && get("code_challenge_method").as_deref() != Some("S256") {
        return bad("only the S256 code challenge method is supported");
    }
    let id = random();
    if let Ok(mut r) = s.requests.lock() {
        if r.len() > 10_000 {
            r.clear();
        }
        r.insert(
            id.clone(),
            AuthRequest {
                redirect_uri,
                state: get("state"),
                nonce: get("nonce"),
                challenge: get("code_challenge"),
            },
        );
    }
    match (PickPage {
        request: id,
        people: &s.people,
    })
    .render()
    {
        Ok(html) => Html(html).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[derive(Deserialize)]
struct PickForm {
    request: String,
    person: String,
}

async fn pick(State(s): State<Arc<Shared>>, Form(f): Form<PickForm>) -> Response {
    let Some(req) = s
        .requests
        .lock()
        .ok()
        .and_then(|mut r| r.remove(&f.request))
    else {
        return bad("this sign-in request is unknown or was already used; start again");
    };
    let Some(person) = s.people.iter().find(|p| p.sub == f.person).cloned() else {
        return bad("no such person");
    };
    let code = random();
    let mut url = match url::Url::parse(&req.redirect_uri) {
        Ok(u) => u,
        Err(_) => return bad("bad redirect_uri"),
    };
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("code", &code);
        if let Some(st) = &req.state {
            q.append_pair("state", st);
        }
        q.append_pair("iss", &s.issuer);
    }
    if let Ok(mut c) = s.codes.lock() {
        c.insert(
            code,
            Grant {
                person,
                nonce: req.nonce,
                challenge: req.challenge,
                redirect_uri: req.redirect_uri,
                expires: now() + 60,
            },
        );
    }
    match HeaderValue::from_str(url.as_str()) {
        Ok(v) => (StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response(),
        Err(_) => bad("bad redirect_uri"),
    }
}

fn token_error(error: &str, status: StatusCode) -> Response {
    (status, Json(json!({"error": error}))).into_response()
}

fn client_ok(s: &Shared, headers: &HeaderMap, form: &HashMap<String, String>) -> bool {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let (id, secret) = match basic {
        Some(pair) => match pair.split_once(':') {
            Some((i, p)) => (i.to_owned(), p.to_owned()),
            None => return false,
        },
        None => match (form.get("client_id"), form.get("client_secret")) {
            (Some(i), Some(p)) => (i.clone(), p.clone()),
            _ => return false,
        },
    };
    id == s.client_id
        && ssogate_oidc::validate::constant_time_eq(secret.as_bytes(), s.client_secret.as_bytes())
}

async fn token(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !client_ok(&s, &headers, &form) {
        return token_error("invalid_client", StatusCode::UNAUTHORIZED);
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return token_error("unsupported_grant_type", StatusCode::BAD_REQUEST);
    }
    let grant = form
        .get("code")
        .and_then(|c| s.codes.lock().ok().and_then(|mut m| m.remove(c)));
    let Some(grant) = grant.filter(|g| g.expires > now()) else {
        return token_error("invalid_grant", StatusCode::BAD_REQUEST);
    };
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return token_error("invalid_grant", StatusCode::BAD_REQUEST);
    }
    if let Some(challenge) = &grant.challenge {
        let ok = form
            .get("code_verifier")
            .is_some_and(|v| URL_SAFE_NO_PAD.encode(sha256(v.as_bytes())) == *challenge);
        if !ok {
            return token_error("invalid_grant", StatusCode::BAD_REQUEST);
        }
    }
    let t = now();
    let mut claims = claims_of(&grant.person);
    claims.insert("iss".into(), json!(s.issuer));
    claims.insert("aud".into(), json!(s.client_id));
    claims.insert("iat".into(), json!(t));
    claims.insert("auth_time".into(), json!(t));
    claims.insert("exp".into(), json!(t + 300));
    if let Some(n) = &grant.nonce {
        claims.insert("nonce".into(), json!(n));
    }
    let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": s.kid});
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string())
    );
    let sig = s.key.sign(signing_input.as_bytes());
    let id_token = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()));
    let access = random();
    if let Ok(mut m) = s.tokens.lock() {
        m.retain(|_, (_, exp)| *exp > t);
        m.insert(access.clone(), (grant.person, t + 3600));
    }
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": 3600,
            "id_token": id_token,
            "scope": "openid profile email groups",
        })),
    )
        .into_response()
}

fn claims_of(p: &DevPerson) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("sub".into(), json!(p.sub));
    m.insert("name".into(), json!(p.name));
    m.insert("preferred_username".into(), json!(p.username));
    m.insert("email".into(), json!(p.email));
    m.insert("email_verified".into(), json!(p.email_verified));
    m.insert("groups".into(), json!(p.groups));
    m
}

async fn userinfo(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let token = crate::web::bearer_token(&headers);
    let person = token.and_then(|t| {
        s.tokens.lock().ok().and_then(|m| {
            m.get(t)
                .filter(|(_, exp)| *exp > now())
                .map(|(p, _)| p.clone())
        })
    });
    match person {
        Some(p) => Json(Value::Object(claims_of(&p))).into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
        )
            .into_response(),
    }
}

async fn jwks(State(s): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": s.kid,
        "x": URL_SAFE_NO_PAD.encode(s.key.public_key().as_ref()),
    }]}))
}

async fn logout(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match q
        .get("post_logout_redirect_uri")
        .filter(|u| s.post_logout_uris.contains(u))
        .and_then(|u| HeaderValue::from_str(u).ok())
    {
        Some(v) => (StatusCode::FOUND, [(header::LOCATION, v)]).into_response(),
        None => Html("<!doctype html><title>Signed out</title><p>You are signed out of the development provider.</p>").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_anything_but_loopback() {
        // Binding 0.0.0.0 is allowed by the OS; the provider must refuse to serve on it.
        let Ok(listener) = tokio::net::TcpListener::bind("0.0.0.0:0").await else {
            return;
        };
        let e = start(listener, vec![], vec![], sample_people()).err();
        assert!(matches!(e, Some(DevIdpError::NotLoopback(_))), "{e:?}");
    }
}
