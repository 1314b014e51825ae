//! Providers managed in the directory: added, changed and deleted by administrators.
//! A provider's document has the shape of a `[providers.<slug>]` table; the caller's
//! `check` builds it (this crate knows no configuration). The client secret is never
//! shown back nor written to the audit log. Those of the configuration file are changed
//! only there.

use crate::{Admin, AdminError};
use serde::Serialize;
use serde_json::{Map, Value};

/// A provider saved in the directory, as the surfaces show it (no secret).
#[derive(Debug, Clone, Serialize)]
pub struct ProviderRecord {
    pub slug: String,
    /// The saved document without `client_secret`.
    pub document: Value,
    pub client_secret_set: bool,
    /// Accounts with an identity at this provider.
    pub linked_accounts: i64,
}

const SECRET: &str = "client_secret";

fn redacted(doc: &Value) -> (Value, bool) {
    let mut doc = doc.clone();
    let set = doc
        .as_object_mut()
        .and_then(|m| m.remove(SECRET))
        .is_some_and(|s| s.as_str().is_some_and(|s| !s.is_empty()));
    (doc, set)
}

impl Admin {
    fn refuse_file_provider(&self, slug: &str) -> Result<(), AdminError> {
        if self.configured.providers.iter().any(|p| p == slug) {
            return Err(AdminError::Conflict(format!(
                "the provider \"{slug}\" is defined in the configuration file; change it there"
            )));
        }
        Ok(())
    }

    fn saved_provider(&self, slug: &str) -> Result<Value, AdminError> {
        self.refuse_file_provider(slug)?;
        self.directory
            .list_providers()?
            .into_iter()
            .find(|(s, _)| s == slug)
            .map(|(_, d)| d)
            .ok_or_else(|| AdminError::NotFound {
                what: "provider",
                name: slug.to_owned(),
            })
    }

    fn record(&self, slug: &str, doc: &Value) -> Result<ProviderRecord, AdminError> {
        let (document, client_secret_set) = redacted(doc);
        Ok(ProviderRecord {
            slug: slug.to_owned(),
            document,
            client_secret_set,
            linked_accounts: self.directory.accounts_linked_to(slug)?,
        })
    }

    /// Every provider saved in the directory.
    pub fn saved_providers(&self) -> Result<Vec<ProviderRecord>, AdminError> {
        self.directory
            .list_providers()?
            .iter()
            .map(|(slug, doc)| self.record(slug, doc))
            .collect()
    }

    /// One provider saved in the directory.
    pub fn saved_provider_record(&self, slug: &str) -> Result<ProviderRecord, AdminError> {
        let doc = self.saved_provider(slug)?;
        self.record(slug, &doc)
    }

    /// Adds a provider; `check` builds it from the document (and refuses what would not
    /// work: unknown keys, no issuer, a bad slug…).
    pub fn add_provider(
        &self,
        slug: &str,
        document: Map<String, Value>,
        check: impl FnOnce(&Value) -> Result<(), String>,
    ) -> Result<ProviderRecord, AdminError> {
        self.refuse_file_provider(slug)?;
        if self
            .directory
            .list_providers()?
            .iter()
            .any(|(s, _)| s == slug)
        {
            return Err(AdminError::Conflict(format!(
                "there is already a provider \"{slug}\"; change it, or choose another slug"
            )));
        }
        let doc = Value::Object(
            document
                .into_iter()
                .filter(|(k, v)| !(v.is_null() || (k == SECRET && v == "")))
                .collect(),
        );
        self.save_provider(slug, &doc, check, "admin.provider.created")
    }

    /// Changes a saved provider: each key of `changes` replaces the saved one, `null`
    /// removes it; a missing or empty `client_secret` keeps the saved secret.
    pub fn update_provider(
        &self,
        slug: &str,
        changes: Map<String, Value>,
        check: impl FnOnce(&Value) -> Result<(), String>,
    ) -> Result<ProviderRecord, AdminError> {
        let mut doc = match self.saved_provider(slug)? {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        for (k, v) in changes {
            if k == SECRET && (v.is_null() || v == "") {
                continue;
            }
            if v.is_null() {
                doc.remove(&k);
            } else {
                doc.insert(k, v);
            }
        }
        self.save_provider(slug, &Value::Object(doc), check, "admin.provider.updated")
    }

    /// Checks, stores and audits (without the secret) a provider's document.
    fn save_provider(
        &self,
        slug: &str,
        doc: &Value,
        check: impl FnOnce(&Value) -> Result<(), String>,
        event: &str,
    ) -> Result<ProviderRecord, AdminError> {
        check(doc).map_err(|message| AdminError::Invalid {
            field: "provider",
            message,
        })?;
        self.directory.put_provider(slug, doc, (self.now)())?;
        let (shown, _) = redacted(doc);
        self.audit(
            event,
            None,
            serde_json::json!({"provider": slug, "document": shown}),
        )?;
        self.record(slug, doc)
    }

    /// Every instance drops `slug`'s cached discovery document and keys and fetches
    /// them anew at its next use (after the provider rotated its keys); audited.
    pub fn refresh_keys(&self, slug: &str) -> Result<(), AdminError> {
        self.directory
            .announce(ssogate_store::invalidate::Invalidation::ProviderKeys(
                slug.to_owned(),
            ))?;
        self.audit(
            "admin.provider.keys_refreshed",
            None,
            serde_json::json!({"provider": slug}),
        )?;
        Ok(())
    }

    /// Deletes a saved provider; how many accounts were linked to it. Their accounts and
    /// identities stay (adding the provider again restores sign-in); the sessions begun
    /// through it end.
    pub fn delete_provider(&self, slug: &str) -> Result<i64, AdminError> {
        self.saved_provider(slug)?;
        let linked = self
            .directory
            .delete_provider(slug)?
            .ok_or_else(|| AdminError::NotFound {
                what: "provider",
                name: slug.to_owned(),
            })?;
        self.audit(
            "admin.provider.deleted",
            None,
            serde_json::json!({"provider": slug, "linked_accounts": linked}),
        )?;
        Ok(linked)
    }
}
