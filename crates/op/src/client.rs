//! A downstream application registered with ssogate (`[clients.<id>]`).

use serde::Serialize;
use std::fmt;

/// How a client proves itself at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// A confidential client with a secret: `client_secret_basic` or `client_secret_post`.
    Secret,
    /// A public client (a single-page or native app): no secret, PKCE required.
    None,
}

/// A client's secret: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    pub fn new(s: impl Into<String>) -> Self {
        ClientSecret(s.into())
    }
    /// Compares in constant time.
    pub fn matches(&self, given: &str) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(self.0.as_bytes(), given.as_bytes())
            .is_ok()
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Who may sign in to a client: anyone holding one of these (empty: everyone).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    pub groups: Vec<String>,
    pub permissions: Vec<String>,
    pub libraries: Vec<String>,
}

impl Access {
    pub fn is_open(&self) -> bool {
        self.groups.is_empty() && self.permissions.is_empty() && self.libraries.is_empty()
    }

    /// Whether a person with these grants may sign in.
    pub fn admits(&self, p: &crate::claims::Person) -> bool {
        let any = |want: &[String], have: &[String]| {
            want.iter()
                .any(|w| have.iter().any(|h| h.eq_ignore_ascii_case(w)))
        };
        self.is_open()
            || any(&self.groups, &p.groups)
            || any(&self.permissions, &p.permissions)
            || any(&self.libraries, &p.libraries)
    }
}

/// Which `sub` a client is given for an account (OpenID Connect Core 8).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Subject {
    /// The account's id, the same for every client.
    #[default]
    Public,
    /// A value of its own per sector (the host of its redirect URIs, or the configured
    /// sector identifier): clients of different sectors cannot tell they see one person.
    Pairwise { sector: String },
}

/// The pairwise `sub` of account `local` in `sector`: HMAC-SHA256 keyed with the
/// provider's salt over the sector and the account id, base64url — stable, and not to
/// be reversed or matched across sectors without the salt (OpenID Connect Core 8.1).
pub fn pairwise_sub(sector: &str, local: &str, salt: &[u8]) -> String {
    use base64::Engine as _;
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, salt);
    let mut ctx = aws_lc_rs::hmac::Context::with_key(&key);
    ctx.update(sector.as_bytes());
    ctx.update(b"\0");
    ctx.update(local.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(ctx.sign().as_ref())
}

/// One client, as configured.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub name: String,
    pub auth: ClientAuth,
    /// Present for [`ClientAuth::Secret`].
    pub secret: Option<ClientSecret>,
    /// Matched exactly, character for character.
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// Who may sign in to it.
    pub access: Access,
    /// Where ssogate tells the application that a session ended (Back-Channel Logout).
    pub backchannel_logout_uri: Option<String>,
    /// The scopes it may be given (`openid` always).
    pub scopes: Vec<String>,
    /// PKCE S256 on every authorization (always for public clients).
    pub require_pkce: bool,
    pub id_token_seconds: i64,
    pub access_token_seconds: i64,
    /// How long a refresh token lives (rotated at every use); 0: none are issued.
    pub refresh_token_seconds: i64,
    pub subject: Subject,
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.auth == ClientAuth::None
    }

    /// The `sub` this client is given for account `local`.
    pub fn sub(&self, local: &str, salt: &[u8]) -> String {
        match &self.subject {
            Subject::Public => local.to_owned(),
            Subject::Pairwise { sector } => pairwise_sub(sector, local, salt),
        }
    }
}
