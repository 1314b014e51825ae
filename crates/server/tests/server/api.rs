//! The REST API: authentication and scopes, every endpoint, validation errors naming
//! their field, problem documents, and the OpenAPI document against the router.

use crate::support::{Browser, Harness, Opts, Resp};
use serde_json::{Value, json};
use ssogate_store::credentials::ApiScope;

struct Keys {
    read: String,
    admin: String,
    revoked: String,
}

async fn setup() -> (Harness, Keys) {
    let h = Harness::start(Opts::default()).await;
    Browser::new().login(&h, "alice").await;
    let d = &h.directory;
    let keys = Keys {
        read: d
            .create_api_key("reader", ApiScope::Read, 1)
            .unwrap()
            .expose()
            .to_owned(),
        admin: d
            .create_api_key("admin", ApiScope::Admin, 1)
            .unwrap()
            .expose()
            .to_owned(),
        revoked: d
            .create_api_key("old", ApiScope::Admin, 1)
            .unwrap()
            .expose()
            .to_owned(),
    };
    let id = d
        .list_api_keys()
        .unwrap()
        .into_iter()
        .find(|k| k.name == "old")
        .unwrap()
        .id;
    d.revoke_api_key(id, 2).unwrap();
    (h, keys)
}

async fn call(
    h: &Harness,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value, Resp) {
    let http = ssogate_oidc::http::client("t", &Default::default()).unwrap();
    let mut req = http.request(method.parse().unwrap(), h.url(path));
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or(Value::Null);
    (
        status,
        v,
        Resp {
            status,
            headers,
            body: text,
        },
    )
}

fn problem(r: &Resp, status: u16) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/problem+json"),
        "{}",
        r.body
    );
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["status"], status);
    assert!(v["type"].as_str().unwrap().starts_with("https://"), "{v}");
    assert!(!v["detail"].as_str().unwrap().is_empty());
}

/// The scheme's name is case-insensitive (RFC 7235 2.1): an API client writing
/// `bearer` is not refused (the API used to accept only `Bearer`).
#[tokio::test]
async fn the_bearer_scheme_is_read_in_any_case() {
    let (h, k) = setup().await;
    let http = ssogate_oidc::http::client("t", &Default::default()).unwrap();
    for (scheme, want) in [("bearer", 200), ("BEARER", 200), ("Basic", 401)] {
        let r = http
            .get(h.url("/api/v1/users"))
            .header("authorization", format!("{scheme} {}", k.read))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), want, "{scheme}");
    }
}

#[tokio::test]
async fn keys_and_scopes_guard_every_endpoint() {
    let (h, k) = setup().await;
    let reads = [
        "/api/v1/users",
        "/api/v1/users/alice",
        "/api/v1/providers",
        "/api/v1/providers/fake",
        "/api/v1/providers/fake/provisioning",
        "/api/v1/provisioning",
        "/api/v1/catalogue",
        "/api/v1/catalogue/groups",
        "/api/v1/catalogue/permissions/read_books",
        "/api/v1/users/alice/grants",
        "/api/v1/users/alice/identities",
        "/api/v1/audit",
    ];
    for path in reads {
        let (_, _, r) = call(&h, "GET", path, None, None).await;
        problem(&r, 401);
        assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
        let (_, _, r) = call(&h, "GET", path, Some(&k.revoked), None).await;
        problem(&r, 401);
        let (_, _, r) = call(&h, "GET", path, Some("ssg_nope_nope"), None).await;
        problem(&r, 401);
        let (s, _, r) = call(&h, "GET", path, Some(&k.read), None).await;
        assert_eq!(s, 200, "{path}: {}", r.body);
    }
    let writes: [(&str, &str, Option<Value>); 16] = [
        (
            "POST",
            "/api/v1/providers",
            Some(json!({"slug": "x", "issuer": "https://x"})),
        ),
        ("PATCH", "/api/v1/providers/fake", Some(json!({}))),
        ("DELETE", "/api/v1/providers/fake", None),
        ("POST", "/api/v1/providers/fake/jwks-refresh", None),
        (
            "PATCH",
            "/api/v1/providers/fake/provisioning",
            Some(json!({"auto_provision": false})),
        ),
        (
            "PATCH",
            "/api/v1/provisioning",
            Some(json!({"auto_provision": false})),
        ),
        (
            "POST",
            "/api/v1/catalogue/groups",
            Some(json!({"name": "x"})),
        ),
        (
            "PUT",
            "/api/v1/catalogue/groups/Readers",
            Some(json!({"name": "x"})),
        ),
        ("DELETE", "/api/v1/catalogue/groups/Readers", None),
        ("PUT", "/api/v1/users/alice/grants/admin/admin", None),
        (
            "DELETE",
            "/api/v1/users/alice/grants/permission/read_books",
            None,
        ),
        ("POST", "/api/v1/users", Some(json!({"username": "x"}))),
        (
            "PATCH",
            "/api/v1/users/alice",
            Some(json!({"status": "disabled"})),
        ),
        ("DELETE", "/api/v1/users/alice", None),
        (
            "PUT",
            "/api/v1/users/alice/external-ids/fake",
            Some(json!({"external_id": "e"})),
        ),
        ("DELETE", "/api/v1/users/alice/external-ids/fake", None),
    ];
    for (m, path, body) in writes {
        let (_, _, r) = call(&h, m, path, Some(&k.read), body).await;
        problem(&r, 403);
    }
    // Nothing changed.
    let (_, v, _) = call(&h, "GET", "/api/v1/users/alice", Some(&k.admin), None).await;
    assert_eq!(v["status"], "active");
}

#[tokio::test]
async fn accounts_are_listed_created_changed_and_deleted() {
    let (h, k) = setup().await;
    let admin = Some(k.admin.as_str());
    let (_, v, _) = call(&h, "GET", "/api/v1/users?search=ali", admin, None).await;
    assert_eq!(v["users"][0]["username"], "alice");
    let (_, v, _) = call(&h, "GET", "/api/v1/users/alice", admin, None).await;
    assert_eq!(v["identities"][0]["provider"], "fake");
    assert!(
        v["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "read_books" && g["source"] == "default")
    );

    // Pre-provision like Nextcloud: bound to (provider, subject) on first sign-in.
    let new = json!({"username": "carol", "email": "carol@example.org", "provider": "fake",
        "subject": "carol-sub", "permissions": ["manage_library"]});
    let (s, v, r) = call(&h, "POST", "/api/v1/users", admin, Some(new.clone())).await;
    assert_eq!(s, 201, "{}", r.body);
    assert_eq!(v["username"], "carol");
    assert_eq!(v["source"], "api");
    let (_, _, r) = call(&h, "POST", "/api/v1/users", admin, Some(new)).await;
    problem(&r, 409);
    h.idp.set_user("carol-sub", json!({"preferred_username": "carol", "email": "carol@example.org", "email_verified": true}));
    let users_before = h.users();
    Browser::new().login(&h, "carol-sub").await;
    assert_eq!(
        h.users(),
        users_before,
        "the first sign-in bound to the pre-provisioned account"
    );

    let (s, v, _) = call(
        &h,
        "PATCH",
        "/api/v1/users/carol",
        admin,
        Some(json!({"status": "disabled"})),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("disabled")));
    let (_, v, _) = call(
        &h,
        "PATCH",
        "/api/v1/users/carol",
        admin,
        Some(json!({"status": "active"})),
    )
    .await;
    assert_eq!(v["status"], "active");
    let (s, _, _) = call(
        &h,
        "PUT",
        "/api/v1/users/carol/external-ids/fake",
        admin,
        Some(json!({"external_id": "E-7"})),
    )
    .await;
    assert_eq!(s, 204);
    let (_, v, _) = call(&h, "GET", "/api/v1/users/carol", admin, None).await;
    assert_eq!(v["external_ids"]["fake"], "E-7");
    let (_, _, r) = call(
        &h,
        "PUT",
        "/api/v1/users/alice/external-ids/fake",
        admin,
        Some(json!({"external_id": "E-7"})),
    )
    .await;
    problem(&r, 409);
    // Whitespace at the ends is trimmed; a control character inside, or more than 200
    // characters, is refused as the API document says.
    for bad in ["E-\u{85}8", "E-\n8", &"x".repeat(201)] {
        let (_, _, r) = call(
            &h,
            "PUT",
            "/api/v1/users/carol/external-ids/fake",
            admin,
            Some(json!({ "external_id": bad })),
        )
        .await;
        problem(&r, 422);
    }
    let (s, _, _) = call(
        &h,
        "PUT",
        "/api/v1/users/carol/external-ids/fake",
        admin,
        Some(json!({"external_id": "\tE-7 "})),
    )
    .await;
    assert_eq!(s, 204, "whitespace at the ends is fine");
    let (s, _, _) = call(
        &h,
        "DELETE",
        "/api/v1/users/carol/external-ids/fake",
        admin,
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (s, _, _) = call(&h, "DELETE", "/api/v1/users/carol", admin, None).await;
    assert_eq!(s, 204);
    let (_, _, r) = call(&h, "GET", "/api/v1/users/carol", admin, None).await;
    problem(&r, 404);

    // Every change is in the audit log, with the key that made it.
    let (_, v, _) = call(
        &h,
        "GET",
        "/api/v1/audit?event=admin.user.deleted",
        admin,
        None,
    )
    .await;
    assert!(
        v[0]["detail"]["actor"]
            .as_str()
            .unwrap()
            .starts_with("apikey:"),
        "{v}"
    );
    let (_, v, _) = call(&h, "GET", "/api/v1/audit?user=alice&limit=5", admin, None).await;
    assert_eq!(v[0]["event"], "user.provisioned");
    let (_, v, _) = call(&h, "GET", "/api/v1/providers", admin, None).await;
    assert_eq!(v[0]["slug"], "fake");
    assert_eq!(v[0]["managed_by"], "config");
    assert_eq!(v[0]["client_secret_set"], true);
    assert!(!v.to_string().contains("\"secret\""), "{v}");
}

#[tokio::test]
async fn validation_errors_name_the_field() {
    let (h, k) = setup().await;
    let admin = Some(k.admin.as_str());
    for (path, field) in [
        ("/api/v1/users?limit=0", "limit"),
        ("/api/v1/users?limit=many", "limit"),
        ("/api/v1/users?status=gone", "status"),
        ("/api/v1/users?source=x", "source"),
        ("/api/v1/users?sort=age", "sort"),
        ("/api/v1/users?admin=maybe", "admin"),
        ("/api/v1/audit?outcome=meh", "outcome"),
        ("/api/v1/audit?from=yesterday", "from"),
        ("/api/v1/audit?limit=100000", "limit"),
    ] {
        let (_, v, r) = call(&h, "GET", path, admin, None).await;
        problem(&r, 422);
        assert_eq!(v["errors"][0]["field"], field, "{path}: {v}");
    }
    for (body, field) in [
        (json!({"email": "x@example.org"}), "username"),
        (json!({"username": "x", "colour": "red"}), "colour"),
        (json!([1, 2]), "body"),
        (json!({"username": 7}), "username"),
        (
            json!({"username": "x", "permissions": "all"}),
            "permissions",
        ),
        (json!({"username": "x", "provider": "fake"}), "subject"),
        (json!({"username": "   "}), "username"),
    ] {
        let (_, v, r) = call(&h, "POST", "/api/v1/users", admin, Some(body.clone())).await;
        problem(&r, 422);
        assert_eq!(v["errors"][0]["field"], field, "{body}: {v}");
    }
    let (_, v, r) = call(
        &h,
        "PATCH",
        "/api/v1/users/alice",
        admin,
        Some(json!({"status": "sleeping"})),
    )
    .await;
    problem(&r, 422);
    assert_eq!(v["errors"][0]["field"], "status");
    let (_, _, r) = call(&h, "GET", "/api/v1/users?after=not-a-cursor", admin, None).await;
    problem(&r, 400);
    let (_, v, r) = call(&h, "GET", "/api/v1/nothing-here", admin, None).await;
    problem(&r, 404);
    assert!(v["type"].as_str().unwrap().ends_with("no-such-endpoint"));
}

/// Every `$ref` in `v` points at a schema the document defines.
fn refs_resolve(v: &Value, doc: &Value) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                let name = r
                    .strip_prefix("#/components/schemas/")
                    .unwrap_or_else(|| panic!("odd $ref {r}"));
                assert!(
                    doc["components"]["schemas"].get(name).is_some(),
                    "dangling $ref {r}"
                );
            }
            m.values().for_each(|x| refs_resolve(x, doc));
        }
        Value::Array(a) => a.iter().for_each(|x| refs_resolve(x, doc)),
        _ => {}
    }
}

#[tokio::test]
async fn the_openapi_document_matches_the_router() {
    let (h, k) = setup().await;
    let (s, doc, _) = call(&h, "GET", "/api/openapi.json", None, None).await;
    assert_eq!(s, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    refs_resolve(&doc, &doc);
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 5, "{paths:?}");
    let mut operations = 0;
    // OpenAPI 3.1 4.8.10: an operationId is unique in the document (clients generated
    // from it name their functions by it).
    let mut ids = std::collections::HashSet::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            if let Some(id) = op["operationId"].as_str() {
                assert!(
                    ids.insert(id.to_owned()),
                    "operationId {id} twice ({method} {path})"
                );
            }
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path}"
            );
            assert!(
                op["security"].is_array(),
                "{method} {path} names its security"
            );
            let concrete = path
                .replace("{user}", "alice")
                .replace("{provider}", "fake");
            let body = matches!(method.as_str(), "post" | "put" | "patch").then(|| json!({}));
            let (status, v, _) =
                call(&h, &method.to_uppercase(), &concrete, Some(&k.admin), body).await;
            assert_ne!(status, 405, "{method} {path} is documented but not routed");
            assert!(
                !v["type"]
                    .as_str()
                    .unwrap_or("")
                    .ends_with("no-such-endpoint"),
                "{method} {path} is documented but not routed"
            );
            assert!(status < 500, "{method} {path}: {status}");
        }
    }
    assert!(operations >= 8);
    let page = Browser::new().get(&h.url("/api/docs")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("GET /api/v1/users") && page.body.contains("PATCH /api/v1/users/{user}"),
        "{}",
        page.body
    );
}

/// Regression: the framework's own refusals (wrong method, unreadable query, body too
/// large) were plain text, and the document declared errors as application/json with
/// responses lacking descriptions (not valid OpenAPI 3.1).
#[tokio::test]
async fn every_api_error_is_a_problem_document_as_declared() {
    let (h, k) = setup().await;
    let admin = Some(k.admin.as_str());
    let (_, _, r) = call(&h, "POST", "/api/v1/users/alice", admin, None).await;
    problem(&r, 405);
    assert!(r.header("allow").is_some());
    let (_, _, r) = call(&h, "GET", "/api/v1/audit?to=1&to=2", admin, None).await;
    problem(&r, 400);
    let huge = json!({"username": "x".repeat(3 * 1024 * 1024)});
    let (_, _, r) = call(&h, "POST", "/api/v1/users", admin, Some(huge)).await;
    problem(&r, 413);
    let (_, doc, _) = call(&h, "GET", "/api/openapi.json", None, None).await;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, r) in op["responses"].as_object().unwrap() {
                assert!(
                    r["description"].as_str().is_some_and(|d| !d.is_empty()),
                    "{method} {path} {status}"
                );
                if status.starts_with('4') {
                    assert!(
                        r["content"]["application/problem+json"].is_object(),
                        "{method} {path} {status}: {r}"
                    );
                }
            }
        }
    }
    // As strict as the server: an empty `source=` is not a value, names that must exist
    // are the catalogue's.
    let users = &doc["paths"]["/api/v1/users"]["get"]["parameters"];
    let source = users
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "source")
        .unwrap();
    assert_eq!(
        source["schema"]["enum"],
        json!(["local", "provider", "api"])
    );
    let permissions = &doc["components"]["schemas"]["NewUser"]["properties"]["permissions"];
    assert!(
        permissions["items"]["enum"]
            .as_array()
            .unwrap()
            .contains(&json!("read_books")),
        "{permissions}"
    );
    let (s, _, r) = call(&h, "GET", "/api/v1/users?source=", admin, None).await;
    assert_eq!(s, 422, "{}", r.body);
}

#[tokio::test]
async fn dry_run_decisions_and_provisioning_settings() {
    let (h, k) = setup().await;
    let read = Some(k.read.as_str());
    let admin = Some(k.admin.as_str());
    let users = h.users();
    let (s, v, r) = call(
        &h,
        "POST",
        "/api/v1/decisions",
        read,
        Some(json!({"provider": "fake", "claims": {"sub": "someone", "preferred_username": "someone", "email": "s@example.org", "email_verified": true}})),
    )
    .await;
    assert_eq!(s, 200, "{}", r.body);
    assert_eq!(v["decision"], "provision");
    assert!(v["trace"].as_array().unwrap().len() > 1);
    assert_eq!(h.users(), users, "a dry run writes nothing");
    let (_, v, r) = call(
        &h,
        "POST",
        "/api/v1/decisions",
        read,
        Some(json!({"provider": "nope", "claims": {}})),
    )
    .await;
    problem(&r, 422);
    assert_eq!(v["errors"][0]["field"], "provider");

    let (_, v, _) = call(&h, "GET", "/api/v1/providers/fake/provisioning", read, None).await;
    assert_eq!(v["auto_provision"], true);
    assert_eq!(v["default_permissions"], json!(["download_books"]));
    let (_, _, r) = call(
        &h,
        "PATCH",
        "/api/v1/providers/fake/provisioning",
        read,
        Some(json!({"auto_provision": false})),
    )
    .await;
    problem(&r, 403);
    let (s, v, _) = call(
        &h,
        "PATCH",
        "/api/v1/providers/fake/provisioning",
        admin,
        Some(json!({"auto_provision": false})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["auto_provision"], false);
    assert_eq!(
        v["default_permissions"],
        json!(["download_books"]),
        "the defaults are kept"
    );
    let (_, v, _) = call(&h, "POST", "/api/v1/decisions", read, Some(json!({"provider": "fake", "claims": {"sub": "someone", "preferred_username": "someone"}}))).await;
    assert_eq!(v["reason"], "auto_provisioning_disabled");
    let (_, _, r) = call(
        &h,
        "PATCH",
        "/api/v1/providers/fake/provisioning",
        admin,
        Some(json!({"default_permissions": ["fly"]})),
    )
    .await;
    problem(&r, 422);
    let (_, v, _) = call(&h, "GET", "/api/v1/providers/fake/provisioning", read, None).await;
    assert_eq!(
        v["default_permissions"],
        json!(["download_books"]),
        "a refused change is not saved"
    );
    let (_, _, r) = call(&h, "GET", "/api/v1/providers/nope/provisioning", read, None).await;
    problem(&r, 404);
}

#[tokio::test]
async fn provider_access_tokens_work_for_administrators_only() {
    let h = Harness::start(Opts {
        server: "api_accepts_provider_tokens = true",
        fake: "bearer = \"jwt\"\nbearer_audience = \"api://ssogate\"",
        provisioning: "[[provisioning.rules]]\nname = \"admins\"\nwhen = '\"admins\" in groups'\ngrant_admin = true",
        ..Opts::default()
    })
    .await;
    Browser::new().login(&h, "alice").await; // in "admins"
    Browser::new().login(&h, "bob").await; // in no group
    let token = |sub: &str| {
        h.idp.sign(
            json!({"alg": "RS256", "typ": "at+jwt", "kid": "k1"}),
            &h.idp.access_claims(sub, "api://ssogate"),
        )
    };
    let (s, v, r) = call(&h, "GET", "/api/v1/users", Some(&token("alice")), None).await;
    assert_eq!(s, 200, "{}", r.body);
    assert_eq!(v["users"].as_array().unwrap().len(), 2);
    let (s, _, r) = call(
        &h,
        "PATCH",
        "/api/v1/users/bob",
        Some(&token("alice")),
        Some(json!({"display_name": "Bobby"})),
    )
    .await;
    assert_eq!(s, 200, "{}", r.body);
    let (_, v, _) = call(
        &h,
        "GET",
        "/api/v1/audit?event=admin.user.updated",
        Some(&token("alice")),
        None,
    )
    .await;
    assert_eq!(v[0]["detail"]["actor"], "user:alice");
    let (_, _, r) = call(&h, "GET", "/api/v1/users", Some(&token("bob")), None).await;
    problem(&r, 403);
    // A token for someone without an account, and one for another audience.
    let (_, _, r) = call(&h, "GET", "/api/v1/users", Some(&token("stranger")), None).await;
    problem(&r, 401);
    let other = h.idp.sign(
        json!({"alg": "RS256", "typ": "at+jwt", "kid": "k1"}),
        &h.idp.access_claims("alice", "api://else"),
    );
    let (_, _, r) = call(&h, "GET", "/api/v1/users", Some(&other), None).await;
    problem(&r, 401);
}

/// Regression: with a provider's `bearer` mode on, an administrator's access token —
/// or one the provider issued to another application's client — reached `/api/v1`
/// (a `POST /api/v1/users` with `"admin": true` succeeded). API keys are the API's
/// credential unless the operator says otherwise.
#[tokio::test]
async fn provider_access_tokens_never_reach_the_api_unless_enabled() {
    let h = Harness::start(Opts {
        fake: "bearer = \"introspection\"",
        provisioning: "[[provisioning.rules]]\nname = \"admins\"\nwhen = '\"admins\" in groups'\ngrant_admin = true",
        ..Opts::default()
    })
    .await;
    Browser::new().login(&h, "alice").await; // an administrator
    let users = h.users();
    let foreign = h
        .idp
        .issue_foreign_token("alice", json!({"client_id": "another-apps-spa"}));
    let (s, v, r) = call(
        &h,
        "POST",
        "/api/v1/users",
        Some(&foreign),
        Some(json!({"username": "mallory", "admin": true})),
    )
    .await;
    assert_eq!(s, 401, "{v}");
    problem(&r, 401);
    assert_eq!(h.users(), users, "no account");
    // Not even the administrator's own token for this client: the API is off for them.
    let own = h
        .idp
        .issue_foreign_token("alice", json!({"client_id": "app"}));
    let (s, _, _) = call(&h, "GET", "/api/v1/users", Some(&own), None).await;
    assert_eq!(s, 401);
    // Forward-auth accepts the token issued to us, never another client's.
    let verify = h.url("/auth/verify");
    let api = Browser::new();
    let r = api
        .get_with(&verify, &[("authorization", &format!("Bearer {own}"))])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api
        .get_with(&verify, &[("authorization", &format!("Bearer {foreign}"))])
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
}

#[tokio::test]
async fn providers_are_added_changed_and_deleted_and_serve_sign_ins_at_once() {
    let (h, k) = setup().await;
    let admin = Some(k.admin.as_str());
    let added = ssogate_testkit::FakeProvider::start().await;
    added.set_user(
        "zoe",
        json!({"preferred_username": "zoe", "email": "zoe@example.net", "email_verified": true}),
    );
    let doc = json!({
        "slug": "added",
        "display_name": "Added IdP",
        "issuer": added.issuer,
        "client_id": added.client_id(),
        "client_secret": added.client_secret(),
    });
    let (_, _, r) = call(
        &h,
        "POST",
        "/api/v1/providers",
        Some(&k.read),
        Some(doc.clone()),
    )
    .await;
    problem(&r, 403);
    let (s, v, r) = call(&h, "POST", "/api/v1/providers", admin, Some(doc.clone())).await;
    assert_eq!(s, 201, "{}", r.body);
    assert_eq!(v["managed_by"], "database");
    assert_eq!(v["client_secret_set"], true);
    assert_eq!(v["linked_accounts"], 0);
    let quoted = format!("\"{}\"", added.client_secret());
    assert!(!r.body.contains(&quoted), "{}", r.body);
    // Taken slugs, the file's slugs, unknown keys and bad slugs are refused, named.
    let (_, _, r) = call(&h, "POST", "/api/v1/providers", admin, Some(doc.clone())).await;
    problem(&r, 409);
    let mut fake = doc.clone();
    fake["slug"] = json!("fake");
    let (_, _, r) = call(&h, "POST", "/api/v1/providers", admin, Some(fake)).await;
    problem(&r, 409);
    assert!(r.body.contains("configuration file"), "{}", r.body);
    let (_, v, r) = call(
        &h,
        "POST",
        "/api/v1/providers",
        admin,
        Some(json!({"slug": "typo", "issuer": "https://idp.example", "clent_id": "x"})),
    )
    .await;
    problem(&r, 422);
    assert_eq!(v["errors"][0]["field"], "provider");
    assert!(r.body.contains("clent_id"), "{}", r.body);
    let (_, _, r) = call(
        &h,
        "POST",
        "/api/v1/providers",
        admin,
        Some(json!({"slug": "Bad Slug", "issuer": "https://idp.example"})),
    )
    .await;
    problem(&r, 422);
    let (_, _, r) = call(
        &h,
        "POST",
        "/api/v1/providers",
        admin,
        Some(json!({"slug": "file", "issuer": "https://idp.example", "client_secret_file": "/etc/passwd"})),
    )
    .await;
    problem(&r, 422);

    // In force at once: the login page offers it and a person signs in through it.
    let b = Browser::new();
    let page = b.get(&h.url("/login?direct=1")).await;
    assert!(page.body.contains("Added IdP"), "{}", page.body);
    let r = b.login_via(&h, &added, "/auth/added/start", "zoe").await;
    assert_eq!(r.status, 303, "{}", r.body);
    let zoe = h
        .directory
        .user_by_identity("added", "zoe")
        .unwrap()
        .unwrap();
    assert_eq!(zoe.username, "zoe");

    // Changed: the name shows, the secret is kept (a second sign-in still works).
    let (s, v, r) = call(
        &h,
        "PATCH",
        "/api/v1/providers/added",
        admin,
        Some(json!({"display_name": "Renamed IdP", "client_secret": ""})),
    )
    .await;
    assert_eq!(s, 200, "{}", r.body);
    assert_eq!(v["name"], "Renamed IdP");
    assert_eq!(v["linked_accounts"], 1);
    let public = b.get(&h.url("/api/oidc/providers")).await;
    assert!(public.body.contains("Renamed IdP"), "{}", public.body);
    let again = Browser::new();
    let r = again
        .login_via(&h, &added, "/auth/added/start", "zoe")
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let (_, _, r) = call(
        &h,
        "PATCH",
        "/api/v1/providers/fake",
        admin,
        Some(json!({"display_name": "x"})),
    )
    .await;
    problem(&r, 409);
    let (_, _, r) = call(
        &h,
        "PATCH",
        "/api/v1/providers/added",
        admin,
        Some(json!({"issuer": ""})),
    )
    .await;
    problem(&r, 422);

    let (s, v, _) = call(&h, "POST", "/api/v1/providers/added/check", admin, None).await;
    assert_eq!(s, 200);
    assert_eq!(v["usable"], true, "{v}");
    let (s, _, _) = call(
        &h,
        "POST",
        "/api/v1/providers/added/jwks-refresh",
        admin,
        None,
    )
    .await;
    assert_eq!(s, 204);
    // Every administrative change is audited, a key refresh included.
    assert!(
        h.audit()
            .iter()
            .any(|e| e == "admin.provider.keys_refreshed/success/"),
        "{:?}",
        h.audit()
    );
    let (_, _, r) = call(
        &h,
        "POST",
        "/api/v1/providers/nope/jwks-refresh",
        admin,
        None,
    )
    .await;
    problem(&r, 404);

    // Deleted: the count of linked accounts is said, its sessions end, the account stays.
    let (_, _, r) = call(&h, "DELETE", "/api/v1/providers/fake", admin, None).await;
    problem(&r, 409);
    let (s, v, _) = call(&h, "DELETE", "/api/v1/providers/added", admin, None).await;
    assert_eq!(s, 200);
    assert_eq!(v["linked_accounts"], 1);
    assert_eq!(b.get(&h.url("/auth/added/start")).await.status, 404);
    let verify = again.get(&h.url("/auth/verify?redirect=false")).await;
    assert_eq!(verify.status, 401, "{}", verify.body);
    assert!(h.directory.user_by_username("zoe").unwrap().is_some());
    let (_, _, r) = call(&h, "DELETE", "/api/v1/providers/added", admin, None).await;
    problem(&r, 404);
    let audit = h.audit();
    for e in [
        "admin.provider.created",
        "admin.provider.updated",
        "admin.provider.deleted",
    ] {
        assert!(audit.iter().any(|a| a.starts_with(e)), "{e} in {audit:?}");
    }
    let raw = h.directory.audit_events(100).unwrap();
    assert!(
        !raw.iter()
            .any(|e| e.detail.as_deref().unwrap_or("").contains(&quoted)),
        "the audit log holds no client secret"
    );
}

#[tokio::test]
async fn the_catalogue_and_global_settings_are_edited_and_checked() {
    let (h, k) = setup().await;
    let admin = Some(k.admin.as_str());
    let (s, v, r) = call(
        &h,
        "POST",
        "/api/v1/catalogue/permissions",
        admin,
        Some(json!({"name": "upload_books", "label": "Upload books"})),
    )
    .await;
    assert_eq!(s, 201, "{}", r.body);
    assert_eq!(v["managed_by"], "database");
    let (_, _, r) = call(
        &h,
        "POST",
        "/api/v1/catalogue/permissions",
        admin,
        Some(json!({"name": "upload_books"})),
    )
    .await;
    problem(&r, 409);
    let (_, v, r) = call(
        &h,
        "POST",
        "/api/v1/catalogue/permissions",
        admin,
        Some(json!({"name": "has space"})),
    )
    .await;
    problem(&r, 422);
    assert_eq!(v["errors"][0]["field"], "name");
    let (_, _, r) = call(
        &h,
        "POST",
        "/api/v1/catalogue/colours",
        admin,
        Some(json!({"name": "red"})),
    )
    .await;
    problem(&r, 404);
    let (_, _, r) = call(
        &h,
        "PUT",
        "/api/v1/catalogue/permissions/read_books",
        admin,
        Some(json!({"name": "read"})),
    )
    .await;
    problem(&r, 409);
    assert!(r.body.contains("configuration file"), "{}", r.body);

    // Grants of the new permission, by the API.
    let (s, v, r) = call(
        &h,
        "PUT",
        "/api/v1/users/alice/grants/permission/upload_books",
        admin,
        None,
    )
    .await;
    assert_eq!(s, 200, "{}", r.body);
    assert!(v["permissions"].to_string().contains("upload_books"));
    let (_, v, _) = call(&h, "GET", "/api/v1/users/alice/grants", admin, None).await;
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|g| g["kind"] == "permission"
                && g["name"] == "upload_books"
                && g["source"] == "admin"),
        "{v}"
    );
    let (_, v, _) = call(&h, "GET", "/api/v1/users/alice/identities", admin, None).await;
    assert_eq!(v[0]["provider"], "fake");
    let (_, _, r) = call(
        &h,
        "PUT",
        "/api/v1/users/alice/grants/permission/nope",
        admin,
        None,
    )
    .await;
    problem(&r, 422);

    // Global settings apply to a provider without its own; the next person gets them.
    let (s, _, r) = call(
        &h,
        "PATCH",
        "/api/v1/provisioning",
        admin,
        Some(json!({"default_permissions": ["upload_books"]})),
    )
    .await;
    assert_eq!(s, 200, "{}", r.body);
    let (_, v, _) = call(
        &h,
        "GET",
        "/api/v1/providers/fake/provisioning",
        admin,
        None,
    )
    .await;
    assert_eq!(v["default_permissions"], json!(["upload_books"]));
    assert_eq!(v["inherits_global"], true);
    Browser::new().login(&h, "bob").await;
    let bob = h.directory.user_by_username("bob").unwrap().unwrap();
    assert!(
        bob.grants.iter().any(|g| g.name == "upload_books"),
        "{:?}",
        bob.grants
    );

    // A permission a policy uses cannot go; the message says which.
    let (_, _, r) = call(
        &h,
        "DELETE",
        "/api/v1/catalogue/permissions/upload_books",
        admin,
        None,
    )
    .await;
    problem(&r, 422);
    assert!(r.body.contains("upload_books"), "{}", r.body);
    // A provider's own settings win over the global ones; inherit drops them.
    let (_, v, _) = call(
        &h,
        "PATCH",
        "/api/v1/providers/fake/provisioning",
        admin,
        Some(json!({"default_permissions": ["download_books"]})),
    )
    .await;
    assert_eq!(v["default_permissions"], json!(["download_books"]));
    assert_eq!(v["inherits_global"], false);
    let (_, v, _) = call(
        &h,
        "PATCH",
        "/api/v1/providers/fake/provisioning",
        admin,
        Some(json!({"inherit": true})),
    )
    .await;
    assert_eq!(v["default_permissions"], json!(["upload_books"]));
    assert_eq!(v["inherits_global"], true);
    let (_, _, r) = call(
        &h,
        "PATCH",
        "/api/v1/provisioning",
        admin,
        Some(json!({"inherit": true})),
    )
    .await;
    problem(&r, 422);

    // Rules are saved with the settings; one that is not CEL is refused, named.
    let rule = json!({"name": "staff", "when": "email.endsWith('@example.org')", "grant_libraries": ["kids"]});
    let (s, v, r) = call(
        &h,
        "PATCH",
        "/api/v1/provisioning",
        admin,
        Some(json!({"rules": [rule]})),
    )
    .await;
    assert_eq!(s, 200, "{}", r.body);
    assert_eq!(v["rules"][0]["name"], "staff");
    let (_, v, _) = call(
        &h,
        "GET",
        "/api/v1/providers/fake/provisioning",
        admin,
        None,
    )
    .await;
    assert_eq!(v["rules"][0]["name"], "staff", "{v}");
    let bad = json!({"name": "broken", "when": "email.endsWith(("});
    let (_, _, r) = call(
        &h,
        "PATCH",
        "/api/v1/provisioning",
        admin,
        Some(json!({"rules": [bad]})),
    )
    .await;
    problem(&r, 422);
    assert!(r.body.contains("broken"), "{}", r.body);

    // Once no policy names it, the permission goes, with its grants.
    call(
        &h,
        "PATCH",
        "/api/v1/provisioning",
        admin,
        Some(json!({"default_permissions": []})),
    )
    .await;
    let (s, v, r) = call(
        &h,
        "DELETE",
        "/api/v1/catalogue/permissions/upload_books",
        admin,
        None,
    )
    .await;
    assert_eq!(s, 200, "{}", r.body);
    assert_eq!(v["holders"], 2);
    let bob = h.directory.user_by_username("bob").unwrap().unwrap();
    assert!(!bob.grants.iter().any(|g| g.name == "upload_books"));

    // Groups with external ids: created, renamed (members follow), deleted.
    let (s, _, _) = call(
        &h,
        "POST",
        "/api/v1/catalogue/groups",
        admin,
        Some(json!({"name": "Staff", "external_ids": ["staff", "cn=staff,dc=example"]})),
    )
    .await;
    assert_eq!(s, 201);
    call(
        &h,
        "PUT",
        "/api/v1/users/bob/grants/group/Staff",
        admin,
        None,
    )
    .await;
    let (s, v, r) = call(
        &h,
        "PUT",
        "/api/v1/catalogue/groups/staff",
        admin,
        Some(json!({"name": "Employees", "external_ids": ["employees"]})),
    )
    .await;
    assert_eq!(s, 200, "{}", r.body);
    assert_eq!(v["external_ids"], json!(["employees"]));
    assert_eq!(v["holders"], 1);
    let (_, v, _) = call(&h, "GET", "/api/v1/users/bob", admin, None).await;
    assert!(v["groups"].to_string().contains("Employees"), "{v}");
    let (s, v, _) = call(
        &h,
        "DELETE",
        "/api/v1/catalogue/groups/Employees",
        admin,
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["holders"], 1);
    let audit = h.audit();
    for e in [
        "admin.catalogue.created",
        "admin.catalogue.updated",
        "admin.catalogue.deleted",
        "admin.settings.saved",
    ] {
        assert!(audit.iter().any(|a| a.starts_with(e)), "{e} in {audit:?}");
    }
}

#[tokio::test]
async fn providers_settings_and_the_catalogue_reach_every_instance_on_postgres() {
    let Some(url) = crate::support::postgres_database() else {
        return;
    };
    let h = crate::support::Harness::start(crate::support::Opts {
        postgres: Some(url),
        ..crate::support::Opts::default()
    })
    .await;
    let (other, _stop) = h.second_instance().await;
    let key = h.api_key(ApiScope::Admin).await;
    let admin = Some(key.as_str());
    let added = ssogate_testkit::FakeProvider::start().await;
    let (s, _, r) = call(
        &h,
        "POST",
        "/api/v1/providers",
        admin,
        Some(
            json!({"slug": "added", "issuer": added.issuer, "client_id": added.client_id(),
            "client_secret": added.client_secret()}),
        ),
    )
    .await;
    assert_eq!(s, 201, "{}", r.body);
    // The other instance serves it once it hears of it (bounded wait).
    let b = Browser::new();
    assert_eq!(
        b.status_within(&format!("{other}/auth/added/start"), 302)
            .await,
        302
    );
    // Global settings saved on the first apply to sign-ins on the second.
    call(
        &h,
        "PATCH",
        "/api/v1/provisioning",
        admin,
        Some(json!({"auto_provision": false})),
    )
    .await;
    let http = ssogate_oidc::http::client("t", &Default::default()).unwrap();
    let mut settled = false;
    for _ in 0..100 {
        let text = http
            .get(format!("{other}/api/v1/providers/fake/provisioning"))
            .header("authorization", format!("Bearer {key}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        if v["auto_provision"] == false {
            settled = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(settled, "the second instance applies the saved settings");
    let r = Browser::new()
        .login_via(&h, &h.idp, &format!("{other}/auth/fake/start"), "bob")
        .await;
    assert!(
        r.body.contains("Automatic account creation is disabled"),
        "{}",
        r.body
    );
    // A required permission created on the first is granted by the second's engine
    // (creation switched back on first).
    call(
        &h,
        "PATCH",
        "/api/v1/provisioning",
        admin,
        Some(json!({"auto_provision": true})),
    )
    .await;
    let (s, _, _) = call(
        &h,
        "POST",
        "/api/v1/catalogue/permissions",
        admin,
        Some(json!({"name": "terms_accepted", "required": true})),
    )
    .await;
    assert_eq!(s, 201);
    let mut granted = false;
    for _ in 0..100 {
        let text = http
            .post(format!("{other}/api/v1/decisions"))
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(
                json!({"provider": "fake", "claims": {"sub": "zed", "preferred_username": "zed"}})
                    .to_string(),
            )
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains("terms_accepted") {
            granted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        granted,
        "the second instance's engine knows the new required permission"
    );
}

#[tokio::test]
async fn a_saved_provider_that_no_longer_builds_is_left_out_not_fatal() {
    let (h, k) = setup().await;
    // Stored behind the checks' back (as if the file's tables changed under it).
    h.directory
        .put_provider(
            "broken",
            &json!({"issuer": "https://idp.example", "client_id": "x",
                "provisioning": {"default_permissions": ["no_such_permission"]}}),
            1,
        )
        .unwrap();
    let b = Browser::new();
    let served = |base: String| {
        let b = &b;
        async move {
            let r = b.get(&format!("{base}/api/oidc/providers")).await;
            assert_eq!(r.status, 200);
            (r.body.contains("\"fake\""), r.body.contains("\"broken\""))
        }
    };
    assert_eq!(
        served(h.base.clone()).await,
        (true, false),
        "the others keep working"
    );
    assert_eq!(b.get(&h.url("/auth/broken/start")).await.status, 404);
    let (_, v, _) = call(&h, "GET", "/api/v1/providers", Some(&k.read), None).await;
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|p| p["slug"] == "broken" && p["managed_by"] == "database"),
        "listed, so it can be mended: {v}"
    );
    // A new instance starts on the same directory, without it.
    let (other, _stop) = h.second_instance().await;
    assert_eq!(served(other).await, (true, false));
    // Mended through the API, it is served at once.
    let (s, _, r) = call(
        &h,
        "PATCH",
        "/api/v1/providers/broken",
        Some(&k.admin),
        Some(json!({"provisioning": null})),
    )
    .await;
    assert_eq!(s, 200, "{}", r.body);
    assert_eq!(served(h.base.clone()).await, (true, true));
}
