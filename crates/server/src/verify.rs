//! Forward-auth: `GET /auth/verify` answers a reverse proxy (nginx `auth_request`,
//! Traefik `forwardAuth`, Caddy `forward_auth`) with the signed-in person's identity
//! headers, or says where to sign in.

use crate::cache::CachedSession;
use crate::cache::Miss;
use crate::extract::Req;
use crate::pages::{self, WhoamiPage};
use crate::respond::{OrPage, PageResult, json_error, server_error, server_problem};
use crate::state::App;
use crate::web;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use ssogate_core::domain::GrantKind;
use std::sync::Arc;

/// The URL the person asked for, from a trusted proxy's headers: Traefik and Caddy send
/// `X-Forwarded-Proto`/`-Host`/`-Uri`; for nginx set `X-Original-URL`.
fn original_url(app: &App, req: &Req) -> Option<String> {
    if !web::is_trusted(req.peer.ip(), &app.config.server.trusted_proxies) {
        return None;
    }
    let h = |n: &str| req.headers.get(n).and_then(|v| v.to_str().ok());
    if let Some(u) = h("x-original-url") {
        return Some(u.to_owned());
    }
    let host = h("x-forwarded-host")?;
    let proto = h("x-forwarded-proto").unwrap_or("https");
    let uri = h("x-forwarded-uri").unwrap_or("/");
    Some(format!("{proto}://{host}{uri}"))
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// The hot path: takes the request whole (no header copy), and builds the per-request
/// context (`Req`) only on the slow paths that need it.
pub(crate) async fn verify(State(app): State<App>, request: axum::extract::Request) -> Response {
    let (parts, _) = request.into_parts();
    let q = query(&parts.uri);
    // With no provider accepting bearer tokens the header is not ours: applications
    // behind the proxy send their own tokens, and the session cookie decides.
    let bearer = web::bearer_token(&parts.headers).filter(|_| app.accepts_bearer());
    let found = match bearer {
        Some(token) => match bearer_session(&app, &parts, token).await {
            Ok(s) => Ok(Some(s)),
            Err(refusal) => return refusal,
        },
        None => app.cached_session(&parts.headers).await,
    };
    let session = match found {
        Ok(Some(s)) => s,
        Ok(None) => return unauthenticated(&app, &Req::from_parts(&parts, &app), &q),
        Err(e) if wants_html(&parts.headers) => {
            return server_error(Req::from_parts(&parts, &app).t, &e);
        }
        Err(e) => return server_problem(&e),
    };
    answer(&app, &session, &q)
}

/// The answer for a session or bearer token held in memory, without waiting for
/// anything: `None` sends the request the whole way ([`verify`]) — no cookie, a miss.
pub(crate) fn at_once(app: &App, request: &axum::extract::Request) -> Option<Response> {
    let session = match web::bearer_token(request.headers()).filter(|_| app.accepts_bearer()) {
        Some(token) => app.cache.live(bearer_key(token).as_str(), app.now())?,
        None => app.cached_session_now(request.headers())?,
    };
    Some(answer(app, &session, &query(request.uri())))
}

/// Where a validated bearer token is kept with the sessions (its digest, marked apart).
fn bearer_key(token: &str) -> ssogate_store::sessions::Digest {
    ssogate_store::sessions::Digest::prefixed("b:", token)
}

/// The query's pairs (`permission=`, `library=`, `group=`, `redirect=`).
fn query(uri: &axum::http::Uri) -> Vec<(String, String)> {
    uri.query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

/// 200 with the identity headers, or 403 when the session lacks what the query requires.
fn answer(app: &App, session: &CachedSession, q: &[(String, String)]) -> Response {
    let user = &session.user;
    for (key, want) in q {
        let kind = match key.as_str() {
            "permission" => GrantKind::Permission,
            "library" => GrantKind::Library,
            "group" => GrantKind::Group,
            _ => continue,
        };
        if !user
            .grants
            .iter()
            .any(|g| g.kind == kind && &g.name == want)
        {
            app.metrics.inc(
                "ssogate_rejections_total",
                &[("reason", "forward_auth_requirement")],
            );
            return json_error(
                StatusCode::FORBIDDEN,
                "insufficient_access",
                &format!("this resource needs the {key} \"{want}\""),
            );
        }
    }
    // The answer kept with the session, sealed in advance: the only 200 forward-auth
    // gives (see `middleware::verified`).
    let mut res = Response::new(axum::body::Body::empty());
    *res.headers_mut() = session.headers.clone();
    res
}

/// 401 for API clients and for nginx (`?redirect=false`, since `auth_request` only
/// understands 2xx, 401 and 403); browsers behind Traefik or Caddy get a redirect to
/// the login page that brings them back.
fn unauthenticated(app: &App, req: &Req, q: &[(String, String)]) -> Response {
    let no_redirect = q.iter().any(|(k, v)| k == "redirect" && v == "false");
    if !no_redirect && wants_html(&req.headers) {
        let back = original_url(app, req).unwrap_or_default();
        let back = app.return_to(Some(&back));
        let qs: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", &back)
            .finish();
        return web::redirect(
            StatusCode::FOUND,
            &format!("{}/login?{qs}", app.config.base_url),
        );
    }
    let mut res = json_error(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "no valid session; sign in first",
    );
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Cookie realm=\"ssogate\""),
    );
    res
}

/// The demo's stand-in for a proxied application.
pub(crate) async fn whoami(State(app): State<App>, req: Req) -> PageResult {
    let Some(session) = app.cached_session(&req.headers).await.or_page(&req)? else {
        let to_login = "/login?return_to=%2Fdemo%2Fwhoami";
        return Ok(web::redirect(StatusCode::FOUND, to_login));
    };
    let (csrf, cookie) = crate::auth::csrf_token(&app, &req.headers);
    let mut res = pages::render(
        StatusCode::OK,
        &WhoamiPage {
            t: req.t,
            // The configured spelling of the names (the cached ones are lower-case).
            headers: crate::session::identity_headers(
                &app,
                &session.user,
                session.provider.as_deref(),
            ),
            people: app.demo_people.clone().unwrap_or_default(),
            csrf,
        },
    );
    if let Some(c) = cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(res)
}

fn bearer_refused(error: &str, description: &str, status: StatusCode) -> Response {
    let mut res = json_error(status, error, description);
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer realm=\"ssogate\", error=\"{error}\"")) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    res
}

/// A provider-issued access token: validated by the first provider whose `bearer` mode
/// accepts it (each caches what it validated), then the account of that identity; the
/// result is kept with the sessions until the token expires. Bearer tokens never
/// provision: the account must exist (it was created at a browser sign-in, or
/// pre-provisioned).
async fn bearer_session(
    app: &App,
    parts: &axum::http::request::Parts,
    token: &str,
) -> Result<Arc<CachedSession>, Response> {
    let key = bearer_key(token).as_str().to_owned();
    let now = app.now();
    if let Some(hit) = app.cache.live(&key, now) {
        return Ok(hit);
    }
    let reading = match app.cache.after_miss(&key, now).await {
        Miss::Found(hit) => return Ok(hit),
        Miss::Read(reading) => reading,
        // A refused token is refused by each request itself (no directory read): this
        // read never says it found nothing.
        Miss::Absent => app.cache.reading(),
    };
    app.metrics
        .inc("ssogate_cache_loads_total", &[("cache", "bearer")]);
    let mut last = None;
    let mut identity = None;
    for p in app.registry().bearer_providers() {
        match p.rp.bearer(token).await {
            Ok(i) => {
                identity = Some(i);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let Some(identity) = identity else {
        let reason = last.as_ref().map_or("bearer_disabled", |e| e.code());
        app.metrics
            .inc("ssogate_rejections_total", &[("reason", reason)]);
        let req = Req::from_parts(parts, app);
        let mut ev = req.event("bearer.rejected", "failure", now);
        ev.reason = Some(reason.to_owned());
        ev.detail = last.as_ref().map(ToString::to_string);
        app.refused(ev, req.addr).await;
        return Err(bearer_refused(
            "invalid_token",
            "the bearer token is not valid here",
            StatusCode::UNAUTHORIZED,
        ));
    };
    let (provider, subject) = (identity.provider.clone(), identity.subject.clone());
    let user = match app
        .db(move |d| d.user_by_identity(&provider, &subject))
        .await
    {
        Ok(Some(u)) => u,
        Ok(None) => {
            app.metrics.inc(
                "ssogate_rejections_total",
                &[("reason", "bearer_no_account")],
            );
            return Err(bearer_refused(
                "insufficient_scope",
                "no account is linked to this token's subject; sign in once in a browser",
                StatusCode::FORBIDDEN,
            ));
        }
        Err(e) => return Err(server_problem(&e)),
    };
    let user_id = user.id;
    if user.status != ssogate_core::domain::UserStatus::Active {
        return Err(bearer_refused(
            "invalid_token",
            "the account is not active",
            StatusCode::FORBIDDEN,
        ));
    }
    let entry = Arc::new(CachedSession {
        user_id,
        expires_at: identity.expires_at,
        // A token has no idle deadline; its expiry is the bound.
        idle: i64::MAX / 4,
        touched_at: std::sync::atomic::AtomicI64::new(now),
        headers: crate::session::answer_headers(app, &user, Some(&identity.provider)),
        provider: Some(identity.provider.clone()),
        user: Arc::new(user),
    });
    app.cache.insert(key, entry.clone(), reading.seen, now);
    drop(reading);
    Ok(entry)
}
