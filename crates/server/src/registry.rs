//! The providers in force and their engines: the configuration file's providers and
//! those saved in the directory, each compiled with the provisioning settings saved in
//! the console (global, then its own) against the stored catalogue. Rebuilt whenever the
//! directory says one of those changed, on this instance or another.

use ssogate_config::{Compiled, Config, ConfigError, ProviderConfig, Saved};
use ssogate_core::policy::Scope;
use ssogate_oidc::{Clock, OidcError, Provider};
use ssogate_store::{Directory, StoreError};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Why the providers in force could not be built (only the configuration file's own
/// can stop it; a provider saved in the directory that does not build is left out).
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Provider(#[from] OidcError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot read the providers and settings saved in the directory: {0}")]
    Store(#[from] StoreError),
}

/// Where a provider is defined, and so where it is changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    File,
    /// Saved in the directory, with the document it was built from.
    Database(serde_json::Value),
}

pub(crate) struct ProviderEntry {
    pub rp: Provider,
    pub config: ProviderConfig,
    pub origin: Origin,
}

/// One consistent picture: providers and engines swap together.
#[derive(Default)]
pub(crate) struct Registry {
    pub providers: BTreeMap<String, Arc<ProviderEntry>>,
    pub engines: BTreeMap<String, Compiled>,
    /// The provider's clients: the file's `[clients.<id>]` and those registered in the
    /// directory (a registered client that no longer builds is left out, with a warning).
    pub clients: BTreeMap<String, Arc<ssogate_op::Client>>,
}

impl Registry {
    /// The providers as the login page lists them: the configuration file's order, then
    /// the others (environment, directory) by slug.
    pub(crate) fn in_order(&self) -> Vec<(&String, &Arc<ProviderEntry>)> {
        let mut list: Vec<_> = self.providers.iter().collect();
        list.sort_by_key(|(slug, p)| (p.config.position, *slug));
        list
    }

    /// The providers whose access tokens are accepted (`bearer` is not `off`).
    pub(crate) fn bearer_providers(&self) -> impl Iterator<Item = &Arc<ProviderEntry>> {
        self.providers
            .values()
            .filter(|p| p.config.protocol.bearer != ssogate_oidc::settings::BearerMode::Off)
    }

    /// Whether any provider accepts access tokens.
    pub(crate) fn accepts_bearer(&self) -> bool {
        self.bearer_providers().next().is_some()
    }
}

/// What the configuration file defines, as the administrative layer needs it.
pub fn configured(config: &Config) -> ssogate_admin::Configured {
    ssogate_admin::Configured {
        catalogue: config.catalogue.clone(),
        providers: config.providers.keys().cloned().collect(),
        clients: config.clients.keys().cloned().collect(),
        passwords: config.passwords.policy(),
        reset_link_seconds: i64::from(config.passwords.reset_link_minutes) * 60,
    }
}

/// Reads what the directory holds for the configuration: saved providers, every settings
/// document (in one query), the catalogue's permissions. Blocking.
pub fn read_saved(directory: &dyn Directory) -> Result<Saved, StoreError> {
    let mut global = None;
    let mut settings = BTreeMap::new();
    for (scope, doc) in directory.all_settings()? {
        match scope {
            Scope::Provider(slug) => {
                settings.insert(slug, doc);
            }
            Scope::Global => global = Some(doc),
        }
    }
    Ok(Saved {
        providers: directory.list_providers()?,
        global,
        settings,
        permissions: directory.catalogue()?.permissions,
    })
}

/// Builds the registry; entries whose definition did not change are kept (with their
/// cached discovery document and keys).
pub(crate) fn build(
    config: &Config,
    directory: &dyn Directory,
    clock: &Arc<dyn Clock>,
    previous: Option<&Registry>,
) -> Result<Registry, RegistryError> {
    let saved = read_saved(directory)?;
    let (all, warnings) = config.all_providers(&saved);
    for w in warnings {
        tracing::warn!(error = %w, "a provider saved in the database is left out");
    }
    let documents: BTreeMap<&str, &serde_json::Value> = saved
        .providers
        .iter()
        .map(|(s, d)| (s.as_str(), d))
        .collect();
    let mut out = Registry::default();
    for p in all {
        let origin = match documents.get(p.slug.as_str()) {
            Some(d) if p.from_database => Origin::Database((*d).clone()),
            _ => Origin::File,
        };
        let kept = previous
            .and_then(|r| r.providers.get(&p.slug))
            .filter(|e| e.origin == origin)
            .cloned();
        let entry = match kept {
            Some(e) => e,
            None => match Provider::new(p.rp_settings(&config.base_url), clock.clone()) {
                Ok(rp) => Arc::new(ProviderEntry {
                    rp,
                    config: p.clone(),
                    origin,
                }),
                Err(e) if p.from_database => {
                    tracing::warn!(provider = %p.slug, error = %e, "a provider saved in the database is left out");
                    continue;
                }
                Err(e) => return Err(e.into()),
            },
        };
        let (compiled, warning) = match config.compile_lenient(&p, &saved) {
            Ok(c) => c,
            // A saved provider whose own policy no longer compiles (the file's global
            // tables changed under it, say) is left out; the file's stop the start.
            Err(e) if p.from_database => {
                tracing::warn!(provider = %p.slug, error = %e, "a provider saved in the database is left out");
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(w) = warning {
            tracing::warn!(provider = %p.slug, error = %w, "the saved provisioning settings do not compile; using the ones before them");
        }
        out.engines.insert(p.slug.clone(), compiled);
        out.providers.insert(p.slug.clone(), entry);
    }
    out.clients = clients(config, directory)?;
    Ok(out)
}

/// The file's clients, then the directory's (the file wins an id both use).
fn clients(
    config: &Config,
    directory: &dyn Directory,
) -> Result<BTreeMap<String, Arc<ssogate_op::Client>>, StoreError> {
    let mut out: BTreeMap<String, Arc<ssogate_op::Client>> = config
        .clients
        .iter()
        .map(|(id, c)| (id.clone(), Arc::new(c.clone())))
        .collect();
    for stored in directory.op_clients()? {
        if out.contains_key(&stored.id) {
            tracing::warn!(client = %stored.id, "a client registered in the directory has the id of one in the configuration file; the file's is used");
            continue;
        }
        let digest = match stored.secret_sha256.as_deref().map(parse_digest) {
            None => None,
            Some(Some(d)) => Some(d),
            Some(None) => {
                tracing::warn!(client = %stored.id, "a registered client's secret digest is damaged; it is left out (rotate its secret)");
                continue;
            }
        };
        match ssogate_config::client_from_document(&stored.id, &stored.spec, digest) {
            Ok(c) => {
                out.insert(stored.id, Arc::new(c));
            }
            Err(e) => {
                tracing::warn!(client = %stored.id, error = %e, "a client registered in the directory is left out");
            }
        }
    }
    Ok(out)
}

/// A SHA-256 digest written as 64 hex digits.
fn parse_digest(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let text = std::str::from_utf8(pair).ok()?;
        *o = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

/// Whether a client's settings build, for the administrative layer's `check`: the
/// configuration's rules, and no id of the file's.
pub fn check_client(
    config: &Config,
    id: &str,
    settings: &serde_json::Value,
    confidential: bool,
) -> Result<(), String> {
    if config.clients.contains_key(id) {
        return Err(format!(
            "the client \"{id}\" is defined in the configuration file"
        ));
    }
    let client =
        ssogate_config::client_from_document(id, settings, confidential.then_some([0; 32]))
            .map_err(|e| e.to_string())?;
    // With the operator's key files, only what they hold can sign.
    if !config.signing_keys.is_empty()
        && !config.signing_keys.iter().any(|(_, text)| {
            ssogate_op::keys::SigningKey::from_pem(text.expose().as_bytes())
                .is_ok_and(|k| k.alg == client.alg)
        })
    {
        return Err(format!(
            "the client signs ID tokens with {}, and none of [server] signing_key_files holds a {} key",
            client.alg, client.alg
        ));
    }
    Ok(())
}

/// Whether every provider still builds and compiles once `change` is made to what the
/// directory holds: the check before saving settings, a provider or a catalogue change.
/// The message names the provider and the key. Blocking.
pub fn check(
    config: &Config,
    directory: &dyn Directory,
    change: impl FnOnce(&mut Saved),
) -> Result<(), String> {
    let mut saved = read_saved(directory).map_err(|e| e.to_string())?;
    change(&mut saved);
    let (all, warnings) = config.all_providers(&saved);
    if let Some(w) = warnings.into_iter().next() {
        return Err(w);
    }
    for p in &all {
        config.compile(p, &saved).map_err(|e| e.to_string())?;
        if p.from_database {
            // What the relying party refuses (a plain-http issuer elsewhere than on
            // loopback, say) is refused before it is saved, not found at the next start.
            Provider::new(
                p.rp_settings(&config.base_url),
                Arc::new(ssogate_oidc::SystemClock),
            )
            .map_err(|e| format!("provider {}: {e}", p.slug))?;
        }
    }
    // The global settings must compile on their own too: a provider with settings of
    // its own does not read them today, but will the moment it inherits.
    if saved.global.is_some() {
        let mut inherited = saved.clone();
        inherited.settings.clear();
        for p in &all {
            config.compile(p, &inherited).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// [`check`] for a provider's document about to be saved.
pub fn check_provider(
    config: &Config,
    directory: &dyn Directory,
    slug: &str,
    document: &serde_json::Value,
) -> Result<(), String> {
    check(config, directory, |s| s.put_provider(slug, document))
}

/// [`check`] for the catalogue as it would be after a change (engines check default
/// permissions against it).
pub fn check_catalogue(
    config: &Config,
    directory: &dyn Directory,
    catalogue: &ssogate_core::domain::Catalogue,
) -> Result<(), String> {
    check(config, directory, |s| {
        s.permissions = catalogue.permissions.clone();
    })
}
