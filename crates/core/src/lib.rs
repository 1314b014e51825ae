//! ssogate-core: the pure heart of ssogate.
//!
//! Owns the domain (users, identities, permissions, libraries, groups, grants with
//! provenance), claim expressions and claim mapping, the provisioning policy, the
//! engine that turns a provider's claims into a [`Decision`] with a trace, and
//! the LiveCycle-style extension traits ([`spi`]).
//!
//! It must not know about HTTP, SQL, files, clocks or async runtimes: everything it
//! needs from the outside arrives as arguments (claims as JSON values, the directory as
//! a [`directory::DirectoryView`]), and everything it decides leaves as values.

pub mod claims;
pub mod dates;
pub mod decision;
pub mod directory;
pub mod domain;
pub mod engine;
pub mod events;
pub mod grants;
pub mod groups;
pub mod hooks;
pub mod lifecycle;
pub mod memory;
pub mod names;
pub mod password;
pub mod policy;
pub mod rules;
pub mod spi;
pub mod trace;
pub mod username;

pub use claims::{ClaimExpr, ClaimSources, Profile};
pub use decision::{Decision, Outcome, RejectReason};
pub use directory::{DirectoryView, ExistingUser};
pub use engine::{Engine, PolicyError};
pub use memory::InMemoryDirectory;
pub use policy::{ClaimMap, MatchBy, ProviderPolicy, ProvisioningPolicy, TrustEmail};
