//! The `ssogate` command.
//!
//! Exit codes: 0 — done; 1 — something failed while running (or, for `import`, some
//! rows failed; for `provider check`, the provider is not usable); 2 — bad input (a config file, a claims, directory or import file, a
//! claim expression, or command-line usage).

#[macro_use]
mod output;
mod admin_cmd;
mod apikey_cmd;
mod audit_cmd;
mod catalogue_cmd;
mod client_cmd;
mod config_cmd;
mod op_cmd;
mod provider_cmd;
mod serve;
mod settings_cmd;
mod user_cmd;
mod webhook_cmd;

use clap::{Parser, Subcommand};
use ssogate_core::Outcome;
use ssogate_core::claims::ClaimSources;
use ssogate_core::decision::Decision;
use ssogate_core::domain::GrantKind;
use ssogate_core::memory::{DirectoryFile, InMemoryDirectory};
use ssogate_store::Directory;
use ssogate_store::catalogue::ItemKind;
use ssogate_store::import::{ImportOutcome, ImportRow};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

// A login allocates many small strings (one per group, grant and trace line); mimalloc
// made map+decide about 40% faster than glibc's allocator here (see benches/decide.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "ssogate",
    version,
    about = "Single sign-on with just-in-time user provisioning"
)]
struct Cli {
    /// Configuration file (TOML).
    #[arg(long, global = true, env = "SSOGATE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: login, callback, sessions, forward-auth, account page.
    Serve(serve::ServeArgs),
    /// Run everything on embedded defaults (SQLite, a development provider on loopback,
    /// a "who am I" page) and print the URL to open.
    Demo(serve::DemoArgs),
    /// Show what a login with these claims would do, without changing anything.
    Provision(ProvisionArgs),
    /// Load and check the configuration, then print the providers it defines.
    CheckConfig,
    /// Create or upgrade the database schema and store the configured catalogue.
    Migrate,
    /// Pre-provision accounts from a CSV or JSON Lines file (one transaction per row).
    Import(ImportArgs),
    /// Delete expired sessions and login states, and audit events past `[audit] retention_days`.
    Sweep,
    /// Manage accounts: list, show, disable, enable, approve, delete, external ids.
    #[command(subcommand)]
    User(user_cmd::UserCommand),
    /// Manage API keys (created once, stored hashed, scoped read or admin).
    #[command(subcommand)]
    Apikey(apikey_cmd::ApikeyCommand),
    /// Show the configuration in force (`config show --effective`).
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Manage webhook endpoints (Standard Webhooks) and their delivery log.
    #[command(subcommand)]
    Webhook(webhook_cmd::WebhookCommand),
    /// Manage the applications that sign in through ssogate as their OpenID Provider.
    #[command(subcommand)]
    Client(client_cmd::ClientCommand),
    /// Query, export and follow the audit log.
    #[command(subcommand)]
    Audit(audit_cmd::AuditCommand),
    /// Show and change provisioning settings (as the console does).
    #[command(subcommand)]
    Settings(settings_cmd::SettingsCommand),
    /// Work with the configured OpenID providers.
    #[command(subcommand)]
    Provider(provider_cmd::ProviderCommand),
    /// Groups of the catalogue: list, add, rename, external ids, delete.
    #[command(subcommand)]
    Group(catalogue_cmd::CatalogueCommand),
    /// Libraries of the catalogue: list, add, rename, delete.
    #[command(subcommand)]
    Library(catalogue_cmd::CatalogueCommand),
    /// Permissions of the catalogue: list, add, rename, required, delete.
    #[command(subcommand)]
    Permission(catalogue_cmd::CatalogueCommand),
    /// Disable accounts idle past `[lifecycle] disable_after_days` and delete those disabled
    /// past `delete_after_days`; `--dry-run` lists who and why, changing nothing.
    Lifecycle(LifecycleArgs),
    /// ssogate as an OpenID Provider: its signing keys.
    #[command(subcommand)]
    Op(op_cmd::OpCommand),
}

#[derive(clap::Args)]
struct LifecycleArgs {
    /// List what the rules would do, and why; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the actions as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ImportArgs {
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

#[derive(clap::Args)]
struct ProvisionArgs {
    /// Required: decide and explain, create nothing.
    #[arg(long, required = true)]
    dry_run: bool,
    /// The provider slug the login comes through.
    #[arg(long, value_name = "SLUG")]
    provider: String,
    /// The ID token's claims, as a JSON object.
    #[arg(long, value_name = "CLAIMS.json")]
    claims: PathBuf,
    /// The userinfo answer, as a JSON object (kept apart from the ID token until mapped).
    #[arg(long, value_name = "USERINFO.json")]
    userinfo: Option<PathBuf>,
    /// Existing users, groups and libraries (see docs/dry-run.md).
    #[arg(long, value_name = "DIRECTORY.json")]
    existing: Option<PathBuf>,
    /// Print the decision as JSON.
    #[arg(long)]
    json: bool,
}

/// A failure and the exit code it deserves.
pub(crate) enum Failure {
    /// Bad input: exit 2.
    Input(String),
    /// Something failed while running: exit 1.
    Runtime(String),
    /// Already reported; exit with this code.
    Quiet(u8),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Input(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(1)
        }
        Err(Failure::Quiet(code)) => ExitCode::from(code),
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let config =
        ssogate_config::load(cli.config.as_deref()).map_err(|e| Failure::Input(e.to_string()))?;
    for w in &config.warnings {
        eprintln!("warning: {w}");
    }
    match cli.command {
        Command::Serve(args) => serve::serve(config, &args),
        Command::User(cmd) => user_cmd::user(&config, cmd),
        Command::Apikey(cmd) => apikey_cmd::apikey(&config, cmd),
        Command::Webhook(cmd) => webhook_cmd::webhook(&config, cmd),
        Command::Client(cmd) => client_cmd::client(&config, cmd),
        Command::Config(cmd) => config_cmd::config(&config, cmd),
        Command::Audit(cmd) => audit_cmd::audit(&config, cmd),
        Command::Settings(cmd) => settings_cmd::settings(&config, cmd),
        Command::Demo(args) => serve::demo(&args),
        Command::Provision(args) => provision(&config, &args),
        Command::Migrate => migrate(&config),
        Command::Import(args) => import(&config, &args),
        Command::Sweep => sweep(&config),
        Command::Provider(cmd) => provider_cmd::provider(&config, cmd),
        Command::Group(cmd) => catalogue_cmd::catalogue(&config, ItemKind::Group, cmd),
        Command::Library(cmd) => catalogue_cmd::catalogue(&config, ItemKind::Library, cmd),
        Command::Permission(cmd) => catalogue_cmd::catalogue(&config, ItemKind::Permission, cmd),
        Command::Op(cmd) => op_cmd::op(&config, cmd),
        Command::Lifecycle(args) => lifecycle(&config, &args),
        Command::CheckConfig => {
            let origin = config
                .path
                .as_ref()
                .map_or("the environment".into(), |p| p.display().to_string());
            outln!("{origin}: OK, {} provider(s)", config.providers.len());
            for p in config.providers.values() {
                outln!("  {:<12} {:<24} {}", p.slug, p.display_name, p.issuer);
            }
            Ok(())
        }
    }
}

/// Opens (and migrates) the configured directory, with the catalogue stored.
pub(crate) fn open_directory(
    config: &ssogate_config::Config,
) -> Result<(Box<dyn Directory>, String), Failure> {
    let runtime = |e: ssogate_store::StoreError| Failure::Runtime(e.to_string());
    let (store, name): (Box<dyn Directory>, String) = match &config.database {
        ssogate_config::Database::Sqlite(path) => {
            let store = ssogate_store::SqliteStore::open(path).map_err(runtime)?;
            // A running server on the same file hears this command's changes.
            store.broadcast_to_other_processes();
            (Box::new(store), format!("sqlite://{}", path.display()))
        }
        #[cfg(not(feature = "postgres"))]
        ssogate_config::Database::Postgres(_) => {
            return Err(Failure::Input(
                "this ssogate was built without PostgreSQL support (cargo feature `postgres`); use a sqlite:// database_url, or a build with the feature (the default)".into(),
            ));
        }
        #[cfg(feature = "postgres")]
        ssogate_config::Database::Postgres(url) => (
            Box::new(ssogate_store::PgStore::open(url).map_err(runtime)?),
            // Never print the password.
            url.split_once('@').map_or_else(
                || "postgres://".into(),
                |(_, host)| format!("postgres://…@{host}"),
            ),
        ),
    };
    store.sync_catalogue(&config.catalogue).map_err(runtime)?;
    Ok((store, name))
}

fn lifecycle(config: &ssogate_config::Config, args: &LifecycleArgs) -> Result<(), Failure> {
    let (store, name) = open_directory(config)?;
    let now = ssogate_store::RequestContext::now().now;
    let actions = ssogate_server::lifecycle::apply(store.as_ref(), config, now, args.dry_run)
        .map_err(Failure::Runtime)?;
    if args.json {
        return admin_cmd::json_out(&actions);
    }
    if actions.is_empty() {
        outln!(
            "{name}: the lifecycle rules {} nobody",
            if args.dry_run {
                "would change"
            } else {
                "changed"
            }
        );
    }
    for a in &actions {
        let verb = match (a.act, args.dry_run) {
            (ssogate_core::lifecycle::Act::Disable, true) => "would disable",
            (ssogate_core::lifecycle::Act::Disable, false) => "disabled",
            (ssogate_core::lifecycle::Act::Delete, true) => "would delete",
            (ssogate_core::lifecycle::Act::Delete, false) => "deleted",
        };
        outln!("{verb} {} ({} rules): {}", a.username, a.rule, a.why);
    }
    Ok(())
}

fn sweep(config: &ssogate_config::Config) -> Result<(), Failure> {
    let (store, name) = open_directory(config)?;
    let runtime = |e: ssogate_store::StoreError| Failure::Runtime(e.to_string());
    let now = ssogate_store::RequestContext::now().now;
    let (sessions, states) = store.sweep(now).map_err(runtime)?;
    let days = config.audit.retention_days;
    let audit = if days == 0 {
        0
    } else {
        store
            .purge_audit(now - i64::from(days) * 86_400)
            .map_err(runtime)?
    };
    outln!(
        "{name}: removed {sessions} expired sessions, {states} expired login states, codes and tokens, {audit} audit events older than {}",
        if days == 0 {
            "forever (retention_days = 0)".to_owned()
        } else {
            format!("{days} days")
        }
    );
    Ok(())
}

fn migrate(config: &ssogate_config::Config) -> Result<(), Failure> {
    let (_, name) = open_directory(config)?;
    let c = &config.catalogue;
    outln!(
        "{name}: schema up to date (version {}); catalogue: {} permissions, {} libraries, {} groups",
        ssogate_store::sqlite::SCHEMA_VERSION,
        c.permissions.len(),
        c.libraries.len(),
        c.groups.len()
    );
    Ok(())
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

fn import(config: &ssogate_config::Config, args: &ImportArgs) -> Result<(), Failure> {
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

fn read_json(path: &Path, what: &str, hint: &str) -> Result<serde_json::Value, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::Input(format!(
            "cannot read the {what} file {} ({e}). Check the path.",
            path.display()
        ))
    })?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Failure::Input(format!(
            "the {what} file {} is not valid JSON (line {}, column {}: {e}). {hint}",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    if !value.is_object() {
        return Err(Failure::Input(format!(
            "the {what} file {} must hold a JSON object, not {}. {hint}",
            path.display(),
            kind(&value)
        )));
    }
    Ok(value)
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn provision(config: &ssogate_config::Config, args: &ProvisionArgs) -> Result<(), Failure> {
    let engine = config
        .engine(&args.provider)
        .map_err(|e| Failure::Input(e.to_string()))?;
    let hint = "Pass the decoded ID token payload, e.g. {\"sub\": \"…\", \"email\": \"…\"}.";
    let sources = ClaimSources {
        id_token: read_json(&args.claims, "claims", hint)?,
        userinfo: match &args.userinfo {
            Some(p) => Some(read_json(
                p,
                "userinfo",
                "Pass the userinfo endpoint's JSON answer.",
            )?),
            None => None,
        },
    };
    let mut directory = match &args.existing {
        Some(path) => {
            let value = read_json(path, "directory", "See docs/dry-run.md for the format.")?;
            let file: DirectoryFile = serde_path_to_error::deserialize(value).map_err(|e| {
                Failure::Input(format!(
                    "the directory file {}, key `{}`: {}. See docs/dry-run.md for the format.",
                    path.display(),
                    e.path(),
                    e.inner()
                ))
            })?;
            InMemoryDirectory::from(file)
        }
        None => InMemoryDirectory::default(),
    };
    directory.add_groups(config.catalogue.groups.iter().cloned());
    directory.add_libraries(config.catalogue.libraries.iter().cloned());

    let outcome = engine.decide(&sources, &directory);
    if args.json {
        let text = serde_json::to_string_pretty(&outcome.to_json()).unwrap_or_default();
        outln!("{text}");
    } else {
        print_for_people(&outcome);
    }
    Ok(())
}

fn print_for_people(o: &Outcome) {
    let name = o.user.username.as_deref().unwrap_or("(no username)");
    let headline = match &o.decision {
        Decision::SignIn { .. } => format!("sign in as \"{name}\""),
        Decision::Link { matched_by, .. } => {
            format!("link this identity to \"{name}\" (matched by {matched_by:?})")
        }
        Decision::Provision { .. } => format!("create \"{name}\""),
        Decision::Reject(r) => format!("reject ({}): {r}", r.code()),
    };
    outln!("Decision:    {headline}");
    if !matches!(o.decision, Decision::Reject(_)) {
        outln!(
            "Session:     {}",
            if o.allow_session {
                "yes"
            } else {
                "no (awaiting approval)"
            }
        );
        let u = &o.user;
        outln!(
            "User:        {name} <{}> \"{}\"{}",
            u.email.as_deref().unwrap_or("no email"),
            u.display_name.as_deref().unwrap_or(""),
            if u.is_admin { ", admin" } else { "" }
        );
        for (label, kind) in [
            ("Permissions", GrantKind::Permission),
            ("Libraries", GrantKind::Library),
            ("Groups", GrantKind::Group),
        ] {
            outln!("{:<12} {}", format!("{label}:"), o.names(kind).join(", "));
        }
        let c = &o.changes;
        for g in &c.grants.added {
            outln!("  + {} \"{}\" ({})", g.kind, g.name, g.source);
        }
        for g in &c.grants.removed {
            outln!("  - {} \"{}\" ({})", g.kind, g.name, g.source);
        }
        for r in &c.grants.refused {
            outln!(
                "  ! kept {} \"{}\": {}",
                r.grant.kind,
                r.grant.name,
                r.reason
            );
        }
        for a in &c.attributes {
            outln!(
                "  ~ {}: {} -> {}",
                a.field,
                a.from.as_deref().unwrap_or("none"),
                a.to.as_deref().unwrap_or("none")
            );
        }
    }
    outln!("Trace:");
    for line in o.trace.to_strings() {
        outln!("  {line}");
    }
}
