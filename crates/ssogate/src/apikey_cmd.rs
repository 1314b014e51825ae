//! `ssogate apikey …`: create (shown once), list, revoke.

use crate::Failure;
use crate::admin_cmd::{admin, fail, json_out, time};
use clap::Subcommand;
use ssogate_store::credentials::ApiScope;

#[derive(Subcommand)]
pub(crate) enum ApikeyCommand {
    /// Create a key; it is printed once and stored only as a hash.
    Create {
        name: String,
        /// read or admin (the REST API), or scim (a provider's SCIM client, with --provider).
        #[arg(long, default_value = "read")]
        scope: String,
        /// For --scope scim: the provider whose SCIM client uses the token.
        #[arg(long)]
        provider: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List keys (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by its id.
    Revoke { id: i64 },
}

pub(crate) fn apikey(config: &ssogate_config::Config, cmd: ApikeyCommand) -> Result<(), Failure> {
    if let ApikeyCommand::Create { scope, .. } = &cmd
        && !matches!(scope.as_str(), "read" | "admin" | "scim")
    {
        return Err(Failure::Input(format!(
            "--scope: \"{scope}\" is not read, admin or scim"
        )));
    }
    if let ApikeyCommand::Create {
        scope, provider, ..
    } = &cmd
        && (scope == "scim") != provider.is_some()
    {
        return Err(Failure::Input(
            "--provider goes with --scope scim (a SCIM token is bound to one provider), and only with it".into(),
        ));
    }
    let admin = admin(config)?;
    match cmd {
        ApikeyCommand::Create {
            name,
            scope,
            provider: Some(provider),
            json,
        } => {
            let key = admin.create_scim_token(&name, &provider).map_err(fail)?;
            if json {
                return json_out(
                    &serde_json::json!({"name": name.trim(), "scope": "scim", "provider": provider, "key": key.expose()}),
                );
            }
            let _ = scope;
            outln!("{}", key.expose());
            eprintln!(
                "This SCIM token is shown once; give it to {provider}'s SCIM client with the base URL <base_url>/scim/v2."
            );
            Ok(())
        }
        ApikeyCommand::Create {
            name,
            scope,
            provider: None,
            json,
        } => {
            let scope = if scope == "admin" {
                ApiScope::Admin
            } else {
                ApiScope::Read
            };
            let key = admin.create_api_key(&name, scope).map_err(fail)?;
            if json {
                return json_out(
                    &serde_json::json!({"name": name.trim(), "scope": scope.as_str(), "key": key.expose()}),
                );
            }
            outln!("{}", key.expose());
            eprintln!("This key is shown once; store it now. It is kept only as a hash.");
            Ok(())
        }
        ApikeyCommand::List { json } => {
            let keys = admin.api_keys().map_err(fail)?;
            if json {
                let v: Vec<serde_json::Value> = keys
                    .iter()
                    .map(|k| {
                        serde_json::json!({"id": k.id, "name": k.name, "prefix": k.prefix,
                            "scope": k.scope.as_str(), "provider": k.provider, "created_at": k.created_at,
                            "last_used_at": k.last_used_at, "revoked_at": k.revoked_at})
                    })
                    .collect();
                return json_out(&serde_json::json!({"keys": v}));
            }
            outln!(
                "{:<5} {:<24} {:<12} {:<6} {:<17} STATE",
                "ID",
                "NAME",
                "PREFIX",
                "SCOPE",
                "LAST USED"
            );
            for k in &keys {
                outln!(
                    "{:<5} {:<24} {:<12} {:<6} {:<17} {}",
                    k.id,
                    k.name,
                    k.prefix,
                    k.provider
                        .as_ref()
                        .map_or_else(|| k.scope.as_str().to_owned(), |p| format!("scim:{p}")),
                    k.last_used_at.map_or_else(|| "never".to_owned(), time),
                    if k.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "live"
                    }
                );
            }
            Ok(())
        }
        ApikeyCommand::Revoke { id } => {
            admin.revoke_api_key(id).map_err(fail)?;
            outln!("revoked key {id}");
            Ok(())
        }
    }
}
