//! Calendar dates in UTC: the core's, shared by every surface.

pub use ssogate_core::dates::*;
