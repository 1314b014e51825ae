//! The `[server]` table: where ssogate listens and how its pages, sessions and
//! forward-auth behave. Every key has a default; `docs/configuration.md` lists them.

use ipnet::IpNet;
use serde::Deserialize;
use std::net::SocketAddr;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Where to listen (`serve`). Loopback by default: put a reverse proxy in front.
    pub bind: SocketAddr,
    /// The session cookie's name.
    pub cookie_name: String,
    /// `Domain` of the session cookie, so that applications on sibling hosts
    /// (`books.example.org` next to `sso.example.org`) receive it and their proxy can
    /// forward it to `/auth/verify`. Unset: the cookie is for `base_url`'s host only.
    pub cookie_domain: Option<String>,
    /// A session ends after this long without a request.
    pub session_idle_minutes: u32,
    /// …and after this long in any case.
    pub session_max_hours: u32,
    /// Local accounts may sign in with a password (Tududi's hybrid authentication).
    pub local_login: bool,
    /// With exactly one provider and no local login, the login page sends the browser
    /// straight to the provider (BookStack's `AUTH_AUTO_INITIATE`); `?direct=1` shows it.
    pub auto_initiate: bool,
    /// The text of a provider's button; `{name}` is its display name.
    pub login_label: String,
    /// Origins besides `base_url` that `return_to` may point at (`https://app.example.com`).
    pub allowed_origins: Vec<String>,
    /// Addresses or networks of reverse proxies whose `X-Forwarded-For`,
    /// `X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Forwarded-Uri` are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// On logout, send the browser to the provider's end-session endpoint as well.
    pub rp_logout: bool,
    pub rate_limit: RateLimits,
    pub headers: HeaderNames,
    /// `/api/v1` also accepts an active administrator's access token from a provider
    /// whose `bearer` mode is on. Off: API keys are the API's only credential.
    pub api_accepts_provider_tokens: bool,
    /// Directory calls run at once on the blocking pool (the rest wait, holding no
    /// thread); PostgreSQL's `max_connections` bounds them further.
    pub directory_threads: u16,
    /// Threads that verify local passwords (Argon2), at the lowest scheduling priority:
    /// a burst of password attempts slows password sign-ins, never forward-auth.
    pub password_threads: u16,
    /// A file holding a secret (at least 32 characters of randomness) that seals the
    /// provider's signing keys in the directory (AES-256-GCM): a database dump then
    /// holds no usable signing key. Every instance needs the same file.
    pub signing_key_encryption_key_file: Option<std::path::PathBuf>,
    /// PEM private keys the operator keeps (PKCS#8: RSA → RS256, P-256 → ES256,
    /// Ed25519 → EdDSA; or PKCS#1 RSA). When set, these are the provider's signing keys
    /// and the directory holds none: for each algorithm the first listed signs, the
    /// others are only published (list the previous key after the new one until what
    /// it signed has expired). Every instance needs the same files.
    pub signing_key_files: Vec<std::path::PathBuf>,
}

/// The login button's words unless configured; shown in the page's language.
pub const DEFAULT_LOGIN_LABEL: &str = "Sign in with {name}";

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            cookie_name: "ssogate_session".into(),
            cookie_domain: None,
            session_idle_minutes: 8 * 60,
            session_max_hours: 7 * 24,
            local_login: false,
            auto_initiate: true,
            login_label: DEFAULT_LOGIN_LABEL.into(),
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            rp_logout: true,
            rate_limit: RateLimits::default(),
            headers: HeaderNames::default(),
            api_accepts_provider_tokens: false,
            directory_threads: 16,
            password_threads: 1,
            signing_key_encryption_key_file: None,
            signing_key_files: Vec::new(),
        }
    }
}

/// Requests per client address per window. Zero switches a limit off.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    pub window_seconds: u32,
    /// Starts of a login and callbacks (a sign-in costs two).
    pub login: u32,
    /// Password attempts (Tududi allows 5 per 15 minutes).
    pub password: u32,
    /// IPv6 clients are counted by network of this many bits (a subscriber is usually
    /// given a whole /64, so single addresses would count nothing); 128 = per address.
    pub ipv6_prefix: u8,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            window_seconds: 15 * 60,
            login: 60,
            password: 5,
            ipv6_prefix: 64,
        }
    }
}

/// Names of the identity headers forward-auth answers with.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct HeaderNames {
    pub user: String,
    pub email: String,
    /// `true` or `false`: whether the account's email was verified.
    pub email_verified: String,
    pub name: String,
    pub groups: String,
    pub permissions: String,
    pub libraries: String,
}

impl Default for HeaderNames {
    fn default() -> Self {
        HeaderNames {
            user: "Remote-User".into(),
            email: "Remote-Email".into(),
            email_verified: "Remote-Email-Verified".into(),
            name: "Remote-Name".into(),
            groups: "Remote-Groups".into(),
            permissions: "Remote-Permissions".into(),
            libraries: "Remote-Libraries".into(),
        }
    }
}

impl HeaderNames {
    pub fn all(&self) -> [&str; 7] {
        [
            &self.user,
            &self.email,
            &self.email_verified,
            &self.name,
            &self.groups,
            &self.permissions,
            &self.libraries,
        ]
    }
}

impl ServerConfig {
    /// What is wrong with the table, as (key, message), if anything.
    pub(crate) fn check(&self) -> Result<(), (String, String)> {
        if self.cookie_name.is_empty()
            || !self
                .cookie_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err((
                "server.cookie_name".into(),
                "a cookie name is letters, digits, '_' and '-'".into(),
            ));
        }
        if let Some(d) = &self.cookie_domain
            && (d.is_empty()
                || !d
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
                || d.starts_with('.'))
        {
            return Err((
                "server.cookie_domain".into(),
                format!(
                    "\"{d}\" is not a domain name; write it without a leading dot, e.g. \"example.org\""
                ),
            ));
        }
        if self.session_idle_minutes == 0 || self.session_max_hours == 0 {
            return Err((
                "server.session_idle_minutes".into(),
                "session lifetimes must be at least 1".into(),
            ));
        }
        for (i, name) in self.headers.all().iter().enumerate() {
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err((
                    "server.headers".into(),
                    format!(
                        "header name #{} \"{name}\" is not a valid header name",
                        i + 1
                    ),
                ));
            }
        }
        for o in &self.allowed_origins {
            let ok = (o.starts_with("https://") || o.starts_with("http://"))
                && !o.trim_end_matches('/').contains(['?', '#'])
                && o.split("://").nth(1).is_some_and(|rest| {
                    !rest.trim_end_matches('/').contains('/') && !rest.is_empty()
                });
            if !ok {
                return Err((
                    "server.allowed_origins".into(),
                    format!(
                        "\"{o}\" is not an origin (scheme://host[:port], e.g. https://app.example.com)"
                    ),
                ));
            }
        }
        Ok(())
    }
}
