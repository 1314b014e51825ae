//! Audit events and the redaction of what they record.

use serde_json::Value;

/// Claims and members whose values must never be stored: proofs and credentials.
/// Matched by exact name (case-insensitively), so `postal_code`, `considered` or
/// `session_expiry` stay readable.
const SECRET_KEYS: [&str; 21] = [
    "nonce",
    "at_hash",
    "c_hash",
    "s_hash",
    "sid",
    "session_state",
    "code",
    "code_verifier",
    "state",
    "password",
    "passwd",
    "secret",
    "client_secret",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "logout_token",
    "assertion",
    "client_assertion",
    "private_key",
];

/// A copy of the claims with secret values replaced by `"[redacted]"`, at any depth.
pub fn redact(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    if SECRET_KEYS.iter().any(|s| s.eq_ignore_ascii_case(k)) {
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

    /// Regression: keys were matched by substring, hiding `postal_code` and anything
    /// containing `sid` or `code`.
    #[test]
    fn names_are_matched_exactly() {
        let kept = json!({"postal_code": "1000", "considered": true, "country_code": "BE",
            "sidebar": "left", "address": {"postal_code": "1000"}});
        assert_eq!(redact(&kept), kept);
        assert_eq!(
            redact(&json!({"SID": "x", "Nonce": "n"})),
            json!({"SID": "[redacted]", "Nonce": "[redacted]"})
        );
    }
}
