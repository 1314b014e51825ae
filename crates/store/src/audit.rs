//! Audit events and the redaction of what they record.

use serde_json::Value;

/// Claims whose values must never be stored: proofs and anything that looks like a
/// credential. Matched case-insensitively, on the key or any part of it.
const SECRET_KEYS: [&str; 9] = [
    "nonce", "at_hash", "c_hash", "s_hash", "token", "secret", "password", "code", "sid",
];

/// A copy of the claims with secret-looking values replaced by `"[redacted]"`.
pub fn redact(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let lower = k.to_ascii_lowercase();
                    if SECRET_KEYS.iter().any(|s| lower.contains(s)) {
                        (k.clone(), Value::String("[redacted]".into()))
                    } else {
                        (k.clone(), redact(v))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let v = redact(&json!({"sub": "s", "nonce": "n", "at_hash": "h",
            "nested": {"refresh_token": "r", "ok": 1}, "list": [{"client_secret": "x"}]}));
        assert_eq!(
            v,
            json!({"sub": "s", "nonce": "[redacted]", "at_hash": "[redacted]",
            "nested": {"refresh_token": "[redacted]", "ok": 1}, "list": [{"client_secret": "[redacted]"}]})
        );
    }
}
