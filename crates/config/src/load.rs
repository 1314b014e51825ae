//! Loading: the TOML file, the seeds' variables and `SSOGATE_*` overrides through
//! figment, checked, with errors that say where a value came from.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    #[serde(default)]
    database_url: Option<String>,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default)]
    server: ServerConfig,
    #[serde(default)]
    audit: AuditConfig,
    #[serde(default)]
    passwords: PasswordConfig,
    #[serde(default)]
    catalogue: Catalogue,
    #[serde(default)]
    claims: Option<Value>,
    #[serde(default)]
    provisioning: Option<Value>,
    #[serde(default)]
    providers: BTreeMap<String, Value>,
    #[serde(default)]
    hooks: BTreeMap<String, crate::hooks::RawHook>,
    #[serde(default)]
    clients: BTreeMap<String, crate::clients::RawClient>,
    #[serde(default)]
    lifecycle: Option<Value>,
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
    let implied = Implied(seeds.clone());
    figment = figment.merge(seeds).join(implied).merge(
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

    let order = path.map(provider_order).unwrap_or_default();
    let mut providers = BTreeMap::new();
    for (slug, value) in raw.providers {
        let mut p = build_provider(&slug, value, &global_claims, &global_prov, true)
            .map_err(|(k, m)| located(&figment, path, &k, m))?;
        // After the file's providers come those of the environment.
        p.position = order.iter().position(|s| *s == slug).unwrap_or(order.len());
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
    raw.passwords
        .check()
        .map_err(|(k, m)| located(&figment, path, &k, m))?;
    let origin = path.map_or_else(|| "the environment".to_owned(), |p| p.display().to_string());
    let mut hooks = BTreeMap::new();
    for (name, raw) in raw.hooks {
        hooks.insert(name.clone(), crate::hooks::build_hook(&name, raw, &origin)?);
    }
    let mut clients = BTreeMap::new();
    for (id, raw) in raw.clients {
        clients.insert(id.clone(), crate::clients::build_client(&id, raw, &origin)?);
    }
    let mut global_lifecycle = raw.lifecycle.unwrap_or(Value::Object(Map::new()));
    let every = global_lifecycle
        .as_object_mut()
        .and_then(|m| m.remove("run_every_minutes"));
    let lifecycle_every_minutes = match every {
        None => 60,
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                located(
                    &figment,
                    path,
                    "lifecycle.run_every_minutes",
                    "not a number of minutes".into(),
                )
            })?,
    };
    let lifecycle =
        typed(&global_lifecycle, "lifecycle").map_err(|(k, m)| located(&figment, path, &k, m))?;
    let signing_key_encryption = match &raw.server.signing_key_encryption_key_file {
        None => None,
        Some(file) => {
            let bad = |message: String, hint: &str| {
                let mut e = located(
                    &figment,
                    path,
                    "server.signing_key_encryption_key_file",
                    message,
                );
                e.hint = hint.to_owned();
                e
            };
            let text = std::fs::read_to_string(file).map_err(|e| {
                bad(
                    format!("cannot read {} ({e})", file.display()),
                    "Check the path and its permissions.",
                )
            })?;
            let text = text.trim();
            if text.chars().count() < 32 {
                return Err(bad(
                    "the key-encryption secret is shorter than 32 characters".into(),
                    "Put at least 32 random characters in it, e.g. `openssl rand -base64 32`.",
                ));
            }
            Some(crate::Secret::new(text))
        }
    };
    let signing_keys = raw
        .server
        .signing_key_files
        .iter()
        .map(|file| match std::fs::read_to_string(file) {
            Ok(text) => Ok((file.clone(), crate::Secret::new(text))),
            Err(e) => {
                let mut err = located(
                    &figment,
                    path,
                    "server.signing_key_files",
                    format!("cannot read {} ({e})", file.display()),
                );
                err.hint = "Check the path and its permissions (the key must be readable by \
                            ssogate only)."
                    .to_owned();
                Err(err)
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let config = Config {
        signing_keys,
        signing_key_encryption,
        lifecycle,
        lifecycle_every_minutes,
        global_lifecycle,
        clients,
        hooks,
        base_url,
        server: raw.server,
        audit: raw.audit,
        passwords: raw.passwords,
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
        config.check_hooks(&config.origin_name(), slug, &p.provisioning)?;
        config.engines.insert(slug.clone(), Arc::new(engine));
    }
    config.provider_lifecycles()?;
    Ok(config)
}

/// The providers in the order the file's `[providers.<slug>]` tables appear (the parsed
/// configuration keeps no order): the login page shows their buttons in that order.
fn provider_order(path: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let mut order: Vec<String> = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        let Some(rest) = line
            .strip_prefix('[')
            .and_then(|l| l.trim_start().strip_prefix("providers."))
        else {
            continue;
        };
        let slug: String = match rest.strip_prefix('"') {
            Some(quoted) => quoted.split('"').next().unwrap_or("").to_owned(),
            None => rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect(),
        };
        if !slug.is_empty() && !order.contains(&slug) {
            order.push(slug);
        }
    }
    order
}

pub(crate) fn check_catalogue(c: &Catalogue) -> Result<(), (String, String)> {
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

/// Names the source of a key: the file, or the environment variable.
pub(crate) fn located(
    figment: &Figment,
    path: Option<&Path>,
    key: &str,
    message: String,
) -> ConfigError {
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

pub(crate) fn describe(meta: &Metadata, keys: &[&str]) -> String {
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

pub(crate) fn figment_error(
    figment: &Figment,
    path: Option<&Path>,
    e: figment::Error,
) -> ConfigError {
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

/// The seed system's own defaults, under the file (see [`seed_env::SeedEnv::implied`]).
struct Implied(seed_env::SeedEnv);

impl Provider for Implied {
    fn metadata(&self) -> Metadata {
        self.0.metadata()
    }

    fn data(&self) -> Result<figment::value::Map<Profile, figment::value::Dict>, figment::Error> {
        if self.0.implied.is_object() {
            figment::providers::Serialized::defaults(&self.0.implied).data()
        } else {
            Ok(Default::default())
        }
    }
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
