//! ssogate-server: the HTTP surface. Login page, `/auth/{slug}/start` and `/callback`
//! (the whole pipeline: relying party → claims → engine → one directory transaction →
//! session), local password login, logout (RP-initiated and back-channel), forward-auth
//! `verify` (sessions and bearer tokens, from a cache the directory keeps correct), the
//! account page (link / unlink), the administrators' console (`/admin`), the REST API
//! (`/api/v1`, OpenAPI at `/api/openapi.json`), health, readiness and metrics — and the
//! development provider that only `ssogate demo` starts.
//!
//! It is the only crate that knows requests, cookies and pages. It must not know SQL
//! (it holds a `dyn Directory`) nor token formats (the relying party hands it verified
//! claims); provisioning decisions are the core's, administrative operations
//! `ssogate-admin`'s.

mod account;
mod api;
mod auth;
mod cache;
mod console;
pub mod devidp;
mod extract;
mod hashing;
mod hooks;
mod i18n;
pub mod lifecycle;
mod metrics;
mod middleware;
mod op;
mod ops;
mod pages;
mod password;
mod ratelimit;
mod refusals;
pub mod registry;
mod respond;
mod routes;
mod scim;
mod session;
mod state;
mod verify;
mod web;
mod webhooks;

pub use routes::router;
pub use state::{App, AppError, AppOptions};
pub use web::safe_return_to;

/// Serves `app` on `listener` until `shutdown` resolves, then finishes the requests in
/// flight.
pub async fn serve(
    app: App,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Refusal summaries are written when their minute is up, and at shutdown.
    let sweeper = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
            loop {
                tick.tick().await;
                app.record_refusal_summaries(false).await;
            }
        })
    };
    // Back-channel logouts to downstream applications, sent by whichever instance claims
    // them first; a second's delay at most, and nothing to do without clients.
    let logouts = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut n: u64 = 0;
            loop {
                tick.tick().await;
                crate::op::deliver_logouts(&app).await;
                // The lifecycle lease is looked at once a minute (it says when to run).
                if n.is_multiple_of(60) {
                    crate::lifecycle::scheduled(&app).await;
                }
                n += 1;
            }
        })
    };
    // Webhooks out, on their own loop: a slow receiver holds up neither logouts nor
    // the lifecycle.
    let webhooks = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                crate::webhooks::deliver(&app).await;
            }
        })
    };
    let served = axum::serve(listener, routes::Doors::new(app.clone()))
        .with_graceful_shutdown(shutdown)
        .await;
    sweeper.abort();
    logouts.abort();
    webhooks.abort();
    app.record_refusal_summaries(true).await;
    served
}
