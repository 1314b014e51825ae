//! Small documents the surfaces edit: provisioning settings per scope, providers managed
//! in the database, and the back-channel logout replay guard.

use crate::StoreError;
use crate::error::corrupt;
use crate::sql::{Db, args};
use serde_json::Value;
use ssogate_core::policy::Scope;

/// Records a logout token's `jti` until it expires; `false` if it was seen before (a
/// replay). Expired records are dropped on the way.
pub(crate) fn record_logout_jti(
    db: &mut dyn Db,
    provider: &str,
    jti: &str,
    expires_at: i64,
    now: i64,
) -> Result<bool, StoreError> {
    db.exec("DELETE FROM logout_jtis WHERE expires_at <= $1", args![now])?;
    let inserted = db.exec(
        "INSERT INTO logout_jtis (provider, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        args![provider, jti, expires_at],
    )?;
    Ok(inserted > 0)
}

/// The settings document of a scope, if saved.
pub(crate) fn get_settings(db: &mut dyn Db, scope: &Scope) -> Result<Option<Value>, StoreError> {
    let rows = db.query(
        "SELECT document FROM provisioning_settings WHERE scope = $1",
        args![scope.key().as_str()],
    )?;
    rows.first()
        .map(|r| {
            let text = r.get(0)?.text()?;
            serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("settings of {scope}: {e}")))
        })
        .transpose()
}

/// Every saved settings document: (scope, document), in one query.
pub(crate) fn all_settings(db: &mut dyn Db) -> Result<Vec<(Scope, Value)>, StoreError> {
    db.query(
        "SELECT scope, document FROM provisioning_settings ORDER BY scope",
        &[],
    )?
    .iter()
    .map(|r| {
        let key = r.get(0)?.text()?;
        let scope = Scope::parse(&key).ok_or_else(|| corrupt("settings scope", &key))?;
        let doc = serde_json::from_str(&r.get(1)?.text()?)
            .map_err(|e| StoreError::Corrupt(format!("settings of {key}: {e}")))?;
        Ok((scope, doc))
    })
    .collect()
}

/// Saves a scope's settings document whole (all fields together, as the console saves).
pub(crate) fn put_settings(
    db: &mut dyn Db,
    scope: &Scope,
    document: &Value,
    by: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    db.exec(
        "INSERT INTO provisioning_settings (scope, document, updated_at, updated_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (scope) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        args![scope.key().as_str(), document.to_string().as_str(), now, by],
    )?;
    Ok(())
}

/// Every provider managed in the database: (slug, document).
pub(crate) fn list_providers(db: &mut dyn Db) -> Result<Vec<(String, Value)>, StoreError> {
    db.query("SELECT slug, document FROM providers ORDER BY slug", &[])?
        .iter()
        .map(|r| {
            let slug = r.get(0)?.text()?;
            let doc = serde_json::from_str(&r.get(1)?.text()?)
                .map_err(|e| StoreError::Corrupt(format!("provider {slug}: {e}")))?;
            Ok((slug, doc))
        })
        .collect()
}

/// Adds or replaces a provider managed in the database.
pub(crate) fn put_provider(
    db: &mut dyn Db,
    slug: &str,
    document: &Value,
    now: i64,
) -> Result<(), StoreError> {
    db.exec(
        "INSERT INTO providers (slug, document, created_at, updated_at) VALUES ($1, $2, $3, $3)
         ON CONFLICT (slug) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at",
        args![slug, document.to_string().as_str(), now],
    )?;
    Ok(())
}

/// Deletes a provider managed in the database and ends the sessions begun through it;
/// how many accounts were linked to it (the accounts stay, with their identities, so
/// re-adding the provider restores them).
pub(crate) fn delete_provider(db: &mut dyn Db, slug: &str) -> Result<Option<i64>, StoreError> {
    if db.exec("DELETE FROM providers WHERE slug = $1", args![slug])? == 0 {
        return Ok(None);
    }
    db.exec("DELETE FROM sessions WHERE provider = $1", args![slug])?;
    db.query_int(
        "SELECT count(DISTINCT user_id) FROM identities WHERE provider = $1",
        args![slug],
    )
}

/// How many accounts have an identity at a provider (for the delete confirmation).
pub(crate) fn accounts_linked_to(db: &mut dyn Db, slug: &str) -> Result<i64, StoreError> {
    Ok(db
        .query_int(
            "SELECT count(DISTINCT user_id) FROM identities WHERE provider = $1",
            args![slug],
        )?
        .unwrap_or(0))
}
