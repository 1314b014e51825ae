//! The server's integration tests: one binary (each extra one is another slow link).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::field_reassign_with_default
)]

mod accessibility;
mod api;
mod browser;
mod console;
mod external;
mod flows;
mod guides;
mod hooks;
mod lifecycle;
mod migration;
mod nginx;
mod passwords;
mod provider;
mod proxies;
mod scim;
mod security;
mod support;
mod webhooks;
