//! Provisioning policy: every setting of DESIGN.md's policy table, with safe defaults.
//!
//! These types deserialize straight from the `[provisioning]` and `[providers.*]`
//! tables of the config file; unknown keys are errors.

use crate::claims::ClaimExpr;
use serde::{Deserialize, Serialize};

/// Where saved provisioning settings apply: everywhere, or one provider's sign-ins.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Global,
    Provider(String),
}

impl Scope {
    /// How the scope is stored and sent between instances: `global`, `provider:<slug>`.
    pub fn key(&self) -> String {
        match self {
            Scope::Global => "global".to_owned(),
            Scope::Provider(slug) => format!("provider:{slug}"),
        }
    }

    /// The scope a stored key names; `None` for anything else.
    pub fn parse(key: &str) -> Option<Scope> {
        match key.strip_prefix("provider:") {
            Some(slug) if !slug.is_empty() => Some(Scope::Provider(slug.to_owned())),
            Some(_) => None,
            None => (key == "global").then_some(Scope::Global),
        }
    }

    /// `global`, or the provider's slug (as the console and CLI name a scope).
    pub fn name(&self) -> &str {
        match self {
            Scope::Global => "global",
            Scope::Provider(slug) => slug,
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.key())
    }
}

/// How a login is matched to an existing account, after (provider, subject).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchBy {
    /// (provider, subject) — or an issuer alias. Always tried first.
    Subject,
    /// BookStack's `OIDC_EXTERNAL_ID_CLAIM` against the account's External Authentication ID.
    ExternalIdClaim,
    /// A verified email equal to an account's verified email (needs `link_by_email`).
    VerifiedEmail,
    /// A username equal to an account that has no linked identity yet (Booklore).
    Username,
}

/// Which email addresses a provider is trusted to have verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TrustEmail {
    /// Verified only when `email_verified` is true in the document that carried the email.
    #[default]
    VerifiedClaim,
    /// The provider only ever releases verified addresses (a corporate directory).
    Always,
    /// Never treat this provider's emails as verified.
    Never,
}

/// What to do when the derived username is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Collision {
    /// `ada`, then `ada-2`, `ada-3`… (the lowest free number).
    #[default]
    Suffix,
    /// Refuse the login with "username conflict".
    Reject,
    /// `ada-` + the first 8 hex digits of SHA-256(provider, 0x00, subject).
    Hash,
}

/// Where a username comes from when the username claim is absent or sanitises to nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UsernameFallback {
    /// The part of the email before `@` (Tududi).
    #[default]
    EmailPrefix,
    /// The subject, sanitised.
    Subject,
    /// No fallback: refuse the login.
    None,
}

/// A new account's email equal to an existing account's email.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EmailConflict {
    /// Refuse, and tell the person to sign in to that account and link the provider.
    #[default]
    Reject,
    /// Create a second account with the same email.
    Allow,
}

/// How usernames are derived and kept valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UsernamePolicy {
    /// Where a new account's username comes from first.
    pub source: UsernameSource,
    pub fallback: UsernameFallback,
    pub collision: Collision,
    /// In characters.
    pub max_length: usize,
    pub lowercase: bool,
    /// Transliterate to ASCII (`José` → `jose`); otherwise Unicode letters are kept.
    pub ascii_only: bool,
    /// Keep `@` in usernames (Booklore's usernames are often email addresses); with
    /// `lowercase = false` their capitals stay too.
    pub allow_at_sign: bool,
}

/// How Nextcloud's user_oidc made its user ids, to make the same ones (its
/// `LocalIdService` and `UserMapper::getOrCreate`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NextcloudIds {
    /// The provider's number in Nextcloud (`occ user_oidc:provider` lists it).
    pub provider_id: u32,
    #[serde(default)]
    pub mode: NextcloudIdMode,
    /// For `provider_based`: Nextcloud's identifier of the provider (default: the slug).
    #[serde(default)]
    pub provider_identifier: Option<String>,
}

/// user_oidc's three id schemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NextcloudIdMode {
    /// "Use unique user id" (user_oidc's default): SHA-256 of `{provider_id}_0_{sub}`.
    #[default]
    Unique,
    /// "Use provider identifier as prefix": `{identifier}-{sub}`.
    ProviderBased,
    /// The subject as it is.
    Plain,
}

/// Where a new account's username comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UsernameSource {
    /// The username claim (`claims.username`), then the fallback.
    #[default]
    Claim,
    /// The part of the email before `@`, always (Tududi's rule), then the fallback.
    EmailPrefix,
}

impl Default for UsernamePolicy {
    fn default() -> Self {
        UsernamePolicy {
            source: UsernameSource::Claim,
            fallback: UsernameFallback::EmailPrefix,
            collision: Collision::Suffix,
            max_length: 64,
            lowercase: true,
            ascii_only: true,
            allow_at_sign: false,
        }
    }
}

/// Group (role) sync from a groups claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GroupSyncPolicy {
    /// BookStack `OIDC_USER_TO_GROUPS`.
    pub enabled: bool,
    /// Nextcloud: create groups that do not exist yet.
    pub create_missing: bool,
    /// Nextcloud whitelist: only claim groups matching this regex are considered;
    /// memberships of groups not matching it are left untouched.
    pub allow_regex: Option<String>,
    /// Nextcloud: refuse login to people in no allowed group.
    pub restrict_login_to_allowed: bool,
    /// BookStack `OIDC_REMOVE_FROM_GROUPS`: drop provider-given memberships the claim no
    /// longer lists. Default groups count as matched.
    pub remove_unmatched: bool,
    /// Keep memberships that came from defaults or imports when `remove_unmatched` is on.
    /// Memberships an administrator gave are never removed by a login.
    pub preserve_manual: bool,
    /// Split a string groups claim on this separator; by default a string is one group.
    pub separator: Option<String>,
    /// A claim with more groups than this is not synced (and the trace says why).
    pub max_groups: usize,
}

impl Default for GroupSyncPolicy {
    fn default() -> Self {
        GroupSyncPolicy {
            enabled: false,
            create_missing: false,
            allow_regex: None,
            restrict_login_to_allowed: false,
            remove_unmatched: false,
            preserve_manual: true,
            separator: None,
            max_groups: 500,
        }
    }
}

/// Which attributes are refreshed from claims at every login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttributeSync {
    pub email: bool,
    pub display_name: bool,
    pub avatar: bool,
    pub quota: bool,
}

impl Default for AttributeSync {
    fn default() -> Self {
        AttributeSync {
            email: true,
            display_name: true,
            avatar: true,
            quota: true,
        }
    }
}

/// A rule: when the CEL condition holds, grant things or deny the login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub name: String,
    /// A CEL expression over `claims`, `groups`, `email`, `email_verified`, `username`,
    /// `provider`; it must evaluate to a boolean.
    pub when: String,
    #[serde(default)]
    pub grant_permissions: Vec<String>,
    #[serde(default)]
    pub grant_libraries: Vec<String>,
    #[serde(default)]
    pub grant_groups: Vec<String>,
    #[serde(default)]
    pub grant_admin: bool,
    /// Deny the login when the condition holds (or cannot be evaluated).
    #[serde(default)]
    pub deny: bool,
    /// Shown to the person when a deny rule refuses them.
    #[serde(default)]
    pub message: Option<String>,
}

/// The provisioning policy of one provider (global defaults merged with its overrides).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProvisioningPolicy {
    pub auto_provision: bool,
    /// With `auto_provision` off a sign-in only authenticates (Booklore, Nextcloud): no
    /// attribute and no grant changes. This keeps both in sync on every sign-in anyway.
    pub sync_without_provisioning: bool,
    pub soft_auto_provision: bool,
    pub disable_account_creation: bool,
    pub match_by: Vec<MatchBy>,
    pub link_by_email: bool,
    pub unique_user_ids: bool,
    /// Nextcloud user_oidc's user ids, so accounts keep their ids when moving from it.
    pub nextcloud_user_ids: Option<NextcloudIds>,
    pub require_approval: bool,
    pub email_conflict: EmailConflict,
    pub default_permissions: Vec<String>,
    pub default_libraries: Vec<String>,
    pub default_groups: Vec<String>,
    pub admin_email_domains: Vec<String>,
    /// Let `admin_email_domains = ["example.com"]` also match `sub.example.com`.
    pub admin_email_subdomains: bool,
    pub username: UsernamePolicy,
    pub groups: GroupSyncPolicy,
    pub sync_attributes: AttributeSync,
    pub rules: Vec<RuleSpec>,
    /// Provisioning hooks asked, in this order, about every sign-in (names of the
    /// `[hooks.<name>]` tables).
    pub hooks: Vec<String>,
}

impl Default for ProvisioningPolicy {
    fn default() -> Self {
        ProvisioningPolicy {
            auto_provision: true,
            sync_without_provisioning: false,
            soft_auto_provision: true,
            disable_account_creation: false,
            // Adopting accounts by email or username is opt-in: a username is often
            // chosen by the person at the provider, and a takeover is the cost of a
            // wrong default.
            match_by: vec![MatchBy::Subject, MatchBy::ExternalIdClaim],
            link_by_email: false,
            unique_user_ids: false,
            nextcloud_user_ids: None,
            require_approval: false,
            email_conflict: EmailConflict::Reject,
            default_permissions: Vec::new(),
            default_libraries: Vec::new(),
            default_groups: Vec::new(),
            admin_email_domains: Vec::new(),
            admin_email_subdomains: false,
            username: UsernamePolicy::default(),
            groups: GroupSyncPolicy::default(),
            sync_attributes: AttributeSync::default(),
            rules: Vec::new(),
            hooks: Vec::new(),
        }
    }
}

/// Where each profile attribute is read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClaimMap {
    pub username: ClaimExpr,
    pub email: ClaimExpr,
    /// Read from the same document as `email`.
    pub email_verified: ClaimExpr,
    pub display_name: ClaimExpr,
    pub avatar: Option<ClaimExpr>,
    pub quota: Option<ClaimExpr>,
    pub groups: Option<ClaimExpr>,
    /// BookStack's `OIDC_EXTERNAL_ID_CLAIM`.
    pub external_id: Option<ClaimExpr>,
}

impl ClaimMap {
    /// The top-level claims the map reads first (username, email, display name, groups,
    /// external id): when one is absent from the ID token, userinfo may fill it in.
    pub fn primary_claims(&self) -> Vec<String> {
        use crate::claims::expr::Segment;
        let mut out: Vec<String> = Vec::new();
        let exprs = [
            Some(&self.username),
            Some(&self.email),
            Some(&self.display_name),
            self.groups.as_ref(),
            self.external_id.as_ref(),
        ];
        for expr in exprs.into_iter().flatten() {
            let first = expr
                .alternatives()
                .first()
                .and_then(|alt| alt.first())
                .and_then(|path| path.0.first());
            if let Some(Segment::Key(k)) = first
                && !out.contains(k)
            {
                out.push(k.clone());
            }
        }
        out
    }
}

impl Default for ClaimMap {
    fn default() -> Self {
        let parse = |s: &str| ClaimExpr::parse(s).unwrap_or_else(|_| ClaimExpr::claim(s));
        ClaimMap {
            username: ClaimExpr::claim("preferred_username"),
            email: ClaimExpr::claim("email"),
            email_verified: ClaimExpr::claim("email_verified"),
            display_name: parse("name | given_name + family_name | preferred_username"),
            avatar: Some(ClaimExpr::claim("picture")),
            quota: Some(ClaimExpr::claim("quota")),
            groups: Some(ClaimExpr::claim("groups")),
            external_id: None,
        }
    }
}

/// What the engine needs to know about the provider a login came through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderPolicy {
    pub slug: String,
    pub issuer: String,
    /// Earlier issuers whose identities still sign in (an IdP domain move).
    pub issuer_aliases: Vec<String>,
    pub trust_email: TrustEmail,
    pub claims: ClaimMap,
}

impl ProviderPolicy {
    pub fn new(slug: impl Into<String>, issuer: impl Into<String>) -> Self {
        ProviderPolicy {
            slug: slug.into(),
            issuer: issuer.into(),
            issuer_aliases: Vec::new(),
            trust_email: TrustEmail::VerifiedClaim,
            claims: ClaimMap::default(),
        }
    }
}
