//! The discovery documents (RFC 7644 4, RFC 7643 5–7): what the server supports, its
//! resource types, and the schemas — exactly the attributes ssogate keeps, so a client
//! that builds its model from them sends and expects nothing else.

use crate::{GROUP_SCHEMA, USER_SCHEMA};
use serde_json::{Value, json};

const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RT_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// Pages hold at most this many resources.
pub const MAX_RESULTS: usize = 200;

/// (No `documentationUri`: ssogate serves no SCIM page of its own; docs/scim.md is in
/// the distribution.)
pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": [SPC_SCHEMA],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A SCIM token bound to one provider: ssogate apikey create NAME --scope scim --provider SLUG",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}

pub fn resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": [RT_SCHEMA], "id": "User", "name": "User", "endpoint": "/Users",
            "description": "An account", "schema": USER_SCHEMA, "schemaExtensions": [],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")},
        }),
        json!({
            "schemas": [RT_SCHEMA], "id": "Group", "name": "Group", "endpoint": "/Groups",
            "description": "A group; membership pushed here is the group's SCIM grant",
            "schema": GROUP_SCHEMA, "schemaExtensions": [],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")},
        }),
    ]
}

fn attr(name: &str, kind: &str, extra: Value) -> Value {
    let mut v = json!({
        "name": name, "type": kind, "multiValued": false, "description": "",
        "required": false, "caseExact": false, "mutability": "readWrite",
        "returned": "default", "uniqueness": "none",
    });
    if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    v
}

pub fn schemas(base: &str) -> Vec<Value> {
    let user = json!({
        "schemas": [SCHEMA_SCHEMA], "id": USER_SCHEMA, "name": "User", "description": "User Account",
        "attributes": [
            attr("userName", "string", json!({"required": true, "uniqueness": "server",
                "description": "The account's username, unique (any case)"})),
            attr("displayName", "string", json!({"description": "The account's display name"})),
            attr("active", "boolean", json!({"description": "false disables the account (its sessions end)"})),
            attr("emails", "complex", json!({"multiValued": true,
                "description": "The account's email: one is kept (the primary one when several are sent)",
                "subAttributes": [
                    attr("value", "string", json!({})),
                ]})),
            attr("groups", "complex", json!({"multiValued": true, "mutability": "readOnly",
                "description": "Every group the account is in (from any source)",
                "subAttributes": [
                    attr("value", "string", json!({"mutability": "readOnly", "caseExact": true})),
                    attr("display", "string", json!({"mutability": "readOnly"})),
                ]})),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{USER_SCHEMA}")},
    });
    let group = json!({
        "schemas": [SCHEMA_SCHEMA], "id": GROUP_SCHEMA, "name": "Group", "description": "Group",
        "attributes": [
            attr("displayName", "string", json!({"required": true, "uniqueness": "server",
                "description": "The group's name, unique (any case)"})),
            attr("members", "complex", json!({"multiValued": true,
                "description": "The accounts this SCIM client put in the group",
                "subAttributes": [
                    attr("value", "string", json!({"mutability": "immutable", "caseExact": true})),
                    attr("$ref", "reference", json!({"mutability": "immutable", "referenceTypes": ["User"], "caseExact": true})),
                ]})),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{GROUP_SCHEMA}")},
    });
    vec![user, group]
}
