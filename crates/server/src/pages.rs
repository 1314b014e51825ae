//! Server-rendered pages (askama: compiled, auto-escaped).

use crate::i18n::Texts;
use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

pub(crate) struct ProviderButton {
    pub href: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "login.html")]
pub(crate) struct LoginPage<'a> {
    pub t: &'a Texts,
    pub providers: Vec<ProviderButton>,
    pub local_login: bool,
    pub message: Option<String>,
    pub csrf: String,
    pub return_to: String,
    pub username: String,
}

pub(crate) struct FormButton {
    pub action: String,
    pub csrf: String,
    pub button: String,
}

pub(crate) struct Link {
    pub href: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct MessagePage<'a> {
    pub t: &'a Texts,
    pub title: String,
    pub paragraphs: Vec<String>,
    pub form: Option<FormButton>,
    pub link: Option<Link>,
    /// A code the administrator can find in the audit log.
    pub reference: Option<String>,
}

pub(crate) struct IdentityRow {
    pub slug: String,
    pub name: String,
    pub email: String,
    pub first: String,
    pub last: String,
}

pub(crate) struct LinkButton {
    pub slug: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "account.html")]
pub(crate) struct AccountPage<'a> {
    pub t: &'a Texts,
    pub username: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub notice: Option<String>,
    pub identities: Vec<IdentityRow>,
    pub linkable: Vec<LinkButton>,
    pub csrf: String,
    /// Password sign-in is on (`local_login`): the password section shows.
    pub passwords_on: bool,
    pub has_password: bool,
    /// Signed in recently enough to set a first password.
    pub fresh: bool,
    pub min_length: usize,
    pub password_error: Option<String>,
}

#[derive(Template)]
#[template(path = "whoami.html")]
pub(crate) struct WhoamiPage<'a> {
    pub t: &'a Texts,
    pub headers: Vec<(String, String)>,
    pub people: String,
    pub csrf: String,
}

/// Renders a page with a status; a template failure is a plain 500, never a panic.
pub(crate) fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be rendered.",
            )
                .into_response()
        }
    }
}

/// A page with a title, one paragraph and a way on.
pub(crate) fn message(
    t: &Texts,
    status: StatusCode,
    title: &str,
    body: &str,
    link: Option<Link>,
    reference: Option<&str>,
) -> Response {
    render(
        status,
        &MessagePage {
            t,
            title: title.to_owned(),
            paragraphs: vec![body.to_owned()],
            form: None,
            link,
            reference: reference.map(str::to_owned),
        },
    )
}

pub(crate) const STYLESHEET: &str = include_str!("../templates/ssogate.css");

/// Formats unix seconds as `YYYY-MM-DD HH:MM:SS UTC` (logs, where seconds matter).
pub(crate) fn utc_seconds(ts: i64) -> String {
    ssogate_admin::dates::rfc3339(ts)
        .replace('T', " ")
        .replace('Z', " UTC")
}

/// Formats unix seconds as `YYYY-MM-DD HH:MM UTC`.
pub(crate) fn utc(ts: i64) -> String {
    format!("{} UTC", ssogate_admin::dates::minutes(ts))
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::utc(1_795_436_800), "2026-11-23 12:26 UTC");
        assert_eq!(super::utc(951_782_400), "2000-02-29 00:00 UTC");
    }
}

pub(crate) struct ApiOp {
    pub method: &'static str,
    pub path: String,
    pub summary: String,
    pub params: String,
    pub responses: String,
}

#[derive(Template)]
#[template(path = "api.html")]
pub(crate) struct ApiPage<'a> {
    pub t: &'a Texts,
    pub title: String,
    pub version: String,
    pub description: String,
    pub openapi: String,
    pub ops: Vec<ApiOp>,
}

/// A page that renders the OpenAPI document: every operation with its parameters and
/// answers (server-side, no script).
pub(crate) fn api_docs(t: &Texts, doc: &utoipa::openapi::OpenApi) -> Response {
    let mut ops = Vec::new();
    for (path, item) in &doc.paths.paths {
        for (method, op) in [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("PATCH", &item.patch),
            ("DELETE", &item.delete),
        ] {
            let Some(op) = op else { continue };
            let params = op
                .parameters
                .iter()
                .flatten()
                .map(|p| match p {
                    utoipa::openapi::RefOr::T(p) => p.name.clone(),
                    utoipa::openapi::RefOr::Ref(r) => r.ref_location.clone(),
                })
                .collect::<Vec<_>>()
                .join(", ");
            ops.push(ApiOp {
                method,
                path: path.clone(),
                summary: op
                    .summary
                    .clone()
                    .or_else(|| op.description.clone())
                    .unwrap_or_default(),
                params,
                responses: op
                    .responses
                    .responses
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    render(
        StatusCode::OK,
        &ApiPage {
            t,
            title: doc.info.title.clone(),
            version: doc.info.version.clone(),
            description: doc.info.description.clone().unwrap_or_default(),
            openapi: serde_json::to_value(&doc.openapi)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            ops,
        },
    )
}
