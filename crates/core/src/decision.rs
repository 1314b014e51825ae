//! What the engine decides: the decision, its reasons, the changes it implies, and
//! the JSON contract of `provision --dry-run`.

use crate::claims::MapError;
use crate::domain::{ExternalIdentity, GrantKind, UserId, UserSource, UserStatus};
use crate::grants::GrantDiff;
use crate::policy::MatchBy;
use crate::trace::Trace;
use serde::Serialize;

/// Why a login is refused. Each has a stable code and a message a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    #[error(
        "The provider's claims could not be used: {0}. Ask the administrator to check the provider's configuration."
    )]
    InvalidClaims(MapError),
    #[error("{message}")]
    DeniedByRule { rule: String, message: String },
    #[error(
        "Sign-in is restricted to members of allowed groups, and you are in none of them. Ask an administrator for access."
    )]
    NotInAllowedGroup,
    #[error("This account is disabled. Contact an administrator if you think this is a mistake.")]
    AccountDisabled,
    #[error(
        "This account is awaiting approval by an administrator. Try again once it has been approved."
    )]
    AwaitingApproval,
    #[error(
        "Automatic account creation is disabled, and no account matches you. Ask an administrator to create your account first."
    )]
    AutoProvisioningDisabled,
    #[error(
        "New accounts cannot be created here; only existing accounts may sign in. Ask an administrator to create your account."
    )]
    AccountCreationDisabled,
    #[error(
        "An account matching your {matched_by} already exists and may not be taken over by this provider. Sign in to that account another way, or ask an administrator to link it."
    )]
    ExistingAccountNotAdoptable { matched_by: String },
    #[error(
        "An account with the email {email} already exists. Sign in to it and link this provider from your account page, or ask an administrator."
    )]
    EmailInUse { email: String },
    #[error(
        "The username \"{username}\" is already taken. Ask an administrator to resolve the conflict."
    )]
    UsernameConflict { username: String },
    #[error(
        "No username could be derived from your claims. Ask the administrator to check the username claim mapping."
    )]
    NoUsername,
    #[error("Your account could not be set up ({provider}: {message}). Ask an administrator.")]
    AssignmentFailed { provider: String, message: String },
    /// A provisioning hook refused the sign-in; its message is shown as written.
    #[error("{message}")]
    DeniedByHook { hook: String, message: String },
    #[error(
        "Your sign-in could not be checked right now (provisioning hook \"{hook}\": {message}). Try again in a few minutes; if it keeps failing, tell the administrator."
    )]
    HookFailed { hook: String, message: String },
}

impl RejectReason {
    /// Stable machine code (JSON `reason`, audit events, metrics labels).
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::InvalidClaims(_) => "invalid_claims",
            RejectReason::DeniedByRule { .. } => "denied_by_rule",
            RejectReason::NotInAllowedGroup => "not_in_allowed_group",
            RejectReason::AccountDisabled => "account_disabled",
            RejectReason::AwaitingApproval => "awaiting_approval",
            RejectReason::AutoProvisioningDisabled => "auto_provisioning_disabled",
            RejectReason::AccountCreationDisabled => "account_creation_disabled",
            RejectReason::ExistingAccountNotAdoptable { .. } => "existing_account_not_adoptable",
            RejectReason::EmailInUse { .. } => "email_in_use",
            RejectReason::UsernameConflict { .. } => "username_conflict",
            RejectReason::NoUsername => "no_username",
            RejectReason::AssignmentFailed { .. } => "assignment_failed",
            RejectReason::DeniedByHook { .. } => "denied_by_hook",
            RejectReason::HookFailed { .. } => "hook_failed",
        }
    }
}

/// The account an identity creator wants created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewAccount {
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub display_name: Option<String>,
    pub avatar: Option<String>,
    pub quota: Option<String>,
    pub status: UserStatus,
    pub source: UserSource,
}

/// What happens to the login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A known identity signs in to its account.
    SignIn {
        user_id: UserId,
    },
    /// An existing account is adopted: this identity is linked to it.
    Link {
        user_id: UserId,
        matched_by: MatchBy,
    },
    /// A new account is created.
    Provision {
        account: NewAccount,
    },
    Reject(RejectReason),
}

impl Decision {
    pub fn code(&self) -> &'static str {
        match self {
            Decision::SignIn { .. } => "sign_in",
            Decision::Link { .. } => "link",
            Decision::Provision { .. } => "provision",
            Decision::Reject(_) => "reject",
        }
    }
}

/// A change to the identity record the directory must make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum IdentityChange {
    /// Record (provider, issuer, subject) for the account.
    Create(ExternalIdentity),
    /// Re-key the account's identity at this provider (issuer alias, or the external id
    /// claim matched while the subject changed).
    Rebind {
        previous: ExternalIdentity,
        current: ExternalIdentity,
    },
}

/// An account attribute the claims keep in sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Attribute {
    Email,
    EmailVerified,
    DisplayName,
    Avatar,
    Quota,
}

impl std::fmt::Display for Attribute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Attribute::Email => "email",
            Attribute::EmailVerified => "email_verified",
            Attribute::DisplayName => "display_name",
            Attribute::Avatar => "avatar",
            Attribute::Quota => "quota",
        })
    }
}

/// One attribute refreshed from the claims (`email_verified` as `"true"`/`"false"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttributeChange {
    pub field: Attribute,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// The attributes of an account, borrowed for writing, so every holder of an account
/// (the engine's view, the in-memory directory) applies changes the same way.
pub struct AttributesMut<'a> {
    pub email: &'a mut Option<String>,
    pub email_verified: &'a mut bool,
    pub display_name: &'a mut Option<String>,
    pub avatar: &'a mut Option<String>,
    pub quota: &'a mut Option<String>,
}

impl AttributeChange {
    pub fn apply(&self, to: &mut AttributesMut<'_>) {
        match self.field {
            Attribute::Email => *to.email = self.to.clone(),
            Attribute::EmailVerified => *to.email_verified = self.to.as_deref() == Some("true"),
            Attribute::DisplayName => *to.display_name = self.to.clone(),
            Attribute::Avatar => *to.avatar = self.to.clone(),
            Attribute::Quota => *to.quota = self.to.clone(),
        }
    }
}

/// Everything the directory must write, beyond the decision itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    pub identity: Option<IdentityChange>,
    /// The account's external authentication id at this provider becomes this value
    /// (the `external_id` claim, BookStack's `OIDC_EXTERNAL_ID_CLAIM`), so a later change
    /// of `sub` still finds the account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub attributes: Vec<AttributeChange>,
    pub create_groups: Vec<String>,
    #[serde(flatten)]
    pub grants: GrantDiff,
}

/// The account as it stands after the decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UserView {
    pub id: Option<UserId>,
    pub username: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    pub display_name: Option<String>,
    pub avatar: Option<String>,
    pub quota: Option<String>,
    pub is_admin: bool,
    pub status: Option<UserStatus>,
    pub source: Option<UserSource>,
}

/// A decision, what it implies, and why.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub decision: Decision,
    /// Whether a session may be opened now (false for rejections and pending accounts).
    pub allow_session: bool,
    pub user: UserView,
    pub changes: Changes,
    pub trace: Trace,
}

/// The `provision --dry-run --json` contract.
#[derive(Serialize)]
struct OutcomeJson<'a> {
    decision: &'static str,
    reason: Option<&'static str>,
    message: Option<String>,
    allow_session: bool,
    matched_by: Option<MatchBy>,
    user: &'a UserView,
    permissions: Vec<&'a str>,
    libraries: Vec<&'a str>,
    groups: Vec<&'a str>,
    changes: &'a Changes,
    trace: Vec<String>,
}

impl Outcome {
    pub fn reason(&self) -> Option<&RejectReason> {
        match &self.decision {
            Decision::Reject(r) => Some(r),
            _ => None,
        }
    }

    /// Final grant names of one kind, sorted.
    pub fn names(&self, kind: GrantKind) -> Vec<&str> {
        self.changes
            .grants
            .grants()
            .filter(|g| g.kind == kind)
            .map(|g| g.name.as_str())
            .collect()
    }

    pub fn to_json(&self) -> serde_json::Value {
        let pending = self.user.status == Some(UserStatus::Pending)
            && !matches!(self.decision, Decision::Reject(_));
        let view = OutcomeJson {
            decision: self.decision.code(),
            reason: self
                .reason()
                .map(RejectReason::code)
                .or(pending.then_some("awaiting_approval")),
            message: self
                .reason()
                .map(ToString::to_string)
                .or_else(|| pending.then(|| RejectReason::AwaitingApproval.to_string())),
            allow_session: self.allow_session,
            matched_by: match &self.decision {
                Decision::SignIn { .. } => Some(MatchBy::Subject),
                Decision::Link { matched_by, .. } => Some(*matched_by),
                _ => None,
            },
            user: &self.user,
            permissions: self.names(GrantKind::Permission),
            libraries: self.names(GrantKind::Library),
            groups: self.names(GrantKind::Group),
            changes: &self.changes,
            trace: self.trace.to_strings(),
        };
        serde_json::to_value(view).unwrap_or(serde_json::Value::Null)
    }
}
