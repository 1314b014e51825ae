//! Answers for failures: a page for people, problem+json for machines, and the JSON
//! error of the forward-auth and back-channel endpoints.

use crate::extract::Req;
use crate::i18n::Texts;
use crate::pages::Link;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ssogate_admin::AdminError;
use ssogate_store::StoreError;

/// Why a page request ended early. Handlers return [`PageResult`] and end with `?`:
/// a directory failure becomes the 503/500 page, an administrative refusal its 404/422
/// page, and any finished answer (sign in first, forbidden, form expired) goes out as
/// it is. No handler writes its own error page for these.
pub(crate) enum PageError {
    /// The directory failed.
    Store(&'static Texts, StoreError),
    /// An administrative call failed (the input, or the directory underneath).
    Admin(&'static Texts, AdminError),
    /// A finished answer that ends the request (boxed: `Result`s carrying it stay small).
    Page(Box<Response>),
}

/// What a page handler returns.
pub(crate) type PageResult = Result<Response, PageError>;

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::Store(t, e) => server_error(t, &e),
            PageError::Admin(t, e) => admin_failure(t, &e),
            PageError::Page(r) => *r,
        }
    }
}

impl From<Response> for PageError {
    fn from(r: Response) -> PageError {
        PageError::Page(Box::new(r))
    }
}

/// `.or_page(&req)?`: a failure as the page for this request's language.
pub(crate) trait OrPage<T> {
    fn or_page(self, req: &Req) -> Result<T, PageError>;
}

impl<T> OrPage<T> for Result<T, StoreError> {
    fn or_page(self, req: &Req) -> Result<T, PageError> {
        self.map_err(|e| PageError::Store(req.t, e))
    }
}

impl<T> OrPage<T> for Result<T, AdminError> {
    fn or_page(self, req: &Req) -> Result<T, PageError> {
        self.map_err(|e| PageError::Admin(req.t, e))
    }
}

/// An administrative call that failed: a directory failure is the server's (503/500);
/// anything else is the input's — 404 for what does not exist, 422 with the reason.
pub(crate) fn admin_failure(t: &Texts, e: &AdminError) -> Response {
    if let AdminError::Store(s) = e
        && !e.is_input()
    {
        return server_error(t, s);
    }
    let status = match e {
        AdminError::NotFound { .. } => StatusCode::NOT_FOUND,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    crate::pages::message(
        t,
        status,
        "That did not work",
        &e.to_string(),
        Some(Link {
            href: "/admin/users".into(),
            label: "Users".into(),
        }),
        None,
    )
}

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
    Problem::of_store(e).into_response()
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

/// An RFC 9457 problem document.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// For validation problems: which field, and what is wrong with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl Problem {
    pub(crate) fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("https://ssogate.dev/problems/{kind}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    pub(crate) fn field(field: &str, message: impl Into<String>) -> Problem {
        let message = message.into();
        let mut p = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            format!("{field}: {message}"),
        );
        p.errors.push(FieldError {
            field: field.to_owned(),
            message,
        });
        p
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = (status, axum::Json(&self)).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"ssogate-api\""),
            );
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut().insert(
                header::RETRY_AFTER,
                axum::http::HeaderValue::from(RETRY_AFTER),
            );
        }
        res
    }
}

impl From<AdminError> for Problem {
    fn from(e: AdminError) -> Problem {
        match &e {
            AdminError::NotFound { .. } => {
                Problem::new(StatusCode::NOT_FOUND, "not-found", e.to_string())
            }
            AdminError::Invalid { field, message } => Problem::field(field, message.clone()),
            AdminError::Conflict(m) => Problem::new(StatusCode::CONFLICT, "conflict", m.clone()),
            AdminError::Store(inner) => Problem::of_store(inner),
        }
    }
}

impl Problem {
    /// A directory failure: 400 for input it refused, 503 (with `Retry-After`) when it
    /// cannot be reached, else 500; the detail is logged, never shown.
    pub(crate) fn of_store(e: &ssogate_store::StoreError) -> Problem {
        match e {
            ssogate_store::StoreError::InvalidInput(m) => {
                Problem::new(StatusCode::BAD_REQUEST, "bad-request", m.clone())
            }
            e if e.is_unavailable() => {
                tracing::error!(error = %e, "the directory cannot be reached");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "directory-unavailable",
                    "the user directory cannot be reached; try again shortly",
                )
            }
            e => {
                tracing::error!(error = %e, "a request failed in the directory");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server-error",
                    "the directory failed; the error was logged",
                )
            }
        }
    }
}
