//! Claim expressions and claim mapping.

pub mod expr;
pub mod map;

pub use expr::{ClaimExpr, ExprError};
pub use map::{ClaimSources, MapError, Origin, Profile};
