//! Clients of ssogate's OpenID Provider that administrators register in the directory
//! (beside the configuration file's): their settings as a JSON document and the digest
//! of their secret. What the settings mean is checked by the caller (the configuration
//! crate's rules, the same as for the file's clients); this keeps and hands them back.
//! Every change is announced as [`Invalidation::Providers`], so each instance rebuilds
//! the clients it answers for.

use super::Backend;
use crate::StoreError;
use crate::invalidate::Invalidation;
use crate::sql::{Cell, Row, args};
use serde_json::Value;

/// A registered client as kept.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredClient {
    pub id: String,
    /// The keys of `[clients.<id>]`, without a secret.
    pub spec: Value,
    /// The SHA-256 digest of its secret, lowercase hex (confidential clients).
    pub secret_sha256: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Why a client could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("a client `{0}` is registered already; choose another id or remove it first")]
    IdTaken(String),
}

fn read_client(r: &Row) -> Result<StoredClient, StoreError> {
    let spec = r.get(1)?.text()?;
    Ok(StoredClient {
        id: r.get(0)?.text()?,
        spec: serde_json::from_str(&spec)
            .map_err(|e| StoreError::Corrupt(format!("a stored client is not JSON: {e}")))?,
        secret_sha256: match r.get(2)? {
            Cell::Null => None,
            c => Some(c.text()?),
        },
        created_at: r.get(3)?.int()?,
        updated_at: r.get(4)?.int()?,
    })
}

const COLUMNS: &str = "id, spec, secret_sha256, created_at, updated_at";

pub trait ClientStore {
    /// Registers a client; `secret_sha256` for a confidential one.
    fn add_op_client(
        &self,
        id: &str,
        spec: &Value,
        secret_sha256: Option<&str>,
        now: i64,
    ) -> Result<Result<StoredClient, ClientError>, StoreError>;
    /// Every registered client, by id.
    fn op_clients(&self) -> Result<Vec<StoredClient>, StoreError>;
    fn op_client(&self, id: &str) -> Result<Option<StoredClient>, StoreError>;
    /// Replaces a client's settings. Whether it exists.
    fn update_op_client(&self, id: &str, spec: &Value, now: i64) -> Result<bool, StoreError>;
    /// A new secret digest. Whether it exists.
    fn set_op_client_secret(
        &self,
        id: &str,
        secret_sha256: &str,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Removes a client with what it was issued (codes, access and refresh tokens, the
    /// record of which sessions signed in to it). Whether it existed.
    fn remove_op_client(&self, id: &str) -> Result<bool, StoreError>;
}

impl<B: Backend> ClientStore for B {
    fn add_op_client(
        &self,
        id: &str,
        spec: &Value,
        secret_sha256: Option<&str>,
        now: i64,
    ) -> Result<Result<StoredClient, ClientError>, StoreError> {
        let text = spec.to_string();
        self.write_tx(|db, changed| {
            if db
                .query_int("SELECT 1 FROM op_clients WHERE id = $1", args![id])?
                .is_some()
            {
                return Ok(Err(ClientError::IdTaken(id.to_owned())));
            }
            db.exec(
                "INSERT INTO op_clients (id, spec, secret_sha256, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $4)",
                args![id, &text, secret_sha256, now],
            )?;
            changed.push(Invalidation::Providers);
            Ok(Ok(StoredClient {
                id: id.to_owned(),
                spec: spec.clone(),
                secret_sha256: secret_sha256.map(str::to_owned),
                created_at: now,
                updated_at: now,
            }))
        })
    }

    fn op_clients(&self) -> Result<Vec<StoredClient>, StoreError> {
        self.read(|db| {
            db.query(
                &format!("SELECT {COLUMNS} FROM op_clients ORDER BY id"),
                &[],
            )?
            .iter()
            .map(read_client)
            .collect()
        })
    }

    fn op_client(&self, id: &str) -> Result<Option<StoredClient>, StoreError> {
        self.read(|db| {
            db.query(
                &format!("SELECT {COLUMNS} FROM op_clients WHERE id = $1"),
                args![id],
            )?
            .first()
            .map(read_client)
            .transpose()
        })
    }

    fn update_op_client(&self, id: &str, spec: &Value, now: i64) -> Result<bool, StoreError> {
        let (id, text) = (id.to_owned(), spec.to_string());
        self.write(move |db, changed| {
            let found = db.exec(
                "UPDATE op_clients SET spec = $2, updated_at = $3 WHERE id = $1",
                args![&id, &text, now],
            )? > 0;
            if found {
                changed.push(Invalidation::Providers);
            }
            Ok(found)
        })
    }

    fn set_op_client_secret(
        &self,
        id: &str,
        secret_sha256: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (id, digest) = (id.to_owned(), secret_sha256.to_owned());
        self.write(move |db, changed| {
            let found = db.exec(
                "UPDATE op_clients SET secret_sha256 = $2, updated_at = $3
                 WHERE id = $1 AND secret_sha256 IS NOT NULL",
                args![&id, &digest, now],
            )? > 0;
            if found {
                changed.push(Invalidation::Providers);
            }
            Ok(found)
        })
    }

    fn remove_op_client(&self, id: &str) -> Result<bool, StoreError> {
        self.write_tx(|db, changed| {
            for table in [
                "op_codes",
                "op_tokens",
                "op_refresh",
                "op_logins",
                "op_logouts",
            ] {
                db.exec(
                    &format!("DELETE FROM {table} WHERE client_id = $1"),
                    args![id],
                )?;
            }
            let found = db.exec("DELETE FROM op_clients WHERE id = $1", args![id])? > 0;
            if found {
                changed.push(Invalidation::Providers);
            }
            Ok(found)
        })
    }
}
