//! The environment variable names operators already use with BookStack and Tududi.
//!
//! | variable | becomes |
//! |---|---|
//! | `OIDC_DISPLAY_NAME_CLAIMS` | `claims.display_name`; `a|b` means *join* here (BookStack) |
//! | `OIDC_EXTERNAL_ID_CLAIM` | `claims.external_id` |
//! | `OIDC_GROUPS_CLAIM` | `claims.groups` |
//! | `OIDC_USER_TO_GROUPS` | `provisioning.groups.enabled` |
//! | `OIDC_REMOVE_FROM_GROUPS` | `provisioning.groups.remove_unmatched` |
//! | `OIDC_AUTO_PROVISION` | `provisioning.auto_provision` |
//! | `OIDC_ADMIN_EMAIL_DOMAINS` | `provisioning.admin_email_domains` (comma-separated) |
//! | `OIDC_ISSUER` / `OIDC_ISSUER_URL`, `OIDC_CLIENT_ID`, `OIDC_CLIENT_SECRET`, `OIDC_SCOPE`, `OIDC_ADDITIONAL_SCOPES`, `OIDC_NAME` / `OIDC_PROVIDER_NAME`, `OIDC_PROVIDER_SLUG` | one provider: slug from `OIDC_PROVIDER_SLUG`, else the only provider of the file, else `oidc` |
//! | `OIDC_AUTH_ENDPOINT`, `OIDC_TOKEN_ENDPOINT`, `OIDC_USERINFO_ENDPOINT`, `OIDC_ISSUER_DISCOVER`, `OIDC_PUBLIC_KEY` (`file://` path), `OIDC_END_SESSION_ENDPOINT` (true/false/URL), `OIDC_DUMP_USER_DETAILS` | that provider's `authorization_endpoint`, `token_endpoint`, `userinfo_endpoint`, `discovery`, `public_key_file`, `end_session`, `dump_claims` (BookStack) |
//! | `OIDC_PROVIDER_<N>_{SLUG,NAME,ISSUER,ISSUER_URL,CLIENT_ID,CLIENT_SECRET,SCOPE,ADDITIONAL_SCOPES,AUTO_PROVISION,ADMIN_EMAIL_DOMAINS}` | `providers.<slug>`, N from 1 upwards without gaps |
//!
//! | `BASE_URL` (Tududi), `APP_URL` (BookStack) | `base_url` |
//! | `AUTH_METHOD` (BookStack) | `oidc` accepted (and BookStack's defaults apply); any other method refused |
//! | (any provider defined by these names) | `callback`: Tududi's `/api/oidc/callback/{slug}` for Tududi's names, BookStack's `/oidc/callback` for BookStack's, so the redirect URIs registered at the provider keep working |
//! | `AUTH_AUTO_INITIATE` (BookStack) | `server.auto_initiate` — BookStack's default, false, when `AUTH_METHOD=oidc` and it is not set |
//!
//! `OIDC_ENABLED=false` ignores the provider variables. Tududi leaves OIDC off unless
//! `OIDC_ENABLED=true`: Tududi's names (`OIDC_ISSUER_URL`, `OIDC_PROVIDER_SLUG`,
//! `OIDC_PROVIDER_NAME`, `OIDC_PROVIDER_<N>_*`) without it are ignored, with a warning
//! saying so; BookStack's names (`OIDC_ISSUER`, `AUTH_METHOD=oidc`) need no switch.
//! Unknown `OIDC_PROVIDER_<N>_*` names are errors; other unknown `OIDC_*` and `AUTH_*`
//! names are warnings.

use crate::ConfigError;
use serde_json::{Map, Value, json};
use ssogate_core::ClaimExpr;
use std::collections::BTreeMap;

/// The mapped variables, ready to merge as a configuration layer.
#[derive(Debug, Clone, Default)]
pub struct SeedEnv {
    pub value: Value,
    /// What the seed system does without being told (its redirect paths, Tududi's
    /// usernames): filled in only where the file says nothing.
    pub implied: Value,
    /// Key path → the variable it came from, for error messages.
    pub names: BTreeMap<String, String>,
    pub warnings: Vec<String>,
}

const PROVIDER_FIELDS: [&str; 10] = [
    "SLUG",
    "NAME",
    "ISSUER",
    "ISSUER_URL",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "SCOPE",
    "ADDITIONAL_SCOPES",
    "AUTO_PROVISION",
    "ADMIN_EMAIL_DOMAINS",
];

fn err(var: &str, key: &str, message: impl Into<String>, hint: impl Into<String>) -> ConfigError {
    ConfigError {
        origin: format!("environment variable {var}"),
        key: key.to_owned(),
        message: message.into(),
        hint: hint.into(),
    }
}

fn parse_bool(var: &str, key: &str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(err(
            var,
            key,
            format!("\"{v}\" is not true or false"),
            "Set it to true or false.",
        )),
    }
}

/// Sets the dotted `path` in `target`, making the tables on the way.
fn put(target: &mut Value, path: &str, v: Value) {
    let mut cur = target;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(map) = cur else { return };
        if i + 1 == parts.len() {
            map.insert((*part).to_owned(), v);
            break;
        }
        cur = map
            .entry((*part).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

fn list(v: &str, sep: char) -> Vec<String> {
    v.split(sep)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

impl SeedEnv {
    fn set(&mut self, path: &str, var: &str, v: Value) {
        put(&mut self.value, path, v);
        self.names.insert(path.to_owned(), var.to_owned());
    }

    /// Like [`Self::set`], for a default the configuration file may override.
    fn imply(&mut self, path: &str, var: &str, v: Value) {
        put(&mut self.implied, path, v);
        self.names.insert(path.to_owned(), var.to_owned());
    }

    fn expr(
        &mut self,
        path: &str,
        var: &str,
        v: &str,
        bookstack_join: bool,
    ) -> Result<(), ConfigError> {
        let parsed = if bookstack_join {
            ClaimExpr::parse_bookstack_join(v)
        } else {
            ClaimExpr::parse(v)
        };
        let e = parsed.map_err(|e| {
            err(
                var,
                path,
                e.to_string(),
                "Fix the claim expression (see docs/claims.md).",
            )
        })?;
        self.set(path, var, Value::String(e.to_string()));
        Ok(())
    }

    /// Maps the variables; `file_providers` are the slugs the file defines.
    pub fn from_vars(
        vars: &[(String, String)],
        file_providers: &[String],
    ) -> Result<Self, ConfigError> {
        let env: BTreeMap<&str, &str> =
            vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut out = SeedEnv {
            value: json!({}),
            ..Default::default()
        };

        if let Some(v) = env.get("OIDC_DISPLAY_NAME_CLAIMS") {
            out.expr("claims.display_name", "OIDC_DISPLAY_NAME_CLAIMS", v, true)?;
        }
        if let Some(v) = env.get("OIDC_EXTERNAL_ID_CLAIM") {
            out.expr("claims.external_id", "OIDC_EXTERNAL_ID_CLAIM", v, false)?;
        }
        if let Some(v) = env.get("OIDC_GROUPS_CLAIM") {
            out.expr("claims.groups", "OIDC_GROUPS_CLAIM", v, false)?;
        }
        for (var, path) in [
            ("OIDC_USER_TO_GROUPS", "provisioning.groups.enabled"),
            (
                "OIDC_REMOVE_FROM_GROUPS",
                "provisioning.groups.remove_unmatched",
            ),
            ("OIDC_AUTO_PROVISION", "provisioning.auto_provision"),
        ] {
            if let Some(v) = env.get(var) {
                let b = parse_bool(var, path, v)?;
                out.set(path, var, Value::Bool(b));
            }
        }
        if let Some(v) = env.get("OIDC_ADMIN_EMAIL_DOMAINS") {
            out.set(
                "provisioning.admin_email_domains",
                "OIDC_ADMIN_EMAIL_DOMAINS",
                json!(list(v, ',')),
            );
        }

        for var in ["BASE_URL", "APP_URL"] {
            if let Some(v) = env.get(var).filter(|v| !v.trim().is_empty()) {
                out.set("base_url", var, Value::String(v.trim().to_owned()));
            }
        }
        let bookstack = match env
            .get("AUTH_METHOD")
            .map(|v| v.trim().to_ascii_lowercase())
        {
            None => false,
            Some(m) if m == "oidc" => true,
            Some(m) => {
                return Err(err(
                    "AUTH_METHOD",
                    "-",
                    format!("\"{m}\" is a BookStack sign-in method ssogate does not offer"),
                    "ssogate signs in through OpenID Connect only: set AUTH_METHOD=oidc, or remove it.",
                ));
            }
        };
        match env.get("AUTH_AUTO_INITIATE") {
            Some(v) => {
                let b = parse_bool("AUTH_AUTO_INITIATE", "server.auto_initiate", v)?;
                out.set("server.auto_initiate", "AUTH_AUTO_INITIATE", Value::Bool(b));
            }
            // BookStack shows its login page unless told to go straight to the provider.
            None if bookstack => {
                out.set("server.auto_initiate", "AUTH_METHOD", Value::Bool(false));
            }
            None => {}
        }
        let tududi = [
            "OIDC_ISSUER_URL",
            "OIDC_PROVIDER_SLUG",
            "OIDC_PROVIDER_NAME",
        ]
        .iter()
        .any(|k| env.contains_key(k))
            || env.keys().any(|k| {
                k.starts_with("OIDC_PROVIDER_")
                    && k.as_bytes().get(14).is_some_and(u8::is_ascii_digit)
            });
        let enabled = match env.get("OIDC_ENABLED") {
            Some(v) => parse_bool("OIDC_ENABLED", "-", v)?,
            // Tududi's default: off until OIDC_ENABLED=true.
            None if tududi && !bookstack => {
                out.warnings.push(
                    "Tududi's OIDC variables are set but OIDC_ENABLED is not: as in Tududi, OIDC stays off — set OIDC_ENABLED=true to use them".into(),
                );
                false
            }
            None => true,
        };
        if enabled {
            out.single_provider(&env, file_providers)?;
            out.numbered_providers(&env)?;
        }

        let known_single = [
            "OIDC_ENABLED",
            "OIDC_DISPLAY_NAME_CLAIMS",
            "OIDC_EXTERNAL_ID_CLAIM",
            "OIDC_GROUPS_CLAIM",
            "OIDC_USER_TO_GROUPS",
            "OIDC_REMOVE_FROM_GROUPS",
            "OIDC_AUTO_PROVISION",
            "OIDC_ADMIN_EMAIL_DOMAINS",
            "OIDC_ISSUER",
            "OIDC_ISSUER_URL",
            "OIDC_CLIENT_ID",
            "OIDC_CLIENT_SECRET",
            "OIDC_SCOPE",
            "OIDC_ADDITIONAL_SCOPES",
            "OIDC_NAME",
            "OIDC_PROVIDER_NAME",
            "OIDC_PROVIDER_SLUG",
            "OIDC_AUTH_ENDPOINT",
            "OIDC_TOKEN_ENDPOINT",
            "OIDC_USERINFO_ENDPOINT",
            "OIDC_END_SESSION_ENDPOINT",
            "OIDC_ISSUER_DISCOVER",
            "OIDC_DUMP_USER_DETAILS",
            "OIDC_PUBLIC_KEY",
        ];
        let known_auth = ["AUTH_METHOD", "AUTH_AUTO_INITIATE"];
        for k in env.keys().filter(|k| {
            (k.starts_with("OIDC_") && !k.starts_with("OIDC_PROVIDER_")) || k.starts_with("AUTH_")
        }) {
            if !known_single.contains(k) && !known_auth.contains(k) {
                out.warnings.push(format!(
                    "environment variable {k} is not one ssogate reads; ignored"
                ));
            }
        }
        Ok(out)
    }

    fn provider_fields(
        &mut self,
        slug: &str,
        get: &dyn Fn(&str) -> Option<(String, String)>,
    ) -> Result<(), ConfigError> {
        let base = format!("providers.{slug}");
        if let Some((var, v)) = get("NAME") {
            self.set(&format!("{base}.display_name"), &var, json!(v));
        }
        for field in ["ISSUER", "ISSUER_URL"] {
            if let Some((var, v)) = get(field) {
                self.set(&format!("{base}.issuer"), &var, json!(v.trim()));
            }
        }
        if let Some((var, v)) = get("CLIENT_ID") {
            self.set(&format!("{base}.client_id"), &var, json!(v));
        }
        if let Some((var, v)) = get("CLIENT_SECRET") {
            self.set(&format!("{base}.client_secret"), &var, json!(v));
        }
        if let Some((var, v)) = get("SCOPE") {
            self.set(&format!("{base}.scopes"), &var, json!(list(&v, ' ')));
        }
        if let Some((var, v)) = get("ADDITIONAL_SCOPES") {
            self.set(&format!("{base}.extra_scopes"), &var, json!(list(&v, ',')));
        }
        if let Some((var, v)) = get("AUTO_PROVISION") {
            let key = format!("{base}.provisioning.auto_provision");
            let b = parse_bool(&var, &key, &v)?;
            self.set(&key, &var, Value::Bool(b));
        }
        // BookStack's manual endpoints and debugging switches.
        for (field, key) in [
            ("AUTH_ENDPOINT", "authorization_endpoint"),
            ("TOKEN_ENDPOINT", "token_endpoint"),
            ("USERINFO_ENDPOINT", "userinfo_endpoint"),
        ] {
            if let Some((var, v)) = get(field) {
                self.set(&format!("{base}.{key}"), &var, json!(v.trim()));
            }
        }
        if let Some((var, v)) = get("END_SESSION_ENDPOINT") {
            // BookStack: "true"/"false", or a URL.
            self.set(&format!("{base}.end_session"), &var, json!(v.trim()));
        }
        if let Some((var, v)) = get("ISSUER_DISCOVER") {
            let key = format!("{base}.discovery");
            let b = parse_bool(&var, &key, &v)?;
            self.set(&key, &var, Value::Bool(b));
        }
        if let Some((var, v)) = get("DUMP_USER_DETAILS") {
            let key = format!("{base}.dump_claims");
            let b = parse_bool(&var, &key, &v)?;
            self.set(&key, &var, Value::Bool(b));
        }
        if let Some((var, v)) = get("PUBLIC_KEY") {
            // BookStack accepts `file:///path/key.pem`; a path is taken as it is.
            let path = v.trim();
            let path = path.strip_prefix("file://").unwrap_or(path);
            self.set(&format!("{base}.public_key_file"), &var, json!(path));
        }
        if let Some((var, v)) = get("ADMIN_EMAIL_DOMAINS") {
            self.set(
                &format!("{base}.provisioning.admin_email_domains"),
                &var,
                json!(list(&v, ',')),
            );
        }
        Ok(())
    }

    fn single_provider(
        &mut self,
        env: &BTreeMap<&str, &str>,
        file_providers: &[String],
    ) -> Result<(), ConfigError> {
        let defines = [
            "OIDC_ISSUER",
            "OIDC_ISSUER_URL",
            "OIDC_CLIENT_ID",
            "OIDC_CLIENT_SECRET",
            "OIDC_PROVIDER_SLUG",
        ]
        .iter()
        .any(|k| env.contains_key(k));
        // (Endpoint variables alone do not define a provider: they need an issuer.)
        if !defines {
            return Ok(());
        }
        let slug = match (env.get("OIDC_PROVIDER_SLUG"), file_providers) {
            (Some(s), _) => s.trim().to_owned(),
            (None, [only]) => only.clone(),
            (None, _) => "oidc".to_owned(),
        };
        let get = |field: &str| -> Option<(String, String)> {
            let names: &[&str] = match field {
                "NAME" => &["OIDC_NAME", "OIDC_PROVIDER_NAME"],
                "ISSUER" => &["OIDC_ISSUER"],
                "ISSUER_URL" => &["OIDC_ISSUER_URL"],
                "CLIENT_ID" => &["OIDC_CLIENT_ID"],
                "CLIENT_SECRET" => &["OIDC_CLIENT_SECRET"],
                "SCOPE" => &["OIDC_SCOPE"],
                "ADDITIONAL_SCOPES" => &["OIDC_ADDITIONAL_SCOPES"],
                "AUTH_ENDPOINT" => &["OIDC_AUTH_ENDPOINT"],
                "TOKEN_ENDPOINT" => &["OIDC_TOKEN_ENDPOINT"],
                "USERINFO_ENDPOINT" => &["OIDC_USERINFO_ENDPOINT"],
                "END_SESSION_ENDPOINT" => &["OIDC_END_SESSION_ENDPOINT"],
                "ISSUER_DISCOVER" => &["OIDC_ISSUER_DISCOVER"],
                "DUMP_USER_DETAILS" => &["OIDC_DUMP_USER_DETAILS"],
                "PUBLIC_KEY" => &["OIDC_PUBLIC_KEY"],
                _ => &[],
            };
            names
                .iter()
                .find_map(|n| env.get(n).map(|v| ((*n).to_owned(), (*v).to_owned())))
        };
        self.provider_fields(&slug, &get)?;
        // The redirect URI the provider already has registered for the system being left.
        let tududi = [
            "OIDC_ISSUER_URL",
            "OIDC_PROVIDER_SLUG",
            "OIDC_PROVIDER_NAME",
        ]
        .iter()
        .find(|k| env.contains_key(*k));
        let (var, style) = match tududi {
            Some(var) => (*var, "tududi"),
            None if env.contains_key("OIDC_ISSUER") => ("OIDC_ISSUER", "bookstack"),
            None if env.contains_key("AUTH_METHOD") => ("AUTH_METHOD", "bookstack"),
            None => return Ok(()),
        };
        self.imply(&format!("providers.{slug}.callback"), var, json!(style));
        if style == "tududi" {
            self.tududi_usernames(&slug, var);
        }
        Ok(())
    }

    /// Tududi names new accounts after the part of the email before the `@`.
    fn tududi_usernames(&mut self, slug: &str, var: &str) {
        self.imply(
            &format!("providers.{slug}.provisioning.username.source"),
            var,
            json!("email_prefix"),
        );
    }

    fn numbered_providers(&mut self, env: &BTreeMap<&str, &str>) -> Result<(), ConfigError> {
        let mut numbers = std::collections::BTreeSet::new();
        for k in env.keys() {
            let Some(rest) = k.strip_prefix("OIDC_PROVIDER_") else {
                continue;
            };
            let Some((n, field)) = rest.split_once('_') else {
                continue;
            };
            let Ok(n) = n.parse::<u32>() else { continue };
            if !PROVIDER_FIELDS.contains(&field) {
                return Err(err(
                    k,
                    "providers",
                    format!("{field} is not a provider setting"),
                    format!(
                        "Use one of OIDC_PROVIDER_{n}_{{{}}}.",
                        PROVIDER_FIELDS.join(",")
                    ),
                ));
            }
            numbers.insert(n);
        }
        for (expected, n) in (1u32..).zip(numbers.iter().copied()) {
            if n != expected {
                return Err(err(
                    &format!("OIDC_PROVIDER_{n}_*"),
                    "providers",
                    format!(
                        "providers are numbered from 1 without gaps, but OIDC_PROVIDER_{expected}_* is missing"
                    ),
                    "Renumber the OIDC_PROVIDER_<N>_* variables 1, 2, 3…",
                ));
            }
            let slug_var = format!("OIDC_PROVIDER_{n}_SLUG");
            let Some(slug) = env.get(slug_var.as_str()) else {
                return Err(err(
                    &slug_var,
                    "providers",
                    "the provider has no slug",
                    format!("Set {slug_var}, e.g. to \"google\"."),
                ));
            };
            let get = |field: &str| {
                let var = format!("OIDC_PROVIDER_{n}_{field}");
                env.get(var.as_str())
                    .map(|v| (var.clone(), (*v).to_owned()))
            };
            let slug = slug.trim();
            // The table exists even with nothing else set, so a missing issuer is reported.
            if self.value.pointer(&format!("/providers/{slug}")).is_none() {
                self.set(&format!("providers.{slug}"), &slug_var, json!({}));
            }
            self.provider_fields(slug, &get)?;
            self.imply(
                &format!("providers.{slug}.callback"),
                &slug_var,
                json!("tududi"),
            );
            self.tududi_usernames(slug, &slug_var);
        }
        Ok(())
    }
}
