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
    /// A JWT it signs with a private key whose public half it registered
    /// (`private_key_jwt`, OpenID Connect Core 9 and RFC 7523): no shared secret at all.
    PrivateKeyJwt,
}

/// A client's secret: never printed. A secret written in the configuration file is kept
/// as written; one ssogate made for a client registered in the directory is kept only as
/// its SHA-256 digest (it was shown once; ssogate made it with 256 bits of randomness, so
/// a fast digest is as good as a slow hash and keeps the token endpoint fast).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(Kept);

#[derive(Clone, PartialEq, Eq)]
enum Kept {
    Plain(String),
    Sha256([u8; 32]),
}

impl ClientSecret {
    pub fn new(s: impl Into<String>) -> Self {
        ClientSecret(Kept::Plain(s.into()))
    }

    /// A secret known only by its SHA-256 digest.
    pub fn from_sha256(digest: [u8; 32]) -> Self {
        ClientSecret(Kept::Sha256(digest))
    }

    /// The SHA-256 digest a secret is stored under.
    pub fn digest(secret: &str) -> [u8; 32] {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    }

    /// Compares in constant time.
    pub fn matches(&self, given: &str) -> bool {
        let eq =
            |a: &[u8], b: &[u8]| aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok();
        match &self.0 {
            Kept::Plain(s) => eq(s.as_bytes(), given.as_bytes()),
            Kept::Sha256(d) => eq(d, &Self::digest(given)),
        }
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
    pub fn admits(&self, p: &crate::person::Person) -> bool {
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

/// How a client wants its claims: some under other names, and only the groups,
/// permissions or libraries it cares about.
#[derive(Debug, Clone, Default)]
pub struct ClaimShape {
    /// Released claim → the name the application reads it under.
    pub names: std::collections::BTreeMap<String, String>,
    /// Kept only when the name matches (`groups`, `permissions`, `libraries`).
    pub groups: Option<regex::Regex>,
    pub permissions: Option<regex::Regex>,
    pub libraries: Option<regex::Regex>,
}

/// The claims a client may rename: what scopes release.
pub const RENAMEABLE: [&str; 8] = [
    "preferred_username",
    "name",
    "email",
    "email_verified",
    "groups",
    "permissions",
    "libraries",
    "admin",
];

impl ClaimShape {
    /// Keeps the values the client's filters let through.
    pub fn filter(&self, p: &mut crate::person::Person) {
        let keep = |re: &Option<regex::Regex>, v: &mut Vec<String>| {
            if let Some(re) = re {
                v.retain(|x| re.is_match(x));
            }
        };
        keep(&self.groups, &mut p.groups);
        keep(&self.permissions, &mut p.permissions);
        keep(&self.libraries, &mut p.libraries);
    }

    /// Moves released claims to the names the client reads them under.
    pub fn rename(&self, claims: &mut serde_json::Map<String, serde_json::Value>) {
        for (from, to) in &self.names {
            if let Some(v) = claims.remove(from) {
                claims.insert(to.clone(), v);
            }
        }
    }
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
    pub shape: ClaimShape,
    /// What signs its ID tokens, logout tokens and JWT access tokens.
    pub alg: crate::keys::Alg,
    /// The public keys it signs client assertions with (a JWKS document, as JSON), for
    /// [`ClientAuth::PrivateKeyJwt`].
    pub jwks: Option<String>,
    /// Where it publishes those keys instead (fetched, kept five minutes, fetched again
    /// when an assertion names a key not among them).
    pub jwks_uri: Option<String>,
    /// Access tokens as RFC 9068 JWTs (signed like its ID tokens; still kept as digests,
    /// so revocation and userinfo work as for opaque ones); opaque otherwise.
    pub jwt_access_tokens: bool,
    /// Its RP-initiated logout goes on to the upstream provider the person signed in
    /// with (that provider's end-session endpoint), then back to the application.
    pub logout_upstream: bool,
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

/// A client for the crate's tests: `secret` makes it confidential, none public; every
/// other setting at its default.
#[cfg(test)]
pub(crate) fn test_client(id: &str, redirect_uri: &str, secret: Option<&str>) -> Client {
    Client {
        id: id.into(),
        name: id.into(),
        auth: if secret.is_some() {
            ClientAuth::Secret
        } else {
            ClientAuth::None
        },
        secret: secret.map(ClientSecret::new),
        redirect_uris: vec![redirect_uri.into()],
        post_logout_redirect_uris: vec![],
        backchannel_logout_uri: None,
        access: Default::default(),
        scopes: vec!["openid".into()],
        require_pkce: true,
        id_token_seconds: 300,
        access_token_seconds: 600,
        refresh_token_seconds: 0,
        subject: Default::default(),
        shape: Default::default(),
        alg: crate::keys::Alg::RS256,
        jwks: None,
        jwks_uri: None,
        jwt_access_tokens: false,
        logout_upstream: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_filter_values_and_rename_claims() {
        let mut p = crate::person::Person {
            sub: "1".into(),
            username: "ada".into(),
            email: None,
            email_verified: false,
            name: None,
            groups: vec!["wiki-editors".into(), "payroll".into()],
            permissions: vec!["read".into()],
            libraries: vec![],
            admin: false,
        };
        let shape = ClaimShape {
            names: [("groups".to_owned(), "roles".to_owned())].into(),
            groups: Some(regex::Regex::new("^wiki-").unwrap()),
            ..Default::default()
        };
        shape.filter(&mut p);
        assert_eq!(p.groups, ["wiki-editors"]);
        assert_eq!(p.permissions, ["read"], "no filter, all kept");
        let mut c = crate::claims::released(&p, &["openid".into(), "groups".into()]);
        shape.rename(&mut c);
        assert_eq!(c.get("roles"), Some(&serde_json::json!(["wiki-editors"])));
        assert!(!c.contains_key("groups"));
    }

    #[test]
    fn a_stored_digest_matches_its_secret_only() {
        let s = ClientSecret::from_sha256(ClientSecret::digest("correct horse battery staple"));
        assert!(s.matches("correct horse battery staple"));
        assert!(!s.matches("correct horse battery stapl"));
        assert!(!s.matches(""));
        assert_eq!(format!("{s:?}"), "[redacted]");
    }

    #[test]
    fn pairwise_subjects_differ_by_sector_and_are_stable() {
        let a = pairwise_sub("wiki.example.org", "7", b"salt");
        assert_eq!(a, pairwise_sub("wiki.example.org", "7", b"salt"));
        assert_ne!(a, pairwise_sub("git.example.org", "7", b"salt"));
        assert_ne!(a, pairwise_sub("wiki.example.org", "8", b"salt"));
        assert_ne!(a, pairwise_sub("wiki.example.org", "7", b"pepper"));
        assert_eq!(a.len(), 43);
    }
}
