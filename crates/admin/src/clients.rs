//! Clients of ssogate's OpenID Provider registered in the directory, as administrators
//! manage them (console, API, CLI): added with a secret shown once (kept only as its
//! digest), changed, re-keyed, removed; every change audited. What a client's settings
//! mean is checked by the caller's `check` (the configuration's rules for
//! `[clients.<id>]`): this crate knows no configuration.

use crate::{Admin, AdminError};
use serde::Serialize;
use serde_json::{Map, Value};
use ssogate_store::directory::clients::{ClientError, StoredClient};
use ssogate_store::sessions::{Secret, digest, new_client_secret};

/// A registered client as the API and CLI show it (never its secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClientInfo {
    /// What the application sends as `client_id`.
    pub client_id: String,
    /// Its settings: the keys of `[clients.<id>]` (docs/provider.md).
    #[schema(value_type = Object)]
    pub settings: Value,
    /// Whether it authenticates with a secret (not public, not `private_key_jwt`).
    pub confidential: bool,
    /// Unix seconds.
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<StoredClient> for ClientInfo {
    fn from(c: StoredClient) -> Self {
        ClientInfo {
            client_id: c.id,
            settings: c.spec,
            confidential: c.secret_sha256.is_some(),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// Checks a client's settings: `(client_id, settings, confidential)`, the message of
/// what is wrong otherwise.
pub type ClientCheck<'a> = &'a dyn Fn(&str, &Value, bool) -> Result<(), String>;

fn check_id(id: &str) -> Result<&str, AdminError> {
    let ok = !id.is_empty()
        && id.len() <= 100
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(id)
    } else {
        Err(AdminError::Invalid {
            field: "client_id",
            message: "use 1–100 letters, digits, `-`, `_` or `.`".into(),
        })
    }
}

/// Whether a client authenticates with a secret: not a public one (`public = true`),
/// not one that signs with its own key (`private_key_jwt`).
fn needs_secret(settings: &Value) -> bool {
    settings.get("public").and_then(Value::as_bool) != Some(true)
        && settings
            .get("token_endpoint_auth_method")
            .and_then(Value::as_str)
            != Some("private_key_jwt")
}

impl Admin {
    fn client_named(&self, id: &str) -> Result<StoredClient, AdminError> {
        self.directory
            .op_client(id)?
            .ok_or_else(|| AdminError::NotFound {
                what: "client",
                name: id.to_owned(),
            })
    }

    fn refuse_file_client(&self, id: &str) -> Result<(), AdminError> {
        if self.configured.clients.iter().any(|c| c == id) {
            return Err(AdminError::Conflict(format!(
                "the client \"{id}\" is defined in the configuration file; change it there, or choose another id"
            )));
        }
        Ok(())
    }

    /// Registers a client; a confidential one's secret is returned once (only its
    /// digest is kept).
    pub fn add_client(
        &self,
        id: &str,
        settings: Map<String, Value>,
        check: ClientCheck<'_>,
    ) -> Result<(ClientInfo, Option<Secret>), AdminError> {
        let id = check_id(id)?;
        self.refuse_file_client(id)?;
        let settings = Value::Object(settings.into_iter().filter(|(_, v)| !v.is_null()).collect());
        let confidential = needs_secret(&settings);
        check(id, &settings, confidential).map_err(|message| AdminError::Invalid {
            field: "settings",
            message,
        })?;
        let secret = confidential.then(new_client_secret).transpose()?;
        let stored = match self.directory.add_op_client(
            id,
            &settings,
            secret.as_ref().map(|s| digest(s.expose())).as_deref(),
            (self.now)(),
        )? {
            Ok(c) => c,
            Err(e @ ClientError::IdTaken(_)) => return Err(AdminError::Conflict(e.to_string())),
        };
        self.audit(
            "admin.client.created",
            None,
            serde_json::json!({"client_id": id, "settings": settings, "confidential": confidential}),
        )?;
        Ok((stored.into(), secret))
    }

    /// Every client registered in the directory (the file's are in the file).
    pub fn clients(&self) -> Result<Vec<ClientInfo>, AdminError> {
        Ok(self
            .directory
            .op_clients()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    pub fn client(&self, id: &str) -> Result<ClientInfo, AdminError> {
        self.client_named(id).map(Into::into)
    }

    /// Changes a client: each key of `changes` replaces the saved one, `null` removes it.
    /// Whether it is public cannot change (its secret would not fit): remove it and add
    /// it again.
    pub fn update_client(
        &self,
        id: &str,
        changes: Map<String, Value>,
        check: ClientCheck<'_>,
    ) -> Result<ClientInfo, AdminError> {
        let saved = self.client_named(id)?;
        let mut settings = match saved.spec {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        for (k, v) in changes {
            if v.is_null() {
                settings.remove(&k);
            } else {
                settings.insert(k, v);
            }
        }
        self.save_client(id, settings, saved.secret_sha256.is_some(), check)
    }

    /// Replaces a client's settings whole (what `settings` leaves out is removed), with
    /// the checks of [`Admin::update_client`].
    pub fn replace_client(
        &self,
        id: &str,
        settings: Map<String, Value>,
        check: ClientCheck<'_>,
    ) -> Result<ClientInfo, AdminError> {
        let saved = self.client_named(id)?;
        self.save_client(id, settings, saved.secret_sha256.is_some(), check)
    }

    fn save_client(
        &self,
        id: &str,
        settings: Map<String, Value>,
        confidential: bool,
        check: ClientCheck<'_>,
    ) -> Result<ClientInfo, AdminError> {
        let settings = Value::Object(settings);
        if needs_secret(&settings) != confidential {
            return Err(AdminError::Invalid {
                field: "public",
                message: "whether a client has a secret (public, private_key_jwt) cannot change; remove it and add it again".into(),
            });
        }
        check(id, &settings, confidential).map_err(|message| AdminError::Invalid {
            field: "settings",
            message,
        })?;
        if !self
            .directory
            .update_op_client(id, &settings, (self.now)())?
        {
            return Err(AdminError::NotFound {
                what: "client",
                name: id.to_owned(),
            });
        }
        self.audit(
            "admin.client.updated",
            None,
            serde_json::json!({"client_id": id, "settings": settings}),
        )?;
        self.client(id)
    }

    /// A new secret for a confidential client, returned once; the old one stops working
    /// at once.
    pub fn rotate_client_secret(&self, id: &str) -> Result<Secret, AdminError> {
        let saved = self.client_named(id)?;
        if saved.secret_sha256.is_none() {
            return Err(AdminError::Invalid {
                field: "client_id",
                message: format!("\"{id}\" has no secret (a public or private_key_jwt client)"),
            });
        }
        let secret = new_client_secret()?;
        if !self
            .directory
            .set_op_client_secret(id, &digest(secret.expose()), (self.now)())?
        {
            return Err(AdminError::NotFound {
                what: "client",
                name: id.to_owned(),
            });
        }
        self.audit(
            "admin.client.secret_rotated",
            None,
            serde_json::json!({"client_id": id}),
        )?;
        Ok(secret)
    }

    /// Removes a client and everything it was issued (its tokens stop working).
    pub fn remove_client(&self, id: &str) -> Result<(), AdminError> {
        self.refuse_file_client(id)?;
        if !self.directory.remove_op_client(id)? {
            return Err(AdminError::NotFound {
                what: "client",
                name: id.to_owned(),
            });
        }
        self.audit(
            "admin.client.deleted",
            None,
            serde_json::json!({"client_id": id}),
        )?;
        Ok(())
    }
}
