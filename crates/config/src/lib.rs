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

pub mod seed_env;
mod server;

pub use server::{HeaderNames, RateLimits, ServerConfig};

use figment::providers::{Env, Format, Toml};
use figment::{Figment, Metadata, Profile, Provider};
use serde::Deserialize;
use serde_json::{Map, Value};
use ssogate_core::domain::{Catalogue, Group, Library, Permission};
use ssogate_core::engine::{Engine, PolicyError};
use ssogate_core::policy::{ClaimMap, ProviderPolicy, ProvisioningPolicy, TrustEmail};
use ssogate_oidc::{ProtocolSettings, ProviderSettings};
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
pub use ssogate_oidc::ClientSecret as Secret;

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

/// One provider as configured.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub slug: String,
    pub display_name: String,
    pub issuer: String,
    pub issuer_aliases: Vec<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    /// `openid profile email` unless set, plus `extra_scopes`.
    pub scopes: Vec<String>,
    pub trust_email: TrustEmail,
    /// Send an account's email in the identity header even when it is not verified.
    /// Off by default: an application that matches accounts by email could be taken
    /// over by anyone who can set an unverified address at the provider.
    pub forward_unverified_email: bool,
    pub claims: ClaimMap,
    pub provisioning: ProvisioningPolicy,
    /// Discovery, endpoints, algorithms, logout, bearer tokens… (see `ssogate_oidc`).
    pub protocol: ProtocolSettings,
    /// Added through the console, API or CLI (editable there), not the configuration file.
    pub from_database: bool,
    /// The provider's own `provisioning` table as written (before the global one), so
    /// that settings saved in the console can be layered between the two.
    pub provisioning_table: Option<Value>,
}

impl ProviderConfig {
    /// What the relying party needs of this provider, with callbacks under `base_url`.
    pub fn rp_settings(&self, base_url: &str) -> ProviderSettings {
        ProviderSettings {
            slug: self.slug.clone(),
            issuer: self.issuer.clone(),
            client_id: self.client_id.clone().unwrap_or_default(),
            client_secret: self.client_secret.as_ref().cloned(),
            scopes: self.scopes.clone(),
            redirect_uri: format!(
                "{}/auth/{}/callback",
                base_url.trim_end_matches('/'),
                self.slug
            ),
            wanted_claims: self.claims.primary_claims(),
            protocol: self.protocol.clone(),
        }
    }

    /// What the engine needs of this provider.
    pub fn policy(&self) -> ProviderPolicy {
        ProviderPolicy {
            slug: self.slug.clone(),
            issuer: self.issuer.clone(),
            issuer_aliases: self.issuer_aliases.clone(),
            trust_email: self.trust_email,
            claims: self.claims.clone(),
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
    pub catalogue: Catalogue,
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Where ssogate is reached; callbacks are `{base_url}/auth/{slug}/callback`.
    pub base_url: String,
    /// Listening, pages, sessions and forward-auth (`[server]`).
    pub server: ServerConfig,
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

    /// Sets a settings document by scope: `global` or `provider:<slug>`.
    pub fn put_settings(&mut self, scope: &str, document: &Value) {
        match scope.strip_prefix("provider:") {
            Some(slug) => {
                self.settings.insert(slug.to_owned(), document.clone());
            }
            None => self.global = Some(document.clone()),
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
        Ok((Arc::new(engine), policy))
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

fn policy_error(origin: &str, slug: &str, e: &PolicyError) -> ConfigError {
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
    };
    ConfigError::new(origin, key, e.to_string(), hint)
}

/// The `[providers.<slug>]` table, before merging.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    #[serde(default)]
    display_name: Option<String>,
    issuer: String,
    #[serde(default)]
    issuer_aliases: Vec<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<Secret>,
    #[serde(default)]
    client_secret_file: Option<PathBuf>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    extra_scopes: Vec<String>,
    #[serde(default)]
    trust_email: TrustEmail,
    #[serde(default)]
    forward_unverified_email: bool,
    // Deep-merged over the global tables, then typed.
    #[serde(default)]
    claims: Option<Value>,
    #[serde(default)]
    provisioning: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    database_url: Option<String>,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default)]
    server: ServerConfig,
    #[serde(default)]
    audit: AuditConfig,
    #[serde(default)]
    catalogue: Catalogue,
    #[serde(default)]
    claims: Option<Value>,
    #[serde(default)]
    provisioning: Option<Value>,
    #[serde(default)]
    providers: BTreeMap<String, Value>,
}

/// Loads `path` (if given) and the process environment.
pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    load_with_env(path, &env)
}

/// Loads `path` (if given), the seeds' `OIDC_*` names from `env`, and `SSOGATE_*`
/// variables from the process environment.
pub fn load_with_env(path: Option<&Path>, env: &[(String, String)]) -> Result<Config, ConfigError> {
    let mut figment = Figment::new();
    if let Some(path) = path {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(
                path.display().to_string(),
                "-",
                format!("cannot read the file ({e})"),
                "Check the path given with --config or SSOGATE_CONFIG.",
            )
        })?;
        // Parse once ourselves for a precise syntax error (figment's names no line).
        if let Err(e) = text.parse::<toml::Table>() {
            return Err(ConfigError::new(
                path.display().to_string(),
                "-",
                format!("not valid TOML: {}", e.message()),
                format!(
                    "Fix the syntax{}.",
                    e.span()
                        .map(|s| format!(" near byte {}", s.start))
                        .unwrap_or_default()
                ),
            ));
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    let file_providers: Vec<String> = figment
        .find_value("providers")
        .ok()
        .and_then(|v| v.into_dict())
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default();
    let seeds = seed_env::SeedEnv::from_vars(env, &file_providers)?;
    let warnings = seeds.warnings.clone();
    figment = figment.merge(seeds).merge(
        Env::prefixed("SSOGATE_")
            .split("__")
            .ignore(&["config", "log"]),
    );

    let raw_value: Value = figment
        .extract()
        .map_err(|e| figment_error(&figment, path, e))?;
    let raw: RawConfig =
        typed(&raw_value, "").map_err(|(key, msg)| located(&figment, path, &key, msg))?;
    let global_claims = raw.claims.unwrap_or(Value::Object(Map::new()));
    let global_prov = raw.provisioning.unwrap_or(Value::Object(Map::new()));
    // Check the global tables on their own, so their errors name them.
    let _: ClaimMap =
        typed(&global_claims, "claims").map_err(|(k, m)| located(&figment, path, &k, m))?;
    let _: ProvisioningPolicy =
        typed(&global_prov, "provisioning").map_err(|(k, m)| located(&figment, path, &k, m))?;

    let mut providers = BTreeMap::new();
    for (slug, value) in raw.providers {
        let p = build_provider(&slug, value, &global_claims, &global_prov, true)
            .map_err(|(k, m)| located(&figment, path, &k, m))?;
        providers.insert(slug, p);
    }

    let database = Database::parse(raw.database_url.as_deref().unwrap_or(DEFAULT_DATABASE_URL))
        .map_err(|m| located(&figment, path, "database_url", m))?;
    let base_url = raw
        .base_url
        .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned())
        .trim_end_matches('/')
        .to_owned();
    if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
        return Err(located(
            &figment,
            path,
            "base_url",
            format!("\"{base_url}\" is not an http(s) URL, e.g. https://sso.example.org"),
        ));
    }
    raw.server
        .check()
        .map_err(|(k, m)| located(&figment, path, &k, m))?;
    let config = Config {
        base_url,
        server: raw.server,
        audit: raw.audit,
        database,
        path: path.map(Path::to_path_buf),
        catalogue: raw.catalogue,
        providers,
        warnings,
        engines: BTreeMap::new(),
        global_claims,
        global_provisioning: global_prov,
    };
    check_catalogue(&config.catalogue).map_err(|(k, m)| located(&figment, path, &k, m))?;
    // Compile every engine now, so a bad rule fails at start, not at someone's login.
    let mut config = config;
    for (slug, p) in &config.providers {
        let engine = Engine::new(
            p.policy(),
            p.provisioning.clone(),
            config.catalogue.permissions.clone(),
        )
        .map_err(|e| policy_error(&config.origin_name(), slug, &e))?;
        config.engines.insert(slug.clone(), Arc::new(engine));
    }
    Ok(config)
}

/// Builds one provider from its table (the file's `[providers.<slug>]`, or a document
/// saved in the database), its `claims` and `provisioning` deep-merged over the global
/// tables. Errors are (key, message). Files are read only for the configuration file:
/// a provider added through the console must not make ssogate read a local file into a
/// secret it sends elsewhere.
fn build_provider(
    slug: &str,
    value: Value,
    global_claims: &Value,
    global_prov: &Value,
    from_file: bool,
) -> Result<ProviderConfig, (String, String)> {
    let prefix = format!("providers.{slug}");
    if !valid_slug(slug) {
        return Err((prefix, "a provider slug must be 1–63 lower-case letters, digits, '-' or '_', starting with a letter or digit".into()));
    }
    // The provider table holds ssogate's own keys and the relying party's protocol
    // keys; each half is typed strictly, so a misspelt key is still an error.
    let (own, protocol) = split_provider(value);
    let rp: RawProvider = typed(&own, &prefix)?;
    let protocol: ProtocolSettings = typed(&protocol, &prefix)?;
    let claims: ClaimMap = typed(
        &merge(global_claims, rp.claims.as_ref()),
        &format!("{prefix}.claims"),
    )?;
    let provisioning: ProvisioningPolicy = typed(
        &merge(global_prov, rp.provisioning.as_ref()),
        &format!("{prefix}.provisioning"),
    )?;
    let provisioning_table = rp.provisioning.clone();
    if rp.issuer.trim().is_empty() {
        return Err((format!("{prefix}.issuer"), "the issuer is empty".into()));
    }
    let client_secret = match (rp.client_secret, rp.client_secret_file) {
        (Some(_), Some(_)) => {
            return Err((
                format!("{prefix}.client_secret_file"),
                "client_secret and client_secret_file are both set".into(),
            ));
        }
        (s, None) => s,
        (None, Some(_)) if !from_file => {
            return Err((
                format!("{prefix}.client_secret_file"),
                "only the configuration file may name a secret file; give client_secret".into(),
            ));
        }
        (None, Some(file)) => Some(Secret::new(
            std::fs::read_to_string(&file)
                .map_err(|e| {
                    (
                        format!("{prefix}.client_secret_file"),
                        format!("cannot read {} ({e})", file.display()),
                    )
                })?
                .trim()
                .to_owned(),
        )),
    };
    let mut scopes = rp
        .scopes
        .unwrap_or_else(|| ["openid", "profile", "email"].map(String::from).to_vec());
    for s in rp.extra_scopes {
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    if !scopes.iter().any(|s| s == "openid") {
        return Err((
            format!("{prefix}.scopes"),
            "the scopes must include \"openid\"".into(),
        ));
    }
    Ok(ProviderConfig {
        display_name: rp.display_name.unwrap_or_else(|| slug.to_owned()),
        slug: slug.to_owned(),
        issuer: rp.issuer,
        issuer_aliases: rp.issuer_aliases,
        client_id: rp.client_id,
        client_secret,
        scopes,
        trust_email: rp.trust_email,
        forward_unverified_email: rp.forward_unverified_email,
        claims,
        provisioning,
        protocol,
        from_database: !from_file,
        provisioning_table,
    })
}

/// Keys of a provider table that ssogate itself reads; the rest belong to the relying party.
const OWN_PROVIDER_KEYS: [&str; 12] = [
    "display_name",
    "issuer",
    "issuer_aliases",
    "client_id",
    "client_secret",
    "client_secret_file",
    "scopes",
    "extra_scopes",
    "trust_email",
    "forward_unverified_email",
    "claims",
    "provisioning",
];

fn split_provider(value: Value) -> (Value, Value) {
    let Value::Object(map) = value else {
        return (value, Value::Object(Map::new()));
    };
    let (own, protocol): (Map<String, Value>, Map<String, Value>) = map
        .into_iter()
        .partition(|(k, _)| OWN_PROVIDER_KEYS.contains(&k.as_str()));
    (Value::Object(own), Value::Object(protocol))
}

fn valid_slug(s: &str) -> bool {
    let mut chars = s.chars();
    s.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn check_catalogue(c: &Catalogue) -> Result<(), (String, String)> {
    fn dupes<'a>(names: impl Iterator<Item = &'a str>, key: &str) -> Result<(), (String, String)> {
        let mut seen = std::collections::BTreeSet::new();
        for n in names {
            if n.trim().is_empty() {
                return Err((key.to_owned(), "a name is empty".into()));
            }
            if !seen.insert(n.to_lowercase()) {
                return Err((key.to_owned(), format!("\"{n}\" is listed twice")));
            }
        }
        Ok(())
    }
    dupes(
        c.permissions.iter().map(|p: &Permission| p.name.as_str()),
        "catalogue.permissions",
    )?;
    dupes(
        c.libraries.iter().map(|l: &Library| l.name.as_str()),
        "catalogue.libraries",
    )?;
    dupes(
        c.groups.iter().map(|g: &Group| g.name.as_str()),
        "catalogue.groups",
    )
}

/// `over` deep-merged onto `base` (tables merge, everything else replaces).
fn merge(base: &Value, over: Option<&Value>) -> Value {
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
fn typed<T: serde::de::DeserializeOwned>(v: &Value, prefix: &str) -> Result<T, (String, String)> {
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

/// Names the source of a key: the file, or the environment variable.
fn located(figment: &Figment, path: Option<&Path>, key: &str, message: String) -> ConfigError {
    let parts: Vec<&str> = key.split('.').filter(|p| !p.is_empty()).collect();
    let mut origin = None;
    for n in (1..=parts.len()).rev() {
        let prefix = parts.iter().take(n).copied().collect::<Vec<_>>().join(".");
        if let Some(meta) = figment.find_metadata(&prefix) {
            origin = Some(describe(meta, parts.get(..n).unwrap_or(&[])));
            break;
        }
    }
    let origin = origin.unwrap_or_else(|| {
        path.map_or_else(|| "the defaults".to_owned(), |p| p.display().to_string())
    });
    let hint = if message.contains("unknown field") {
        "Remove or rename the key; docs/configuration.md lists every key."
    } else {
        "Fix the value; docs/configuration.md describes every key."
    };
    ConfigError::new(origin, key, message, hint)
}

fn describe(meta: &Metadata, keys: &[&str]) -> String {
    if let Some(figment::Source::File(p)) = &meta.source {
        return p.display().to_string();
    }
    if meta.name.contains("SSOGATE_") {
        return format!(
            "environment variable SSOGATE_{}",
            keys.join("__").to_ascii_uppercase()
        );
    }
    let name = meta.interpolate(&Profile::Default, keys);
    if name.is_empty() {
        meta.name.to_string()
    } else {
        name
    }
}

fn figment_error(figment: &Figment, path: Option<&Path>, e: figment::Error) -> ConfigError {
    let key = e.path.join(".");
    let origin = e
        .metadata
        .as_ref()
        .map(|m| describe(m, &e.path.iter().map(String::as_str).collect::<Vec<_>>()))
        .unwrap_or_else(|| {
            path.map_or_else(|| "the environment".into(), |p| p.display().to_string())
        });
    let _ = figment;
    ConfigError::new(
        origin,
        if key.is_empty() { "-".into() } else { key },
        e.kind.to_string(),
        "Fix the value; docs/configuration.md describes every key.",
    )
}

impl Provider for seed_env::SeedEnv {
    fn metadata(&self) -> Metadata {
        let names = self.names.clone();
        Metadata::named("OIDC_* environment variables").interpolater(
            move |_: &Profile, keys: &[&str]| {
                names
                    .get(&keys.join("."))
                    .cloned()
                    .unwrap_or_else(|| "OIDC_* environment variables".to_owned())
            },
        )
    }

    fn data(&self) -> Result<figment::value::Map<Profile, figment::value::Dict>, figment::Error> {
        figment::providers::Serialized::defaults(&self.value).data()
    }
}
