//! What an access or refresh token is good for: userinfo (Core 5.3), introspection
//! (RFC 7662), revocation (RFC 7009).

use super::tokens::{Form, token_error};
use super::*;
use crate::cache::CachedToken;
use crate::cache::Miss;
use std::sync::Arc;

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
    if !app.serves_clients() {
        return not_configured();
    }
    let now = app.now();
    let Some(token) = crate::web::bearer_token(&req.headers) else {
        return invalid_token("an access token is required (Authorization: Bearer)");
    };
    let hash = ssogate_op::digest(token);
    let found = match app.tokens.live(&hash, now) {
        Some(hit) => Some(hit),
        None => match load_token(&app, hash, now).await {
            Ok(found) => found,
            Err(e) => return crate::respond::server_problem(&e),
        },
    };
    let Some(found) = found else {
        let mut ev = req.event("op.userinfo", "failure", now);
        ev.reason = Some("invalid_token".into());
        app.refused(ev, req.addr).await;
        return invalid_token("the access token is unknown or expired");
    };
    if found.user.status != UserStatus::Active {
        return invalid_token("the account is not active");
    }
    // A token of a client no longer registered (removed from the file, say) is good
    // for nothing: its claims could not be shaped as that client was promised.
    let Some(client) = app.client(&found.client_id) else {
        return invalid_token("the client this token was issued to is no longer registered");
    };
    let mut p = person(&found.user);
    p.sub = match super::subject(&app, &client, found.user_id).await {
        Ok(s) => s,
        Err(e) => return crate::respond::server_problem(&e),
    };
    client.shape.filter(&mut p);
    let scopes = &found.scopes;
    let mut released = claims::released(&p, scopes);
    client.shape.rename(&mut released);
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(released)).into_response()
}

/// The token and its account in one trip to the directory, kept in memory until the
/// token expires or a revocation, a change to the account or a client's removal says
/// otherwise (the store names each).
async fn load_token(
    app: &App,
    hash: String,
    now: i64,
) -> Result<Option<Arc<CachedToken>>, ssogate_store::StoreError> {
    let reading = match app.tokens.after_miss(&hash, now).await {
        Miss::Found(hit) => return Ok(Some(hit)),
        Miss::Absent => return Ok(None),
        Miss::Read(reading) => reading,
    };
    app.metrics
        .inc("ssogate_cache_loads_total", &[("cache", "tokens")]);
    let key = hash.clone();
    let found = app
        .db(move |d| match d.op_token(&key, now)? {
            Some((g, expires_at)) => Ok(d.user(g.user_id)?.map(|u| (g, expires_at, u))),
            None => Ok(None),
        })
        .await?;
    let Some((grant, expires_at, user)) = found else {
        reading.found_nothing();
        return Ok(None);
    };
    let entry = Arc::new(CachedToken {
        client_id: grant.client_id,
        user_id: grant.user_id,
        scopes: grant.scope.split(' ').map(str::to_owned).collect(),
        expires_at,
        user: Arc::new(user),
    });
    app.tokens.insert(hash, entry.clone(), reading.seen, now);
    drop(reading);
    Ok(Some(entry))
}

/// The client authenticating a request to introspection or revocation, and the token it
/// asks about.
async fn client_and_token(
    app: &App,
    req: &Req,
    body: &[u8],
) -> Result<(Arc<ssogate_op::Client>, String), TokenError> {
    let form = Form(url::form_urlencoded::parse(body).into_owned().collect());
    let client = super::tokens::authenticate_client(app, req, &form, app.now()).await?;
    let t = form
        .get("token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| TokenError::InvalidRequest("token is missing".into()))?;
    Ok((client, t.to_owned()))
}

/// Token introspection (RFC 7662) for the client's own tokens: another client's token
/// is `{"active": false}`, as an unknown one is.
pub(crate) async fn introspect(State(app): State<App>, req: Req, body: Bytes) -> Response {
    if !app.serves_clients() {
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
    let sub = match app.client(&grant.client_id) {
        Some(c) => match super::subject(&app, &c, grant.user_id).await {
            Ok(s) => s,
            Err(e) => return crate::respond::server_problem(&e),
        },
        None => grant.user_id.0.to_string(),
    };
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
                "sub": sub,
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
    if !app.serves_clients() {
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
