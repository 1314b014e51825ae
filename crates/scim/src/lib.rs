//! ssogate-scim: SCIM 2.0 (RFC 7643, RFC 7644) as a protocol — filters parsed and
//! evaluated over resources ([`filter`]), PATCH operations applied to a resource's JSON
//! ([`patch`], with the dialects Entra ID and Okta send), Users and Groups read from and
//! written to JSON ([`resource`]), the discovery documents ([`discovery`]) and errors
//! ([`ScimError`]).
//!
//! It must not know SQL, routes, sessions or the directory: the server hands it JSON and
//! takes back what a request asks for.

pub mod discovery;
pub mod filter;
pub mod patch;
pub mod resource;

use serde_json::{Value, json};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// A SCIM error (RFC 7644 3.12): an HTTP status, a `scimType` for 400s and 409s, and
/// what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    pub fn new(status: u16, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
        }
    }
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::new(400, Some("invalidFilter"), detail)
    }
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::new(400, Some("invalidPath"), detail)
    }
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::new(400, Some("invalidValue"), detail)
    }
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::new(400, Some("invalidSyntax"), detail)
    }
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::new(400, Some("noTarget"), detail)
    }
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::new(400, Some("mutability"), detail)
    }
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(409, Some("uniqueness"), detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, None, detail)
    }

    /// The error document.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let (Some(t), Some(o)) = (self.scim_type, v.as_object_mut()) {
            o.insert("scimType".into(), t.into());
        }
        v
    }
}

/// A list response (RFC 7644 3.4.2): one page of `resources`, out of `total`.
pub fn list_response(total: usize, start_index: usize, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// Keeps what `attributes` asks for, or drops what `excludedAttributes` names (top-level
/// names, any case, with or without their schema URN; `a.b` keeps or drops all of `a`
/// when including, only `a.b` when excluding). `id` and `schemas` are always returned,
/// `meta` unless excluded.
pub fn project(resource: &mut Value, attributes: Option<&str>, excluded: Option<&str>) {
    let names = |s: &str| -> Vec<String> {
        s.split(',')
            .map(|n| strip_urn(n.trim()).to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .collect()
    };
    let Some(obj) = resource.as_object_mut() else {
        return;
    };
    if let Some(a) = attributes.filter(|a| !a.trim().is_empty()) {
        let keep: Vec<String> = names(a)
            .into_iter()
            .map(|n| n.split('.').next().unwrap_or_default().to_owned())
            .collect();
        obj.retain(|k, _| {
            let k = k.to_ascii_lowercase();
            matches!(k.as_str(), "id" | "schemas" | "meta") || keep.contains(&k)
        });
    } else if let Some(x) = excluded {
        for n in names(x) {
            match n.split_once('.') {
                None if n != "id" && n != "schemas" => {
                    obj.retain(|k, _| !k.eq_ignore_ascii_case(&n));
                }
                Some((top, sub)) => {
                    if let Some(inner) = obj
                        .iter_mut()
                        .find(|(k, _)| k.eq_ignore_ascii_case(top))
                        .map(|(_, v)| v)
                    {
                        let objects: Vec<&mut serde_json::Map<String, Value>> = match inner {
                            Value::Array(a) => {
                                a.iter_mut().filter_map(Value::as_object_mut).collect()
                            }
                            Value::Object(o) => vec![o],
                            _ => Vec::new(),
                        };
                        for o in objects {
                            o.retain(|k, _| !k.eq_ignore_ascii_case(sub));
                        }
                    }
                }
                None => {}
            }
        }
    }
}

/// `urn:…:User:userName` → `userName` (the core schemas' URNs only; an extension's
/// attribute keeps its URN, as its object does).
pub(crate) fn strip_urn(path: &str) -> &str {
    for urn in [USER_SCHEMA, GROUP_SCHEMA] {
        if path.len() > urn.len()
            && path[..urn.len()].eq_ignore_ascii_case(urn)
            && path.as_bytes().get(urn.len()) == Some(&b':')
        {
            return &path[urn.len() + 1..];
        }
    }
    path
}

/// A member of `obj` by name, in any case (SCIM attribute names are case-insensitive).
pub(crate) fn get_ci<'a>(obj: &'a Value, name: &str) -> Option<&'a Value> {
    obj.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_keep_and_exclude_top_level_names() {
        let r = json!({"id": "1", "schemas": [], "meta": {}, "userName": "a", "displayName": "A",
            "emails": [{"value": "a@x", "type": "work"}]});
        let mut k = r.clone();
        project(
            &mut k,
            Some("urn:ietf:params:scim:schemas:core:2.0:User:USERNAME"),
            None,
        );
        assert_eq!(
            k,
            json!({"id": "1", "schemas": [], "meta": {}, "userName": "a"})
        );
        let mut x = r.clone();
        project(&mut x, None, Some("displayName,emails.type,id"));
        assert_eq!(
            x,
            json!({"id": "1", "schemas": [], "meta": {}, "userName": "a", "emails": [{"value": "a@x"}]})
        );
    }
}
