//! What the administrative commands share: who acts (`cli:$USER`), the service layer
//! (`ssogate-admin`) on the configured directory, errors, JSON output, times. The
//! commands themselves are `user_cmd`, `apikey_cmd`, `audit_cmd`, `settings_cmd`,
//! `provider_cmd` and `catalogue_cmd`: human tables by default, `--json` for scripts.

use crate::{Failure, open_directory};
use ssogate_admin::{Admin, AdminError};
use std::sync::Arc;

pub(crate) fn actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

pub(crate) fn admin(config: &ssogate_config::Config) -> Result<Admin, Failure> {
    let (store, _) = open_directory(config)?;
    Ok(Admin::new(Arc::from(store), actor())
        .with_configured(ssogate_server::registry::configured(config)))
}

pub(crate) fn fail(e: AdminError) -> Failure {
    if e.is_input() {
        Failure::Input(e.to_string())
    } else {
        Failure::Runtime(e.to_string())
    }
}

pub(crate) fn json_out(v: &impl serde::Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(v)
        .map_err(|e| Failure::Runtime(format!("cannot write JSON: {e}")))?;
    outln!("{text}");
    Ok(())
}

pub(crate) fn time(t: i64) -> String {
    ssogate_admin::dates::minutes(t)
}

/// `YYYY-MM-DD` (UTC midnight) or unix seconds.
pub(crate) fn parse_time(field: &'static str, v: &str) -> Result<i64, Failure> {
    v.parse::<i64>()
        .ok()
        .or_else(|| ssogate_admin::dates::parse_day(v))
        .ok_or_else(|| {
            Failure::Input(format!(
                "--{field}: \"{v}\" is neither unix seconds nor a date like 2026-11-23"
            ))
        })
}

pub(crate) fn no_provider(slug: &str, all: &[ssogate_config::ProviderConfig]) -> String {
    let known: Vec<&str> = all.iter().map(|p| p.slug.as_str()).collect();
    format!(
        "no provider \"{slug}\"; known: {}",
        if known.is_empty() {
            "none".to_owned()
        } else {
            known.join(", ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_seconds() {
        assert_eq!(parse_time("since", "2026-11-23").ok(), Some(1_795_392_000));
        assert_eq!(parse_time("since", "1970-01-01").ok(), Some(0));
        assert_eq!(parse_time("since", "2000-02-29").ok(), Some(951_782_400));
        assert_eq!(parse_time("since", "12345").ok(), Some(12_345));
        assert!(parse_time("since", "2026-02-30").is_err());
        assert!(parse_time("since", "yesterday").is_err());
        assert_eq!(time(1_795_436_800), "2026-11-23 12:26");
    }
}
