//! `ssogate client …`: the OpenID Provider's clients registered in the directory — add
//! (a confidential client's secret printed once), list, show, update, delete,
//! rotate-secret. The file's `[clients.<id>]` are changed in the file.

use crate::Failure;
use crate::admin_cmd::{admin, fail, json_out, time};
use clap::Subcommand;
use serde_json::{Map, Value};

#[derive(Subcommand)]
pub(crate) enum ClientCommand {
    /// Register a client; a confidential client's secret is printed once.
    Add {
        /// What the application sends as client_id.
        client_id: String,
        /// Its callback URL, exactly as it sends it (repeat for several).
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// The name people see.
        #[arg(long)]
        name: Option<String>,
        /// An application that cannot keep a secret (PKCE, no secret).
        #[arg(long)]
        public: bool,
        /// Where it may send people after signing out (repeat for several).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// Where ssogate tells it that a session ended (Back-Channel Logout).
        #[arg(long)]
        backchannel_logout_uri: Option<String>,
        /// Any other keys of `[clients.<id>]`, as a JSON object, e.g.
        /// '{"scopes": ["openid", "profile", "groups"], "access": {"groups": ["wiki"]}}'.
        #[arg(long)]
        settings: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List the registered clients (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// One registered client, with its settings.
    Show {
        client_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a client: each key of --settings replaces the saved one, null removes it.
    Update {
        client_id: String,
        /// Replaces its callback URLs (repeat for several).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        #[arg(long)]
        name: Option<String>,
        /// Keys of `[clients.<id>]` as a JSON object.
        #[arg(long)]
        settings: Option<String>,
    },
    /// Remove a client with what it was issued: its tokens stop working.
    Delete { client_id: String },
    /// A new secret for a confidential client, printed once; the old one stops working.
    RotateSecret { client_id: String },
}

fn settings_arg(text: Option<&str>) -> Result<Map<String, Value>, Failure> {
    match text {
        None => Ok(Map::new()),
        Some(t) => match serde_json::from_str(t) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(Failure::Input(
                "--settings must be a JSON object of [clients.<id>] keys, e.g. '{\"scopes\": [\"openid\", \"profile\"]}'".into(),
            )),
        },
    }
}

pub(crate) fn client(config: &ssogate_config::Config, cmd: ClientCommand) -> Result<(), Failure> {
    let admin = admin(config)?;
    let check = |id: &str, doc: &Value, confidential: bool| {
        ssogate_server::registry::check_client(config, id, doc, confidential)
    };
    match cmd {
        ClientCommand::Add {
            client_id,
            redirect_uris,
            name,
            public,
            post_logout_redirect_uris,
            backchannel_logout_uri,
            settings,
            json,
        } => {
            let mut doc = settings_arg(settings.as_deref())?;
            doc.insert("redirect_uris".into(), redirect_uris.into());
            if let Some(n) = name {
                doc.insert("name".into(), n.into());
            }
            if public {
                doc.insert("public".into(), true.into());
            }
            if !post_logout_redirect_uris.is_empty() {
                doc.insert(
                    "post_logout_redirect_uris".into(),
                    post_logout_redirect_uris.into(),
                );
            }
            if let Some(u) = backchannel_logout_uri {
                doc.insert("backchannel_logout_uri".into(), u.into());
            }
            let (c, secret) = admin.add_client(&client_id, doc, &check).map_err(fail)?;
            let secret = secret.map(|s| s.expose().to_owned());
            if json {
                return json_out(&serde_json::json!({"client": c, "client_secret": secret}));
            }
            match secret {
                Some(s) => {
                    outln!("{s}");
                    eprintln!(
                        "Client \"{}\" registered. This client secret is shown once: put it in the application's settings now.",
                        c.client_id
                    );
                }
                None => outln!("public client \"{}\" registered", c.client_id),
            }
            Ok(())
        }
        ClientCommand::List { json } => {
            let list = admin.clients().map_err(fail)?;
            if json {
                return json_out(&serde_json::json!({"clients": list}));
            }
            outln!(
                "{:<24} {:<13} {:<20} REDIRECT URIS",
                "CLIENT ID",
                "TYPE",
                "UPDATED"
            );
            for c in &list {
                let uris = c
                    .settings
                    .get("redirect_uris")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_default();
                outln!(
                    "{:<24} {:<13} {:<20} {}",
                    c.client_id,
                    if c.confidential {
                        "confidential"
                    } else {
                        "public"
                    },
                    time(c.updated_at),
                    uris
                );
            }
            if !config.clients.is_empty() {
                eprintln!(
                    "(and {} client(s) of the configuration file, changed there)",
                    config.clients.len()
                );
            }
            Ok(())
        }
        ClientCommand::Show { client_id, json } => {
            let c = admin.client(&client_id).map_err(fail)?;
            if json {
                return json_out(&c);
            }
            outln!("client_id    {}", c.client_id);
            outln!(
                "type         {}",
                if c.confidential {
                    "confidential"
                } else {
                    "public"
                }
            );
            outln!("created      {}", time(c.created_at));
            outln!("updated      {}", time(c.updated_at));
            outln!(
                "settings     {}",
                serde_json::to_string_pretty(&c.settings).unwrap_or_default()
            );
            Ok(())
        }
        ClientCommand::Update {
            client_id,
            redirect_uris,
            name,
            settings,
        } => {
            let mut changes = settings_arg(settings.as_deref())?;
            if !redirect_uris.is_empty() {
                changes.insert("redirect_uris".into(), redirect_uris.into());
            }
            if let Some(n) = name {
                changes.insert("name".into(), n.into());
            }
            if changes.is_empty() {
                return Err(Failure::Input(
                    "nothing to change: give --redirect-uri, --name or --settings".into(),
                ));
            }
            admin
                .update_client(&client_id, changes, &check)
                .map_err(fail)?;
            outln!("client \"{client_id}\" changed");
            Ok(())
        }
        ClientCommand::Delete { client_id } => {
            admin.remove_client(&client_id).map_err(fail)?;
            outln!("client \"{client_id}\" removed");
            Ok(())
        }
        ClientCommand::RotateSecret { client_id } => {
            let secret = admin.rotate_client_secret(&client_id).map_err(fail)?;
            outln!("{}", secret.expose());
            eprintln!("This client secret is shown once; the old one no longer works.");
            Ok(())
        }
    }
}
