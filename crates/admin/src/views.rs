//! How an account is shown to scripts — the REST API's `User` and the CLI's `--json`
//! print this one shape, so an id is a number everywhere.

use crate::UserDetail;
use serde::Serialize;
use ssogate_core::domain::GrantKind;
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct Grant {
    pub name: String,
    /// default, rule, provider, admin or import.
    pub source: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Identity {
    pub provider: String,
    pub subject: String,
    pub email: Option<String>,
    pub first_login_at: i64,
    pub last_login_at: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub display_name: Option<String>,
    pub status: String,
    pub source: String,
    pub admin: bool,
    pub has_password: bool,
    pub permissions: Vec<Grant>,
    pub libraries: Vec<Grant>,
    pub groups: Vec<Grant>,
    /// BookStack's "External Authentication ID", per provider.
    pub external_ids: BTreeMap<String, String>,
    pub identities: Vec<Identity>,
}

impl From<UserDetail> for User {
    fn from(d: UserDetail) -> User {
        let u = d.user;
        let of = |kind: GrantKind| {
            u.grants
                .iter()
                .filter(|g| g.kind == kind)
                .map(|g| Grant {
                    name: g.name.clone(),
                    source: g.source.as_str().to_owned(),
                })
                .collect::<Vec<_>>()
        };
        User {
            id: u.id.parse().unwrap_or_default(),
            admin: u.grants.iter().any(|g| g.kind == GrantKind::Admin),
            permissions: of(GrantKind::Permission),
            libraries: of(GrantKind::Library),
            groups: of(GrantKind::Group),
            username: u.username,
            email: u.email,
            email_verified: u.email_verified,
            display_name: u.display_name,
            status: u.status.as_str().to_owned(),
            source: u.source.as_str().to_owned(),
            has_password: u.has_password,
            external_ids: u.external_ids,
            identities: d
                .linked
                .into_iter()
                .map(|i| Identity {
                    provider: i.provider,
                    subject: i.subject,
                    email: i.email,
                    first_login_at: i.first_login_at,
                    last_login_at: i.last_login_at,
                })
                .collect(),
        }
    }
}
