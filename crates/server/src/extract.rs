//! What handlers take from a request: [`Req`] (client address through trusted proxies,
//! language, headers), [`AdminSession`] (the administrator a console route serves) and
//! [`CsrfForm`] (a form whose CSRF token held).

use crate::i18n::{self, Texts};
use crate::state::App;
use crate::web;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ssogate_store::audit::NewEvent;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// What every handler wants to know about the request.
pub(crate) struct Req {
    pub headers: HeaderMap,
    pub addr: IpAddr,
    pub peer: SocketAddr,
    pub t: &'static Texts,
}

impl Req {
    pub(crate) fn from_parts(parts: &Parts, app: &App) -> Req {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)), |c| c.0);
        Req {
            addr: web::client_addr(peer, &parts.headers, &app.config.server.trusted_proxies),
            peer,
            t: i18n::texts(&parts.headers),
            headers: parts.headers.clone(),
        }
    }

    pub(crate) fn event(&self, event: &str, outcome: &str, now: i64) -> NewEvent {
        NewEvent {
            at: now,
            event: event.to_owned(),
            outcome: outcome.to_owned(),
            address: Some(self.addr.to_string()),
            user_agent: web::user_agent(&self.headers),
            ..NewEvent::default()
        }
    }
}

impl FromRequestParts<App> for Req {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        Ok(Req::from_parts(parts, app))
    }
}

/// The signed-in administrator a console request is for. Only the guard around the
/// `/admin` routes (`console::require_admin`) puts it in a request, so a handler that
/// takes it cannot be reached by anyone else — and cannot be routed outside the guard
/// without failing loudly.
#[derive(Clone)]
pub(crate) struct AdminSession {
    /// `user:NAME`, as audit events record it.
    pub actor: String,
}

impl FromRequestParts<App> for AdminSession {
    type Rejection = axum::response::Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<AdminSession>() {
            Some(a) => Ok(a.clone()),
            None => {
                tracing::error!(path = %parts.uri.path(), "a console handler is routed outside the administrator guard");
                let t = i18n::texts(&parts.headers);
                let _ = app;
                Err(crate::pages::message(
                    t,
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    t.err_server_title,
                    t.err_server_body,
                    None,
                    Some("unguarded_route"),
                ))
            }
        }
    }
}

/// A form posted with a valid CSRF token (the token field `csrf` must equal the CSRF
/// cookie, and the post must come from our own origin), read as `T`. A handler that
/// takes it cannot run for a forged form; the refusal is the "form expired" page.
pub(crate) struct CsrfForm<T>(pub T);

impl<T> axum::extract::FromRequest<App> for CsrfForm<T>
where
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = axum::response::Response;

    async fn from_request(
        request: axum::extract::Request,
        app: &App,
    ) -> Result<Self, Self::Rejection> {
        use axum::response::IntoResponse as _;
        let (parts, body) = request.into_parts();
        let req = Req::from_parts(&parts, app);
        let bytes = match axum::body::to_bytes(body, 1024 * 1024).await {
            Ok(b) => b,
            Err(_) => return Err(axum::http::StatusCode::PAYLOAD_TOO_LARGE.into_response()),
        };
        let csrf = url::form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.into_owned());
        if !web::csrf_ok(
            &parts.headers,
            app.csrf_cookie(),
            csrf.as_deref(),
            &app.base,
        ) {
            return Err(csrf_failed(app, &req));
        }
        let request = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
        axum::Form::<T>::from_request(request, app)
            .await
            .map(|axum::Form(v)| CsrfForm(v))
            .map_err(|e| e.into_response())
    }
}

/// The page a form post without its CSRF token gets (403), counted as a rejection.
pub(crate) fn csrf_failed(app: &App, req: &Req) -> axum::response::Response {
    app.metrics
        .inc("ssogate_rejections_total", &[("reason", "csrf")]);
    crate::pages::message(
        req.t,
        axum::http::StatusCode::FORBIDDEN,
        req.t.err_csrf_title,
        req.t.err_csrf_body,
        None,
        Some("csrf"),
    )
}
