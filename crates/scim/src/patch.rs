//! PATCH (RFC 7644 3.5.2) applied to a resource's JSON: `add`, `replace` and `remove`,
//! with a path (`attr`, `attr.sub`, `attr[filter]`, `attr[filter].sub`) or, for `add`
//! and `replace`, without one (the value is an object of attributes — whose keys may
//! themselves be paths, as Entra ID sends `name.givenName`). Operation names are
//! case-insensitive (Entra sends `Replace`). Read-only attributes are refused.
//!
//! The server reads the result back as it reads a PUT, so PATCH and PUT cannot differ.

use crate::filter::{self, Filter, Path};
use crate::{PATCH_SCHEMA, ScimError, get_ci};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Add,
    Replace,
    Remove,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub kind: PatchKind,
    pub path: Option<Path>,
    pub value: Option<Value>,
}

/// Reads a PatchOp request body.
pub fn parse(body: &Value) -> Result<Vec<Operation>, ScimError> {
    let schemas_ok = get_ci(body, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|s| s.as_str() == Some(PATCH_SCHEMA)));
    if !schemas_ok {
        return Err(ScimError::invalid_syntax(format!(
            "a PATCH body names the schema {PATCH_SCHEMA}"
        )));
    }
    let ops = get_ci(body, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("a PATCH body has an Operations array"))?;
    ops.iter()
        .map(|o| {
            let kind = match get_ci(o, "op")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("add") => PatchKind::Add,
                Some("replace") => PatchKind::Replace,
                Some("remove") => PatchKind::Remove,
                _ => {
                    return Err(ScimError::invalid_syntax(
                        "each operation's op is add, replace or remove",
                    ));
                }
            };
            let path = match get_ci(o, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) if p.trim().is_empty() => None,
                Some(Value::String(p)) => Some(filter::parse_path(p)?),
                Some(_) => return Err(ScimError::invalid_path("path is a string")),
            };
            let value = get_ci(o, "value").cloned();
            if kind == PatchKind::Remove && path.is_none() {
                return Err(ScimError::no_target("remove needs a path"));
            }
            if kind != PatchKind::Remove && value.is_none() {
                return Err(ScimError::invalid_value("add and replace need a value"));
            }
            Ok(Operation { kind, path, value })
        })
        .collect()
}

/// Applies `ops` to `resource` in order. `read_only` are the top-level attributes a
/// client may not change (compared case-insensitively).
pub fn apply(resource: &mut Value, ops: &[Operation], read_only: &[&str]) -> Result<(), ScimError> {
    for op in ops {
        match (&op.path, op.kind) {
            (None, PatchKind::Remove) => return Err(ScimError::no_target("remove needs a path")),
            (None, kind) => {
                let Some(Value::Object(attrs)) = &op.value else {
                    return Err(ScimError::invalid_value(
                        "without a path, the value is an object of attributes",
                    ));
                };
                for (k, v) in attrs {
                    // A whole resource sent back (Okta renames a group with its `id` in
                    // the value): what cannot change is passed over, not refused.
                    if k.eq_ignore_ascii_case("schemas")
                        || read_only.iter().any(|r| r.eq_ignore_ascii_case(k))
                    {
                        continue;
                    }
                    let path = filter::parse_path(k)?;
                    // An extension given whole: its attributes one by one.
                    if k.to_ascii_lowercase().starts_with("urn:")
                        && path.extension.is_none()
                        && let Value::Object(inner) = v
                    {
                        for (ik, iv) in inner {
                            let p = filter::parse_path(&format!("{k}:{ik}"))?;
                            apply_one(resource, &p, kind, Some(iv), read_only)?;
                        }
                        continue;
                    }
                    apply_one(resource, &path, kind, Some(v), read_only)?;
                }
            }
            (Some(path), kind) => apply_one(resource, path, kind, op.value.as_ref(), read_only)?,
        }
    }
    Ok(())
}

fn key_ci(obj: &Map<String, Value>, name: &str) -> String {
    obj.keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or_else(|| name.to_owned())
}

fn holder_mut<'a>(
    resource: &'a mut Value,
    path: &Path,
) -> Result<&'a mut Map<String, Value>, ScimError> {
    let root = resource
        .as_object_mut()
        .ok_or_else(|| ScimError::invalid_syntax("the resource is not an object"))?;
    match &path.extension {
        None => Ok(root),
        Some(urn) => {
            let key = key_ci(root, urn);
            let ext = root.entry(key).or_insert_with(|| Value::Object(Map::new()));
            if !ext.is_object() {
                *ext = Value::Object(Map::new());
            }
            ext.as_object_mut()
                .ok_or_else(|| ScimError::invalid_syntax("an extension is not an object"))
        }
    }
}

fn apply_one(
    resource: &mut Value,
    path: &Path,
    kind: PatchKind,
    value: Option<&Value>,
    read_only: &[&str],
) -> Result<(), ScimError> {
    if path.extension.is_none() && read_only.iter().any(|r| r.eq_ignore_ascii_case(&path.attr)) {
        return Err(ScimError::mutability(format!(
            "{} cannot be changed",
            path.attr
        )));
    }
    let holder = holder_mut(resource, path)?;
    let key = key_ci(holder, &path.attr);
    match (&path.filter, &path.sub) {
        (None, None) => {
            match kind {
                PatchKind::Remove => {
                    match (holder.get_mut(&key), value) {
                        // `remove members` with a value: just those members (Okta, Entra).
                        (Some(Value::Array(items)), Some(Value::Array(gone))) => {
                            items.retain(|i| !gone.iter().any(|g| same_value(i, g)));
                        }
                        (Some(Value::Array(items)), Some(g @ Value::Object(_))) => {
                            items.retain(|i| !same_value(i, g));
                        }
                        _ => {
                            holder.remove(&key);
                        }
                    }
                }
                PatchKind::Replace => {
                    let v = value.cloned().unwrap_or(Value::Null);
                    match (holder.get_mut(&key), v) {
                        // Replacing part of a complex attribute keeps the rest (RFC 7644
                        // 3.5.2.3: "the set of sub-attributes … are replaced").
                        (Some(Value::Object(have)), Value::Object(new)) => {
                            for (k, v) in new {
                                let k2 = key_ci(have, &k);
                                have.insert(k2, v);
                            }
                        }
                        (_, v) => {
                            holder.insert(key, v);
                        }
                    }
                }
                PatchKind::Add => {
                    let v = value.cloned().unwrap_or(Value::Null);
                    match (holder.get_mut(&key), v) {
                        (Some(Value::Array(items)), Value::Array(new)) => {
                            for n in new {
                                if !items.iter().any(|i| same_value(i, &n)) {
                                    items.push(n);
                                }
                            }
                        }
                        (Some(Value::Array(items)), n @ Value::Object(_)) => {
                            if !items.iter().any(|i| same_value(i, &n)) {
                                items.push(n);
                            }
                        }
                        (Some(Value::Object(have)), Value::Object(new)) => {
                            for (k, v) in new {
                                let k2 = key_ci(have, &k);
                                have.insert(k2, v);
                            }
                        }
                        (_, v) => {
                            holder.insert(key, v);
                        }
                    }
                }
            }
            Ok(())
        }
        (None, Some(sub)) => {
            // `name.givenName`: a sub-attribute of a single complex attribute.
            let entry = holder
                .entry(key)
                .or_insert_with(|| Value::Object(Map::new()));
            match entry {
                Value::Object(o) => {
                    let k = key_ci(o, sub);
                    if kind == PatchKind::Remove {
                        o.remove(&k);
                    } else {
                        o.insert(k, value.cloned().unwrap_or(Value::Null));
                    }
                    Ok(())
                }
                Value::Array(items) => {
                    // `emails.value` on a multi-valued attribute: every element.
                    for i in items.iter_mut().filter_map(Value::as_object_mut) {
                        let k = key_ci(i, sub);
                        if kind == PatchKind::Remove {
                            i.remove(&k);
                        } else {
                            i.insert(k, value.cloned().unwrap_or(Value::Null));
                        }
                    }
                    Ok(())
                }
                _ => Err(ScimError::invalid_path(format!(
                    "{} has no sub-attributes",
                    path.attr
                ))),
            }
        }
        (Some(f), sub) => {
            let items = match holder.get_mut(&key) {
                Some(Value::Array(items)) => items,
                _ if kind == PatchKind::Remove => {
                    return Err(ScimError::no_target(format!(
                        "nothing in {} matches the filter",
                        path.attr
                    )));
                }
                _ => {
                    holder.insert(key.clone(), Value::Array(Vec::new()));
                    match holder.get_mut(&key) {
                        Some(Value::Array(items)) => items,
                        _ => return Err(ScimError::invalid_path("unreachable")),
                    }
                }
            };
            let hits: Vec<usize> = items
                .iter()
                .enumerate()
                .filter(|(_, i)| filter::matches(f, i))
                .map(|(n, _)| n)
                .collect();
            match (kind, sub) {
                (PatchKind::Remove, None) => {
                    if hits.is_empty() {
                        return Err(ScimError::no_target(format!(
                            "nothing in {} matches the filter",
                            path.attr
                        )));
                    }
                    let mut n = 0;
                    items.retain(|_| {
                        let keep = !hits.contains(&n);
                        n += 1;
                        keep
                    });
                }
                (PatchKind::Remove, Some(sub)) => {
                    for n in hits {
                        if let Some(Value::Object(o)) = items.get_mut(n) {
                            let k = key_ci(o, sub);
                            o.remove(&k);
                        }
                    }
                }
                (_, Some(sub)) if hits.is_empty() => {
                    // `emails[type eq "work"].value` where there is no work email yet:
                    // made, with what the filter says (what Entra ID expects).
                    let mut new = seed_from(f).ok_or_else(|| {
                        ScimError::no_target(format!("nothing in {} matches the filter", path.attr))
                    })?;
                    new.insert(sub.clone(), value.cloned().unwrap_or(Value::Null));
                    items.push(Value::Object(new));
                }
                (_, Some(sub)) => {
                    for n in hits {
                        if let Some(Value::Object(o)) = items.get_mut(n) {
                            let k = key_ci(o, sub);
                            o.insert(k, value.cloned().unwrap_or(Value::Null));
                        }
                    }
                }
                (_, None) => {
                    let Some(Value::Object(new)) = value else {
                        return Err(ScimError::invalid_value(format!(
                            "{}[…] takes an object",
                            path.attr
                        )));
                    };
                    if hits.is_empty() {
                        let mut seeded = seed_from(f).unwrap_or_default();
                        seeded.extend(new.clone());
                        items.push(Value::Object(seeded));
                    }
                    for n in hits {
                        if let Some(Value::Object(o)) = items.get_mut(n) {
                            for (k, v) in new {
                                let k2 = key_ci(o, k);
                                o.insert(k2, v.clone());
                            }
                        }
                    }
                }
            }
            Ok(())
        }
    }
}

/// The attributes an element must have to match a filter made only of `eq` on strings
/// joined by `and`.
fn seed_from(f: &Filter) -> Option<Map<String, Value>> {
    match f {
        Filter::Compare(p, filter::Op::Eq, v) if p.sub.is_none() && p.filter.is_none() => {
            let mut m = Map::new();
            m.insert(p.attr.clone(), v.clone());
            Some(m)
        }
        Filter::And(a, b) => {
            let mut m = seed_from(a)?;
            m.extend(seed_from(b)?);
            Some(m)
        }
        _ => None,
    }
}

/// Two elements of a multi-valued attribute are the same when their `value`s are (or,
/// without one, when they are equal).
fn same_value(a: &Value, b: &Value) -> bool {
    match (get_ci(a, "value"), get_ci(b, "value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(resource: Value, ops: Value) -> Result<Value, ScimError> {
        let body = json!({"schemas": [PATCH_SCHEMA], "Operations": ops});
        let mut r = resource;
        apply(&mut r, &parse(&body)?, &["id", "meta", "groups"])?;
        Ok(r)
    }

    #[test]
    fn the_entra_dialect_applies() {
        let r = json!({"userName": "ada", "active": true, "emails": [{"value": "a@x", "type": "work", "primary": true}]});
        let out = run(
            r,
            json!([
                {"op": "Replace", "path": "active", "value": "False"},
                {"op": "Add", "value": {"displayName": "Ada L", "name.givenName": "Ada"}},
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ada@x"},
                {"op": "Add", "path": "emails[type eq \"home\"].value", "value": "ada@home"},
                {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "R&D"}
            ]),
        )
        .unwrap();
        assert_eq!(out["active"], "False");
        assert_eq!(out["displayName"], "Ada L");
        assert_eq!(out["name"]["givenName"], "Ada");
        assert_eq!(out["emails"][0]["value"], "ada@x");
        assert_eq!(
            out["emails"][1],
            json!({"type": "home", "value": "ada@home"})
        );
        assert_eq!(
            out["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
            "R&D"
        );
    }

    #[test]
    fn okta_renames_a_group_with_its_id_in_the_value() {
        let g = json!({"id": "7", "displayName": "eng", "members": []});
        let out = run(
            g,
            json!([{"op": "replace", "value": {"id": "7", "displayName": "Engineering"}}]),
        )
        .unwrap();
        assert_eq!(
            (out["id"].as_str(), out["displayName"].as_str()),
            (Some("7"), Some("Engineering"))
        );
    }

    #[test]
    fn members_are_added_and_removed_by_value() {
        let g = json!({"displayName": "eng", "members": [{"value": "1"}, {"value": "2"}]});
        let out = run(
            g.clone(),
            json!([
                {"op": "add", "path": "members", "value": [{"value": "3"}, {"value": "1"}]},
                {"op": "remove", "path": "members[value eq \"2\"]"},
            ]),
        )
        .unwrap();
        assert_eq!(out["members"], json!([{"value": "1"}, {"value": "3"}]));
        let out = run(
            g,
            json!([{"op": "remove", "path": "members", "value": [{"value": "1"}]}]),
        )
        .unwrap();
        assert_eq!(out["members"], json!([{"value": "2"}]));
    }

    #[test]
    fn what_cannot_be_done_is_refused_with_its_scim_type() {
        let r = json!({"userName": "ada", "id": "1"});
        let cases = [
            (
                json!([{"op": "replace", "path": "id", "value": "2"}]),
                "mutability",
            ),
            (json!([{"op": "remove"}]), "noTarget"),
            (json!([{"op": "move", "path": "x"}]), "invalidSyntax"),
            (
                json!([{"op": "add", "path": "emails[type eq", "value": 1}]),
                "invalidPath",
            ),
            (
                json!([{"op": "remove", "path": "emails[type eq \"work\"]"}]),
                "noTarget",
            ),
            (json!([{"op": "replace", "value": "x"}]), "invalidValue"),
        ];
        for (ops, want) in cases {
            let e = run(r.clone(), ops.clone()).unwrap_err();
            assert_eq!(e.scim_type, Some(want), "{ops}: {e}");
        }
        let e = apply(&mut r.clone(), &[], &[]).map(|_| ());
        assert!(e.is_ok());
        let no_schema = parse(&json!({"Operations": []})).unwrap_err();
        assert_eq!(no_schema.scim_type, Some("invalidSyntax"));
    }
}
