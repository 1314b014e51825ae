//! What handlers take from a request: [`Req`] (client address through trusted proxies,
//! language, headers) and [`AdminSession`] (the administrator a console route serves).

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
