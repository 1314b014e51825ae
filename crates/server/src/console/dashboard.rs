//! The dashboard: totals, the last 30 days of provisioning and refused sign-ins on a
//! dated chart, the same per provider, and the latest refusals linked to their traces.

use crate::extract::{AdminSession, Req};
use crate::pages;
use crate::respond::{OrPage, PageResult};
use crate::state::App;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;

pub(super) struct Refusal {
    pub id: i64,
    pub at: String,
    pub provider: String,
    pub reason: String,
    pub subject: String,
}

#[derive(Template)]
#[template(path = "console_dashboard.html")]
struct DashboardPage<'a> {
    t: &'a crate::i18n::Texts,
    /// (label, number) cards.
    totals: Vec<(&'static str, i64)>,
    accounts: Vec<(String, String, i64)>,
    chart: String,
    /// Per provider, as bars.
    provider_chart: String,
    /// (day, sign-ins, provisioned, refused) for the table under the chart.
    days: Vec<(String, i64, i64, i64)>,
    /// Refusals by reason, 30 days.
    reasons: Vec<(String, i64)>,
    provisioned: i64,
    failures: i64,
    providers: Vec<(String, i64, i64, i64)>,
    refusals: Vec<Refusal>,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Nov 30` for a day's unix seconds.
fn short_date(ts: i64) -> String {
    let (_, m, d) = ssogate_admin::dates::civil(ts.div_euclid(86_400));
    let month = usize::try_from(m - 1)
        .ok()
        .and_then(|i| MONTHS.get(i))
        .copied()
        .unwrap_or("?");
    format!("{month} {d}")
}

/// The smallest of 1, 2, 5, 10, 20, 50… at least `n`: a scale people read at a glance.
fn nice(n: i64) -> i64 {
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            if step * m >= n {
                return step * m;
            }
        }
        step *= 10;
    }
}

/// One day of the chart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Day {
    at: i64,
    provisioned: i64,
    refused: i64,
    signed_in: i64,
}

/// The 30 days from `today - 29` to `today`.
fn series(days: &[(i64, i64, i64)], sign_ins: &[(i64, i64)], today: i64) -> Vec<Day> {
    let first = today - 29 * 86_400;
    let mut out: Vec<Day> = (0..30)
        .map(|i| Day {
            at: first + i * 86_400,
            ..Day::default()
        })
        .collect();
    for (day, p, f) in days {
        set(&mut out, first, *day, |d| {
            d.provisioned = *p;
            d.refused = *f;
        });
    }
    for (day, n) in sign_ins {
        set(&mut out, first, *day, |d| d.signed_in = *n);
    }
    out
}

fn set(out: &mut [Day], first: i64, day: i64, f: impl FnOnce(&mut Day)) {
    if let Some(d) = usize::try_from((day - first).div_euclid(86_400))
        .ok()
        .and_then(|i| out.get_mut(i))
    {
        f(d);
    }
}

/// An SVG chart with a dated x axis and a labelled y scale; only numbers and our own
/// labels go in.
fn chart(series: &[Day]) -> String {
    let max = nice(
        series
            .iter()
            .map(|d| d.provisioned.max(d.refused).max(d.signed_in))
            .max()
            .unwrap_or(0)
            .max(1),
    );
    let (w, h) = (640i64, 260i64);
    let (left, right, top, bottom) = (44i64, 12i64, 14i64, 34i64);
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let n = i64::try_from(series.len()).unwrap_or(30).max(1);
    let step = plot_w / n;
    let y = |v: i64| top + plot_h - v * plot_h / max;
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-labelledby=\"chart-title\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title id=\"chart-title\">Sign-ins (green line), accounts provisioned (blue bars) and refused or failed sign-ins (red line) per day over the last 30 days; the numbers are in the table below</title>"
    );
    // The y scale: 0, half, max, with grid lines.
    let ticks: Vec<i64> = if max >= 2 {
        vec![0, max / 2, max]
    } else {
        vec![0, max]
    };
    for v in ticks {
        let yy = y(v);
        svg.push_str(&format!(
            "<line x1=\"{left}\" y1=\"{yy}\" x2=\"{}\" y2=\"{yy}\" stroke=\"currentColor\" stroke-opacity=\"{}\" stroke-width=\"1\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"end\" fill=\"currentColor\">{v}</text>",
            w - right,
            if v == 0 { "0.8" } else { "0.2" },
            left - 6,
            yy + 4
        ));
    }
    let mut line = String::new();
    let mut signed = String::new();
    for (i, d) in (0i64..).zip(series.iter()) {
        let (day, p, f) = (&d.at, &d.provisioned, &d.refused);
        let x = left + i * step;
        let top_p = y(*p);
        if *p > 0 {
            svg.push_str(&format!(
                "<rect x=\"{}\" y=\"{top_p}\" width=\"{}\" height=\"{}\" fill=\"#2452c4\"><title>{}: {p} provisioned</title></rect>",
                x + 2,
                (step - 4).max(1),
                top + plot_h - top_p,
                short_date(*day)
            ));
        }
        let cx = x + step / 2;
        line.push_str(&format!("{cx},{} ", y(*f)));
        signed.push_str(&format!("{cx},{} ", y(d.signed_in)));
        if d.signed_in > 0 {
            svg.push_str(&format!(
                "<circle cx=\"{cx}\" cy=\"{}\" r=\"3\" fill=\"#1a7f37\"><title>{}: {} sign-ins</title></circle>",
                y(d.signed_in),
                short_date(*day),
                d.signed_in
            ));
        }
        if *f > 0 {
            svg.push_str(&format!(
                "<circle cx=\"{cx}\" cy=\"{}\" r=\"3\" fill=\"#b42318\"><title>{}: {f} refused or failed</title></circle>",
                y(*f),
                short_date(*day)
            ));
        }
        // A date every week, and the last day (not crowding the week before it).
        if (i % 7 == 0 && i < n - 3) || i == n - 1 {
            svg.push_str(&format!(
                "<line x1=\"{cx}\" y1=\"{}\" x2=\"{cx}\" y2=\"{}\" stroke=\"currentColor\" stroke-width=\"1\"/>\
                 <text x=\"{cx}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\" fill=\"currentColor\">{}</text>",
                top + plot_h,
                top + plot_h + 4,
                h - 12,
                short_date(*day)
            ));
        }
    }
    svg.push_str(&format!(
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#1a7f37\" stroke-width=\"2\" stroke-dasharray=\"6 3\"/>\
         <polyline points=\"{}\" fill=\"none\" stroke=\"#b42318\" stroke-width=\"2\"/></svg>",
        signed.trim_end(),
        line.trim_end()
    ));
    svg
}

/// Per provider: sign-ins, accounts provisioned and refusals as horizontal bars on one
/// round scale, each with its number.
fn provider_chart(providers: &[(String, i64, i64, i64)]) -> String {
    if providers.is_empty() {
        return String::new();
    }
    let max = nice(
        providers
            .iter()
            .map(|p| p.1.max(p.2).max(p.3))
            .max()
            .unwrap_or(0)
            .max(1),
    );
    let (w, label_w, bar_h, gap) = (640i64, 140i64, 12i64, 10i64);
    let row_h = 3 * bar_h + gap;
    let h = i64::try_from(providers.len()).unwrap_or(1) * row_h + 24;
    let plot = w - label_w - 60;
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-labelledby=\"providers-title\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title id=\"providers-title\">Per provider over 30 days: sign-ins (green), accounts provisioned (blue), refusals (red); the numbers are in the table below</title>"
    );
    for (i, (name, signed, provisioned, refused)) in (0i64..).zip(providers.iter()) {
        let top = i * row_h + 4;
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{}\" font-size=\"13\" fill=\"currentColor\">{}</text>",
            top + bar_h + 6,
            super::escape(name)
        ));
        for (j, (v, colour)) in [
            (*signed, "#1a7f37"),
            (*provisioned, "#2452c4"),
            (*refused, "#b42318"),
        ]
        .into_iter()
        .enumerate()
        {
            let y = top + i64::try_from(j).unwrap_or(0) * bar_h;
            let len = v * plot / max;
            svg.push_str(&format!(
                "<rect x=\"{label_w}\" y=\"{y}\" width=\"{}\" height=\"{}\" fill=\"{colour}\"/>\
                 <text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"currentColor\">{v}</text>",
                len.max(1),
                bar_h - 2,
                label_w + len + 4,
                y + bar_h - 3
            ));
        }
    }
    svg.push_str(&format!(
        "<text x=\"{label_w}\" y=\"{}\" font-size=\"11\" fill=\"currentColor\">0</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\" fill=\"currentColor\">{max}</text></svg>",
        h - 4,
        label_w + plot,
        h - 4
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
    let days = series(&stats.days, &stats.sign_ins, today);
    let count = |status: &str| {
        stats
            .accounts
            .iter()
            .filter(|a| a.1 == status)
            .map(|a| a.2)
            .sum::<i64>()
    };
    let provisioned: i64 = days.iter().map(|d| d.provisioned).sum();
    let failures: i64 = days.iter().map(|d| d.refused).sum();
    let sign_ins: i64 = stats.providers.iter().map(|p| p.1).sum();
    Ok(pages::render(
        StatusCode::OK,
        &DashboardPage {
            t: req.t,
            totals: vec![
                ("Accounts", stats.accounts.iter().map(|a| a.2).sum()),
                ("Active", count("active")),
                ("Disabled", count("disabled")),
                ("Waiting for approval", count("pending")),
                ("Sign-ins, 30 days", sign_ins),
                ("Provisioned, 30 days", provisioned),
                ("Refused, 30 days", failures),
            ],
            chart: chart(&days),
            provider_chart: provider_chart(&stats.providers),
            days: days
                .iter()
                .rev()
                .filter(|d| d.provisioned > 0 || d.refused > 0 || d.signed_in > 0)
                .map(|d| (short_date(d.at), d.signed_in, d.provisioned, d.refused))
                .collect(),
            reasons: stats.reasons,
            provisioned,
            failures,
            providers: stats.providers,
            refusals: stats
                .refusals
                .into_iter()
                .map(|(id, at, provider, reason, subject)| Refusal {
                    id,
                    at: pages::utc_seconds(at),
                    provider,
                    reason,
                    subject,
                })
                .collect(),
            accounts: stats.accounts,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_are_round_and_axes_are_dated() {
        assert_eq!(
            [nice(1), nice(3), nice(7), nice(11), nice(120)],
            [1, 5, 10, 20, 200]
        );
        let today = 1_795_392_000; // 2026-11-23
        let s = series(&[(today, 3, 1)], &[(today - 86_400, 4)], today);
        assert_eq!(
            (s[29].provisioned, s[29].refused, s[28].signed_in, s.len()),
            (3, 1, 4, 30)
        );
        let svg = chart(&s);
        assert!(
            svg.contains(">Oct 25<") && svg.contains(">Nov 23<"),
            "{svg}"
        );
        assert!(svg.contains(">5<") && svg.contains(">0<"), "{svg}");
        // The week's label next to the last day's would overlap it: left out.
        assert!(!svg.contains(">Nov 22<"), "{svg}");
    }

    #[test]
    fn providers_are_bars_on_one_scale_with_their_numbers() {
        assert_eq!(provider_chart(&[]), "");
        let svg = provider_chart(&[("corp".into(), 40, 3, 7), ("<x>".into(), 0, 0, 1)]);
        assert!(
            svg.contains(">corp<") && svg.contains(">&lt;x&gt;<"),
            "{svg}"
        );
        assert!(
            svg.contains(">40<") && svg.contains(">7<") && svg.contains(">50<"),
            "{svg}"
        );
    }
}
