//! One provider: its `[providers.<slug>]` table (from the file or saved in the
//! directory) built into what the relying party and the engine need.

use super::*;

/// Where a provider sends the browser back: ssogate's own path, or the path the system
/// being left registered at the provider, so nobody has to re-register redirect URIs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Callback {
    /// `/auth/{slug}/callback`.
    #[default]
    Ssogate,
    /// BookStack's `/oidc/callback` (one provider only).
    Bookstack,
    /// Tududi's `/api/oidc/callback/{slug}` (sign-in starts at `/api/oidc/auth/{slug}`).
    Tududi,
    /// Nextcloud user_oidc's `/apps/user_oidc/code` (one provider only).
    Nextcloud,
    /// The same on a Nextcloud without pretty URLs: `/index.php/apps/user_oidc/code`.
    #[serde(rename = "nextcloud_index_php")]
    NextcloudIndexPhp,
}

impl Callback {
    /// The callback's path for provider `slug`.
    pub fn path(self, slug: &str) -> String {
        match self {
            Callback::Ssogate => format!("/auth/{slug}/callback"),
            Callback::Bookstack => "/oidc/callback".into(),
            Callback::Tududi => format!("/api/oidc/callback/{slug}"),
            Callback::Nextcloud => "/apps/user_oidc/code".into(),
            Callback::NextcloudIndexPhp => "/index.php/apps/user_oidc/code".into(),
        }
    }

    /// The cookie path that covers the callback (the login's browser binding).
    pub fn cookie_path(self) -> &'static str {
        match self {
            Callback::Ssogate => "/auth/",
            Callback::Bookstack => "/oidc/",
            Callback::Tududi => "/api/oidc/",
            Callback::Nextcloud => "/apps/user_oidc/",
            Callback::NextcloudIndexPhp => "/index.php/apps/user_oidc/",
        }
    }

    /// Where the provider sends the browser after RP-initiated logout: a URI the system
    /// being left had registered (BookStack: `/login?prevent_auto_init=true` when it
    /// signs in automatically, else `/`; Nextcloud: its root), so the provider accepts it.
    pub fn post_logout_path(self, auto_initiate: bool) -> &'static str {
        match self {
            Callback::Bookstack if auto_initiate => "/login?prevent_auto_init=true",
            Callback::Bookstack | Callback::Nextcloud | Callback::NextcloudIndexPhp => "/",
            Callback::Ssogate | Callback::Tududi => "/logged-out",
        }
    }

    /// Where a sign-in through this provider starts.
    pub fn start_path(self, slug: &str) -> String {
        match self {
            Callback::Tududi => format!("/api/oidc/auth/{slug}"),
            _ => format!("/auth/{slug}/start"),
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
    /// Where the provider sends the browser back (`callback`).
    pub callback: Callback,
    /// Its place on the login page: the file's order first, then the rest by slug.
    pub position: usize,
    /// Re-validate sessions at the provider with their refresh token this often (Tududi);
    /// a refusal ends the session. 0: never.
    pub refresh_interval_minutes: u32,
    pub claims: ClaimMap,
    pub provisioning: ProvisioningPolicy,
    /// Discovery, endpoints, algorithms, logout, bearer tokens… (see `ssogate_protocol`).
    pub protocol: ProtocolSettings,
    /// Added through the console, API or CLI (editable there), not the configuration file.
    pub from_database: bool,
    /// The provider's own `provisioning` table as written (before the global one), so
    /// that settings saved in the console can be layered between the two.
    pub provisioning_table: Option<Value>,
    /// This provider's own `[providers.<slug>.lifecycle]`, if any.
    pub lifecycle_table: Option<Value>,
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
                "{}{}",
                base_url.trim_end_matches('/'),
                self.callback.path(&self.slug)
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

/// The `[providers.<slug>]` table, before merging.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProvider {
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
    #[serde(default)]
    callback: Callback,
    #[serde(default)]
    refresh_interval_minutes: u32,
    /// Merged over the global `[lifecycle]` when the rules are read.
    #[serde(default)]
    lifecycle: Option<Value>,
    // Deep-merged over the global tables, then typed.
    #[serde(default)]
    claims: Option<Value>,
    #[serde(default)]
    provisioning: Option<Value>,
}

/// Builds one provider from its table (the file's `[providers.<slug>]`, or a document
/// saved in the database), its `claims` and `provisioning` deep-merged over the global
/// tables. Errors are (key, message). Files are read only for the configuration file:
/// a provider added through the console must not make ssogate read a local file into a
/// secret it sends elsewhere.
pub(crate) fn build_provider(
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
        callback: rp.callback,
        position: usize::MAX,
        refresh_interval_minutes: rp.refresh_interval_minutes,
        forward_unverified_email: rp.forward_unverified_email,
        claims,
        provisioning,
        protocol,
        from_database: !from_file,
        provisioning_table,
        lifecycle_table: rp.lifecycle.clone(),
    })
}

/// Keys of a provider table that ssogate itself reads; the rest belong to the relying party.
pub(crate) const OWN_PROVIDER_KEYS: [&str; 15] = [
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
    "callback",
    "refresh_interval_minutes",
    "lifecycle",
    "claims",
    "provisioning",
];

pub(crate) fn split_provider(value: Value) -> (Value, Value) {
    let Value::Object(map) = value else {
        return (value, Value::Object(Map::new()));
    };
    let (own, protocol): (Map<String, Value>, Map<String, Value>) = map
        .into_iter()
        .partition(|(k, _)| OWN_PROVIDER_KEYS.contains(&k.as_str()));
    (Value::Object(own), Value::Object(protocol))
}

pub(crate) fn valid_slug(s: &str) -> bool {
    let mut chars = s.chars();
    s.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}
