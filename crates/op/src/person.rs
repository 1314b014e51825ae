//! The signed-in person as the provider hands them to the protocol: what a client may
//! be told of them ([`crate::claims`]) and whom it admits ([`crate::client`]).

/// The signed-in person as ssogate knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Stable for the account, whatever it is renamed to.
    pub sub: String,
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub groups: Vec<String>,
    pub permissions: Vec<String>,
    pub libraries: Vec<String>,
    pub admin: bool,
}
