//! Answers for failures: a page for people, problem+json for machines, and the JSON
//! error of the forward-auth and back-channel endpoints.

use crate::i18n::Texts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ssogate_store::StoreError;

/// Seconds a client is asked to wait when the directory cannot be reached.
pub(crate) const RETRY_AFTER: u32 = 5;

/// A page for a directory failure: logged with its detail, shown without it. 503 with
/// `Retry-After` when the database cannot be reached (nobody's fault here; try again),
/// 500 otherwise.
pub(crate) fn server_error(t: &Texts, e: &StoreError) -> Response {
    if e.is_unavailable() {
        tracing::error!(error = %e, "the directory cannot be reached");
        let mut res = crate::pages::message(
            t,
            StatusCode::SERVICE_UNAVAILABLE,
            t.err_unavailable_title,
            t.err_unavailable_body,
            None,
            Some("directory_unavailable"),
        );
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER));
        return res;
    }
    tracing::error!(error = %e, "a request failed in the directory");
    crate::pages::message(
        t,
        StatusCode::INTERNAL_SERVER_ERROR,
        t.err_server_title,
        t.err_server_body,
        None,
        Some("store_error"),
    )
}

/// [`server_error`] for machine clients: `application/problem+json` (RFC 9457).
pub(crate) fn server_problem(e: &StoreError) -> Response {
    crate::api::Problem::of_store(e).into_response()
}

/// A JSON error for machine routes.
pub(crate) fn json_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(serde_json::json!({"error": error, "error_description": description})),
    )
        .into_response()
}
