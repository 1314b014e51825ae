//! `ssogate settings …`: show and change provisioning settings, global or a provider's.

use crate::admin_cmd::{actor, fail, json_out, no_provider};
use crate::{Failure, open_directory};
use clap::Subcommand;
use ssogate_admin::Admin;
use ssogate_core::policy::Scope;
use std::sync::Arc;

#[derive(Subcommand)]
pub(crate) enum SettingsCommand {
    /// The provisioning settings in force for each provider (or one).
    Show {
        provider: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Save one provisioning setting of a provider (JSON value, e.g. `false` or
    /// `'["download_books"]'`); refused unless the result compiles.
    Set {
        provider: String,
        key: String,
        value: String,
    },
    /// Save one global provisioning setting: in force for every provider that does not
    /// set it itself.
    SetGlobal { key: String, value: String },
}

/// The keys `settings set` and the console save.
const SETTING_KEYS: [&str; 9] = [
    "auto_provision",
    "soft_auto_provision",
    "disable_account_creation",
    "require_approval",
    "default_permissions",
    "default_libraries",
    "default_groups",
    "admin_email_domains",
    "rules",
];

pub(crate) fn settings(
    config: &ssogate_config::Config,
    cmd: SettingsCommand,
) -> Result<(), Failure> {
    match cmd {
        SettingsCommand::Show { provider, json } => {
            let (store, _) = open_directory(config)?;
            let saved = ssogate_server::registry::read_saved(store.as_ref())
                .map_err(|e| Failure::Runtime(e.to_string()))?;
            let (all, _) = config.all_providers(&saved);
            let chosen: Vec<&ssogate_config::ProviderConfig> = match &provider {
                Some(p) => vec![
                    all.iter()
                        .find(|c| &c.slug == p)
                        .ok_or_else(|| Failure::Input(no_provider(p, &all)))?,
                ],
                None => all.iter().collect(),
            };
            let mut out = serde_json::Map::new();
            if provider.is_none() {
                out.insert(
                    "global".into(),
                    saved
                        .global
                        .clone()
                        .unwrap_or_else(|| serde_json::json!({})),
                );
            }
            for p in chosen {
                let (_, policy) = config
                    .compile(p, &saved)
                    .map_err(|e| Failure::Runtime(e.to_string()))?;
                let v =
                    serde_json::to_value(&policy).map_err(|e| Failure::Runtime(e.to_string()))?;
                let shown: serde_json::Map<String, serde_json::Value> = SETTING_KEYS
                    .iter()
                    .filter_map(|k| Some(((*k).to_owned(), v.get(*k)?.clone())))
                    .collect();
                out.insert(p.slug.clone(), serde_json::Value::Object(shown));
            }
            if json {
                return json_out(&out);
            }
            for (slug, v) in &out {
                if slug == "global" {
                    outln!(
                        "[global] (saved in the console; in force unless a provider sets the key)"
                    );
                } else {
                    outln!("[{slug}]");
                }
                for (k, val) in v.as_object().into_iter().flatten() {
                    outln!("  {k:<26} {val}");
                }
            }
            Ok(())
        }
        SettingsCommand::Set {
            provider,
            key,
            value,
        } => save_setting(config, Some(&provider), &key, &value),
        SettingsCommand::SetGlobal { key, value } => save_setting(config, None, &key, &value),
    }
}

/// Saves one provisioning setting of a provider (or, with `None`, the global one),
/// refused unless every provider still compiles with it.
fn save_setting(
    config: &ssogate_config::Config,
    provider: Option<&str>,
    key: &str,
    value: &str,
) -> Result<(), Failure> {
    let (store, _) = open_directory(config)?;
    let store: Arc<dyn ssogate_store::Directory> = Arc::from(store);
    if let Some(slug) = provider {
        let saved = ssogate_server::registry::read_saved(store.as_ref())
            .map_err(|e| Failure::Runtime(e.to_string()))?;
        let (all, _) = config.all_providers(&saved);
        if !all.iter().any(|p| p.slug == slug) {
            return Err(Failure::Input(no_provider(slug, &all)));
        }
    }
    if !SETTING_KEYS.contains(&key) {
        return Err(Failure::Input(format!(
            "\"{key}\" is not a provisioning setting; one of: {}",
            SETTING_KEYS.join(", ")
        )));
    }
    let parsed: serde_json::Value = serde_json::from_str(value)
        .map_err(|e| Failure::Input(format!("{key}: \"{value}\" is not a JSON value ({e})")))?;
    let mut changes = serde_json::Map::new();
    changes.insert(key.to_owned(), parsed);
    let scope = provider.map_or(Scope::Global, |p| Scope::Provider(p.to_owned()));
    Admin::new(store.clone(), actor())
        .save_settings(&scope, changes, false, |doc| {
            ssogate_server::registry::check(config, store.as_ref(), |saved| {
                saved.put_settings(&scope, doc);
            })
            .map_err(|e| format!("{key}: {e}; nothing was saved"))
        })
        .map_err(fail)?;
    outln!(
        "saved {}.{key}; running servers apply it at once",
        scope.name()
    );
    Ok(())
}
