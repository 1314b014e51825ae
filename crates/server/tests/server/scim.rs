//! SCIM 2.0 inbound: the compliance checker scim2-tester (PyPI) against a live server,
//! and what identity providers rely on — a pushed user is the account its later sign-in
//! finds, SCIM group membership is its own grant that SCIM alone removes, a disabled
//! account's sessions end, and tokens are bound to their provider and their endpoint.

use crate::support::{Browser, Harness, Opts};
use serde_json::{Value, json};
use ssogate_store::credentials::ApiScope;
use std::path::Path;
use std::process::Command;

async fn token(h: &Harness, provider: &str) -> String {
    let d = h.directory.clone();
    let provider = provider.to_owned();
    tokio::task::spawn_blocking(move || d.create_scim_token("idp", &provider, 1))
        .await
        .unwrap()
        .unwrap()
        .expose()
        .to_owned()
}

async fn call(
    h: &Harness,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value, String) {
    let http = ssogate_oidc::http::client("t", &Default::default()).unwrap();
    let mut req = http
        .request(method.parse().unwrap(), h.url(path))
        .header("authorization", format!("Bearer {token}"));
    if let Some(b) = body {
        req = req
            .header("content-type", "application/scim+json")
            .body(b.to_string());
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let ctype = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        ctype,
    )
}

/// Results of scim2-tester that do not apply to ssogate: (check, what its reason names,
/// why).
const NOT_APPLICABLE: [(&str, &str, &str); 1] = [(
    "check_remove_attribute",
    "'active'",
    "an ssogate account is always active or disabled: removing `active` leaves it as it was",
)];

#[tokio::test]
async fn scim2_tester_passes_every_check_that_applies() {
    tester(Opts::default()).await;
}

/// The same on PostgreSQL: every SCIM statement on the other engine.
#[tokio::test]
async fn scim2_tester_passes_on_postgres_too() {
    let Some(url) = crate::support::postgres_database() else {
        return;
    };
    tester(Opts {
        postgres: Some(url),
        ..Opts::default()
    })
    .await;
}

async fn tester(opts: Opts) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scim/check.py");
    let has = Command::new("python3")
        .args(["-c", "import scim2_tester, httpx2"])
        .output();
    if crate::external::available(
        "SCIM compliance (scim2-tester)",
        "TEST_SSOGATE_REQUIRE_PYTHON",
        (!has.is_ok_and(|o| o.status.success()))
            .then(|| "python3 with scim2-tester[httpx2] (PyPI) is not installed".to_owned()),
    )
    .is_none()
    {
        return;
    }
    let h = Harness::start(opts).await;
    let t = token(&h, "fake").await;
    let base = h.url("/scim/v2");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .arg(base)
            .arg(t)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut by_status: std::collections::BTreeMap<String, usize> = Default::default();
    for r in &results {
        *by_status
            .entry(r["status"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
    }
    eprintln!("scim2-tester: {} checks: {by_status:?}", results.len());
    let failed: Vec<&Value> = results
        .iter()
        .filter(|r| matches!(r["status"].as_str(), Some("ERROR" | "CRITICAL")))
        .filter(|r| {
            !NOT_APPLICABLE.iter().any(|(t, names, _)| {
                r["title"].as_str() == Some(t)
                    && r["reason"].as_str().is_some_and(|s| s.contains(names))
            })
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{}",
        serde_json::to_string_pretty(&failed).unwrap()
    );
    assert!(results.len() > 20, "{results:?}");
}

#[tokio::test]
async fn a_pushed_user_is_the_account_its_sign_in_finds_and_scim_groups_are_scims_own() {
    let h = Harness::start(Opts {
        provisioning: "groups.remove_unmatched = true",
        ..Opts::default()
    })
    .await;
    let t = token(&h, "fake").await;
    // The provider pushes Alice before she ever signs in; her externalId is the
    // subject her sign-ins will carry.
    let (s, alice, ctype) = call(
        &h,
        "POST",
        "/scim/v2/Users",
        &t,
        Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "alice", "externalId": "alice-sub", "displayName": "Alice Liddell",
            "emails": [{"value": "alice@example.org", "type": "work", "primary": true}], "active": true})),
    )
    .await;
    assert_eq!(s, 201, "{alice}");
    assert_eq!(ctype, "application/scim+json");
    let id = alice["id"].as_str().unwrap().to_owned();
    // Found by what clients look accounts up by (an index lookup), and only by the exact id.
    for (q, n) in [
        ("externalId%20eq%20%22alice-sub%22", 1),
        ("externalId%20eq%20%22ALICE-SUB%22", 0),
        ("userName%20eq%20%22ALICE%22", 1),
        ("userName%20eq%20%22nobody%22", 0),
    ] {
        let (s, v, _) = call(&h, "GET", &format!("/scim/v2/Users?filter={q}"), &t, None).await;
        assert_eq!((s, v["totalResults"].as_i64()), (200, Some(n)), "{q}: {v}");
    }
    // Groups: SCIM's membership is its own grant; an administrator's stays.
    let (s, eng, _) = call(
        &h,
        "POST",
        "/scim/v2/Groups",
        &t,
        Some(
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Engineering", "members": [{"value": id}]}),
        ),
    )
    .await;
    assert_eq!(s, 201, "{eng}");
    let (s, readers, _) = call(
        &h,
        "GET",
        "/scim/v2/Groups?filter=displayName%20eq%20%22readers%22",
        &t,
        None,
    )
    .await;
    assert_eq!((s, &readers["totalResults"]), (200, &json!(1)), "{readers}");
    // Groups are found by what clients look them up by too (read by key): the name in
    // any case, the external id exactly; a page of the group includes its members.
    let (s, _, _) = call(
        &h,
        "PATCH",
        &format!("/scim/v2/Groups/{}", eng["id"].as_str().unwrap()),
        &t,
        Some(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "externalId", "value": "eng-42"}]}),
        ),
    )
    .await;
    assert_eq!(s, 200);
    for (q, n) in [
        ("displayName%20eq%20%22ENGINEERING%22", 1),
        ("displayName%20eq%20%22nothing%22", 0),
        ("externalId%20eq%20%22eng-42%22", 1),
        ("externalId%20eq%20%22ENG-42%22", 0),
    ] {
        let (s, v, _) = call(&h, "GET", &format!("/scim/v2/Groups?filter={q}"), &t, None).await;
        assert_eq!((s, v["totalResults"].as_i64()), (200, Some(n)), "{q}: {v}");
        if n == 1 {
            assert_eq!(v["Resources"][0]["members"][0]["value"], json!(id), "{v}");
        }
    }
    let readers_id = readers["Resources"][0]["id"].as_str().unwrap().to_owned();
    let (s, _, _) = call(
        &h,
        "PATCH",
        &format!("/scim/v2/Groups/{readers_id}"),
        &t,
        Some(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]}),
        ),
    )
    .await;
    assert_eq!(s, 200);

    // Her first sign-in finds that account: no second one, the SCIM groups kept although
    // the groups claim names none and remove_unmatched is on.
    h.idp.set_user(
        "alice-sub",
        json!({"preferred_username": "alice", "email": "alice@example.org", "email_verified": true, "groups": []}),
    );
    let b = Browser::new();
    assert_eq!(b.login(&h, "alice-sub").await.status, 303);
    assert_eq!(h.users(), 1);
    let me = b.get(&h.url("/auth/verify")).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.header("remote-user").as_deref(), Some("alice"));
    let groups = me.header("remote-groups").unwrap_or_default();
    assert!(
        groups.contains("Engineering") && groups.contains("Readers"),
        "{groups}"
    );

    // An administrator gives her Admins; SCIM taking her out of every group it manages
    // leaves that one.
    let d = h.directory.clone();
    let uid = ssogate_core::domain::UserId(id.parse().unwrap());
    tokio::task::spawn_blocking(move || {
        d.grant_by_admin(uid, ssogate_core::domain::GrantKind::Group, "Admins", 1)
    })
    .await
    .unwrap()
    .unwrap();
    for g in [eng["id"].as_str().unwrap(), readers_id.as_str()] {
        let (s, v, _) = call(
            &h,
            "PATCH",
            &format!("/scim/v2/Groups/{g}"),
            &t,
            Some(
                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]}),
            ),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["members"], json!([]));
    }
    let (_, user, _) = call(&h, "GET", &format!("/scim/v2/Users/{id}"), &t, None).await;
    assert_eq!(
        user["groups"],
        json!([{"value": user["groups"][0]["value"], "display": "Admins"}])
    );

    // Entra's way of disabling: her session ends at once.
    let (s, v, _) = call(
        &h,
        "PATCH",
        &format!("/scim/v2/Users/{id}"),
        &t,
        Some(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Replace", "path": "active", "value": "False"}]}),
        ),
    )
    .await;
    assert_eq!((s, &v["active"]), (200, &json!(false)), "{v}");
    assert_eq!(h.sessions(), 0);
    assert_ne!(b.get(&h.url("/auth/verify")).await.status, 200);

    // Every change is audited with the provider.
    let audit = h.audit();
    for e in [
        "scim.user.created",
        "scim.group.created",
        "scim.group.patched",
        "scim.user.patched",
    ] {
        assert!(audit.iter().any(|a| a.starts_with(e)), "{e}: {audit:?}");
    }
}

#[tokio::test]
async fn tokens_are_bound_to_their_provider_and_their_endpoint() {
    let h = Harness::start(Opts {
        second: true,
        ..Opts::default()
    })
    .await;
    let (fake, other) = (token(&h, "fake").await, token(&h, "other").await);
    // Bob signs in through `other`: `fake`'s SCIM client does not see him, `other`'s does.
    h.other
        .as_ref()
        .unwrap()
        .set_user("bob", json!({"preferred_username": "bob"}));
    let b = Browser::new();
    b.login_via(&h, h.other.as_ref().unwrap(), "/auth/other/start", "bob")
        .await;
    let (_, seen, _) = call(&h, "GET", "/scim/v2/Users", &fake, None).await;
    assert_eq!(seen["totalResults"], 0, "{seen}");
    let (_, seen, _) = call(
        &h,
        "GET",
        "/scim/v2/Users?filter=userName%20eq%20%22BOB%22",
        &other,
        None,
    )
    .await;
    assert_eq!(seen["totalResults"], 1, "{seen}");
    // …and cannot take his name, nor put him in a group.
    let (s, v, _) = call(
        &h,
        "POST",
        "/scim/v2/Users",
        &fake,
        Some(json!({"userName": "bob"})),
    )
    .await;
    assert_eq!(
        (s, v["scimType"].as_str()),
        (409, Some("uniqueness")),
        "{v}"
    );
    let bob_id = seen["Resources"][0]["id"].as_str().unwrap().to_owned();
    let (s, v, _) = call(
        &h,
        "POST",
        "/scim/v2/Groups",
        &fake,
        Some(json!({"displayName": "x", "members": [{"value": bob_id}]})),
    )
    .await;
    assert_eq!(
        (s, v["scimType"].as_str()),
        (400, Some("invalidValue")),
        "{v}"
    );
    // Nor add him to a group it made.
    let (s, g, _) = call(
        &h,
        "POST",
        "/scim/v2/Groups",
        &fake,
        Some(json!({"displayName": "y"})),
    )
    .await;
    assert_eq!(s, 201, "{g}");
    let (s, v, _) = call(
        &h,
        "PATCH",
        &format!("/scim/v2/Groups/{}", g["id"].as_str().unwrap()),
        &fake,
        Some(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": bob_id}]}]}),
        ),
    )
    .await;
    assert_eq!(
        (s, v["scimType"].as_str()),
        (400, Some("invalidValue")),
        "{v}"
    );
    let (s, _, _) = call(&h, "GET", &format!("/scim/v2/Users/{bob_id}"), &fake, None).await;
    assert_eq!(s, 404);

    // A bad filter, an unknown token, an API key, a SCIM token on the API.
    let (s, v, _) = call(
        &h,
        "GET",
        "/scim/v2/Users?filter=userName%20eq",
        &fake,
        None,
    )
    .await;
    assert_eq!(
        (s, v["scimType"].as_str()),
        (400, Some("invalidFilter")),
        "{v}"
    );
    let (s, v, ctype) = call(&h, "GET", "/scim/v2/Users", "ssg_nope_nope", None).await;
    assert_eq!((s, ctype.as_str()), (401, "application/scim+json"), "{v}");
    let d = h.directory.clone();
    let api_key = tokio::task::spawn_blocking(move || d.create_api_key("api", ApiScope::Admin, 1))
        .await
        .unwrap()
        .unwrap()
        .expose()
        .to_owned();
    let (s, _, _) = call(&h, "GET", "/scim/v2/Users", &api_key, None).await;
    assert_eq!(s, 401);
    let http = ssogate_oidc::http::client("t", &Default::default()).unwrap();
    let res = http
        .get(h.url("/api/v1/users"))
        .header("authorization", format!("Bearer {fake}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    assert!(h.audit().iter().any(|a| a.starts_with("scim.rejected")));
    // What the framework refuses is a SCIM error too.
    let (s, v, _) = call(
        &h,
        "POST",
        "/scim/v2/ServiceProviderConfig",
        &fake,
        Some(json!({})),
    )
    .await;
    assert_eq!((s, &v["status"]), (405, &json!("405")), "{v}");
}

/// ETags: a change made on a version read before another change is refused (412), and
/// a read of an unchanged resource is answered 304 — for Users and Groups alike (Groups
/// answered 200 to `If-None-Match` before their handlers were written once).
#[tokio::test]
async fn a_change_on_a_stale_version_is_refused_and_an_unchanged_read_is_304() {
    let h = Harness::start(Opts::default()).await;
    let t = token(&h, "fake").await;
    for (kind, doc, attr) in [
        ("Users", json!({"userName": "carol"}), "displayName"),
        (
            "Groups",
            json!({"displayName": "Night Shift"}),
            "externalId",
        ),
    ] {
        let (s, u, _) = call(&h, "POST", &format!("/scim/v2/{kind}"), &t, Some(doc)).await;
        assert_eq!(s, 201, "{u}");
        let (id, v1) = (
            u["id"].as_str().unwrap().to_owned(),
            u["meta"]["version"].as_str().unwrap().to_owned(),
        );
        let http = ssogate_oidc::http::client("t", &Default::default()).unwrap();
        let path = h.url(&format!("/scim/v2/{kind}/{id}"));
        let with = |method: &str, header: &str, value: &str, body: Option<Value>| {
            let mut r = http
                .request(method.parse().unwrap(), &path)
                .header("authorization", format!("Bearer {t}"))
                .header(header, value);
            if let Some(b) = body {
                r = r
                    .header("content-type", "application/scim+json")
                    .body(b.to_string());
            }
            async move { r.send().await.unwrap().status().as_u16() }
        };
        assert_eq!(with("GET", "if-none-match", &v1, None).await, 304, "{kind}");
        let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": attr, "value": "Changed"}]});
        assert_eq!(
            with("PATCH", "if-match", &v1, Some(patch.clone())).await,
            200,
            "{kind}"
        );
        // v1 is stale now: a second change made on it, and a delete, are refused.
        assert_eq!(
            with("PATCH", "if-match", &v1, Some(patch)).await,
            412,
            "{kind}"
        );
        assert_eq!(with("DELETE", "if-match", &v1, None).await, 412, "{kind}");
        assert_eq!(with("GET", "if-none-match", &v1, None).await, 200, "{kind}");
    }
    assert_eq!(h.users(), 1);
}

/// Paging through the accounts (what Okta's import and most clients do with no filter):
/// the page is `count` accounts from `startIndex` on, by id, `totalResults` counts what
/// this client sees — another provider's accounts in neither — and a page past the end
/// is empty. (That the page is read from the directory rather than cut from every
/// account shows in time, not in answers: measured, 159–189 → 28 ms a page at 5,000.)
#[tokio::test]
async fn a_client_pages_through_the_accounts_it_sees() {
    pages(None).await;
    if let Some(url) = crate::support::postgres_database() {
        pages(Some(url)).await;
    }
}

async fn pages(postgres: Option<String>) {
    let engine = crate::support::engine_name(&postgres);
    let h = Harness::start(Opts {
        second: true,
        postgres,
        ..Opts::default()
    })
    .await;
    let (fake, other) = (token(&h, "fake").await, token(&h, "other").await);
    let mut ids = Vec::new();
    for i in 0..5 {
        let (s, u, _) = call(
            &h,
            "POST",
            "/scim/v2/Users",
            &fake,
            Some(json!({"userName": format!("pager{i}")})),
        )
        .await;
        assert_eq!(s, 201, "{u} ({engine})");
        ids.push(u["id"].as_str().unwrap().to_owned());
        // Another provider's account between them: not this client's to see.
        let (s, _, _) = call(
            &h,
            "POST",
            "/scim/v2/Users",
            &other,
            Some(json!({"userName": format!("stranger{i}")})),
        )
        .await;
        assert_eq!(s, 201, "{engine}");
    }
    let page = |q: &'static str| {
        let (h, fake) = (&h, &fake);
        async move {
            let (s, v, _) = call(h, "GET", &format!("/scim/v2/Users?{q}"), fake, None).await;
            assert_eq!(s, 200, "{q}: {v}");
            let got: Vec<String> = v["Resources"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .map(|u| u["id"].as_str().unwrap().to_owned())
                        .collect()
                })
                .unwrap_or_default();
            (
                v["totalResults"].as_u64().unwrap(),
                v["startIndex"].as_u64(),
                got,
            )
        }
    };
    assert_eq!(
        page("startIndex=2&count=2").await,
        (5, Some(2), ids[1..3].to_vec()),
        "{engine}"
    );
    assert_eq!(
        page("startIndex=5&count=10").await,
        (5, Some(5), ids[4..].to_vec()),
        "{engine}"
    );
    assert_eq!(
        page("startIndex=9").await.2,
        Vec::<String>::new(),
        "{engine}"
    );
    assert_eq!(page("count=0").await.0, 5, "{engine}");
    assert_eq!(page("count=0").await.2, Vec::<String>::new(), "{engine}");
    // Attributes still apply to a page.
    let (_, v, _) = call(
        &h,
        "GET",
        "/scim/v2/Users?count=1&attributes=userName",
        &fake,
        None,
    )
    .await;
    assert_eq!(v["Resources"][0]["userName"], "pager0", "{v} ({engine})");
    assert!(v["Resources"][0].get("emails").is_none(), "{v} ({engine})");
    // Groups page the same way (every group is visible; members are this client's).
    let (_, v, _) = call(&h, "GET", "/scim/v2/Groups?count=0", &fake, None).await;
    let before = v["totalResults"].as_u64().unwrap();
    let mut groups = Vec::new();
    for (i, member) in ids.iter().take(3).enumerate() {
        let (s, g, _) = call(
            &h,
            "POST",
            "/scim/v2/Groups",
            &fake,
            Some(json!({"displayName": format!("Pager {i}"), "members": [{"value": member}]})),
        )
        .await;
        assert_eq!(s, 201, "{g} ({engine})");
        groups.push(g["id"].as_str().unwrap().to_owned());
    }
    let q = format!("/scim/v2/Groups?startIndex={}&count=2", before + 2);
    let (s, v, _) = call(&h, "GET", &q, &fake, None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["totalResults"].as_u64(),
        Some(before + 3),
        "{v} ({engine})"
    );
    let got: Vec<(&str, &str)> = v["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["id"].as_str().unwrap(),
                g["members"][0]["value"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (groups[1].as_str(), ids[1].as_str()),
            (groups[2].as_str(), ids[2].as_str())
        ],
        "{v} ({engine})"
    );
}
