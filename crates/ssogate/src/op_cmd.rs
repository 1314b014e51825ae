//! `ssogate op keys …`: the signing keys of ssogate as an OpenID Provider — list them,
//! rotate them (the next key is published before it signs; the old one stays published
//! until every token it signed has expired).

use crate::Failure;
use crate::admin_cmd::{json_out, time};
use clap::Subcommand;
use ssogate_store::directory::op::StoredKey;

#[derive(Subcommand)]
pub(crate) enum OpCommand {
    /// The provider's signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Subcommand)]
pub(crate) enum KeysCommand {
    /// The published keys: which signs, which is next, which is retiring.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Make the next key: published now, signing after `--publish-minutes` (long enough
    /// for applications to fetch the JWKS again); the current key stays published until
    /// every token it signed has expired.
    Rotate {
        #[arg(long, default_value_t = 10, value_name = "MINUTES")]
        publish_minutes: i64,
        /// Which algorithm's key: RS256, ES256 or EdDSA (the others' keys are left as
        /// they are).
        #[arg(long, default_value = "RS256")]
        alg: String,
        #[arg(long)]
        json: bool,
    },
}

fn now() -> i64 {
    ssogate_store::RequestContext::now().now
}

pub(crate) fn op(config: &ssogate_config::Config, cmd: OpCommand) -> Result<(), Failure> {
    let OpCommand::Keys(cmd) = cmd;
    if !config.signing_keys.is_empty() {
        return file_keys(config, cmd);
    }
    let (store, name) = crate::open_directory(config)?;
    let runtime = |e: ssogate_store::StoreError| Failure::Runtime(e.to_string());
    match cmd {
        KeysCommand::List { json } => {
            let now = now();
            let keys = store.op_keys(now).map_err(runtime)?;
            // The signer of each algorithm: its last key already active.
            let signs = |i: usize, k: &StoredKey| {
                keys.iter()
                    .enumerate()
                    .filter(|(_, o)| o.alg == k.alg)
                    .rfind(|(_, o)| o.activates_at <= now)
                    .is_some_and(|(j, _)| j == i)
            };
            let role = |i: usize, k: &StoredKey| match (signs(i, k), k.retired_at) {
                (true, _) => "signing",
                (false, Some(_)) => "retiring",
                (false, None) if k.activates_at > now => "next",
                (false, None) => "published",
            };
            if json {
                let v: Vec<serde_json::Value> = keys
                    .iter()
                    .enumerate()
                    .map(|(i, k)| {
                        serde_json::json!({"kid": k.kid, "alg": k.alg, "role": role(i, k),
                            "created_at": k.created_at, "activates_at": k.activates_at,
                            "retired_at": k.retired_at})
                    })
                    .collect();
                return json_out(&v);
            }
            if keys.is_empty() {
                outln!(
                    "{name}: no signing key yet (the first is made when an application first needs one)"
                );
            }
            for (i, k) in keys.iter().enumerate() {
                outln!(
                    "{}  {}  {:<9}  made {}{}",
                    k.kid,
                    k.alg,
                    role(i, k),
                    time(k.created_at),
                    match (k.retired_at, k.activates_at > now) {
                        (Some(r), _) => format!(", published until {}", time(r)),
                        (None, true) => format!(", signs from {}", time(k.activates_at)),
                        (None, false) => String::new(),
                    }
                );
            }
            Ok(())
        }
        KeysCommand::Rotate {
            publish_minutes,
            alg,
            json,
        } => {
            let alg = ssogate_op::keys::Alg::parse(&alg).ok_or_else(|| {
                Failure::Input(format!("--alg: \"{alg}\" is not RS256, ES256 or EdDSA"))
            })?;
            if !(0..=10_080).contains(&publish_minutes) {
                return Err(Failure::Input(
                    "--publish-minutes: between 0 and 10080 (a week)".into(),
                ));
            }
            let now = now();
            let key = ssogate_op::keys::SigningKey::generate_for(alg)
                .map_err(|e| Failure::Runtime(e.to_string()))?;
            let wrap = config
                .signing_key_encryption
                .as_ref()
                .map(|s| ssogate_op::keys::KeyWrap::from_secret(s.expose().as_bytes()))
                .transpose()
                .map_err(|e| Failure::Runtime(e.to_string()))?;
            let private_key = ssogate_op::keys::stored_text(wrap.as_ref(), &key)
                .map_err(|e| Failure::Runtime(e.to_string()))?;
            // With no key yet there is nothing to overlap with: the new one signs at once.
            let has_key = store
                .op_keys(now)
                .map_err(runtime)?
                .iter()
                .any(|k| k.alg == alg.as_str());
            let activates = if has_key {
                now + publish_minutes * 60
            } else {
                now
            };
            // Tokens the current key signs until then live at most this long.
            let registered = store
                .op_clients()
                .map_err(runtime)?
                .into_iter()
                .filter_map(|c| {
                    ssogate_config::client_from_document(
                        &c.id,
                        &c.spec,
                        c.secret_sha256.as_ref().map(|_| [0; 32]),
                    )
                    .ok()
                });
            let longest = config
                .clients
                .values()
                .cloned()
                .chain(registered)
                .map(|c| c.id_token_seconds.max(c.access_token_seconds))
                .max()
                .unwrap_or(300)
                .max(120);
            let retire = activates + longest + 300;
            store
                .op_rotate_key(
                    StoredKey {
                        kid: key.kid.clone(),
                        alg: alg.as_str().into(),
                        private_key,
                        created_at: now,
                        activates_at: activates,
                        retired_at: None,
                    },
                    retire,
                )
                .map_err(runtime)?;
            store
                .record_event(ssogate_store::audit::NewEvent {
                    at: now,
                    event: "op.keys_rotated".into(),
                    outcome: "success".into(),
                    detail: Some(format!(
                        "next {alg} key {} signs from {}; the current {alg} key is published until {}",
                        key.kid,
                        time(activates),
                        time(retire)
                    )),
                    ..Default::default()
                })
                .map_err(runtime)?;
            if json {
                return json_out(
                    &serde_json::json!({"kid": key.kid, "alg": alg.as_str(), "activates_at": activates, "previous_retired_at": retire}),
                );
            }
            outln!(
                "{name}: the next {alg} key {} is published now and signs from {}; the current {alg} key stays published until {}",
                key.kid,
                time(activates),
                time(retire)
            );
            Ok(())
        }
    }
}

/// With `[server] signing_key_files` the keys are the operator's files: listed as the
/// server reads them (the first of each algorithm signs); rotation is the operator's.
fn file_keys(config: &ssogate_config::Config, cmd: KeysCommand) -> Result<(), Failure> {
    let json = match cmd {
        KeysCommand::List { json } => json,
        KeysCommand::Rotate { .. } => {
            return Err(Failure::Input(
                "the signing keys come from [server] signing_key_files, not the directory: \
                 to rotate, list the new key's file first and keep the old one listed until \
                 what it signed has expired (the longest ID-token or access-token lifetime), \
                 then restart every instance"
                    .into(),
            ));
        }
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut rows = Vec::new();
    for (path, text) in &config.signing_keys {
        let key = ssogate_op::keys::SigningKey::from_pem(text.expose().as_bytes())
            .map_err(|e| Failure::Input(format!("{}: {e}", path.display())))?;
        let role = if seen.insert(key.alg) {
            "signing"
        } else {
            "published"
        };
        rows.push((key.kid, key.alg, role, path.display().to_string()));
    }
    if json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(kid, alg, role, file)| {
                serde_json::json!({"kid": kid, "alg": alg.as_str(), "role": role, "file": file})
            })
            .collect();
        return json_out(&v);
    }
    for (kid, alg, role, file) in rows {
        outln!("{kid}  {alg}  {role:<9}  {file}");
    }
    Ok(())
}
