//! Extension points, after Adobe LiveCycle's just-in-time provisioning SPI.
//!
//! * An [`IdentityCreator`] makes the account for a login nobody matched. Creators are
//!   consulted in order; the first that returns an account wins; one that returns
//!   `Ok(None)` passes to the next. ssogate's policy is the last, default creator.
//! * [`AssignmentProvider`]s then grant roles, groups, libraries and permissions. They
//!   all run, in order, on every login (`first_login` tells provisioning from sync);
//!   ssogate's policy runs first, so later providers see and may adjust its plan.
//!
//! Both see the directory only through [`DirectoryView`] and record what they did in the
//! trace, so custom logic is explained like the built-in one.

use crate::claims::Profile;
pub use crate::decision::NewAccount;
use crate::decision::RejectReason;
use crate::directory::{DirectoryView, ExistingUser};
use crate::domain::Grant;
use crate::grants::GrantPlan;
use crate::groups::GroupResolution;
use crate::trace::Trace;

/// What an identity creator may look at.
pub struct CreateContext<'a> {
    pub provider: &'a str,
    pub profile: &'a Profile<'a>,
    pub directory: &'a dyn DirectoryView,
}

/// Makes the account for an unmatched login (LiveCycle `IdentityCreator`).
pub trait IdentityCreator: Send + Sync {
    /// The name shown in traces and configuration.
    fn name(&self) -> &str;
    /// `Ok(Some)`: create this account. `Ok(None)`: not mine, ask the next creator.
    /// `Err`: refuse the login.
    fn create(
        &self,
        ctx: &CreateContext<'_>,
        trace: &mut Trace,
    ) -> Result<Option<NewAccount>, RejectReason>;
}

/// What an assignment provider may look at.
pub struct AssignContext<'a> {
    pub provider: &'a str,
    pub profile: &'a Profile<'a>,
    /// The account as it was before this login; `None` on first provisioning.
    pub existing: Option<&'a ExistingUser>,
    /// The username the account has (or will have).
    pub username: &'a str,
    pub first_login: bool,
    pub directory: &'a dyn DirectoryView,
    /// Grants from rules whose condition held for this login (and from hooks).
    pub rule_grants: &'a [Grant],
    /// Grants provisioning hooks take away for this login.
    pub revokes: &'a [Grant],
    /// What the groups claim resolved to.
    pub groups: &'a GroupResolution<'a>,
}

/// Why an assignment provider failed; the login is refused with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AssignmentError(pub String);

/// Grants roles, groups, libraries and permissions (LiveCycle `AssignmentProvider`).
pub trait AssignmentProvider: Send + Sync {
    fn name(&self) -> &str;
    fn assign(
        &self,
        ctx: &AssignContext<'_>,
        plan: &mut GrantPlan,
        trace: &mut Trace,
    ) -> Result<(), AssignmentError>;
}
