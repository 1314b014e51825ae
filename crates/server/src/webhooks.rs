//! Webhooks out: sends what the directory's outbox holds, signed the Standard Webhooks
//! way (`webhook-id`, `webhook-timestamp`, `webhook-signature`), by whichever instance
//! claims a delivery first; retried on the specification's recommended schedule, then
//! given up (the delivery log keeps it, and replay sends it again).

use crate::state::App;
use ssogate_store::audit::NewEvent;
use ssogate_store::directory::webhooks::{Attempt, DueDelivery};
use std::time::Duration;

/// Seconds before attempt `n + 1` after attempt `n` fails: 5 s, 5 min, 30 min, 2 h,
/// 5 h, 10 h, 10 h (Standard Webhooks' example schedule): eight attempts over about
/// 27 hours.
pub(crate) fn retry_in(attempts: i64) -> i64 {
    match attempts {
        ..=1 => 5,
        2 => 5 * 60,
        3 => 30 * 60,
        4 => 2 * 3600,
        5 => 5 * 3600,
        _ => 10 * 3600,
    }
}

pub(crate) const MAX_ATTEMPTS: i64 = 8;

/// How long a receiver has to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Sends the deliveries that are due (run every second by `serve`).
pub(crate) async fn deliver(app: &App) {
    let now = app.now();
    let due = match app.db(move |d| d.claim_deliveries(now, 20, retry_in)).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "webhook deliveries could not be read");
            return;
        }
    };
    if due.is_empty() {
        return;
    }
    // Side by side, so one slow receiver does not hold up the others.
    let mut sent = tokio::task::JoinSet::new();
    for d in due {
        let app = app.clone();
        sent.spawn(async move {
            let attempt = send(&app, &d).await;
            finish(&app, d, attempt).await;
        });
    }
    while sent.join_next().await.is_some() {}
}

async fn finish(app: &App, d: DueDelivery, attempt: Attempt) {
    let now = app.now();
    if let Attempt::Failed {
        error, last: true, ..
    } = &attempt
    {
        app.audit(NewEvent {
            at: now,
            event: "webhook.failed".into(),
            outcome: "failure".into(),
            reason: Some("gave_up".into()),
            detail: Some(format!(
                "delivery {} to {} gave up after {} attempts: {error}",
                d.id, d.url, d.attempts
            )),
            ..Default::default()
        })
        .await;
    }
    let id = d.id;
    if let Err(e) = app.db(move |s| s.finish_delivery(id, now, attempt)).await {
        tracing::warn!(delivery = id, error = %e, "a webhook delivery's outcome could not be kept");
    }
}

async fn send(app: &App, d: &DueDelivery) -> Attempt {
    let last = d.attempts >= MAX_ATTEMPTS;
    let failed = |status: Option<i64>, error: String| {
        tracing::warn!(delivery = d.id, url = %d.url, attempt = d.attempts, error = %error, "a webhook was not delivered");
        Attempt::Failed {
            status,
            error,
            last,
        }
    };
    let client = match app.outbound_http() {
        Ok(c) => c,
        Err(e) => return failed(None, e),
    };
    let timestamp = app.now().to_string();
    let signature = crate::hooks::sign(&d.secret, &d.msg_id, &timestamp, d.payload.as_bytes());
    let res = client
        .post(&d.url)
        .timeout(TIMEOUT)
        .header("content-type", "application/json")
        .header("user-agent", concat!("ssogate/", env!("CARGO_PKG_VERSION")))
        .header("webhook-id", &d.msg_id)
        .header("webhook-timestamp", &timestamp)
        .header("webhook-signature", format!("v1,{signature}"))
        .body(d.payload.clone())
        .send()
        .await;
    match res {
        Ok(r) if r.status().is_success() => Attempt::Delivered {
            status: i64::from(r.status().as_u16()),
        },
        Ok(r) => {
            let status = r.status().as_u16();
            failed(Some(i64::from(status)), format!("answered HTTP {status}"))
        }
        Err(e) if e.is_timeout() => {
            failed(None, format!("no answer within {} s", TIMEOUT.as_secs()))
        }
        Err(e) => failed(
            None,
            format!("cannot reach it ({})", crate::hooks::error_chain(&e)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_ten_hours_and_end_after_about_a_day() {
        assert_eq!(retry_in(1), 5);
        assert_eq!(retry_in(2), 300);
        assert_eq!(retry_in(7), 36_000);
        let total: i64 = (1..MAX_ATTEMPTS).map(retry_in).sum();
        assert!((24 * 3600..30 * 3600).contains(&total), "{total}");
    }
}
