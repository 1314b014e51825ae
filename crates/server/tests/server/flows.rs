//! Sign-in end to end against the in-process fake provider.

use crate::support::{Browser, Harness, Opts, Resp, metric_with};
use serde_json::json;
use ssogate_core::domain::UserId;

#[tokio::test]
async fn first_login_provisions_with_defaults_and_lands_on_return_to() {
    let h = Harness::start(Opts::default()).await;
    let b = Browser::new();
    let r = b
        .login_via(
            &h,
            &h.idp,
            "/auth/fake/start?return_to=%2Fbooks%3Fid%3D7",
            "alice",
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location().unwrap(), h.url("/books?id=7"));
    let cookie = r.header("set-cookie").unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain http base_url: no Secure flag"
    );
    assert_eq!(h.users(), 1);
    let user = h
        .directory
        .user_by_identity("fake", "alice")
        .unwrap()
        .unwrap();
    let grants: Vec<String> = user
        .grants
        .iter()
        .map(|g| format!("{}:{}", g.kind, g.name))
        .collect();
    for want in [
        "permission:read_books",
        "permission:download_books",
        "library:main",
        "group:Readers",
        "group:Admins",
    ] {
        assert!(
            grants.contains(&want.to_owned()),
            "{want} missing from {grants:?}"
        );
    }
    // Forward-auth now answers with the identity.
    let v = b.get(&h.url("/auth/verify")).await;
    assert_eq!(v.status, 200);
    assert_eq!(v.header("remote-user").as_deref(), Some("alice"));
    assert_eq!(
        v.header("remote-email").as_deref(),
        Some("alice@example.org")
    );
    assert_eq!(v.header("remote-groups").as_deref(), Some("Admins,Readers"));
    assert_eq!(v.header("remote-libraries").as_deref(), Some("main"));
    assert_eq!(
        v.header("remote-permissions").as_deref(),
        Some("download_books,read_books")
    );
    assert_eq!(v.header("cache-control").as_deref(), Some("no-store"));
    // Asked again, the session is answered from memory, in front of the router: the
    // same answer, sealed the same way, under a request id of its own.
    let again = b.get(&h.url("/auth/verify")).await;
    assert_eq!(again.status, 200);
    same_answer(&v, &again);

    // A second login signs in to the same account without provisioning again.
    let b2 = Browser::new();
    let r = b2.login(&h, "alice").await;
    assert_eq!(r.status, 303);
    assert_eq!(h.users(), 1);
    let audit = h.audit();
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.starts_with("user.provisioned/success"))
            .count(),
        1,
        "{audit:?}"
    );
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.starts_with("login/success"))
            .count(),
        1,
        "{audit:?}"
    );
}

#[tokio::test]
async fn session_id_rotates_at_login_and_logout_ends_it() {
    let h = Harness::start(Opts::default()).await;
    let b = Browser::new();
    b.login(&h, "alice").await;
    let first = b.cookie("ssogate_session").unwrap();
    b.login(&h, "alice").await;
    let second = b.cookie("ssogate_session").unwrap();
    assert_ne!(first, second);
    // The old id is dead: a stolen pre-login cookie is worth nothing.
    let old = Browser::new();
    old.set_cookie("ssogate_session", &first);
    assert_eq!(
        old.get_with(&h.url("/auth/verify"), &[("accept", "application/json")])
            .await
            .status,
        401
    );

    // Held in memory now: forward-auth answers it without reading the directory.
    assert_eq!(b.get(&h.url("/auth/verify")).await.status, 200);
    assert_eq!(b.get(&h.url("/auth/verify")).await.status, 200);

    let csrf = b.csrf(&h).await;
    let r = b.post(&h.url("/logout"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status, 303);
    // RP-initiated logout: off to the provider's end-session endpoint, coming back to us.
    let to = r.location().unwrap();
    assert!(to.starts_with(&format!("{}/logout?", h.idp.issuer)), "{to}");
    assert!(
        to.contains("post_logout_redirect_uri=") && to.contains("logged-out"),
        "{to}"
    );
    // With the ID token of the sign-in as id_token_hint, so the provider knows whose
    // session to end without asking.
    let hint = url::Url::parse(&to)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "id_token_hint")
        .map(|(_, v)| v.into_owned())
        .expect("id_token_hint");
    let payload = hint.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["iss"], h.idp.issuer.as_str());
    // And a random `state` (Glewlwyd strands the person on its own page without one).
    let state = url::Url::parse(&to)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state");
    assert!(state.len() >= 20, "{state}");
    assert_eq!(b.cookie("ssogate_session"), None);
    let again = Browser::new();
    again.set_cookie("ssogate_session", &second);
    assert_eq!(
        again
            .get_with(&h.url("/auth/verify"), &[("accept", "application/json")])
            .await
            .status,
        401
    );
    assert!(h.audit().iter().any(|e| e.starts_with("logout/success")));
}

#[tokio::test]
async fn provisioning_disabled_shows_the_reason_and_creates_nothing() {
    let h = Harness::start(Opts {
        provisioning: "auto_provision = false",
        ..Opts::default()
    })
    .await;
    let b = Browser::new();
    let r = b.login(&h, "alice").await;
    assert_eq!(r.status, 403);
    assert!(
        r.body.contains("Automatic account creation is disabled"),
        "{}",
        r.body
    );
    assert!(r.body.contains("auto_provisioning_disabled"));
    assert_eq!(h.users(), 0);
    assert_eq!(b.cookie("ssogate_session"), None);
    assert!(
        h.audit()
            .iter()
            .any(|e| e == "login.rejected/failure/auto_provisioning_disabled"),
        "{:?}",
        h.audit()
    );
    // The reason is said in the person's language.
    let mut de = Browser::new();
    de.extra.push(("accept-language", "de-DE, en;q=0.5".into()));
    let r = de.login(&h, "alice").await;
    assert!(
        r.body.contains("Konten werden nicht automatisch angelegt"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("auto_provisioning_disabled"),
        "the reference stays"
    );
}

#[tokio::test]
async fn a_disabled_account_is_told_so() {
    let h = Harness::start(Opts::default()).await;
    let b = Browser::new();
    b.login(&h, "alice").await;
    h.disable("alice").await;
    // Disabling ended the session at once.
    assert_eq!(
        b.get_with(&h.url("/auth/verify"), &[("accept", "application/json")])
            .await
            .status,
        401
    );
    let r = b.login(&h, "alice").await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("This account is disabled"), "{}", r.body);
}

#[tokio::test]
async fn awaiting_approval_is_a_page_not_a_session() {
    let h = Harness::start(Opts {
        provisioning: "require_approval = true",
        ..Opts::default()
    })
    .await;
    let b = Browser::new();
    let r = b.login(&h, "alice").await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("awaiting approval"), "{}", r.body);
    assert_eq!(h.users(), 1, "the account exists, pending");
    assert_eq!(h.sessions(), 0);
}

#[tokio::test]
async fn forward_auth_answers_proxies_and_enforces_route_requirements() {
    let h = Harness::start(Opts {
        server: "trusted_proxies = [\"127.0.0.1/32\"]\nallowed_origins = [\"https://app.example.com\"]",
        ..Opts::default()
    })
    .await;
    let b = Browser::new();
    // API clients and nginx get 401.
    let r = b
        .get_with(&h.url("/auth/verify"), &[("accept", "application/json")])
        .await;
    assert_eq!(r.status, 401);
    let r = b.get(&h.url("/auth/verify?redirect=false")).await;
    assert_eq!(r.status, 401);
    // Browsers behind Traefik/Caddy are sent to log in, and back where they were going.
    let r = b
        .get_with(
            &h.url("/auth/verify"),
            &[
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "app.example.com"),
                ("x-forwarded-uri", "/shelf?x=1"),
            ],
        )
        .await;
    assert_eq!(r.status, 302);
    let to = r.location().unwrap();
    assert!(to.starts_with(&h.url("/login?return_to=")), "{to}");
    assert!(
        to.contains("https%3A%2F%2Fapp.example.com%2Fshelf%3Fx%3D1"),
        "{to}"
    );
    // …but never to an origin that is not allowed.
    let r = b
        .get_with(
            &h.url("/auth/verify"),
            &[
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "evil.example"),
            ],
        )
        .await;
    assert!(
        !r.location().unwrap().contains("evil"),
        "{:?}",
        r.location()
    );

    b.login(&h, "bob").await;
    assert_eq!(
        b.get(&h.url("/auth/verify?permission=download_books&library=main"))
            .await
            .status,
        200
    );
    let r = b
        .get(&h.url("/auth/verify?permission=manage_library"))
        .await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("manage_library"));
    assert_eq!(b.get(&h.url("/auth/verify?group=Admins")).await.status, 403);
    assert_eq!(b.get(&h.url("/auth/verify?library=kids")).await.status, 403);
}

#[tokio::test]
async fn identity_headers_are_encoded_so_they_cannot_inject() {
    let h = Harness::start(Opts::default()).await;
    h.idp.set_user(
        "zoe",
        json!({"email": "zoe@example.org", "email_verified": true, "preferred_username": "zoe",
               "name": "Zoë, \"the\" Admin"}),
    );
    let b = Browser::new();
    b.login(&h, "zoe").await;
    let r = b.get(&h.url("/auth/verify")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("remote-name").as_deref(),
        Some("Zo%C3%AB%2C \"the\" Admin")
    );
}

#[tokio::test]
async fn back_channel_logout_ends_the_session_and_refuses_a_replay() {
    let h = Harness::start(Opts::default()).await;
    let b = Browser::new();
    h.idp.set_user(
        "alice",
        json!({"email":"alice@example.org","email_verified":true,"preferred_username":"alice","sid":"sess-1"}),
    );
    b.login(&h, "alice").await;
    assert_eq!(b.get(&h.url("/auth/verify")).await.status, 200);
    let token = h.idp.sign(
        json!({"alg": "RS256", "typ": "logout+jwt", "kid": "k1"}),
        &h.idp.logout_claims(Some("alice"), None),
    );
    let provider = Browser::new();
    let r = provider
        .post(
            &h.url("/auth/fake/backchannel-logout"),
            &[("logout_token", &token)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(
        b.get_with(&h.url("/auth/verify"), &[("accept", "application/json")])
            .await
            .status,
        401
    );
    let r = provider
        .post(
            &h.url("/auth/fake/backchannel-logout"),
            &[("logout_token", &token)],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("invalid_request"));
    let audit = h.audit();
    assert!(
        audit
            .iter()
            .any(|e| e.starts_with("logout.backchannel/success")),
        "{audit:?}"
    );
    assert!(
        audit
            .iter()
            .any(|e| e == "logout.backchannel/failure/logout_token_replayed"),
        "{audit:?}"
    );
    // An ID token is not a logout token.
    let id = h.idp.sign(
        json!({"alg":"RS256","kid":"k1"}),
        &h.idp.id_claims("alice", Some("n")),
    );
    let r = provider
        .post(
            &h.url("/auth/fake/backchannel-logout"),
            &[("logout_token", &id)],
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn login_page_auto_initiates_with_one_provider_and_direct_shows_it() {
    let h = Harness::start(Opts::default()).await;
    let b = Browser::new();
    let r = b.get(&h.url("/login?return_to=%2Fx")).await;
    assert_eq!(r.status, 302);
    let port = h.base.rsplit(':').next().unwrap();
    assert_eq!(
        r.location().unwrap(),
        format!("/auth/fake/start?return_to=http%3A%2F%2F127.0.0.1%3A{port}%2Fx")
    );
    let r = b.get(&h.url("/login?direct=1")).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Sign in with Fake IdP"), "{}", r.body);
    assert!(r.body.contains("name=\"viewport\""));
    // German and French by Accept-Language.
    let r = b
        .get_with(
            &h.url("/login?direct=1"),
            &[("accept-language", "de-CH, en;q=0.5")],
        )
        .await;
    assert!(
        r.body.contains("lang=\"de\"") && r.body.contains("Anmelden"),
        "{}",
        r.body
    );
    let r = b
        .get_with(
            &h.url("/login?prevent_auto_init=1"),
            &[("accept-language", "fr")],
        )
        .await;
    assert!(r.body.contains("lang=\"fr\"") && r.body.contains("Connexion"));
}

#[tokio::test]
async fn two_providers_show_two_buttons_and_the_public_list() {
    let h = Harness::start(Opts {
        second: true,
        server: "login_label = \"Continue with {name}\"",
        ..Opts::default()
    })
    .await;
    let b = Browser::new();
    let r = b.get(&h.url("/login")).await;
    assert_eq!(r.status, 200, "two providers: no auto-initiate");
    assert!(
        r.body.contains("Continue with Fake IdP") && r.body.contains("Continue with Other IdP")
    );
    let r = b.get(&h.url("/api/oidc/providers")).await;
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["providers"][0]["slug"], "fake");
    assert_eq!(v["providers"][1]["button_text"], "Continue with Other IdP");
    assert!(
        v.to_string().find("secret").is_none(),
        "no secrets in the public list"
    );
}

#[tokio::test]
async fn account_page_links_and_unlinks_with_the_last_method_guard() {
    let h = Harness::start(Opts {
        second: true,
        ..Opts::default()
    })
    .await;
    let other = h.other.as_ref().unwrap();
    let b = Browser::new();
    b.login(&h, "alice").await;
    let page = b.get(&h.url("/account")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Link Other IdP"), "{}", page.body);
    let csrf = page.input("csrf").unwrap();
    // Linking is a login round-trip bound to this session.
    let r = b
        .post(&h.url("/account/link/other"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, 302);
    let auth = url::Url::parse(&r.location().unwrap()).unwrap();
    other.login_as("bob");
    let back = other.authorize(&auth);
    let r = b.get(back.as_str()).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.location().as_deref(),
        Some("/account?notice=linked:other")
    );
    assert_eq!(h.users(), 1, "linking creates no account");
    let page = b.get(&h.url("/account?notice=linked:other")).await;
    assert!(
        page.body.contains("Other IdP is now linked"),
        "{}",
        page.body
    );
    assert_eq!(h.directory.identities(UserId(1)).unwrap().len(), 2);
    // The linked identity signs in to the same account.
    let b2 = Browser::new();
    b2.login_via(&h, other, "/auth/other/start", "bob").await;
    assert_eq!(
        b2.get(&h.url("/auth/verify"))
            .await
            .header("remote-user")
            .as_deref(),
        Some("alice")
    );

    // Unlink asks first, then unlinks.
    let confirm = b.get(&h.url("/account/unlink/other")).await;
    assert!(
        confirm.body.contains("Unlink Other IdP?"),
        "{}",
        confirm.body
    );
    let r = b
        .post(&h.url("/account/unlink/other"), &[("csrf", &csrf)])
        .await;
    assert_eq!(
        r.location().as_deref(),
        Some("/account?notice=unlinked:other")
    );
    assert_eq!(h.directory.identities(UserId(1)).unwrap().len(), 1);
    // The last way to sign in cannot be unlinked.
    let r = b
        .post(&h.url("/account/unlink/fake"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.location().as_deref(), Some("/account?notice=last:fake"));
    assert_eq!(h.directory.identities(UserId(1)).unwrap().len(), 1);
    let audit = h.audit();
    assert!(
        audit
            .iter()
            .any(|e| e == "identity.unlinked/failure/last_sign_in_method"),
        "{audit:?}"
    );
    assert!(
        audit
            .iter()
            .any(|e| e.starts_with("identity.linked/success")),
        "{audit:?}"
    );
}

#[tokio::test]
async fn linking_an_identity_that_belongs_to_another_account_is_refused() {
    let h = Harness::start(Opts {
        second: true,
        ..Opts::default()
    })
    .await;
    let other = h.other.as_ref().unwrap();
    // bob@other already has an account of its own.
    let bob = Browser::new();
    bob.login_via(&h, other, "/auth/other/start", "bob").await;
    let b = Browser::new();
    b.login(&h, "alice").await;
    let csrf = b.csrf(&h).await;
    let r = b
        .post(&h.url("/account/link/other"), &[("csrf", &csrf)])
        .await;
    other.login_as("bob");
    let back = other.authorize(&url::Url::parse(&r.location().unwrap()).unwrap());
    let r = b.get(back.as_str()).await;
    assert_eq!(r.location().as_deref(), Some("/account?notice=taken:other"));
    assert_eq!(
        bob.get(&h.url("/auth/verify"))
            .await
            .header("remote-user")
            .as_deref(),
        Some("bob")
    );
}

#[tokio::test]
async fn hybrid_login_tells_single_sign_on_accounts_to_use_their_provider() {
    let h = Harness::start(Opts {
        server: "local_login = true",
        ..Opts::default()
    })
    .await;
    let b = Browser::new();
    b.login(&h, "alice").await;
    let b = Browser::new();
    let page = b.get(&h.url("/login")).await;
    assert_eq!(page.status, 200, "local login on: no auto-initiate");
    assert!(page.body.contains("type=\"password\""));
    let csrf = page.input("csrf").unwrap();
    let r = b
        .post(
            &h.url("/login"),
            &[
                ("username", "alice"),
                ("password", "guess"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status, 401);
    assert!(
        r.body
            .contains("This account uses single sign-on. Please sign in with your provider."),
        "{}",
        r.body
    );
    // A local password works.
    h.directory
        .set_password(UserId(1), Some("correct horse battery staple"), 1)
        .unwrap();
    let r = b
        .post(
            &h.url("/login"),
            &[
                ("username", "alice"),
                ("password", "correct horse battery staple"),
                ("csrf", &csrf),
                ("return_to", "/account"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), Some(h.url("/account")));
    assert_eq!(b.get(&h.url("/auth/verify")).await.status, 200);
    let r = b
        .post(
            &h.url("/login"),
            &[("username", "nobody"), ("password", "x"), ("csrf", &csrf)],
        )
        .await;
    assert!(r.body.contains("Wrong username or password."));
    let audit = h.audit();
    assert!(
        audit.iter().any(|e| e == "login.password/failure/sso_only"),
        "{audit:?}"
    );
    assert!(
        audit
            .iter()
            .any(|e| e.starts_with("login.password/success")),
        "{audit:?}"
    );
}

#[tokio::test]
async fn local_login_is_off_by_default() {
    let h = Harness::start(Opts::default()).await;
    let b = Browser::new();
    let csrf = b.csrf(&h).await;
    let r = b
        .post(
            &h.url("/login"),
            &[("username", "a"), ("password", "b"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let h = Harness::start(Opts::default()).await;
    let b = Browser::new();
    assert_eq!(b.get(&h.url("/healthz")).await.status, 200);
    let r = b.get(&h.url("/readyz")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    b.login(&h, "alice").await;
    b.get(&h.url("/auth/verify")).await;
    let m = b.get(&h.url("/metrics")).await.body;
    assert!(
        m.contains("ssogate_logins_total{provider=\"fake\",outcome=\"success\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("ssogate_provisioned_users_total{provider=\"fake\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("ssogate_jwks_fetches_total{provider=\"fake\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("ssogate_request_duration_seconds_count{route=\"verify\"} 1"),
        "{m}"
    );
    for counter in [
        "ssogate_reloads_total",
        "ssogate_password_checks_waited_total",
        "ssogate_password_checks_ran_busy_total",
        "ssogate_password_checks_abandoned_total",
    ] {
        assert!(
            m.contains(&format!("# TYPE {counter} counter\n{counter} ")),
            "{m}"
        );
    }
    for cache in ["sessions", "tokens"] {
        assert!(
            m.contains(&format!(
                "ssogate_cache_invalidations_total{{cache=\"{cache}\"}} "
            )),
            "{m}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_provider_fails_readiness_and_shows_a_page() {
    // Port 9 (discard) on loopback: nothing listens there.
    let h = Harness::start(Opts {
        extra: "[providers.dead]\nissuer = \"http://127.0.0.1:9\"\nclient_id = \"x\"\nclient_secret = \"y\"\n",
        ..Opts::default()
    })
    .await;
    let b = Browser::new();
    let r = b.get(&h.url("/readyz")).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("provider dead"), "{}", r.body);
    assert!(!r.body.contains("provider fake"), "{}", r.body);
    let r = b.get(&h.url("/auth/dead/start")).await;
    assert_eq!(r.status, 502);
    assert!(
        r.body.contains("The provider cannot be reached"),
        "{}",
        r.body
    );
    assert!(
        h.audit()
            .iter()
            .any(|e| e == "login.failed/failure/provider_unreachable"),
        "{:?}",
        h.audit()
    );
}

#[tokio::test]
async fn two_instances_on_one_postgres_share_sessions_and_logouts() {
    let Some(url) = crate::support::postgres_database() else {
        return;
    };
    let h = Harness::start(Opts {
        postgres: Some(url),
        ..Opts::default()
    })
    .await;
    let (other, _stop) = h.second_instance().await;
    let b = Browser::new();
    // Signed in through the first instance…
    assert_eq!(b.login(&h, "alice").await.status, 303);
    // …the session is valid on the second (and now in its memory).
    let r = b.get(&format!("{other}/auth/verify")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("remote-user").as_deref(), Some("alice"));
    // A back-channel logout received by the first ends it on both.
    let token = h.idp.sign(
        json!({"alg": "RS256", "typ": "logout+jwt", "kid": "k1"}),
        &h.idp.logout_claims(Some("alice"), None),
    );
    let r = Browser::new()
        .post(
            &h.url("/auth/fake/backchannel-logout"),
            &[("logout_token", &token)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let json_only = [("accept", "application/json")];
    assert_eq!(
        b.get_with(&h.url("/auth/verify"), &json_only).await.status,
        401
    );
    // The second instance hears it through LISTEN/NOTIFY (bounded wait).
    assert_eq!(
        b.status_within(&format!("{other}/auth/verify"), 401).await,
        401,
        "the second instance still honours an ended session"
    );
    // Disabling the account on one instance is heard by the other too.
    let b = Browser::new();
    b.login(&h, "alice").await;
    assert_eq!(b.get(&format!("{other}/auth/verify")).await.status, 200);
    h.disable("alice").await;
    assert_eq!(
        b.status_within(&format!("{other}/auth/verify"), 401).await,
        401
    );
}

/// Regression: the other instance's listener used to collect notifications until 500 ms
/// passed without one, so steady traffic (logouts every few milliseconds) held every
/// invalidation back — a disabled account stayed signed in there.
#[tokio::test]
async fn a_disable_reaches_the_other_instance_under_steady_invalidation_traffic() {
    let Some(url) = crate::support::postgres_database() else {
        return;
    };
    let h = Harness::start(Opts {
        postgres: Some(url),
        ..Opts::default()
    })
    .await;
    let (other, _stop) = h.second_instance().await;
    let b = Browser::new();
    assert_eq!(b.login(&h, "alice").await.status, 303);
    assert_eq!(b.get(&format!("{other}/auth/verify")).await.status, 200);
    // 200 invalidations a second through the first instance, while the test runs.
    let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (flowing, flows) = std::sync::mpsc::channel();
    let noise = {
        let (d, running) = (h.directory.clone(), running.clone());
        std::thread::spawn(move || {
            let mut sent = 0u64;
            while running.load(std::sync::atomic::Ordering::Relaxed) && sent < 20_000 {
                d.announce(ssogate_store::invalidate::Invalidation::Session(format!(
                    "noise-{sent}"
                )))
                .unwrap();
                sent += 1;
                if sent == 50 {
                    let _ = flowing.send(());
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            sent
        })
    };
    // The stream is established (50 sent) before the change that matters.
    tokio::task::spawn_blocking(move || flows.recv().unwrap())
        .await
        .unwrap();
    let b2 = Browser::new();
    assert_eq!(b2.login(&h, "bob").await.status, 303);
    assert_eq!(b2.get(&format!("{other}/auth/verify")).await.status, 200);
    h.disable("alice").await;
    let refused = b.status_within(&format!("{other}/auth/verify"), 401).await;
    running.store(false, std::sync::atomic::Ordering::Relaxed);
    let sent = noise.join().unwrap();
    assert_eq!(
        refused, 401,
        "the disabled account is refused on the other instance while {sent} invalidations flowed"
    );
    assert!(
        sent < 20_000,
        "the noise was still flowing when the refusal was seen"
    );
    // Bob, untouched, is still let in there.
    let r = b2.get(&format!("{other}/auth/verify")).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn forward_auth_accepts_provider_access_tokens_for_known_accounts() {
    let h = Harness::start(Opts {
        fake: "bearer = \"jwt\"\nbearer_audience = \"api://books\"",
        ..Opts::default()
    })
    .await;
    let token = |sub: &str, aud: &str| {
        h.idp.sign(
            json!({"alg": "RS256", "typ": "at+jwt", "kid": "k1"}),
            &h.idp.access_claims(sub, aud),
        )
    };
    let api = Browser::new();
    let verify = h.url("/auth/verify");
    // No account yet: a valid token alone does not provision.
    let alice = token("alice", "api://books");
    let r = api
        .get_with(&verify, &[("authorization", &format!("Bearer {alice}"))])
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(h.users(), 0);
    Browser::new().login(&h, "alice").await;
    let r = api
        .get_with(&verify, &[("authorization", &format!("Bearer {alice}"))])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("remote-user").as_deref(), Some("alice"));
    // Again: answered from memory, at once, the same.
    let again = api
        .get_with(&verify, &[("authorization", &format!("Bearer {alice}"))])
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    same_answer(&r, &again);
    // Wrong audience, forged, garbage: 401 with a Bearer challenge, and an audit event.
    for bad in [
        token("alice", "api://other"),
        ssogate_testkit::forge_none(&h.idp.access_claims("alice", "api://books")),
        "not-a-token".to_owned(),
    ] {
        let r = api
            .get_with(&verify, &[("authorization", &format!("Bearer {bad}"))])
            .await;
        assert_eq!(r.status, 401, "{bad}");
        assert!(r.header("www-authenticate").unwrap().starts_with("Bearer "));
    }
    assert!(
        h.audit()
            .iter()
            .any(|e| e.starts_with("bearer.rejected/failure/")),
        "{:?}",
        h.audit()
    );
    // Disabling the account stops its tokens at once (the cache hears it).
    h.disable("alice").await;
    let r = api
        .get_with(&verify, &[("authorization", &format!("Bearer {alice}"))])
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn allowed_groups_and_username_conflicts_are_explained() {
    let h = Harness::start(Opts {
        provisioning: "groups.allow_regex = \"^(readers|admins)$\"\ngroups.restrict_login_to_allowed = true\nusername.collision = \"reject\"",
        ..Opts::default()
    })
    .await;
    // bob is in no allowed group.
    let r = Browser::new().login(&h, "bob").await;
    assert_eq!(r.status, 403);
    assert!(
        r.body.contains("restricted to members of allowed groups"),
        "{}",
        r.body
    );
    assert!(r.body.contains("not_in_allowed_group"));
    // Two people wanting the username "alice": the second is refused, not renamed.
    assert_eq!(Browser::new().login(&h, "alice").await.status, 303);
    h.idp.set_user(
        "alice-two",
        json!({"preferred_username": "alice", "email": "a2@example.org", "email_verified": true, "groups": ["readers"]}),
    );
    let r = Browser::new().login(&h, "alice-two").await;
    assert_eq!(r.status, 403);
    assert!(
        r.body
            .contains("The username &#34;alice&#34; is already taken")
            || r.body
                .contains("The username &quot;alice&quot; is already taken"),
        "{}",
        r.body
    );
    assert_eq!(h.users(), 1);
    let audit = h.audit();
    assert!(
        audit
            .iter()
            .any(|e| e == "login.rejected/failure/not_in_allowed_group"),
        "{audit:?}"
    );
    assert!(
        audit
            .iter()
            .any(|e| e == "login.rejected/failure/username_conflict"),
        "{audit:?}"
    );
}

#[tokio::test]
async fn a_link_finished_under_another_session_is_refused() {
    let h = Harness::start(Opts {
        second: true,
        ..Opts::default()
    })
    .await;
    let other = h.other.as_ref().unwrap();
    let b = Browser::new();
    b.login(&h, "alice").await;
    let csrf = b.csrf(&h).await;
    let r = b
        .post(&h.url("/account/link/other"), &[("csrf", &csrf)])
        .await;
    let auth = url::Url::parse(&r.location().unwrap()).unwrap();
    // Before the provider answers, the browser signs in as somebody else.
    b.login(&h, "bob").await;
    other.login_as("bob");
    let r = b.get(other.authorize(&auth).as_str()).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("link_session_changed"));
    assert_eq!(
        h.directory.identities(UserId(1)).unwrap().len(),
        1,
        "nothing was linked to alice"
    );
    assert!(
        h.directory
            .user_by_identity("other", "bob")
            .unwrap()
            .is_none()
    );
    assert!(
        h.audit()
            .iter()
            .any(|e| e == "identity.linked/failure/link_session_changed"),
        "{:?}",
        h.audit()
    );
}

/// Regression: `dump_claims` was documented but what it collected reached nobody.
#[tokio::test]
async fn dump_claims_reaches_the_operator_in_the_audit_log_with_proofs_redacted() {
    let h = Harness::start(Opts {
        fake: "dump_claims = true",
        ..Opts::default()
    })
    .await;
    h.idp.set_user(
        "carol",
        json!({"email": "carol@example.org", "email_verified": true,
            "address": {"postal_code": "1000"}}),
    );
    assert_eq!(Browser::new().login(&h, "carol").await.status, 303);
    let events = h.directory.audit_events(50).unwrap();
    let dump = events
        .iter()
        .find(|e| e.event == "login.claims_dumped")
        .expect("a claims dump event");
    let detail = dump.detail.clone().unwrap_or_default();
    assert!(detail.contains("carol@example.org"), "{detail}");
    assert!(detail.contains("\"postal_code\":\"1000\""), "{detail}");
    assert!(detail.contains("\"nonce\":\"[redacted]\""), "{detail}");
    // Without the setting, nothing is dumped.
    let h = Harness::start(Opts::default()).await;
    Browser::new().login(&h, "alice").await;
    assert!(
        !h.audit()
            .iter()
            .any(|e| e.starts_with("login.claims_dumped"))
    );
}

/// Runs SQL as the test server's administrator (off the async thread).
async fn pg_admin(sql: String) {
    let base = std::env::var("TEST_SSOGATE_POSTGRES_URL").unwrap();
    tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&base, postgres::NoTls).unwrap();
        c.batch_execute(&sql).unwrap();
    })
    .await
    .unwrap();
}

/// Regression: with the database down, forward-auth answered 500 and the login page
/// blamed the provider ("ref: state_store"). Now: 503 with Retry-After, problem+json for
/// API clients, a page that says the directory is unavailable; back to normal after.
#[tokio::test]
async fn a_database_outage_is_a_503_that_names_the_directory() {
    let Some(url) = crate::support::postgres_database() else {
        return;
    };
    let db = url.rsplit('/').next().unwrap().to_owned();
    let h = Harness::start(Opts {
        postgres: Some(url),
        ..Opts::default()
    })
    .await;
    let b = Browser::new();
    assert_eq!(b.login(&h, "alice").await.status, 303);
    pg_admin(format!(
        "ALTER DATABASE {db} ALLOW_CONNECTIONS false;
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}';"
    ))
    .await;
    // A session nobody has in memory must be looked up: the directory is down.
    let stranger = Browser::new();
    stranger.set_cookie("ssogate_session", "not-in-any-cache");
    let verify = h.url("/auth/verify");
    let r = stranger
        .get_with(&verify, &[("accept", "application/json")])
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.header("retry-after").as_deref(), Some("5"));
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/problem+json")
    );
    let page = stranger.get(&verify).await;
    assert_eq!(page.status, 503);
    assert!(page.body.contains("directory"), "{}", page.body);
    // Starting a sign-in needs the directory too: said so, the provider not blamed.
    let r = Browser::new().get(&h.url("/auth/fake/start")).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("directory_unavailable"), "{}", r.body);
    assert!(r.body.contains("not at fault"), "{}", r.body);
    // A back-channel logout cannot be checked against replays: 503, send it again.
    let token = h.idp.sign(
        json!({"alg": "RS256", "typ": "logout+jwt", "kid": "k1"}),
        &h.idp.logout_claims(Some("alice"), None),
    );
    let r = Browser::new()
        .post(
            &h.url("/auth/fake/backchannel-logout"),
            &[("logout_token", &token)],
        )
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.header("retry-after").as_deref(), Some("5"));
    // Back: the rightful session works again.
    pg_admin(format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true;")).await;
    assert_eq!(b.status_within(&verify, 200).await, 200);
}

/// Regression: every settings notification started a thread of its own to rebuild the
/// providers; a burst of them started as many rebuilds at once. Now one rebuilder
/// coalesces a burst, and the last change is in force after it.
#[tokio::test]
async fn a_burst_of_change_notifications_coalesces_into_few_rebuilds() {
    let h = Harness::start(Opts::default()).await;
    let d = h.directory.clone();
    tokio::task::spawn_blocking(move || {
        for i in 0..300 {
            d.announce(ssogate_store::invalidate::Invalidation::Settings(
                ssogate_core::policy::Scope::Provider(format!("burst-{i}")),
            ))
            .unwrap();
        }
    })
    .await
    .unwrap();
    let b = Browser::new();
    let read = |m: &str, name: &str| -> u64 {
        m.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    // Bounded wait for the rebuilder to catch up with the burst.
    let mut m = String::new();
    for _ in 0..100 {
        m = b.get(&h.url("/metrics")).await.body;
        if read(&m, "ssogate_reloads_requested_total") >= 300
            && read(&m, "ssogate_reloads_total") >= 1
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (asked, done) = (
        read(&m, "ssogate_reloads_requested_total"),
        read(&m, "ssogate_reloads_total"),
    );
    assert!(asked >= 300, "{m}");
    assert!(done >= 1, "{m}");
    assert!(
        done < asked / 2,
        "{done} rebuilds for {asked} notifications"
    );
}

/// Polls `done` for up to five seconds (for work ssogate does off the request's path).
async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..250 {
        if done() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    done()
}

/// Tududi's token refresh: a session is re-validated at the provider every interval
/// with its refresh token (rotated as the provider rotates it); once the provider
/// refuses it, the session ends and is audited, without waiting for it to expire.
async fn refresh_scenario(postgres: Option<String>) {
    let clock = crate::support::manual_clock();
    let h = Harness::start(Opts {
        fake: "refresh_interval_minutes = 5",
        clock: Some(clock.clone()),
        postgres,
        ..Opts::default()
    })
    .await;
    h.idp.set_now(ssogate_oidc::Clock::now(&*clock));
    let b = Browser::new();
    assert_eq!(b.login(&h, "alice").await.status, 303);
    let verify = h.url("/auth/verify");
    assert_eq!(b.get(&verify).await.status, 200);
    // Not due yet: the provider is not asked.
    clock.advance(4 * 60);
    assert_eq!(b.get(&verify).await.status, 200);
    assert_eq!(h.idp.refreshes(), 0);
    // Due: asked once, the session stays, and the rotated token is the one kept.
    clock.advance(2 * 60);
    h.idp.set_now(ssogate_oidc::Clock::now(&*clock));
    assert_eq!(b.get(&verify).await.status, 200);
    assert!(eventually(|| h.idp.refreshes() == 1).await);
    clock.advance(6 * 60);
    h.idp.set_now(ssogate_oidc::Clock::now(&*clock));
    assert_eq!(b.get(&verify).await.status, 200);
    assert!(eventually(|| h.idp.refreshes() == 2).await);
    // (The second grant proves the rotated token was kept: the first is spent.)
    // The person is removed at the provider: the next re-validation ends the session.
    h.idp.revoke_refresh_tokens("alice");
    clock.advance(6 * 60);
    assert_eq!(b.get(&verify).await.status, 200);
    assert_eq!(b.status_within(&verify, 401).await, 401);
    assert_eq!(h.idp.refreshes(), 2);
    // (PostgreSQL's client blocks: read the directory off the test's async thread.)
    let d = h.directory.clone();
    let read = move || {
        let sessions = d.count(ssogate_store::Table::Sessions).unwrap();
        let events: Vec<String> = d
            .audit_events(200)
            .unwrap()
            .into_iter()
            .map(|e| format!("{}/{}/{}", e.event, e.outcome, e.reason.unwrap_or_default()))
            .collect();
        (sessions, events)
    };
    let mut seen = (1, Vec::new());
    for _ in 0..250 {
        let read = read.clone();
        seen = tokio::task::spawn_blocking(read).await.unwrap();
        if seen.1.iter().any(|e| e.starts_with("session.refresh")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(seen.0, 0);
    let refreshes: Vec<_> = seen.1.iter().filter(|e| e.contains("refresh")).collect();
    assert_eq!(
        refreshes,
        ["session.refresh_refused/failure/invalid_grant"],
        "{:?}",
        seen.1
    );
}

#[tokio::test]
async fn a_refresh_the_provider_refuses_ends_the_session() {
    refresh_scenario(None).await;
}

#[tokio::test]
async fn a_refresh_the_provider_refuses_ends_the_session_on_postgres() {
    if let Some(url) = crate::support::postgres_database() {
        refresh_scenario(Some(url)).await;
    }
}

#[tokio::test]
async fn without_a_refresh_interval_sessions_are_never_refreshed() {
    let clock = crate::support::manual_clock();
    let h = Harness::start(Opts {
        clock: Some(clock.clone()),
        ..Opts::default()
    })
    .await;
    let b = Browser::new();
    assert_eq!(b.login(&h, "alice").await.status, 303);
    for _ in 0..3 {
        clock.advance(30 * 60);
        assert_eq!(b.get(&h.url("/auth/verify")).await.status, 200);
    }
    assert_eq!(h.idp.refreshes(), 0);
    // The refresh token was never kept: there is nothing to re-validate with.
    let secret = b.cookie("ssogate_session").unwrap();
    let now = ssogate_oidc::Clock::now(&*clock);
    assert!(
        h.directory
            .claim_refresh(&secret, now, now)
            .unwrap()
            .is_none()
    );
}

/// The pages speak the languages Tududi ships: the login page in Japanese and in Arabic
/// (laid out right to left), buttons included; a refusal in Polish.
#[tokio::test]
async fn pages_speak_the_visitors_language_and_arabic_reads_right_to_left() {
    let h = Harness::start(Opts {
        server: "local_login = true",
        ..Opts::default()
    })
    .await;
    let b = Browser::new();
    let page = |lang: &'static str| {
        let (b, url) = (&b, h.url("/login?direct=1"));
        async move { b.get_with(&url, &[("accept-language", lang)]).await.body }
    };
    let ja = page("ja-JP,ja;q=0.9").await;
    assert!(ja.contains(r#"<html lang="ja" dir="ltr">"#), "{ja}");
    assert!(ja.contains("Fake IdP でサインイン"), "{ja}");
    let ar = page("ar-EG").await;
    assert!(ar.contains(r#"<html lang="ar" dir="rtl">"#), "{ar}");
    assert!(ar.contains("تسجيل الدخول عبر Fake IdP"), "{ar}");
    let en = page("tlh").await;
    assert!(en.contains(r#"<html lang="en" dir="ltr">"#), "{en}");
    // A wrong password, said in Polish.
    let csrf = b.csrf(&h).await;
    let r = b
        .post_with(
            &h.url("/login"),
            &[
                ("csrf", &csrf),
                ("username", "nobody"),
                ("password", "wrong-password"),
            ],
            &[("accept-language", "pl")],
        )
        .await;
    assert!(
        r.body
            .contains("Nieprawidłowa nazwa użytkownika lub hasło."),
        "{}",
        r.body
    );
}

/// Regression: after a restart every request of a page (its assets all pass through
/// forward-auth with one cookie) read the session from the directory — a write each,
/// pushing the idle deadline — and on PostgreSQL they queued on the row's lock: the
/// first second's p99 was 60–200 ms. Now concurrent misses of one session read it once.
#[tokio::test]
async fn a_burst_of_requests_with_one_cold_session_reads_it_once() {
    cold_burst(None).await;
    if let Some(url) = crate::support::postgres_database() {
        cold_burst(Some(url)).await;
    }
}

async fn cold_burst(postgres: Option<String>) {
    let engine = crate::support::engine_name(&postgres);
    let h = Harness::start(Opts {
        postgres,
        ..Opts::default()
    })
    .await;
    assert_eq!(Browser::new().login(&h, "alice").await.status, 303);
    let d = h.directory.clone();
    // A session this instance has not seen, as after a restart.
    let secret = tokio::task::spawn_blocking(move || {
        let alice = d.user_by_identity("fake", "alice").unwrap().unwrap().id;
        let now = ssogate_store::RequestContext::now().now;
        d.create_session(alice, &Default::default(), now, Default::default())
            .unwrap()
    })
    .await
    .unwrap();
    let (loads, heard) = (
        "ssogate_cache_loads_total",
        "ssogate_cache_invalidations_total",
    );
    let sessions = "cache=\"sessions\"";
    let before = metric_with(&h, loads, sessions).await;
    let heard_before = metric_with(&h, heard, sessions).await;
    let burst: Vec<_> = (0..48)
        .map(|_| {
            let (b, url) = (Browser::new(), h.url("/auth/verify"));
            b.set_cookie("ssogate_session", secret.expose());
            tokio::spawn(async move {
                let r = b.get(&url).await;
                (r.status, r.header("remote-user"))
            })
        })
        .collect();
    for r in burst {
        assert_eq!(
            r.await.unwrap(),
            (200, Some("alice".to_owned())),
            "{engine}"
        );
    }
    // A change notification heard while the read is under way (PostgreSQL delivers the
    // login's own a moment later, and a loaded machine stretches that) means what was
    // read is not kept, and the next request reads again: one more read each, no more.
    let reads = metric_with(&h, loads, sessions).await - before;
    let heard = metric_with(&h, heard, sessions).await - heard_before;
    assert!(
        reads >= 1 && reads <= 1 + heard,
        "48 requests at once with one session not in memory read it {reads} times, {heard} change notifications heard meanwhile ({engine})"
    );
    // A stale cookie (a session that ended): every request of its burst is sent to sign
    // in. How many reads it takes depends on how the requests overlap (one per wave of
    // requests that arrive while a read is under way), which a loaded machine spreads
    // out; that a read that found nothing answers those waiting on it is shown without
    // timing by the cache's own test (`one_request_reads_a_missing_key_while_the_others_wait`).
    let d = h.directory.clone();
    let gone = secret.expose().to_owned();
    tokio::task::spawn_blocking(move || d.end_session(&gone).unwrap())
        .await
        .unwrap();
    let burst: Vec<_> = (0..48)
        .map(|_| {
            let (b, url) = (Browser::new(), h.url("/auth/verify"));
            b.set_cookie("ssogate_session", secret.expose());
            tokio::spawn(async move { b.get(&url).await.status })
        })
        .collect();
    for r in burst {
        // Sent to sign in (a browser) — not let through.
        assert_eq!(r.await.unwrap(), 302, "{engine}");
    }
}

/// A forward-auth answer asked for again (from memory, in front of the router) carries
/// the first one's identity, `Cache-Control` and security headers, sealed the same way,
/// under a request id of its own.
fn same_answer(first: &Resp, again: &Resp) {
    for name in [
        "remote-user",
        "remote-email",
        "remote-email-verified",
        "remote-name",
        "remote-groups",
        "remote-libraries",
        "remote-permissions",
        "cache-control",
        "x-content-type-options",
        "content-security-policy",
        "x-frame-options",
        "referrer-policy",
        "cross-origin-opener-policy",
    ] {
        assert!(first.header(name).is_some(), "{name} missing");
        assert_eq!(again.header(name), first.header(name), "{name}");
    }
    assert!(again.header("x-request-id").is_some());
    assert_ne!(again.header("x-request-id"), first.header("x-request-id"));
}
