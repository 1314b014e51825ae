//! The dashboard: totals and the last 30 days of sign-ins, provisioning and refusals.

use crate::extract::{AdminSession, Req};
use crate::pages;
use crate::respond::{OrPage, PageResult};
use crate::state::App;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;

#[derive(Template)]
#[template(path = "console_dashboard.html")]
struct DashboardPage<'a> {
    t: &'a crate::i18n::Texts,
    accounts: Vec<(String, String, i64)>,
    chart: String,
    provisioned: i64,
    failures: i64,
}

/// An SVG bar-and-line chart of the last 30 days; only numbers and our own labels go in.
fn chart(days: &[(i64, i64, i64)], today: i64) -> String {
    let first = today - 29 * 86_400;
    let mut series = [(0i64, 0i64); 30];
    for (day, p, f) in days {
        let i = (day - first).div_euclid(86_400);
        if let Some(slot) = usize::try_from(i).ok().and_then(|i| series.get_mut(i)) {
            *slot = (*p, *f);
        }
    }
    let max = series
        .iter()
        .map(|(p, f)| (*p).max(*f))
        .max()
        .unwrap_or(0)
        .max(1);
    let (w, h, pad) = (600i64, 200i64, 24i64);
    let step = (w - 2 * pad) / 30;
    let y = |v: i64| h - pad - v * (h - 2 * pad) / max;
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"Provisioned accounts and failed sign-ins per day\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    svg.push_str(&format!(
        "<line x1=\"{pad}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"currentColor\" stroke-width=\"1\"/>",
        h - pad,
        w - pad
    ));
    let mut line = String::new();
    for (i, (p, f)) in (0i64..).zip(series.iter()) {
        let x = pad + i * step;
        let top = y(*p);
        svg.push_str(&format!(
            "<rect x=\"{}\" y=\"{top}\" width=\"{}\" height=\"{}\" fill=\"#2452c4\"><title>{p} provisioned</title></rect>",
            x + 2,
            step - 4,
            h - pad - top
        ));
        line.push_str(&format!("{},{} ", x + step / 2, y(*f)));
    }
    svg.push_str(&format!(
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#b42318\" stroke-width=\"2\"/>",
        line.trim_end()
    ));
    svg.push_str(&format!(
        "<text x=\"{pad}\" y=\"14\" font-size=\"12\" fill=\"currentColor\">max {max} a day</text></svg>"
    ));
    svg
}

pub(crate) async fn dashboard(
    State(app): State<App>,
    req: Req,
    _admin: AdminSession,
) -> PageResult {
    let today = app.now().div_euclid(86_400) * 86_400;
    let since = today - 29 * 86_400;
    let stats = app.db(move |d| d.stats(since)).await.or_page(&req)?;
    Ok(pages::render(
        StatusCode::OK,
        &DashboardPage {
            t: req.t,
            chart: chart(&stats.days, today),
            provisioned: stats.days.iter().map(|d| d.1).sum(),
            failures: stats.days.iter().map(|d| d.2).sum(),
            accounts: stats.accounts,
        },
    ))
}
