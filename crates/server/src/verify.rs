//! Forward-auth: `GET /auth/verify` answers a reverse proxy (nginx `auth_request`,
//! Traefik `forwardAuth`, Caddy `forward_auth`) with the signed-in person's identity
//! headers, or says where to sign in.

use crate::app::{App, Req, json_error, server_error};
use crate::pages::{self, WhoamiPage};
use crate::web;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ssogate_core::directory::ExistingUser;
use ssogate_core::domain::GrantKind;

/// The identity headers for an account, names as configured, values encoded.
pub(crate) fn identity_headers(app: &App, user: &ExistingUser) -> Vec<(String, String)> {
    let names = &app.config.server.headers;
    let of = |kind: GrantKind| {
        let mut v: Vec<&str> = user
            .grants
            .iter()
            .filter(|g| g.kind == kind)
            .map(|g| g.name.as_str())
            .collect();
        v.sort_unstable();
        v.dedup();
        web::header_list(v.into_iter())
    };
    vec![
        (names.user.clone(), web::header_value(&user.username)),
        (
            names.email.clone(),
            web::header_value(user.email.as_deref().unwrap_or("")),
        ),
        (
            names.name.clone(),
            web::header_value(user.display_name.as_deref().unwrap_or(&user.username)),
        ),
        (names.groups.clone(), of(GrantKind::Group)),
        (names.permissions.clone(), of(GrantKind::Permission)),
        (names.libraries.clone(), of(GrantKind::Library)),
    ]
}

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

pub(crate) async fn verify(
    State(app): State<App>,
    req: Req,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let session = match app.cached_session(&req.headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return unauthenticated(&app, &req, &q),
        Err(e) => return server_error(req.t, &e),
    };
    let user = &session.user;
    for (key, want) in &q {
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
    let mut res = (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response();
    for (name, value) in &session.headers {
        res.headers_mut().insert(name.clone(), value.clone());
    }
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
pub(crate) async fn whoami(State(app): State<App>, req: Req) -> Response {
    let user = match app.session(&req.headers).await {
        Ok(Some((_, s))) => {
            let id = s.user_id;
            match app.db(move |d| d.user(id)).await {
                Ok(u) => u,
                Err(e) => return server_error(req.t, &e),
            }
        }
        Ok(None) => None,
        Err(e) => return server_error(req.t, &e),
    };
    let Some(user) = user else {
        return web::redirect(StatusCode::FOUND, "/login?return_to=%2Fdemo%2Fwhoami");
    };
    let (csrf, cookie) = crate::auth::csrf_token(&app, &req.headers);
    let mut res = pages::render(
        StatusCode::OK,
        &WhoamiPage {
            t: req.t,
            headers: identity_headers(&app, &user),
            people: app.demo_people.clone().unwrap_or_default(),
            csrf,
        },
    );
    if let Some(c) = cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}
