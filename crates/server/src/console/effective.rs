//! Effective settings: every value each provider runs with and where it comes from (the
//! file, the console's saved settings, a default) — including file-only keys such as
//! `match_by`. The same as `ssogate config show --effective`.

use crate::extract::{AdminSession, Req};
use crate::pages;
use crate::respond::{OrPage, PageResult};
use crate::state::App;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;

#[derive(Template)]
#[template(path = "console_effective.html")]
struct EffectivePage<'a> {
    t: &'a crate::i18n::Texts,
    /// (slug, settings, or why they could not be worked out).
    providers: Vec<(String, Result<Vec<ssogate_config::Effective>, String>)>,
}

pub(crate) async fn effective(
    State(app): State<App>,
    req: Req,
    _admin: AdminSession,
) -> PageResult {
    let saved = app
        .db(|d| {
            crate::registry::read_saved(d)
                .map_err(|e| ssogate_store::StoreError::Corrupt(e.to_string()))
        })
        .await
        .or_page(&req)?;
    let (all, _) = app.config.all_providers(&saved);
    let providers = all
        .iter()
        .map(|p| {
            (
                p.slug.clone(),
                app.config.effective(p, &saved).map_err(|e| e.to_string()),
            )
        })
        .collect();
    Ok(pages::render(
        StatusCode::OK,
        &EffectivePage {
            t: req.t,
            providers,
        },
    ))
}
