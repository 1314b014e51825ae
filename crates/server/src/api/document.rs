//! The OpenAPI document as served: what utoipa derives from the handlers, finished so it
//! says exactly what the server checks — every response described, errors as
//! `application/problem+json`, the framework's own refusals declared, query and body
//! fields as strict as the handlers (enums, patterns that mirror the trimming and the
//! character rules), and, per request, the names that must exist: catalogue items and
//! provider slugs as enums. A client generated from it, or a fuzzer, then sends what the
//! server accepts, and everything else is refused.

use serde_json::{Map, Value, json};
use ssogate_core::domain::Catalogue;

const PROBLEM: &str = "application/problem+json";

/// Sets `v[keys…]`, making the objects on the way (what `v["a"]["b"] = x` would do,
/// without its panic when something on the way is not an object).
fn put(v: &mut Value, keys: &[&str], new: Value) {
    let Some((last, path)) = keys.split_last() else {
        *v = new;
        return;
    };
    let mut at = v;
    for k in path {
        if !at.is_object() {
            *at = Value::Object(Map::new());
        }
        let Some(obj) = at.as_object_mut() else {
            return;
        };
        at = obj.entry(*k).or_insert_with(|| Value::Object(Map::new()));
    }
    if !at.is_object() {
        *at = Value::Object(Map::new());
    }
    if let Some(obj) = at.as_object_mut() {
        obj.insert((*last).to_owned(), new);
    }
}

/// Control characters (`char::is_control`), as a regular-expression class body.
const CTRL: &str = r"\u0000-\u001f\u007f-\u009f";
/// Rust's `char::is_whitespace` (what `trim` removes), as a class body.
const WS: &str = r"\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// A value the server trims and then wants 1..=`max` characters of `inner`, with no
/// whitespace at either end of what is left (`inner` excludes control characters).
fn trimmed(inner: &str, max: usize) -> String {
    let edge = format!("[^{WS}{CTRL}{inner}]");
    let body = format!("[^{CTRL}{inner}]");
    format!(
        "^[{WS}]*{edge}(?:{body}{{0,{}}}{edge})?[{WS}]*$",
        max.saturating_sub(2)
    )
}

/// Like [`trimmed`], where whitespace is refused inside too (permission and library
/// names).
fn trimmed_word(inner: &str, max: usize) -> String {
    format!("^[{WS}]*[^{WS}{CTRL}{inner}]{{1,{max}}}[{WS}]*$")
}

fn reason(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "204" => "Done; no content",
        "400" => "The request is malformed (a problem document says where)",
        "401" => "No valid API key: send `Authorization: Bearer ssg_…`",
        "403" => "The key's scope does not allow this",
        "404" => "Not found",
        "405" => "This method is not allowed here",
        "409" => "Conflicts with what exists",
        "413" => "The body is too large",
        "415" => "The body must be JSON (`Content-Type: application/json`)",
        "422" => "Invalid input (a problem document names the field)",
        "503" => "The directory cannot be reached; try again (see `Retry-After`)",
        _ => "See the problem document",
    }
}

fn problem_response(status: &str) -> Value {
    json!({
        "description": reason(status),
        "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    })
}

fn is_problem(content: &Value) -> bool {
    content
        .get("application/json")
        .and_then(|c| c.pointer("/schema/$ref"))
        .and_then(Value::as_str)
        == Some("#/components/schemas/Problem")
}

/// The static part, done once when the router is built.
pub(crate) fn finish(doc: &utoipa::openapi::OpenApi) -> Value {
    let mut v = serde_json::to_value(doc).unwrap_or_else(|_| json!({}));
    split_catalogue_paths(&mut v);
    split_grant_paths(&mut v);
    if let Some(paths) = v.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, op) in item.iter_mut() {
                finish_operation(path, method, op);
            }
        }
    }
    tighten_schemas(&mut v);
    v
}

fn finish_operation(path: &str, method: &str, op: &mut Value) {
    let has_body = op.get("requestBody").is_some();
    let has_query = op["parameters"]
        .as_array()
        .is_some_and(|a| a.iter().any(|p| p["in"] == "query"));
    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        for p in params.iter_mut() {
            tighten_parameter(path, p);
        }
    }
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    for (status, r) in responses.iter_mut() {
        let Some(r) = r.as_object_mut() else { continue };
        if r.get("description")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            r.insert("description".into(), Value::from(reason(status)));
        }
        if let Some(content) = r.get_mut("content")
            && is_problem(content)
            && let Some(c) = content.as_object_mut()
            && let Some(schema) = c.remove("application/json")
        {
            c.insert(PROBLEM.into(), schema);
        }
    }
    // What every API operation may answer besides its own: the key check, the
    // directory being down; a body that is not JSON or too large, and 422 for bad
    // fields or query parameters.
    let mut common = vec!["401", "503"];
    if has_body {
        common.extend(["413", "415", "422"]);
    }
    if method == "get" && path.contains('{') {
        common.push("404");
    }
    if has_query {
        common.push("422");
    }
    // A path or query string the framework cannot read at all (a repeated parameter,
    // bad percent-encoding).
    if has_query || path.contains('{') {
        common.push("400");
    }
    for status in common {
        responses
            .entry(status)
            .or_insert_with(|| problem_response(status));
    }
}

fn tighten_parameter(path: &str, p: &mut Value) {
    let name = p["name"].as_str().unwrap_or_default().to_owned();
    let strings = |values: &[&str]| json!({"type": "string", "enum": values});
    let int = |min: i64, max: i64| json!({"type": "integer", "minimum": min, "maximum": max});
    let schema = match (path, name.as_str()) {
        ("/api/v1/users", "status") => strings(&["active", "disabled", "pending"]),
        ("/api/v1/users", "source") => strings(&["local", "provider", "api"]),
        ("/api/v1/users", "sort") => strings(&["username", "created", "last_login"]),
        ("/api/v1/users", "admin" | "desc") => strings(&["true", "false"]),
        ("/api/v1/users", "limit") => int(1, 500),
        // A cursor is handed out by the previous page; made-up ones are refused.
        ("/api/v1/users", "after") => json!({"type": "string", "pattern": "^[A-Za-z0-9_-]+$"}),
        ("/api/v1/audit", "outcome") => strings(&["success", "failure"]),
        ("/api/v1/audit", "from" | "to" | "before") => {
            json!({"type": "integer", "format": "int64"})
        }
        ("/api/v1/audit", "limit") => int(1, 1000),
        ("/api/v1/webhooks/{name}/deliveries", "before") => {
            json!({"type": "integer", "format": "int64"})
        }
        ("/api/v1/webhooks/{name}/deliveries", "limit") => int(1, 1000),
        _ => return,
    };
    put(p, &["schema"], schema);
}

/// Bodies: names, labels, addresses as the handlers check them.
fn tighten_schemas(v: &mut Value) {
    let Some(schemas) = v
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let text = |max: usize| json!({"type": "string", "pattern": trimmed("", max)});
    if let Some(s) = schemas.get_mut("UserChange") {
        put(
            s,
            &["properties", "display_name"],
            json!({"type": ["string", "null"], "pattern": format!("^[{WS}]*(?:[^{WS}{CTRL}](?:[^{CTRL}]{{0,198}}[^{WS}{CTRL}])?)?[{WS}]*$")}),
        );
        put(
            s,
            &["properties", "email"],
            json!({"type": ["string", "null"], "pattern": format!("^[{WS}]*(?:[^{WS}@]{{1,160}}@[^{WS}]{{1,159}})?[{WS}]*$")}),
        );
        put(
            s,
            &["properties", "status"],
            json!({"type": ["string", "null"], "enum": ["active", "disabled", null]}),
        );
    }
    if let Some(s) = schemas.get_mut("NewUser") {
        // As `import` checks a row: a valid username as given; provider with subject or
        // external id, and neither without it.
        let nullable = |pattern: String| json!({"type": ["string", "null"], "pattern": pattern});
        put(
            s,
            &["properties", "username"],
            json!({"type": "string", "pattern": "^[A-Za-z0-9@](?:[A-Za-z0-9@._-]{0,62}[A-Za-z0-9@])?$"}),
        );
        put(
            s,
            &["properties", "email"],
            nullable(format!("^[^@{WS}{CTRL}]+@[^{WS}{CTRL}]*\\.[^{WS}{CTRL}]*$")),
        );
        put(
            s,
            &["properties", "display_name"],
            nullable(format!("^[^{CTRL}]{{0,200}}$")),
        );
        put(
            s,
            &["properties", "quota"],
            nullable(format!("^[^{CTRL}]{{0,64}}$")),
        );
        for key in ["subject", "external_id"] {
            put(
                s,
                &["properties", key],
                nullable(format!("^[^{CTRL}]{{1,255}}$")),
            );
        }
        let given = |key: &str| json!({"required": [key], "properties": {key: {"type": "string"}}});
        put(
            s,
            &["allOf"],
            json!([
                {"if": given("subject"), "then": given("provider")},
                {"if": given("external_id"), "then": given("provider")},
                {"if": given("provider"), "then": {"anyOf": [given("subject"), given("external_id")]}},
            ]),
        );
    }
    // Webhooks: a name, a URL and events exactly as `ssogate-admin` checks them.
    let hook_url = format!(
        "^[{WS}]*(?:https://[^{WS}{CTRL}]+|http://(?:localhost|127\\.0\\.0\\.1|\\[::1\\])(?::[0-9]{{1,5}})?(?:[/?#][^{WS}{CTRL}]*)?)[{WS}]*$"
    );
    let events: Vec<&str> = std::iter::once("*")
        .chain(
            ssogate_core::events::EventType::ALL
                .iter()
                .map(|e| e.as_str()),
        )
        .collect();
    let events = json!({"type": "array", "items": {"type": "string", "enum": events}});
    if let Some(s) = schemas.get_mut("NewWebhook") {
        put(
            s,
            &["properties", "name"],
            json!({"type": "string", "pattern": format!("^[{WS}]*[A-Za-z0-9._-]{{1,64}}[{WS}]*$")}),
        );
        put(
            s,
            &["properties", "url"],
            json!({"type": "string", "maxLength": 2000, "pattern": hook_url}),
        );
        put(s, &["properties", "events"], events.clone());
    }
    if let Some(s) = schemas.get_mut("WebhookChange") {
        put(
            s,
            &["properties", "url"],
            json!({"type": ["string", "null"], "maxLength": 2000, "pattern": hook_url}),
        );
        let mut nullable = events;
        put(&mut nullable, &["type"], json!(["array", "null"]));
        put(s, &["properties", "events"], nullable);
    }
    if let Some(s) = schemas.get_mut("ExternalId") {
        put(s, &["properties", "external_id"], text(200));
    }
    if let Some(s) = schemas.get_mut("DecisionRequest") {
        put(
            s,
            &["properties", "provider"],
            json!({"type": "string", "minLength": 1}),
        );
    }
}

/// `/catalogue/{kind}` takes different names per kind (groups may hold spaces,
/// permissions and libraries not; only groups have external ids, only permissions are
/// required): one concrete path per kind says so.
/// `/users/{user}/grants/{kind}/{name}`: one path per kind, so each can say which names
/// exist (see [`with_names`]).
fn split_grant_paths(v: &mut Value) {
    let template = "/api/v1/users/{user}/grants/{kind}/{name}";
    let Some(paths) = v.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let Some(item) = paths.remove(template) else {
        return;
    };
    for kind in ["permission", "library", "group", "admin"] {
        let mut item = item.clone();
        for op in item
            .as_object_mut()
            .into_iter()
            .flat_map(|o| o.values_mut())
        {
            if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                put(op, &["operationId"], Value::from(format!("{id}_{kind}")));
            }
            if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
                params.retain(|p| p["name"] != "kind");
            }
        }
        paths.insert(template.replace("{kind}", kind), item);
    }
}

fn split_catalogue_paths(v: &mut Value) {
    let Some(paths) = v.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for template in [
        "/api/v1/catalogue/{kind}",
        "/api/v1/catalogue/{kind}/{name}",
    ] {
        let Some(item) = paths.remove(template) else {
            continue;
        };
        for kind in ["permissions", "libraries", "groups"] {
            let mut item = item.clone();
            if let Some(ops) = item.as_object_mut() {
                for op in ops.values_mut() {
                    if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                        put(op, &["operationId"], Value::from(format!("{id}_{kind}")));
                    }
                    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
                        params.retain(|p| p["name"] != "kind");
                    }
                    if op.get("requestBody").is_some() {
                        put(
                            op,
                            &["requestBody", "content", "application/json", "schema"],
                            item_input(kind),
                        );
                    }
                }
            }
            paths.insert(template.replace("{kind}", kind), item);
        }
    }
}

fn item_input(kind: &str) -> Value {
    let name = if kind == "groups" {
        trimmed(",", 100)
    } else {
        trimmed_word(",", 100)
    };
    let mut props = Map::new();
    props.insert(
        "name".into(),
        json!({"type": "string", "pattern": name, "description": "1–100 characters, no commas or control characters (no spaces in permission and library names); trimmed"}),
    );
    props.insert(
        "label".into(),
        json!({"type": ["string", "null"], "pattern": format!("^[{WS}]*(?:[^{WS}{CTRL}](?:[^{CTRL}]{{0,198}}[^{WS}{CTRL}])?)?[{WS}]*$")}),
    );
    if kind == "permissions" {
        props.insert("required".into(), json!({"type": "boolean"}));
    }
    if kind == "groups" {
        props.insert(
            "external_ids".into(),
            json!({"type": "array", "items": {"type": "string", "pattern": format!("^[{WS}]*(?:[^{WS}{CTRL}](?:[^{CTRL}]{{0,198}}[^{WS}{CTRL}])?)?[{WS}]*$")}}),
        );
    }
    json!({
        "type": "object",
        "required": ["name"],
        "properties": props,
        "additionalProperties": false,
    })
}

/// The per-request part: names that must exist, as enums of what exists now.
pub(crate) fn with_names(
    doc: &Value,
    catalogue: &Catalogue,
    providers: &[String],
    passwords: &ssogate_core::password::PasswordPolicy,
) -> Value {
    let mut v = doc.clone();
    let names = |list: Vec<&str>| -> Value {
        if list.is_empty() {
            json!({"type": "array", "maxItems": 0})
        } else {
            json!({"type": "array", "items": {"type": "string", "enum": list}})
        }
    };
    let permissions = catalogue
        .permissions
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    let libraries = catalogue
        .libraries
        .iter()
        .map(|l| l.name.as_str())
        .collect();
    let groups: Vec<&str> = catalogue.groups.iter().map(|g| g.name.as_str()).collect();
    let (permissions, libraries, groups) = (names(permissions), names(libraries), names(groups));
    if let Some(schemas) = v
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        // Requests only: answers may name items created since this was fetched.
        if let Some(mut s) = schemas.get("ProvisioningChange").cloned() {
            let nullable = |mut a: Value| {
                put(&mut a, &["type"], json!(["array", "null"]));
                a
            };
            put(
                &mut s,
                &["properties", "default_permissions"],
                nullable(permissions.clone()),
            );
            put(
                &mut s,
                &["properties", "default_libraries"],
                nullable(libraries.clone()),
            );
            put(
                &mut s,
                &["properties", "default_groups"],
                nullable(groups.clone()),
            );
            schemas.insert("ProvisioningChangeRequest".into(), s);
        }
        if let Some(s) = schemas.get_mut("NewUser") {
            put(s, &["properties", "permissions"], permissions);
            put(s, &["properties", "libraries"], libraries);
            put(s, &["properties", "groups"], groups);
            if providers.is_empty() {
                put(s, &["properties", "provider"], json!({"type": "null"}));
            } else {
                let mut slugs: Vec<Value> = providers.iter().map(|p| json!(p)).collect();
                slugs.push(Value::Null);
                put(
                    s,
                    &["properties", "provider"],
                    json!({"type": ["string", "null"], "enum": slugs}),
                );
            }
        }
        if let Some(s) = schemas.get_mut("NewPassword") {
            // The configured lengths, and not only spaces; that it is not the username
            // or email, no schema can say.
            put(
                s,
                &["properties", "password"],
                json!({"type": ["string", "null"], "minLength": passwords.min_length,
                    "maxLength": passwords.max_length, "pattern": "\\S"}),
            );
        }
        if let Some(s) = schemas.get_mut("DecisionRequest") {
            let provider = if providers.is_empty() {
                json!({"type": "string", "maxLength": 0, "minLength": 1})
            } else {
                json!({"type": "string", "enum": providers})
            };
            put(s, &["properties", "provider"], provider);
        }
    }
    let kinds: [(&str, Vec<&str>); 4] = [
        (
            "permission",
            catalogue
                .permissions
                .iter()
                .map(|p| p.name.as_str())
                .collect(),
        ),
        (
            "library",
            catalogue
                .libraries
                .iter()
                .map(|l| l.name.as_str())
                .collect(),
        ),
        (
            "group",
            catalogue.groups.iter().map(|g| g.name.as_str()).collect(),
        ),
        ("admin", vec!["admin"]),
    ];
    for (kind, names) in kinds {
        let path = format!("/api/v1/users/{{user}}/grants/{kind}/{{name}}");
        let Some(item) = v
            .get_mut("paths")
            .and_then(|p| p.get_mut(&path))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        for op in item.values_mut() {
            for p in op
                .get_mut("parameters")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if p["name"] == "name" {
                    let schema = if names.is_empty() {
                        json!({"type": "string", "minLength": 1, "maxLength": 0})
                    } else {
                        json!({"type": "string", "enum": names})
                    };
                    put(p, &["schema"], schema);
                }
            }
        }
    }
    if let Some(paths) = v.get_mut("paths").and_then(Value::as_object_mut) {
        for op in paths.values_mut().filter_map(Value::as_object_mut) {
            for op in op.values_mut() {
                let schema = op.pointer_mut("/requestBody/content/application~1json/schema/$ref");
                if let Some(r) = schema
                    && r == "#/components/schemas/ProvisioningChange"
                {
                    *r = Value::from("#/components/schemas/ProvisioningChangeRequest");
                }
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JSON Schema pattern as the Rust regex crate reads it (`\uXXXX` → `\x{XXXX}`).
    fn re(p: &str) -> regex::Regex {
        let mut out = String::new();
        let mut rest = p;
        while let Some(i) = rest.find(r"\u") {
            out.push_str(&rest[..i]);
            let hex = &rest[i + 2..i + 6];
            out.push_str(&format!(r"\x{{{hex}}}"));
            rest = &rest[i + 6..];
        }
        out.push_str(rest);
        regex::Regex::new(&out).unwrap_or_else(|e| panic!("{e}"))
    }

    /// What the server does with a name: trim, then 1–100 characters without commas
    /// or control characters (and, for a word, without whitespace).
    fn server_accepts(raw: &str, word: bool) -> bool {
        let t = raw.trim();
        let bad_char = |c: char| c.is_control() || c == ',' || (word && c.is_whitespace());
        !t.is_empty() && t.chars().count() <= 100 && !t.chars().any(bad_char)
    }

    #[test]
    fn name_patterns_accept_exactly_what_the_server_accepts() {
        let group = re(&trimmed(",", 100));
        let word = re(&trimmed_word(",", 100));
        let long = "x".repeat(100);
        let too_long = "x".repeat(101);
        let samples = [
            "Readers",
            " Readers ",
            "Book Club",
            "a",
            "",
            "   ",
            "\u{a0}",
            "\u{a0}x\u{85}",
            "a,b",
            "a\nb",
            "\tlead",
            "tail\n",
            "x\u{1b}y",
            "x\u{9b}",
            long.as_str(),
            too_long.as_str(),
            " x x ",
            "\u{3000}名前\u{3000}",
            "\u{feff}x",
            "\u{1c}x",
        ];
        for s in samples {
            assert_eq!(group.is_match(s), server_accepts(s, false), "group {s:?}");
            assert_eq!(word.is_match(s), server_accepts(s, true), "word {s:?}");
        }
    }

    #[test]
    fn errors_are_problem_documents_and_every_response_is_described() {
        let (_, doc) = crate::api::routes();
        let v = finish(&doc);
        let mut responses = 0;
        for (path, item) in v["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                for (status, r) in op["responses"].as_object().into_iter().flatten() {
                    responses += 1;
                    assert!(
                        r["description"].as_str().is_some_and(|d| !d.is_empty()),
                        "{method} {path} {status}"
                    );
                    if status.starts_with('4') || status.starts_with('5') {
                        assert!(
                            r["content"].get(PROBLEM).is_some()
                                && r["content"].get("application/json").is_none(),
                            "{method} {path} {status}: {r}"
                        );
                    }
                }
            }
        }
        assert!(responses > 100);
        assert!(v["paths"].get("/api/v1/catalogue/{kind}").is_none());
        assert!(v["paths"].get("/api/v1/catalogue/groups/{name}").is_some());
    }
}
