//! A login, decided and written: the lookups the engine asked for fetched in a few
//! queries, the engine's view of the directory over them, and the outcome's rows
//! (on PostgreSQL in one writable-CTE statement for a first login). Also the grant
//! writes an administrator makes. Written once for both engines over [`Db`].
//!
//! Over ~600 lines on purpose: a login is one pass — the lookups, the engine's view over
//! them and the writes of its outcome in one transaction — and each part is written
//! against the others' shapes.

use crate::audit::{audit_login, claim_subject, redact};
use crate::sql::{Db, args};
use crate::users::load_user;
use crate::{RequestContext, StoreError};
use ssogate_core::claims::ClaimSources;
use ssogate_core::decision::{Attribute, Decision, IdentityChange};
use ssogate_core::directory::{DirectoryView, ExistingUser, GroupCatalogue};
use ssogate_core::domain::UserId;
use ssogate_core::domain::{Catalogue, GrantKind, Group, Library};
use ssogate_core::engine::Lookups;
use ssogate_core::events::EventType;
use ssogate_core::{Engine, Outcome};
use std::cell::RefCell;
use std::collections::HashMap;
use typed_arena::Arena;

/// Makes the configured catalogue exist; nothing is deleted.
pub(crate) fn sync_catalogue(db: &mut dyn Db, catalogue: &Catalogue) -> Result<(), StoreError> {
    for p in &catalogue.permissions {
        db.exec(
            "INSERT INTO permissions (name, label, required) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET label = excluded.label, required = excluded.required",
            args![&p.name, &p.label, p.required],
        )?;
    }
    for l in &catalogue.libraries {
        db.exec(
            "INSERT INTO libraries (name, label) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET label = excluded.label",
            args![&l.name, &l.label],
        )?;
    }
    for g in &catalogue.groups {
        let id = ensure_group(db, &g.name)?;
        db.exec(
            "DELETE FROM group_external_ids WHERE group_id = $1",
            args![id],
        )?;
        for e in &g.external_ids {
            db.exec(
                "INSERT INTO group_external_ids (group_id, external_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                args![id, e],
            )?;
        }
    }
    Ok(())
}

fn ensure_group(db: &mut dyn Db, name: &str) -> Result<i64, StoreError> {
    if let Some(id) = db.query_int(
        "SELECT id FROM groups WHERE lower(name) = lower($1)",
        args![name],
    )? {
        return Ok(id);
    }
    db.query_int(
        "INSERT INTO groups (name) VALUES ($1) RETURNING id",
        args![name],
    )?
    .ok_or_else(|| StoreError::Corrupt("INSERT … RETURNING returned nothing".into()))
}

/// The engine's view of the directory inside a login's transaction: lookups run as the
/// engine asks for them, and the accounts they return live in an arena for the
/// transaction's length. A failed query is kept and fails the login (never a silent
/// "no such account").
pub struct View<'c> {
    db: RefCell<&'c mut dyn Db>,
    arena: Arena<ExistingUser>,
    groups: GroupCatalogue,
    known: Known,
    provider: String,
    libraries: Vec<Library>,
    /// The enabled webhooks' `events`, read with the catalogue: a login that raises an
    /// event needs no round trip of its own to learn whether anyone listens.
    webhooks: Vec<String>,
    error: RefCell<Option<StoreError>>,
}

/// A prefetched lookup: kind and key.
type Known = HashMap<(u8, String), Vec<i64>>;
const BY_IDENTITY: u8 = 0;
const BY_ISSUER: u8 = 1;
const BY_EXTERNAL: u8 = 2;
const BY_EMAIL: u8 = 3;
const BY_USERNAME: u8 = 4;

fn prefetch(db: &mut dyn Db, h: &Lookups) -> Result<Known, StoreError> {
    let mut known = Known::new();
    let Some(subject) = &h.subject else {
        return Ok(known);
    };
    let mut args: Vec<crate::sql::Arg<'_>> =
        vec![h.provider.as_str().into(), subject.as_str().into()];
    let mut parts = vec![
        "SELECT 0, $2, user_id FROM identities WHERE provider = $1 AND subject = $2".to_owned(),
    ];
    known.insert((BY_IDENTITY, subject.clone()), Vec::new());
    for issuer in &h.issuers {
        args.push(issuer.as_str().into());
        parts.push(format!(
            "SELECT 1, ${n}, user_id FROM identities WHERE issuer = ${n} AND subject = $2",
            n = args.len()
        ));
        known.insert((BY_ISSUER, issuer.clone()), Vec::new());
    }
    if let Some(e) = &h.external_id {
        args.push(e.as_str().into());
        parts.push(format!(
            "SELECT 2, ${n}, user_id FROM external_ids WHERE provider = $1 AND external_id = ${n}",
            n = args.len()
        ));
        known.insert((BY_EXTERNAL, e.clone()), Vec::new());
    }
    if let Some(e) = &h.email {
        args.push(e.as_str().into());
        parts.push(format!(
            "SELECT 3, lower(${n}), id FROM users WHERE lower(email) = lower(${n})",
            n = args.len()
        ));
        known.insert((BY_EMAIL, e.to_lowercase()), Vec::new());
    }
    for u in &h.usernames {
        args.push(u.as_str().into());
        parts.push(format!(
            "SELECT 4, lower(${n}), id FROM users WHERE lower(username) = lower(${n})",
            n = args.len()
        ));
        known.insert((BY_USERNAME, u.to_lowercase()), Vec::new());
    }
    for row in db.query(&parts.join(" UNION ALL "), &args)? {
        let kind = u8::try_from(row.get(0)?.int()?)
            .map_err(|_| StoreError::Corrupt("prefetch kind".into()))?;
        known
            .entry((kind, row.get(1)?.text()?))
            .or_default()
            .push(row.get(2)?.int()?);
    }
    for ids in known.values_mut() {
        ids.sort_unstable();
        ids.dedup();
    }
    Ok(known)
}

impl<'c> View<'c> {
    /// The view of one login: the catalogue, and what `hints` names, in two queries.
    pub fn load(db: &'c mut dyn Db, hints: &Lookups) -> Result<Self, StoreError> {
        let mut groups: Vec<Group> = Vec::new();
        let mut libraries = Vec::new();
        let mut webhooks = Vec::new();
        for row in db.query(
            "SELECT 0, g.id, g.name, e.external_id FROM groups g LEFT JOIN group_external_ids e ON e.group_id = g.id
             UNION ALL SELECT 1, 0, name, label FROM libraries
             UNION ALL SELECT 2, id, events, NULL FROM webhooks WHERE enabled
             ORDER BY 1, 2, 4",
            &[],
        )? {
            let (name, extra) = (row.get(2)?.text()?, row.get(3)?.opt_text()?);
            match row.get(0)?.int()? {
                1 => {
                    libraries.push(Library { name, label: extra });
                    continue;
                }
                2 => {
                    webhooks.push(name);
                    continue;
                }
                _ => {}
            }
            match groups.last_mut() {
                Some(g) if g.name == name => g.external_ids.extend(extra),
                _ => groups.push(Group { name, external_ids: extra.into_iter().collect() }),
            }
        }
        let known = prefetch(db, hints)?;
        Ok(View {
            known,
            provider: hints.provider.clone(),
            db: RefCell::new(db),
            arena: Arena::new(),
            groups: GroupCatalogue::new(groups),
            libraries,
            webhooks,
            error: RefCell::new(None),
        })
    }

    /// The first error a lookup met, if any.
    pub fn into_error(self) -> Option<StoreError> {
        self.error.into_inner()
    }

    /// The enabled webhooks' subscriptions (their `events`), and the first error a
    /// lookup met, if any.
    fn finish(self) -> (Vec<String>, Option<StoreError>) {
        (self.webhooks, self.error.into_inner())
    }

    fn keep<T>(&self, r: Result<T, StoreError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.error.borrow_mut().get_or_insert(e);
                None
            }
        }
    }

    fn ids(&self, sql: &str, a: &[crate::sql::Arg<'_>]) -> Vec<i64> {
        let r = self.db.borrow_mut().query_ints(sql, a);
        self.keep(r).unwrap_or_default()
    }

    fn user(&self, id: UserId) -> Option<&ExistingUser> {
        let r = load_user(&mut **self.db.borrow_mut(), id);
        let user = self.keep(r)?;
        Some(self.arena.alloc(user))
    }

    fn first(&self, sql: &str, a: &[crate::sql::Arg<'_>]) -> Option<&ExistingUser> {
        self.ids(sql, a)
            .first()
            .and_then(|&id| self.user(UserId(id)))
    }

    fn hint_provider(&self) -> &str {
        &self.provider
    }

    /// Prefetched ids for a lookup, or `None` when it was not prefetched.
    fn known(&self, kind: u8, key: &str) -> Option<&[i64]> {
        self.known.get(&(kind, key.to_owned())).map(Vec::as_slice)
    }
}

impl DirectoryView for View<'_> {
    fn find_by_identity(&self, provider: &str, subject: &str) -> Option<&ExistingUser> {
        if let Some(ids) = self
            .known(BY_IDENTITY, subject)
            .filter(|_| provider == self.hint_provider())
        {
            return ids.first().and_then(|&id| self.user(UserId(id)));
        }
        self.first(
            "SELECT user_id FROM identities WHERE provider = $1 AND subject = $2",
            args![provider, subject],
        )
    }

    fn find_by_issuer_subject(&self, issuer: &str, subject: &str) -> Option<&ExistingUser> {
        if self.known(BY_IDENTITY, subject).is_some()
            && let Some(ids) = self.known(BY_ISSUER, issuer)
        {
            return ids.first().and_then(|&id| self.user(UserId(id)));
        }
        self.first(
            "SELECT user_id FROM identities WHERE issuer = $1 AND subject = $2 ORDER BY id LIMIT 1",
            args![issuer, subject],
        )
    }

    fn find_by_external_id(&self, provider: &str, external_id: &str) -> Option<&ExistingUser> {
        if let Some(ids) = self
            .known(BY_EXTERNAL, external_id)
            .filter(|_| provider == self.hint_provider())
        {
            return ids.first().and_then(|&id| self.user(UserId(id)));
        }
        self.first(
            "SELECT user_id FROM external_ids WHERE provider = $1 AND external_id = $2",
            args![provider, external_id],
        )
    }

    fn find_by_email(&self, email: &str) -> Vec<&ExistingUser> {
        if let Some(ids) = self.known(BY_EMAIL, &email.to_lowercase()) {
            return ids.iter().filter_map(|&id| self.user(UserId(id))).collect();
        }
        self.ids(
            "SELECT id FROM users WHERE lower(email) = lower($1) ORDER BY id",
            args![email],
        )
        .into_iter()
        .filter_map(|id| self.user(UserId(id)))
        .collect()
    }

    fn find_by_username(&self, username: &str) -> Option<&ExistingUser> {
        if let Some(ids) = self.known(BY_USERNAME, &username.to_lowercase()) {
            return ids.first().and_then(|&id| self.user(UserId(id)));
        }
        self.first(
            "SELECT id FROM users WHERE lower(username) = lower($1)",
            args![username],
        )
    }

    fn username_taken(&self, username: &str) -> bool {
        if let Some(ids) = self.known(BY_USERNAME, &username.to_lowercase()) {
            return !ids.is_empty();
        }
        !self
            .ids(
                "SELECT id FROM users WHERE lower(username) = lower($1)",
                args![username],
            )
            .is_empty()
    }

    fn groups(&self) -> &[Group] {
        self.groups.all()
    }

    fn group_exists(&self, name: &str) -> bool {
        self.groups.exists(name)
    }

    fn groups_matching(&self, normalised: &str) -> ssogate_core::directory::GroupMatches<'_> {
        self.groups.matching(normalised)
    }

    fn libraries(&self) -> &[Library] {
        &self.libraries
    }

    fn active_admin_count(&self) -> usize {
        let r = self.db.borrow_mut().query_int(
            "SELECT count(*) FROM users WHERE is_admin AND status = 'active'",
            &[],
        );
        self.keep(r)
            .flatten()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0)
    }
}

/// Decides a login against `db` and writes the outcome, inside the caller's transaction.
pub(crate) fn login(
    db: &mut dyn Db,
    engine: &Engine,
    sources: &ClaimSources,
    ctx: &RequestContext,
    verdicts: &[ssogate_core::hooks::HookVerdict],
) -> Result<crate::LoginResult, StoreError> {
    let (outcome, webhooks) = {
        let mapped = engine.map(sources);
        let mut reads = Reads(&mut *db);
        let view = View::load(&mut reads, &engine.lookups(&mapped))?;
        let outcome = engine.decide_mapped_with(mapped, &view, verdicts);
        match view.finish() {
            (_, Some(e)) => return Err(e),
            (webhooks, None) => (outcome, webhooks),
        }
    };
    let user_id = apply(
        db,
        &engine.provider().slug,
        &outcome,
        sources,
        ctx,
        &webhooks,
    )?;
    Ok(crate::LoginResult { outcome, user_id })
}

/// A decision's reads: they write nothing, so on PostgreSQL they run before the
/// transaction begins ([`Db::read_query`]); a write through it begins it as usual.
struct Reads<'a>(&'a mut dyn Db);

impl Db for Reads<'_> {
    fn exec(&mut self, sql: &str, args: &[crate::sql::Arg<'_>]) -> Result<u64, StoreError> {
        self.0.exec(sql, args)
    }
    fn query(
        &mut self,
        sql: &str,
        args: &[crate::sql::Arg<'_>],
    ) -> Result<Vec<crate::sql::Row>, StoreError> {
        self.0.read_query(sql, args)
    }
    fn writable_cte(&self) -> bool {
        self.0.writable_cte()
    }
}

/// What a login with these claims would decide, without writing anything (the console's
/// "test claims", the API's dry run).
pub(crate) fn decide(
    db: &mut dyn Db,
    engine: &Engine,
    sources: &ClaimSources,
    verdicts: &[ssogate_core::hooks::HookVerdict],
) -> Result<Outcome, StoreError> {
    let mapped = engine.map(sources);
    let view = View::load(&mut *db, &engine.lookups(&mapped))?;
    let outcome = engine.decide_mapped_with(mapped, &view, verdicts);
    match view.into_error() {
        Some(e) => Err(e),
        None => Ok(outcome),
    }
}

/// Takes a grant away as an administrator; whether there was one. A grant the provider
/// owns comes back at the next sign-in if the claims still say so.
pub(crate) fn revoke_by_admin(
    db: &mut dyn Db,
    user_id: UserId,
    kind: GrantKind,
    name: &str,
) -> Result<bool, StoreError> {
    let n = match kind {
        GrantKind::Permission => db.exec(
            "DELETE FROM user_permissions WHERE user_id = $1 AND permission = $2",
            args![user_id, name],
        )?,
        GrantKind::Library => db.exec(
            "DELETE FROM user_libraries WHERE user_id = $1 AND library = $2",
            args![user_id, name],
        )?,
        GrantKind::Group => db.exec(
            "DELETE FROM user_groups WHERE user_id = $1
               AND group_id = (SELECT id FROM groups WHERE lower(name) = lower($2))",
            args![user_id, name],
        )?,
        GrantKind::Admin => db.exec(
            "UPDATE users SET is_admin = $1, admin_source = NULL, admin_granted_at = NULL WHERE id = $2 AND is_admin",
            args![false, user_id],
        )?,
    };
    Ok(n > 0)
}

/// Writes an outcome; returns the account's id. `webhooks`: the enabled webhooks'
/// subscriptions, as the login's view read them.
pub(crate) fn apply(
    db: &mut dyn Db,
    provider: &str,
    outcome: &Outcome,
    sources: &ClaimSources,
    ctx: &RequestContext,
    webhooks: &[String],
) -> Result<Option<UserId>, StoreError> {
    let now = ctx.now;
    if let Decision::Provision { account } = &outcome.decision
        && db.writable_cte()
    {
        // Nothing written after the account's statement: it is the transaction's last
        // (on PostgreSQL sent alone, without BEGIN and COMMIT).
        let last = outcome.changes.external_id.is_none()
            && !crate::directory::webhooks::any_subscribed(webhooks, &EventType::of_login(outcome));
        let id = UserId(provision_in_one_statement(
            db, provider, account, outcome, sources, ctx, last,
        )?);
        record_external_id(db, id, provider, outcome)?;
        login_events(db, id, provider, outcome, now, webhooks)?;
        return Ok(Some(id));
    }
    let user_id = match &outcome.decision {
        Decision::Reject(_) => outcome.user.id,
        Decision::SignIn { user_id } | Decision::Link { user_id, .. } => Some(*user_id),
        Decision::Provision { account } => db.query_int(
            "INSERT INTO users (username, email, email_verified, display_name, avatar, quota, status, source, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
            args![
                &account.username,
                &account.email,
                account.email_verified,
                &account.display_name,
                &account.avatar,
                &account.quota,
                account.status.as_str(),
                account.source.as_str(),
                now
            ],
        )?
        .map(UserId),
    };
    if let (Some(id), false) = (user_id, matches!(outcome.decision, Decision::Reject(_))) {
        write_changes(db, id, provider, outcome, sources, now)?;
        record_external_id(db, id, provider, outcome)?;
        login_events(db, id, provider, outcome, now, webhooks)?;
    }
    audit_login(db, provider, sources, outcome, user_id, ctx)?;
    Ok(user_id)
}

/// What a written sign-in tells webhook endpoints.
fn login_events(
    db: &mut dyn Db,
    id: UserId,
    provider: &str,
    outcome: &Outcome,
    now: i64,
    webhooks: &[String],
) -> Result<(), StoreError> {
    let events = EventType::of_login(outcome);
    if events.is_empty() {
        return Ok(());
    }
    let c = &outcome.changes;
    let grant = |g: &ssogate_core::domain::Grant| serde_json::json!({"kind": g.kind, "name": &g.name, "source": g.source.as_str()});
    let data = || {
        serde_json::json!({
            "provider": provider,
            "decision": outcome.decision.code(),
            "attributes": &c.attributes,
            "added": c.grants.added.iter().map(grant).collect::<Vec<_>>(),
            "removed": c.grants.removed.iter().map(grant).collect::<Vec<_>>(),
        })
    };
    crate::directory::webhooks::enqueue_for(db, webhooks, id, None, &events, data, now)
}

/// The external id the engine decided to record. It checked no other account holds it;
/// if one took it since (a concurrent login), the unique index fails the transaction and
/// the login is decided again (PostgreSQL) — never two accounts with one id.
fn record_external_id(
    db: &mut dyn Db,
    id: UserId,
    provider: &str,
    outcome: &Outcome,
) -> Result<(), StoreError> {
    if let Some(ext) = &outcome.changes.external_id {
        crate::accounts::set_external_id(db, id, provider, Some(ext))?;
    }
    Ok(())
}

fn write_changes(
    db: &mut dyn Db,
    id: UserId,
    provider: &str,
    outcome: &Outcome,
    sources: &ClaimSources,
    now: i64,
) -> Result<(), StoreError> {
    let c = &outcome.changes;
    for a in &c.attributes {
        let sql = match a.field {
            Attribute::Email => "UPDATE users SET email = $1, updated_at = $2 WHERE id = $3",
            Attribute::EmailVerified => {
                "UPDATE users SET email_verified = $1, updated_at = $2 WHERE id = $3"
            }
            Attribute::DisplayName => {
                "UPDATE users SET display_name = $1, updated_at = $2 WHERE id = $3"
            }
            Attribute::Avatar => "UPDATE users SET avatar = $1, updated_at = $2 WHERE id = $3",
            Attribute::Quota => "UPDATE users SET quota = $1, updated_at = $2 WHERE id = $3",
        };
        if a.field == Attribute::EmailVerified {
            db.exec(sql, args![a.to.as_deref() == Some("true"), now, id])?;
        } else {
            db.exec(sql, args![&a.to, now, id])?;
        }
    }

    let claims = serde_json::to_string(&redact(&sources.merged())).unwrap_or_default();
    let email = outcome.user.email.as_deref();
    match &c.identity {
        Some(IdentityChange::Create(i)) => {
            db.exec(
                "INSERT INTO identities (user_id, provider, issuer, subject, email, raw_claims, first_login_at, last_login_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                args![id, &i.provider, &i.issuer, &i.subject, email, claims.as_str(), now],
            )?;
        }
        Some(IdentityChange::Rebind { previous, current }) => {
            db.exec(
                "UPDATE identities SET provider = $1, issuer = $2, subject = $3, email = $4, raw_claims = $5, last_login_at = $6
                 WHERE user_id = $7 AND provider = $8 AND subject = $9",
                args![&current.provider, &current.issuer, &current.subject, email, claims.as_str(), now, id, &previous.provider, &previous.subject],
            )?;
        }
        None => {
            db.exec(
                "UPDATE identities SET email = $1, raw_claims = $2, last_login_at = $3
                 WHERE user_id = $4 AND provider = $5 AND subject = $6",
                args![
                    email,
                    claims.as_str(),
                    now,
                    id,
                    provider,
                    claim_subject(sources)
                ],
            )?;
        }
    }

    for name in &c.create_groups {
        ensure_group(db, name)?;
    }
    for g in &c.grants.removed {
        match g.kind {
            GrantKind::Permission => db.exec("DELETE FROM user_permissions WHERE user_id = $1 AND permission = $2", args![id, &g.name])?,
            GrantKind::Library => db.exec("DELETE FROM user_libraries WHERE user_id = $1 AND library = $2", args![id, &g.name])?,
            GrantKind::Group => db.exec(
                "DELETE FROM user_groups WHERE user_id = $1 AND group_id = (SELECT id FROM groups WHERE lower(name) = lower($2))",
                args![id, &g.name],
            )?,
            GrantKind::Admin => db.exec("UPDATE users SET is_admin = $1, admin_source = NULL, admin_granted_at = NULL WHERE id = $2", args![false, id])?,
        };
    }
    for g in &c.grants.added {
        let source = g.source.as_str();
        match g.kind {
            GrantKind::Permission => db.exec(
                "INSERT INTO user_permissions (user_id, permission, source, granted_at) VALUES ($1, $2, $3, $4)",
                args![id, &g.name, source, now],
            )?,
            GrantKind::Library => db.exec(
                "INSERT INTO user_libraries (user_id, library, source, granted_at) VALUES ($1, $2, $3, $4)",
                args![id, &g.name, source, now],
            )?,
            GrantKind::Group => db.exec(
                "INSERT INTO user_groups (user_id, group_id, source, granted_at)
                 VALUES ($1, (SELECT id FROM groups WHERE lower(name) = lower($2)), $3, $4)",
                args![id, &g.name, source, now],
            )?,
            GrantKind::Admin => db.exec(
                "UPDATE users SET is_admin = $1, admin_source = $2, admin_granted_at = $3 WHERE id = $4",
                args![true, source, now, id],
            )?,
        };
    }
    db.exec(
        "UPDATE users SET last_login_at = $1 WHERE id = $2",
        args![now, id],
    )?;
    Ok(())
}

/// A new account, its identity, grants and audit event as one statement (PostgreSQL's
/// writable CTEs): one round trip where the statement-by-statement path takes nine.
fn provision_in_one_statement(
    db: &mut dyn Db,
    provider: &str,
    account: &ssogate_core::decision::NewAccount,
    outcome: &Outcome,
    sources: &ClaimSources,
    ctx: &RequestContext,
    last: bool,
) -> Result<i64, StoreError> {
    use crate::sql::Arg;
    let c = &outcome.changes;
    for name in &c.create_groups {
        ensure_group(db, name)?;
    }
    let identity = match &c.identity {
        Some(IdentityChange::Create(i)) => i,
        _ => {
            return Err(StoreError::Corrupt(
                "a provisioning decision without an identity to create".into(),
            ));
        }
    };
    let admin = c
        .grants
        .added
        .iter()
        .find(|g| g.kind == GrantKind::Admin)
        .map(|g| g.source.as_str());
    let claims = serde_json::to_string(&redact(&sources.merged())).unwrap_or_default();
    let detail = serde_json::json!({"decision": outcome.decision.code(), "changes": c, "trace": outcome.trace.to_strings()}).to_string();
    let mut a: Vec<Arg<'_>> = vec![
        account.username.as_str().into(),  // $1
        (&account.email).into(),           // $2
        account.email_verified.into(),     // $3
        (&account.display_name).into(),    // $4
        (&account.avatar).into(),          // $5
        (&account.quota).into(),           // $6
        account.status.as_str().into(),    // $7
        account.source.as_str().into(),    // $8
        ctx.now.into(),                    // $9
        admin.is_some().into(),            // $10
        admin.into(),                      // $11
        identity.provider.as_str().into(), // $12
        (&identity.issuer).into(),         // $13
        identity.subject.as_str().into(),  // $14
        claims.as_str().into(),            // $15
        provider.into(),                   // $16
        (&ctx.address).into(),             // $17
        (&ctx.user_agent).into(),          // $18
        detail.as_str().into(),            // $19
    ];
    let mut sql = String::from(
        "WITH u AS (
           INSERT INTO users (username, email, email_verified, display_name, avatar, quota, status, source,
                              is_admin, admin_source, admin_granted_at, created_at, updated_at, last_login_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $10, $11, CASE WHEN $10::boolean THEN $9::bigint END, $9, $9, $9) RETURNING id),
         i AS (INSERT INTO identities (user_id, provider, issuer, subject, email, raw_claims, first_login_at, last_login_at)
               SELECT id, $12, $13, $14, $2, $15, $9, $9 FROM u)",
    );
    for (n, (kind, insert)) in [
        (GrantKind::Permission, "INSERT INTO user_permissions (user_id, permission, source, granted_at) SELECT u.id, v.name, v.source, $9"),
        (GrantKind::Library, "INSERT INTO user_libraries (user_id, library, source, granted_at) SELECT u.id, v.name, v.source, $9"),
        (GrantKind::Group, "INSERT INTO user_groups (user_id, group_id, source, granted_at) SELECT u.id, g.id, v.source, $9"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut values = Vec::new();
        for g in c.grants.added.iter().filter(|g| g.kind == kind) {
            a.push(g.name.as_str().into());
            a.push(g.source.as_str().into());
            values.push(format!("(${}::text, ${}::text)", a.len() - 1, a.len()));
        }
        if values.is_empty() {
            continue;
        }
        let from = if kind == GrantKind::Group {
            format!("FROM u, (VALUES {}) AS v(name, source) JOIN groups g ON lower(g.name) = lower(v.name)", values.join(", "))
        } else {
            format!("FROM u, (VALUES {}) AS v(name, source)", values.join(", "))
        };
        sql.push_str(&format!(", g{n} AS ({insert} {from})"));
    }
    sql.push_str(
        " INSERT INTO audit_events (at, event, outcome, provider, subject, user_id, address, user_agent, detail)
          SELECT $9, 'user.provisioned', 'success', $16, $14, id, $17, $18, $19 FROM u RETURNING user_id",
    );
    let rows = if last {
        db.query_last(&sql, &a)?
    } else {
        db.query(&sql, &a)?
    };
    match rows.first() {
        Some(row) => row.get(0)?.int(),
        None => Err(StoreError::Corrupt(
            "the provisioning statement returned no account".into(),
        )),
    }
}

/// Grants something to an account as an administrator (source `admin`), replacing the
/// source of a grant it already holds.
pub(crate) fn grant_by_admin(
    db: &mut dyn Db,
    user_id: UserId,
    kind: GrantKind,
    name: &str,
    now: i64,
) -> Result<(), StoreError> {
    let sql = match kind {
        GrantKind::Permission => {
            "INSERT INTO user_permissions (user_id, permission, source, granted_at) VALUES ($1, $2, 'admin', $3)
             ON CONFLICT (user_id, permission) DO UPDATE SET source = 'admin', granted_at = excluded.granted_at"
        }
        GrantKind::Library => {
            "INSERT INTO user_libraries (user_id, library, source, granted_at) VALUES ($1, $2, 'admin', $3)
             ON CONFLICT (user_id, library) DO UPDATE SET source = 'admin', granted_at = excluded.granted_at"
        }
        GrantKind::Group => {
            "INSERT INTO user_groups (user_id, group_id, source, granted_at)
             VALUES ($1, (SELECT id FROM groups WHERE lower(name) = lower($2)), 'admin', $3)
             ON CONFLICT (user_id, group_id) DO UPDATE SET source = 'admin', granted_at = excluded.granted_at"
        }
        GrantKind::Admin => {
            return db
                .exec(
                    "UPDATE users SET is_admin = $1, admin_source = 'admin', admin_granted_at = $2 WHERE id = $3",
                    args![true, now, user_id],
                )
                .map(drop);
        }
    };
    db.exec(sql, args![user_id, name, now]).map(drop)
}

/// The redacted claims of the last login through (provider, subject).
pub(crate) fn last_claims(
    db: &mut dyn Db,
    provider: &str,
    subject: &str,
) -> Result<Option<serde_json::Value>, StoreError> {
    let rows = db.query(
        "SELECT raw_claims FROM identities WHERE provider = $1 AND subject = $2",
        args![provider, subject],
    )?;
    match rows.first() {
        Some(r) => Ok(r
            .get(0)?
            .opt_text()?
            .and_then(|t| serde_json::from_str(&t).ok())),
        None => Ok(None),
    }
}
