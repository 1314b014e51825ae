//! The lifecycle page: the rules in force, and exactly who they would disable or delete
//! now and why — before anything happens (`serve` applies them on its schedule; `ssogate
//! lifecycle` on demand).

use crate::extract::{AdminSession, Req};
use crate::pages;
use crate::respond::{OrPage, PageResult};
use crate::state::App;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use ssogate_core::lifecycle::{Act, LifecyclePolicy};

struct Row {
    username: String,
    user_id: i64,
    act: &'static str,
    rule: String,
    why: String,
}

struct RuleRow {
    scope: String,
    rules: String,
}

#[derive(Template)]
#[template(path = "console_lifecycle.html")]
struct LifecyclePage<'a> {
    t: &'a crate::i18n::Texts,
    rules: Vec<RuleRow>,
    schedule: String,
    rows: Vec<Row>,
    error: Option<String>,
}

fn describe(p: &LifecyclePolicy) -> String {
    if p.is_off() {
        return "off".into();
    }
    let mut parts = Vec::new();
    if p.disable_after_days > 0 {
        parts.push(format!(
            "disable after {} days without a sign-in",
            p.disable_after_days
        ));
    }
    if p.delete_after_days > 0 {
        parts.push(format!(
            "delete {} days after disabling",
            p.delete_after_days
        ));
    }
    let mut spared = Vec::new();
    if p.exclude_admins {
        spared.push("administrators".to_owned());
    }
    if p.exclude_local_passwords {
        spared.push("accounts with a local password".to_owned());
    }
    if !p.exclude_groups.is_empty() {
        spared.push(format!("members of {}", p.exclude_groups.join(", ")));
    }
    if !spared.is_empty() {
        parts.push(format!("never {}", spared.join(", ")));
    }
    parts.join("; ")
}

pub(crate) async fn lifecycle(
    State(app): State<App>,
    req: Req,
    _admin: AdminSession,
) -> PageResult {
    let config = app.config.clone();
    let now = app.now();
    let planned = app
        .db(move |d| Ok(crate::lifecycle::apply(d, &config, now, true)))
        .await
        .or_page(&req)?;
    let mut rules = vec![RuleRow {
        scope: "Every provider".into(),
        rules: describe(&app.config.lifecycle),
    }];
    if let Ok(per) = app.config.provider_lifecycles() {
        for (slug, p) in per {
            rules.push(RuleRow {
                scope: format!("People signing in through {slug}"),
                rules: describe(&p),
            });
        }
    }
    let (rows, error) = match planned {
        Ok(p) => (
            p.into_iter()
                .map(|x| Row {
                    username: x.username,
                    user_id: x.user_id.0,
                    act: match x.act {
                        Act::Disable => "disable",
                        Act::Delete => "delete",
                    },
                    rule: x.rule,
                    why: x.why,
                })
                .collect(),
            None,
        ),
        Err(e) => (Vec::new(), Some(e)),
    };
    let schedule = match app.config.lifecycle_every_minutes {
        0 => "not on a schedule: only `ssogate lifecycle` applies them".to_owned(),
        m => format!("applied every {m} minutes by one instance of `ssogate serve`"),
    };
    Ok(pages::render(
        StatusCode::OK,
        &LifecyclePage {
            t: req.t,
            rules,
            schedule,
            rows,
            error,
        },
    ))
}
