//! ssogate-config: reads the TOML configuration file and environment overrides, and turns
//! them into core types (providers' claim maps and provisioning policies, the catalogue),
//! with errors that name the file or variable, the key, and what to do.
//!
//! Layers, later wins: built-in defaults < the TOML file < the seeds' variable names
//! (`OIDC_*`, see [`seed_env`]) < `SSOGATE_*` variables (`__` separates key parts, e.g.
//! `SSOGATE_PROVISIONING__AUTO_PROVISION=false`). A provider's `claims` and
//! `provisioning` tables are deep-merged over the global `[claims]` and
//! `[provisioning]` tables. Unknown keys are errors.
//!
//! It knows files and environment variables; it must not know HTTP, SQL or sessions.

mod clients;
mod effective;
mod hooks;
mod load;
mod provider;
pub mod seed_env;
mod server;

pub use clients::client_from_document;
pub use effective::Effective;
pub use hooks::{HookConfig, OnFailure};
pub use load::{load, load_with_env};
use provider::*;
pub use provider::{Callback, ProviderConfig};
pub use server::{DEFAULT_LOGIN_LABEL, HeaderNames, RateLimits, ServerConfig};
use ssogate_core::policy::Scope;

use figment::providers::{Env, Format, Toml};
use figment::{Figment, Metadata, Profile, Provider};
use serde::Deserialize;
use serde_json::{Map, Value};
use ssogate_core::domain::{Catalogue, Group, Library, Permission};
use ssogate_core::engine::{Engine, PolicyError};
use ssogate_core::policy::{ClaimMap, ProviderPolicy, ProvisioningPolicy, TrustEmail};
use ssogate_protocol::{ProtocolSettings, ProviderSettings};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A configuration problem, said in one paragraph: where, which key, what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration error in {origin}, key `{key}`: {message}. {hint}")]
pub struct ConfigError {
    /// The file or environment variable the value came from.
    pub origin: String,
    pub key: String,
    pub message: String,
    pub hint: String,
}

impl ConfigError {
    fn new(
        origin: impl Into<String>,
        key: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        ConfigError {
            origin: origin.into(),
            key: key.into(),
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// A client secret: never printed (the relying party's own type).
pub use ssogate_protocol::ClientSecret as Secret;

/// `[passwords]`: what a new local password must be, and how long a reset link lives.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordConfig {
    pub min_length: usize,
    pub max_length: usize,
    pub not_username_or_email: bool,
    /// Minutes a reset link an administrator made stays usable (once).
    pub reset_link_minutes: u32,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        let p = ssogate_core::password::PasswordPolicy::default();
        PasswordConfig {
            min_length: p.min_length,
            max_length: p.max_length,
            not_username_or_email: p.not_username_or_email,
            reset_link_minutes: 60,
        }
    }
}

impl PasswordConfig {
    /// The rules, as the core applies them.
    pub fn policy(&self) -> ssogate_core::password::PasswordPolicy {
        ssogate_core::password::PasswordPolicy {
            min_length: self.min_length,
            max_length: self.max_length,
            not_username_or_email: self.not_username_or_email,
        }
    }

    fn check(&self) -> Result<(), (String, String)> {
        if self.min_length < 1 || self.min_length > self.max_length {
            return Err((
                "passwords.min_length".into(),
                format!(
                    "{} is not between 1 and max_length ({})",
                    self.min_length, self.max_length
                ),
            ));
        }
        if self.reset_link_minutes == 0 || self.reset_link_minutes > 7 * 24 * 60 {
            return Err((
                "passwords.reset_link_minutes".into(),
                format!(
                    "{} is not between 1 and 10080 (a week)",
                    self.reset_link_minutes
                ),
            ));
        }
        Ok(())
    }
}

/// `[audit]`: how long audit events are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Days to keep audit events; `0` keeps them forever.
    pub retention_days: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig { retention_days: 90 }
    }
}

/// The default directory: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://ssogate.db";

/// Where ssogate is reached unless `base_url` says otherwise.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080";

/// Where the directory lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// `sqlite://PATH` (relative to the working directory, or absolute as `sqlite:///abs`).
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`.
    Postgres(String),
}

impl Database {
    fn parse(url: &str) -> Result<Self, String> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("the sqlite:// URL has no file path, e.g. sqlite://ssogate.db".into());
            }
            Ok(Database::Sqlite(PathBuf::from(path)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Database::Postgres(url.to_owned()))
        } else {
            Err(format!(
                "\"{}\" is not a database URL; use sqlite://PATH or postgres://USER@HOST/DB",
                url.split(['@', ':']).next().unwrap_or("")
            ))
        }
    }
}

/// The whole configuration, checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from, if any.
    pub path: Option<PathBuf>,
    /// Where the directory lives (`database_url`, or `SSOGATE_DATABASE_URL`).
    pub database: Database,
    pub audit: AuditConfig,
    /// Local passwords (`[passwords]`).
    pub passwords: PasswordConfig,
    pub catalogue: Catalogue,
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Where ssogate is reached; callbacks are `{base_url}/auth/{slug}/callback`.
    pub base_url: String,
    /// Listening, pages, sessions and forward-auth (`[server]`).
    pub server: ServerConfig,
    /// Lifecycle rules (`[lifecycle]`): the global ones; a provider's own merge over them.
    pub lifecycle: ssogate_core::lifecycle::LifecyclePolicy,
    /// How often `serve` applies them (minutes; 0: only `ssogate lifecycle` does).
    pub lifecycle_every_minutes: u32,
    global_lifecycle: Value,
    /// Downstream applications signing in through ssogate (`[clients.<id>]`).
    pub clients: BTreeMap<String, ssogate_op::Client>,
    /// Provisioning hooks (`[hooks.<name>]`), for policies to name.
    pub hooks: BTreeMap<String, HookConfig>,
    /// The secret of `[server] signing_key_encryption_key_file`, read at load.
    pub signing_key_encryption: Option<Secret>,
    /// `[server] signing_key_files`, each with its text (a private key), read at load.
    pub signing_keys: Vec<(std::path::PathBuf, Secret)>,
    /// Things worth saying that are not errors (e.g. an `OIDC_*` variable we do not know).
    pub warnings: Vec<String>,
    engines: BTreeMap<String, Arc<Engine>>,
    global_claims: Value,
    global_provisioning: Value,
}

/// A provider's engine and the provisioning policy it was compiled from.
pub type Compiled = (Arc<Engine>, ProvisioningPolicy);

/// What the directory holds that changes the configuration in force: providers added
/// through the console, API or CLI, saved provisioning settings, the catalogue's
/// permissions. The caller reads it from the directory; this crate knows no SQL.
#[derive(Debug, Clone, Default)]
pub struct Saved {
    /// (slug, document) of every provider managed in the database.
    pub providers: Vec<(String, Value)>,
    /// The `global` settings document.
    pub global: Option<Value>,
    /// Each provider's own settings document, by slug.
    pub settings: BTreeMap<String, Value>,
    /// The stored catalogue's permissions.
    pub permissions: Vec<Permission>,
}

impl Saved {
    /// Adds or replaces a saved provider's document (for checking a change before it is
    /// made).
    pub fn put_provider(&mut self, slug: &str, document: &Value) {
        self.providers.retain(|(s, _)| s != slug);
        self.providers.push((slug.to_owned(), document.clone()));
    }

    /// Sets a settings document by scope.
    pub fn put_settings(&mut self, scope: &Scope, document: &Value) {
        match scope {
            Scope::Provider(slug) => {
                self.settings.insert(slug.clone(), document.clone());
            }
            Scope::Global => self.global = Some(document.clone()),
        }
    }
}

impl Config {
    pub fn provider(&self, slug: &str) -> Result<&ProviderConfig, ConfigError> {
        self.providers.get(slug).ok_or_else(|| {
            let known: Vec<&str> = self.providers.keys().map(String::as_str).collect();
            ConfigError::new(
                self.origin_name(),
                format!("providers.{slug}"),
                format!("no provider \"{slug}\" is configured"),
                if known.is_empty() {
                    "Add a [providers.<slug>] table to the configuration.".to_owned()
                } else {
                    format!("Configured providers: {}.", known.join(", "))
                },
            )
        })
    }

    /// The provisioning engine for one provider.
    /// The provisioning engine of a provider, compiled when the configuration loaded.
    pub fn engine(&self, slug: &str) -> Result<Arc<Engine>, ConfigError> {
        self.provider(slug)?;
        self.engines.get(slug).cloned().ok_or_else(|| {
            ConfigError::new(
                self.origin_name(),
                format!("providers.{slug}"),
                "the provider has no engine",
                "Report this as a bug.",
            )
        })
    }

    /// A provider from a document saved in the database (the shape of a
    /// `[providers.<slug>]` table as JSON), merged over the global `[claims]` and
    /// `[provisioning]` tables like the file's. A slug the file uses is refused.
    pub fn database_provider(
        &self,
        slug: &str,
        doc: &Value,
    ) -> Result<ProviderConfig, ConfigError> {
        let origin = format!("the provider \"{slug}\" saved in the database");
        if self.providers.contains_key(slug) {
            return Err(ConfigError::new(
                origin,
                format!("providers.{slug}"),
                "the configuration file defines a provider with this slug",
                "Choose another slug, or change the provider in the configuration file.",
            ));
        }
        build_provider(
            slug,
            doc.clone(),
            &self.global_claims,
            &self.global_provisioning,
            false,
        )
        .map_err(|(key, message)| {
            ConfigError::new(
                &origin,
                key,
                message,
                "Fix the value; docs/configuration.md describes every provider key.",
            )
        })
    }

    /// Every provider in force: the file's, then those saved in the database. A saved
    /// one that no longer builds (say, after a key was renamed) is left out with a
    /// warning rather than stopping the server.
    pub fn all_providers(&self, saved: &Saved) -> (Vec<ProviderConfig>, Vec<String>) {
        let mut out: Vec<ProviderConfig> = self.providers.values().cloned().collect();
        let mut warnings = Vec::new();
        for (slug, doc) in &saved.providers {
            match self.database_provider(slug, doc) {
                Ok(p) => out.push(p),
                Err(e) => warnings.push(e.to_string()),
            }
        }
        (out, warnings)
    }

    /// The permissions engines check against: the stored catalogue's (which includes
    /// the file's once synced) and the file's.
    fn permissions(&self, saved: &Saved) -> Vec<Permission> {
        let mut all = saved.permissions.clone();
        for p in &self.catalogue.permissions {
            if !all.iter().any(|q| q.name == p.name) {
                all.push(p.clone());
            }
        }
        all
    }

    /// The global provisioning policy: the file's `[provisioning]` with the global
    /// settings saved in the console laid over it.
    pub fn global_policy(&self, saved: &Saved) -> Result<ProvisioningPolicy, ConfigError> {
        typed(
            &merge(&self.global_provisioning, saved.global.as_ref()),
            "provisioning",
        )
        .map_err(|(key, m)| {
            ConfigError::new(
                "the global provisioning settings saved in the console",
                key,
                m,
                "Save the provisioning settings again from the console.",
            )
        })
    }

    /// The lifecycle rules of each provider that has its own (merged over the global).
    pub fn provider_lifecycles(
        &self,
    ) -> Result<BTreeMap<String, ssogate_core::lifecycle::LifecyclePolicy>, ConfigError> {
        let mut out = BTreeMap::new();
        for (slug, p) in &self.providers {
            if let Some(t) = &p.lifecycle_table {
                let merged = merge(&self.global_lifecycle, Some(t));
                let policy = typed(&merged, "lifecycle").map_err(|(key, m)| {
                    ConfigError::new(
                        self.origin_name(),
                        format!("providers.{slug}.{key}"),
                        m,
                        "See docs/configuration.md, [lifecycle].",
                    )
                })?;
                out.insert(slug.clone(), policy);
            }
        }
        Ok(out)
    }

    /// The engine of `provider` and the policy it was compiled from. Layers, later wins:
    /// the file's `[provisioning]`, the global settings saved in the console, the file's
    /// `[providers.<slug>.provisioning]`, the provider's own settings saved in the console.
    pub fn compile(
        &self,
        provider: &ProviderConfig,
        saved: &Saved,
    ) -> Result<Compiled, ConfigError> {
        let slug = provider.slug.as_str();
        let global = merge(&self.global_provisioning, saved.global.as_ref());
        let with_table = merge(&global, provider.provisioning_table.as_ref());
        let own = saved.settings.get(slug);
        let origin = if own.is_some_and(|o| o.as_object().is_some_and(|m| !m.is_empty())) {
            "the provisioning settings saved for this provider"
        } else if saved.global.is_some() {
            "the global provisioning settings saved in the console"
        } else {
            "the configuration"
        };
        let policy: ProvisioningPolicy =
            typed(&merge(&with_table, own), "provisioning").map_err(|(key, m)| {
                ConfigError::new(
                    origin,
                    key,
                    m,
                    "Save the provisioning settings again from the console.",
                )
            })?;
        let engine = Engine::new(provider.policy(), policy.clone(), self.permissions(saved))
            .map_err(|e| policy_error(origin, slug, &e))?;
        self.check_hooks(origin, slug, &policy)?;
        Ok((Arc::new(engine), policy))
    }

    /// Every hook a policy names is configured.
    pub(crate) fn check_hooks(
        &self,
        origin: &str,
        slug: &str,
        policy: &ProvisioningPolicy,
    ) -> Result<(), ConfigError> {
        match policy.hooks.iter().find(|h| !self.hooks.contains_key(*h)) {
            None => Ok(()),
            Some(h) => Err(ConfigError::new(
                origin,
                format!("providers.{slug}.provisioning.hooks"),
                format!(
                    "there is no hook \"{h}\" (configured: {})",
                    if self.hooks.is_empty() {
                        "none".to_owned()
                    } else {
                        self.hooks.keys().cloned().collect::<Vec<_>>().join(", ")
                    }
                ),
                "Add a [hooks.<name>] table to the configuration file, or remove the name.",
            )),
        }
    }

    /// [`Config::compile`], falling back past saved settings that no longer compile
    /// (the provider's own, then the global ones) with a warning, so one bad save cannot
    /// stop sign-ins. Only the file's own policy failing is an error.
    pub fn compile_lenient(
        &self,
        provider: &ProviderConfig,
        saved: &Saved,
    ) -> Result<(Compiled, Option<String>), ConfigError> {
        let first = match self.compile(provider, saved) {
            Ok(c) => return Ok((c, None)),
            Err(e) => e.to_string(),
        };
        let mut fewer = saved.clone();
        fewer.settings.remove(&provider.slug);
        if let Ok(c) = self.compile(provider, &fewer) {
            return Ok((c, Some(first)));
        }
        fewer.global = None;
        Ok((self.compile(provider, &fewer)?, Some(first)))
    }

    fn origin_name(&self) -> String {
        self.path
            .as_ref()
            .map_or_else(|| "the environment".to_owned(), |p| p.display().to_string())
    }
}

pub(crate) fn policy_error(origin: &str, slug: &str, e: &PolicyError) -> ConfigError {
    let (key, hint) = match e {
        PolicyError::Rule(r) => (
            format!("providers.{slug}.provisioning.rules[\"{}\"].when", r.name),
            "Fix the CEL expression; see docs/rules.md for the variables and examples.",
        ),
        PolicyError::AllowRegex { .. } => (
            format!("providers.{slug}.provisioning.groups.allow_regex"),
            "Fix the regular expression (Rust regex syntax, no slashes around it).",
        ),
        PolicyError::UnknownPermission { .. } => (
            format!("providers.{slug}.provisioning"),
            "Add the permission to [[catalogue.permissions]] or remove it from the policy.",
        ),
        PolicyError::SubjectNotFirst => (
            format!("providers.{slug}.provisioning.match_by"),
            "Put \"subject\" first, e.g. match_by = [\"subject\", \"verified_email\"].",
        ),
        PolicyError::UniqueIdsTooLong | PolicyError::ZeroLength => (
            format!("providers.{slug}.provisioning.username.max_length"),
            "Raise username.max_length.",
        ),
        PolicyError::BadDomain(_) => (
            format!("providers.{slug}.provisioning.admin_email_domains"),
            "List bare domains such as \"example.com\".",
        ),
        PolicyError::TwoIdSchemes => (
            format!("providers.{slug}.provisioning.nextcloud_user_ids"),
            "Keep nextcloud_user_ids (accounts moving from Nextcloud) or unique_user_ids, not both.",
        ),
    };
    ConfigError::new(origin, key, e.to_string(), hint)
}

/// `over` deep-merged onto `base` (tables merge, everything else replaces).
pub(crate) fn merge(base: &Value, over: Option<&Value>) -> Value {
    match (base, over) {
        (_, None) => base.clone(),
        (Value::Object(b), Some(Value::Object(o))) => {
            let mut out = b.clone();
            for (k, v) in o {
                let merged = merge(b.get(k).unwrap_or(&Value::Null), Some(v));
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (_, Some(o)) => o.clone(),
    }
}

/// Deserializes with the path of the failing key.
pub(crate) fn typed<T: serde::de::DeserializeOwned>(
    v: &Value,
    prefix: &str,
) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let inner = e.path().to_string();
        let key = match (prefix.is_empty(), inner == ".") {
            (true, _) => inner,
            (false, true) => prefix.to_owned(),
            (false, false) => format!("{prefix}.{inner}"),
        };
        (key, e.into_inner().to_string())
    })
}
