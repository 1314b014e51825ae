//! Health, readiness, metrics, the public provider list, static files, 404.

use crate::extract::Req;
use crate::i18n::with_name;
use crate::pages::{self, Link};
use crate::state::App;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

pub(crate) async fn healthz() -> Response {
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        "ok\n",
    )
        .into_response()
}

/// Ready when the directory answers and every provider's discovery and keys load.
pub(crate) async fn readyz(State(app): State<App>) -> Response {
    let mut problems = Vec::new();
    if let Err(e) = app.db(|d| d.ping()).await {
        problems.push(format!("database: {e}"));
    }
    for (slug, p) in app.registry().providers.iter() {
        if let Err(e) = p.rp.metadata().await {
            problems.push(format!("provider {slug}: {e}"));
        } else if let Err(e) = p.rp.keys().await {
            problems.push(format!("provider {slug} keys: {e}"));
        }
    }
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({"ready": problems.is_empty(), "problems": problems})),
    )
        .into_response()
}

pub(crate) async fn metrics(State(app): State<App>) -> Response {
    let jwks: Vec<(String, u64)> = app
        .registry()
        .providers
        .iter()
        .map(|(s, p)| (s.clone(), p.rp.jwks_fetches()))
        .collect();
    let mut text = app.metrics.render(&jwks);
    let checks = &app.hashing.counts;
    for (name, help, value) in [
        (
            "ssogate_reloads_requested_total",
            "Provider and settings rebuilds asked for by change notifications.",
            &app.reloads_requested,
        ),
        (
            "ssogate_reloads_total",
            "Provider and settings rebuilds done (bursts of notifications coalesce).",
            &app.reloads_done,
        ),
        (
            "ssogate_password_checks_waited_total",
            "Password checks that waited for the machine to have a CPU to spare (no task kept waiting), then ran.",
            &checks.waited,
        ),
        (
            "ssogate_password_checks_ran_busy_total",
            "Password checks that ran after waiting their longest on a machine that stayed busy.",
            &checks.ran_busy,
        ),
        (
            "ssogate_password_checks_abandoned_total",
            "Password checks not run because the request that asked was gone.",
            &checks.abandoned,
        ),
    ] {
        let value = value.load(std::sync::atomic::Ordering::Relaxed);
        text.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
        ));
    }
    let name = "ssogate_cache_invalidations_total";
    text.push_str(&format!(
        "# HELP {name} Change notifications each cache heard (each clears what it names, and a directory read under way when one arrives is not kept).\n# TYPE {name} counter\n"
    ));
    for (cache, heard) in [
        ("sessions", app.cache.generation()),
        ("tokens", app.tokens.generation()),
    ] {
        text.push_str(&format!("{name}{{cache=\"{cache}\"}} {heard}\n"));
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        text,
    )
        .into_response()
}

/// The public list of providers (slug, name, button text) for apps that draw their own
/// login buttons.
pub(crate) async fn providers(State(app): State<App>) -> Response {
    let registry = app.registry();
    let list: Vec<serde_json::Value> = registry
        .in_order()
        .into_iter()
        .map(|(slug, p)| {
            serde_json::json!({
                "slug": slug,
                "name": p.config.display_name,
                "button_text": with_name(&app.config.server.login_label, &p.config.display_name),
                "start_url": format!("{}{}", app.config.base_url, p.config.callback.start_path(slug)),
                // Tududi's shape.
                "type": "oidc",
            })
        })
        .collect();
    Json(serde_json::json!({ "providers": list })).into_response()
}

pub(crate) async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        pages::STYLESHEET,
    )
        .into_response()
}

pub(crate) async fn not_found(req: Req) -> Response {
    pages::message(
        req.t,
        StatusCode::NOT_FOUND,
        "404",
        "There is nothing at this address.",
        Some(Link {
            href: "/".into(),
            label: req.t.back_to_login.into(),
        }),
        None,
    )
}
