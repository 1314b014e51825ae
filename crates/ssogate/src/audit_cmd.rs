//! `ssogate audit …`: query, CSV export, tail.

use crate::Failure;
use crate::admin_cmd::{admin, fail, json_out, parse_time, time};
use clap::Subcommand;
use ssogate_store::query::AuditFilter;
use std::io::Write;

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Audit events, newest first.
    Query {
        #[command(flatten)]
        filter: AuditArgs,
        #[arg(long)]
        json: bool,
    },
    /// Audit events as CSV on standard output.
    Export {
        #[command(flatten)]
        filter: AuditArgs,
    },
    /// The newest events, oldest first; with --follow, keep printing new ones.
    Tail {
        /// How many to start with.
        #[arg(long, short = 'n', default_value_t = 20)]
        lines: i64,
        #[arg(long, short = 'f')]
        follow: bool,
    },
}

#[derive(clap::Args)]
pub(crate) struct AuditArgs {
    /// From this time on: unix seconds or YYYY-MM-DD (UTC).
    #[arg(long)]
    since: Option<String>,
    /// Before this time: unix seconds or YYYY-MM-DD (UTC).
    #[arg(long)]
    until: Option<String>,
    /// Username or id.
    #[arg(long)]
    user: Option<String>,
    #[arg(long)]
    provider: Option<String>,
    /// e.g. login, user.provisioned, login.rejected, admin.user.disabled.
    #[arg(long)]
    event: Option<String>,
    /// success or failure.
    #[arg(long)]
    outcome: Option<String>,
    /// 1–10000.
    #[arg(long, default_value_t = 100)]
    limit: i64,
}

fn audit_line(id: i64, e: &ssogate_store::AuditEvent) -> String {
    format!(
        "{:<6} {:<17} {:<22} {:<8} {:<28} {}{}{}",
        id,
        time(e.at),
        e.event,
        e.outcome,
        e.reason.as_deref().unwrap_or("-"),
        e.provider.as_deref().unwrap_or(""),
        e.subject
            .as_deref()
            .map(|s| format!("/{s}"))
            .unwrap_or_default(),
        e.address
            .as_deref()
            .map(|a| format!("  from {a}"))
            .unwrap_or_default()
    )
}

fn tail(config: &ssogate_config::Config, lines: i64, follow: bool) -> Result<(), Failure> {
    if !(1..=10_000).contains(&lines) {
        return Err(Failure::Input(format!(
            "--lines: {lines} is outside 1–10000"
        )));
    }
    let admin = admin(config)?;
    let filter = |limit| AuditFilter {
        limit,
        ..AuditFilter::default()
    };
    let mut events = admin.audit_events(&filter(lines)).map_err(fail)?;
    events.reverse();
    let mut last = events.last().map_or(0, |(id, _)| *id);
    for (id, e) in &events {
        outln!("{}", audit_line(*id, e));
    }
    if !follow {
        return Ok(());
    }
    loop {
        let _ = std::io::stdout().flush();
        // Polling once a second is what `tail -f` does too.
        std::thread::sleep(std::time::Duration::from_secs(1));
        let mut new: Vec<_> = admin
            .audit_events(&filter(1000))
            .map_err(fail)?
            .into_iter()
            .filter(|(id, _)| *id > last)
            .collect();
        new.reverse();
        for (id, e) in &new {
            outln!("{}", audit_line(*id, e));
            last = *id;
        }
    }
}

pub(crate) fn audit(config: &ssogate_config::Config, cmd: AuditCommand) -> Result<(), Failure> {
    let (args, json, csv) = match &cmd {
        AuditCommand::Query { filter, json } => (filter, *json, false),
        AuditCommand::Export { filter } => (filter, false, true),
        AuditCommand::Tail { lines, follow } => return tail(config, *lines, *follow),
    };
    let from = args
        .since
        .as_deref()
        .map(|v| parse_time("since", v))
        .transpose()?;
    let to = args
        .until
        .as_deref()
        .map(|v| parse_time("until", v))
        .transpose()?;
    if let Some(o) = &args.outcome
        && !matches!(o.as_str(), "success" | "failure")
    {
        return Err(Failure::Input(format!(
            "--outcome: \"{o}\" is not success or failure"
        )));
    }
    let admin = admin(config)?;
    let user_id = args
        .user
        .as_deref()
        .map(|u| admin.user_id(u))
        .transpose()
        .map_err(fail)?;
    let filter = AuditFilter {
        from,
        to,
        user_id,
        provider: args.provider.clone(),
        event: args.event.clone(),
        outcome: args.outcome.clone(),
        before_id: None,
        limit: args.limit,
    };
    let events = admin.audit_events(&filter).map_err(fail)?;
    if csv {
        let mut w = csv::Writer::from_writer(std::io::stdout().lock());
        let io = |e: csv::Error| Failure::Runtime(format!("cannot write CSV: {e}"));
        w.write_record(ssogate_store::AuditEvent::CSV_COLUMNS)
            .map_err(io)?;
        for (id, e) in &events {
            w.write_record(e.csv_fields(*id)).map_err(io)?;
        }
        return w
            .flush()
            .map_err(|e| Failure::Runtime(format!("cannot write CSV: {e}")));
    }
    if json {
        let v: Vec<serde_json::Value> = events
            .iter()
            .map(|(id, e)| {
                serde_json::json!({"id": id, "at": e.at, "event": e.event, "outcome": e.outcome,
                    "reason": e.reason, "provider": e.provider, "subject": e.subject,
                    "user_id": e.user_id, "address": e.address, "user_agent": e.user_agent,
                    "detail": e.detail.as_deref().and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())})
            })
            .collect();
        return json_out(&serde_json::json!({"events": v}));
    }
    outln!(
        "{:<6} {:<17} {:<22} {:<8} {:<28} PROVIDER/SUBJECT",
        "ID",
        "AT (UTC)",
        "EVENT",
        "OUTCOME",
        "REASON"
    );
    for (id, e) in &events {
        outln!("{}", audit_line(*id, e));
    }
    Ok(())
}
