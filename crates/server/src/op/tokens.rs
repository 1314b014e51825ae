//! The token endpoint (RFC 6749 4.1.3 and 6): codes and refresh tokens for tokens.

use super::*;
use ssogate_store::directory::op::{IssuedTokens, NewAccess};
use std::sync::Arc;

pub(super) fn token_error(e: &TokenError) -> Response {
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
    if !app.serves_clients() {
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
    let client = authenticate_client(app, req, &Form(pairs.clone()), now).await?;
    let client = &*client;
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

/// The client of a request to the token, introspection or revocation endpoint: by
/// HTTP Basic, `client_secret` in the form, a `client_assertion` (`private_key_jwt`),
/// or `client_id` alone for a public client — one method per request. A client
/// assertion is accepted once: its `jti` is kept until it expires.
pub(super) async fn authenticate_client(
    app: &App,
    req: &Req,
    form: &Form,
    now: i64,
) -> Result<Arc<ssogate_op::Client>, TokenError> {
    let basic = req
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(token::basic_credentials);
    let registry = app.registry();
    let find = |id: &str| registry.clients.get(id).map(|c| &**c);
    let id = match form.get("client_assertion") {
        None => token::authenticate(
            basic,
            form.get("client_id"),
            form.get("client_secret"),
            find,
        )?
        .id
        .clone(),
        Some(_) if basic.is_some() || form.get("client_secret").is_some() => {
            return Err(TokenError::InvalidRequest(
                "use one client authentication method, not two".into(),
            ));
        }
        Some(assertion) => {
            let token_endpoint = format!("{}{}", issuer(app), ssogate_op::discovery::TOKEN);
            let audiences = [token_endpoint.as_str(), issuer(app)];
            // A client that publishes its keys: those fetched (kept five minutes), and
            // once more, fresh, when they do not verify (the client rotated its keys).
            let published = token::assertion_issuer(assertion)
                .and_then(|iss| registry.clients.get(&iss).cloned())
                .filter(|c| c.jwks.is_none() && c.jwks_uri.is_some());
            let keys = match &published {
                Some(c) => client_keys(app, c, now, false).await,
                None => None,
            };
            let attempt = |keys: Option<Arc<String>>| {
                token::authenticate_assertion(
                    form.get("client_id"),
                    assertion,
                    form.get("client_assertion_type"),
                    find,
                    move |c: &ssogate_op::Client, a: &str| {
                        verify_assertion(
                            c.jwks.as_deref().or(keys.as_deref().map(String::as_str)),
                            a,
                        )
                    },
                    &audiences,
                    now,
                )
            };
            let (c, asserted) = match (attempt(keys), &published) {
                (Err(TokenError::InvalidClient { message, .. }), Some(c))
                    if message.contains("signature") =>
                {
                    attempt(client_keys(app, c, now, true).await)?
                }
                (result, _) => result?,
            };
            let (id, key) = (c.id.clone(), format!("client-assertion:{}", c.id));
            let fresh = app
                .db(move |d| d.record_logout_jti(&key, &asserted.jti, asserted.exp, now))
                .await
                .map_err(store_failed)?;
            if !fresh {
                return Err(TokenError::InvalidClient {
                    message: "the client assertion was used before (its jti is spent)".into(),
                    basic: false,
                });
            }
            id
        }
    };
    registry
        .clients
        .get(&id)
        .cloned()
        .ok_or_else(|| TokenError::InvalidClient {
            message: "unknown client".into(),
            basic: false,
        })
}

/// How long a client's published keys are kept before they are fetched again.
const CLIENT_KEYS_SECONDS: i64 = 300;
/// A refetch for keys that did not verify happens at most this often per client.
const CLIENT_KEYS_REFETCH_SECONDS: i64 = 10;

/// A `private_key_jwt` client's keys from its `jwks_uri`: the kept copy while it is
/// young enough, else fetched. `fresh`: only keys newer than the kept ones (after those
/// did not verify), and not more often than every few seconds. `None` (logged) when
/// there are none to try; the assertion is then refused.
async fn client_keys(
    app: &App,
    client: &ssogate_op::Client,
    now: i64,
    fresh: bool,
) -> Option<Arc<String>> {
    let kept = app
        .client_jwks
        .lock()
        .ok()
        .and_then(|m| m.get(&client.id).cloned());
    if let Some((keys, at)) = &kept {
        let max_age = if fresh {
            CLIENT_KEYS_REFETCH_SECONDS
        } else {
            CLIENT_KEYS_SECONDS
        };
        if now - at < max_age {
            return (!fresh).then(|| keys.clone());
        }
    }
    let uri = client.jwks_uri.as_deref()?;
    let http = app
        .outbound_http()
        .map_err(|e| tracing::warn!(client = %client.id, error = %e, "the client's keys cannot be fetched"))
        .ok()?;
    let fetched = async {
        let r = http.get(uri).send().await.map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("HTTP {}", r.status()));
        }
        r.text().await.map_err(|e| e.to_string())
    }
    .await;
    match fetched {
        Ok(text) => {
            let keys = Arc::new(text);
            if let Ok(mut m) = app.client_jwks.lock() {
                m.insert(client.id.clone(), (keys.clone(), now));
            }
            Some(keys)
        }
        Err(e) => {
            tracing::warn!(client = %client.id, uri, error = %e, "the client's published keys could not be fetched");
            kept.map(|(k, _)| k).filter(|_| !fresh)
        }
    }
}

/// A client assertion's claims when its signature verifies with one of `jwks` — by the
/// relying party's JOSE checks (an asymmetric algorithm only: never `none`, never HMAC;
/// the key's own algorithm; no critical extension).
fn verify_assertion(
    jwks: Option<&str>,
    assertion: &str,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    use ssogate_oidc::jose::{Algorithm, Jws, KeySet};
    let keys = KeySet::from_jwks(jwks?.as_bytes(), &Algorithm::ASYMMETRIC, true).ok()?;
    let jws = Jws::parse(assertion).ok()?;
    jws.verify(&keys, &Algorithm::ASYMMETRIC, None).ok()?;
    Some(jws.claims)
}

/// A token request's form.
pub(super) struct Form(pub(super) Vec<(String, String)>);

impl Form {
    pub(super) fn get(&self, k: &str) -> Option<&str> {
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
    // Read (code and account) on the readers; sign; then redeem and keep the tokens in
    // one write: one trip to the single writer per exchange.
    let h = code_hash.clone();
    let (peeked, user) = app
        .db(move |d| {
            let p = d.op_peek_code(&h, now)?;
            let u = match &p {
                Some(p) => d.user(p.user_id)?,
                None => None,
            };
            Ok((p, u))
        })
        .await
        .map_err(store_failed)?;
    let Some(p) = peeked else {
        // Unknown, expired, or used before: using it up tells which, and a replay
        // revokes what the code earned.
        let h = code_hash.clone();
        let redeemed = app
            .db(move |d| d.op_redeem_code(&h, now))
            .await
            .map_err(store_failed)?;
        return Err(refused_code(app, req, redeemed, now).await);
    };
    let checked = serde_json::from_str::<Authorization>(&p.grant_json)
        .map_err(|_| TokenError::InvalidGrant("the code's record is unreadable".into()))
        .and_then(|granted| {
            token::check_code(
                &granted,
                client,
                form.get("redirect_uri"),
                form.get("code_verifier"),
            )?;
            Ok(granted)
        })
        .and_then(|granted| {
            user.filter(|u| u.status == UserStatus::Active)
                .map(|u| (granted, u))
                .ok_or_else(|| TokenError::InvalidGrant("the account is not active".into()))
        });
    let (granted, user) = match checked {
        Ok(ok) => ok,
        Err(e) => {
            // A failed redemption uses the code up all the same.
            let h = code_hash.clone();
            app.db(move |d| d.op_redeem_code(&h, now))
                .await
                .map_err(store_failed)?;
            return Err(e);
        }
    };
    let prepared = prepare(
        app,
        req,
        client,
        Issue {
            user,
            granted,
            auth_time: p.auth_time,
            sid: p.sid,
            family: code_hash.clone(),
            nonce: true,
        },
        now,
    )
    .await?;
    let issued = prepared.issued;
    let redeemed = app
        .db(move |d| d.op_exchange(&code_hash, now, issued))
        .await
        .map_err(store_failed)?;
    match redeemed {
        Redeemed::Fresh { .. } => Ok(prepared.response),
        // Used by a racing request between the read and the write: nothing was issued.
        other => Err(refused_code(app, req, other, now).await),
    }
}

/// The refusal of a code that was not fresh, audited when it was a replay.
async fn refused_code(app: &App, req: &Req, redeemed: Redeemed, now: i64) -> TokenError {
    match redeemed {
        Redeemed::Replayed { client_id, revoked } => {
            let mut ev = req.event("op.code_replayed", "failure", now);
            ev.reason = Some("code_replayed".into());
            ev.detail = Some(format!(
                "client {client_id} presented a used code; {revoked} token(s) it earned revoked"
            ));
            app.audit(ev).await;
            TokenError::InvalidGrant("the code was used before".into())
        }
        Redeemed::Unknown | Redeemed::Fresh { .. } => {
            TokenError::InvalidGrant("the code is unknown or expired".into())
        }
    }
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
    let user_id = r.user_id;
    let user = app
        .db(move |d| d.user(user_id))
        .await
        .map_err(store_failed)?
        .filter(|u| u.status == UserStatus::Active)
        .ok_or_else(|| TokenError::InvalidGrant("the account is not active".into()))?;
    let prepared = prepare(
        app,
        req,
        client,
        Issue {
            user,
            granted,
            auth_time: r.auth_time,
            sid: r.sid,
            family: r.family,
            nonce: false,
        },
        now,
    )
    .await?;
    let issued = prepared.issued;
    app.db(move |d| d.op_issue(issued))
        .await
        .map_err(store_failed)?;
    Ok(prepared.response)
}

/// What the tokens are issued for.
struct Issue {
    /// The account, active.
    user: ssogate_core::directory::ExistingUser,
    granted: Authorization,
    auth_time: i64,
    sid: Option<String>,
    /// The digest of the code the tokens descend from.
    family: String,
    /// The first ID token of a sign-in carries the request's nonce; refreshed ones not
    /// (Core 12.2).
    nonce: bool,
}

/// A token response made and signed, and what it writes (the caller writes it).
struct Prepared {
    issued: IssuedTokens,
    response: Response,
}

async fn prepare(
    app: &App,
    req: &Req,
    client: &ssogate_op::Client,
    i: Issue,
    now: i64,
) -> Result<Prepared, TokenError> {
    let Issue {
        user,
        mut granted,
        auth_time,
        sid,
        family,
        nonce,
    } = i;
    let user_id = user.id;
    let key = signing_key(app, client.alg).await.map_err(|e| {
        tracing::error!(error = %e, "no signing key");
        TokenError::Unavailable(e)
    })?;
    let random =
        || ssogate_op::random_token(32).map_err(|e| TokenError::Unavailable(e.to_string()));
    let scope = granted.scopes.join(" ");
    let mut subject_of = person(&user);
    subject_of.sub = super::subject(app, client, user_id)
        .await
        .map_err(store_failed)?;
    let access = if client.jwt_access_tokens {
        let claims = claims::access_token(
            &subject_of.sub,
            &granted,
            &ssogate_op::claims::AccessIssued {
                issuer: issuer(app),
                now,
                lifetime: client.access_token_seconds,
                auth_time,
                jti: &random()?,
            },
        );
        key.sign_typed(&claims, "at+jwt")
            .map_err(|e| TokenError::Unavailable(e.to_string()))?
    } else {
        random()?
    };
    let refresh_token = if client.refresh_token_seconds > 0 {
        Some(random()?)
    } else {
        None
    };
    let issued = IssuedTokens {
        access: NewAccess {
            token_hash: ssogate_op::digest(&access),
            family: family.clone(),
            grant: TokenGrant {
                client_id: client.id.clone(),
                user_id,
                scope: scope.clone(),
            },
            sid: sid.clone(),
            now,
            expires_at: now + client.access_token_seconds,
        },
        refresh: refresh_token.as_ref().map(|t| NewRefresh {
            token_hash: ssogate_op::digest(t),
            family,
            client_id: client.id.clone(),
            user_id,
            grant_json: serde_json::to_string(&granted).unwrap_or_default(),
            auth_time,
            sid: sid.clone(),
            expires_at: now + client.refresh_token_seconds,
        }),
        // Written with the tokens: one trip to the directory for the whole response.
        event: Some({
            let mut ev = req.event("op.token", "success", now);
            ev.user_id = Some(user_id);
            ev.detail = Some(format!("client {}", client.id));
            ev
        }),
    };
    let expires_in = client.access_token_seconds;
    if !nonce {
        granted.nonce = None;
    }
    client.shape.filter(&mut subject_of);
    let mut claims = claims::id_token(
        &subject_of,
        &granted,
        &Issued {
            issuer: issuer(app),
            now,
            auth_time,
            sid: sid.as_deref(),
            lifetime: client.id_token_seconds,
            access_token: &access,
            alg: key.alg,
        },
    );
    if let Some(c) = claims.as_object_mut() {
        client.shape.rename(c);
    }
    let id_token = key
        .sign(&claims)
        .map_err(|e| TokenError::Unavailable(e.to_string()))?;
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
    Ok(Prepared {
        issued,
        response: (
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::PRAGMA, "no-cache"),
            ],
            axum::Json(body),
        )
            .into_response(),
    })
}
