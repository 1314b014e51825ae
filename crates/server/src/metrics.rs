//! Prometheus counters and a latency histogram in the text exposition format. Written
//! here: a handful of labelled counters does not need a metrics framework and its
//! exporter server.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

/// One route's latency histogram: atomics, so timing a request takes no lock. Each
/// request counts in its own bucket only (three atomic additions, not twelve on lines
/// every core shares); the exposition adds them up into Prometheus' cumulative `le`.
#[derive(Default)]
struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    nanos: AtomicU64,
}

/// The routes timed (`harden` maps each request to one).
/// The routes whose latency is told apart, as the histogram's `route` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Verify,
    Callback,
    Start,
    Login,
    Other,
    Unmatched,
}

impl Route {
    const ALL: [Route; 6] = [
        Route::Verify,
        Route::Callback,
        Route::Start,
        Route::Login,
        Route::Other,
        Route::Unmatched,
    ];

    /// The route a request matched (its path pattern), if any.
    pub(crate) fn of(matched: Option<&str>) -> Route {
        match matched {
            Some("/auth/verify") => Route::Verify,
            // The seeds' paths (a provider's `callback` style) time as ssogate's own.
            Some(
                "/auth/{slug}/callback"
                | "/oidc/callback"
                | "/apps/user_oidc/code"
                | "/index.php/apps/user_oidc/code"
                | "/api/oidc/callback/{slug}",
            ) => Route::Callback,
            Some("/auth/{slug}/start" | "/api/oidc/auth/{slug}") => Route::Start,
            Some("/login") => Route::Login,
            Some(_) => Route::Other,
            None => Route::Unmatched,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Route::Verify => "verify",
            Route::Callback => "callback",
            Route::Start => "start",
            Route::Login => "login",
            Route::Other => "other",
            Route::Unmatched => "unmatched",
        }
    }
}

#[derive(Default)]
pub(crate) struct Metrics {
    counters: Mutex<BTreeMap<(&'static str, String), u64>>,
    latency: [Histogram; Route::ALL.len()],
}

const HELP: [(&str, &str); 6] = [
    ("ssogate_logins_total", "Sign-ins by provider and outcome."),
    (
        "ssogate_provisioned_users_total",
        "Accounts created at sign-in, by provider.",
    ),
    (
        "ssogate_rejections_total",
        "Refused sign-ins and tokens, by reason.",
    ),
    ("ssogate_logouts_total", "Ended sessions, by kind."),
    (
        "ssogate_rate_limited_total",
        "Requests refused by a rate limit, by route.",
    ),
    (
        "ssogate_cache_loads_total",
        "Directory reads for what memory did not hold (sessions, bearer tokens, issued access tokens); concurrent misses of one key read once.",
    ),
];

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Adds one to `name{labels}`; labels are `(key, value)` pairs.
    pub(crate) fn inc(&self, name: &'static str, labels: &[(&str, &str)]) {
        let labels = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect::<Vec<_>>()
            .join(",");
        if let Ok(mut c) = self.counters.lock() {
            *c.entry((name, labels)).or_insert(0) += 1;
        }
    }

    /// Records one request of `route`.
    pub(crate) fn observe(&self, route: Route, seconds: f64) {
        let Some(h) = self.latency.get(route as usize) else {
            return;
        };
        if let Some(c) = BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .and_then(|i| h.counts.get(i))
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
        h.count.fetch_add(1, Ordering::Relaxed);
        // Whole nanoseconds; a request longer than 584 years saturates.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        h.nanos.fetch_add((seconds * 1e9) as u64, Ordering::Relaxed);
    }

    /// The exposition text; `jwks_fetches` are per provider, read from the relying party.
    pub(crate) fn render(&self, jwks_fetches: &[(String, u64)]) -> String {
        let mut out = String::new();
        let counters = self.counters.lock().map(|c| c.clone()).unwrap_or_default();
        for (name, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for ((n, labels), v) in counters.iter().filter(|((n, _), _)| *n == name) {
                let _ = writeln!(out, "{n}{{{labels}}} {v}");
            }
        }
        let _ = writeln!(
            out,
            "# HELP ssogate_jwks_fetches_total Key set downloads, by provider.\n# TYPE ssogate_jwks_fetches_total counter"
        );
        for (slug, n) in jwks_fetches {
            let _ = writeln!(
                out,
                "ssogate_jwks_fetches_total{{provider=\"{}\"}} {n}",
                escape(slug)
            );
        }
        let _ = writeln!(
            out,
            "# HELP ssogate_request_duration_seconds Time to answer, by route.\n# TYPE ssogate_request_duration_seconds histogram"
        );
        for (route, h) in Route::ALL
            .iter()
            .map(|r| r.label())
            .zip(self.latency.iter())
        {
            let count = h.count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            let mut below = 0;
            for (b, c) in BUCKETS.iter().zip(h.counts.iter()) {
                below += c.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "ssogate_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {below}"
                );
            }
            #[allow(clippy::cast_precision_loss)]
            let sum = h.nanos.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(
                out,
                "ssogate_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}\nssogate_request_duration_seconds_sum{{route=\"{route}\"}} {sum}\nssogate_request_duration_seconds_count{{route=\"{route}\"}} {count}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.inc(
            "ssogate_logins_total",
            &[("provider", "a\"b"), ("outcome", "success")],
        );
        m.inc(
            "ssogate_logins_total",
            &[("provider", "a\"b"), ("outcome", "success")],
        );
        m.observe(Route::Verify, 0.003);
        let text = m.render(&[("dev".into(), 2)]);
        assert!(text.contains("ssogate_logins_total{provider=\"a\\\"b\",outcome=\"success\"} 2"));
        assert!(text.contains("ssogate_jwks_fetches_total{provider=\"dev\"} 2"));
        assert!(
            text.contains(
                "ssogate_request_duration_seconds_bucket{route=\"verify\",le=\"0.0025\"} 0"
            )
        );
        assert!(
            text.contains(
                "ssogate_request_duration_seconds_bucket{route=\"verify\",le=\"0.005\"} 1"
            )
        );
        // Buckets are cumulative as Prometheus reads them, however they are counted.
        m.observe(Route::Verify, 0.0005);
        m.observe(Route::Verify, 10.0);
        let text = m.render(&[]);
        for (le, n) in [("0.001", 1), ("0.005", 2), ("5", 2), ("+Inf", 3)] {
            let line = format!(
                "ssogate_request_duration_seconds_bucket{{route=\"verify\",le=\"{le}\"}} {n}\n"
            );
            assert!(text.contains(&line), "{line} in {text}");
        }
    }
}
