//! Local passwords end to end: the account page (change, first password, Tududi's
//! warning), reset links (one-time, newest only, policy before use, sessions end), the
//! API and the console. Every change is audited; no password is ever stored or shown.

use crate::support::{Browser, Harness, Opts};
use ssogate_core::domain::UserId;
use ssogate_store::credentials::{ApiScope, PasswordCheck};
use ssogate_store::sessions::{SessionLifetimes, SessionOrigin};

const GOOD: &str = "correct horse battery staple";

/// Password sign-in on, and no rate limit on password forms (these tests post many).
const LOCAL: &str = "local_login = true\n[server.rate_limit]\npassword = 0";

async fn local() -> Harness {
    Harness::start(Opts {
        server: LOCAL,
        ..Opts::default()
    })
    .await
}

fn alice(h: &Harness) -> UserId {
    h.directory.user_by_username("alice").unwrap().unwrap().id
}

async fn password_login(h: &Harness, user: &str, password: &str) -> u16 {
    let b = Browser::new();
    let csrf = b.csrf(h).await;
    b.post(
        &h.url("/login"),
        &[("username", user), ("password", password), ("csrf", &csrf)],
    )
    .await
    .status
}

/// Where an answer sends the browser, absolute (ours are relative paths).
fn follow(h: &Harness, r: &crate::support::Resp) -> String {
    let to = r.location().unwrap();
    if to.starts_with('/') { h.url(&to) } else { to }
}

async fn change(
    h: &Harness,
    b: &Browser,
    csrf: &str,
    fields: &[(&str, &str)],
) -> crate::support::Resp {
    let mut form = fields.to_vec();
    form.push(("csrf", csrf));
    b.post(&h.url("/account/password"), &form).await
}

#[tokio::test]
async fn a_person_sets_then_changes_their_password_on_the_account_page() {
    let h = local().await;
    let b = Browser::new();
    b.login(&h, "alice").await;
    let page = b.get(&h.url("/account")).await;
    // Tududi's warning for an account that can only use single sign-on.
    assert!(
        page.body.contains("Your account has no password"),
        "{}",
        page.body
    );
    assert!(page.body.contains("name=\"new\""));
    assert!(
        !page.body.contains("name=\"current\""),
        "no current password to ask for"
    );
    let csrf = page.input("csrf").unwrap();

    // Refusals say why, on the page, and change nothing.
    for (new, repeat, says) in [
        ("short", "short", "too short: use at least 10 characters"),
        (
            GOOD,
            "something else entirely",
            "The two new passwords differ",
        ),
        ("Alice", "Alice", "too short"),
    ] {
        let r = change(&h, &b, &csrf, &[("new", new), ("repeat", repeat)]).await;
        assert_eq!(r.status, 303);
        let shown = b.get(&follow(&h, &r)).await;
        assert!(shown.body.contains(says), "{says}: {}", shown.body);
    }
    assert!(!h.directory.user(alice(&h)).unwrap().unwrap().has_password);
    // The refusal is shown by code only: a link cannot make the page say anything else.
    let forged = b.get(&h.url("/account?password_error=Call+0800+now")).await;
    assert!(!forged.body.contains("0800"));

    let r = change(&h, &b, &csrf, &[("new", GOOD), ("repeat", GOOD)]).await;
    assert_eq!(
        r.location().as_deref(),
        Some("/account?notice=password:changed")
    );
    assert!(
        b.get(&follow(&h, &r))
            .await
            .body
            .contains("Your password is saved.")
    );
    assert_eq!(password_login(&h, "alice", GOOD).await, 303);

    // Changing it needs the current one.
    let page = b.get(&h.url("/account")).await;
    assert!(page.body.contains("name=\"current\""));
    assert!(!page.body.contains("Your account has no password"));
    let next = "another long passphrase";
    let r = change(
        &h,
        &b,
        &csrf,
        &[
            ("current", "not it at all"),
            ("new", next),
            ("repeat", next),
        ],
    )
    .await;
    assert!(
        b.get(&follow(&h, &r))
            .await
            .body
            .contains("The current password is not right")
    );
    assert_eq!(password_login(&h, "alice", GOOD).await, 303, "unchanged");
    change(
        &h,
        &b,
        &csrf,
        &[("current", GOOD), ("new", next), ("repeat", next)],
    )
    .await;
    assert_eq!(password_login(&h, "alice", next).await, 303);
    assert_eq!(password_login(&h, "alice", GOOD).await, 401);

    let audit = h.audit();
    for want in [
        "password.changed/failure/password_too_short",
        "password.changed/failure/passwords_differ",
        "password.changed/failure/wrong_password",
        "password.changed/success",
    ] {
        assert!(
            audit.iter().any(|e| e.starts_with(want)),
            "{want}: {audit:?}"
        );
    }
    // The form needs its CSRF token.
    let r = b
        .post(
            &h.url("/account/password"),
            &[("new", next), ("repeat", next)],
        )
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn a_first_password_needs_a_recent_sign_in() {
    let h = local().await;
    Browser::new().login(&h, "alice").await;
    // A session opened an hour ago (someone may have taken it over since).
    let now = ssogate_store::RequestContext::now().now;
    let old = h
        .directory
        .create_session(
            alice(&h),
            &SessionOrigin::default(),
            now - 3600,
            SessionLifetimes {
                idle: 86_400,
                absolute: 86_400,
            },
        )
        .unwrap();
    let b = Browser::new();
    b.set_cookie("ssogate_session", old.expose());
    let page = b.get(&h.url("/account")).await;
    assert!(
        page.body.contains("sign out and sign in again"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("name=\"new\""));
    let csrf = b.csrf(&h).await;
    let r = b
        .post(
            &h.url("/account/password"),
            &[("new", GOOD), ("repeat", GOOD), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(
        r.location().as_deref(),
        Some("/account?password_error=sign_in_not_recent")
    );
    assert!(!h.directory.user(alice(&h)).unwrap().unwrap().has_password);
}

#[tokio::test]
async fn password_forms_are_not_there_without_local_login() {
    let h = Harness::start(Opts::default()).await;
    let b = Browser::new();
    b.login(&h, "alice").await;
    let page = b.get(&h.url("/account")).await;
    assert!(!page.body.contains("name=\"new\""));
    let csrf = b.csrf(&h).await;
    let r = b
        .post(
            &h.url("/account/password"),
            &[("new", GOOD), ("repeat", GOOD), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn a_reset_link_works_once_checks_the_policy_first_and_ends_every_session() {
    let h = local().await;
    let signed_in = Browser::new();
    signed_in.login(&h, "alice").await;
    assert_eq!(signed_in.get(&h.url("/auth/verify")).await.status, 200);
    let id = alice(&h);
    assert_eq!(h.sessions(), 1);
    let now = ssogate_store::RequestContext::now().now;
    let first = h
        .directory
        .create_password_reset(id, Some("user:root"), now, 3600)
        .unwrap()
        .unwrap();
    let token = h
        .directory
        .create_password_reset(id, Some("user:root"), now, 3600)
        .unwrap()
        .unwrap();
    let b = Browser::new();
    // Only the newest link works; a made-up one looks the same.
    for gone in [first.expose(), "made-up-token"] {
        let r = b
            .get(&h.url(&format!("/password/reset?token={gone}")))
            .await;
        assert_eq!(r.status, 410, "{}", r.body);
    }
    let url = h.url(&format!("/password/reset?token={}", token.expose()));
    let page = b.get(&url).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Choose a new password for alice."));
    assert_eq!(page.header("cache-control").as_deref(), Some("no-store"));
    // The token never leaves this site in a Referer (`no-referrer` would make the
    // browser send `Origin: null` with the form, which the CSRF check refuses).
    assert_eq!(
        page.header("referrer-policy").as_deref(),
        Some("same-origin")
    );
    let csrf = page.input("csrf").unwrap();
    // A refused password does not use the link up.
    let r = b
        .post(
            &h.url("/password/reset"),
            &[
                ("token", token.expose()),
                ("new", "short"),
                ("repeat", "short"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("too short"));
    let r = b
        .post(
            &h.url("/password/reset"),
            &[
                ("token", token.expose()),
                ("new", GOOD),
                ("repeat", GOOD),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("every session of your account has ended"));
    // The browser is sent to sign in again: whoever knew the old password is out.
    assert_eq!(signed_in.get(&h.url("/auth/verify")).await.status, 302);
    assert_eq!(h.sessions(), 0);
    assert_eq!(password_login(&h, "alice", GOOD).await, 303);
    // Used up.
    let again = b
        .post(
            &h.url("/password/reset"),
            &[
                ("token", token.expose()),
                ("new", "another long one"),
                ("repeat", "another long one"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(again.status, 410);
    assert_eq!(password_login(&h, "alice", GOOD).await, 303, "unchanged");
    // An expired link is gone too.
    let expired = h
        .directory
        .create_password_reset(id, None, now - 7200, 3600)
        .unwrap()
        .unwrap();
    let r = b
        .get(&h.url(&format!("/password/reset?token={}", expired.expose())))
        .await;
    assert_eq!(r.status, 410);
    let audit = h.audit();
    assert!(
        audit
            .iter()
            .any(|e| e.starts_with("password.reset/success")),
        "{audit:?}"
    );
    assert!(
        audit
            .iter()
            .any(|e| e.starts_with("password.reset/failure/reset_link_invalid")),
        "{audit:?}"
    );
}

use crate::support::api_call as api;

#[tokio::test]
async fn administrators_set_and_remove_passwords_and_make_reset_links_through_the_api() {
    let h = local().await;
    Browser::new().login(&h, "alice").await;
    let key = h
        .directory
        .create_api_key("admin", ApiScope::Admin, 1)
        .unwrap()
        .expose()
        .to_owned();
    let reader = h
        .directory
        .create_api_key("reader", ApiScope::Read, 1)
        .unwrap()
        .expose()
        .to_owned();
    let set = |pw: serde_json::Value| serde_json::json!({ "password": pw });
    let (s, _) = api(
        &h,
        "PUT",
        "/api/v1/users/alice/password",
        &reader,
        Some(set(GOOD.into())),
    )
    .await;
    assert_eq!(s, 403);
    let (s, v) = api(
        &h,
        "PUT",
        "/api/v1/users/alice/password",
        &key,
        Some(set("short".into())),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    assert!(
        v["detail"].as_str().unwrap_or("").contains("too short"),
        "{v}"
    );
    let (s, _) = api(
        &h,
        "PUT",
        "/api/v1/users/alice/password",
        &key,
        Some(set(GOOD.into())),
    )
    .await;
    assert_eq!(s, 204);
    assert_eq!(
        h.directory.check_password("alice", GOOD).unwrap(),
        PasswordCheck::Ok(alice(&h))
    );
    let (s, v) = api(&h, "POST", "/api/v1/users/alice/password-reset", &key, None).await;
    assert_eq!(s, 201, "{v}");
    let url = v["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&h.url("/password/reset?token=")), "{url}");
    assert!(v["expires_at"].as_i64().unwrap() > ssogate_store::RequestContext::now().now + 3000);
    assert_eq!(Browser::new().get(&url).await.status, 200);
    let (s, _) = api(
        &h,
        "PUT",
        "/api/v1/users/alice/password",
        &key,
        Some(set(serde_json::Value::Null)),
    )
    .await;
    assert_eq!(s, 204);
    assert_eq!(
        h.directory.check_password("alice", GOOD).unwrap(),
        PasswordCheck::SingleSignOnOnly
    );
    let (s, _) = api(
        &h,
        "PUT",
        "/api/v1/users/nobody/password",
        &key,
        Some(set(GOOD.into())),
    )
    .await;
    assert_eq!(s, 404);
    // Neither the password nor the link's token is in the audit log.
    for row in h
        .directory
        .query_audit(&Default::default())
        .unwrap()
        .into_iter()
        .map(|(_, e)| format!("{e:?}"))
    {
        assert!(!row.contains(GOOD), "{row}");
        assert!(!row.contains(url.split('=').next_back().unwrap()), "{row}");
    }
    let audit = h.audit();
    for want in [
        "admin.user.password_set/success",
        "admin.user.password_reset_link/success",
        "admin.user.password_removed/success",
    ] {
        assert!(
            audit.iter().any(|e| e.starts_with(want)),
            "{want}: {audit:?}"
        );
    }
}

/// People keep the password they had in the system they leave: a bcrypt hash brought by
/// an import signs in, and is replaced by Argon2id at that first sign-in.
#[tokio::test]
async fn an_imported_bcrypt_password_signs_in_and_is_upgraded_to_argon2id() {
    let h = local().await;
    let row = ssogate_store::import::ImportRow {
        username: "moved".into(),
        password_hash: Some(bcrypt::hash("from the old wiki", 4).unwrap()),
        ..Default::default()
    };
    h.directory
        .import_users(vec![row], 1, false, None, Box::new(|_| {}))
        .unwrap();
    let hash = |h: &Harness| {
        h.directory
            .password_record("moved")
            .unwrap()
            .and_then(|(_, hash, _)| hash)
            .unwrap()
    };
    assert!(hash(&h).starts_with("$2b$"));
    assert_eq!(password_login(&h, "moved", "wrong one entirely").await, 401);
    assert!(hash(&h).starts_with("$2b$"), "only a match upgrades");
    assert_eq!(password_login(&h, "moved", "from the old wiki").await, 303);
    assert!(hash(&h).starts_with("$argon2id$"), "{}", hash(&h));
    assert_eq!(password_login(&h, "moved", "from the old wiki").await, 303);
}

/// The console's account page: set a password (twice), make a reset link shown once,
/// remove the password.
#[tokio::test]
async fn administrators_manage_passwords_in_the_console() {
    let h = Harness::start(Opts {
        server: LOCAL,
        provisioning: "[[provisioning.rules]]\nname = \"admins administer\"\nwhen = '\"admins\" in groups'\ngrant_admin = true",
        ..Opts::default()
    })
    .await;
    let admin = Browser::new();
    admin.login(&h, "alice").await;
    Browser::new().login(&h, "bob").await;
    let bob = h.directory.user_by_username("bob").unwrap().unwrap().id;
    let page = admin.get(&h.url(&format!("/admin/users/{bob}"))).await;
    assert!(page.body.contains("no local password"), "{}", page.body);
    let csrf = page.input("csrf").unwrap();
    let url = h.url(&format!("/admin/users/{bob}/password"));
    let r = admin
        .post(
            &url,
            &[("password", GOOD), ("repeat", "different"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("differ"));
    let r = admin
        .post(
            &url,
            &[("password", "short"), ("repeat", "short"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("too short"));
    let r = admin
        .post(
            &url,
            &[("password", GOOD), ("repeat", GOOD), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(
        admin
            .get(&follow(&h, &r))
            .await
            .body
            .contains("Password saved.")
    );
    assert_eq!(password_login(&h, "bob", GOOD).await, 303);

    let r = admin
        .post(
            &h.url(&format!("/admin/users/{bob}/reset-link")),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let link = r
        .body
        .split(['<', '>'])
        .find(|s| s.contains("/password/reset?token="))
        .unwrap()
        .replace("&#x3d;", "=")
        .replace("&amp;", "&");
    assert_eq!(Browser::new().get(&link).await.status, 200, "{link}");

    let r = admin
        .post(&url, &[("action", "remove"), ("csrf", &csrf)])
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(password_login(&h, "bob", GOOD).await, 401);
    // Forged forms change nothing.
    let r = admin
        .post(&url, &[("password", GOOD), ("repeat", GOOD)])
        .await;
    assert_eq!(r.status, 403);
    assert!(!h.directory.user(bob).unwrap().unwrap().has_password);
}

/// The address and user agent stored with every event are shown wherever events are:
/// the API, the console's page and its CSV export.
#[tokio::test]
async fn audit_events_show_the_address_and_the_user_agent() {
    let h = Harness::start(Opts {
        server: LOCAL,
        provisioning: "[[provisioning.rules]]\nname = \"admins administer\"\nwhen = '\"admins\" in groups'\ngrant_admin = true",
        ..Opts::default()
    })
    .await;
    let admin = Browser::new();
    admin.login(&h, "alice").await;
    let b = Browser::new();
    let csrf = b.csrf(&h).await;
    b.post_with(
        &h.url("/login"),
        &[
            ("username", "nobody"),
            ("password", "wrong guess here"),
            ("csrf", &csrf),
        ],
        &[("user-agent", "Mozilla/5.0 (audit test)")],
    )
    .await;
    let key = h
        .directory
        .create_api_key("reader", ApiScope::Read, 1)
        .unwrap()
        .expose()
        .to_owned();
    let (s, v) = api(&h, "GET", "/api/v1/audit?event=login.password", &key, None).await;
    assert_eq!(s, 200, "{v}");
    let e = &v[0];
    assert_eq!(e["address"], "127.0.0.1", "{v}");
    assert_eq!(e["user_agent"], "Mozilla/5.0 (audit test)", "{v}");
    let page = admin.get(&h.url("/admin/audit")).await;
    assert!(
        page.body.contains("Mozilla/5.0 (audit test)"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<th scope=\"col\">Address</th>"));
    let csv = admin.get(&h.url("/admin/audit.csv")).await;
    assert!(
        csv.body.starts_with(
            "id,at,event,outcome,reason,provider,subject,user_id,address,user_agent,detail"
        ),
        "{}",
        csv.body
    );
    assert!(
        csv.body.contains("127.0.0.1,Mozilla/5.0 (audit test),"),
        "{}",
        csv.body
    );
}
