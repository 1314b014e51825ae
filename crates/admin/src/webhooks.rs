//! Webhook endpoints as administrators manage them: added with a secret shown once,
//! changed, paused, re-keyed, removed; the delivery log and its replay.

use crate::{Admin, AdminError};
use serde::Serialize;
use ssogate_core::events::Subscription;
use ssogate_store::directory::webhooks::{Delivery, Webhook, WebhookError};
use ssogate_store::sessions::{Secret, new_webhook_secret};

/// An endpoint as the API and CLI show it (never its secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WebhookInfo {
    pub name: String,
    pub url: String,
    /// `*` for every event, else the events it hears.
    pub events: Vec<String>,
    pub enabled: bool,
    /// Unix seconds.
    pub created_at: i64,
}

impl From<Webhook> for WebhookInfo {
    fn from(w: Webhook) -> Self {
        WebhookInfo {
            name: w.name,
            url: w.url,
            events: match w.events {
                Subscription::All => vec!["*".into()],
                Subscription::Only(list) => list.iter().map(|e| e.as_str().to_owned()).collect(),
            },
            enabled: w.enabled,
            created_at: w.created_at,
        }
    }
}

/// One delivery of the log.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryInfo {
    pub id: i64,
    pub webhook: String,
    /// The `webhook-id` header: the same for every endpoint and every replay of an event.
    pub msg_id: String,
    pub event_type: String,
    /// `pending`, `delivered` or `failed` (gave up; replay sends it again).
    pub state: String,
    pub attempts: i64,
    pub created_at: i64,
    pub next_attempt_at: Option<i64>,
    pub last_attempt_at: Option<i64>,
    /// The receiver's HTTP status at the last attempt.
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
    /// The event as sent (JSON).
    pub payload: String,
}

impl From<Delivery> for DeliveryInfo {
    fn from(d: Delivery) -> Self {
        DeliveryInfo {
            state: d.state().to_owned(),
            id: d.id,
            webhook: d.webhook,
            msg_id: d.msg_id,
            event_type: d.event_type,
            attempts: d.attempts,
            created_at: d.created_at,
            next_attempt_at: d.next_at,
            last_attempt_at: d.last_attempt_at,
            last_status: d.last_status,
            last_error: d.last_error,
            delivered_at: d.delivered_at,
            payload: d.payload,
        }
    }
}

fn check_name(name: &str) -> Result<&str, AdminError> {
    let name = name.trim();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        Ok(name)
    } else {
        Err(AdminError::Invalid {
            field: "name",
            message: "use 1–64 letters, digits, `-`, `_` or `.`".into(),
        })
    }
}

/// Where webhooks may go: `https://` and anything without spaces or control
/// characters, or `http://` to `localhost`, `127.0.0.1` or `[::1]` (a receiver beside
/// ssogate). Stricter than the hooks' rule on purpose: the API document states it as a
/// pattern, exactly.
pub fn webhook_url_allowed(url: &str) -> bool {
    if url.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    if let Some(rest) = url.strip_prefix("https://") {
        return !rest.is_empty();
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let (host, port) = match authority.strip_prefix("[::1]") {
        Some(after) => ("[::1]", after),
        None => authority.split_at(authority.find(':').unwrap_or(authority.len())),
    };
    let port_ok = match port.strip_prefix(':') {
        None => port.is_empty(),
        Some(digits) => {
            (1..=5).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
        }
    };
    matches!(host, "localhost" | "127.0.0.1" | "[::1]") && port_ok
}

fn check_url(url: &str) -> Result<&str, AdminError> {
    let ok = url.chars().count() <= 2000;
    let url = url.trim();
    if ok && webhook_url_allowed(url) {
        Ok(url)
    } else {
        Err(AdminError::Invalid {
            field: "url",
            message: "must be an https:// URL (or http:// to this machine, e.g. http://127.0.0.1:9000/hook)".into(),
        })
    }
}

fn subscription(events: &str) -> Result<Subscription, AdminError> {
    Subscription::parse(events).map_err(|message| AdminError::Invalid {
        field: "events",
        message,
    })
}

impl Admin {
    fn webhook_named(&self, name: &str) -> Result<Webhook, AdminError> {
        self.directory
            .webhook(name)?
            .ok_or_else(|| AdminError::NotFound {
                what: "webhook",
                name: name.to_owned(),
            })
    }

    /// Adds an endpoint; its signing secret is returned once (it is needed again only
    /// to sign, and is not shown anywhere after this).
    pub fn add_webhook(
        &self,
        name: &str,
        url: &str,
        events: &str,
    ) -> Result<(WebhookInfo, Secret), AdminError> {
        let (name, url, subs) = (check_name(name)?, check_url(url)?, subscription(events)?);
        let secret = new_webhook_secret()?;
        let hook =
            match self
                .directory
                .add_webhook(name, url, &subs, secret.expose(), (self.now)())?
            {
                Ok(h) => h,
                Err(e @ WebhookError::NameTaken(_)) => {
                    return Err(AdminError::Conflict(e.to_string()));
                }
            };
        self.audit(
            "admin.webhook.created",
            None,
            serde_json::json!({"name": name, "url": url, "events": subs.describe()}),
        )?;
        Ok((hook.into(), secret))
    }

    pub fn webhooks(&self) -> Result<Vec<WebhookInfo>, AdminError> {
        Ok(self
            .directory
            .webhooks()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    pub fn webhook(&self, name: &str) -> Result<WebhookInfo, AdminError> {
        self.webhook_named(name).map(Into::into)
    }

    /// Changes an endpoint's URL, events or whether it is on (`None` keeps a value).
    pub fn update_webhook(
        &self,
        name: &str,
        url: Option<&str>,
        events: Option<&str>,
        enabled: Option<bool>,
    ) -> Result<WebhookInfo, AdminError> {
        let url = url.map(check_url).transpose()?;
        let subs = events.map(subscription).transpose()?;
        if !self
            .directory
            .update_webhook(name, url, subs.as_ref(), enabled)?
        {
            return Err(AdminError::NotFound {
                what: "webhook",
                name: name.to_owned(),
            });
        }
        self.audit(
            "admin.webhook.updated",
            None,
            serde_json::json!({"name": name, "url": url, "events": subs.map(|s| s.describe()), "enabled": enabled}),
        )?;
        self.webhook(name)
    }

    /// A new signing secret, returned once; deliveries from now on are signed with it.
    pub fn rotate_webhook_secret(&self, name: &str) -> Result<Secret, AdminError> {
        let secret = new_webhook_secret()?;
        if !self.directory.set_webhook_secret(name, secret.expose())? {
            return Err(AdminError::NotFound {
                what: "webhook",
                name: name.to_owned(),
            });
        }
        self.audit(
            "admin.webhook.secret_rotated",
            None,
            serde_json::json!({"name": name}),
        )?;
        Ok(secret)
    }

    /// Removes an endpoint and its delivery log.
    pub fn remove_webhook(&self, name: &str) -> Result<(), AdminError> {
        if !self.directory.remove_webhook(name)? {
            return Err(AdminError::NotFound {
                what: "webhook",
                name: name.to_owned(),
            });
        }
        self.audit(
            "admin.webhook.deleted",
            None,
            serde_json::json!({"name": name}),
        )?;
        Ok(())
    }

    /// The newest deliveries (of one endpoint, or all), before delivery `before`.
    pub fn deliveries(
        &self,
        webhook: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<DeliveryInfo>, AdminError> {
        if let Some(name) = webhook {
            self.webhook_named(name)?;
        }
        if !(1..=1000).contains(&limit) {
            return Err(AdminError::Invalid {
                field: "limit",
                message: "must be 1–1000".into(),
            });
        }
        Ok(self
            .directory
            .deliveries(webhook, before, limit)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    pub fn delivery(&self, id: i64) -> Result<DeliveryInfo, AdminError> {
        self.directory
            .delivery(id)?
            .map(Into::into)
            .ok_or_else(|| AdminError::NotFound {
                what: "webhook delivery",
                name: id.to_string(),
            })
    }

    /// Sends a delivery again (same message id, so a receiver can tell it has it);
    /// the new delivery.
    pub fn replay_delivery(&self, id: i64) -> Result<DeliveryInfo, AdminError> {
        let Some(new) = self.directory.replay_delivery(id, (self.now)())? else {
            return Err(AdminError::NotFound {
                what: "webhook delivery",
                name: id.to_string(),
            });
        };
        self.audit(
            "admin.webhook.replayed",
            None,
            serde_json::json!({"delivery": id, "as": new}),
        )?;
        self.delivery(new)
    }

    /// Sends a `ping` event to an endpoint, to check it is reachable and verifies.
    pub fn ping_webhook(&self, name: &str) -> Result<DeliveryInfo, AdminError> {
        let Some(id) = self.directory.ping_webhook(name, (self.now)())? else {
            return Err(AdminError::NotFound {
                what: "webhook",
                name: name.to_owned(),
            });
        };
        self.delivery(id)
    }
}

#[cfg(test)]
mod tests {
    use super::webhook_url_allowed;

    #[test]
    fn webhook_urls_are_https_or_http_to_this_machine() {
        for ok in [
            "https://hooks.example.com/in",
            "https://h",
            "http://localhost/hook",
            "http://127.0.0.1:9000/",
            "http://[::1]:8080?x=1",
            "http://localhost",
        ] {
            assert!(webhook_url_allowed(ok), "{ok}");
        }
        for bad in [
            "",
            "https://",
            "http://hooks.example.com/",
            "http://127.0.0.2/",
            "http://localhost.evil.example/",
            "http://127.0.0.1:abc/",
            "http://127.0.0.1:123456/",
            "https://a b",
            "ftp://127.0.0.1/",
            "http://[::1]x/",
        ] {
            assert!(!webhook_url_allowed(bad), "{bad}");
        }
    }
}
