//! How accounts are shown to scripts — the REST API and the CLI's `--json` print these
//! same shapes (`User`, `UserList`), so an id is a number everywhere.

use crate::UserDetail;
use serde::Serialize;
use ssogate_core::domain::{GrantKind, UserId};
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
    #[schema(value_type = i64)]
    pub id: UserId,
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
            id: u.id,
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

/// One account in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserSummary {
    #[schema(value_type = i64)]
    pub id: UserId,
    pub username: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    /// active, disabled or pending.
    pub status: String,
    /// local, provider or api.
    pub source: String,
    pub admin: bool,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
}

/// A page of accounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserSummary>,
    /// Pass as `after` for the next page; absent on the last.
    pub next: Option<String>,
    /// How many accounts match the filters, over all pages.
    pub total: i64,
}

impl From<ssogate_store::query::UserPage> for UserList {
    fn from(page: ssogate_store::query::UserPage) -> UserList {
        UserList {
            users: page
                .users
                .into_iter()
                .map(|u| UserSummary {
                    id: u.id,
                    username: u.username,
                    email: u.email,
                    display_name: u.display_name,
                    status: u.status.as_str().to_owned(),
                    source: u.source.as_str().to_owned(),
                    admin: u.is_admin,
                    created_at: u.created_at,
                    last_login_at: u.last_login_at,
                })
                .collect(),
            next: page.next,
            total: page.total,
        }
    }
}
