//! ssogate as an OpenID Provider for the applications in `[clients.<id>]`: discovery,
//! JWKS, the authorization endpoint (the person signs in to ssogate — through any
//! upstream provider or a password — and comes back), the token endpoint and userinfo.
//! The protocol is `ssogate_op`'s; this module holds the routes, the session, the
//! directory calls and the audit trail. Answered only when a client is configured.

use crate::extract::Req;
use crate::respond::json_error;
use crate::state::App;
use crate::web;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use ssogate_core::directory::ExistingUser;
use ssogate_core::domain::{GrantKind, UserStatus};
use ssogate_op::authorize::{self, Authorization, AuthorizeError};
use ssogate_op::claims::{self, Issued, Person};
use ssogate_op::keys::SigningKey;
use ssogate_op::token::{self, TokenError};
use ssogate_store::directory::op::{
    NewCode, NewRefresh, Redeemed, Refreshed, StoredKey, TokenGrant,
};
use std::sync::Arc;

/// How long a code lives (RFC 6749 4.1.2: short; one use).
const CODE_SECONDS: i64 = 60;

fn not_configured() -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        "not_found",
        "ssogate is not an OpenID Provider here: no [clients.<id>] is configured",
    )
}

fn issuer(app: &App) -> &str {
    &app.config.base_url
}

/// How long an instance keeps using the signing key it read before reading again (so a
/// rotation reaches every instance within a minute, well before the next key signs).
const KEY_CACHE_SECONDS: i64 = 60;

fn parse_key(k: &StoredKey) -> Result<SigningKey, String> {
    let der = base64::engine::general_purpose::STANDARD
        .decode(&k.private_key)
        .map_err(|e| format!("a stored signing key is not base64: {e}"))?;
    SigningKey::from_pkcs8(&der).map_err(|e| e.to_string())
}

/// The keys published now, and the one that signs (the last activated).
async fn published_keys(app: &App) -> Result<(Vec<SigningKey>, usize), String> {
    let now = app.now();
    let mut stored = app
        .db(move |d| d.op_keys(now))
        .await
        .map_err(|e| e.to_string())?;
    if stored.is_empty() {
        // The first instance to need a key makes it; whichever insert wins is used by all.
        let fresh = tokio::task::spawn_blocking(SigningKey::generate)
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let first = StoredKey {
            kid: fresh.kid.clone(),
            alg: "RS256".into(),
            private_key: base64::engine::general_purpose::STANDARD
                .encode(fresh.to_pkcs8().map_err(|e| e.to_string())?),
            created_at: now,
            activates_at: 0,
            retired_at: None,
        };
        app.db(move |d| d.op_add_first_key(first))
            .await
            .map_err(|e| e.to_string())?;
        stored = app
            .db(move |d| d.op_keys(now))
            .await
            .map_err(|e| e.to_string())?;
    }
    // (Should every key be still to come, the earliest signs rather than nothing.)
    let signer = stored
        .iter()
        .rposition(|k| k.activates_at <= now)
        .unwrap_or(0);
    let keys = stored
        .iter()
        .map(parse_key)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((keys, signer))
}

/// The signing key every instance shares, read from the directory (made there once).
async fn signing_key(app: &App) -> Result<Arc<SigningKey>, String> {
    let now = app.now();
    if let Ok(guard) = app.op_key.read()
        && let Some((k, at)) = guard.as_ref()
        && now - at < KEY_CACHE_SECONDS
    {
        return Ok(k.clone());
    }
    let (mut keys, signer) = published_keys(app).await?;
    let key = Arc::new(keys.swap_remove(signer));
    if let Ok(mut guard) = app.op_key.write() {
        *guard = Some((key.clone(), now));
    }
    Ok(key)
}

pub(crate) async fn discovery(State(app): State<App>) -> Response {
    if app.config.clients.is_empty() {
        return not_configured();
    }
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(ssogate_op::discovery::document(issuer(&app))),
    )
        .into_response()
}

pub(crate) async fn jwks(State(app): State<App>) -> Response {
    if app.config.clients.is_empty() {
        return not_configured();
    }
    match published_keys(&app).await {
        Ok((keys, _)) => (
            [(header::CACHE_CONTROL, "public, max-age=300")],
            axum::Json(ssogate_op::keys::jwks(&keys.iter().collect::<Vec<_>>())),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "the provider's signing key is not available");
            json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "signing keys are not available",
            )
        }
    }
}

/// The person's account as claims see it.
fn person(u: &ExistingUser) -> Person {
    let names = |kind: GrantKind| {
        let mut v: Vec<String> = u
            .grants
            .iter()
            .filter(|g| g.kind == kind)
            .map(|g| g.name.clone())
            .collect();
        v.sort();
        v
    };
    Person {
        sub: u.id.0.to_string(),
        username: u.username.clone(),
        email: u.email.clone(),
        email_verified: u.email_verified,
        name: u.display_name.clone(),
        groups: names(GrantKind::Group),
        permissions: names(GrantKind::Permission),
        libraries: names(GrantKind::Library),
        admin: u.is_admin(),
    }
}

fn found(location: &str) -> Response {
    web::redirect(StatusCode::FOUND, location)
}

/// The authorization endpoint (Core 3.1.2).
pub(crate) async fn authorize(State(app): State<App>, req: Req, uri: Uri) -> Response {
    if app.config.clients.is_empty() {
        return not_configured();
    }
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let iss = issuer(&app).to_owned();
    let now = app.now();
    let a = match authorize::validate(&pairs, |id| app.config.clients.get(id)) {
        Ok(a) => a,
        Err(AuthorizeError::Page { error, description }) => {
            let mut ev = req.event("op.authorize", "failure", now);
            ev.reason = Some(error.into());
            ev.detail = Some(description.clone());
            app.refused(ev, req.addr).await;
            return crate::pages::message(
                req.t,
                StatusCode::BAD_REQUEST,
                req.t.err_state_title,
                &format!(
                    "The application's sign-in request is not valid: {description}. Go back to the application and try again; if it keeps failing, tell its administrator."
                ),
                None,
                Some(error),
            );
        }
        Err(AuthorizeError::Redirect {
            redirect_uri,
            error,
            description,
            state,
        }) => {
            let mut ev = req.event("op.authorize", "failure", now);
            ev.reason = Some(error.into());
            ev.detail = Some(description.clone());
            app.refused(ev, req.addr).await;
            return found(&authorize::error_redirect(
                &redirect_uri,
                error,
                &description,
                state.as_deref(),
                &iss,
            ));
        }
    };
    let session = match app.session(&req.headers).await {
        Ok(s) => s,
        Err(e) => return crate::respond::server_error(req.t, &e),
    };
    let fresh = |created: i64| !a.prompt_login && a.max_age.is_none_or(|m| now - created <= m);
    let (secret, session) = match session {
        Some((secret, s)) if fresh(s.created_at) => (secret, s),
        _ if a.prompt_none => {
            return found(&authorize::error_redirect(
                &a.redirect_uri,
                "login_required",
                "nobody is signed in to ssogate",
                a.state.as_deref(),
                &iss,
            ));
        }
        _ => return found(&login_then(&pairs)),
    };
    let user = match app.db(move |d| d.user(session.user_id)).await {
        Ok(Some(u)) if u.status == UserStatus::Active => u,
        Ok(_) => return found(&login_then(&pairs)),
        Err(e) => return crate::respond::server_error(req.t, &e),
    };
    // The client's access policy: only people holding what it names.
    if let Some(client) = app.config.clients.get(&a.client_id)
        && !client.access.admits(&person(&user))
    {
        let mut ev = req.event("op.authorize", "failure", now);
        ev.user_id = Some(user.id);
        ev.reason = Some("client_access_denied".into());
        ev.detail = Some(format!("client {}", client.id));
        app.audit(ev).await;
        return crate::pages::message(
            req.t,
            StatusCode::FORBIDDEN,
            req.t.err_rejected_title,
            &format!(
                "Your account may not sign in to {}: it is open to members of certain groups or holders of certain permissions only. Ask an administrator for access.",
                client.name
            ),
            None,
            Some("client_access_denied"),
        );
    }
    let code = match ssogate_op::random_token(32) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "no code could be made");
            return crate::respond::server_error(
                req.t,
                &ssogate_store::StoreError::Corrupt(e.to_string()),
            );
        }
    };
    let grant_json = serde_json::to_string(&a).unwrap_or_default();
    let new = NewCode {
        code_hash: ssogate_op::digest(&code),
        client_id: a.client_id.clone(),
        user_id: user.id,
        grant_json,
        auth_time: session.created_at,
        sid: Some(ssogate_store::sessions::digest(&secret)),
        expires_at: now + CODE_SECONDS,
    };
    if let Err(e) = app.db(move |d| d.op_put_code(new)).await {
        return crate::respond::server_error(req.t, &e);
    }
    let mut ev = req.event("op.authorize", "success", now);
    ev.user_id = Some(user.id);
    ev.detail = Some(format!("client {}", a.client_id));
    app.audit(ev).await;
    found(&authorize::success(&a, &code, &iss))
}

/// Where the person signs in before coming back to this request: the same request,
/// less a `prompt=login` that would ask again forever (a fresh sign-in within five
/// minutes then satisfies it).
fn login_then(pairs: &[(String, String)]) -> String {
    let mut again = url::form_urlencoded::Serializer::new(String::new());
    let mut had_login = false;
    for (k, v) in pairs {
        if k == "prompt" && v.split(' ').any(|p| p == "login") {
            had_login = true;
            let rest: Vec<&str> = v
                .split(' ')
                .filter(|p| *p != "login" && !p.is_empty())
                .collect();
            if !rest.is_empty() {
                again.append_pair(k, &rest.join(" "));
            }
            continue;
        }
        if k == "max_age" && had_login {
            continue;
        }
        again.append_pair(k, v);
    }
    if had_login && !pairs.iter().any(|(k, _)| k == "max_age") {
        again.append_pair("max_age", "300");
    }
    let back = format!("{}?{}", ssogate_op::discovery::AUTHORIZE, again.finish());
    let mut login = url::form_urlencoded::Serializer::new(String::new());
    login.append_pair("return_to", &back);
    format!("/login?{}", login.finish())
}

fn token_error(e: &TokenError) -> Response {
    let status = match e {
        TokenError::InvalidClient { .. } => StatusCode::UNAUTHORIZED,
        TokenError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut res = json_error(status, e.code(), &e.description());
    if let TokenError::InvalidClient { basic: true, .. } = e {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"ssogate\""),
        );
    }
    res
}

/// The token endpoint (RFC 6749 4.1.3): an authorization code for tokens.
pub(crate) async fn token(State(app): State<App>, req: Req, body: Bytes) -> Response {
    if app.config.clients.is_empty() {
        return not_configured();
    }
    let now = app.now();
    let result = exchange(&app, &req, &body, now).await;
    match result {
        Ok(res) => res,
        Err(e) => {
            let mut ev = req.event("op.token", "failure", now);
            ev.reason = Some(e.code().into());
            ev.detail = Some(e.description());
            app.refused(ev, req.addr).await;
            token_error(&e)
        }
    }
}

async fn exchange(app: &App, req: &Req, body: &[u8], now: i64) -> Result<Response, TokenError> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let mut seen = std::collections::BTreeSet::new();
    for (k, _) in &pairs {
        if !seen.insert(k.as_str()) {
            return Err(TokenError::InvalidRequest(format!(
                "{k} is given more than once"
            )));
        }
    }
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let basic = req
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(token::basic_credentials);
    let client = token::authenticate(basic, get("client_id"), get("client_secret"), |id| {
        app.config.clients.get(id)
    })?;
    match get("grant_type") {
        Some("authorization_code") => {
            redeem_code(app, req, client, &Form(pairs.clone()), now).await
        }
        Some("refresh_token") => refresh(app, req, client, &Form(pairs.clone()), now).await,
        Some(other) => Err(TokenError::UnsupportedGrantType(format!(
            "grant_type {other} is not supported"
        ))),
        None => Err(TokenError::InvalidRequest("grant_type is missing".into())),
    }
}

/// A token request's form.
struct Form(Vec<(String, String)>);

impl Form {
    fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
}

fn store_failed(e: ssogate_store::StoreError) -> TokenError {
    tracing::error!(error = %e, "the token endpoint could not reach the directory");
    TokenError::Unavailable(e.to_string())
}

async fn redeem_code(
    app: &App,
    req: &Req,
    client: &ssogate_op::Client,
    form: &Form,
    now: i64,
) -> Result<Response, TokenError> {
    let code = form
        .get("code")
        .ok_or_else(|| TokenError::InvalidRequest("code is missing".into()))?;
    let code_hash = ssogate_op::digest(code);
    let h = code_hash.clone();
    let redeemed = app
        .db(move |d| d.op_redeem_code(&h, now))
        .await
        .map_err(store_failed)?;
    let (user_id, grant_json, auth_time, sid) = match redeemed {
        Redeemed::Fresh {
            user_id,
            grant_json,
            auth_time,
            sid,
            ..
        } => (user_id, grant_json, auth_time, sid),
        Redeemed::Replayed { client_id, revoked } => {
            let mut ev = req.event("op.code_replayed", "failure", now);
            ev.reason = Some("code_replayed".into());
            ev.detail = Some(format!(
                "client {client_id} presented a used code; {revoked} token(s) it earned revoked"
            ));
            app.audit(ev).await;
            return Err(TokenError::InvalidGrant("the code was used before".into()));
        }
        Redeemed::Unknown => {
            return Err(TokenError::InvalidGrant(
                "the code is unknown or expired".into(),
            ));
        }
    };
    let granted: Authorization = serde_json::from_str(&grant_json)
        .map_err(|_| TokenError::InvalidGrant("the code's record is unreadable".into()))?;
    token::check_code(
        &granted,
        client,
        form.get("redirect_uri"),
        form.get("code_verifier"),
    )?;
    issue(
        app,
        req,
        client,
        Issue {
            user_id,
            granted,
            auth_time,
            sid,
            family: code_hash,
            nonce: true,
        },
        now,
    )
    .await
}

/// A refresh token for new tokens (RFC 6749 6): rotated; a used one presented again
/// revokes everything its family earned.
async fn refresh(
    app: &App,
    req: &Req,
    client: &ssogate_op::Client,
    form: &Form,
    now: i64,
) -> Result<Response, TokenError> {
    let presented = form
        .get("refresh_token")
        .ok_or_else(|| TokenError::InvalidRequest("refresh_token is missing".into()))?;
    let (h, c) = (ssogate_op::digest(presented), client.id.clone());
    let used = app
        .db(move |d| d.op_use_refresh(&h, &c, now))
        .await
        .map_err(store_failed)?;
    let r = match used {
        Refreshed::Fresh(r) => r,
        Refreshed::Reused { client_id, revoked } => {
            let mut ev = req.event("op.refresh_reused", "failure", now);
            ev.reason = Some("refresh_token_reused".into());
            ev.detail = Some(format!(
                "client {client_id} presented a used refresh token; its family ({revoked} token(s)) is revoked"
            ));
            app.audit(ev).await;
            return Err(TokenError::InvalidGrant(
                "the refresh token was used before".into(),
            ));
        }
        Refreshed::Unknown => {
            return Err(TokenError::InvalidGrant(
                "the refresh token is unknown, expired or revoked".into(),
            ));
        }
    };
    if r.client_id != client.id {
        return Err(TokenError::InvalidGrant(
            "the refresh token was issued to another client".into(),
        ));
    }
    let granted: Authorization = serde_json::from_str(&r.grant_json)
        .map_err(|_| TokenError::InvalidGrant("the refresh token's record is unreadable".into()))?;
    issue(
        app,
        req,
        client,
        Issue {
            user_id: r.user_id,
            granted,
            auth_time: r.auth_time,
            sid: r.sid,
            family: r.family,
            nonce: false,
        },
        now,
    )
    .await
}

/// What the tokens are issued for.
struct Issue {
    user_id: ssogate_core::domain::UserId,
    granted: Authorization,
    auth_time: i64,
    sid: Option<String>,
    /// The digest of the code the tokens descend from.
    family: String,
    /// The first ID token of a sign-in carries the request's nonce; refreshed ones not
    /// (Core 12.2).
    nonce: bool,
}

async fn issue(
    app: &App,
    req: &Req,
    client: &ssogate_op::Client,
    i: Issue,
    now: i64,
) -> Result<Response, TokenError> {
    let Issue {
        user_id,
        mut granted,
        auth_time,
        sid,
        family,
        nonce,
    } = i;
    let user = app
        .db(move |d| d.user(user_id))
        .await
        .map_err(store_failed)?
        .filter(|u| u.status == UserStatus::Active)
        .ok_or_else(|| TokenError::InvalidGrant("the account is not active".into()))?;
    let key = signing_key(app).await.map_err(|e| {
        tracing::error!(error = %e, "no signing key");
        TokenError::Unavailable(e)
    })?;
    let random =
        || ssogate_op::random_token(32).map_err(|e| TokenError::Unavailable(e.to_string()));
    let access = random()?;
    let scope = granted.scopes.join(" ");
    let tg = TokenGrant {
        client_id: client.id.clone(),
        user_id,
        scope: scope.clone(),
    };
    let (th, fam) = (ssogate_op::digest(&access), family.clone());
    let expires_in = client.access_token_seconds;
    let login_sid = sid.clone();
    app.db(move |d| d.op_put_token(&th, &fam, &tg, login_sid.as_deref(), now, now + expires_in))
        .await
        .map_err(store_failed)?;
    let refresh_token = if client.refresh_token_seconds > 0 {
        let t = random()?;
        let kept = NewRefresh {
            token_hash: ssogate_op::digest(&t),
            family,
            client_id: client.id.clone(),
            user_id,
            grant_json: serde_json::to_string(&granted).unwrap_or_default(),
            auth_time,
            sid: sid.clone(),
            expires_at: now + client.refresh_token_seconds,
        };
        app.db(move |d| d.op_put_refresh(kept))
            .await
            .map_err(store_failed)?;
        Some(t)
    } else {
        None
    };
    if !nonce {
        granted.nonce = None;
    }
    let claims = claims::id_token(
        &person(&user),
        &granted,
        &Issued {
            issuer: issuer(app),
            now,
            auth_time,
            sid: sid.as_deref(),
            lifetime: client.id_token_seconds,
            access_token: &access,
        },
    );
    let id_token = key
        .sign(&claims)
        .map_err(|e| TokenError::Unavailable(e.to_string()))?;
    let mut ev = req.event("op.token", "success", now);
    ev.user_id = Some(user_id);
    ev.detail = Some(format!("client {}", client.id));
    app.audit(ev).await;
    let mut body = serde_json::json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "id_token": id_token,
        "scope": scope,
    });
    if let (Some(t), Some(m)) = (refresh_token, body.as_object_mut()) {
        m.insert("refresh_token".into(), serde_json::json!(t));
    }
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        axum::Json(body),
    )
        .into_response())
}

fn invalid_token(description: &str) -> Response {
    let mut res = json_error(StatusCode::UNAUTHORIZED, "invalid_token", description);
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    res
}

/// Userinfo (Core 5.3): the claims the access token's scopes release, for an account
/// that is still active.
pub(crate) async fn userinfo(State(app): State<App>, req: Req) -> Response {
    if app.config.clients.is_empty() {
        return not_configured();
    }
    let now = app.now();
    let Some(token) = req
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
    else {
        return invalid_token("an access token is required (Authorization: Bearer)");
    };
    let hash = ssogate_op::digest(token);
    let grant = match app.db(move |d| d.op_token(&hash, now)).await {
        Ok(Some(g)) => g,
        Ok(None) => {
            let mut ev = req.event("op.userinfo", "failure", now);
            ev.reason = Some("invalid_token".into());
            app.refused(ev, req.addr).await;
            return invalid_token("the access token is unknown or expired");
        }
        Err(e) => return crate::respond::server_problem(&e),
    };
    let user = match app.db(move |d| d.user(grant.user_id)).await {
        Ok(Some(u)) if u.status == UserStatus::Active => u,
        Ok(_) => return invalid_token("the account is not active"),
        Err(e) => return crate::respond::server_problem(&e),
    };
    let scopes: Vec<String> = grant.scope.split(' ').map(str::to_owned).collect();
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(claims::released(&person(&user), &scopes)),
    )
        .into_response()
}

/// Seconds before the `attempts`-th delivery is tried again: 10 s doubling, at most an
/// hour.
fn retry_in(attempts: i64) -> i64 {
    (10_i64 << attempts.clamp(0, 9)).min(3600)
}

/// Deliveries given up after this many attempts (about a day of retries).
const MAX_ATTEMPTS: i64 = 30;

/// Sends the back-channel logouts that are due (sessions ended, accounts disabled or
/// deleted): a logout token per application the session had signed in to, retried with
/// backoff, each delivery and each failure audited. Claimed in the directory, so with
/// several instances each logout is sent by one.
pub(crate) async fn deliver_logouts(app: &App) {
    if app.config.clients.is_empty() {
        return;
    }
    let now = app.now();
    let due = match app.db(move |d| d.op_claim_logouts(now, 50, retry_in)).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "back-channel logouts could not be read");
            return;
        }
    };
    for p in due {
        let uri = app
            .config
            .clients
            .get(&p.client_id)
            .and_then(|c| c.backchannel_logout_uri.clone());
        let Some(uri) = uri else {
            // The application has no back-channel logout: nothing to tell it.
            let _ = app.db(move |d| d.op_logout_finished(p.id, now, None)).await;
            continue;
        };
        let outcome = send_logout(app, &p, &uri, now).await;
        let mut ev = ssogate_store::audit::NewEvent {
            at: now,
            event: "op.backchannel".into(),
            user_id: Some(p.user_id),
            ..Default::default()
        };
        match outcome {
            Ok(()) => {
                let _ = app.db(move |d| d.op_logout_finished(p.id, now, None)).await;
                ev.outcome = "success".into();
                ev.detail = Some(format!("client {} told the session ended", p.client_id));
                app.audit(ev).await;
            }
            Err(e) => {
                tracing::warn!(client = %p.client_id, attempt = p.attempts, error = %e, "a back-channel logout was not delivered");
                let give_up = p.attempts >= MAX_ATTEMPTS;
                let err = e.clone();
                let _ = if give_up {
                    app.db(move |d| d.op_logout_finished(p.id, now, Some(&err)))
                        .await
                } else {
                    app.db(move |d| d.op_logout_failed(p.id, &err)).await
                };
                ev.outcome = "failure".into();
                ev.reason = Some(if give_up { "gave_up" } else { "will_retry" }.into());
                ev.detail = Some(format!(
                    "client {} (attempt {}): {e}",
                    p.client_id, p.attempts
                ));
                app.audit(ev).await;
            }
        }
    }
}

async fn send_logout(
    app: &App,
    p: &ssogate_store::directory::op::PendingLogout,
    uri: &str,
    now: i64,
) -> Result<(), String> {
    let key = signing_key(app).await?;
    let jti = ssogate_op::random_token(16).map_err(|e| e.to_string())?;
    let claims = claims::logout_token(
        issuer(app),
        &p.client_id,
        &p.user_id.0.to_string(),
        &p.sid,
        &jti,
        now,
    );
    let token = key
        .sign_typed(&claims, "logout+jwt")
        .map_err(|e| e.to_string())?;
    let client = match app.hooks_http.get() {
        Some(c) => c.clone(),
        None => {
            let c = ssogate_oidc::http::client("backchannel", &Default::default())
                .map_err(|e| e.to_string())?;
            app.hooks_http.get_or_init(|| c).clone()
        }
    };
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("logout_token", &token)
        .finish();
    let res = client
        .post(uri)
        .timeout(std::time::Duration::from_secs(5))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("cannot reach {uri} ({e})"))?;
    if res.status().is_success() {
        Ok(())
    } else {
        Err(format!("{uri} answered HTTP {}", res.status().as_u16()))
    }
}

/// What the end-session endpoint was asked (RP-Initiated Logout 1.0, 2).
struct LogoutAsk {
    /// The client the request is from, when it could be established.
    client: Option<String>,
    /// The account a valid `id_token_hint` names.
    hinted_sub: Option<String>,
    /// Where to go afterwards: registered for that client, exactly.
    back: Option<String>,
}

fn logout_ask(
    app: &App,
    keys: &[SigningKey],
    pairs: &[(String, String)],
) -> Result<LogoutAsk, String> {
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let hint = get("id_token_hint").and_then(|h| keys.iter().find_map(|k| k.verify(h)));
    if get("id_token_hint").is_some() && hint.is_none() {
        return Err("the id_token_hint is not an ID token ssogate issued".into());
    }
    let hinted_client = hint
        .as_ref()
        .and_then(|c| c.get("aud"))
        .and_then(|a| a.as_str())
        .map(str::to_owned);
    let client = match (get("client_id"), hinted_client) {
        (Some(c), Some(h)) if c != h => {
            return Err("client_id and the id_token_hint name different applications".into());
        }
        (Some(c), _) => Some(c.to_owned()),
        (None, h) => h,
    };
    let back = match get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let registered = client
                .as_deref()
                .and_then(|c| app.config.clients.get(c))
                .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|u| u == uri));
            if !registered {
                return Err(
                    "the post_logout_redirect_uri is not one registered for this application"
                        .into(),
                );
            }
            let mut p = vec![];
            if let Some(s) = get("state") {
                p.push(("state", s));
            }
            Some(authorize::redirect_with(uri, &p))
        }
    };
    Ok(LogoutAsk {
        client,
        hinted_sub: hint
            .as_ref()
            .and_then(|c| c.get("sub"))
            .and_then(|s| s.as_str())
            .map(str::to_owned),
        back,
    })
}

/// The end-session endpoint (RP-Initiated Logout 1.0): with an `id_token_hint` for the
/// person signed in, their ssogate session ends at once (and every other application
/// hears of it by back-channel); otherwise the person is asked first, so a link on
/// another site cannot sign anyone out. Back to a registered `post_logout_redirect_uri`
/// only.
pub(crate) async fn end_session(State(app): State<App>, req: Req, uri: Uri) -> Response {
    if app.config.clients.is_empty() {
        return not_configured();
    }
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let keys = published_keys(&app)
        .await
        .map(|(k, _)| k)
        .unwrap_or_default();
    let ask = match logout_ask(&app, &keys, &pairs) {
        Ok(a) => a,
        Err(why) => return logout_refused(&app, &req, &why).await,
    };
    let session = match app.session(&req.headers).await {
        Ok(s) => s,
        Err(e) => return crate::respond::server_error(req.t, &e),
    };
    match session {
        None => found(ask.back.as_deref().unwrap_or("/logged-out")),
        Some((secret, s)) if ask.hinted_sub.as_deref() == Some(&s.user_id.0.to_string()) => {
            end_and_return(&app, &req, &secret, s.user_id, &ask).await
        }
        Some(_) => {
            // Ask: a form that posts the same request back with a CSRF token.
            let (csrf, cookie) = crate::auth::csrf_token(&app, &req.headers);
            let t = req.t;
            let mut res = crate::pages::render(
                StatusCode::OK,
                &crate::pages::MessagePage {
                    t,
                    title: t.sign_out.into(),
                    paragraphs: vec![format!(
                        "{} asks to sign you out of ssogate.",
                        ask.client
                            .as_deref()
                            .and_then(|c| app.config.clients.get(c))
                            .map_or("An application", |c| c.name.as_str())
                    )],
                    form: Some(crate::pages::FormButton {
                        action: format!(
                            "{}?{}",
                            ssogate_op::discovery::END_SESSION,
                            uri.query().unwrap_or("")
                        ),
                        csrf,
                        button: t.sign_out.into(),
                    }),
                    link: None,
                    reference: None,
                },
            );
            if let Some(c) = cookie {
                res.headers_mut().append(header::SET_COOKIE, c);
            }
            res
        }
    }
}

/// The confirmed sign-out of [`end_session`].
pub(crate) async fn end_session_confirmed(
    State(app): State<App>,
    req: Req,
    uri: Uri,
    crate::extract::CsrfForm(_): crate::extract::CsrfForm<crate::auth::TokenForm>,
) -> Response {
    if app.config.clients.is_empty() {
        return not_configured();
    }
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let keys = published_keys(&app)
        .await
        .map(|(k, _)| k)
        .unwrap_or_default();
    let ask = match logout_ask(&app, &keys, &pairs) {
        Ok(a) => a,
        Err(why) => return logout_refused(&app, &req, &why).await,
    };
    match app.session(&req.headers).await {
        Ok(Some((secret, s))) => end_and_return(&app, &req, &secret, s.user_id, &ask).await,
        Ok(None) => found(ask.back.as_deref().unwrap_or("/logged-out")),
        Err(e) => crate::respond::server_error(req.t, &e),
    }
}

async fn end_and_return(
    app: &App,
    req: &Req,
    secret: &str,
    user_id: ssogate_core::domain::UserId,
    ask: &LogoutAsk,
) -> Response {
    let s = secret.to_owned();
    if let Err(e) = app.db(move |d| d.end_session(&s)).await {
        return crate::respond::server_error(req.t, &e);
    }
    let mut ev = req.event("logout", "success", app.now());
    ev.user_id = Some(user_id);
    ev.detail = Some(format!(
        "asked by {}",
        ask.client.as_deref().unwrap_or("an application")
    ));
    app.audit(ev).await;
    let mut res = found(ask.back.as_deref().unwrap_or("/logged-out"));
    if let Some(c) = app.session_set_cookie(None) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

async fn logout_refused(app: &App, req: &Req, why: &str) -> Response {
    let mut ev = req.event("op.logout", "failure", app.now());
    ev.reason = Some("invalid_request".into());
    ev.detail = Some(why.to_owned());
    app.refused(ev, req.addr).await;
    crate::pages::message(
        req.t,
        StatusCode::BAD_REQUEST,
        req.t.err_state_title,
        &format!(
            "The application's sign-out request is not valid: {why}. You are still signed in; sign out from your account page if you meant to."
        ),
        None,
        Some("invalid_request"),
    )
}

/// The client authenticating a request to introspection or revocation, and the token it
/// asks about.
async fn client_and_token<'a>(
    app: &'a App,
    req: &Req,
    body: &[u8],
) -> Result<(&'a ssogate_op::Client, String), TokenError> {
    let form = Form(url::form_urlencoded::parse(body).into_owned().collect());
    let basic = req
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(token::basic_credentials);
    let client = token::authenticate(
        basic,
        form.get("client_id"),
        form.get("client_secret"),
        |id| app.config.clients.get(id),
    )?;
    let t = form
        .get("token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| TokenError::InvalidRequest("token is missing".into()))?;
    Ok((client, t.to_owned()))
}

/// Token introspection (RFC 7662) for the client's own tokens: another client's token
/// is `{"active": false}`, as an unknown one is.
pub(crate) async fn introspect(State(app): State<App>, req: Req, body: Bytes) -> Response {
    if app.config.clients.is_empty() {
        return not_configured();
    }
    let now = app.now();
    let (client, t) = match client_and_token(&app, &req, &body).await {
        Ok(x) => x,
        Err(e) => {
            let mut ev = req.event("op.introspect", "failure", now);
            ev.reason = Some(e.code().into());
            app.refused(ev, req.addr).await;
            return token_error(&e);
        }
    };
    let (hash, id) = (ssogate_op::digest(&t), client.id.clone());
    let found = match app.db(move |d| d.op_introspect(&hash, &id, now)).await {
        Ok(f) => f,
        Err(e) => return crate::respond::server_problem(&e),
    };
    let inactive = || {
        (
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(serde_json::json!({"active": false})),
        )
            .into_response()
    };
    let Some((grant, exp, kind)) = found else {
        return inactive();
    };
    // An account disabled since is not active either.
    match app.db(move |d| d.user(grant.user_id)).await {
        Ok(Some(u)) if u.status == UserStatus::Active => (
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(serde_json::json!({
                "active": true,
                "scope": grant.scope,
                "client_id": grant.client_id,
                "username": u.username,
                "token_type": if kind == "access_token" { "Bearer" } else { "refresh_token" },
                "exp": exp,
                "sub": u.id.0.to_string(),
                "aud": grant.client_id,
                "iss": issuer(&app),
            })),
        )
            .into_response(),
        Ok(_) => inactive(),
        Err(e) => crate::respond::server_problem(&e),
    }
}

/// Token revocation (RFC 7009): 200 whether or not the token was known (so nothing is
/// learnt); only the client's own tokens go.
pub(crate) async fn revoke(State(app): State<App>, req: Req, body: Bytes) -> Response {
    if app.config.clients.is_empty() {
        return not_configured();
    }
    let now = app.now();
    let (client, t) = match client_and_token(&app, &req, &body).await {
        Ok(x) => x,
        Err(e) => {
            let mut ev = req.event("op.revoke", "failure", now);
            ev.reason = Some(e.code().into());
            app.refused(ev, req.addr).await;
            return token_error(&e);
        }
    };
    let (hash, id) = (ssogate_op::digest(&t), client.id.clone());
    match app.db(move |d| d.op_revoke(&hash, &id)).await {
        Ok(n) => {
            if n > 0 {
                let mut ev = req.event("op.revoke", "success", now);
                ev.detail = Some(format!("client {} revoked {n} token(s)", client.id));
                app.audit(ev).await;
            }
            ([(header::CACHE_CONTROL, "no-store")], "").into_response()
        }
        Err(e) => crate::respond::server_problem(&e),
    }
}
