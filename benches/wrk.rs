//! What wrk printed, read: requests/s, the 99th percentile and whether any answer was
//! refused. Included by the server's load benches with `#[path]`.

/// One wrk run's figures.
pub struct Load {
    pub rps: f64,
    pub p99_ms: f64,
    /// wrk counted answers that were neither 2xx nor 3xx.
    pub refused: bool,
    /// Answers in all.
    pub requests: f64,
    /// CPU time the measuring process spent per answer, in µs, when the bench measured it
    /// (the servers run in the bench's process, wrk in its own).
    pub cpu_us: Option<f64>,
    /// CPU time the load tool (wrk, a child of the measuring process) spent per answer,
    /// in µs: on a machine whose cores the server shares with it, what a bigger answer
    /// costs the load tool is taken from the server's share.
    pub load_cpu_us: Option<f64>,
}

/// CPU time this process has used so far, in seconds (`/proc/self/stat`, Linux).
pub fn process_cpu_seconds() -> Option<f64> {
    // utime and stime are the 14th and 15th fields of the line.
    cpu_seconds(11)
}

/// CPU time this process's children that have ended (and were waited for) used, in
/// seconds: a wrk run's, read before and after it.
pub fn children_cpu_seconds() -> Option<f64> {
    // cutime and cstime are the 16th and 17th fields of the line.
    cpu_seconds(13)
}

/// Two clock-tick fields of `/proc/self/stat` from `at` (counted after the command's
/// closing parenthesis), summed, in seconds (100 ticks a second on Linux).
fn cpu_seconds(at: usize) -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Some((ticks(at)? + ticks(at + 1)?) / 100.0)
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
    let requests = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))
        .and_then(|(n, _)| n.trim().parse().ok())
        .unwrap_or(0.0);
    Load {
        rps,
        p99_ms,
        refused: text.contains("Non-2xx or 3xx responses"),
        requests,
        cpu_us: None,
        load_cpu_us: None,
    }
}
