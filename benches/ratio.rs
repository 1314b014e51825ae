//! Ratios against a floor measured in the same run, read from what criterion just
//! wrote (`target/criterion/<group>/<bench>/new/estimates.json`). Included by the
//! criterion benches with `#[path]`; prints, never asserts.

use std::path::PathBuf;

/// The target directory: the bench binary lives in `<target>/<profile>/deps/`.
fn target_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        return Some(PathBuf::from(dir));
    }
    let exe = std::env::current_exe().ok()?;
    exe.ancestors().nth(3).map(PathBuf::from)
}

/// The mean time of one iteration of `group/bench` in this run, in nanoseconds.
pub fn mean_ns(group: &str, bench: &str) -> Option<f64> {
    let path = target_dir()?
        .join("criterion")
        .join(group)
        .join(bench.replace('/', "_"))
        .join("new")
        .join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("mean")?.get("point_estimate")?.as_f64()
}

/// Prints `subject`'s time over `floor`'s (`per = false`: the floor's over the
/// subject's, i.e. throughput) against `target`.
pub fn report(label: &str, subject: (&str, &str), floor: (&str, &str), target: Target) {
    let (Some(s), Some(f)) = (mean_ns(subject.0, subject.1), mean_ns(floor.0, floor.1)) else {
        println!("{label}: no figures (filtered out of this run?)");
        return;
    };
    let (ratio, met, want) = match target {
        Target::TimeAtMost(t) => (s / f, s / f <= t, format!("time ≤ {t}× the floor's")),
        Target::ThroughputAtLeast(t) => {
            (f / s, f / s >= t, format!("throughput ≥ {t}× the floor's"))
        }
    };
    println!(
        "{label}: {:.2} µs vs {:.2} µs → {ratio:.2}×  (target {want}: {})",
        s / 1000.0,
        f / 1000.0,
        if met { "met" } else { "NOT met" }
    );
}

#[allow(dead_code)]
pub enum Target {
    TimeAtMost(f64),
    ThroughputAtLeast(f64),
}
