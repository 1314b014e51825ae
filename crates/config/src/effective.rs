//! Every setting in force for a provider and where it comes from: the answer to "why does
//! this provider do that?" (`ssogate config show --effective`, the console's Effective
//! settings page).

use crate::{Config, ConfigError, ProviderConfig, Saved};
use serde_json::Value;
use ssogate_core::policy::ClaimMap;

/// One value in force.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Effective {
    /// `provisioning.groups.enabled`, `claims.username`…
    pub key: String,
    /// As JSON.
    pub value: String,
    /// Where it comes from, in words.
    pub source: String,
}

/// `a.b.c` in a document, if it is there.
fn lookup<'a>(doc: Option<&'a Value>, path: &[&str]) -> Option<&'a Value> {
    let mut at = doc?;
    for p in path {
        at = at.as_object()?.get(*p)?;
    }
    Some(at)
}

/// Leaves of a document (tables are walked; lists and values are leaves).
fn leaves(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                leaves(&format!("{prefix}.{k}"), v, out);
            }
        }
        v => out.push((prefix.to_owned(), v.clone())),
    }
}

impl Config {
    /// The settings `provider` runs with, each with its source. Provisioning layers, later
    /// wins: `[provisioning]` in the file, the global settings saved in the console, the
    /// provider's `[providers.<slug>.provisioning]`, the provider's settings saved in the
    /// console. Claims: `[claims]`, then `[providers.<slug>.claims]`.
    pub fn effective(
        &self,
        provider: &ProviderConfig,
        saved: &Saved,
    ) -> Result<Vec<Effective>, ConfigError> {
        let slug = provider.slug.as_str();
        let (_, policy) = self.compile(provider, saved)?;
        let policy = serde_json::to_value(&policy).unwrap_or(Value::Null);
        let own_saved = saved.settings.get(slug);
        let file_provider = format!("[providers.{slug}.provisioning] in the file");
        let layers: [(&str, Option<&Value>); 4] = [
            ("saved for this provider in the console", own_saved),
            (file_provider.as_str(), provider.provisioning_table.as_ref()),
            ("saved globally in the console", saved.global.as_ref()),
            (
                "[provisioning] in the file",
                Some(&self.global_provisioning),
            ),
        ];
        let mut out = Vec::new();
        let mut found = Vec::new();
        leaves("provisioning", &policy, &mut found);
        for (key, value) in found {
            let path: Vec<&str> = key.split('.').skip(1).collect();
            let source = layers
                .iter()
                .find(|(_, doc)| lookup(*doc, &path).is_some())
                .map_or("default", |(name, _)| name);
            out.push(Effective {
                key,
                value: value.to_string(),
                source: source.to_owned(),
            });
        }
        let claims = serde_json::to_value(&provider.claims).unwrap_or(Value::Null);
        let defaults = serde_json::to_value(ClaimMap::default()).unwrap_or(Value::Null);
        let mut found = Vec::new();
        leaves("claims", &claims, &mut found);
        for (key, value) in found {
            let path: Vec<&str> = key.split('.').skip(1).collect();
            let global = lookup(Some(&self.global_claims), &path);
            let source = if global == Some(&value) {
                "[claims] in the file".to_owned()
            } else if global.is_some() || lookup(Some(&defaults), &path) != Some(&value) {
                format!("[providers.{slug}.claims] in the file")
            } else {
                "default".to_owned()
            };
            out.push(Effective {
                key,
                value: value.to_string(),
                source,
            });
        }
        for (key, value) in [
            (
                "trust_email",
                serde_json::to_value(provider.trust_email).unwrap_or(Value::Null),
            ),
            (
                "scopes",
                serde_json::to_value(&provider.scopes).unwrap_or(Value::Null),
            ),
            ("issuer", Value::String(provider.issuer.clone())),
        ] {
            out.push(Effective {
                key: key.to_owned(),
                value: value.to_string(),
                source: if provider.from_database {
                    "the provider saved in the console".to_owned()
                } else {
                    format!("[providers.{slug}] in the file")
                },
            });
        }
        Ok(out)
    }
}
