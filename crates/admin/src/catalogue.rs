//! The catalogue: permissions, libraries and groups (with a group's external ids),
//! created, renamed and deleted. Items the configuration file defines are shown but
//! changed only there (the file is synced into the directory at every start, so an edit
//! here would silently come back).

use crate::{Admin, AdminError};
use serde::Serialize;
use ssogate_core::domain::Catalogue;
use ssogate_store::catalogue::{Edit, Edited, Entry, Item, ItemKind};

/// One item as the surfaces show it.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogueItem {
    #[serde(flatten)]
    pub entry: Entry,
    /// `config` (read-only here) or `database`.
    pub managed_by: &'static str,
}

const MAX_NAME: usize = 100;

fn invalid(field: &'static str, message: impl Into<String>) -> AdminError {
    AdminError::Invalid {
        field,
        message: message.into(),
    }
}

/// Trims and checks an item: names appear in identity headers (comma-separated lists)
/// and forward-auth query parameters, so no commas or control characters, and no
/// spaces in permission and library names.
fn clean(mut item: Item) -> Result<Item, AdminError> {
    item.name = item.name.trim().to_owned();
    let name = &item.name;
    if name.is_empty() {
        return Err(invalid("name", "is empty"));
    }
    if name.chars().count() > MAX_NAME {
        return Err(invalid(
            "name",
            format!("is longer than {MAX_NAME} characters"),
        ));
    }
    if name.chars().any(|c| c.is_control() || c == ',') {
        return Err(invalid(
            "name",
            "must not contain commas or control characters",
        ));
    }
    if item.kind != ItemKind::Group && name.chars().any(char::is_whitespace) {
        return Err(invalid(
            "name",
            format!("a {} name has no spaces (use - or _)", item.kind),
        ));
    }
    item.label = item
        .label
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty());
    if let Some(l) = &item.label
        && (l.chars().count() > 200 || l.chars().any(char::is_control))
    {
        return Err(invalid(
            "label",
            "must be at most 200 characters, without control characters",
        ));
    }
    if item.kind != ItemKind::Permission && item.required {
        return Err(invalid("required", "only permissions can be required"));
    }
    if item.kind != ItemKind::Group && !item.external_ids.is_empty() {
        return Err(invalid("external_ids", "only groups have external ids"));
    }
    let mut ids: Vec<String> = Vec::new();
    for id in item.external_ids.drain(..) {
        let id = id.trim().to_owned();
        if id.is_empty() {
            continue;
        }
        if id.chars().count() > 200 || id.chars().any(char::is_control) {
            return Err(invalid(
                "external_ids",
                "each must be at most 200 characters, without control characters",
            ));
        }
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    item.external_ids = ids;
    Ok(item)
}

impl Admin {
    fn configured_item(&self, kind: ItemKind, name: &str) -> bool {
        let c = &self.configured.catalogue;
        match kind {
            ItemKind::Permission => c.permissions.iter().any(|p| p.name == name),
            ItemKind::Library => c.libraries.iter().any(|l| l.name == name),
            ItemKind::Group => c.groups.iter().any(|g| g.name.eq_ignore_ascii_case(name)),
        }
    }

    fn refuse_configured(&self, kind: ItemKind, name: &str) -> Result<(), AdminError> {
        if self.configured_item(kind, name) {
            return Err(AdminError::Conflict(format!(
                "the {kind} \"{name}\" is defined in the configuration file's [catalogue]; change it there"
            )));
        }
        Ok(())
    }

    /// Every item with its holders and where it is managed.
    pub fn catalogue(&self) -> Result<Vec<CatalogueItem>, AdminError> {
        Ok(self
            .directory
            .catalogue_entries()?
            .into_iter()
            .map(|entry| CatalogueItem {
                managed_by: if self.configured_item(entry.item.kind, &entry.item.name) {
                    "config"
                } else {
                    "database"
                },
                entry,
            })
            .collect())
    }

    /// One item by kind and name (a group's name in any case).
    pub fn catalogue_item(&self, kind: ItemKind, name: &str) -> Result<CatalogueItem, AdminError> {
        self.catalogue()?
            .into_iter()
            .find(|i| {
                i.entry.item.kind == kind
                    && if kind == ItemKind::Group {
                        i.entry.item.name.eq_ignore_ascii_case(name)
                    } else {
                        i.entry.item.name == name
                    }
            })
            .ok_or_else(|| AdminError::NotFound {
                what: kind.as_str(),
                name: name.to_owned(),
            })
    }

    /// The catalogue as it would be after `edit`, for the caller's check (do the
    /// providers' policies still name only permissions that exist?).
    fn after(&self, edit: &Edit) -> Result<Catalogue, AdminError> {
        let mut c = self.directory.catalogue()?;
        let perm = |i: &Item| ssogate_core::domain::Permission {
            name: i.name.clone(),
            label: i.label.clone(),
            required: i.required,
        };
        match edit {
            Edit::Create(i) if i.kind == ItemKind::Permission => c.permissions.push(perm(i)),
            Edit::Update { name, item } if item.kind == ItemKind::Permission => {
                c.permissions.retain(|p| p.name != *name);
                c.permissions.push(perm(item));
            }
            Edit::Delete {
                kind: ItemKind::Permission,
                name,
            } => c.permissions.retain(|p| p.name != *name),
            _ => {}
        }
        Ok(c)
    }

    fn edit_catalogue(
        &self,
        edit: Edit,
        check: impl FnOnce(&Catalogue) -> Result<(), String>,
    ) -> Result<i64, AdminError> {
        let (kind, name) = match &edit {
            Edit::Create(i) => (i.kind, i.name.clone()),
            Edit::Update { name, item } => (item.kind, name.clone()),
            Edit::Delete { kind, name } => (*kind, name.clone()),
        };
        check(&self.after(&edit)?).map_err(|message| invalid("catalogue", message))?;
        match self.directory.edit_catalogue(edit.clone())? {
            Edited::Done { holders } => {
                let (event, detail) = match &edit {
                    Edit::Create(i) => ("admin.catalogue.created", serde_json::json!({"item": i})),
                    Edit::Update { name, item } => (
                        "admin.catalogue.updated",
                        serde_json::json!({"name": name, "item": item, "holders": holders}),
                    ),
                    Edit::Delete { kind, name } => (
                        "admin.catalogue.deleted",
                        serde_json::json!({"kind": kind, "name": name, "holders": holders}),
                    ),
                };
                self.audit(event, None, detail)?;
                Ok(holders)
            }
            Edited::NotFound => Err(AdminError::NotFound {
                what: kind.as_str(),
                name,
            }),
            Edited::Taken => Err(AdminError::Conflict(format!(
                "there is already a {kind} with that name; choose another"
            ))),
        }
    }

    /// Creates an item; `check` sees the catalogue after the change.
    pub fn create_item(
        &self,
        item: Item,
        check: impl FnOnce(&Catalogue) -> Result<(), String>,
    ) -> Result<CatalogueItem, AdminError> {
        let item = clean(item)?;
        let (kind, name) = (item.kind, item.name.clone());
        if self.configured_item(kind, &name) {
            return Err(AdminError::Conflict(format!(
                "there is already a {kind} \"{name}\" (in the configuration file)"
            )));
        }
        self.edit_catalogue(Edit::Create(item), check)?;
        self.catalogue_item(kind, &name)
    }

    /// Changes an item (renaming it when `item.name` differs): every grant follows.
    pub fn update_item(
        &self,
        name: &str,
        item: Item,
        check: impl FnOnce(&Catalogue) -> Result<(), String>,
    ) -> Result<CatalogueItem, AdminError> {
        let item = clean(item)?;
        self.catalogue_item(item.kind, name)?;
        self.refuse_configured(item.kind, name)?;
        if !name.eq_ignore_ascii_case(&item.name) && self.configured_item(item.kind, &item.name) {
            return Err(AdminError::Conflict(format!(
                "there is already a {} \"{}\" (in the configuration file)",
                item.kind, item.name
            )));
        }
        let (kind, new) = (item.kind, item.name.clone());
        self.edit_catalogue(
            Edit::Update {
                name: name.to_owned(),
                item,
            },
            check,
        )?;
        self.catalogue_item(kind, &new)
    }

    /// Deletes an item and every grant of it; how many accounts held it.
    pub fn delete_item(
        &self,
        kind: ItemKind,
        name: &str,
        check: impl FnOnce(&Catalogue) -> Result<(), String>,
    ) -> Result<i64, AdminError> {
        self.catalogue_item(kind, name)?;
        self.refuse_configured(kind, name)?;
        self.edit_catalogue(
            Edit::Delete {
                kind,
                name: name.to_owned(),
            },
            check,
        )
    }
}
