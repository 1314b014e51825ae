//! What wraps every answer: request ids, security headers, the latency histogram.

use crate::state::App;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;

pub(crate) const REQUEST_ID: &str = "x-request-id";

/// Gives each request an id — this process's random prefix and a counter, cheap enough
/// for forward-auth's hot path — in `X-Request-Id` on the request (replacing any a
/// client sent) and on the answer, so a report can be matched to the log.
pub(crate) async fn request_id(mut req: Request, next: Next) -> Response {
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let prefix = PREFIX.get_or_init(|| {
        let mut b = [0u8; 4];
        let _ = aws_lc_rs::rand::fill(&mut b);
        b.iter().map(|x| format!("{x:02x}")).collect()
    });
    let id = format!("{prefix}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed));
    let value = HeaderValue::from_str(&id).ok();
    if let Some(v) = &value {
        req.headers_mut().insert(REQUEST_ID, v.clone());
    }
    let mut res = next.run(req).await;
    if let Some(v) = value {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    res
}

/// Security headers on every answer, and the request's time in the latency histogram.
pub(crate) async fn harden(State(app): State<App>, req: Request, next: Next) -> Response {
    let route = crate::metrics::Route::of(
        req.extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str),
    );
    let started = Instant::now();
    let mut res = next.run(req).await;
    app.metrics.observe(route, started.elapsed().as_secs_f64());
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if app.secure {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    res
}
