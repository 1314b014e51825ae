//! `ssogate config show --effective`: every setting each provider runs with, and where
//! it comes from (the file, the console's saved settings, a default).

use crate::Failure;
use crate::admin_cmd::{json_out, no_provider};
use crate::open_directory;
use clap::Subcommand;

#[derive(Subcommand)]
pub(crate) enum ConfigCommand {
    /// Show the settings in force.
    Show {
        /// Every value a provider runs with and its source: the file's tables, the
        /// settings saved in the console, or the default.
        #[arg(long)]
        effective: bool,
        /// Only this provider.
        #[arg(long)]
        provider: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn config(config: &ssogate_config::Config, cmd: ConfigCommand) -> Result<(), Failure> {
    let ConfigCommand::Show {
        effective,
        provider,
        json,
    } = cmd;
    if !effective {
        return Err(Failure::Input(
            "say --effective: `ssogate config show --effective [--provider SLUG]` (the file itself is what you wrote)".into(),
        ));
    }
    let (store, _) = open_directory(config)?;
    let saved = ssogate_server::registry::read_saved(&*store)
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    let (all, _) = config.all_providers(&saved);
    let chosen: Vec<&ssogate_config::ProviderConfig> = match &provider {
        Some(slug) => match all.iter().find(|p| &p.slug == slug) {
            Some(p) => vec![p],
            None => return Err(Failure::Input(no_provider(slug, &all))),
        },
        None => all.iter().collect(),
    };
    let mut out = serde_json::Map::new();
    for p in chosen {
        let settings = config
            .effective(p, &saved)
            .map_err(|e| Failure::Input(e.to_string()))?;
        if json {
            out.insert(
                p.slug.clone(),
                serde_json::to_value(&settings).unwrap_or_default(),
            );
            continue;
        }
        outln!("[{}]", p.slug);
        let width = settings.iter().map(|s| s.key.len()).max().unwrap_or(0);
        for s in &settings {
            outln!("  {:<width$}  {:<40}  {}", s.key, s.value, s.source);
        }
    }
    if json {
        return json_out(&out);
    }
    Ok(())
}
