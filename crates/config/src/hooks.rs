//! `[hooks.<name>]`: provisioning hooks, the endpoints a provider's policy asks about
//! every sign-in (`provisioning.hooks = ["<name>", …]`).

use crate::{ConfigError, Secret};
use serde::Deserialize;
use ssogate_core::hooks::url_allowed;
use std::path::PathBuf;

/// What a hook's failure (no answer in time, an error status, an unreadable answer)
/// does to the sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Refuse the sign-in (fail closed).
    #[default]
    Deny,
    /// Decide without this hook (fail open).
    Ignore,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHook {
    url: String,
    #[serde(default)]
    secret: Option<Secret>,
    #[serde(default)]
    secret_file: Option<PathBuf>,
    #[serde(default = "default_timeout")]
    timeout_ms: u64,
    #[serde(default)]
    on_failure: OnFailure,
}

fn default_timeout() -> u64 {
    3000
}

/// One hook, checked.
#[derive(Debug, Clone)]
pub struct HookConfig {
    pub name: String,
    /// HTTPS, or plain HTTP on a loopback address only.
    pub url: String,
    /// The HMAC key requests are signed with (Standard Webhooks: `whsec_` + base64, or
    /// any other string taken as it is). Never printed.
    pub secret: Secret,
    pub timeout_ms: u64,
    pub on_failure: OnFailure,
}

/// Longest a sign-in waits for one hook.
const MAX_TIMEOUT_MS: u64 = 30_000;

pub(crate) fn build_hook(
    name: &str,
    raw: RawHook,
    origin: &str,
) -> Result<HookConfig, ConfigError> {
    let key = |k: &str| format!("hooks.{name}.{k}");
    let bad =
        |k: &str, message: String, hint: &str| ConfigError::new(origin, key(k), message, hint);
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Err(ConfigError::new(
            origin,
            format!("hooks.{name}"),
            "a hook's name is lower-case letters, digits, - and _",
            "Rename the [hooks.<name>] table.",
        ));
    }
    if !url_allowed(&raw.url) {
        return Err(bad(
            "url",
            format!(
                "\"{}\" is neither an https:// URL nor http:// on a loopback address",
                raw.url
            ),
            "Serve the hook over HTTPS, or on 127.0.0.1 / [::1] / localhost beside ssogate.",
        ));
    }
    let secret = match (raw.secret, raw.secret_file) {
        (Some(_), Some(_)) => {
            return Err(bad(
                "secret_file",
                "secret and secret_file are both set".into(),
                "Keep one of them.",
            ));
        }
        (Some(s), None) => s,
        (None, Some(file)) => Secret::new(
            std::fs::read_to_string(&file)
                .map_err(|e| {
                    bad(
                        "secret_file",
                        format!("cannot read {} ({e})", file.display()),
                        "Check the path and its permissions.",
                    )
                })?
                .trim(),
        ),
        (None, None) => {
            return Err(bad(
                "secret",
                "a hook needs a secret to sign its requests with".into(),
                "Set secret_file (or secret) to at least 24 random characters, e.g. `whsec_` and base64 of 32 random bytes.",
            ));
        }
    };
    if secret.expose().len() < 24 {
        return Err(bad(
            "secret",
            "the secret is shorter than 24 characters".into(),
            "Use at least 24 random characters, e.g. `whsec_` and base64 of 32 random bytes.",
        ));
    }
    if raw.timeout_ms == 0 || raw.timeout_ms > MAX_TIMEOUT_MS {
        return Err(bad(
            "timeout_ms",
            format!("{} is not between 1 and {MAX_TIMEOUT_MS}", raw.timeout_ms),
            "A sign-in waits for the hook this long; a few seconds is plenty.",
        ));
    }
    Ok(HookConfig {
        name: name.to_owned(),
        url: raw.url,
        secret,
        timeout_ms: raw.timeout_ms,
        on_failure: raw.on_failure,
    })
}

#[cfg(test)]
mod tests {
    use super::url_allowed;

    #[test]
    fn hooks_are_https_or_loopback_http_only() {
        for ok in [
            "https://hooks.example.org/provision",
            "http://127.0.0.1:9000/hook",
            "http://[::1]:9000/",
            "http://localhost:8000",
        ] {
            assert!(url_allowed(ok), "{ok}");
        }
        for bad in [
            "http://hooks.example.org/provision",
            "http://10.0.0.5/hook",
            "http://127.0.0.1.evil.example/",
            "ftp://127.0.0.1/",
            "https://",
            "",
        ] {
            assert!(!url_allowed(bad), "{bad}");
        }
    }
}
