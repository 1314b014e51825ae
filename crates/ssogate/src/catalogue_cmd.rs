//! `ssogate group|library|permission …`: the catalogue, as in the console. Items the
//! configuration file defines are listed and read-only.

use crate::Failure;
use crate::admin_cmd::{admin, fail, json_out};
use clap::Subcommand;
use ssogate_config::Config;
use ssogate_core::domain::{Catalogue, format_external_ids, parse_external_ids};
use ssogate_store::catalogue::{Item, ItemKind};
use std::io::{BufRead, IsTerminal, Write};

#[derive(Subcommand)]
pub(crate) enum CatalogueCommand {
    /// Every item with how many accounts hold it.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Create an item.
    Add {
        name: String,
        #[command(flatten)]
        fields: Fields,
    },
    /// Change an item; `--rename` gives it a new name (every grant follows).
    Update {
        name: String,
        #[arg(long, value_name = "NEW_NAME")]
        rename: Option<String>,
        #[command(flatten)]
        fields: Fields,
    },
    /// Delete an item and every grant of it (asks for confirmation unless --force).
    Delete {
        name: String,
        #[arg(long)]
        force: bool,
    },
}

#[derive(clap::Args)]
pub(crate) struct Fields {
    /// Permissions and libraries: a label for people.
    #[arg(long)]
    label: Option<String>,
    /// Permissions: every account holds it (`--required true|false`).
    #[arg(long)]
    required: Option<bool>,
    /// Groups: the provider group names that map to it, comma-separated (`\,` is a
    /// comma), as BookStack's "External Authentication IDs"; empty removes them.
    #[arg(long, value_name = "IDS")]
    external_ids: Option<String>,
    #[arg(long)]
    json: bool,
}

fn checker(config: &Config) -> Result<impl Fn(&Catalogue) -> Result<(), String>, Failure> {
    let (store, _) = crate::open_directory(config)?;
    let config = config.clone();
    Ok(move |c: &Catalogue| ssogate_server::registry::check_catalogue(&config, store.as_ref(), c))
}

fn refuse_fields(kind: ItemKind, f: &Fields) -> Result<(), Failure> {
    let bad = match kind {
        ItemKind::Group if f.label.is_some() || f.required.is_some() => "--label and --required",
        ItemKind::Library if f.required.is_some() || f.external_ids.is_some() => {
            "--required and --external-ids"
        }
        ItemKind::Permission if f.external_ids.is_some() => "--external-ids",
        _ => return Ok(()),
    };
    Err(Failure::Input(format!("a {kind} has no {bad}")))
}

pub(crate) fn catalogue(
    config: &Config,
    kind: ItemKind,
    cmd: CatalogueCommand,
) -> Result<(), Failure> {
    let adm = admin(config)?;
    match cmd {
        CatalogueCommand::List { json } => {
            let items: Vec<_> = adm
                .catalogue()
                .map_err(fail)?
                .into_iter()
                .filter(|i| i.entry.item.kind == kind)
                .collect();
            if json {
                return json_out(&items);
            }
            let extra = if kind == ItemKind::Group {
                "EXTERNAL IDS"
            } else {
                "LABEL"
            };
            outln!("{:<28} {:<36} {:>8}  MANAGED BY", "NAME", extra, "ACCOUNTS");
            for i in items {
                let e = &i.entry.item;
                let mut detail = if kind == ItemKind::Group {
                    format_external_ids(&e.external_ids)
                } else {
                    e.label.clone().unwrap_or_default()
                };
                if e.required {
                    detail.push_str(" (required)");
                }
                outln!(
                    "{:<28} {:<36} {:>8}  {}",
                    e.name,
                    detail,
                    i.entry.holders,
                    i.managed_by
                );
            }
            Ok(())
        }
        CatalogueCommand::Add { name, fields } => {
            refuse_fields(kind, &fields)?;
            let item = Item {
                kind,
                name,
                label: fields.label.clone(),
                required: fields.required.unwrap_or(false),
                external_ids: parse_external_ids(fields.external_ids.as_deref().unwrap_or("")),
            };
            let made = adm.create_item(item, checker(config)?).map_err(fail)?;
            if fields.json {
                return json_out(&made);
            }
            outln!("created the {kind} {}", made.entry.item.name);
            Ok(())
        }
        CatalogueCommand::Update {
            name,
            rename,
            fields,
        } => {
            refuse_fields(kind, &fields)?;
            let current = adm.catalogue_item(kind, &name).map_err(fail)?.entry.item;
            let item = Item {
                kind,
                name: rename.unwrap_or_else(|| current.name.clone()),
                label: fields.label.clone().or(current.label),
                required: fields.required.unwrap_or(current.required),
                external_ids: match &fields.external_ids {
                    Some(ids) => parse_external_ids(ids),
                    None => current.external_ids,
                },
            };
            let changed = adm
                .update_item(&current.name, item, checker(config)?)
                .map_err(fail)?;
            if fields.json {
                return json_out(&changed);
            }
            outln!(
                "saved the {kind} {} ({} account{} hold{} it)",
                changed.entry.item.name,
                changed.entry.holders,
                if changed.entry.holders == 1 { "" } else { "s" },
                if changed.entry.holders == 1 { "s" } else { "" }
            );
            Ok(())
        }
        CatalogueCommand::Delete { name, force } => {
            if !force {
                let holders = adm.catalogue_item(kind, &name).map_err(fail)?.entry.holders;
                if !std::io::stdin().is_terminal() {
                    return Err(Failure::Input(format!(
                        "deleting the {kind} \"{name}\" ({holders} account{} hold{} it) needs confirmation: run it in a terminal, or add --force",
                        if holders == 1 { "" } else { "s" },
                        if holders == 1 { "s" } else { "" }
                    )));
                }
                out!(
                    "Delete the {kind} \"{name}\" from {holders} account(s)? Type its name to confirm: "
                );
                let _ = std::io::stdout().flush();
                let mut answer = String::new();
                let _ = std::io::stdin().lock().read_line(&mut answer);
                if answer.trim() != name {
                    return Err(Failure::Input("not confirmed; nothing was deleted".into()));
                }
            }
            let n = adm
                .delete_item(kind, &name, checker(config)?)
                .map_err(fail)?;
            outln!(
                "deleted the {kind} {name}; {n} account{} lost it",
                if n == 1 { "" } else { "s" }
            );
            Ok(())
        }
    }
}
