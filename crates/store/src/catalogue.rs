//! The catalogue as administrators edit it: permissions, libraries and groups (with a
//! group's external ids), and how many accounts hold each. Renames carry every grant
//! along (foreign keys cascade); deletes take the grants away.

use crate::StoreError;
use crate::sql::{Db, args};
use serde::{Deserialize, Serialize};
use ssogate_core::domain::{Catalogue, Group, Library, Permission};

/// Which list of the catalogue an item belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    Permission,
    Library,
    Group,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Permission => "permission",
            ItemKind::Library => "library",
            ItemKind::Group => "group",
        }
    }

    pub fn parse(s: &str) -> Option<ItemKind> {
        match s {
            "permission" | "permissions" => Some(ItemKind::Permission),
            "library" | "libraries" => Some(ItemKind::Library),
            "group" | "groups" => Some(ItemKind::Group),
            _ => None,
        }
    }
}

impl std::fmt::Display for ItemKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One item: what it is called and what it carries. `label` is for permissions and
/// libraries, `required` for permissions, `external_ids` for groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub kind: ItemKind,
    pub name: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub external_ids: Vec<String>,
}

/// An item with the number of accounts holding it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    #[serde(flatten)]
    pub item: Item,
    pub holders: i64,
}

/// A change to the catalogue.
#[derive(Debug, Clone)]
pub enum Edit {
    Create(Item),
    /// Replaces the item called `name` (of `item.kind`) by `item`, renaming it if the
    /// names differ.
    Update {
        name: String,
        item: Item,
    },
    Delete {
        kind: ItemKind,
        name: String,
    },
}

/// What an edit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edited {
    /// Done; how many accounts held the item (those that lost it, for a delete).
    Done {
        holders: i64,
    },
    NotFound,
    /// Another item already has the (new) name.
    Taken,
}

/// The catalogue as stored.
pub(crate) fn load(db: &mut dyn Db) -> Result<Catalogue, StoreError> {
    let mut c = Catalogue::default();
    for e in read(db, false)? {
        let Item {
            kind,
            name,
            label,
            required,
            external_ids,
        } = e.item;
        match kind {
            ItemKind::Permission => c.permissions.push(Permission {
                name,
                label,
                required,
            }),
            ItemKind::Library => c.libraries.push(Library { name, label }),
            ItemKind::Group => c.groups.push(Group { name, external_ids }),
        }
    }
    Ok(c)
}

/// Every item, by kind then name, with its holders.
pub(crate) fn entries(db: &mut dyn Db) -> Result<Vec<Entry>, StoreError> {
    read(db, true)
}

/// The items; their holders counted only when asked (engines, rebuilt at every settings
/// change, need the names, not a count over every grant).
fn read(db: &mut dyn Db, counted: bool) -> Result<Vec<Entry>, StoreError> {
    let rows = if counted {
        db.query(
            "SELECT 0, p.name, p.label, p.required, (SELECT count(*) FROM user_permissions u WHERE u.permission = p.name), NULL
               FROM permissions p
             UNION ALL
             SELECT 1, l.name, l.label, 0 = 1, (SELECT count(*) FROM user_libraries u WHERE u.library = l.name), NULL
               FROM libraries l
             UNION ALL
             SELECT 2, g.name, NULL, 0 = 1, (SELECT count(*) FROM user_groups u WHERE u.group_id = g.id), e.external_id
               FROM groups g LEFT JOIN group_external_ids e ON e.group_id = g.id
             ORDER BY 1, 2, 6",
            &[],
        )?
    } else {
        db.query(
            "SELECT 0, name, label, required, 0, NULL FROM permissions
             UNION ALL
             SELECT 1, name, label, 0 = 1, 0, NULL FROM libraries
             UNION ALL
             SELECT 2, g.name, NULL, 0 = 1, 0, e.external_id
               FROM groups g LEFT JOIN group_external_ids e ON e.group_id = g.id
             ORDER BY 1, 2, 6",
            &[],
        )?
    };
    let mut out: Vec<Entry> = Vec::new();
    for r in rows {
        let kind = match r.get(0)?.int()? {
            0 => ItemKind::Permission,
            1 => ItemKind::Library,
            _ => ItemKind::Group,
        };
        let name = r.get(1)?.text()?;
        let external = r.get(5)?.opt_text()?;
        if let Some(last) = out.last_mut()
            && last.item.kind == ItemKind::Group
            && kind == ItemKind::Group
            && last.item.name == name
        {
            last.item.external_ids.extend(external);
            continue;
        }
        out.push(Entry {
            item: Item {
                kind,
                name,
                label: r.get(2)?.opt_text()?,
                required: r.get(3)?.bool()?,
                external_ids: external.into_iter().collect(),
            },
            holders: r.get(4)?.int()?,
        });
    }
    Ok(out)
}

fn find(db: &mut dyn Db, kind: ItemKind, name: &str) -> Result<Option<(i64, i64)>, StoreError> {
    // (group id or 0, holders)
    let rows = match kind {
        ItemKind::Permission => db.query(
            "SELECT 0, (SELECT count(*) FROM user_permissions WHERE permission = name) FROM permissions WHERE name = $1",
            args![name],
        )?,
        ItemKind::Library => db.query(
            "SELECT 0, (SELECT count(*) FROM user_libraries WHERE library = name) FROM libraries WHERE name = $1",
            args![name],
        )?,
        ItemKind::Group => db.query(
            "SELECT id, (SELECT count(*) FROM user_groups WHERE group_id = id) FROM groups WHERE lower(name) = lower($1)",
            args![name],
        )?,
    };
    rows.first()
        .map(|r| Ok((r.get(0)?.int()?, r.get(1)?.int()?)))
        .transpose()
}

fn set_external_ids(db: &mut dyn Db, group: i64, ids: &[String]) -> Result<(), StoreError> {
    db.exec(
        "DELETE FROM group_external_ids WHERE group_id = $1",
        args![group],
    )?;
    for id in ids {
        db.exec(
            "INSERT INTO group_external_ids (group_id, external_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            args![group, id],
        )?;
    }
    Ok(())
}

/// Makes one change; call it inside a transaction.
pub(crate) fn edit(db: &mut dyn Db, edit: &Edit) -> Result<Edited, StoreError> {
    match edit {
        Edit::Create(item) => {
            if find(db, item.kind, &item.name)?.is_some() {
                return Ok(Edited::Taken);
            }
            match item.kind {
                ItemKind::Permission => db.exec(
                    "INSERT INTO permissions (name, label, required) VALUES ($1, $2, $3)",
                    args![&item.name, &item.label, item.required],
                )?,
                ItemKind::Library => db.exec(
                    "INSERT INTO libraries (name, label) VALUES ($1, $2)",
                    args![&item.name, &item.label],
                )?,
                ItemKind::Group => {
                    let id = db
                        .query_int(
                            "INSERT INTO groups (name) VALUES ($1) RETURNING id",
                            args![&item.name],
                        )?
                        .ok_or_else(|| {
                            StoreError::Corrupt("INSERT … RETURNING returned nothing".into())
                        })?;
                    set_external_ids(db, id, &item.external_ids)?;
                    1
                }
            };
            Ok(Edited::Done { holders: 0 })
        }
        Edit::Update { name, item } => {
            let Some((id, holders)) = find(db, item.kind, name)? else {
                return Ok(Edited::NotFound);
            };
            let renamed = match item.kind {
                ItemKind::Group => !name.eq_ignore_ascii_case(&item.name),
                _ => *name != item.name,
            };
            if renamed && find(db, item.kind, &item.name)?.is_some() {
                return Ok(Edited::Taken);
            }
            match item.kind {
                ItemKind::Permission => db.exec(
                    "UPDATE permissions SET name = $2, label = $3, required = $4 WHERE name = $1",
                    args![name, &item.name, &item.label, item.required],
                )?,
                ItemKind::Library => db.exec(
                    "UPDATE libraries SET name = $2, label = $3 WHERE name = $1",
                    args![name, &item.name, &item.label],
                )?,
                ItemKind::Group => {
                    db.exec(
                        "UPDATE groups SET name = $2 WHERE id = $1",
                        args![id, &item.name],
                    )?;
                    set_external_ids(db, id, &item.external_ids)?;
                    1
                }
            };
            Ok(Edited::Done { holders })
        }
        Edit::Delete { kind, name } => {
            let Some((id, holders)) = find(db, *kind, name)? else {
                return Ok(Edited::NotFound);
            };
            match kind {
                ItemKind::Permission => {
                    db.exec("DELETE FROM permissions WHERE name = $1", args![name])?
                }
                ItemKind::Library => {
                    db.exec("DELETE FROM libraries WHERE name = $1", args![name])?
                }
                ItemKind::Group => db.exec("DELETE FROM groups WHERE id = $1", args![id])?,
            };
            Ok(Edited::Done { holders })
        }
    }
}
