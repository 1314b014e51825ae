//! Every refusal: a page (or JSON) that says what to do, an audit event, no account.

use crate::support::{Browser, Harness, Opts, metric};
use serde_json::{Value, json};
use ssogate_testkit::forge_none;

/// Starts a login and returns (browser, authorization URL).
async fn started(h: &Harness) -> (Browser, url::Url) {
    let b = Browser::new();
    let r = b.get(&h.url("/auth/fake/start")).await;
    assert_eq!(r.status, 302);
    (b, url::Url::parse(&r.location().unwrap()).unwrap())
}

fn assert_refused(h: &Harness, r: &crate::support::Resp, status: u16, reason: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert!(
        r.body.contains(reason),
        "the page names its reference {reason}: {}",
        r.body
    );
    assert!(
        !r.body.contains("panicked") && !r.body.contains("src/"),
        "no internals on the page"
    );
    assert_eq!(h.users(), 0, "no account");
    assert_eq!(h.sessions(), 0, "no session");
    let audit = h.audit();
    assert!(
        audit
            .iter()
            .any(|e| e == &format!("login.failed/failure/{reason}")),
        "audit event for {reason}: {audit:?}"
    );
}

#[tokio::test]
async fn open_redirects_are_refused_end_to_end() {
    let h = Harness::start(Opts::default()).await;
    for evil in [
        "//evil.example/x",
        "/\\evil.example",
        "https://evil.example/",
        "%2F%2Fevil.example",
        "/%5C%5Cevil.example",
        "https:evil.example",
        "http://127.0.0.1.evil.example/",
    ] {
        let b = Browser::new();
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", evil)
            .finish();
        let r = b
            .login_via(&h, &h.idp, &format!("/auth/fake/start?{q}"), "alice")
            .await;
        assert_eq!(r.status, 303);
        assert_eq!(
            r.location(),
            Some(h.url("/")),
            "{evil} must not be followed"
        );
    }
}

#[tokio::test]
async fn state_problems_are_refused_with_start_again() {
    let h = Harness::start(Opts::default()).await;
    // Unknown state.
    let b = Browser::new();
    let r = b
        .get(&h.url("/auth/fake/callback?code=x&state=made-up"))
        .await;
    assert_refused(&h, &r, 400, "state_unknown");
    assert!(r.body.contains("Start again"));
    // No state at all.
    let r = b.get(&h.url("/auth/fake/callback?code=x")).await;
    assert_refused(&h, &r, 400, "state_missing");
    // A state started in another browser: the binding cookie is missing.
    let (rightful, auth) = started(&h).await;
    let back = h.idp.authorize(&auth);
    let stranger = Browser::new();
    let r = stranger.get(back.as_str()).await;
    assert_refused(&h, &r, 400, "state_other_browser");
    // ... and the stranger's try did not burn the rightful browser's login.
    let r = rightful.get(back.as_str()).await;
    assert_eq!(r.status, 303, "{}", r.body);
    // Replayed callback: the first use succeeds, the second is refused.
    let (b, auth) = started(&h).await;
    let back = h.idp.authorize(&auth);
    assert_eq!(b.get(back.as_str()).await.status, 303);
    let replay = b.get(back.as_str()).await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert!(
        h.audit()
            .iter()
            .any(|e| e == "login.failed/failure/state_unknown")
    );
}

#[tokio::test]
async fn an_expired_state_is_refused() {
    let h = Harness::start(Opts::default()).await;
    let (b, auth) = started(&h).await;
    let back = h.idp.authorize(&auth);
    // Age the stored login past its ten minutes.
    let state = back
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    // A wrong binding is refused and does not burn it; nor does a try at expiry from
    // another browser.
    let now = ssogate_store::RequestContext::now().now;
    for (binding, at) in [(Some("x"), now), (None, now + 601)] {
        let taken = h.directory.take_login_state(&state, binding, "fake", at);
        assert!(taken.is_err());
    }
    // The rightful browser's binding, ten minutes on: expired (and now spent).
    let short: String = state
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect();
    let binding = b.cookie(&format!("ssogate_login_{short}")).unwrap();
    let taken = h
        .directory
        .take_login_state(&state, Some(&binding), "fake", now + 601);
    assert_eq!(
        taken.err().and_then(|e| e.refusal()),
        Some(ssogate_store::sessions::StateError::Expired)
    );
    let r = b.get(back.as_str()).await;
    assert_eq!(r.status, 400);
    assert_eq!(h.users(), 0);
}

#[tokio::test]
async fn forged_tokens_create_nothing() {
    let h = Harness::start(Opts::default()).await;
    type Tamper = fn(&mut serde_json::Map<String, Value>, &mut serde_json::Map<String, Value>);
    let cases: [(&str, Tamper); 5] = [
        ("wrong_issuer", |_, c| {
            c.insert("iss".into(), json!("https://evil.example"));
        }),
        ("wrong_audience", |_, c| {
            c.insert("aud".into(), json!("someone-else"));
        }),
        ("token_expired", |_, c| {
            c.insert("exp".into(), json!(1_000));
            c.insert("iat".into(), json!(900));
        }),
        ("nonce_mismatch", |_, c| {
            c.insert("nonce".into(), json!("replayed-nonce"));
        }),
        ("unknown_key", |hd, _| {
            hd.insert("kid".into(), json!("nobody-knows-me"));
        }),
    ];
    for (reason, tamper) in cases {
        h.idp.set_tamper(Some(Box::new(tamper)));
        let (b, auth) = started(&h).await;
        let back = h.idp.authorize(&auth);
        let r = b.get(back.as_str()).await;
        assert_refused(&h, &r, 400, reason);
        assert!(r.body.contains("failed a security check"), "{}", r.body);
    }
    h.idp.set_tamper(None);
    // alg none and HMAC keyed by the public key are refused before anything else.
    let claims = h.idp.id_claims("alice", Some("n"));
    let none = forge_none(&claims);
    let hs =
        ssogate_testkit::forge_hs256(h.idp.signer().public_pem().as_bytes(), Some("k1"), &claims);
    let provider = Browser::new();
    for token in [none, hs] {
        let r = provider
            .post(
                &h.url("/auth/fake/backchannel-logout"),
                &[("logout_token", &token)],
            )
            .await;
        assert_eq!(r.status, 400);
    }
    assert_eq!(h.users(), 0);
}

#[tokio::test]
async fn provider_errors_and_unknown_providers_are_pages() {
    let h = Harness::start(Opts::default()).await;
    let (b, auth) = started(&h).await;
    let state = auth
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let r = b
        .get(&h.url(&format!(
            "/auth/fake/callback?state={state}&error=access_denied&error_description=The+user+said+no&iss={}",
            url::form_urlencoded::byte_serialize(h.idp.issuer.as_bytes()).collect::<String>()
        )))
        .await;
    assert_refused(&h, &r, 400, "provider_error");
    assert!(r.body.contains("The user said no"));
    let r = b.get(&h.url("/auth/nope/start")).await;
    assert_eq!(r.status, 404);
    assert!(r.body.contains("Unknown provider"));
    assert!(
        h.audit()
            .iter()
            .any(|e| e == "login.failed/failure/unknown_provider")
    );
    // The provider's words are escaped, never markup.
    let (b, auth) = started(&h).await;
    let state = auth
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let r = b
        .get(&h.url(&format!(
            "/auth/fake/callback?state={state}&error=x&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E&iss={}",
            url::form_urlencoded::byte_serialize(h.idp.issuer.as_bytes()).collect::<String>()
        )))
        .await;
    assert!(!r.body.contains("<script>"), "{}", r.body);
    assert!(
        r.body.contains("&#60;script&#62;") || r.body.contains("&lt;script&gt;"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn state_changing_forms_need_the_csrf_token() {
    let h = Harness::start(Opts {
        server: "local_login = true",
        second: true,
        ..Opts::default()
    })
    .await;
    let b = Browser::new();
    b.login(&h, "alice").await;
    let csrf = b.csrf(&h).await;
    for path in [
        "/logout",
        "/account/link/other",
        "/account/unlink/fake",
        "/login",
    ] {
        let form: Vec<(&str, &str)> = vec![("username", "alice"), ("password", "x")];
        let r = b.post(&h.url(path), &form).await;
        assert_eq!(r.status, 403, "{path} without a token");
        assert!(
            r.body.contains("This form has expired"),
            "{path}: {}",
            r.body
        );
        let mut wrong = form.clone();
        wrong.push(("csrf", "0123456789012345678901234567890123456789"));
        assert_eq!(
            b.post(&h.url(path), &wrong).await.status,
            403,
            "{path} with a wrong token"
        );
        let mut good = form.clone();
        good.push(("csrf", &csrf));
        let r = b
            .post_with(&h.url(path), &good, &[("origin", "https://evil.example")])
            .await;
        assert_eq!(r.status, 403, "{path} from another origin");
    }
    // Still signed in: nothing above did anything.
    assert_eq!(b.get(&h.url("/auth/verify")).await.status, 200);
    // Same origin with the token works.
    let r = b
        .post_with(
            &h.url("/logout"),
            &[("csrf", &csrf)],
            &[("origin", &h.base)],
        )
        .await;
    assert_eq!(r.status, 303);
}

#[tokio::test]
async fn auth_routes_are_rate_limited_per_address() {
    let h = Harness::start(Opts {
        server: "local_login = true\n[server.rate_limit]\nlogin = 3\npassword = 2\nwindow_seconds = 600",
        ..Opts::default()
    })
    .await;
    let b = Browser::new();
    for _ in 0..3 {
        assert_eq!(b.get(&h.url("/auth/fake/start")).await.status, 302);
    }
    let r = b.get(&h.url("/auth/fake/start")).await;
    assert_eq!(r.status, 429);
    let wait: i64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=600).contains(&wait), "{wait}");
    assert!(r.body.contains("Too many attempts"));
    // Callbacks share the budget.
    assert_eq!(
        b.get(&h.url("/auth/fake/callback?state=x&code=y"))
            .await
            .status,
        429
    );
    // Passwords have their own, smaller one.
    let csrf = b.csrf(&h).await;
    for _ in 0..2 {
        let r = b
            .post(
                &h.url("/login"),
                &[("username", "a"), ("password", "b"), ("csrf", &csrf)],
            )
            .await;
        assert_eq!(r.status, 401);
    }
    let r = b
        .post(
            &h.url("/login"),
            &[("username", "a"), ("password", "b"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 429);
    assert!(
        !h.audit().iter().any(|e| e.starts_with("rate_limited/")),
        "a refusal for being over the limit is counted, never audited: {:?}",
        h.audit()
    );
    let m = b.get(&h.url("/metrics")).await.body;
    assert!(
        m.contains("ssogate_rate_limited_total{route=\"start\"} 1"),
        "{m}"
    );
}

#[tokio::test]
async fn security_headers_on_every_page() {
    let h = Harness::start(Opts::default()).await;
    let b = Browser::new();
    for path in [
        "/login?direct=1",
        "/logged-out",
        "/auth/nope/start",
        "/healthz",
        "/nowhere",
    ] {
        let r = b.get(&h.url(path)).await;
        let csp = r.header("content-security-policy").unwrap_or_default();
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
            "{path}: {csp}"
        );
        assert_eq!(
            r.header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            r.header("referrer-policy").as_deref(),
            Some("same-origin"),
            "{path}"
        );
        assert_eq!(
            r.header("x-frame-options").as_deref(),
            Some("DENY"),
            "{path}"
        );
        assert_eq!(
            r.header("strict-transport-security"),
            None,
            "no HSTS over plain http"
        );
    }
}

#[tokio::test]
async fn behind_https_cookies_are_secure_and_hsts_is_sent() {
    let h = Harness::start(Opts {
        extra: "",
        ..Opts::default()
    })
    .await;
    // A second server whose base_url is https (it is reached through a TLS proxy).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.toml");
    std::fs::write(
        &path,
        format!(
            "database_url = \"sqlite://{}\"\nbase_url = \"https://sso.example.org\"\n[providers.fake]\nissuer = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\n",
            dir.path().join("s.db").display(),
            h.idp.issuer,
            h.idp.client_id(),
            h.idp.client_secret()
        ),
    )
    .unwrap();
    let config = ssogate_config::load_with_env(Some(&path), &[]).unwrap();
    let store = ssogate_store::SqliteStore::open(&dir.path().join("s.db")).unwrap();
    let app =
        ssogate_server::App::new(config, std::sync::Arc::new(store), Default::default()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(ssogate_server::serve(app, listener, async {
        let _ = rx.await;
    }));
    let b = Browser::new();
    let r = b.get(&format!("{base}/login?direct=1")).await;
    assert!(
        r.header("strict-transport-security")
            .unwrap()
            .contains("max-age=")
    );
    let cookie = r.header("set-cookie").unwrap();
    assert!(
        cookie.starts_with("__Host-ssogate_csrf=")
            && cookie.contains("Secure")
            && cookie.contains("Path=/"),
        "{cookie}"
    );
    let r = b.get(&format!("{base}/auth/fake/start")).await;
    let binding = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("ssogate_login_"))
        .unwrap();
    assert!(
        binding.contains("Secure")
            && binding.contains("HttpOnly")
            && binding.contains("SameSite=Lax"),
        "{binding}"
    );
    let _ = tx.send(());
}

#[tokio::test]
async fn the_session_cookie_can_cover_sibling_hosts() {
    let h = Harness::start(Opts {
        server: "cookie_domain = \"example.org\"",
        ..Opts::default()
    })
    .await;
    let b = Browser::new();
    let r = b.login(&h, "alice").await;
    let cookie = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("ssogate_session="))
        .unwrap();
    assert!(cookie.contains("; Domain=example.org"), "{cookie}");
    let csrf = b.csrf(&h).await;
    let r = b.post(&h.url("/logout"), &[("csrf", &csrf)]).await;
    let cleared = r.header("set-cookie").unwrap();
    assert!(
        cleared.contains("Max-Age=0") && cleared.contains("Domain=example.org"),
        "{cleared}"
    );
}

fn count(h: &Harness, prefix: &str) -> usize {
    h.audit().iter().filter(|e| e.starts_with(prefix)).count()
}

/// Regression: every junk bearer token, junk back-channel logout and callback with a
/// made-up state wrote its own audit row (55,643 rows in 10 s from one client). Now:
/// at most one event per reason and client a minute, every refusal in the metrics.
#[tokio::test]
async fn anonymous_junk_is_counted_and_summarised_not_recorded_one_by_one() {
    let h = Harness::start(Opts {
        fake: "bearer = \"jwt\"",
        ..Opts::default()
    })
    .await;
    let api = Browser::new();
    let verify = h.url("/auth/verify");
    for i in 0..150 {
        let r = api
            .get_with(&verify, &[("authorization", &format!("Bearer junk-{i}"))])
            .await;
        assert_eq!(r.status, 401);
    }
    assert_eq!(count(&h, "bearer.rejected/"), 1, "{:?}", h.audit());
    assert_eq!(
        metric(&h, "ssogate_rejections_total").await,
        150,
        "every refusal is counted"
    );
    for i in 0..100 {
        let r = api
            .post(
                &h.url("/auth/fake/backchannel-logout"),
                &[("logout_token", &format!("junk.{i}.x"))],
            )
            .await;
        assert_eq!(r.status, 400);
    }
    assert_eq!(
        count(&h, "logout.backchannel/failure/"),
        1,
        "{:?}",
        h.audit()
    );
    for i in 0..40 {
        let r = api
            .get(&h.url(&format!("/auth/fake/callback?code=x&state=made-up-{i}")))
            .await;
        assert_eq!(r.status, 400);
    }
    assert_eq!(count(&h, "login.failed/failure/state_unknown"), 1);
    assert_eq!(count(&h, "rate_limited/"), 0);
}

/// With no provider accepting bearer tokens, `Authorization` is the application's
/// business: the session cookie decides, nothing is refused or audited because of it.
#[tokio::test]
async fn with_bearer_mode_off_the_authorization_header_is_ignored() {
    let h = Harness::start(Opts::default()).await;
    let b = Browser::new();
    assert_eq!(b.login(&h, "alice").await.status, 303);
    let json_only = ("accept", "application/json");
    let r = b
        .get_with(
            &h.url("/auth/verify"),
            &[("authorization", "Bearer the-apps-own-token"), json_only],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("remote-user").as_deref(), Some("alice"));
    let r = Browser::new()
        .get_with(
            &h.url("/auth/verify"),
            &[("authorization", "Bearer the-apps-own-token"), json_only],
        )
        .await;
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Cookie")),
        "asks for the session, not about the token"
    );
    assert_eq!(count(&h, "bearer.rejected/"), 0, "{:?}", h.audit());
}

/// Regression: a provider user with an unverified `email` had it handed to the
/// applications in `Remote-Email`; an app matching accounts by email could be taken
/// over. Now it is left out unless the provider's `forward_unverified_email` is set, and
/// `Remote-Email-Verified` carries the flag either way.
#[tokio::test]
async fn unverified_emails_are_not_forwarded_unless_the_operator_says_so() {
    let json_only = [("accept", "application/json")];
    let h = Harness::start(Opts::default()).await;
    h.idp.set_user(
        "mallory",
        json!({"email": "ceo@example.com", "email_verified": false, "name": "Mallory"}),
    );
    let b = Browser::new();
    assert_eq!(b.login(&h, "mallory").await.status, 303);
    let r = b.get_with(&h.url("/auth/verify"), &json_only).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("remote-email").as_deref(), Some(""));
    assert_eq!(r.header("remote-email-verified").as_deref(), Some("false"));
    let a = Browser::new();
    a.login(&h, "alice").await;
    let r = a.get_with(&h.url("/auth/verify"), &json_only).await;
    assert_eq!(
        r.header("remote-email").as_deref(),
        Some("alice@example.org")
    );
    assert_eq!(r.header("remote-email-verified").as_deref(), Some("true"));

    let h = Harness::start(Opts {
        fake: "forward_unverified_email = true",
        server: "[server.headers]\nemail_verified = \"X-Email-Verified\"",
        ..Opts::default()
    })
    .await;
    h.idp.set_user(
        "mallory",
        json!({"email": "ceo@example.com", "email_verified": false}),
    );
    let b = Browser::new();
    b.login(&h, "mallory").await;
    let r = b.get_with(&h.url("/auth/verify"), &json_only).await;
    assert_eq!(r.header("remote-email").as_deref(), Some("ceo@example.com"));
    assert_eq!(r.header("x-email-verified").as_deref(), Some("false"));
}

/// Every answer names its request, so a report can be matched to the log; an id a
/// client makes up is replaced.
#[tokio::test]
async fn every_answer_carries_its_request_id() {
    let h = Harness::start(Opts::default()).await;
    let b = Browser::new();
    let one = b.get(&h.url("/healthz")).await;
    let two = b
        .get_with(&h.url("/healthz"), &[("x-request-id", "forged")])
        .await;
    let (one, two) = (
        one.header("x-request-id").unwrap(),
        two.header("x-request-id").unwrap(),
    );
    assert_ne!(one, two);
    assert_ne!(two, "forged");
    assert!(one.len() >= 10, "{one}");
    // Forward-auth is answered in front of the router: the same id and the same
    // security headers, signed in or not; HEAD still goes through the router.
    b.login(&h, "alice").await;
    let signed_in = b
        .get_with(&h.url("/auth/verify"), &[("x-request-id", "forged")])
        .await;
    assert_eq!(signed_in.status, 200);
    assert_eq!(signed_in.header("remote-user").as_deref(), Some("alice"));
    let stranger = Browser::new()
        .get_with(&h.url("/auth/verify"), &[("accept", "application/json")])
        .await;
    assert_eq!(stranger.status, 401);
    for r in [&signed_in, &stranger] {
        let id = r.header("x-request-id").unwrap();
        assert!(id != "forged" && id.len() >= 10, "{id}");
        assert_eq!(r.header("x-frame-options").as_deref(), Some("DENY"));
        assert_eq!(
            r.header("x-content-type-options").as_deref(),
            Some("nosniff")
        );
        assert!(r.header("content-security-policy").is_some());
    }
    assert_ne!(
        signed_in.header("x-request-id"),
        stranger.header("x-request-id")
    );
    let http = ssogate_oidc::http::client("t", &Default::default()).unwrap();
    let head = http.head(h.url("/auth/verify")).send().await.unwrap();
    assert_eq!(head.status(), 401);
    assert!(head.headers().contains_key("x-request-id"));
}
