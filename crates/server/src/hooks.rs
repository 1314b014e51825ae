//! Asking provisioning hooks (`[hooks.<name>]`, chosen per provider by
//! `provisioning.hooks`) about a sign-in, outside any directory transaction: each gets
//! the claims, the proposed decision and what the hooks before it answered, signed as
//! Standard Webhooks signs a message (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`), and has
//! `timeout_ms` to answer. The engine applies the answers (`ssogate_core::hooks`).

use crate::state::App;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ssogate_config::{HookConfig, OnFailure};
use ssogate_core::claims::ClaimSources;
use ssogate_core::hooks::{HookAnswer, HookVerdict};
use ssogate_core::{Engine, Outcome};
use ssogate_store::StoreError;
use std::sync::Arc;
use std::time::Duration;

/// The most an answer may weigh.
const MAX_ANSWER: usize = 64 * 1024;

/// Asks `hooks`, in order, about a sign-in through `provider`: first what the policy
/// alone decides, then each hook. Empty when there are none, or when the policy already
/// refuses (a hook cannot let in whom the policy keeps out).
pub(crate) async fn consult(
    app: &App,
    provider: &str,
    hooks: &[String],
    engine: &Arc<Engine>,
    sources: &ClaimSources,
    dry_run: bool,
) -> Result<Vec<HookVerdict>, StoreError> {
    if hooks.is_empty() {
        return Ok(Vec::new());
    }
    let (e, s) = (engine.clone(), sources.clone());
    let proposal: Outcome = app.db(move |d| d.decide(e, s)).await?;
    if proposal.reason().is_some() {
        return Ok(Vec::new());
    }
    let claims = merged_claims(sources);
    let mut verdicts = Vec::new();
    for name in hooks {
        let verdict = match app.config.hooks.get(name) {
            Some(hook) => {
                let body = serde_json::json!({
                    "type": "provisioning.decide",
                    "provider": provider,
                    "dry_run": dry_run,
                    "claims": claims,
                    "proposal": proposal.to_json(),
                    "previous": verdicts.iter().map(previous).collect::<Vec<_>>(),
                });
                ask(app, hook, &body).await
            }
            // The configuration was checked at start; a policy saved since may not be.
            None => HookVerdict::Failed {
                hook: name.clone(),
                error: format!("no hook \"{name}\" is configured"),
                fail_open: false,
            },
        };
        let outcome = match &verdict {
            HookVerdict::Answered { answer, .. } if answer.deny.is_some() => "denied",
            HookVerdict::Answered { .. } => "answered",
            HookVerdict::Failed { .. } => "failed",
        };
        app.metrics.inc(
            "ssogate_hook_calls_total",
            &[("hook", name.as_str()), ("outcome", outcome)],
        );
        let stop = match &verdict {
            HookVerdict::Answered { answer, .. } => answer.deny.is_some(),
            HookVerdict::Failed { fail_open, .. } => !fail_open,
        };
        verdicts.push(verdict);
        if stop {
            break;
        }
    }
    Ok(verdicts)
}

/// One hook's call: signed, within its time limit, its answer read.
async fn ask(app: &App, hook: &HookConfig, body: &serde_json::Value) -> HookVerdict {
    let failed = |error: String| {
        tracing::warn!(hook = %hook.name, error = %error, "a provisioning hook failed");
        HookVerdict::Failed {
            hook: hook.name.clone(),
            error,
            fail_open: hook.on_failure == OnFailure::Ignore,
        }
    };
    let client = match app.outbound_http() {
        Ok(c) => c,
        Err(e) => return failed(e),
    };
    let body = match serde_json::to_vec(body) {
        Ok(b) => b,
        Err(e) => return failed(format!("the request could not be written: {e}")),
    };
    let id = match ssogate_oidc::login::random_token(16) {
        Ok(t) => format!("msg_{t}"),
        Err(e) => return failed(format!("no random id: {e}")),
    };
    let timestamp = app.now().to_string();
    let signature = sign(hook.secret.expose(), &id, &timestamp, &body);
    let sent = client
        .post(&hook.url)
        .timeout(Duration::from_millis(hook.timeout_ms))
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", &timestamp)
        .header("webhook-signature", format!("v1,{signature}"))
        .body(body)
        .send()
        .await;
    let res = match sent {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            return failed(format!("no answer within {} ms", hook.timeout_ms));
        }
        Err(e) => return failed(format!("cannot reach {} ({})", hook.url, error_chain(&e))),
    };
    let status = res.status();
    if !status.is_success() {
        return failed(format!("answered HTTP {}", status.as_u16()));
    }
    let bytes = match read_limited(res).await {
        Ok(b) => b,
        Err(e) => return failed(e),
    };
    match serde_json::from_slice::<HookAnswer>(&bytes) {
        Ok(answer) => HookVerdict::Answered {
            hook: hook.name.clone(),
            answer: Box::new(answer),
        },
        Err(e) => failed(format!("its answer is not a hook answer: {e}")),
    }
}

async fn read_limited(mut res: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        match res.chunk().await {
            Ok(Some(chunk)) => {
                if out.len() + chunk.len() > MAX_ANSWER {
                    return Err(format!("its answer is larger than {MAX_ANSWER} bytes"));
                }
                out.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(out),
            Err(e) if e.is_timeout() => return Err("the answer did not arrive in time".into()),
            Err(e) => return Err(format!("the answer broke off ({e})")),
        }
    }
}

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}

/// Standard Webhooks: HMAC-SHA256 over `{id}.{timestamp}.{body}`, base64. A `whsec_`
/// secret is the base64 of the key; any other secret is the key as written.
pub(crate) fn sign(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let key = secret
        .strip_prefix("whsec_")
        .and_then(|k| STANDARD.decode(k).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec());
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key);
    let mut ctx = aws_lc_rs::hmac::Context::with_key(&key);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.as_bytes());
    ctx.update(b".");
    ctx.update(body);
    STANDARD.encode(ctx.sign().as_ref())
}

/// The claims the hook sees: the ID token's, with userinfo's filling in.
fn merged_claims(sources: &ClaimSources) -> serde_json::Value {
    let mut claims = sources.id_token.clone();
    if let (Some(map), Some(serde_json::Value::Object(info))) =
        (claims.as_object_mut(), &sources.userinfo)
    {
        for (k, v) in info {
            map.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    claims
}

fn previous(v: &HookVerdict) -> serde_json::Value {
    match v {
        HookVerdict::Answered { hook, answer } => {
            serde_json::json!({"hook": hook, "answer": answer})
        }
        HookVerdict::Failed { hook, error, .. } => {
            serde_json::json!({"hook": hook, "failed": error})
        }
    }
}

#[cfg(test)]
mod tests {
    /// The Standard Webhooks specification's own example (its test vector).
    #[test]
    fn signatures_are_standard_webhooks_signatures() {
        assert_eq!(
            super::sign(
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                "1614265330",
                br#"{"test": 2432232314}"#,
            ),
            "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
