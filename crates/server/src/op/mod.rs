//! ssogate as an OpenID Provider for the applications in `[clients.<id>]`: discovery,
//! JWKS, the authorization endpoint (the person signs in to ssogate — through any
//! upstream provider or a password — and comes back), the token endpoint and userinfo.
//! The protocol is `ssogate_op`'s; this module holds the routes, the session, the
//! directory calls and the audit trail. Answered only when a client is configured.
//!
//! Rooms: [`authorization`] (the authorization endpoint), [`tokens`] (codes and refresh
//! tokens for tokens), [`access`] (userinfo, introspection, revocation), [`logout`]
//! (RP-initiated and back-channel logout); here the keys, discovery and JWKS.

mod access;
mod authorization;
mod logout;
mod tokens;

pub(crate) use access::{introspect, revoke, userinfo};
pub(crate) use authorization::authorize;
pub(crate) use logout::{continue_logout, deliver_logouts, end_session, end_session_confirmed};
pub(crate) use tokens::token;

use crate::extract::Req;
use crate::respond::json_error;
use crate::state::App;
use crate::web;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use ssogate_core::directory::ExistingUser;
use ssogate_core::domain::{GrantKind, UserStatus};
use ssogate_op::authorize::{self, Authorization, AuthorizeError};
use ssogate_op::claims::{self, Issued, Person};
use ssogate_op::keys::{Alg, SigningKey};
use ssogate_op::token::{self, TokenError};
use ssogate_store::directory::op::{
    NewCode, NewRefresh, Redeemed, Refreshed, StoredKey, TokenGrant,
};
use std::collections::BTreeMap;
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

fn parse_key(app: &App, k: &StoredKey) -> Result<SigningKey, String> {
    let alg = Alg::parse(&k.alg)
        .ok_or_else(|| format!("a stored signing key has an unknown algorithm {}", k.alg))?;
    ssogate_op::keys::from_stored(app.op_wrap.as_ref(), alg, &k.kid, &k.private_key)
        .map_err(|e| e.to_string())
}

/// The algorithms signing now: RS256 always (the default, and what discovery promises
/// first), and each client's choice.
fn algs_in_use(app: &App) -> std::collections::BTreeSet<Alg> {
    std::iter::once(Alg::RS256)
        .chain(app.registry().clients.values().map(|c| c.alg))
        .collect()
}

/// The keys published now, and for each algorithm the one that signs (the last
/// activated). An algorithm in use without a key gets one here: the first instance to
/// need it makes it, and whichever insert wins is used by all.
async fn published_keys(app: &App) -> Result<(Vec<Arc<SigningKey>>, BTreeMap<Alg, usize>), String> {
    if let Some(keys) = &app.op_file_keys {
        // The operator's files: the first of each algorithm signs.
        let mut signers = BTreeMap::new();
        for (i, k) in keys.iter().enumerate() {
            signers.entry(k.alg).or_insert(i);
        }
        return Ok((keys.clone(), signers));
    }
    let now = app.now();
    let mut stored = app
        .db(move |d| d.op_keys(now))
        .await
        .map_err(|e| e.to_string())?;
    let missing: Vec<Alg> = algs_in_use(app)
        .into_iter()
        .filter(|a| !stored.iter().any(|k| k.alg == a.as_str()))
        .collect();
    for alg in &missing {
        let alg = *alg;
        let fresh = tokio::task::spawn_blocking(move || SigningKey::generate_for(alg))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let first = StoredKey {
            kid: fresh.kid.clone(),
            alg: alg.as_str().into(),
            private_key: ssogate_op::keys::stored_text(app.op_wrap.as_ref(), &fresh)
                .map_err(|e| e.to_string())?,
            created_at: now,
            activates_at: 0,
            retired_at: None,
        };
        app.db(move |d| d.op_add_first_key(first))
            .await
            .map_err(|e| e.to_string())?;
    }
    if !missing.is_empty() {
        stored = app
            .db(move |d| d.op_keys(now))
            .await
            .map_err(|e| e.to_string())?;
    }
    let keys = stored
        .iter()
        .map(|k| parse_key(app, k).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()?;
    let mut signers = BTreeMap::new();
    for alg in Alg::ALL {
        let of_alg = |k: &&StoredKey| k.alg == alg.as_str();
        // (Should every key be still to come, the earliest signs rather than nothing.)
        let pick = stored
            .iter()
            .enumerate()
            .filter(|(_, k)| of_alg(k))
            .rfind(|(_, k)| k.activates_at <= now)
            .or_else(|| stored.iter().enumerate().find(|(_, k)| of_alg(k)))
            .map(|(i, _)| i);
        if let Some(i) = pick {
            signers.insert(alg, i);
        }
    }
    Ok((keys, signers))
}

/// The `sub` `client` is given for an account: its id, or (pairwise clients) a value of
/// the client's sector keyed with the salt every instance shares.
pub(crate) async fn subject(
    app: &App,
    client: &ssogate_op::client::Client,
    user: ssogate_core::domain::UserId,
) -> Result<String, ssogate_store::StoreError> {
    let local = user.0.to_string();
    if client.subject == ssogate_op::client::Subject::Public {
        return Ok(local);
    }
    let salt = match app.op_salt.get() {
        Some(s) => s.clone(),
        None => {
            let fresh = ssogate_op::random_token(32)
                .map_err(|e| ssogate_store::StoreError::Corrupt(e.to_string()))?;
            let kept = app
                .db(move |d| d.op_secret("pairwise_salt", &fresh))
                .await?
                .into_bytes();
            app.op_salt.get_or_init(|| kept).clone()
        }
    };
    Ok(client.sub(&local, &salt))
}

/// The key that signs with `alg` now, shared by every instance, read from the directory
/// (made there once).
async fn signing_key(app: &App, alg: Alg) -> Result<Arc<SigningKey>, String> {
    let now = app.now();
    if let Ok(guard) = app.op_key.read()
        && let Some((k, at)) = guard.get(&alg)
        && now - at < KEY_CACHE_SECONDS
    {
        return Ok(k.clone());
    }
    let (keys, signers) = published_keys(app).await?;
    let key = signers
        .get(&alg)
        .and_then(|&i| keys.get(i))
        .cloned()
        .ok_or_else(|| match &app.op_file_keys {
            Some(_) => {
                format!("no {alg} signing key: add a {alg} key to [server] signing_key_files")
            }
            None => format!("no {alg} signing key"),
        })?;
    if let Ok(mut guard) = app.op_key.write() {
        guard.insert(alg, (key.clone(), now));
    }
    Ok(key)
}

pub(crate) async fn discovery(State(app): State<App>) -> Response {
    if !app.serves_clients() {
        return not_configured();
    }
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(ssogate_op::discovery::document(issuer(&app))),
    )
        .into_response()
}

pub(crate) async fn jwks(State(app): State<App>) -> Response {
    if !app.serves_clients() {
        return not_configured();
    }
    match published_keys(&app).await {
        Ok((keys, _)) => (
            [(header::CACHE_CONTROL, "public, max-age=300")],
            axum::Json(ssogate_op::keys::jwks(
                &keys.iter().map(AsRef::as_ref).collect::<Vec<_>>(),
            )),
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

/// The person's account as claims see it (the console's preview too).
pub(crate) fn person(u: &ExistingUser) -> Person {
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
