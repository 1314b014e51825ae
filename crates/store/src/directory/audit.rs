//! The audit trail: recording events that are not login decisions, reading, filtering,
//! purging, and the dashboard's counts.

use super::Backend;
use crate::StoreError;
use crate::audit::{self, AuditEvent, NewEvent};
use crate::query::{self, AuditFilter, Stats};

pub trait AuditStore {
    /// Records an audit event that is not a login decision.
    fn record_event(&self, event: NewEvent) -> Result<(), StoreError>;
    /// The newest audit events first.
    fn audit_events(&self, limit: i64) -> Result<Vec<AuditEvent>, StoreError>;
    /// Audit events, newest first, with their ids.
    fn query_audit(&self, filter: &AuditFilter) -> Result<Vec<(i64, AuditEvent)>, StoreError>;
    /// Deletes audit events older than `before` (retention); how many.
    fn purge_audit(&self, before: i64) -> Result<u64, StoreError>;
    /// Accounts by source and status; provisioned accounts and failed sign-ins per day
    /// since `since`.
    fn stats(&self, since: i64) -> Result<Stats, StoreError>;
}

impl<B: Backend> AuditStore for B {
    fn record_event(&self, event: NewEvent) -> Result<(), StoreError> {
        self.write(move |db, _| audit::record_event(db, &event))
    }
    fn audit_events(&self, limit: i64) -> Result<Vec<AuditEvent>, StoreError> {
        self.read(|db| audit::audit_events(db, limit))
    }
    fn query_audit(&self, filter: &AuditFilter) -> Result<Vec<(i64, AuditEvent)>, StoreError> {
        self.read(|db| query::query_audit(db, filter))
    }
    fn purge_audit(&self, before: i64) -> Result<u64, StoreError> {
        self.write(move |db, _| query::purge_audit(db, before))
    }
    fn stats(&self, since: i64) -> Result<Stats, StoreError> {
        self.read(|db| query::stats(db, since))
    }
}
