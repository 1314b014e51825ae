//! The REST API under `/api/v1`: JSON over the administrative service layer
//! (`ssogate-admin`), authenticated by API keys (`Authorization: Bearer ssg_…`, scoped
//! read or admin) or by a provider-issued bearer token of an administrator. Errors are
//! RFC 9457 problem documents; validation errors name the field. The OpenAPI 3.1
//! document at `/api/openapi.json` is generated from these handlers (utoipa), and the
//! router is built from the same declarations, so the two cannot drift apart.

mod audit;
mod catalogue;
mod clients;
mod decisions;
pub(crate) mod document;
mod providers;
mod users;
mod webhooks;

use crate::state::App;
use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ssogate_admin::{Admin, AdminError};
use ssogate_core::domain::{GrantKind, UserStatus};
use ssogate_store::credentials::ApiScope;
use utoipa_axum::router::OpenApiRouter;

pub(crate) use crate::respond::Problem;

type ApiResult<T> = Result<T, Problem>;

/// Who called, and with which scope. Only the guard around `/api/v1`
/// ([`require_caller`]) puts one in a request, so an operation that takes it cannot be
/// reached without a valid credential, nor routed outside the guard unnoticed.
#[derive(Clone)]
pub(crate) struct Caller {
    scope: ApiScope,
    actor: String,
}

impl Caller {
    fn admin(&self) -> ApiResult<()> {
        match self.scope {
            ApiScope::Admin => Ok(()),
            ApiScope::Read | ApiScope::Scim => Err(Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this API key may only read; changes need a key with the admin scope",
            )),
        }
    }
}

impl FromRequestParts<App> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _app: &App) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            tracing::error!(path = %parts.uri.path(), "an API operation is routed outside the credential guard");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server-error",
                "this operation is not behind the API's credential check",
            )
        })
    }
}

/// The guard around every `/api/v1` operation: an API key (or, where the operator
/// allows it, an administrator's provider token), else 401.
pub(crate) async fn require_caller(
    axum::extract::State(app): axum::extract::State<App>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    match authenticate(&parts, &app).await {
        Ok(caller) => {
            parts.extensions.insert(caller);
            next.run(axum::extract::Request::from_parts(parts, body))
                .await
        }
        Err(problem) => problem.into_response(),
    }
}

/// Who is calling, from `Authorization: Bearer …`.
async fn authenticate(parts: &Parts, app: &App) -> Result<Caller, Problem> {
    let token = crate::web::bearer_token(&parts.headers).ok_or_else(|| {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "send an API key as `Authorization: Bearer ssg_…` (create one with `ssogate apikey create` or in the console)",
            )
        })?;
    let refused = || {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "the key is unknown or revoked",
        )
    };
    if token.starts_with("ssg_") {
        let (key, now) = (token.to_owned(), app.now());
        let scope = app
            .db(move |d| d.check_api_key(&key, now))
            .await
            .map_err(|e| Problem::from(AdminError::Store(e)))?
            .ok_or_else(refused)?;
        if scope == ApiScope::Scim {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this is a SCIM token: it works only on /scim/v2; use an API key here",
            ));
        }
        let prefix: String = token.chars().skip(4).take_while(|c| *c != '_').collect();
        return Ok(Caller {
            scope,
            actor: format!("apikey:{prefix}"),
        });
    }
    // A provider's access token, only where the operator said so
    // (`api_accepts_provider_tokens`): the account behind it must be an administrator.
    if !app.config.server.api_accepts_provider_tokens {
        return Err(refused());
    }
    for p in app.registry().bearer_providers() {
        if let Ok(identity) = p.rp.bearer(token).await {
            let (slug, sub) = (identity.provider.clone(), identity.subject.clone());
            let user = app
                .db(move |d| d.user_by_identity(&slug, &sub))
                .await
                .map_err(|e| Problem::from(AdminError::Store(e)))?;
            let Some(user) = user else {
                return Err(refused());
            };
            let is_admin = user.grants.iter().any(|g| g.kind == GrantKind::Admin);
            if user.status != UserStatus::Active || !is_admin {
                return Err(Problem::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "only active administrators may use the API with an access token",
                ));
            }
            return Ok(Caller {
                scope: ApiScope::Admin,
                actor: format!("user:{}", user.username),
            });
        }
    }
    Err(refused())
}

pub use ssogate_admin::views::{Identity, User};

pub(super) fn user_of(d: ssogate_admin::UserDetail) -> User {
    User::from(d)
}

/// Runs an administrative call off the async threads.
async fn admin<T: Send + 'static>(
    app: &App,
    caller: &Caller,
    f: impl FnOnce(&Admin) -> Result<T, AdminError> + Send + 'static,
) -> ApiResult<T> {
    let a =
        Admin::new(app.directory.clone(), caller.actor.clone()).with_configured(app.configured());
    app.blocking(move || f(&a))
        .await
        .map_err(|_| {
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server-error",
                "a task failed",
            )
        })?
        .map_err(Problem::from)
}

pub(super) fn parse_bool(field: &str, v: Option<&str>) -> ApiResult<Option<bool>> {
    match v {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(Problem::field(
            field,
            format!("\"{other}\" is not true or false"),
        )),
    }
}

pub(super) fn parse_limit(field: &str, v: Option<&str>, default: i64, max: i64) -> ApiResult<i64> {
    match v {
        None => Ok(default),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(Problem::field(
                field,
                format!("\"{s}\" is not a number from 1 to {max}"),
            )),
        },
    }
}

/// A JSON body, read so that an error names the field.
pub(super) fn body<T: serde::de::DeserializeOwned>(bytes: &Bytes) -> ApiResult<T> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| Problem::field("body", format!("is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(Problem::field("body", "must be a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        // serde says which field is missing only in its message.
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|m| m.split('`').next())
            .map(str::to_owned);
        let field = match (path.as_str(), missing) {
            (".", Some(m)) => m,
            (".", None) => "body".to_owned(),
            (p, Some(m)) => format!("{p}.{m}"),
            (p, None) => p.to_owned(),
        };
        Problem::field(&field, message)
    })
}

/// The API's routes and its OpenAPI document, from the same declarations.
pub(crate) fn routes() -> (axum::Router<App>, utoipa::openapi::OpenApi) {
    let r = providers::routes(OpenApiRouter::<App>::default());
    let r = catalogue::routes(r);
    let r = users::routes(r);
    let r = audit::routes(r);
    let r = webhooks::routes(r);
    let r = clients::routes(r);
    let (router, mut doc) = decisions::routes(r).split_for_parts();
    doc.info = utoipa::openapi::InfoBuilder::new()
        .title("ssogate")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Accounts, providers and the audit log of ssogate. Authenticate with an API key \
             (`ssogate apikey create`) as `Authorization: Bearer ssg_…`; keys are scoped read \
             or admin. Errors are RFC 9457 problem documents.",
        ))
        .build();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        utoipa::openapi::security::SecurityScheme::Http(
            utoipa::openapi::security::HttpBuilder::new()
                .scheme(utoipa::openapi::security::HttpAuthScheme::Bearer)
                .description(Some(
                    "an API key (ssg_…) or an administrator's access token",
                ))
                .build(),
        ),
    );
    (router, doc)
}

/// Unknown paths under `/api`: a problem document, not the HTML 404 page.
pub(crate) async fn no_such_endpoint() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "no-such-endpoint",
        "there is no such API endpoint; see /api/openapi.json",
    )
}

/// Refusals the framework makes before a handler runs (405 wrong method, 413 body too
/// large, 400 an unreadable path or query) become problem documents like every other
/// API error. Called by the request frame for `/api/v1/` answers.
pub(crate) fn as_problem(res: Response) -> Response {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if is_problem {
        return res;
    }
    let (kind, detail) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            "method-not-allowed",
            "this method is not allowed on this endpoint; see /api/openapi.json",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("too-large", "the body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported-media-type",
            "send the body as JSON (Content-Type: application/json)",
        ),
        StatusCode::BAD_REQUEST => (
            "bad-request",
            "the request could not be read (path or query string); see /api/openapi.json",
        ),
        _ => ("error", "the request was refused"),
    };
    let mut problem = Problem::new(status, kind, detail).into_response();
    if let Some(allow) = res.headers().get(header::ALLOW) {
        problem.headers_mut().insert(header::ALLOW, allow.clone());
    }
    problem
}
