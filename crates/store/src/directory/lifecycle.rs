//! Lifecycle: the facts the rules read about every account, and the lease that lets one
//! instance at a time apply them.

use super::Backend;
use crate::StoreError;
use crate::sql::args;
use ssogate_core::domain::{UserId, UserStatus};
use ssogate_core::lifecycle::Account;

pub trait LifecycleStore {
    /// Every account as the lifecycle rules see it.
    fn lifecycle_accounts(&self) -> Result<Vec<Account>, StoreError>;
    /// Takes the lease to run the rules now, if it is free (then holds it for
    /// `every` seconds): exactly one caller wins, across instances.
    fn claim_lifecycle_run(&self, now: i64, every: i64) -> Result<bool, StoreError>;
}

impl<B: Backend> LifecycleStore for B {
    fn lifecycle_accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.read(|db| {
            let rows = db.query(
                "SELECT u.id, u.username, u.status, u.is_admin, u.password_hash IS NOT NULL,
                        coalesce(u.last_login_at, u.created_at),
                        coalesce(u.disabled_at, CASE WHEN u.status = 'disabled' THEN u.updated_at END),
                        (SELECT i.provider FROM identities i WHERE i.user_id = u.id
                          ORDER BY i.last_login_at DESC LIMIT 1)
                 FROM users u ORDER BY u.id",
                &[],
            )?;
            let groups = db.query(
                "SELECT ug.user_id, g.name FROM user_groups ug JOIN groups g ON g.id = ug.group_id",
                &[],
            )?;
            let mut by_user: std::collections::HashMap<i64, Vec<String>> = Default::default();
            for r in &groups {
                by_user.entry(r.get(0)?.int()?).or_default().push(r.get(1)?.text()?);
            }
            rows.iter()
                .map(|r| {
                    let id = r.get(0)?.int()?;
                    Ok(Account {
                        id: UserId(id),
                        username: r.get(1)?.text()?,
                        status: UserStatus::parse(&r.get(2)?.text()?).unwrap_or(UserStatus::Active),
                        is_admin: r.get(3)?.bool()?,
                        has_password: r.get(4)?.bool()?,
                        last_active: r.get(5)?.int()?,
                        disabled_since: match r.get(6)? {
                            crate::sql::Cell::Null => None,
                            c => Some(c.int()?),
                        },
                        provider: r.get(7)?.opt_text()?,
                        groups: by_user.remove(&id).unwrap_or_default(),
                    })
                })
                .collect()
        })
    }
    fn claim_lifecycle_run(&self, now: i64, every: i64) -> Result<bool, StoreError> {
        self.write(move |db, _| {
            Ok(db.exec(
                "UPDATE lifecycle_lease SET next_at = $2 WHERE id = 1 AND next_at <= $1",
                args![now, now + every],
            )? > 0)
        })
    }
}
