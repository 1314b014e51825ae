//! Ratios against a floor measured in the same run, read from what criterion just
//! wrote (`target/criterion/<group>/<bench>/new/estimates.json`). Included by the
//! criterion benches with `#[path]`; prints, never asserts.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::SystemTime;

static STARTED: OnceLock<SystemTime> = OnceLock::new();

/// Call first thing in `main`: figures older than this run are not this run's.
pub fn start() {
    let _ = STARTED.set(SystemTime::now());
}

/// Where criterion writes, found as criterion finds it (`CRITERION_HOME`, then
/// `CARGO_TARGET_DIR`, then `cargo metadata` when run by cargo, else `./target`): a
/// bench binary run by hand from a crate's folder writes below that folder, and the
/// workspace's `target/` then holds an older run's figures.
/// Found once: under cargo it asks `cargo metadata`, a process per call otherwise.
fn criterion_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(find_criterion_dir)
}

fn find_criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            let out = std::process::Command::new(std::env::var_os("CARGO")?)
                .args(["metadata", "--format-version", "1", "--no-deps"])
                .output()
                .ok()?;
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            v.get("target_directory")?.as_str().map(PathBuf::from)
        });
    target.map_or_else(
        || PathBuf::from("target/criterion"),
        |t| t.join("criterion"),
    )
}

/// The mean time of one iteration of `group/bench` in this run, in nanoseconds; `None`
/// when this run did not measure it.
pub fn mean_ns(group: &str, bench: &str) -> Option<f64> {
    let path = criterion_dir()
        .join(group)
        .join(bench.replace('/', "_"))
        .join("new")
        .join("estimates.json");
    let written = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
    if STARTED.get().is_some_and(|started| written < *started) {
        return None;
    }
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
