//! One account as the engine and the surfaces see it: the user row with its identities,
//! external ids and grants (every grant with its source).

use crate::StoreError;
use crate::error::corrupt;
use crate::sql::{Db, Row, args};
use ssogate_core::directory::ExistingUser;
use ssogate_core::domain::UserId;
use ssogate_core::domain::{
    ExternalIdentity, Grant, GrantKind, GrantSource, UserSource, UserStatus,
};

/// Loads one account with its identities, external ids and grants.
pub(crate) fn load_user(db: &mut dyn Db, id: UserId) -> Result<ExistingUser, StoreError> {
    let rows = db.query(
        "SELECT username, email, email_verified, display_name, avatar, quota, status, source,
                password_hash IS NOT NULL, is_admin, admin_source
         FROM users WHERE id = $1",
        args![id],
    )?;
    let r = rows
        .first()
        .ok_or_else(|| StoreError::Corrupt(format!("no account {id}")))?;
    let status = r.get(6)?.text()?;
    let source = r.get(7)?.text()?;
    let identities = db
        .query(
            "SELECT provider, issuer, subject FROM identities WHERE user_id = $1 ORDER BY id",
            args![id],
        )?
        .iter()
        .map(|r: &Row| {
            Ok(ExternalIdentity {
                provider: r.get(0)?.text()?,
                issuer: r.get(1)?.opt_text()?,
                subject: r.get(2)?.text()?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let external_ids = db
        .query(
            "SELECT provider, external_id FROM external_ids WHERE user_id = $1",
            args![id],
        )?
        .iter()
        .map(|r: &Row| Ok((r.get(0)?.text()?, r.get(1)?.text()?)))
        .collect::<Result<_, StoreError>>()?;
    let mut grants = Vec::new();
    for (kind, sql) in [
        (
            GrantKind::Permission,
            "SELECT permission, source FROM user_permissions WHERE user_id = $1",
        ),
        (
            GrantKind::Library,
            "SELECT library, source FROM user_libraries WHERE user_id = $1",
        ),
        (
            GrantKind::Group,
            "SELECT g.name, ug.source FROM user_groups ug JOIN groups g ON g.id = ug.group_id WHERE ug.user_id = $1",
        ),
    ] {
        for row in db.query(sql, args![id])? {
            let source = row.get(1)?.text()?;
            let source =
                GrantSource::parse(&source).ok_or_else(|| corrupt("grant source", &source))?;
            grants.push(Grant::new(kind, row.get(0)?.text()?, source));
        }
    }
    if r.get(9)?.bool()? {
        let source = match r.get(10)?.opt_text()? {
            Some(s) => GrantSource::parse(&s).ok_or_else(|| corrupt("admin source", &s))?,
            None => GrantSource::Admin,
        };
        grants.push(Grant::new(GrantKind::Admin, "admin", source));
    }
    Ok(ExistingUser {
        id,
        username: r.get(0)?.text()?,
        email: r.get(1)?.opt_text()?,
        email_verified: r.get(2)?.bool()?,
        display_name: r.get(3)?.opt_text()?,
        avatar: r.get(4)?.opt_text()?,
        quota: r.get(5)?.opt_text()?,
        status: UserStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        source: UserSource::parse(&source).ok_or_else(|| corrupt("source", &source))?,
        has_password: r.get(8)?.bool()?,
        identities,
        external_ids,
        grants,
    })
}
