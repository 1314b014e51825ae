//! ssogate-admin: what administrators do, once, for every surface (the web console, the
//! REST API and the CLI): accounts, grants, API keys, the audit log, test claims,
//! provisioning settings, providers saved in the directory, the catalogue. Each change is
//! checked, made in the directory, and recorded as an audit event naming who made it.
//!
//! It knows the directory and the core's types; it must not know HTTP, terminals, output
//! formats or the configuration file (what needs it — does a provider build, does every
//! engine still compile — the caller passes in as a check).

mod catalogue;
pub mod clients;
pub mod dates;
mod passwords;
mod providers;
pub mod views;
pub mod webhooks;

pub use catalogue::CatalogueItem;
pub use passwords::ResetLink;
pub use providers::ProviderRecord;

use serde::Serialize;
use ssogate_core::directory::ExistingUser;
use ssogate_core::domain::{Catalogue, GrantKind, UserId, UserStatus};
use ssogate_core::policy::Scope;
use ssogate_store::accounts::{ExternalIdOutcome, IdentityInfo};
use ssogate_store::audit::NewEvent;
use ssogate_store::credentials::{ApiKeyInfo, ApiScope};
use ssogate_store::import::{ImportOutcome, ImportRow};
use ssogate_store::query::{AuditFilter, UserFilter, UserPage};
use ssogate_store::{AuditEvent, Directory, StoreError};
use std::sync::Arc;

/// Why an administrative call did nothing.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no {what} \"{name}\"; check the spelling ({})", where_to_look(what))]
    NotFound { what: &'static str, name: String },
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where the things of a kind are listed, for a "not found" message.
fn where_to_look(what: &str) -> &'static str {
    match what {
        "account" => "`ssogate user list --search …` or the console's Users page finds accounts",
        "provider" => "`ssogate provider list` or the console's Providers page lists them",
        "permission" | "library" | "group" => {
            "`ssogate permission|library|group list` or the console's Catalogue page lists them"
        }
        "live API key with id" => "`ssogate apikey list` lists them",
        "grant" => "`ssogate user show USER` lists an account's grants",
        "webhook" => "`ssogate webhook list` or the console's Webhooks page lists them",
        "webhook delivery" => "`ssogate webhook deliveries` or a webhook's page lists them",
        _ => "list them first",
    }
}

impl AdminError {
    /// Whether the caller's input was at fault (a CLI exits 2, an API answers 4xx).
    pub fn is_input(&self) -> bool {
        match self {
            AdminError::Store(StoreError::InvalidInput(_)) => true,
            AdminError::Store(_) => false,
            _ => true,
        }
    }
}

/// One account, whole: the directory's view plus its identities.
#[derive(Debug, Clone, Serialize)]
pub struct UserDetail {
    #[serde(flatten)]
    pub user: ExistingUser,
    pub linked: Vec<IdentityInfo>,
}

/// A status change an administrator can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    Disable,
    Enable,
    /// Pending → active; refused for any other status.
    Approve,
}

/// A field as a form or request gives it: absent (leave it), empty (clear it), or a value.
fn change(v: &Option<Option<String>>) -> ssogate_store::accounts::Change<String> {
    use ssogate_store::accounts::Change;
    match v {
        None => Change::Keep,
        Some(None) => Change::Clear,
        Some(Some(s)) => Change::Set(s.clone()),
    }
}

/// The administrative surface over a directory, acting as `actor`.
pub struct Admin {
    directory: Arc<dyn Directory>,
    actor: String,
    now: Box<dyn Fn() -> i64 + Send + Sync>,
    configured: Configured,
}

/// What the configuration file defines: read-only here, changed in the file.
#[derive(Debug, Clone)]
pub struct Configured {
    pub catalogue: Catalogue,
    /// Slugs of the providers the file defines.
    pub providers: Vec<String>,
    /// Ids of the provider's clients the file defines (`[clients.<id>]`).
    pub clients: Vec<String>,
    /// What a new local password must be.
    pub passwords: ssogate_core::password::PasswordPolicy,
    /// How long a password reset link works.
    pub reset_link_seconds: i64,
}

impl Default for Configured {
    fn default() -> Self {
        Configured {
            catalogue: Catalogue::default(),
            providers: Vec::new(),
            clients: Vec::new(),
            passwords: ssogate_core::password::PasswordPolicy::default(),
            reset_link_seconds: 3600,
        }
    }
}

fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Admin {
    /// `actor` names who acts in the audit log (e.g. `cli:root`, `apikey:3`).
    pub fn new(directory: Arc<dyn Directory>, actor: impl Into<String>) -> Admin {
        Admin {
            directory,
            actor: actor.into(),
            now: Box::new(system_now),
            configured: Configured::default(),
        }
    }

    /// What the configuration file defines, so that it is refused here with a pointer to
    /// the file.
    pub fn with_configured(mut self, configured: Configured) -> Admin {
        self.configured = configured;
        self
    }

    fn check_grant(&self, kind: GrantKind, name: &str) -> Result<(), AdminError> {
        let c = self.directory.catalogue()?;
        let known = match kind {
            GrantKind::Permission => c.permissions.iter().any(|p| p.name == name),
            GrantKind::Library => c.libraries.iter().any(|l| l.name == name),
            GrantKind::Group => c.groups.iter().any(|g| g.name.eq_ignore_ascii_case(name)),
            GrantKind::Admin => true,
        };
        if known {
            Ok(())
        } else {
            Err(AdminError::Invalid {
                field: "name",
                message: format!("there is no {kind} \"{name}\" in the catalogue"),
            })
        }
    }

    /// Grants a permission, library, group or the admin flag as an administrator
    /// (source `admin`: sign-ins never take it away).
    pub fn grant(&self, who: &str, kind: GrantKind, name: &str) -> Result<UserDetail, AdminError> {
        self.check_grant(kind, name)?;
        let (id, user) = self.find(who)?;
        self.directory
            .grant_by_admin(id, kind, name, (self.now)())?;
        self.audit(
            "admin.user.granted",
            Some(id),
            serde_json::json!({"username": user.username, "kind": kind.to_string(), "name": name}),
        )?;
        self.user(who)
    }

    /// Takes a grant away. One the provider owns returns at the next sign-in if the
    /// claims still say so.
    pub fn revoke(&self, who: &str, kind: GrantKind, name: &str) -> Result<UserDetail, AdminError> {
        let (id, user) = self.find(who)?;
        if !self
            .directory
            .revoke_by_admin(id, kind, name, (self.now)())?
        {
            return Err(AdminError::NotFound {
                what: "grant",
                name: format!("{kind} {name}"),
            });
        }
        self.audit(
            "admin.user.revoked",
            Some(id),
            serde_json::json!({"username": user.username, "kind": kind.to_string(), "name": name}),
        )?;
        self.user(who)
    }

    /// What a sign-in with these claims would decide, and why — nothing is written
    /// (`verdicts`: what the provider's provisioning hooks answered, asked as a dry run).
    pub fn test_claims(
        &self,
        engine: Arc<ssogate_core::Engine>,
        id_token: serde_json::Value,
        userinfo: Option<serde_json::Value>,
        verdicts: Vec<ssogate_core::hooks::HookVerdict>,
    ) -> Result<ssogate_core::Outcome, AdminError> {
        if !id_token.is_object() {
            return Err(AdminError::Invalid {
                field: "claims",
                message: "must be a JSON object of claims".into(),
            });
        }
        Ok(self.directory.decide_with(
            engine,
            ssogate_core::claims::ClaimSources { id_token, userinfo },
            verdicts,
        )?)
    }

    fn audit(
        &self,
        event: &str,
        user_id: Option<UserId>,
        detail: serde_json::Value,
    ) -> Result<(), StoreError> {
        let mut detail = detail;
        if let Some(map) = detail.as_object_mut() {
            map.insert(
                "actor".into(),
                serde_json::Value::String(self.actor.clone()),
            );
        }
        self.directory.record_event(NewEvent {
            at: (self.now)(),
            event: event.to_owned(),
            outcome: "success".into(),
            user_id,
            detail: Some(detail.to_string()),
            ..NewEvent::default()
        })
    }

    /// The account with this username (case-insensitive), or its numeric id.
    pub(crate) fn find(&self, who: &str) -> Result<(UserId, ExistingUser), AdminError> {
        let by_name = self.directory.user_by_username(who)?;
        let user = match by_name {
            Some(u) => Some(u),
            None => match who.parse::<UserId>() {
                Ok(id) => self.directory.user(id)?,
                Err(_) => None,
            },
        };
        let user = user.ok_or_else(|| AdminError::NotFound {
            what: "account",
            name: who.to_owned(),
        })?;
        Ok((user.id, user))
    }

    pub fn list_users(&self, filter: &UserFilter) -> Result<UserPage, AdminError> {
        if !(1..=500).contains(&filter.limit) {
            return Err(AdminError::Invalid {
                field: "limit",
                message: format!("{} is outside 1–500", filter.limit),
            });
        }
        Ok(self.directory.list_users(filter)?)
    }

    pub fn user(&self, who: &str) -> Result<UserDetail, AdminError> {
        let (id, user) = self.find(who)?;
        Ok(UserDetail {
            linked: self.directory.identities(id)?,
            user,
        })
    }

    /// Disables, enables or approves an account; disabling ends its sessions at once.
    pub fn set_status(&self, who: &str, change: StatusChange) -> Result<UserDetail, AdminError> {
        let (id, user) = self.find(who)?;
        let (status, event) = match change {
            StatusChange::Disable => (UserStatus::Disabled, "admin.user.disabled"),
            StatusChange::Enable => (UserStatus::Active, "admin.user.enabled"),
            StatusChange::Approve => {
                if user.status != UserStatus::Pending {
                    return Err(AdminError::Conflict(format!(
                        "\"{}\" is {}, not awaiting approval; use `enable` to re-activate a disabled account",
                        user.username,
                        user.status.as_str()
                    )));
                }
                (UserStatus::Active, "admin.user.approved")
            }
        };
        self.directory.set_user_status(id, status, (self.now)())?;
        self.audit(
            event,
            Some(id),
            serde_json::json!({"username": user.username, "from": user.status.as_str()}),
        )?;
        self.user(who)
    }

    /// Changes the display name and/or email (`Some("")` clears one). A new email is
    /// unverified until a provider vouches for it.
    pub fn update_profile(
        &self,
        who: &str,
        display_name: Option<&str>,
        email: Option<&str>,
    ) -> Result<UserDetail, AdminError> {
        let clean =
            |v: Option<&str>| v.map(|s| Some(s.trim().to_owned()).filter(|s| !s.is_empty()));
        let (name, mail) = (clean(display_name), clean(email));
        if let Some(Some(e)) = &mail
            && (!e.contains('@') || e.len() > 320 || e.chars().any(char::is_whitespace))
        {
            return Err(AdminError::Invalid {
                field: "email",
                message: format!("\"{e}\" is not an email address"),
            });
        }
        if let Some(Some(n)) = &name
            && (n.chars().count() > 200 || n.chars().any(char::is_control))
        {
            return Err(AdminError::Invalid {
                field: "display_name",
                message: "must be at most 200 characters, without control characters".into(),
            });
        }
        let (id, user) = self.find(who)?;
        self.directory
            .update_profile(id, change(&name), change(&mail), (self.now)())?;
        self.audit(
            "admin.user.updated",
            Some(id),
            serde_json::json!({"username": user.username, "display_name": name, "email": mail}),
        )?;
        self.user(who)
    }

    pub fn delete_user(&self, who: &str) -> Result<(), AdminError> {
        let (id, user) = self.find(who)?;
        self.directory.delete_user(id, (self.now)())?;
        self.audit(
            "admin.user.deleted",
            Some(id),
            serde_json::json!({"username": user.username, "email": user.email}),
        )?;
        Ok(())
    }

    /// BookStack's "External Authentication ID" of an account at a provider; `None`
    /// removes it.
    pub fn set_external_id(
        &self,
        who: &str,
        provider: &str,
        external_id: Option<&str>,
    ) -> Result<(), AdminError> {
        if provider.trim().is_empty() {
            return Err(AdminError::Invalid {
                field: "provider",
                message: "is empty".into(),
            });
        }
        if external_id.is_some_and(|e| e.trim().is_empty()) {
            return Err(AdminError::Invalid {
                field: "external_id",
                message: "is empty; leave it out to remove the id".into(),
            });
        }
        // As the API document says (whitespace at either end is trimmed): control
        // characters inside would forge header and log lines.
        if external_id.is_some_and(|e| {
            let t = e.trim();
            t.chars().any(char::is_control) || t.chars().count() > 200
        }) {
            return Err(AdminError::Invalid {
                field: "external_id",
                message: "holds control characters or is longer than 200 characters".into(),
            });
        }
        let (id, user) = self.find(who)?;
        match self.directory.set_external_id(id, provider, external_id)? {
            ExternalIdOutcome::TakenByAnother => Err(AdminError::Conflict(format!(
                "another account already has the external id \"{}\" at \"{provider}\"",
                external_id.unwrap_or_default()
            ))),
            ExternalIdOutcome::NoSuchUser => Err(AdminError::NotFound {
                what: "account",
                name: who.to_owned(),
            }),
            ExternalIdOutcome::Set | ExternalIdOutcome::Cleared => {
                self.audit(
                    "admin.user.external_id",
                    Some(id),
                    serde_json::json!({"username": user.username, "provider": provider, "external_id": external_id}),
                )?;
                Ok(())
            }
        }
    }

    /// Creates an API key; the whole key is returned once and never stored.
    pub fn create_api_key(
        &self,
        name: &str,
        scope: ApiScope,
    ) -> Result<ssogate_store::sessions::Secret, AdminError> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(AdminError::Invalid {
                field: "name",
                message: "must be 1–100 characters".into(),
            });
        }
        let key = self.directory.create_api_key(name, scope, (self.now)())?;
        self.audit(
            "admin.apikey.created",
            None,
            serde_json::json!({"name": name, "scope": scope.as_str()}),
        )?;
        Ok(key)
    }

    /// Creates a SCIM token for `provider`'s SCIM client; returned whole, once.
    pub fn create_scim_token(
        &self,
        name: &str,
        provider: &str,
    ) -> Result<ssogate_store::sessions::Secret, AdminError> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(AdminError::Invalid {
                field: "name",
                message: "must be 1–100 characters".into(),
            });
        }
        let known = self.configured.providers.iter().any(|p| p == provider)
            || self
                .directory
                .list_providers()?
                .iter()
                .any(|(slug, _)| slug == provider);
        if !known {
            return Err(AdminError::NotFound {
                what: "provider",
                name: provider.to_owned(),
            });
        }
        let key = self
            .directory
            .create_scim_token(name, provider, (self.now)())?;
        self.audit(
            "admin.apikey.created",
            None,
            serde_json::json!({"name": name, "scope": "scim", "provider": provider}),
        )?;
        Ok(key)
    }

    pub fn api_keys(&self) -> Result<Vec<ApiKeyInfo>, AdminError> {
        Ok(self.directory.list_api_keys()?)
    }

    pub fn revoke_api_key(&self, id: i64) -> Result<(), AdminError> {
        if !self.directory.revoke_api_key(id, (self.now)())? {
            return Err(AdminError::NotFound {
                what: "live API key with id",
                name: id.to_string(),
            });
        }
        self.audit("admin.apikey.revoked", None, serde_json::json!({"id": id}))?;
        Ok(())
    }

    pub fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<(i64, AuditEvent)>, AdminError> {
        if !(1..=10_000).contains(&filter.limit) {
            return Err(AdminError::Invalid {
                field: "limit",
                message: format!("{} is outside 1–10000", filter.limit),
            });
        }
        Ok(self.directory.query_audit(filter)?)
    }

    /// Pre-provisions an account (Nextcloud's provisioning API); with a provider and
    /// subject it binds to that identity at its first sign-in. Refused when the
    /// username is taken.
    pub fn create_user(&self, row: ImportRow, now: i64) -> Result<UserDetail, AdminError> {
        let username = row.username.trim().to_owned();
        if username.is_empty() {
            return Err(AdminError::Invalid {
                field: "username",
                message: "is empty".into(),
            });
        }
        if self.directory.user_by_username(&username)?.is_some() {
            return Err(AdminError::Conflict(format!(
                "an account \"{username}\" already exists"
            )));
        }
        let out = self
            .directory
            .import_users(vec![row], now, false, None, Box::new(|_| {}))?;
        match out.into_iter().next() {
            Some(ImportOutcome::Created(id)) => {
                self.audit(
                    "admin.user.created",
                    Some(id),
                    serde_json::json!({"username": username}),
                )?;
                self.user(&id.to_string())
            }
            Some(ImportOutcome::Failed(why)) => Err(AdminError::Invalid {
                field: "body",
                message: why,
            }),
            Some(ImportOutcome::Conflict(why)) => Err(AdminError::Conflict(why)),
            Some(ImportOutcome::Updated(_) | ImportOutcome::Skipped(_)) => Err(
                AdminError::Conflict(format!("an account \"{username}\" already exists")),
            ),
            None => Err(AdminError::Store(StoreError::Corrupt(
                "the import answered nothing".into(),
            ))),
        }
    }

    /// Saves a provisioning settings document (global or a provider's): `changes`
    /// laid over what is saved (or, with `replace`, instead of it), accepted by `check`
    /// (the caller compiles the engine with it), stored and audited. The saved document.
    pub fn save_settings(
        &self,
        scope: &Scope,
        changes: serde_json::Map<String, serde_json::Value>,
        replace: bool,
        check: impl FnOnce(&serde_json::Value) -> Result<(), String>,
    ) -> Result<serde_json::Value, AdminError> {
        let mut doc = if replace {
            serde_json::Map::new()
        } else {
            match self.directory.get_settings(scope)? {
                Some(serde_json::Value::Object(m)) => m,
                _ => serde_json::Map::new(),
            }
        };
        doc.extend(changes.into_iter().filter(|(_, v)| !v.is_null()));
        let doc = serde_json::Value::Object(doc);
        check(&doc).map_err(|message| AdminError::Invalid {
            field: "settings",
            message,
        })?;
        let now = (self.now)();
        self.directory
            .put_settings(scope, &doc, Some(&self.actor), now)?;
        self.audit(
            "admin.settings.saved",
            None,
            serde_json::json!({"scope": scope.key(), "settings": doc}),
        )?;
        Ok(doc)
    }

    /// The account id behind a username, for filters.
    pub fn user_id(&self, who: &str) -> Result<UserId, AdminError> {
        Ok(self.find(who)?.0)
    }
}
