//! Users and Groups as ssogate keeps them, read from a SCIM body (POST, PUT, or a
//! resource after PATCH) and written back as SCIM resources. Only what the published
//! schemas declare is written, so strict clients validate what they get.

use crate::{GROUP_SCHEMA, ScimError, USER_SCHEMA, get_ci};
use serde_json::{Value, json};

/// What ssogate keeps of a SCIM User.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserData {
    pub user_name: String,
    pub display_name: Option<String>,
    /// The primary email (or the first).
    pub email: Option<String>,
    pub active: bool,
    pub external_id: Option<String>,
}

/// What ssogate keeps of a SCIM Group: its name, its externalId and who is in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupData {
    pub display_name: String,
    pub external_id: Option<String>,
    /// Members' `value`s (user ids).
    pub members: Vec<String>,
}

fn text(v: Option<&Value>, what: &str) -> Result<Option<String>, ScimError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(_) => Err(ScimError::invalid_value(format!("{what} is a string"))),
    }
}

/// `true`, `false`, or those words as strings in any case (Entra sends `"False"`).
fn boolean(v: Option<&Value>) -> Result<Option<bool>, ScimError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(ScimError::invalid_value("active is true or false")),
    }
}

impl UserData {
    /// Reads a User body. `userName` is required; the display name is `displayName`,
    /// else `name.formatted`, else given and family names; the email is the primary one.
    pub fn from_json(v: &Value) -> Result<UserData, ScimError> {
        if !v.is_object() {
            return Err(ScimError::invalid_syntax("a User is a JSON object"));
        }
        let user_name = text(get_ci(v, "userName"), "userName")?
            .ok_or_else(|| ScimError::invalid_value("userName is required"))?;
        let name = get_ci(v, "name");
        let display_name = match text(get_ci(v, "displayName"), "displayName")? {
            Some(d) => Some(d),
            None => match name {
                Some(n) => match text(get_ci(n, "formatted"), "name.formatted")? {
                    Some(f) => Some(f),
                    None => {
                        let parts: Vec<String> = [
                            text(get_ci(n, "givenName"), "name.givenName")?,
                            text(get_ci(n, "familyName"), "name.familyName")?,
                        ]
                        .into_iter()
                        .flatten()
                        .collect();
                        (!parts.is_empty()).then(|| parts.join(" "))
                    }
                },
                None => None,
            },
        };
        let email = match get_ci(v, "emails") {
            None | Some(Value::Null) => None,
            Some(Value::Array(list)) => {
                let primary = list
                    .iter()
                    .find(|e| boolean(get_ci(e, "primary")).ok().flatten() == Some(true))
                    .or_else(|| list.first());
                match primary {
                    Some(e) => text(get_ci(e, "value"), "emails.value")?,
                    None => None,
                }
            }
            Some(_) => return Err(ScimError::invalid_value("emails is a list")),
        };
        Ok(UserData {
            user_name,
            display_name,
            email,
            active: boolean(get_ci(v, "active"))?.unwrap_or(true),
            external_id: text(get_ci(v, "externalId"), "externalId")?,
        })
    }
}

impl GroupData {
    pub fn from_json(v: &Value) -> Result<GroupData, ScimError> {
        if !v.is_object() {
            return Err(ScimError::invalid_syntax("a Group is a JSON object"));
        }
        let display_name = text(get_ci(v, "displayName"), "displayName")?
            .ok_or_else(|| ScimError::invalid_value("displayName is required"))?;
        let members = match get_ci(v, "members") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list
                .iter()
                .map(|m| match get_ci(m, "value") {
                    Some(Value::String(s)) => Ok(s.clone()),
                    Some(Value::Number(n)) => Ok(n.to_string()),
                    _ => Err(ScimError::invalid_value(
                        "each member has a value (a User's id)",
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(ScimError::invalid_value("members is a list")),
        };
        Ok(GroupData {
            display_name,
            external_id: text(get_ci(v, "externalId"), "externalId")?,
            members,
        })
    }
}

/// `meta` of a resource. Times are RFC 3339; `version` is a weak ETag of the last change.
pub struct Meta<'a> {
    pub resource_type: &'a str,
    pub location: String,
    pub created: Option<String>,
    pub last_modified: Option<String>,
    pub version: Option<String>,
}

fn meta_json(m: &Meta<'_>) -> Value {
    let mut v = json!({"resourceType": m.resource_type, "location": m.location});
    if let Some(o) = v.as_object_mut() {
        for (k, x) in [
            ("created", &m.created),
            ("lastModified", &m.last_modified),
            ("version", &m.version),
        ] {
            if let Some(x) = x {
                o.insert(k.into(), x.clone().into());
            }
        }
    }
    v
}

/// A User resource. `groups` are (id, name) of every group the account is in.
pub fn user_json(id: &str, u: &UserData, groups: &[(String, String)], meta: &Meta<'_>) -> Value {
    let mut v = json!({
        "schemas": [USER_SCHEMA],
        "id": id,
        "userName": u.user_name,
        "active": u.active,
        "meta": meta_json(meta),
    });
    if let Some(o) = v.as_object_mut() {
        if let Some(x) = &u.external_id {
            o.insert("externalId".into(), x.clone().into());
        }
        if let Some(d) = &u.display_name {
            o.insert("displayName".into(), d.clone().into());
        }
        if let Some(e) = &u.email {
            o.insert("emails".into(), json!([{"value": e}]));
        }
        if !groups.is_empty() {
            let g: Vec<Value> = groups
                .iter()
                .map(|(id, name)| json!({"value": id, "display": name}))
                .collect();
            o.insert("groups".into(), g.into());
        }
    }
    v
}

/// A Group resource; `members` are (id, `$ref`) of the accounts SCIM put in it.
pub fn group_json(id: &str, g: &GroupData, member_refs: &[String], meta: &Meta<'_>) -> Value {
    let members: Vec<Value> = g
        .members
        .iter()
        .zip(member_refs)
        .map(|(m, r)| json!({"value": m, "$ref": r}))
        .collect();
    let mut v = json!({
        "schemas": [GROUP_SCHEMA],
        "id": id,
        "displayName": g.display_name,
        "members": members,
        "meta": meta_json(meta),
    });
    if let (Some(x), Some(o)) = (&g.external_id, v.as_object_mut()) {
        o.insert("externalId".into(), x.clone().into());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_read_as_identity_providers_write_them() {
        let okta = json!({"schemas": [USER_SCHEMA], "userName": "ada@example.org",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": "home@x", "type": "home"}, {"value": "ada@example.org", "primary": true, "type": "work"}],
            "active": true, "externalId": "00u1"});
        assert_eq!(
            UserData::from_json(&okta).unwrap(),
            UserData {
                user_name: "ada@example.org".into(),
                display_name: Some("Ada Lovelace".into()),
                email: Some("ada@example.org".into()),
                active: true,
                external_id: Some("00u1".into()),
            }
        );
        let entra = json!({"UserName": "bob", "Active": "False", "displayName": "Bob"});
        let u = UserData::from_json(&entra).unwrap();
        assert!(!u.active);
        assert_eq!(u.display_name.as_deref(), Some("Bob"));
        for bad in [
            json!({}),
            json!({"userName": 3}),
            json!({"userName": "a", "active": "no"}),
            json!([]),
        ] {
            assert_eq!(UserData::from_json(&bad).unwrap_err().status, 400, "{bad}");
        }
    }

    #[test]
    fn groups_are_read_with_their_members() {
        let g = GroupData::from_json(
            &json!({"displayName": "eng", "members": [{"value": "1"}, {"value": 2}]}),
        )
        .unwrap();
        assert_eq!(g.members, ["1", "2"]);
        assert!(GroupData::from_json(&json!({"members": []})).is_err());
    }
}
