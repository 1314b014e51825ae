//! `ssogate provider …`: the configuration file's providers (read-only) and those saved
//! in the database (added, changed, deleted here, in the console or through the API).

use crate::Failure;
use crate::admin_cmd::{admin, fail, json_out, no_provider};
use clap::Subcommand;
use serde_json::{Map, Value};
use ssogate_config::{Config, ProviderConfig};
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Subcommand)]
pub(crate) enum ProviderCommand {
    /// Every provider: the configuration file's and those saved in the database.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One provider's settings (never its secret) and how many accounts are linked.
    Show {
        slug: String,
        #[arg(long)]
        json: bool,
    },
    /// Fetch discovery and keys, and say whether logins through this provider can work
    /// (exit 0) or not (exit 1).
    Check {
        /// The provider's slug.
        slug: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add a provider, saved in the database; running servers serve it at once.
    Add {
        /// Lower-case letters, digits, `-` and `_`; the callback is
        /// `{base_url}/auth/<slug>/callback`.
        slug: String,
        #[command(flatten)]
        fields: ProviderFields,
    },
    /// Change a provider saved in the database; what is not given is kept.
    Update {
        slug: String,
        #[command(flatten)]
        fields: ProviderFields,
        /// Remove a key of the provider's table.
        #[arg(long, value_name = "KEY")]
        unset: Vec<String>,
    },
    /// Delete a provider saved in the database (asks for confirmation unless --force);
    /// its accounts stay, its sessions end.
    Delete {
        slug: String,
        #[arg(long)]
        force: bool,
    },
    /// Fetch the provider's keys now and tell running servers to forget the cached ones.
    JwksRefresh { slug: String },
}

#[derive(clap::Args, Default)]
pub(crate) struct ProviderFields {
    /// The issuer URL (discovery is at `<issuer>/.well-known/openid-configuration`).
    #[arg(long)]
    issuer: Option<String>,
    #[arg(long)]
    client_id: Option<String>,
    /// Read the client secret from this file (it is stored in the database).
    #[arg(long, value_name = "FILE", conflicts_with = "client_secret_stdin")]
    client_secret_file: Option<PathBuf>,
    /// Read the client secret from standard input.
    #[arg(long)]
    client_secret_stdin: bool,
    /// The name on the sign-in button.
    #[arg(long)]
    display_name: Option<String>,
    /// Space-separated scopes (default: openid profile email).
    #[arg(long)]
    scopes: Option<String>,
    /// Any other key of a `[providers.<slug>]` table, as KEY=JSON (e.g.
    /// `--set trust_email='"always"'`, `--set claims='{"username": "email"}'`).
    #[arg(long, value_name = "KEY=JSON")]
    set: Vec<String>,
    #[arg(long)]
    json: bool,
}

impl ProviderFields {
    fn document(&self) -> Result<Map<String, Value>, Failure> {
        let mut doc = Map::new();
        for kv in &self.set {
            let (k, v) = kv.split_once('=').ok_or_else(|| {
                Failure::Input(format!(
                    "--set {kv}: write KEY=JSON, e.g. trust_email='\"always\"'"
                ))
            })?;
            let v: Value = serde_json::from_str(v).map_err(|e| {
                Failure::Input(format!(
                    "--set {k}: \"{v}\" is not a JSON value ({e}); quote strings, e.g. '\"always\"'"
                ))
            })?;
            doc.insert(k.trim().to_owned(), v);
        }
        let mut put = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                doc.insert(k.to_owned(), Value::String(v.clone()));
            }
        };
        put("issuer", &self.issuer);
        put("client_id", &self.client_id);
        put("display_name", &self.display_name);
        if let Some(s) = &self.scopes {
            doc.insert(
                "scopes".into(),
                Value::Array(
                    s.split_whitespace()
                        .map(|s| Value::String(s.into()))
                        .collect(),
                ),
            );
        }
        let secret = if let Some(f) = &self.client_secret_file {
            Some(std::fs::read_to_string(f).map_err(|e| {
                Failure::Input(format!(
                    "--client-secret-file: cannot read {} ({e})",
                    f.display()
                ))
            })?)
        } else if self.client_secret_stdin {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| Failure::Input(format!("--client-secret-stdin: {e}")))?;
            Some(s)
        } else {
            None
        };
        if let Some(s) = secret {
            doc.insert("client_secret".into(), Value::String(s.trim().to_owned()));
        }
        Ok(doc)
    }
}

/// The providers in force for this configuration and database.
fn all(config: &Config) -> Result<(Vec<ProviderConfig>, ssogate_config::Saved), Failure> {
    let (store, _) = crate::open_directory(config)?;
    let saved = ssogate_server::registry::read_saved(store.as_ref())
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    let (all, warnings) = config.all_providers(&saved);
    for w in warnings {
        eprintln!("warning: {w}");
    }
    Ok((all, saved))
}

fn find(config: &Config, slug: &str) -> Result<ProviderConfig, Failure> {
    let (all, _) = all(config)?;
    all.iter()
        .find(|p| p.slug == slug)
        .cloned()
        .ok_or_else(|| Failure::Input(no_provider(slug, &all)))
}

fn managed_by(p: &ProviderConfig) -> &'static str {
    if p.from_database {
        "database"
    } else {
        "config"
    }
}

pub(crate) fn provider(config: &Config, cmd: ProviderCommand) -> Result<(), Failure> {
    match cmd {
        ProviderCommand::List { json } => provider_list(config, json),
        ProviderCommand::Show { slug, json } => provider_show(config, &slug, json),
        ProviderCommand::Check { slug, json } => provider_check(config, &slug, json),
        ProviderCommand::Add { slug, fields } => {
            let doc = fields.document()?;
            let adm = admin(config)?;
            let (store, _) = crate::open_directory(config)?;
            let record = adm
                .add_provider(&slug, doc, |d| {
                    ssogate_server::registry::check_provider(config, store.as_ref(), &slug, d)
                })
                .map_err(fail)?;
            if fields.json {
                return json_out(&record);
            }
            outln!(
                "added {slug}; register {}/auth/{slug}/callback at the provider. Running servers on PostgreSQL serve it at once; with SQLite, within a second.",
                config.base_url
            );
            Ok(())
        }
        ProviderCommand::Update {
            slug,
            fields,
            unset,
        } => {
            let mut doc = fields.document()?;
            for k in unset {
                doc.insert(k, Value::Null);
            }
            if doc.is_empty() {
                return Err(Failure::Input(
                    "nothing to change; give --issuer, --client-id, --display-name, --scopes, --set or --unset".into(),
                ));
            }
            let adm = admin(config)?;
            let (store, _) = crate::open_directory(config)?;
            let record = adm
                .update_provider(&slug, doc, |d| {
                    ssogate_server::registry::check_provider(config, store.as_ref(), &slug, d)
                })
                .map_err(fail)?;
            if fields.json {
                return json_out(&record);
            }
            outln!("saved {slug}");
            Ok(())
        }
        ProviderCommand::Delete { slug, force } => {
            let adm = admin(config)?;
            let record = adm.saved_provider_record(&slug).map_err(fail)?;
            let n = record.linked_accounts;
            if !force {
                if !std::io::stdin().is_terminal() {
                    return Err(Failure::Input(format!(
                        "deleting the provider \"{slug}\" ({n} linked account{}) needs confirmation: run it in a terminal, or add --force",
                        if n == 1 { "" } else { "s" }
                    )));
                }
                out!(
                    "Delete the provider \"{slug}\"? {n} account{} linked to it; they stay but cannot sign in through it, and its sessions end. Type the slug to confirm: ",
                    if n == 1 { " is" } else { "s are" }
                );
                let _ = std::io::stdout().flush();
                let mut answer = String::new();
                let _ = std::io::stdin().lock().read_line(&mut answer);
                if answer.trim() != slug {
                    return Err(Failure::Input("not confirmed; nothing was deleted".into()));
                }
            }
            let n = adm.delete_provider(&slug).map_err(fail)?;
            outln!(
                "deleted {slug}; {n} linked account{} kept",
                if n == 1 { "" } else { "s" }
            );
            Ok(())
        }
        ProviderCommand::JwksRefresh { slug } => {
            let p = find(config, &slug)?;
            let report = fetch_report(config, &p)?;
            crate::admin_cmd::admin(config)?
                .refresh_keys(&slug)
                .map_err(|e| Failure::Runtime(e.to_string()))?;
            outln!(
                "{slug}: {} key{} published now ({}); running servers fetch them anew at the next sign-in",
                report.keys.len(),
                if report.keys.len() == 1 { "" } else { "s" },
                report
                    .keys
                    .iter()
                    .map(|k| k.kid.as_deref().unwrap_or("no kid"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if report.errors.is_empty() {
                Ok(())
            } else {
                for e in &report.errors {
                    eprintln!("error: {e}");
                }
                Err(Failure::Quiet(1))
            }
        }
    }
}

fn fetch_report(config: &Config, p: &ProviderConfig) -> Result<ssogate_oidc::CheckReport, Failure> {
    let settings = p.rp_settings(&config.base_url);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot start the async runtime: {e}")))?;
    runtime
        .block_on(async {
            match ssogate_oidc::Provider::new(settings, Arc::new(ssogate_oidc::SystemClock)) {
                Ok(rp) => Ok(rp.check().await),
                Err(e) => Err(e),
            }
        })
        .map_err(|e| Failure::Input(e.to_string()))
}
fn provider_check(config: &Config, slug: &str, json: bool) -> Result<(), Failure> {
    let p = find(config, slug)?;
    let report = fetch_report(config, &p)?;
    if json {
        let text =
            serde_json::to_string_pretty(&report).map_err(|e| Failure::Runtime(e.to_string()))?;
        outln!("{text}");
    } else {
        outln!("provider {} — issuer {}", report.provider, report.issuer);
        if report.metadata_fetched {
            outln!(
                "  metadata: {}",
                if report.discovered {
                    "discovered"
                } else {
                    "configured endpoints"
                }
            );
            for (name, url) in &report.endpoints {
                outln!("  {name:<24} {url}");
            }
            if !report.id_token_algorithms.is_empty() {
                outln!(
                    "  ID token algorithms      {}",
                    report.id_token_algorithms.join(", ")
                );
            }
            if !report.token_auth_methods.is_empty() {
                outln!(
                    "  token auth methods       {}",
                    report.token_auth_methods.join(", ")
                );
            }
            outln!(
                "  token auth used          {}",
                report.token_auth_method_used
            );
            outln!(
                "  PKCE (S256)              {}",
                if report.pkce { "yes" } else { "no" }
            );
        } else {
            outln!("  metadata: could not be fetched (the error below says why)");
        }
        for k in &report.keys {
            outln!(
                "  key {:<20} {:<14} {}{}",
                k.kid.as_deref().unwrap_or("(no kid)"),
                k.description,
                k.algorithms.join(","),
                k.weakness
                    .as_ref()
                    .map(|w| format!("  REFUSED: {w}"))
                    .unwrap_or_default()
            );
        }
        for s in &report.skipped_keys {
            outln!("  skipped key: {s}");
        }
        for w in &report.warnings {
            outln!("warning: {w}");
        }
        for e in &report.errors {
            outln!("error: {e}");
        }
        outln!(
            "{}",
            if report.usable {
                "usable"
            } else {
                "NOT usable"
            }
        );
    }
    if report.usable {
        Ok(())
    } else {
        Err(Failure::Quiet(1))
    }
}

fn provider_list(config: &Config, json: bool) -> Result<(), Failure> {
    let (all, _) = all(config)?;
    if json {
        let v: Vec<Value> = all
            .iter()
            .map(|p| {
                serde_json::json!({"slug": p.slug, "name": p.display_name, "issuer": p.issuer,
                    "client_id": p.client_id, "managed_by": managed_by(p)})
            })
            .collect();
        return json_out(&v);
    }
    outln!("{:<14} {:<28} {:<44} MANAGED BY", "SLUG", "NAME", "ISSUER");
    for p in &all {
        outln!(
            "{:<14} {:<28} {:<44} {}",
            p.slug,
            p.display_name,
            p.issuer,
            managed_by(p)
        );
    }
    Ok(())
}

fn provider_show(config: &Config, slug: &str, json: bool) -> Result<(), Failure> {
    let p = find(config, slug)?;
    let (store, _) = crate::open_directory(config)?;
    let linked = store
        .accounts_linked_to(slug)
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    let v = serde_json::json!({
        "slug": p.slug, "name": p.display_name, "issuer": p.issuer,
        "issuer_aliases": p.issuer_aliases, "client_id": p.client_id,
        "client_secret": p.client_secret.as_ref().map(|_| "[set]"),
        "scopes": p.scopes, "redirect_uri": format!("{}/auth/{}/callback", config.base_url, p.slug),
        "linked_accounts": linked, "managed_by": managed_by(&p),
    });
    if json {
        outln!("{v}");
        return Ok(());
    }
    for (k, val) in v.as_object().into_iter().flatten() {
        outln!("{k:<16} {val}");
    }
    Ok(())
}
