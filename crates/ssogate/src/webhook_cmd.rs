//! `ssogate webhook …`: add (the secret printed once), list, change, pause, resume,
//! re-key, remove, ping; the delivery log and replay.

use crate::Failure;
use crate::admin_cmd::{admin, fail, json_out, time};
use clap::Subcommand;

#[derive(Subcommand)]
pub(crate) enum WebhookCommand {
    /// Add an endpoint; its signing secret is printed once.
    Add {
        name: String,
        /// https://… (or http:// to this machine).
        url: String,
        /// `*` or events separated by commas: user.provisioned, user.updated,
        /// user.disabled, user.enabled, user.deleted, grants.changed, approval.needed.
        #[arg(long, default_value = "*")]
        events: String,
        #[arg(long)]
        json: bool,
    },
    /// List endpoints (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Change an endpoint's URL or events.
    Set {
        name: String,
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        events: Option<String>,
    },
    /// Pause an endpoint: nothing is queued for it or sent while paused.
    Pause { name: String },
    /// Resume a paused endpoint.
    Resume { name: String },
    /// A new signing secret, printed once.
    RotateSecret { name: String },
    /// Remove an endpoint and its delivery log.
    Remove { name: String },
    /// Queue a `ping` event to an endpoint (a running `ssogate serve` sends it).
    Ping { name: String },
    /// The newest deliveries, of one endpoint or all.
    Deliveries {
        name: Option<String>,
        /// Only deliveries with a smaller id (the previous page's last).
        #[arg(long)]
        before: Option<i64>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Send a delivery again (same webhook-id).
    Replay { id: i64 },
}

pub(crate) fn webhook(config: &ssogate_config::Config, cmd: WebhookCommand) -> Result<(), Failure> {
    let admin = admin(config)?;
    match cmd {
        WebhookCommand::Add {
            name,
            url,
            events,
            json,
        } => {
            let (hook, secret) = admin.add_webhook(&name, &url, &events).map_err(fail)?;
            if json {
                return json_out(&serde_json::json!({"webhook": hook, "secret": secret.expose()}));
            }
            outln!("{}", secret.expose());
            eprintln!(
                "Webhook \"{}\" added. This signing secret is shown once: give it to the receiver now.",
                hook.name
            );
            Ok(())
        }
        WebhookCommand::List { json } => {
            let hooks = admin.webhooks().map_err(fail)?;
            if json {
                return json_out(&serde_json::json!({"webhooks": hooks}));
            }
            outln!("{:<20} {:<8} {:<40} EVENTS", "NAME", "STATE", "URL");
            for h in &hooks {
                outln!(
                    "{:<20} {:<8} {:<40} {}",
                    h.name,
                    if h.enabled { "on" } else { "paused" },
                    h.url,
                    h.events.join(", ")
                );
            }
            Ok(())
        }
        WebhookCommand::Set { name, url, events } => {
            admin
                .update_webhook(&name, url.as_deref(), events.as_deref(), None)
                .map_err(fail)?;
            outln!("webhook \"{name}\" changed");
            Ok(())
        }
        WebhookCommand::Pause { name } => {
            admin
                .update_webhook(&name, None, None, Some(false))
                .map_err(fail)?;
            outln!("webhook \"{name}\" paused");
            Ok(())
        }
        WebhookCommand::Resume { name } => {
            admin
                .update_webhook(&name, None, None, Some(true))
                .map_err(fail)?;
            outln!("webhook \"{name}\" resumed");
            Ok(())
        }
        WebhookCommand::RotateSecret { name } => {
            let secret = admin.rotate_webhook_secret(&name).map_err(fail)?;
            outln!("{}", secret.expose());
            eprintln!(
                "This signing secret is shown once; deliveries from now on are signed with it."
            );
            Ok(())
        }
        WebhookCommand::Remove { name } => {
            admin.remove_webhook(&name).map_err(fail)?;
            outln!("webhook \"{name}\" removed");
            Ok(())
        }
        WebhookCommand::Ping { name } => {
            let d = admin.ping_webhook(&name).map_err(fail)?;
            outln!("ping queued as delivery {}", d.id);
            Ok(())
        }
        WebhookCommand::Deliveries {
            name,
            before,
            limit,
            json,
        } => {
            let list = admin
                .deliveries(name.as_deref(), before, limit)
                .map_err(fail)?;
            if json {
                return json_out(&serde_json::json!({"deliveries": list}));
            }
            outln!(
                "{:<7} {:<16} {:<18} {:<10} {:<8} {:<17} LAST ERROR",
                "ID",
                "WEBHOOK",
                "EVENT",
                "STATE",
                "ATTEMPTS",
                "CREATED"
            );
            for d in &list {
                outln!(
                    "{:<7} {:<16} {:<18} {:<10} {:<8} {:<17} {}",
                    d.id,
                    d.webhook,
                    d.event_type,
                    d.state,
                    d.attempts,
                    time(d.created_at),
                    d.last_error.as_deref().unwrap_or("")
                );
            }
            Ok(())
        }
        WebhookCommand::Replay { id } => {
            let d = admin.replay_delivery(id).map_err(fail)?;
            outln!("delivery {id} queued again as delivery {}", d.id);
            Ok(())
        }
    }
}
