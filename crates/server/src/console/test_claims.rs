//! "Test claims": what a sign-in with these claims would decide now, and why.

use super::{run, with_cookie};
use crate::auth::csrf_token;
use crate::extract::{AdminSession, CsrfForm, Req};
use crate::pages;
use crate::state::App;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use std::collections::HashMap;

struct Decided {
    decision: String,
    message: Option<String>,
    trace: Vec<String>,
    changes: String,
}

#[derive(Template)]
#[template(path = "console_test.html")]
struct TestPage<'a> {
    t: &'a crate::i18n::Texts,
    /// (value `provider:subject`, label).
    recent: Vec<(String, String)>,
    providers: Vec<(String, bool)>,
    claims: String,
    userinfo: String,
    error: Option<String>,
    result: Option<Decided>,
    csrf: String,
}

/// Recent sign-ins to start a test from: (`provider:subject`, label).
async fn recent(app: &App) -> Vec<(String, String)> {
    app.db(|d| d.recent_identities(20))
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|(p, s, u)| (format!("{p}:{s}"), format!("{u} through {p}")))
        .collect()
}

pub(crate) async fn test_claims(
    State(app): State<App>,
    req: Req,
    _admin: AdminSession,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    // Start from the (redacted) claims of a recent sign-in, when one is picked.
    let picked = match q.get("from").and_then(|f| f.split_once(':')) {
        Some((p, s)) => {
            let (p, s) = (p.to_owned(), s.to_owned());
            let provider = p.clone();
            app.db(move |d| d.last_claims(&p, &s))
                .await
                .ok()
                .flatten()
                .map(|c| {
                    (
                        provider,
                        serde_json::to_string_pretty(&c).unwrap_or_default(),
                    )
                })
        }
        None => None,
    };
    let (csrf, cookie) = csrf_token(&app, &req.headers);
    let chosen = picked.as_ref().map(|(p, _)| p.clone()).unwrap_or_default();
    let page = TestPage {
        t: req.t,
        recent: recent(&app).await,
        providers: app.registry().providers.keys().map(|p| (p.clone(), *p == chosen)).collect(),
        claims: picked.map(|(_, c)| c).unwrap_or_else(|| "{\n  \"sub\": \"248289761001\",\n  \"preferred_username\": \"jane\",\n  \"email\": \"jane@example.org\",\n  \"email_verified\": true,\n  \"groups\": [\"readers\"]\n}".into()),
        userinfo: String::new(),
        error: None,
        result: None,
        csrf,
    };
    with_cookie(pages::render(StatusCode::OK, &page), cookie)
}

#[derive(Deserialize)]
pub(crate) struct TestForm {
    provider: String,
    claims: String,
    #[serde(default)]
    userinfo: String,
}

pub(crate) async fn test_claims_run(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    CsrfForm(f): CsrfForm<TestForm>,
) -> Response {
    let actor = admin.actor;
    let parse = |what: &str, text: &str| {
        serde_json::from_str::<serde_json::Value>(text)
            .map_err(|e| format!("The {what} are not JSON: {e}"))
    };
    let mut error = None;
    let mut result = None;
    match (
        app.engine(&f.provider)
            .ok_or_else(|| format!("no provider \"{}\" is configured", f.provider)),
        parse("claims", &f.claims),
        if f.userinfo.trim().is_empty() {
            Ok(None)
        } else {
            parse("userinfo claims", &f.userinfo).map(Some)
        },
    ) {
        (Err(e), _, _) => error = Some(e),
        (_, Err(e), _) | (_, _, Err(e)) => error = Some(e),
        (Ok((engine, policy)), Ok(claims), Ok(userinfo)) => {
            let sources = ssogate_core::claims::ClaimSources {
                id_token: claims.clone(),
                userinfo: userinfo.clone(),
            };
            // The provider's hooks are asked too, told it is a dry run.
            let verdicts = if claims.is_object() {
                crate::hooks::consult(&app, &f.provider, &policy.hooks, &engine, &sources, true)
                    .await
                    .map_err(ssogate_admin::AdminError::from)
            } else {
                Ok(Vec::new())
            };
            let decided = match verdicts {
                Ok(verdicts) => {
                    run(&app, actor, move |a| {
                        a.test_claims(engine, claims, userinfo, verdicts)
                    })
                    .await
                }
                Err(e) => Err(e),
            };
            match decided {
                Ok(outcome) => {
                    result = Some(Decided {
                        decision: outcome.decision.code().to_owned(),
                        message: outcome.reason().map(ToString::to_string),
                        trace: outcome.trace.to_strings(),
                        changes: serde_json::to_string_pretty(&outcome.changes).unwrap_or_default(),
                    });
                }
                Err(e) => error = Some(e.to_string()),
            }
        }
    }
    let (csrf, cookie) = csrf_token(&app, &req.headers);
    let page = TestPage {
        t: req.t,
        recent: recent(&app).await,
        providers: app
            .registry()
            .providers
            .keys()
            .map(|p| (p.clone(), *p == f.provider))
            .collect(),
        claims: f.claims,
        userinfo: f.userinfo,
        error,
        result,
        csrf,
    };
    with_cookie(pages::render(StatusCode::OK, &page), cookie)
}
