//! Webhooks out: the endpoints, the outbox every change writes into in its own
//! transaction (`enqueue`), the claiming of due deliveries by one instance at a time,
//! and the delivery log with replay.

use super::Backend;
use crate::StoreError;
use crate::sql::{Cell, Db, Row, args};
use serde_json::{Value, json};
use ssogate_core::domain::UserId;
use ssogate_core::events::{EventType, Subscription};

/// How long finished deliveries stay in the log (`sweep` removes them after).
pub const LOG_DAYS: i64 = 30;

/// An endpoint, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub events: Subscription,
    pub enabled: bool,
    pub created_at: i64,
}

/// A delivery as the log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub webhook: String,
    pub msg_id: String,
    pub event_type: String,
    pub payload: String,
    pub created_at: i64,
    pub attempts: i64,
    /// When it is tried next (pending only).
    pub next_at: Option<i64>,
    pub last_attempt_at: Option<i64>,
    /// The receiver's HTTP status at the last attempt.
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
    pub failed_at: Option<i64>,
}

impl Delivery {
    /// `delivered`, `failed` (gave up; can be replayed) or `pending`.
    pub fn state(&self) -> &'static str {
        if self.delivered_at.is_some() {
            "delivered"
        } else if self.failed_at.is_some() {
            "failed"
        } else {
            "pending"
        }
    }
}

/// A delivery to attempt now, with what signs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    pub id: i64,
    pub url: String,
    pub secret: String,
    pub msg_id: String,
    pub payload: String,
    /// Including this one.
    pub attempts: i64,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered {
        status: i64,
    },
    /// Tried again when due, unless this was the last attempt (then failed for good).
    Failed {
        status: Option<i64>,
        error: String,
        last: bool,
    },
}

/// Why an endpoint could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("a webhook named `{0}` exists already; choose another name or remove it first")]
    NameTaken(String),
}

fn opt_int(c: &Cell) -> Result<Option<i64>, StoreError> {
    match c {
        Cell::Null => Ok(None),
        c => c.int().map(Some),
    }
}

fn stored_subscription(s: &str) -> Subscription {
    // Written by `Subscription::stored`; an event this version no longer knows is dropped.
    if s == "*" {
        return Subscription::All;
    }
    Subscription::Only(s.split(',').filter_map(EventType::parse).collect())
}

/// The account as an event shows it; `None` once it is gone (taken before a deletion
/// for `user.deleted`).
pub(crate) fn user_snapshot(db: &mut dyn Db, user_id: UserId) -> Result<Option<Value>, StoreError> {
    let rows = db.query(
        "SELECT id, username, email, email_verified, display_name, status, is_admin
         FROM users WHERE id = $1",
        args![user_id],
    )?;
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    Ok(Some(json!({
        "id": r.get(0)?.int()?,
        "username": r.get(1)?.text()?,
        "email": r.get(2)?.opt_text()?,
        "email_verified": r.get(3)?.bool()?,
        "display_name": r.get(4)?.opt_text()?,
        "status": r.get(5)?.text()?,
        "is_admin": r.get(6)?.bool()?,
    })))
}

fn new_msg_id() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 16];
    // The id only has to be unique; if the system's generator fails, the time and a
    // counter still are.
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes[..8].copy_from_slice(&(t as u64).to_le_bytes());
        bytes[8..].copy_from_slice(&n.to_le_bytes());
    }
    format!(
        "msg_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Writes `events` about an account into the outbox, one delivery per enabled endpoint
/// that subscribes, in the caller's transaction. `user` is the account as the event
/// shows it (taken from the directory when `None`, e.g. before a deletion the caller
/// takes it first); `data` is merged into the event's `data`.
pub(crate) fn enqueue(
    db: &mut dyn Db,
    user_id: UserId,
    user: Option<Value>,
    events: &[EventType],
    data: Value,
    now: i64,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let subscribed: Vec<String> = db
        .query("SELECT events FROM webhooks WHERE enabled", &[])?
        .iter()
        .map(|r| r.get(0)?.text())
        .collect::<Result<_, StoreError>>()?;
    enqueue_for(db, &subscribed, user_id, user, events, || data, now)
}

/// Whether an endpoint of `subscribed` takes one of `events` ([`enqueue_for`] writes
/// nothing otherwise).
pub(crate) fn any_subscribed(subscribed: &[String], events: &[EventType]) -> bool {
    let subscriptions: Vec<Subscription> =
        subscribed.iter().map(|e| stored_subscription(e)).collect();
    events
        .iter()
        .any(|e| subscriptions.iter().any(|s| s.includes(*e)))
}

/// [`enqueue`] with the enabled webhooks' `events` columns already read (a login reads
/// them with the catalogue, in the same round trip). `data` is built only when some
/// endpoint subscribes: most directories have no webhook, and every login passes here.
pub(crate) fn enqueue_for(
    db: &mut dyn Db,
    subscribed: &[String],
    user_id: UserId,
    user: Option<Value>,
    events: &[EventType],
    data: impl FnOnce() -> Value,
    now: i64,
) -> Result<(), StoreError> {
    if !any_subscribed(subscribed, events) {
        return Ok(());
    }
    let user = match user {
        Some(u) => u,
        None => user_snapshot(db, user_id)?.unwrap_or_else(|| json!({"id": user_id.0})),
    };
    let data = data();
    for e in events {
        let mut body = json!({"user": user});
        if let (Value::Object(extra), Some(b)) = (&data, body.as_object_mut()) {
            for (k, v) in extra {
                b.insert(k.clone(), v.clone());
            }
        }
        let payload = json!({
            "type": e.as_str(),
            "timestamp": ssogate_core::dates::rfc3339(now),
            "data": body,
        })
        .to_string();
        let (msg_id, pattern) = (new_msg_id(), format!("%,{},%", e.as_str()));
        db.exec(
            "INSERT INTO webhook_deliveries (webhook_id, msg_id, event_type, payload, created_at, next_at)
             SELECT id, $1, $2, $3, CAST($4 AS BIGINT), CAST($4 AS BIGINT) FROM webhooks
             WHERE enabled AND (events = '*' OR events LIKE $5)",
            args![&msg_id, e.as_str(), &payload, now, &pattern],
        )?;
    }
    Ok(())
}

const DELIVERY_COLUMNS: &str =
    "d.id, w.name, d.msg_id, d.event_type, d.payload, d.created_at, d.attempts, d.next_at,
     d.last_attempt_at, d.last_status, d.last_error, d.delivered_at, d.failed_at";

fn read_delivery(r: &Row) -> Result<Delivery, StoreError> {
    let delivered_at = opt_int(r.get(11)?)?;
    let failed_at = opt_int(r.get(12)?)?;
    Ok(Delivery {
        id: r.get(0)?.int()?,
        webhook: r.get(1)?.text()?,
        msg_id: r.get(2)?.text()?,
        event_type: r.get(3)?.text()?,
        payload: r.get(4)?.text()?,
        created_at: r.get(5)?.int()?,
        attempts: r.get(6)?.int()?,
        next_at: if delivered_at.is_none() && failed_at.is_none() {
            Some(r.get(7)?.int()?)
        } else {
            None
        },
        last_attempt_at: opt_int(r.get(8)?)?,
        last_status: opt_int(r.get(9)?)?,
        last_error: r.get(10)?.opt_text()?,
        delivered_at,
        failed_at,
    })
}

fn read_webhook(r: &Row) -> Result<Webhook, StoreError> {
    Ok(Webhook {
        id: r.get(0)?.int()?,
        name: r.get(1)?.text()?,
        url: r.get(2)?.text()?,
        events: stored_subscription(&r.get(3)?.text()?),
        enabled: r.get(4)?.bool()?,
        created_at: r.get(5)?.int()?,
    })
}

pub trait WebhookStore {
    /// Adds an endpoint with its signing secret.
    fn add_webhook(
        &self,
        name: &str,
        url: &str,
        events: &Subscription,
        secret: &str,
        now: i64,
    ) -> Result<Result<Webhook, WebhookError>, StoreError>;
    fn webhooks(&self) -> Result<Vec<Webhook>, StoreError>;
    fn webhook(&self, name: &str) -> Result<Option<Webhook>, StoreError>;
    /// Changes where an endpoint is, what it hears, whether it is on; `None` leaves a
    /// value as it is. Whether it exists.
    fn update_webhook(
        &self,
        name: &str,
        url: Option<&str>,
        events: Option<&Subscription>,
        enabled: Option<bool>,
    ) -> Result<bool, StoreError>;
    /// A new signing secret, from the next attempt on. Whether it exists.
    fn set_webhook_secret(&self, name: &str, secret: &str) -> Result<bool, StoreError>;
    /// Removes an endpoint and its delivery log. Whether it existed.
    fn remove_webhook(&self, name: &str) -> Result<bool, StoreError>;
    /// The newest deliveries of an endpoint (all endpoints with `None`), before the
    /// delivery id `before` when given.
    fn deliveries(
        &self,
        webhook: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Delivery>, StoreError>;
    fn delivery(&self, id: i64) -> Result<Option<Delivery>, StoreError>;
    /// Sends a delivery again as a new delivery with the same message id (so a receiver
    /// that has it already can tell); the new delivery's id.
    fn replay_delivery(&self, id: i64, now: i64) -> Result<Option<i64>, StoreError>;
    /// Sends a `ping` to one endpoint (whatever it subscribes to); the delivery's id.
    fn ping_webhook(&self, name: &str, now: i64) -> Result<Option<i64>, StoreError>;
    /// Claims up to `limit` deliveries due now for this instance to attempt: each is put
    /// off by `retry_in(attempts)` seconds first, so no other instance attempts it too.
    fn claim_deliveries(
        &self,
        now: i64,
        limit: i64,
        retry_in: fn(i64) -> i64,
    ) -> Result<Vec<DueDelivery>, StoreError>;
    /// Records how an attempt ended.
    fn finish_delivery(&self, id: i64, now: i64, attempt: Attempt) -> Result<(), StoreError>;
}

impl<B: Backend> WebhookStore for B {
    fn add_webhook(
        &self,
        name: &str,
        url: &str,
        events: &Subscription,
        secret: &str,
        now: i64,
    ) -> Result<Result<Webhook, WebhookError>, StoreError> {
        let (name, url, events, secret) = (
            name.to_owned(),
            url.to_owned(),
            events.stored(),
            secret.to_owned(),
        );
        self.write_tx(move |db, _| {
            if db
                .query_int("SELECT id FROM webhooks WHERE name = $1", args![&name])?
                .is_some()
            {
                return Ok(Err(WebhookError::NameTaken(name.clone())));
            }
            let id = db
                .query_int(
                    "INSERT INTO webhooks (name, url, events, secret, enabled, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    args![&name, &url, &events, &secret, true, now],
                )?
                .ok_or_else(|| StoreError::Corrupt("adding a webhook returned no id".into()))?;
            Ok(Ok(Webhook {
                id,
                name: name.clone(),
                url: url.clone(),
                events: stored_subscription(&events),
                enabled: true,
                created_at: now,
            }))
        })
    }
    fn webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        self.read(|db| {
            db.query(
                "SELECT id, name, url, events, enabled, created_at FROM webhooks ORDER BY name",
                &[],
            )?
            .iter()
            .map(read_webhook)
            .collect()
        })
    }
    fn webhook(&self, name: &str) -> Result<Option<Webhook>, StoreError> {
        self.read(|db| {
            db.query(
                "SELECT id, name, url, events, enabled, created_at FROM webhooks WHERE name = $1",
                args![name],
            )?
            .first()
            .map(read_webhook)
            .transpose()
        })
    }
    fn update_webhook(
        &self,
        name: &str,
        url: Option<&str>,
        events: Option<&Subscription>,
        enabled: Option<bool>,
    ) -> Result<bool, StoreError> {
        let events = events.map(Subscription::stored);
        self.write_tx(|db, _| {
            Ok(db.exec(
                "UPDATE webhooks SET url = coalesce($2, url), events = coalesce($3, events),
                        enabled = coalesce($4, enabled)
                 WHERE name = $1",
                args![name, url, events.as_deref(), enabled],
            )? > 0)
        })
    }
    fn set_webhook_secret(&self, name: &str, secret: &str) -> Result<bool, StoreError> {
        self.write(|db, _| {
            Ok(db.exec(
                "UPDATE webhooks SET secret = $2 WHERE name = $1",
                args![name, secret],
            )? > 0)
        })
    }
    fn remove_webhook(&self, name: &str) -> Result<bool, StoreError> {
        self.write_tx(|db, _| {
            db.exec(
                "DELETE FROM webhook_deliveries WHERE webhook_id IN (SELECT id FROM webhooks WHERE name = $1)",
                args![name],
            )?;
            Ok(db.exec("DELETE FROM webhooks WHERE name = $1", args![name])? > 0)
        })
    }
    fn deliveries(
        &self,
        webhook: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.read(|db| {
            db.query(
                &format!(
                    "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
                     WHERE (CAST($1 AS TEXT) IS NULL OR w.name = $1) AND (CAST($2 AS BIGINT) IS NULL OR d.id < $2)
                     ORDER BY d.id DESC LIMIT $3"
                ),
                args![webhook, before, limit],
            )?
            .iter()
            .map(read_delivery)
            .collect()
        })
    }
    fn delivery(&self, id: i64) -> Result<Option<Delivery>, StoreError> {
        self.read(|db| {
            db.query(
                &format!(
                    "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
                     WHERE d.id = $1"
                ),
                args![id],
            )?
            .first()
            .map(read_delivery)
            .transpose()
        })
    }
    fn replay_delivery(&self, id: i64, now: i64) -> Result<Option<i64>, StoreError> {
        self.write(move |db, _| {
            db.query_int(
                "INSERT INTO webhook_deliveries (webhook_id, msg_id, event_type, payload, created_at, next_at)
                 SELECT webhook_id, msg_id, event_type, payload, CAST($2 AS BIGINT), CAST($2 AS BIGINT) FROM webhook_deliveries WHERE id = $1
                 RETURNING id",
                args![id, now],
            )
        })
    }
    fn ping_webhook(&self, name: &str, now: i64) -> Result<Option<i64>, StoreError> {
        self.write(|db, _| {
            let payload = json!({
                "type": "ping",
                "timestamp": ssogate_core::dates::rfc3339(now),
                "data": {"webhook": &name},
            })
            .to_string();
            let msg_id = new_msg_id();
            db.query_int(
                "INSERT INTO webhook_deliveries (webhook_id, msg_id, event_type, payload, created_at, next_at)
                 SELECT id, $2, 'ping', $3, CAST($4 AS BIGINT), CAST($4 AS BIGINT) FROM webhooks WHERE name = $1
                 RETURNING id",
                args![name, &msg_id, &payload, now],
            )
        })
    }
    fn claim_deliveries(
        &self,
        now: i64,
        limit: i64,
        retry_in: fn(i64) -> i64,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        // Asked every second by every instance: a read first, so an idle outbox never
        // takes the write lock (SQLite's one writer is the sign-ins' too).
        let due = self.read(|db| {
            db.query_int(
                "SELECT id FROM webhook_deliveries
                 WHERE delivered_at IS NULL AND failed_at IS NULL AND next_at <= $1 LIMIT 1",
                args![now],
            )
        })?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        self.write_tx(move |db, _| {
            let due = db.query(
                "SELECT d.id, w.url, w.secret, d.msg_id, d.payload, d.attempts
                 FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
                 WHERE d.delivered_at IS NULL AND d.failed_at IS NULL AND d.next_at <= $1 AND w.enabled
                 ORDER BY d.id LIMIT $2",
                args![now, limit],
            )?;
            let mut out = Vec::with_capacity(due.len());
            for r in &due {
                let d = DueDelivery {
                    id: r.get(0)?.int()?,
                    url: r.get(1)?.text()?,
                    secret: r.get(2)?.text()?,
                    msg_id: r.get(3)?.text()?,
                    payload: r.get(4)?.text()?,
                    attempts: r.get(5)?.int()? + 1,
                };
                // Only the instance whose update lands attempts it.
                let claimed = db.exec(
                    "UPDATE webhook_deliveries SET attempts = $2, next_at = $3, last_attempt_at = $5
                     WHERE id = $1 AND attempts = $4 AND delivered_at IS NULL AND failed_at IS NULL",
                    args![d.id, d.attempts, now + retry_in(d.attempts), d.attempts - 1, now],
                )?;
                if claimed > 0 {
                    out.push(d);
                }
            }
            Ok(out)
        })
    }
    fn finish_delivery(&self, id: i64, now: i64, attempt: Attempt) -> Result<(), StoreError> {
        self.write(move |db, _| {
            match &attempt {
                Attempt::Delivered { status } => db.exec(
                    "UPDATE webhook_deliveries SET delivered_at = $2, last_status = $3, last_error = NULL
                     WHERE id = $1",
                    args![id, now, *status],
                )?,
                Attempt::Failed {
                    status,
                    error,
                    last,
                } => db.exec(
                    "UPDATE webhook_deliveries SET last_status = $2, last_error = $3,
                            failed_at = $4
                     WHERE id = $1",
                    args![id, *status, error.as_str(), last.then_some(now)],
                )?,
            };
            Ok(())
        })
    }
}
