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
mod import_cmd;
mod op_cmd;
mod provider_cmd;
mod provision_cmd;
mod serve;
mod settings_cmd;
mod user_cmd;
mod webhook_cmd;

use clap::{Parser, Subcommand};
use ssogate_store::Directory;
use ssogate_store::catalogue::ItemKind;
use std::path::PathBuf;
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
    Provision(provision_cmd::ProvisionArgs),
    /// Load and check the configuration, then print the providers it defines.
    CheckConfig,
    /// Create or upgrade the database schema and store the configured catalogue.
    Migrate,
    /// Pre-provision accounts from a CSV or JSON Lines file (one transaction per row).
    Import(import_cmd::ImportArgs),
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
        Command::Provision(args) => provision_cmd::provision(&config, &args),
        Command::Migrate => migrate(&config),
        Command::Import(args) => import_cmd::import(&config, &args),
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
