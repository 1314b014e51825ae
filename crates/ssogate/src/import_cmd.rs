//! `ssogate import FILE`: accounts from a CSV or JSON-lines file (another system's
//! users, with their identities, grants and password hashes), checked row by row.

use crate::{Failure, open_directory};
use ssogate_store::import::{ImportOutcome, ImportRow};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub(crate) struct ImportArgs {
    /// `users.csv` (header row; lists `;`-separated) or `users.jsonl` (one object a line).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Check every row against the database and report, writing nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

const IMPORT_COLUMNS: [&str; 12] = [
    "username",
    "email",
    "email_verified",
    "display_name",
    "status",
    "provider",
    "subject",
    "external_id",
    "permissions",
    "libraries",
    "groups",
    "admin",
];

/// One CSV record as a JSON object, so both formats share one set of rules.
fn csv_row(headers: &csv::StringRecord, rec: &csv::StringRecord) -> Result<ImportRow, String> {
    let mut obj = serde_json::Map::new();
    for (h, v) in headers.iter().zip(rec.iter()) {
        if v.is_empty() {
            continue;
        }
        let value = match h {
            "permissions" | "libraries" | "groups" => serde_json::json!(
                v.split(';')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
            ),
            "email_verified" | "admin" => match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => serde_json::Value::Bool(true),
                "false" | "0" | "no" => serde_json::Value::Bool(false),
                _ => return Err(format!("{h} \"{v}\" is not true or false")),
            },
            _ => serde_json::Value::String(v.to_owned()),
        };
        obj.insert(h.to_owned(), value);
    }
    serde_json::from_value(serde_json::Value::Object(obj))
        .map_err(|e| format!("not a valid row ({e})"))
}

type ParsedRows = Vec<(usize, Result<ImportRow, String>)>;

fn parse_rows(path: &Path) -> Result<ParsedRows, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::Input(format!(
            "cannot read the import file {} ({e}). Check the path.",
            path.display()
        ))
    })?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "jsonl" | "ndjson" => Ok(text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                (
                    i + 1,
                    serde_json::from_str::<ImportRow>(l)
                        .map_err(|e| format!("not a valid row ({e})")),
                )
            })
            .collect()),
        "csv" => {
            let mut reader = csv::ReaderBuilder::new()
                .trim(csv::Trim::All)
                .from_reader(text.as_bytes());
            let headers = reader
                .headers()
                .map_err(|e| {
                    Failure::Input(format!(
                        "the import file {} has no readable header row ({e})",
                        path.display()
                    ))
                })?
                .clone();
            if let Some(bad) = headers.iter().find(|h| !IMPORT_COLUMNS.contains(h)) {
                return Err(Failure::Input(format!(
                    "the import file {} has an unknown column \"{bad}\". Columns: {}.",
                    path.display(),
                    IMPORT_COLUMNS.join(", ")
                )));
            }
            Ok(reader
                .records()
                .enumerate()
                .map(|(i, rec)| {
                    let row = rec
                        .map_err(|e| format!("not valid CSV ({e})"))
                        .and_then(|rec| csv_row(&headers, &rec));
                    (i + 2, row)
                })
                .collect())
        }
        _ => Err(Failure::Input(format!(
            "the import file {} must end in .csv or .jsonl, so its format is known",
            path.display()
        ))),
    }
}

pub(crate) fn import(config: &ssogate_config::Config, args: &ImportArgs) -> Result<(), Failure> {
    let rows = parse_rows(&args.file)?;
    let (store, _) = open_directory(config)?;
    let now = ssogate_store::RequestContext::now().now;
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(u64::try_from(rows.len()).unwrap_or(0)),
        indicatif::ProgressDrawTarget::stderr(),
    );
    let (mut created, mut updated, mut skipped) = (0, 0, 0);
    let mut failed: Vec<(usize, String)> = Vec::new();
    let (lines, parsed): (Vec<usize>, Vec<Result<ImportRow, String>>) = rows.into_iter().unzip();
    let mut good = Vec::new();
    for (line, row) in lines.iter().zip(parsed) {
        match row {
            Ok(row) => good.push((*line, row)),
            Err(e) => {
                failed.push((*line, e));
                bar.inc(1);
            }
        }
    }
    let (good_lines, good_rows): (Vec<usize>, Vec<ImportRow>) = good.into_iter().unzip();
    let progress = bar.clone();
    let outcomes = store
        .import_users(
            good_rows,
            now,
            args.dry_run,
            Some(ssogate_store::import::ImportAudit {
                actor: crate::admin_cmd::actor(),
                source: args.file.display().to_string(),
                unreadable: failed.len(),
            }),
            Box::new(move |n| progress.inc(n)),
        )
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    for (line, outcome) in good_lines.into_iter().zip(outcomes) {
        match outcome {
            ImportOutcome::Created(_) => created += 1,
            ImportOutcome::Updated(_) => updated += 1,
            ImportOutcome::Skipped(_) => skipped += 1,
            ImportOutcome::Failed(reason) | ImportOutcome::Conflict(reason) => {
                failed.push((line, reason))
            }
        }
    }
    failed.sort();
    bar.finish_and_clear();
    if args.json {
        let summary = serde_json::json!({
            "dry_run": args.dry_run, "created": created, "updated": updated, "skipped": skipped,
            "failed": failed.iter().map(|(line, reason)| serde_json::json!({"line": line, "reason": reason})).collect::<Vec<_>>(),
        });
        outln!(
            "{}",
            serde_json::to_string_pretty(&summary).unwrap_or_default()
        );
    } else {
        let verb = if args.dry_run { "would be " } else { "" };
        outln!(
            "{created} {verb}created, {updated} {verb}updated, {skipped} skipped, {} failed",
            failed.len()
        );
        for (line, reason) in &failed {
            outln!("  line {line}: {reason}");
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::Quiet(1))
    }
}
