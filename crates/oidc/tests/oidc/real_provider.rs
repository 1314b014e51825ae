//! Against the real oidc-provider (written next).
