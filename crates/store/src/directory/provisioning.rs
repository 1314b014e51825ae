//! Logins: the engine's decision against the directory, written in one transaction, and
//! the same decision as a dry run.

use super::Backend;
use crate::provision;
use crate::{LoginResult, RequestContext, StoreError};
use ssogate_core::claims::ClaimSources;
use ssogate_core::hooks::HookVerdict;
use ssogate_core::{Engine, Outcome};
use std::sync::Arc;

pub trait LoginStore {
    /// Decides a login with `engine` and writes the outcome — account, identity, grants
    /// and an audit event — in one transaction.
    fn login(
        &self,
        engine: Arc<Engine>,
        sources: ClaimSources,
        ctx: RequestContext,
    ) -> Result<LoginResult, StoreError> {
        self.login_with(engine, sources, ctx, Vec::new())
    }
    /// [`LoginStore::login`] with what the provisioning hooks answered (asked before,
    /// outside any transaction).
    fn login_with(
        &self,
        engine: Arc<Engine>,
        sources: ClaimSources,
        ctx: RequestContext,
        verdicts: Vec<HookVerdict>,
    ) -> Result<LoginResult, StoreError>;
    /// What a login with these claims would decide now, writing nothing.
    fn decide(&self, engine: Arc<Engine>, sources: ClaimSources) -> Result<Outcome, StoreError> {
        self.decide_with(engine, sources, Vec::new())
    }
    /// [`LoginStore::decide`] with the hooks' answers.
    fn decide_with(
        &self,
        engine: Arc<Engine>,
        sources: ClaimSources,
        verdicts: Vec<HookVerdict>,
    ) -> Result<Outcome, StoreError>;
}

impl<B: Backend> LoginStore for B {
    /// On SQLite the one writing connection runs lookups, decision and writes in one `IMMEDIATE`
    /// transaction, so two first logins of one subject are decided one after the other.
    /// On PostgreSQL the loser of such a race fails on a unique constraint and is decided
    /// again against the winner's rows.
    fn login_with(
        &self,
        engine: Arc<Engine>,
        sources: ClaimSources,
        ctx: RequestContext,
        verdicts: Vec<HookVerdict>,
    ) -> Result<LoginResult, StoreError> {
        self.write_tx(move |db, changed| {
            let result = provision::login(db, &engine, &sources, &ctx, &verdicts)?;
            // An account this login created is in no cache yet: nothing to tell. (On
            // PostgreSQL a NOTIFY also serialises commits on the notification queue's
            // lock — first logins in a burst no longer wait on each other for it.)
            let created = matches!(
                result.outcome.decision,
                ssogate_core::Decision::Provision { .. }
            );
            if let (Some(id), false) = (result.user_id, created) {
                changed.user(id);
            }
            Ok(result)
        })
    }
    fn decide_with(
        &self,
        engine: Arc<Engine>,
        sources: ClaimSources,
        verdicts: Vec<HookVerdict>,
    ) -> Result<Outcome, StoreError> {
        self.read(|db| provision::decide(db, &engine, &sources, &verdicts))
    }
}
