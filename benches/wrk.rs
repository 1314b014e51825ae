//! What wrk printed, read: requests/s, the 99th percentile and whether any answer was
//! refused. Included by the server's load benches with `#[path]`.

/// One wrk run's figures.
pub struct Load {
    pub rps: f64,
    pub p99_ms: f64,
    /// wrk counted answers that were neither 2xx nor 3xx.
    pub refused: bool,
}

/// Reads wrk's `--latency` output; panics (naming it) when there is no throughput line.
pub fn parse(text: &str) -> Load {
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in:\n{text}"));
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default();
    let p99_ms = if let Some(us) = p99.strip_suffix("us") {
        us.parse::<f64>().unwrap_or(0.0) / 1000.0
    } else if let Some(ms) = p99.strip_suffix("ms") {
        ms.parse().unwrap_or(0.0)
    } else if let Some(s) = p99.strip_suffix('s') {
        s.parse::<f64>().unwrap_or(0.0) * 1000.0
    } else {
        0.0
    };
    Load {
        rps,
        p99_ms,
        refused: text.contains("Non-2xx or 3xx responses"),
    }
}
