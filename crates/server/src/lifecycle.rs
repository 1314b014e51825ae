//! Applying the lifecycle rules (`[lifecycle]`, `ssogate_core::lifecycle`): every
//! `run_every_minutes` in `serve`, on whichever instance takes the directory's lease, and
//! on demand with `ssogate lifecycle`. Each account disabled or deleted is audited with
//! the rule and the reason; disabling ends its sessions at once (and, through the
//! back-channel, in the applications it signed in to through ssogate).

use crate::state::App;
use ssogate_config::Config;
use ssogate_core::domain::UserStatus;
use ssogate_core::lifecycle::{Act, Planned, plan};
use ssogate_store::audit::NewEvent;
use ssogate_store::{Directory, StoreError};

/// What the rules would do now (`dry_run`), or do it. The actions, in order.
pub fn apply(
    directory: &dyn Directory,
    config: &Config,
    now: i64,
    dry_run: bool,
) -> Result<Vec<Planned>, String> {
    let per_provider = config.provider_lifecycles().map_err(|e| e.to_string())?;
    if config.lifecycle.is_off() && per_provider.values().all(|p| p.is_off()) {
        return Ok(Vec::new());
    }
    let accounts = directory.lifecycle_accounts().map_err(|e| e.to_string())?;
    let planned = plan(&accounts, &config.lifecycle, &per_provider, now);
    if dry_run {
        return Ok(planned);
    }
    let mut done = Vec::with_capacity(planned.len());
    for p in planned {
        let result: Result<bool, StoreError> = match p.act {
            Act::Disable => directory.set_user_status(p.user_id, UserStatus::Disabled, now),
            Act::Delete => directory.delete_user(p.user_id, now),
        };
        match result {
            Ok(true) => {
                let event = match p.act {
                    Act::Disable => "lifecycle.disabled",
                    Act::Delete => "lifecycle.deleted",
                };
                directory
                    .record_event(NewEvent {
                        at: now,
                        event: event.into(),
                        outcome: "success".into(),
                        user_id: Some(p.user_id),
                        detail: Some(format!("{} ({} rules): {}", p.username, p.rule, p.why)),
                        ..Default::default()
                    })
                    .map_err(|e| e.to_string())?;
                tracing::info!(user = %p.username, rule = %p.rule, why = %p.why, action = ?p.act, "lifecycle");
                done.push(p);
            }
            // Gone or changed since it was read: nothing to do.
            Ok(false) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(done)
}

/// One scheduled pass, if this instance takes the lease.
pub(crate) async fn scheduled(app: &App) {
    let every = i64::from(app.config.lifecycle_every_minutes) * 60;
    if every == 0 {
        return;
    }
    let now = app.now();
    match app.db(move |d| d.claim_lifecycle_run(now, every)).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(error = %e, "the lifecycle lease could not be read");
            return;
        }
    }
    let config = app.config.clone();
    let ran = app.db(move |d| Ok(apply(d, &config, now, false))).await;
    match ran {
        Ok(Ok(done)) if !done.is_empty() => {
            tracing::info!(actions = done.len(), "lifecycle rules applied");
        }
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "the lifecycle rules could not be applied"),
        Err(e) => tracing::error!(error = %e, "the lifecycle run stopped"),
    }
}
