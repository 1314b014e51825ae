//! SCIM inbound, the directory's half: the accounts and groups a provider's SCIM client
//! sees and changes, bound to the identities that provider's sign-ins use.
//!
//! A SCIM client sees the accounts it made and those signing in through its provider;
//! no one else's. Its `externalId` is the account's identity at the provider (the
//! subject its sign-ins carry), or — when the provider's sign-ins are matched by an
//! external id claim — that external id: a pushed account and a later sign-in are one
//! account. Group membership it pushes is its own grant source (`scim`): it removes only
//! that, and what an administrator or a sign-in gave stays.
//!
//! Over ~600 lines on purpose: users and groups share the binding rules above (which
//! identity a pushed `externalId` is, whom a client may see); kept in one file so the
//! two resource types cannot drift apart.

use super::Backend;
use super::webhooks;
use crate::StoreError;
use crate::sql::{Db, args};
use serde_json::json;
use ssogate_core::domain::{UserId, UserStatus};
use ssogate_core::events::EventType;

/// Where a SCIM `externalId` binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bind {
    /// The identity's subject at the provider (its sign-ins' `sub`).
    Subject,
    /// The account's external id at the provider (its sign-ins' external id claim).
    ExternalId,
}

/// What a SCIM client looks a resource up by before creating or linking it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimKey<'a> {
    /// A user's `userName` or a group's `displayName`, in any case.
    Name(&'a str),
    /// Its `externalId`.
    ExternalId(&'a str),
}

/// An account as SCIM shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimUser {
    pub id: UserId,
    pub username: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub status: UserStatus,
    pub external_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// (id, name) of every group the account is in.
    pub groups: Vec<(i64, String)>,
}

/// What a SCIM client says an account is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimUserInput {
    pub username: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub active: bool,
    /// The client's id for the account. A new one binds the account at the provider
    /// (moving the binding SCIM made); `None` forgets it, and keeps the binding (the
    /// account still signs in).
    pub external_id: Option<String>,
}

/// A group as SCIM shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimGroup {
    pub id: i64,
    pub name: String,
    pub external_id: Option<String>,
    /// The accounts this provider's SCIM client put in it, by id.
    pub members: Vec<UserId>,
}

/// Why a SCIM write was refused (the server answers 400, 404 or 409).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScimRefusal {
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("no such resource")]
    NotFound,
}

type Refusable<T> = Result<Result<T, ScimRefusal>, StoreError>;

const VISIBLE: &str = "(u.scim_provider = $1
     OR EXISTS (SELECT 1 FROM identities i WHERE i.user_id = u.id AND i.provider = $1)
     OR EXISTS (SELECT 1 FROM external_ids e WHERE e.user_id = u.id AND e.provider = $1))";

/// The accounts with ids from `lo` to `hi` this provider's SCIM client sees (one
/// account: its id twice; all: the whole range), with their groups: index ranges.
fn load_users(
    db: &mut dyn Db,
    provider: &str,
    (lo, hi): (i64, i64),
) -> Result<Vec<ScimUser>, StoreError> {
    let rows = db.query(
        &format!(
            "SELECT u.id, u.username, u.display_name, u.email, u.status, u.created_at, u.updated_at,
                    u.scim_external_id
             FROM users u WHERE u.id BETWEEN $2 AND $3 AND {VISIBLE} ORDER BY u.id"
        ),
        args![provider, lo, hi],
    )?;
    let groups = db.query(
        &format!(
            "SELECT ug.user_id, g.id, g.name FROM user_groups ug JOIN groups g ON g.id = ug.group_id
             JOIN users u ON u.id = ug.user_id
             WHERE u.id BETWEEN $2 AND $3 AND {VISIBLE} ORDER BY g.name"
        ),
        args![provider, lo, hi],
    )?;
    let mut by_user: std::collections::HashMap<i64, Vec<(i64, String)>> = Default::default();
    for r in &groups {
        by_user
            .entry(r.get(0)?.int()?)
            .or_default()
            .push((r.get(1)?.int()?, r.get(2)?.text()?));
    }
    rows.iter()
        .map(|r| {
            let id = r.get(0)?.int()?;
            Ok(ScimUser {
                id: UserId(id),
                username: r.get(1)?.text()?,
                display_name: r.get(2)?.opt_text()?,
                email: r.get(3)?.opt_text()?,
                status: UserStatus::parse(&r.get(4)?.text()?).unwrap_or(UserStatus::Active),
                created_at: r.get(5)?.int()?,
                updated_at: r.get(6)?.int()?,
                external_id: r.get(7)?.opt_text()?,
                groups: by_user.remove(&id).unwrap_or_default(),
            })
        })
        .collect()
}

fn username_taken(
    db: &mut dyn Db,
    username: &str,
    other_than: Option<UserId>,
) -> Result<bool, StoreError> {
    Ok(db
        .query_int(
            "SELECT id FROM users WHERE lower(username) = lower($1) AND id <> $2",
            args![username, other_than.map_or(-1, |u| u.0)],
        )?
        .is_some())
}

fn binding(how: Bind) -> (&'static str, &'static str) {
    match how {
        Bind::Subject => ("identities", "subject"),
        Bind::ExternalId => ("external_ids", "external_id"),
    }
}

/// The refusal when another account than `user` holds `external` at `provider`.
fn bound_elsewhere(
    db: &mut dyn Db,
    provider: &str,
    how: Bind,
    user: Option<UserId>,
    external: &str,
) -> Result<Option<ScimRefusal>, StoreError> {
    let (table, column) = binding(how);
    let holder = db.query_int(
        &format!("SELECT user_id FROM {table} WHERE provider = $1 AND {column} = $2"),
        args![provider, external],
    )?;
    Ok(match holder {
        Some(u) if Some(UserId(u)) != user => Some(ScimRefusal::Conflict(format!(
            "externalId \"{external}\" belongs to another account at provider \"{provider}\""
        ))),
        _ => None,
    })
}

/// Binds `external` to the account at `provider` (checked by [`bound_elsewhere`]): moves
/// the binding SCIM made before (`previous`), or makes one when the account has none
/// there. A binding a sign-in made is never moved: the account keeps signing in.
fn bind(
    db: &mut dyn Db,
    provider: &str,
    how: Bind,
    user: UserId,
    external: &str,
    previous: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    let (table, column) = binding(how);
    let moved = match previous {
        Some(old) => db.exec(
            &format!("UPDATE {table} SET {column} = $3 WHERE user_id = $1 AND provider = $2 AND {column} = $4"),
            args![user, provider, external, old],
        )?,
        None => 0,
    };
    let bound = db
        .query_int(
            &format!("SELECT user_id FROM {table} WHERE user_id = $1 AND provider = $2"),
            args![user, provider],
        )?
        .is_some();
    if moved == 0 && !bound {
        match how {
            Bind::Subject => db.exec(
                "INSERT INTO identities (user_id, provider, subject, first_login_at, last_login_at)
                 VALUES ($1, $2, $3, $4, $4)",
                args![user, provider, external, now],
            )?,
            Bind::ExternalId => db.exec(
                "INSERT INTO external_ids (user_id, provider, external_id) VALUES ($1, $2, $3)",
                args![user, provider, external],
            )?,
        };
    }
    Ok(())
}

/// The groups with ids from `lo` to `hi` (one group: its id twice), with the members
/// this provider's SCIM client put in them: index ranges, never a scan of every
/// membership for one group.
fn load_groups(
    db: &mut dyn Db,
    provider: &str,
    (lo, hi): (i64, i64),
) -> Result<Vec<ScimGroup>, StoreError> {
    let rows = db.query(
        "SELECT id, name, scim_external_id FROM groups WHERE id BETWEEN $1 AND $2 ORDER BY id",
        args![lo, hi],
    )?;
    let members = db.query(
        &format!(
            "SELECT ug.group_id, ug.user_id FROM user_groups ug JOIN users u ON u.id = ug.user_id
             WHERE ug.group_id BETWEEN $2 AND $3 AND ug.source = 'scim' AND {VISIBLE}
             ORDER BY ug.user_id"
        ),
        args![provider, lo, hi],
    )?;
    let mut by_group: std::collections::HashMap<i64, Vec<UserId>> = Default::default();
    for r in &members {
        by_group
            .entry(r.get(0)?.int()?)
            .or_default()
            .push(UserId(r.get(1)?.int()?));
    }
    rows.iter()
        .map(|r| {
            let id = r.get(0)?.int()?;
            Ok(ScimGroup {
                id,
                name: r.get(1)?.text()?,
                external_id: r.get(2)?.opt_text()?,
                members: by_group.remove(&id).unwrap_or_default(),
            })
        })
        .collect()
}

/// A page by id: how many of `rows` (`<table> u WHERE …`, with the provider as `$1`)
/// there are, and what `load` reads for the span of ids from the `skip`-th on, `count`
/// of them — consecutive in id order, so one range read.
fn page_by_id<T>(
    db: &mut dyn Db,
    rows: &str,
    provider: &str,
    (skip, count): (usize, usize),
    load: impl FnOnce(&mut dyn Db, (i64, i64)) -> Result<Vec<T>, StoreError>,
) -> Result<(usize, Vec<T>), StoreError> {
    let int = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let total = db
        .query_int(&format!("SELECT count(*) FROM {rows}"), args![provider])?
        .unwrap_or(0);
    let ids = db.query(
        &format!("SELECT u.id FROM {rows} ORDER BY u.id LIMIT $2 OFFSET $3"),
        args![provider, int(count), int(skip)],
    )?;
    let page = match (ids.first(), ids.last()) {
        (Some(a), Some(b)) => load(db, (a.get(0)?.int()?, b.get(0)?.int()?))?,
        _ => Vec::new(),
    };
    Ok((usize::try_from(total).unwrap_or(0), page))
}

/// Refuses members the provider's SCIM client cannot see. Only the ones joining `group`
/// are looked at (a PATCH adding one member to a large group checks one), each by its
/// key; a long list of newcomers is checked against one read of who is visible.
fn check_members(
    db: &mut dyn Db,
    provider: &str,
    group: Option<i64>,
    want: &[UserId],
) -> Result<Option<ScimRefusal>, StoreError> {
    let have: Vec<UserId> = match group {
        Some(g) => load_groups(db, provider, (g, g))?
            .pop()
            .map(|g| g.members)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let joining: Vec<UserId> = want.iter().copied().filter(|u| !have.contains(u)).collect();
    let stranger = if joining.len() <= 50 {
        let mut found = None;
        for u in &joining {
            let seen = db
                .query_int(
                    &format!("SELECT u.id FROM users u WHERE u.id = $2 AND {VISIBLE}"),
                    args![provider, *u],
                )?
                .is_some();
            if !seen {
                found = Some(*u);
                break;
            }
        }
        found
    } else {
        let visible: std::collections::HashSet<i64> = db
            .query_ints(
                &format!("SELECT u.id FROM users u WHERE {VISIBLE}"),
                args![provider],
            )?
            .into_iter()
            .collect();
        joining.into_iter().find(|u| !visible.contains(&u.0))
    };
    Ok(stranger.map(|u| {
        ScimRefusal::Invalid(format!(
            "member \"{}\" is not a User this SCIM client can see",
            u.0
        ))
    }))
}

/// Makes the group's SCIM members `want` (checked by [`check_members`]), touching only
/// `scim` grants; tells webhooks whom it changed.
fn set_members(
    db: &mut dyn Db,
    provider: &str,
    group: i64,
    name: &str,
    want: &[UserId],
    now: i64,
    changed: &mut super::Changed,
) -> Result<(), StoreError> {
    let have = load_groups(db, provider, (group, group))?
        .pop()
        .map(|g| g.members)
        .unwrap_or_default();
    for u in want.iter().filter(|u| !have.contains(u)) {
        // A group the account holds already (from an administrator, a sign-in) keeps
        // its source: SCIM adds its grant only where there was none.
        let added = db.exec(
            "INSERT INTO user_groups (user_id, group_id, source, granted_at) VALUES ($1, $2, 'scim', $3)
             ON CONFLICT (user_id, group_id) DO NOTHING",
            args![*u, group, now],
        )?;
        if added > 0 {
            webhooks::enqueue(
                db,
                *u,
                None,
                &[EventType::GrantsChanged],
                json!({"added": [{"kind": "group", "name": name, "source": "scim"}], "removed": [], "provider": provider}),
                now,
            )?;
            changed.user(*u);
        }
    }
    for u in have.iter().filter(|u| !want.contains(u)) {
        let removed = db.exec(
            "DELETE FROM user_groups WHERE user_id = $1 AND group_id = $2 AND source = 'scim'",
            args![*u, group],
        )?;
        if removed > 0 {
            webhooks::enqueue(
                db,
                *u,
                None,
                &[EventType::GrantsChanged],
                json!({"added": [], "removed": [{"kind": "group", "name": name, "source": "scim"}], "provider": provider}),
                now,
            )?;
            changed.user(*u);
        }
    }
    Ok(())
}

pub trait ScimStore {
    /// Every account the provider's SCIM client sees, by id.
    fn scim_users(&self, provider: &str) -> Result<Vec<ScimUser>, StoreError>;
    /// How many accounts it sees, and `count` of them from the `skip`-th on, by id: a
    /// client paging through a large directory reads one page per request, not all.
    fn scim_users_page(
        &self,
        provider: &str,
        skip: usize,
        count: usize,
    ) -> Result<(usize, Vec<ScimUser>), StoreError>;
    /// The account it sees with this `userName` (any case) or `externalId`: what clients
    /// look an account up by before creating it, answered from the index, not a scan.
    fn scim_user_where(
        &self,
        provider: &str,
        key: ScimKey<'_>,
    ) -> Result<Option<ScimUser>, StoreError>;
    fn scim_user(&self, provider: &str, id: UserId) -> Result<Option<ScimUser>, StoreError>;
    /// Creates an account (source `api`, marked as this provider's) bound at the provider.
    fn scim_create_user(
        &self,
        provider: &str,
        how: Bind,
        input: ScimUserInput,
        now: i64,
    ) -> Refusable<UserId>;
    /// Makes an account what the client says (PUT, or PATCH read back).
    fn scim_update_user(
        &self,
        provider: &str,
        how: Bind,
        id: UserId,
        input: ScimUserInput,
        now: i64,
    ) -> Refusable<()>;
    fn scim_delete_user(&self, provider: &str, id: UserId, now: i64) -> Refusable<()>;
    /// Every group, with the members this provider's SCIM client put in it.
    fn scim_groups(&self, provider: &str) -> Result<Vec<ScimGroup>, StoreError>;
    fn scim_group(&self, provider: &str, id: i64) -> Result<Option<ScimGroup>, StoreError>;
    /// How many groups there are, and `count` of them from the `skip`-th on, by id,
    /// with their members: one page per request, as for users.
    fn scim_groups_page(
        &self,
        provider: &str,
        skip: usize,
        count: usize,
    ) -> Result<(usize, Vec<ScimGroup>), StoreError>;
    /// The groups with this `displayName` (any case) or `externalId`: what
    /// clients look a group up by before creating or linking it (Entra ID at every
    /// cycle), read by key instead of every group with every member.
    fn scim_groups_where(
        &self,
        provider: &str,
        key: ScimKey<'_>,
    ) -> Result<Vec<ScimGroup>, StoreError>;
    fn scim_create_group(
        &self,
        provider: &str,
        name: &str,
        external_id: Option<&str>,
        members: Vec<UserId>,
        now: i64,
    ) -> Refusable<i64>;
    fn scim_update_group(
        &self,
        provider: &str,
        id: i64,
        name: &str,
        external_id: Option<&str>,
        members: Vec<UserId>,
        now: i64,
    ) -> Refusable<()>;
    /// Takes the provider's members out; deletes the group when this provider's SCIM
    /// client made it and nothing else holds it.
    fn scim_delete_group(&self, provider: &str, id: i64, now: i64) -> Refusable<()>;
}

impl<B: Backend> ScimStore for B {
    fn scim_users(&self, provider: &str) -> Result<Vec<ScimUser>, StoreError> {
        self.read(|db| load_users(db, provider, (i64::MIN, i64::MAX)))
    }
    fn scim_users_page(
        &self,
        provider: &str,
        skip: usize,
        count: usize,
    ) -> Result<(usize, Vec<ScimUser>), StoreError> {
        self.read(|db| {
            let rows = format!("users u WHERE {VISIBLE}");
            page_by_id(db, &rows, provider, (skip, count), |db, span| {
                load_users(db, provider, span)
            })
        })
    }
    fn scim_user_where(
        &self,
        provider: &str,
        key: ScimKey<'_>,
    ) -> Result<Option<ScimUser>, StoreError> {
        self.read(|db| {
            let id = match key {
                ScimKey::Name(n) => db.query_int(
                    "SELECT id FROM users WHERE lower(username) = lower($1)",
                    args![n],
                )?,
                ScimKey::ExternalId(x) => db.query_int(
                    "SELECT id FROM users WHERE scim_external_id = $1 ORDER BY id LIMIT 1",
                    args![x],
                )?,
            };
            match id {
                Some(id) => Ok(load_users(db, provider, (id, id))?.pop()),
                None => Ok(None),
            }
        })
    }
    fn scim_user(&self, provider: &str, id: UserId) -> Result<Option<ScimUser>, StoreError> {
        self.read(|db| Ok(load_users(db, provider, (id.0, id.0))?.pop()))
    }
    fn scim_create_user(
        &self,
        provider: &str,
        how: Bind,
        input: ScimUserInput,
        now: i64,
    ) -> Refusable<UserId> {
        self.write_tx(|db, _| {
            if username_taken(db, &input.username, None)? {
                return Ok(Err(ScimRefusal::Conflict(format!(
                    "an account \"{}\" exists already",
                    input.username
                ))));
            }
            if let Some(x) = &input.external_id
                && let Some(refused) = bound_elsewhere(db, provider, how, None, x)?
            {
                return Ok(Err(refused));
            }
            let status = if input.active { UserStatus::Active } else { UserStatus::Disabled };
            let id = db
                .query_int(
                    "INSERT INTO users (username, email, email_verified, display_name, status, source,
                                        scim_provider, created_at, updated_at, disabled_at, scim_external_id)
                     VALUES ($1, $2, $3, $4, $5, 'api', $6, $7, $7, $8, $9) RETURNING id",
                    args![
                        input.username.as_str(),
                        &input.email,
                        false,
                        &input.display_name,
                        status.as_str(),
                        provider,
                        now,
                        (!input.active).then_some(now),
                        &input.external_id
                    ],
                )?
                .map(UserId)
                .ok_or_else(|| StoreError::Corrupt("creating an account returned no id".into()))?;
            if let Some(x) = &input.external_id {
                bind(db, provider, how, id, x, None, now)?;
            }
            webhooks::enqueue(
                db,
                id,
                None,
                &[EventType::UserProvisioned],
                json!({"source": "scim", "provider": &provider}),
                now,
            )?;
            Ok(Ok(id))
        })
    }
    fn scim_update_user(
        &self,
        provider: &str,
        how: Bind,
        id: UserId,
        input: ScimUserInput,
        now: i64,
    ) -> Refusable<()> {
        self.write_tx(|db, changed| {
            let Some(before) = load_users(db, provider, (id.0, id.0))?.pop() else {
                return Ok(Err(ScimRefusal::NotFound));
            };
            if input.username != before.username && username_taken(db, &input.username, Some(id))? {
                return Ok(Err(ScimRefusal::Conflict(format!(
                    "an account \"{}\" exists already",
                    input.username
                ))));
            }
            if let Some(x) = &input.external_id
                && let Some(refused) = bound_elsewhere(db, provider, how, Some(id), x)?
            {
                return Ok(Err(refused));
            }
            let email_changed = input.email != before.email;
            let profile_changed = input.username != before.username
                || email_changed
                || input.display_name != before.display_name
                || input.external_id != before.external_id;
            if let Some(x) = &input.external_id
                && before.external_id.as_deref() != Some(x)
            {
                bind(db, provider, how, id, x, before.external_id.as_deref(), now)?;
            }
            if profile_changed {
                db.exec(
                    "UPDATE users SET username = $2, email = $3, display_name = $4, updated_at = $5,
                            email_verified = (email_verified AND NOT $6), scim_external_id = $7
                     WHERE id = $1",
                    args![id, input.username.as_str(), &input.email, &input.display_name, now, email_changed, &input.external_id],
                )?;
                webhooks::enqueue(
                    db,
                    id,
                    None,
                    &[EventType::UserUpdated],
                    json!({"source": "scim", "provider": &provider}),
                    now,
                )?;
            }
            let status = if input.active { UserStatus::Active } else { UserStatus::Disabled };
            // A pending account stays pending until an administrator approves it.
            let keep_pending = before.status == UserStatus::Pending && input.active;
            if status != before.status && !keep_pending {
                crate::sessions::set_status(db, id, status, now)?;
            }
            changed.user(id);
            Ok(Ok(()))
        })
    }
    fn scim_delete_user(&self, provider: &str, id: UserId, now: i64) -> Refusable<()> {
        self.write_tx(|db, changed| {
            if load_users(db, provider, (id.0, id.0))?.is_empty() {
                return Ok(Err(ScimRefusal::NotFound));
            }
            let last_admin = db.query_int(
                "SELECT count(*) FROM users WHERE is_admin AND status = 'active' AND id <> $1",
                args![id],
            )? == Some(0)
                && db
                    .query_int("SELECT id FROM users WHERE id = $1 AND is_admin", args![id])?
                    .is_some();
            if last_admin {
                return Ok(Err(ScimRefusal::Invalid(
                    "this is the last active administrator; ssogate keeps it (disable it instead, or add another administrator first)".into(),
                )));
            }
            crate::accounts::delete_user(db, id, now)?;
            changed.user(id);
            Ok(Ok(()))
        })
    }
    fn scim_groups(&self, provider: &str) -> Result<Vec<ScimGroup>, StoreError> {
        self.read(|db| load_groups(db, provider, (i64::MIN, i64::MAX)))
    }
    fn scim_group(&self, provider: &str, id: i64) -> Result<Option<ScimGroup>, StoreError> {
        self.read(|db| Ok(load_groups(db, provider, (id, id))?.pop()))
    }
    fn scim_groups_page(
        &self,
        provider: &str,
        skip: usize,
        count: usize,
    ) -> Result<(usize, Vec<ScimGroup>), StoreError> {
        self.read(|db| {
            // Every group is visible: `$1` names no one.
            let rows = "groups u WHERE $1 = $1";
            page_by_id(db, rows, provider, (skip, count), |db, span| {
                load_groups(db, provider, span)
            })
        })
    }
    fn scim_groups_where(
        &self,
        provider: &str,
        key: ScimKey<'_>,
    ) -> Result<Vec<ScimGroup>, StoreError> {
        self.read(|db| {
            let ids = match key {
                ScimKey::Name(n) => db.query(
                    "SELECT id FROM groups WHERE lower(name) = lower($1) ORDER BY id",
                    args![n],
                )?,
                ScimKey::ExternalId(x) => db.query(
                    "SELECT id FROM groups WHERE scim_external_id = $1 ORDER BY id",
                    args![x],
                )?,
            };
            let mut found = Vec::with_capacity(ids.len());
            for r in &ids {
                let id = r.get(0)?.int()?;
                found.extend(load_groups(db, provider, (id, id))?);
            }
            Ok(found)
        })
    }
    fn scim_create_group(
        &self,
        provider: &str,
        name: &str,
        external_id: Option<&str>,
        members: Vec<UserId>,
        now: i64,
    ) -> Refusable<i64> {
        self.write_tx(|db, changed| {
            if let Some(r) = check_members(db, provider, None, &members)? {
                return Ok(Err(r));
            }
            if db
                .query_int("SELECT id FROM groups WHERE lower(name) = lower($1)", args![name])?
                .is_some()
            {
                return Ok(Err(ScimRefusal::Conflict(format!(
                    "a group \"{name}\" exists already (find it with filter=displayName eq \"{name}\")"
                ))));
            }
            let id = db
                .query_int(
                    "INSERT INTO groups (name, scim_provider, scim_external_id) VALUES ($1, $2, $3) RETURNING id",
                    args![name, provider, external_id],
                )?
                .ok_or_else(|| StoreError::Corrupt("creating a group returned no id".into()))?;
            set_members(db, provider, id, name, &members, now, changed)?;
            Ok(Ok(id))
        })
    }
    fn scim_update_group(
        &self,
        provider: &str,
        id: i64,
        name: &str,
        external_id: Option<&str>,
        members: Vec<UserId>,
        now: i64,
    ) -> Refusable<()> {
        self.write_tx(|db, changed| {
            let rows = db.query(
                "SELECT name, scim_provider FROM groups WHERE id = $1",
                args![id],
            )?;
            let Some(r) = rows.first() else {
                return Ok(Err(ScimRefusal::NotFound));
            };
            let (current, maker) = (r.get(0)?.text()?, r.get(1)?.opt_text()?);
            if let Some(r) = check_members(db, provider, Some(id), &members)? {
                return Ok(Err(r));
            }
            if current != name {
                if maker.as_deref() != Some(provider) {
                    return Ok(Err(ScimRefusal::Invalid(format!(
                        "the group \"{current}\" is ssogate's own (its catalogue), not this SCIM client's: rename it in ssogate"
                    ))));
                }
                if db
                    .query_int(
                        "SELECT id FROM groups WHERE lower(name) = lower($1) AND id <> $2",
                        args![name, id],
                    )?
                    .is_some()
                {
                    return Ok(Err(ScimRefusal::Conflict(format!(
                        "a group \"{name}\" exists already"
                    ))));
                }
                db.exec("UPDATE groups SET name = $2 WHERE id = $1", args![id, name])?;
            }
            db.exec(
                "UPDATE groups SET scim_external_id = $2 WHERE id = $1",
                args![id, external_id],
            )?;
            set_members(db, provider, id, name, &members, now, changed)?;
            Ok(Ok(()))
        })
    }
    fn scim_delete_group(&self, provider: &str, id: i64, now: i64) -> Refusable<()> {
        self.write_tx(|db, changed| {
            let rows = db.query(
                "SELECT name, scim_provider FROM groups WHERE id = $1",
                args![id],
            )?;
            let Some(r) = rows.first() else {
                return Ok(Err(ScimRefusal::NotFound));
            };
            let (name, maker) = (r.get(0)?.text()?, r.get(1)?.opt_text()?);
            set_members(db, provider, id, &name, &[], now, changed)?;
            let others = db
                .query_int(
                    "SELECT count(*) FROM user_groups WHERE group_id = $1",
                    args![id],
                )?
                .unwrap_or(0);
            if maker.as_deref() == Some(provider) && others == 0 {
                db.exec("DELETE FROM groups WHERE id = $1", args![id])?;
            }
            Ok(Ok(()))
        })
    }
}
