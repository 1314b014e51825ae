//! The administrators' console over HTTP: who may see it, and what its forms do.

use crate::support::{Browser, Harness, Opts};
use serde_json::json;
use ssogate_core::domain::UserId;

const ADMINS: &str = "[[provisioning.rules]]\nname = \"admins administer\"\nwhen = '\"admins\" in groups'\ngrant_admin = true";

async fn setup() -> (Harness, Browser, Browser, UserId) {
    let h = Harness::start(Opts {
        provisioning: ADMINS,
        ..Opts::default()
    })
    .await;
    let admin = Browser::new();
    assert_eq!(admin.login(&h, "alice").await.status, 303);
    let bob = Browser::new();
    assert_eq!(bob.login(&h, "bob").await.status, 303);
    let bob_id = h
        .directory
        .user_by_identity("fake", "bob")
        .unwrap()
        .unwrap()
        .id;
    (h, admin, bob, bob_id)
}

#[tokio::test]
async fn only_administrators_see_the_console() {
    let (h, _, bob, bob_id) = setup().await;
    let pages = [
        "/admin".to_owned(),
        "/admin/users".to_owned(),
        format!("/admin/users/{bob_id}"),
        format!("/admin/users/{bob_id}/delete"),
        "/admin/test-claims".to_owned(),
        "/admin/audit".to_owned(),
        "/admin/audit.csv".to_owned(),
        "/admin/provisioning".to_owned(),
        "/admin/providers".to_owned(),
        "/admin/providers/fake/check".to_owned(),
        "/admin/providers/added".to_owned(),
        "/admin/providers/added/delete".to_owned(),
        "/admin/catalogue".to_owned(),
        "/admin/catalogue/permission/read_books".to_owned(),
        "/admin/catalogue/permission/read_books/delete".to_owned(),
        "/admin/api-keys".to_owned(),
        "/admin/lifecycle".to_owned(),
        "/admin/webhooks".to_owned(),
        "/admin/webhooks/hr".to_owned(),
        "/admin/webhooks/hr/delete".to_owned(),
    ];
    for p in &pages {
        let r = bob.get(&h.url(p)).await;
        assert_eq!(r.status, 403, "{p}");
        assert!(r.body.contains("Administrators only"), "{p}");
        let r = Browser::new().get(&h.url(p)).await;
        assert_eq!(r.status, 302, "{p}: anonymous → sign in");
        assert!(r.location().unwrap().starts_with("/login?"));
    }
    let csrf = bob.csrf(&h).await;
    for action in ["status", "grant", "revoke", "external-id", "delete"] {
        let r = bob
            .post(
                &h.url(&format!("/admin/users/{bob_id}/{action}")),
                &[
                    ("csrf", &csrf),
                    ("action", "disable"),
                    ("grant", "admin:admin"),
                    ("kind", "permission"),
                    ("name", "read_books"),
                ],
            )
            .await;
        assert_eq!(r.status, 403, "{action}");
    }
    let r = bob
        .post(
            &h.url("/admin/test-claims"),
            &[("csrf", &csrf), ("provider", "fake"), ("claims", "{}")],
        )
        .await;
    assert_eq!(r.status, 403);
    for form in [
        "/admin/provisioning",
        "/admin/provisioning/fake",
        "/admin/provisioning/fake/inherit",
        "/admin/providers",
        "/admin/providers/added",
        "/admin/providers/added/delete",
        "/admin/providers/fake/jwks-refresh",
        "/admin/catalogue/permission",
        "/admin/catalogue/permission/read_books",
        "/admin/catalogue/permission/read_books/delete",
        "/admin/api-keys",
        "/admin/api-keys/1/revoke",
        "/admin/webhooks",
        "/admin/webhooks/hr/pause",
        "/admin/webhooks/hr/delete",
        "/admin/webhook-deliveries/1/replay",
        "/admin/users/bulk",
    ] {
        let r = bob
            .post(
                &h.url(form),
                &[
                    ("csrf", &csrf),
                    ("slug", "added"),
                    ("issuer", "https://idp.example"),
                    ("name", "x"),
                ],
            )
            .await;
        assert_eq!(r.status, 403, "{form}");
    }
    assert!(h.directory.list_providers().unwrap().is_empty());
    assert!(!h.directory.catalogue().unwrap().has_permission("x"));
    // bob is still as he was.
    let me = bob.get(&h.url("/auth/verify")).await;
    assert_eq!(me.status, 200);
    assert!(
        !me.header("remote-permissions")
            .unwrap()
            .contains("manage_library")
    );
}

#[tokio::test]
async fn an_administrator_changes_grants_and_forward_auth_follows_at_once() {
    let (h, admin, bob, bob_id) = setup().await;
    let dash = admin.get(&h.url("/admin")).await;
    assert_eq!(dash.status, 200, "{}", dash.body);
    assert!(
        dash.body.contains("<svg") && dash.body.contains("2 provisioned"),
        "{}",
        dash.body
    );
    // Filters: administrators, a group, a permission, descending order.
    let list = admin.get(&h.url("/admin/users?admin=yes")).await;
    assert!(
        list.body.contains(">alice<") && !list.body.contains(">bob<"),
        "{}",
        list.body
    );
    let list = admin.get(&h.url("/admin/users?group=Admins")).await;
    assert!(list.body.contains(">alice<") && !list.body.contains(">bob<"));
    assert!(
        list.body.contains("<option value=\"Admins\" selected>"),
        "{}",
        list.body
    );
    let list = admin
        .get(&h.url("/admin/users?permission=download_books&sort=username&desc=true"))
        .await;
    // In the list (the header names the signed-in administrator too).
    let main = &list.body[list.body.find("<main>").unwrap()..];
    let (a, b) = (main.find(">alice<").unwrap(), main.find(">bob<").unwrap());
    assert!(b < a, "bob before alice when descending");
    let list = admin
        .get(&h.url("/admin/users?provider=fake&admin=no"))
        .await;
    assert!(list.body.contains(">bob<") && !list.body.contains(">alice<"));
    let list = admin.get(&h.url("/admin/users?search=bo")).await;
    assert!(
        list.body.contains(&format!("/admin/users/{bob_id}")) && !list.body.contains(">alice<"),
        "{}",
        list.body
    );
    let page = admin.get(&h.url(&format!("/admin/users/{bob_id}"))).await;
    assert!(
        page.body.contains("permission:manage_library"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("Claims of the last sign-in through fake")
    );
    let csrf = page.input("csrf").unwrap();
    // Bob's forward-auth answer is cached by now; the change must still show at once.
    assert!(
        !bob.get(&h.url("/auth/verify"))
            .await
            .header("remote-permissions")
            .unwrap()
            .contains("manage_library")
    );
    let user = h.url(&format!("/admin/users/{bob_id}"));
    let r = admin
        .post(
            &format!("{user}/grant"),
            &[("csrf", &csrf), ("grant", "permission:manage_library")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let perms = bob
        .get(&h.url("/auth/verify"))
        .await
        .header("remote-permissions")
        .unwrap();
    assert!(perms.contains("manage_library"), "{perms}");
    let page = admin.get(&format!("{user}?notice=granted")).await;
    assert!(
        page.body.contains("manage_library") && page.body.contains("admin"),
        "the grant shows its source"
    );
    admin
        .post(
            &format!("{user}/revoke"),
            &[
                ("csrf", &csrf),
                ("kind", "permission"),
                ("name", "manage_library"),
            ],
        )
        .await;
    assert!(
        !bob.get(&h.url("/auth/verify"))
            .await
            .header("remote-permissions")
            .unwrap()
            .contains("manage_library")
    );
    // Unknown names are refused, not stored.
    let r = admin
        .post(
            &format!("{user}/grant"),
            &[("csrf", &csrf), ("grant", "permission:fly")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("no permission &#34;fly&#34;"), "{}", r.body);
    // Profile: the next forward-auth carries the new name.
    admin
        .post(
            &format!("{user}/profile"),
            &[
                ("csrf", &csrf),
                ("display_name", "Robert"),
                ("email", "bob@example.org"),
            ],
        )
        .await;
    assert_eq!(
        bob.get(&h.url("/auth/verify"))
            .await
            .header("remote-name")
            .as_deref(),
        Some("Robert")
    );
    // External id, then disabling: bob's session ends.
    admin
        .post(
            &format!("{user}/external-id"),
            &[
                ("csrf", &csrf),
                ("provider", "fake"),
                ("external_id", "B-1"),
            ],
        )
        .await;
    assert_eq!(
        h.directory.user(bob_id).unwrap().unwrap().external_ids["fake"],
        "B-1"
    );
    admin
        .post(
            &format!("{user}/status"),
            &[("csrf", &csrf), ("action", "disable")],
        )
        .await;
    assert_eq!(
        bob.get_with(&h.url("/auth/verify"), &[("accept", "application/json")])
            .await
            .status,
        401
    );
    // The forms need their token.
    let r = admin
        .post(&format!("{user}/status"), &[("action", "enable")])
        .await;
    assert_eq!(r.status, 403);
    // Audit: the page and the CSV.
    let audit = admin
        .get(&h.url("/admin/audit?event=admin.user.granted"))
        .await;
    assert!(audit.body.contains("admin.user.granted"), "{}", audit.body);
    let csv = admin.get(&h.url("/admin/audit.csv?outcome=success")).await;
    assert_eq!(
        csv.header("content-type").as_deref(),
        Some("text/csv; charset=utf-8")
    );
    assert!(csv.body.starts_with("id,at,event,outcome"));
    assert!(csv.body.contains("admin.user.disabled"));
    let bad = admin.get(&h.url("/admin/audit?from=yesterday")).await;
    assert!(
        bad.body.contains("from: &#34;yesterday&#34; is not a date"),
        "{}",
        bad.body
    );
    // Deleting asks first.
    let confirm = admin.get(&format!("{user}/delete")).await;
    assert!(confirm.body.contains("Delete bob?"));
    let r = admin
        .post(&format!("{user}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.location().as_deref(), Some("/admin/users"));
    assert!(h.directory.user(bob_id).unwrap().is_none());
}

#[tokio::test]
async fn test_claims_shows_the_decision_and_trace_without_creating_anything() {
    let (h, admin, _, _) = setup().await;
    let page = admin.get(&h.url("/admin/test-claims")).await;
    let csrf = page.input("csrf").unwrap();
    let users = h.users();
    let claims =
        json!({"sub": "new-person", "preferred_username": "newbie", "email": "n@example.org",
        "email_verified": true, "groups": ["readers"]})
        .to_string();
    let r = admin
        .post(
            &h.url("/admin/test-claims"),
            &[("csrf", &csrf), ("provider", "fake"), ("claims", &claims)],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Decision: provision"), "{}", r.body);
    assert!(
        r.body.contains("<ol class=\"trace\">") && r.body.contains("newbie"),
        "{}",
        r.body
    );
    assert_eq!(h.users(), users, "nothing was created");
    // A known subject signs in; the trace says so.
    let r = admin
        .post(
            &h.url("/admin/test-claims"),
            &[
                ("csrf", &csrf),
                ("provider", "fake"),
                ("claims", r#"{"sub": "bob", "email": "bob@example.org"}"#),
            ],
        )
        .await;
    assert!(r.body.contains("Decision: sign_in"), "{}", r.body);
    let r = admin
        .post(
            &h.url("/admin/test-claims"),
            &[
                ("csrf", &csrf),
                ("provider", "fake"),
                ("claims", "{not json"),
            ],
        )
        .await;
    assert!(r.body.contains("The claims are not JSON"), "{}", r.body);
    let r = admin
        .post(
            &h.url("/admin/test-claims"),
            &[("csrf", &csrf), ("provider", "nope"), ("claims", "{}")],
        )
        .await;
    assert!(r.body.contains("no provider &#34;nope&#34;"), "{}", r.body);
}

#[tokio::test]
async fn switching_auto_provisioning_off_and_on_keeps_the_defaults() {
    let (h, admin, bob, _) = setup().await;
    assert_eq!(bob.get(&h.url("/admin/provisioning")).await.status, 403);
    let page = admin.get(&h.url("/admin/provisioning")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains("name=\"default_permissions\" value=\"download_books\" checked"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("value=\"read_books\" checked disabled"),
        "required ones are locked"
    );
    let csrf = page.input("csrf").unwrap();
    let save = |auto: bool| {
        let mut form = vec![
            ("csrf", csrf.clone()),
            ("default_permissions", "download_books".to_owned()),
            ("default_permissions", "manage_library".to_owned()),
            ("default_libraries", "main".to_owned()),
            ("admin_email_domains", "".to_owned()),
        ];
        if auto {
            form.push(("auto_provision", "true".to_owned()));
        }
        form
    };
    let form = save(false);
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = admin.post(&h.url("/admin/provisioning/fake"), &pairs).await;
    assert_eq!(r.status, 303, "{}", r.body);
    // Off: a new person is refused, and nothing is created.
    let users = h.users();
    h.idp.set_user(
        "newcomer",
        json!({"preferred_username": "newcomer", "email": "n@example.org", "email_verified": true}),
    );
    let r = Browser::new().login(&h, "newcomer").await;
    assert!(
        r.body.contains("Automatic account creation is disabled"),
        "{}",
        r.body
    );
    assert_eq!(h.users(), users);
    // The defaults are still there, and come back into force when switched on.
    let page = admin.get(&h.url("/admin/provisioning?saved=fake")).await;
    assert!(page.body.contains("Saved the settings of fake"));
    let fake = page.body.split("id=\"scope-fake\"").nth(1).unwrap();
    assert!(
        !fake.contains("name=\"auto_provision\" value=\"true\" checked"),
        "{fake}"
    );
    assert!(fake.contains("value=\"manage_library\" checked"), "{fake}");
    assert!(fake.contains("Use the global settings instead"), "{fake}");
    let form = save(true);
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    admin.post(&h.url("/admin/provisioning/fake"), &pairs).await;
    let r = Browser::new().login(&h, "newcomer").await;
    assert_eq!(r.status, 303, "{}", r.body);
    let newcomer = h
        .directory
        .user_by_identity("fake", "newcomer")
        .unwrap()
        .unwrap();
    assert!(
        newcomer.grants.iter().any(|g| g.name == "manage_library"),
        "the saved defaults apply"
    );
    // Settings that do not compile are refused and not saved.
    let r = admin
        .post(
            &h.url("/admin/provisioning/fake"),
            &[
                ("csrf", &csrf),
                ("auto_provision", "true"),
                ("default_permissions", "fly"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("fly"), "{}", r.body);
    assert!(
        h.audit()
            .iter()
            .filter(|e| e.starts_with("admin.settings.saved"))
            .count()
            == 2
    );
}

#[tokio::test]
async fn providers_are_listed_read_only_and_checked() {
    let (h, admin, _, _) = setup().await;
    let page = admin.get(&h.url("/admin/providers")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<td>fake</td><td>Fake IdP</td>"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("<td>2</td><td>configuration (read-only)</td>"),
        "{}",
        page.body
    );
    let fetches = h.idp.jwks_fetches();
    let report = admin.get(&h.url("/admin/providers/fake/check")).await;
    assert!(
        report.body.contains("Check of fake: usable"),
        "{}",
        report.body
    );
    assert!(report.body.contains("RSA"), "{}", report.body);
    assert!(h.idp.jwks_fetches() > fetches, "checked afresh");
    assert_eq!(
        admin
            .get(&h.url("/admin/providers/nope/check"))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn providers_are_added_edited_and_deleted_from_the_console() {
    let (h, admin, _, _) = setup().await;
    let added = ssogate_testkit::FakeProvider::start().await;
    added.set_user(
        "yan",
        json!({"preferred_username": "yan", "email": "yan@example.net", "email_verified": true}),
    );
    let page = admin.get(&h.url("/admin/providers")).await;
    let csrf = page.input("csrf").unwrap();
    let (client, secret) = (added.client_id(), added.client_secret());
    // A mistake is shown with the form kept.
    let r = admin
        .post(
            &h.url("/admin/providers"),
            &[
                ("csrf", &csrf),
                ("slug", "added"),
                ("issuer", &added.issuer),
                ("advanced", "{\"trust_emial\": \"always\"}"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("trust_emial"), "{}", r.body);
    assert!(
        r.body.contains(&added.issuer),
        "the form keeps what was typed"
    );
    let r = admin
        .post(
            &h.url("/admin/providers"),
            &[
                ("csrf", &csrf),
                ("slug", "added"),
                ("display_name", "Added IdP"),
                ("issuer", &added.issuer),
                ("client_id", &client),
                ("client_secret", &secret),
                ("scopes", "openid profile email"),
                ("advanced", ""),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let list = admin.get(&h.url("/admin/providers")).await;
    assert!(list.body.contains("Added IdP") && list.body.contains("/admin/providers/added/delete"));
    assert!(
        !list.body.contains("/admin/providers/fake/delete"),
        "the file's are read-only"
    );
    let person = Browser::new();
    let r = person
        .login_via(&h, &added, "/auth/added/start", "yan")
        .await;
    assert_eq!(r.status, 303, "{}", r.body);

    // Edit: the secret is never shown back and is kept when left empty.
    let edit = admin.get(&h.url("/admin/providers/added")).await;
    assert_eq!(edit.status, 200);
    assert!(edit.body.contains("saved; leave empty to keep it"));
    assert!(
        !edit.body.contains(&format!("value=\"{secret}\"")),
        "{}",
        edit.body
    );
    let r = admin
        .post(
            &h.url("/admin/providers/added"),
            &[
                ("csrf", &csrf),
                ("display_name", "Partner IdP"),
                ("issuer", &added.issuer),
                ("client_id", &client),
                ("client_secret", ""),
                ("scopes", ""),
                ("advanced", "{\"trust_email\": \"always\"}"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let login = Browser::new().get(&h.url("/login?direct=1")).await;
    assert!(login.body.contains("Partner IdP"), "{}", login.body);
    let again = Browser::new();
    assert_eq!(
        again
            .login_via(&h, &added, "/auth/added/start", "yan")
            .await
            .status,
        303
    );
    assert_eq!(admin.get(&h.url("/admin/providers/fake")).await.status, 404);

    // Delete: the confirmation says how many accounts are linked.
    let confirm = admin.get(&h.url("/admin/providers/added/delete")).await;
    assert!(
        confirm.body.contains("1 account is linked to it"),
        "{}",
        confirm.body
    );
    let r = admin
        .post(&h.url("/admin/providers/added/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, 303);
    assert!(
        r.location().unwrap().contains("1+linked+account+kept"),
        "{:?}",
        r.location()
    );
    assert_eq!(
        person
            .get(&h.url("/auth/verify?redirect=false"))
            .await
            .status,
        401
    );
    assert_eq!(
        Browser::new().get(&h.url("/auth/added/start")).await.status,
        404
    );
    let r = admin
        .post(
            &h.url("/admin/providers/fake/jwks-refresh"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 303);
}

#[tokio::test]
async fn the_catalogue_is_edited_from_the_console() {
    let (h, admin, bob, bob_id) = setup().await;
    let page = admin.get(&h.url("/admin/catalogue")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("read_books") && page.body.contains("configuration (read-only)"));
    let csrf = page.input("csrf").unwrap();
    let r = admin
        .post(
            &h.url("/admin/catalogue/group"),
            &[
                ("csrf", &csrf),
                ("name", "Night Shift"),
                ("external_ids", "night, cn=night\\,ou=staff"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = admin
        .post(
            &h.url("/admin/catalogue/permission"),
            &[("csrf", &csrf), ("name", "bad name")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("no spaces"), "{}", r.body);
    let r = admin
        .post(
            &h.url("/admin/catalogue/permission"),
            &[
                ("csrf", &csrf),
                ("name", "upload_books"),
                ("required", "true"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    let g = h.directory.catalogue().unwrap();
    let night = g.groups.iter().find(|g| g.name == "Night Shift").unwrap();
    let mut ids = night.external_ids.clone();
    ids.sort();
    assert_eq!(ids, ["cn=night,ou=staff", "night"]);
    // Grant it, rename it: the grant follows, and forward-auth says so at once.
    let r = admin
        .post(
            &h.url(&format!("/admin/users/{bob_id}/grant")),
            &[("csrf", &csrf), ("grant", "group:Night Shift")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let edit = admin
        .get(&h.url("/admin/catalogue/group/Night%20Shift"))
        .await;
    assert_eq!(edit.status, 200, "{}", edit.body);
    assert!(edit.body.contains("1 account holds it"), "{}", edit.body);
    let r = admin
        .post(
            &h.url("/admin/catalogue/group/Night%20Shift"),
            &[
                ("csrf", &csrf),
                ("name", "Nights"),
                ("external_ids", "night"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let me = bob.get(&h.url("/auth/verify")).await;
    assert!(
        me.header("remote-groups").unwrap().contains("Nights"),
        "{:?}",
        me.header("remote-groups")
    );
    // Config items are refused.
    let r = admin
        .post(
            &h.url("/admin/catalogue/permission/read_books"),
            &[("csrf", &csrf), ("name", "read")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("configuration file"), "{}", r.body);
    // Something that is not there is a 404 page.
    assert_eq!(
        admin
            .get(&h.url("/admin/catalogue/group/Days"))
            .await
            .status,
        404
    );
    assert_eq!(
        admin
            .get(&h.url("/admin/catalogue/library/nope/delete"))
            .await
            .status,
        404
    );
    // Delete: the confirmation names the holders.
    let confirm = admin
        .get(&h.url("/admin/catalogue/group/Nights/delete"))
        .await;
    assert!(
        confirm.body.contains("1 account holds it"),
        "{}",
        confirm.body
    );
    let r = admin
        .post(
            &h.url("/admin/catalogue/group/Nights/delete"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 303);
    let me = bob.get(&h.url("/auth/verify")).await;
    assert!(
        !me.header("remote-groups")
            .unwrap_or_default()
            .contains("Nights")
    );
}

#[tokio::test]
async fn global_settings_apply_until_a_provider_saves_its_own() {
    let (h, admin, _, _) = setup().await;
    let page = admin.get(&h.url("/admin/provisioning")).await;
    let csrf = page.input("csrf").unwrap();
    assert!(page.body.contains("Global settings"));
    let global = page.body.split("id=\"scope-global\"").nth(1).unwrap();
    assert!(
        global.contains("value=\"download_books\" checked"),
        "{global}"
    );
    // Global: manage_library by default, and a rule; the provider inherits them.
    let rules = r#"[{"name": "kids", "when": "email.endsWith('@example.org')", "grant_libraries": ["kids"]}]"#;
    let r = admin
        .post(
            &h.url("/admin/provisioning"),
            &[
                ("csrf", &csrf),
                ("auto_provision", "true"),
                ("default_permissions", "manage_library"),
                ("admin_email_domains", ""),
                ("rules", rules),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    h.idp.set_user(
        "carol",
        json!({"preferred_username": "carol", "email": "carol@example.org", "email_verified": true}),
    );
    assert_eq!(Browser::new().login(&h, "carol").await.status, 303);
    let carol = h.directory.user_by_username("carol").unwrap().unwrap();
    let names: Vec<&str> = carol.grants.iter().map(|g| g.name.as_str()).collect();
    assert!(
        names.contains(&"manage_library") && names.contains(&"kids"),
        "{names:?}"
    );
    assert!(!names.contains(&"download_books"), "{names:?}");
    // A rule that is not CEL is refused, named, and nothing is saved.
    let r = admin
        .post(
            &h.url("/admin/provisioning"),
            &[
                ("csrf", &csrf),
                ("rules", r#"[{"name": "oops", "when": "(("}]"#),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("oops"), "{}", r.body);
    let r = admin
        .post(
            &h.url("/admin/provisioning"),
            &[("csrf", &csrf), ("rules", "not json")],
        )
        .await;
    assert_eq!(r.status, 422);
    // The provider's own settings win; "use the global settings" drops them.
    let r = admin
        .post(
            &h.url("/admin/provisioning/fake"),
            &[
                ("csrf", &csrf),
                ("auto_provision", "true"),
                ("default_permissions", "download_books"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    h.idp.set_user(
        "dan",
        json!({"preferred_username": "dan", "email": "dan@example.org", "email_verified": true}),
    );
    Browser::new().login(&h, "dan").await;
    let dan = h.directory.user_by_username("dan").unwrap().unwrap();
    assert!(dan.grants.iter().any(|g| g.name == "download_books"));
    assert!(!dan.grants.iter().any(|g| g.name == "manage_library"));
    assert!(
        dan.grants.iter().any(|g| g.name == "kids"),
        "the form without rules keeps the rules in force"
    );
    let r = admin
        .post(
            &h.url("/admin/provisioning/fake/inherit"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 303);
    let page = admin.get(&h.url("/admin/provisioning")).await;
    let fake = page.body.split("id=\"scope-fake\"").nth(1).unwrap();
    assert!(fake.contains("Uses the global settings"), "{fake}");
    assert!(fake.contains("value=\"manage_library\" checked"), "{fake}");
}

#[tokio::test]
async fn api_keys_are_created_shown_once_and_revoked_in_the_console() {
    let (h, admin, _, _) = setup().await;
    let page = admin.get(&h.url("/admin/api-keys")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page.input("csrf").unwrap();
    let r = admin
        .post(
            &h.url("/admin/api-keys"),
            &[("csrf", &csrf), ("name", "backup job"), ("scope", "read")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let key = r
        .body
        .split("<code id=\"new-key\">")
        .nth(1)
        .and_then(|s| s.split("</code>").next())
        .expect("the new key is shown")
        .to_owned();
    assert!(key.starts_with("ssg_"), "{key}");
    assert_eq!(
        r.header("cache-control").as_deref(),
        Some("no-store"),
        "a page with a secret is not cached"
    );
    // It works on the API, with its scope, and is never shown again.
    let api = |key: String| {
        let h = &h;
        async move {
            let http = ssogate_oidc::http::client("t", &Default::default()).unwrap();
            http.get(h.url("/api/v1/users"))
                .header("authorization", format!("Bearer {key}"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(api(key.clone()).await, 200);
    let list = admin.get(&h.url("/admin/api-keys")).await;
    assert!(list.body.contains("backup job") && !list.body.contains(&key));
    let r = admin
        .post(
            &h.url("/admin/api-keys"),
            &[("csrf", &csrf), ("name", " "), ("scope", "read")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = admin
        .post(
            &h.url("/admin/api-keys"),
            &[("csrf", &csrf), ("name", "x"), ("scope", "root")],
        )
        .await;
    assert_eq!(r.status, 422);
    // Revoked: refused at once.
    let id = h
        .directory
        .list_api_keys()
        .unwrap()
        .into_iter()
        .find(|k| k.name == "backup job")
        .unwrap()
        .id;
    let r = admin
        .post(
            &h.url(&format!("/admin/api-keys/{id}/revoke")),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(api(key).await, 401);
    assert!(
        h.audit()
            .iter()
            .any(|e| e.starts_with("admin.apikey.created"))
    );
    assert!(
        h.audit()
            .iter()
            .any(|e| e.starts_with("admin.apikey.revoked"))
    );
}

/// Every console form, posted by an administrator without its CSRF token (or with
/// another one), is the "form expired" page and changes nothing: the token is checked
/// by the `CsrfForm` extractor the handlers take, not by each handler remembering to.
#[tokio::test]
async fn every_console_form_needs_its_token() {
    let (h, admin, _bob, bob_id) = setup().await;
    let audit_before = h.audit().len();
    let users = h.users();
    for (path, form) in [
        (
            format!("/admin/users/{bob_id}/status"),
            vec![("action", "disable")],
        ),
        (
            format!("/admin/users/{bob_id}/grant"),
            vec![("grant", "permission:manage_library")],
        ),
        (format!("/admin/users/{bob_id}/delete"), vec![]),
        (
            "/admin/test-claims".to_owned(),
            vec![("provider", "fake"), ("claims", "{}")],
        ),
        (
            "/admin/provisioning".to_owned(),
            vec![("auto_provision", "false")],
        ),
        (
            "/admin/provisioning/fake".to_owned(),
            vec![("auto_provision", "false")],
        ),
        ("/admin/provisioning/fake/inherit".to_owned(), vec![]),
        (
            "/admin/providers".to_owned(),
            vec![("slug", "evil"), ("issuer", "https://evil.example")],
        ),
        ("/admin/providers/fake/jwks-refresh".to_owned(), vec![]),
        ("/admin/catalogue/groups".to_owned(), vec![("name", "Evil")]),
        (
            "/admin/api-keys".to_owned(),
            vec![("name", "evil"), ("scope", "admin")],
        ),
    ] {
        for token in [None, Some("not-the-token")] {
            let mut fields = form.clone();
            if let Some(t) = token {
                fields.push(("csrf", t));
            }
            let r = admin.post(&h.url(&path), &fields).await;
            assert_eq!(r.status, 403, "{path} {token:?}: {}", r.body);
            assert!(r.body.contains("csrf"), "{path}: {}", r.body);
        }
    }
    assert_eq!(h.users(), users, "nothing deleted");
    assert_eq!(
        h.audit().len(),
        audit_before,
        "nothing changed, nothing audited"
    );
    // A form body past a mebibyte is not read at all.
    let huge = "x".repeat(1536 * 1024);
    let r = admin
        .post(
            &h.url("/admin/catalogue/groups"),
            &[("name", huge.as_str())],
        )
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(h.audit().len(), audit_before);
}

#[tokio::test]
async fn webhooks_are_added_with_the_secret_shown_once_and_their_log_is_kept() {
    let (h, admin, _, _) = setup().await;
    let page = admin.get(&h.url("/admin/webhooks")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page.input("csrf").unwrap();
    // Refused input keeps what was typed and says what is wrong.
    let r = admin
        .post(
            &h.url("/admin/webhooks"),
            &[
                ("csrf", &csrf),
                ("name", "hr"),
                ("url", "http://hooks.example.com/"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains("url: must be an https:// URL"),
        "{}",
        r.body
    );
    assert!(r.body.contains("value=\"http://hooks.example.com/\""));
    let r = admin
        .post(
            &h.url("/admin/webhooks"),
            &[
                ("csrf", &csrf),
                ("name", "hr"),
                ("url", "https://hooks.example.com/in"),
                ("event", "user.deleted"),
                ("event", "user.disabled"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let secret = r
        .body
        .split("<code id=\"new-secret\">")
        .nth(1)
        .and_then(|s| s.split("</code>").next())
        .expect("the secret is shown")
        .to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let list = admin.get(&h.url("/admin/webhooks")).await;
    assert!(
        list.body.contains("user.deleted, user.disabled"),
        "{}",
        list.body
    );
    assert!(!list.body.contains(&secret));

    // A ping shows in the log; pausing says what it means; a new secret is shown once.
    let r = admin
        .post(&h.url("/admin/webhooks/hr/ping"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, 303);
    let hook = admin.get(&h.url(&r.location().unwrap())).await;
    assert!(hook.body.contains("A ping is queued"), "{}", hook.body);
    assert!(hook.body.contains("<code>ping</code>"), "{}", hook.body);
    let r = admin
        .post(&h.url("/admin/webhooks/hr/pause"), &[("csrf", &csrf)])
        .await;
    let hook = admin.get(&h.url(&r.location().unwrap())).await;
    assert!(
        hook.body.contains("paused: nothing is queued or sent"),
        "{}",
        hook.body
    );
    let r = admin
        .post(
            &h.url("/admin/webhooks/hr/rotate-secret"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("id=\"new-secret\">whsec_") && !r.body.contains(&secret));

    // Removal asks first, then takes the log with it.
    let ask = admin.get(&h.url("/admin/webhooks/hr/delete")).await;
    assert_eq!(ask.status, 200);
    assert!(ask.body.contains("class=\"danger\""), "{}", ask.body);
    assert_eq!(h.directory.webhooks().unwrap().len(), 1);
    let r = admin
        .post(&h.url("/admin/webhooks/hr/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, 303);
    assert!(h.directory.webhooks().unwrap().is_empty());
    assert!(h.directory.deliveries(None, None, 10).unwrap().is_empty());
    let gone = admin.get(&h.url("/admin/webhooks/hr")).await;
    assert_eq!(gone.status, 404);
    assert!(
        h.audit()
            .iter()
            .any(|e| e.starts_with("admin.webhook.deleted"))
    );
}

#[tokio::test]
async fn scim_tokens_are_made_for_a_provider_in_the_console() {
    let (h, admin, _, _) = setup().await;
    let page = admin.get(&h.url("/admin/api-keys")).await;
    let csrf = page.input("csrf").unwrap();
    assert!(
        page.body.contains("<option value=\"fake\">fake</option>"),
        "{}",
        page.body
    );
    let r = admin
        .post(
            &h.url("/admin/api-keys"),
            &[
                ("csrf", &csrf),
                ("name", "okta"),
                ("scope", "scim"),
                ("provider", "fake"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("<code id=\"new-key\">ssg_"), "{}", r.body);
    assert!(r.body.contains("scim (fake)"), "{}", r.body);
    let r = admin
        .post(
            &h.url("/admin/api-keys"),
            &[
                ("csrf", &csrf),
                ("name", "x"),
                ("scope", "scim"),
                ("provider", "gone"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("no provider"), "{}", r.body);
}

#[tokio::test]
async fn every_console_page_says_who_is_signed_in_and_where_you_are() {
    let (h, admin, _, _) = setup().await;
    for (path, here) in [
        ("/admin", "Dashboard"),
        ("/admin/users", "Users"),
        ("/admin/catalogue/permission/read_books", "Catalogue"),
        ("/admin/webhooks", "Webhooks"),
    ] {
        let page = admin.get(&h.url(path)).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(
            page.body.contains("<span>Signed in as alice</span>"),
            "{path}: {}",
            page.body
        );
        assert_eq!(
            page.body.matches("aria-current=\"page\"").count(),
            1,
            "{path}"
        );
        assert!(
            page.body
                .contains(&format!("aria-current=\"page\">{here}</a>")),
            "{path}: {}",
            page.body
        );
    }
    // The header's sign-out works: the token it carries is the browser's.
    let page = admin.get(&h.url("/admin")).await;
    let csrf = page.input("csrf").unwrap();
    let out = admin.post(&h.url("/logout"), &[("csrf", &csrf)]).await;
    assert!(matches!(out.status, 200 | 302 | 303), "{}", out.body);
    let after = admin.get(&h.url("/admin")).await;
    assert_eq!(after.status, 302, "signed out");
}

#[tokio::test]
async fn audit_events_show_usernames_actors_seconds_and_open_with_their_trace() {
    let (h, admin, bob, bob_id) = setup().await;
    let csrf = admin.csrf(&h).await;
    let r = admin
        .post(
            &h.url(&format!("/admin/users/{bob_id}/status")),
            &[("csrf", &csrf), ("action", "disable")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let _ = bob;
    let list = admin
        .get(&h.url("/admin/audit?event=admin.user.disabled"))
        .await;
    let main = &list.body[list.body.find("<main>").unwrap()..];
    assert!(main.contains("<td>bob</td><td>user:alice</td>"), "{main}");
    // Time to the second.
    let secs = regex_like_seconds(main);
    assert!(secs, "{main}");
    // The first sign-in's event opens with its trace.
    let list = admin
        .get(&h.url("/admin/audit?event=user.provisioned"))
        .await;
    let link = list
        .body
        .split("href=\"/admin/audit/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a link to the event")
        .to_owned();
    let event = admin.get(&h.url(&format!("/admin/audit/{link}"))).await;
    assert_eq!(event.status, 200, "{}", event.body);
    assert!(
        event.body.contains("<h2>Decision trace</h2>"),
        "{}",
        event.body
    );
    let gone = admin.get(&h.url("/admin/audit/999999")).await;
    assert_eq!(gone.status, 404);
}

/// `HH:MM:SS UTC` somewhere in the page.
fn regex_like_seconds(s: &str) -> bool {
    s.match_indices(" UTC<").any(|(i, _)| {
        let t = &s.as_bytes()[i.saturating_sub(8)..i];
        t.len() == 8
            && t[2] == b':'
            && t[5] == b':'
            && t.iter()
                .enumerate()
                .all(|(n, c)| n == 2 || n == 5 || c.is_ascii_digit())
    })
}

#[tokio::test]
async fn bulk_actions_ask_first_name_every_account_and_count_what_they_did() {
    let (h, admin, _bob, bob_id) = setup().await;
    let list = admin.get(&h.url("/admin/users")).await;
    assert!(list.body.contains("2 accounts match."), "{}", list.body);
    let csrf = list.input("csrf").unwrap();
    let bob = bob_id.0.to_string();
    let ask = admin
        .post(
            &h.url("/admin/users/bulk"),
            &[("csrf", &csrf), ("action", "disable"), ("user", &bob)],
        )
        .await;
    assert_eq!(ask.status, 200, "{}", ask.body);
    assert!(
        ask.body.contains("Disable 1 account?") && ask.body.contains(">bob</a>"),
        "{}",
        ask.body
    );
    assert!(ask.body.contains("class=\"danger\""));
    // Nothing happened yet.
    assert_eq!(
        h.directory.user(bob_id).unwrap().unwrap().status,
        ssogate_core::domain::UserStatus::Active
    );
    let done = admin
        .post(
            &h.url("/admin/users/bulk"),
            &[
                ("csrf", &csrf),
                ("action", "disable"),
                ("user", &bob),
                ("confirmed", "yes"),
            ],
        )
        .await;
    assert_eq!(done.status, 303);
    let back = admin.get(&h.url(&done.location().unwrap())).await;
    assert!(back.body.contains("Disabled 1 account."), "{}", back.body);
    assert_eq!(
        h.directory.user(bob_id).unwrap().unwrap().status,
        ssogate_core::domain::UserStatus::Disabled
    );
    // Approving an account that is not pending is refused, and said so.
    let done = admin
        .post(
            &h.url("/admin/users/bulk"),
            &[
                ("csrf", &csrf),
                ("action", "approve"),
                ("user", &bob),
                ("confirmed", "yes"),
            ],
        )
        .await;
    let back = admin.get(&h.url(&done.location().unwrap())).await;
    assert!(
        back.body.contains("Approved 0 accounts. Not done:"),
        "{}",
        back.body
    );
}

#[tokio::test]
async fn effective_settings_say_every_value_and_where_it_comes_from() {
    let (h, admin, _, _) = setup().await;
    let page = admin.get(&h.url("/admin/effective-settings")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("aria-current=\"page\">Provisioning</a>"));
    for want in [
        "<code>provisioning.match_by</code>",
        "<code>provisioning.auto_provision</code></td><td><code class=\"value\">true</code></td><td>[provisioning] in the file",
        "<code>provisioning.require_approval</code></td><td><code class=\"value\">false</code></td><td>default",
        "<code>claims.username</code>",
    ] {
        assert!(page.body.contains(want), "{want}: {}", page.body);
    }
}

#[tokio::test]
async fn nothing_offers_to_remove_what_a_sign_in_gives_back() {
    let (h, admin, _, bob_id) = setup().await;
    let page = admin.get(&h.url(&format!("/admin/users/{bob_id}"))).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("required: every account holds it"),
        "{}",
        page.body
    );
    assert!(
        !page
            .body
            .contains("aria-label=\"Remove permission read_books\""),
        "{}",
        page.body
    );
    // What an administrator gave can go, and looks like it.
    assert!(
        page.body
            .contains("class=\"danger\" aria-label=\"Remove permission download_books\""),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn rules_are_tested_against_claims_before_they_are_saved() {
    let (h, admin, _, _) = setup().await;
    let page = admin.get(&h.url("/admin/provisioning")).await;
    let csrf = page.input("csrf").unwrap();
    let rules = r#"[{"name": "no contractors", "when": "'contractors' in groups", "deny": true, "message": "Contractors use the partner portal."}]"#;
    let r = admin
        .post(
            &h.url("/admin/provisioning/fake"),
            &[
                ("csrf", &csrf),
                ("auto_provision", "true"),
                ("rules", rules),
                (
                    "claims",
                    r#"{"sub": "x1", "preferred_username": "carol", "groups": ["contractors"]}"#,
                ),
                ("action", "test"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("<strong>reject</strong>"), "{}", r.body);
    assert!(
        r.body.contains("Contractors use the partner portal."),
        "{}",
        r.body
    );
    assert!(r.body.contains("Not saved yet."));
    // The form comes back as edited…
    assert!(r.body.contains("no contractors"), "{}", r.body);
    // …and nothing was saved: a sign-in with those claims is not refused.
    h.idp.set_user(
        "x1",
        serde_json::json!({"preferred_username": "carol", "groups": ["contractors"]}),
    );
    let b = crate::support::Browser::new();
    assert_eq!(b.login(&h, "x1").await.status, 303);
    // A rule that does not compile is said so, at its key.
    let r = admin
        .post(
            &h.url("/admin/provisioning/fake"),
            &[
                ("csrf", &csrf),
                ("rules", r#"[{"name": "bad", "when": "groups ++"}]"#),
                ("claims", "{}"),
                ("action", "test"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("bad"), "{}", r.body);
}

#[tokio::test]
async fn the_dashboard_counts_sign_ins_provisioning_and_refusals_by_reason_and_provider() {
    let (h, admin, _, _) = setup().await;
    let d = h.directory.clone();
    tokio::task::spawn_blocking(move || {
        d.record_event(ssogate_store::audit::NewEvent {
            at: ssogate_store::RequestContext::now().now,
            event: "login.rejected".into(),
            outcome: "failure".into(),
            reason: Some("not_in_allowed_group".into()),
            provider: Some("fake".into()),
            subject: Some("mallory".into()),
            ..Default::default()
        })
    })
    .await
    .unwrap()
    .unwrap();
    let page = admin.get(&h.url("/admin")).await;
    assert_eq!(page.status, 200);
    let main = &page.body[page.body.find("<main>").unwrap()..];
    // alice and bob signed in once each (their first sign-ins).
    assert!(
        main.contains("<span class=\"n\">2</span> <span>Provisioned, 30 days</span>"),
        "{main}"
    );
    assert!(
        main.contains("<span class=\"n\">1</span> <span>Refused, 30 days</span>"),
        "{main}"
    );
    assert!(main.contains("<tr><td>fake</td><td>2</td><td>2</td><td><a href=\"/admin/audit?provider=fake&amp;outcome=failure\">1</a></td></tr>"), "{main}");
    assert!(
        main.contains("<td><code>not_in_allowed_group</code></td><td>1</td>"),
        "{main}"
    );
    assert!(
        main.contains("<td>mallory</td><td><a href=\"/admin/audit/"),
        "{main}"
    );
}

#[tokio::test]
async fn applications_are_listed_and_show_what_they_would_receive() {
    let h = Harness::start(Opts {
        provisioning: ADMINS,
        extra: "[clients.wiki]\nname = \"Wiki\"\nredirect_uris = [\"https://wiki.example.org/oidc/callback\"]\nsecret = \"0123456789abcdef0123456789\"\nscopes = [\"openid\", \"profile\", \"groups\"]\nsubject_type = \"pairwise\"\naccess = { groups = [\"Staff\"] }\nclaim_names = { preferred_username = \"login\" }\nfilters = { groups = \"^Adm\" }\n",
        ..Opts::default()
    })
    .await;
    h.idp.set_user(
        "alice",
        serde_json::json!({"preferred_username": "alice", "groups": ["admins", "readers"]}),
    );
    let admin = Browser::new();
    assert_eq!(admin.login(&h, "alice").await.status, 303);
    let page = admin.get(&h.url("/admin/clients")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("pairwise, sector wiki.example.org"),
        "{}",
        page.body
    );
    assert!(page.body.contains("groups: Staff"), "{}", page.body);
    let csrf = page.input("csrf").unwrap();
    let r = admin
        .post(
            &h.url("/admin/clients/preview"),
            &[("csrf", &csrf), ("client", "wiki"), ("user", "alice")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("client_access_denied"),
        "alice is not in Staff: {}",
        r.body
    );
    assert!(
        r.body.contains("&#34;login&#34;: &#34;alice&#34;"),
        "renamed: {}",
        r.body
    );
    assert!(
        r.body.contains("&#34;Admins&#34;") && !r.body.contains("&#34;Readers&#34;"),
        "filtered: {}",
        r.body
    );
    assert!(
        !r.body.contains("&#34;sub&#34;: &#34;1&#34;") && r.body.contains("&#34;sub&#34;: "),
        "pairwise, not the id: {}",
        r.body
    );
    let r = admin
        .post(
            &h.url("/admin/clients/preview"),
            &[("csrf", &csrf), ("client", "wiki"), ("user", "nobody")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
}

/// Applications are registered in the console: a refused form keeps what was typed and
/// says why; the secret is shown once and works at the token endpoint's door (it is what
/// the directory keeps a digest of); a new secret replaces it; removal asks first; every
/// step is audited. The file's applications offer none of it.
#[tokio::test]
async fn applications_are_registered_given_new_secrets_and_removed_in_the_console() {
    let (h, admin, _, _) = setup().await;
    let page = admin.get(&h.url("/admin/clients")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page.input("csrf").unwrap();
    let r = admin
        .post(
            &h.url("/admin/clients"),
            &[
                ("csrf", &csrf),
                ("client_id", "wiki"),
                ("redirect_uris", "/relative/callback"),
                ("type", "confidential"),
                ("scope", "openid"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains("is not an absolute http(s) URL"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("/relative/callback"),
        "what was typed stays"
    );
    let r = admin
        .post(
            &h.url("/admin/clients"),
            &[
                ("csrf", &csrf),
                ("client_id", "wiki"),
                ("name", "The wiki"),
                (
                    "redirect_uris",
                    "https://wiki.example.org/cb\r\nhttps://wiki.example.org/cb2",
                ),
                ("type", "confidential"),
                ("scope", "openid"),
                ("scope", "groups"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let secret_of = |body: &str| {
        body.split("<code id=\"new-secret\">")
            .nth(1)
            .and_then(|s| s.split("</code>").next())
            .expect("the secret is shown")
            .to_owned()
    };
    let secret = secret_of(&r.body);
    let d = h.directory.clone();
    let stored = tokio::task::spawn_blocking(move || d.op_client("wiki").unwrap().unwrap())
        .await
        .unwrap();
    assert_eq!(
        stored.secret_sha256.as_deref(),
        Some(ssogate_store::sessions::digest(&secret).as_str())
    );
    assert_eq!(
        stored.spec["redirect_uris"],
        serde_json::json!([
            "https://wiki.example.org/cb",
            "https://wiki.example.org/cb2"
        ])
    );
    assert_eq!(
        stored.spec["scopes"],
        serde_json::json!(["openid", "groups"])
    );
    let list = admin.get(&h.url("/admin/clients")).await;
    assert!(list.body.contains("The wiki"), "{}", list.body);
    assert!(!list.body.contains(&secret));

    let r = admin
        .post(&h.url("/admin/clients/wiki/secret"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let fresh = secret_of(&r.body);
    assert_ne!(fresh, secret);

    // Every key is edited as the TOML of [clients.wiki]; what the text leaves out goes.
    let form = admin.get(&h.url("/admin/clients/wiki/edit")).await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("redirect_uris = ["), "{}", form.body);
    assert!(
        form.body.contains("name = &#34;The wiki&#34;"),
        "{}",
        form.body
    );
    let edit = |text: &'static str| {
        let csrf = csrf.clone();
        let admin = &admin;
        let url = h.url("/admin/clients/wiki/edit");
        async move {
            admin
                .post(&url, &[("csrf", csrf.as_str()), ("settings", text)])
                .await
        }
    };
    let refused =
        edit("redirect_uris = [\"https://wiki.example.org/cb\"]\ncolour = \"red\"\n").await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("colour"),
        "the key is named: {}",
        refused.body
    );
    assert!(
        refused.body.contains("wiki.example.org/cb"),
        "what was typed stays"
    );
    let not_toml = edit("redirect_uris = [").await;
    assert_eq!(not_toml.status, 422, "{}", not_toml.body);
    assert!(not_toml.body.contains("not TOML"), "{}", not_toml.body);
    let saved = edit(
        "redirect_uris = [\"https://wiki.example.org/cb\"]\r\nscopes = [\"openid\", \"groups\"]\r\n\
         claim_names = { groups = \"roles\" }\r\n\
         id_token_signed_response_alg = \"ES256\"\r\n\
         [access]\r\ngroups = [\"staff\"]\r\n",
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let d = h.directory.clone();
    let spec = tokio::task::spawn_blocking(move || d.op_client("wiki").unwrap().unwrap().spec)
        .await
        .unwrap();
    assert_eq!(
        spec,
        serde_json::json!({"redirect_uris": ["https://wiki.example.org/cb"],
            "scopes": ["openid", "groups"], "claim_names": {"groups": "roles"},
            "id_token_signed_response_alg": "ES256", "access": {"groups": ["staff"]}}),
        "saved whole: the name is gone"
    );
    let list = admin.get(&h.url("/admin/clients")).await;
    assert!(list.body.contains("groups: staff"), "{}", list.body);
    // A confidential application does not become public here.
    let public = edit("redirect_uris = [\"https://wiki.example.org/cb\"]\npublic = true\n").await;
    assert_eq!(public.status, 422, "{}", public.body);

    let ask = admin.get(&h.url("/admin/clients/wiki/delete")).await;
    assert_eq!(ask.status, 200);
    assert!(
        ask.body.contains("Remove the application “wiki”?"),
        "{}",
        ask.body
    );
    let r = admin
        .post(&h.url("/admin/clients/wiki/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let list = admin.get(&h.url(&r.location().unwrap())).await;
    assert!(
        list.body.contains("Application “wiki” removed."),
        "{}",
        list.body
    );
    assert!(!list.body.contains("The wiki"));
    let audit = h.audit();
    for e in [
        "admin.client.created",
        "admin.client.secret_rotated",
        "admin.client.updated",
        "admin.client.deleted",
    ] {
        assert!(
            audit.iter().any(|a| a.starts_with(&format!("{e}/"))),
            "{e}: {audit:?}"
        );
    }
}
