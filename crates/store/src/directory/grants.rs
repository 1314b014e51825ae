//! Grants and the catalogue they name: what administrators grant and take away, and the
//! permissions, libraries and groups themselves.

use super::Backend;
use super::webhooks;
use crate::StoreError;
use crate::catalogue::{self, Edit, Edited, Entry};
use crate::invalidate::Invalidation;
use crate::provision;
use serde_json::json;
use ssogate_core::domain::UserId;
use ssogate_core::domain::{Catalogue, GrantKind};
use ssogate_core::events::EventType;

pub trait GrantStore {
    /// Makes the configured catalogue exist: permissions, libraries and groups (with
    /// their external ids) are inserted or updated; nothing is deleted.
    fn sync_catalogue(&self, catalogue: &Catalogue) -> Result<(), StoreError>;
    /// Grants something as an administrator (source `admin`; a login never removes it).
    fn grant_by_admin(
        &self,
        user_id: UserId,
        kind: GrantKind,
        name: &str,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Takes a grant away as an administrator; whether there was one.
    fn revoke_by_admin(
        &self,
        user_id: UserId,
        kind: GrantKind,
        name: &str,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Every catalogue item with how many accounts hold it.
    fn catalogue_entries(&self) -> Result<Vec<Entry>, StoreError>;
    /// The catalogue as stored (the configured one and what administrators added).
    fn catalogue(&self) -> Result<Catalogue, StoreError>;
    /// Creates, changes or deletes a catalogue item; watchers hear `All` when it is done
    /// (grants may have been renamed or taken away, engines must recompile).
    fn edit_catalogue(&self, edit: Edit) -> Result<Edited, StoreError>;
}

impl<B: Backend> GrantStore for B {
    fn sync_catalogue(&self, catalogue: &Catalogue) -> Result<(), StoreError> {
        self.write_tx(|db, _| provision::sync_catalogue(db, catalogue))
    }
    fn grant_by_admin(
        &self,
        user_id: UserId,
        kind: GrantKind,
        name: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.write_tx(|db, changed| {
            provision::grant_by_admin(db, user_id, kind, name, now)?;
            webhooks::enqueue(
                db,
                user_id,
                None,
                &[EventType::GrantsChanged],
                json!({"added": [{"kind": kind, "name": &name, "source": "admin"}], "removed": []}),
                now,
            )?;
            changed.user(user_id);
            Ok(())
        })
    }
    fn revoke_by_admin(
        &self,
        user_id: UserId,
        kind: GrantKind,
        name: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.write_tx(|db, changed| {
            let revoked = provision::revoke_by_admin(db, user_id, kind, name)?;
            if revoked {
                webhooks::enqueue(
                    db,
                    user_id,
                    None,
                    &[EventType::GrantsChanged],
                    json!({"added": [], "removed": [{"kind": kind, "name": &name}]}),
                    now,
                )?;
            }
            changed.user(user_id);
            Ok(revoked)
        })
    }
    fn catalogue_entries(&self) -> Result<Vec<Entry>, StoreError> {
        self.read(catalogue::entries)
    }
    fn catalogue(&self) -> Result<Catalogue, StoreError> {
        self.read(catalogue::load)
    }
    fn edit_catalogue(&self, edit: Edit) -> Result<Edited, StoreError> {
        self.write_tx(move |db, changed| {
            let out = catalogue::edit(db, &edit)?;
            if matches!(out, Edited::Done { .. }) {
                changed.push(Invalidation::All);
            }
            Ok(out)
        })
    }
}
