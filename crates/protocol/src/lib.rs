//! ssogate-protocol: the OpenID Connect vocabulary that configuration and the protocol
//! crates share — signature algorithms by name, client secrets that never print, and
//! what an operator sets about one provider's protocol side.
//!
//! Plain data with its parsing and checks. It must not know HTTP, cryptography or the
//! directory: configuration depends on it without pulling in an HTTP client.

pub mod algorithm;
pub mod settings;

pub use algorithm::Algorithm;
pub use settings::{ClientSecret, ProtocolSettings, ProviderSettings};
