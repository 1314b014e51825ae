//! ssogate as an OpenID Provider, chained: the in-process upstream provider → ssogate
//! (provisioning) → a downstream application. The downstream application is ssogate's
//! own relying party (a second instance), which checks everything a strict client
//! checks: discovery, the `iss` parameter, state, PKCE, the ID token's signature against
//! the JWKS, issuer, audience, nonce, expiry and `at_hash`. Then the provider-side
//! attacks: codes replayed, redirect URIs varied, PKCE dropped or wrong, clients
//! unauthenticated, `prompt=none` without a session.

use crate::support::{Browser, Harness, Opts, Resp};
use serde_json::{Value, json};
use ssogate_server::{App, AppOptions};
use ssogate_store::Directory;
use ssogate_store::prelude::*;
use std::sync::Arc;
use url::Url;

const SECRET: &str = "downstream-secret-0123456789abcdef";

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// The downstream application: a second ssogate whose only provider is `op`.
struct Downstream {
    base: String,
    directory: Arc<dyn Directory>,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn chain() -> (Harness, Downstream, tokio::net::TcpListener) {
    chain_with("").await
}

/// [`chain`] with more keys in the `downstream` client's table.
async fn chain_with(downstream_keys: &str) -> (Harness, Downstream, tokio::net::TcpListener) {
    chain_opts(downstream_keys, "").await
}

/// [`chain_with`] with lines for ssogate's `[server]` table.
async fn chain_opts(
    downstream_keys: &str,
    server: &'static str,
) -> (Harness, Downstream, tokio::net::TcpListener) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_base = format!("http://{}", listener.local_addr().unwrap());
    let op = Harness::start(Opts {
        extra: leak(format!(
            "[clients.downstream]\n{downstream_keys}name = \"The app\"\nredirect_uris = [\"{app_base}/auth/sso/callback\"]\nbackchannel_logout_uri = \"{app_base}/auth/sso/backchannel-logout\"\npost_logout_redirect_uris = [\"{app_base}/logged-out\"]\nsecret = \"{SECRET}\"\nscopes = [\"openid\", \"profile\", \"email\", \"groups\", \"permissions\"]\n\n[clients.spa]\npublic = true\nredirect_uris = [\"{app_base}/spa/callback\"]\n\n[clients.staff]\nname = \"Staff wiki\"\nredirect_uris = [\"{app_base}/staff/callback\"]\nsecret = \"{SECRET}\"\naccess = {{ groups = [\"Admins\"] }}\n"
        )),
        server,
        ..Opts::default()
    })
    .await;
    let (down, listener) = downstream(&op, listener).await;
    (op, down, listener)
}

async fn downstream(
    op: &Harness,
    listener: tokio::net::TcpListener,
) -> (Downstream, tokio::net::TcpListener) {
    let base = format!("http://{}", listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.toml");
    std::fs::write(
        &path,
        format!(
            r#"database_url = "sqlite://{db}"
base_url = "{base}"

[server]
cookie_name = "app_session"

[catalogue]
groups = [{{ name = "Readers" }}]

[provisioning]
auto_provision = true
groups.enabled = true

[providers.sso]
display_name = "ssogate"
issuer = "{issuer}"
client_id = "downstream"
client_secret = "{SECRET}"
scopes = ["openid", "profile", "email", "groups", "permissions"]
"#,
            db = dir.path().join("app.db").display(),
            issuer = op.base,
        ),
    )
    .unwrap();
    let config = ssogate_config::load_with_env(Some(&path), &[]).unwrap();
    let store = ssogate_store::SqliteStore::open(&dir.path().join("app.db")).unwrap();
    store.sync_catalogue(&config.catalogue).unwrap();
    let directory: Arc<dyn Directory> = Arc::new(store);
    let app = App::new(config, directory.clone(), AppOptions::default()).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(ssogate_server::serve(app, listener, async {
        let _ = rx.await;
    }));
    // A fresh listener for tests that need another downstream address.
    let spare = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    (
        Downstream {
            base,
            directory,
            _dir: dir,
            _stop: tx,
        },
        spare,
    )
}

fn loc(r: &Resp, base: &str) -> String {
    Url::parse(base)
        .unwrap()
        .join(
            &r.location()
                .unwrap_or_else(|| panic!("no location: {} {}", r.status, r.body)),
        )
        .unwrap()
        .to_string()
}

/// Follows the chain: the application sends the browser to ssogate, ssogate to its
/// login, the upstream provider signs `subject` in, ssogate provisions and issues a
/// code, the application redeems it. The application's callback answer.
async fn sign_in_through_the_chain(
    b: &Browser,
    op: &Harness,
    app: &Downstream,
    subject: &str,
) -> Resp {
    let r = b.get(&format!("{}/auth/sso/start", app.base)).await;
    assert_eq!(r.status, 302, "{}", r.body);
    let authorize = loc(&r, &app.base);
    assert!(
        authorize.starts_with(&format!("{}/oauth2/authorize?", op.base)),
        "{authorize}"
    );
    let r = b.get(&authorize).await;
    assert_eq!(r.status, 302, "{}", r.body);
    let login = Url::parse(&loc(&r, &op.base)).unwrap();
    assert_eq!(login.path(), "/login");
    let return_to = login
        .query_pairs()
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    // ssogate's own sign-in through the upstream provider, coming back to the request.
    let mut start = Url::parse(&op.url("/auth/fake/start")).unwrap();
    start.query_pairs_mut().append_pair("return_to", &return_to);
    let back = b.login_via(op, &op.idp, start.as_str(), subject).await;
    assert_eq!(back.status, 303, "{}", back.body);
    let r = b.get(&loc(&back, &op.base)).await;
    assert_eq!(r.status, 302, "{}", r.body);
    let callback = loc(&r, &op.base);
    assert!(
        callback.starts_with(&format!("{}/auth/sso/callback?", app.base)),
        "{callback}"
    );
    let q: Vec<(String, String)> = Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert!(
        q.iter().any(|(k, v)| k == "iss" && *v == op.base),
        "RFC 9207: {q:?}"
    );
    b.get(&callback).await
}

/// The PKCE pair every test authorization uses (RFC 7636 appendix B).
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// A code for `downstream`, asked by a browser already signed in to ssogate; `query`
/// is the rest of the authorization request (scope, nonce…).
async fn downstream_code(b: &Browser, op: &Harness, redirect: &str, query: &str) -> String {
    client_code(b, op, "downstream", redirect, query).await
}

/// [`downstream_code`] for any client.
async fn client_code(
    b: &Browser,
    op: &Harness,
    client: &str,
    redirect: &str,
    query: &str,
) -> String {
    let url = format!(
        "{}?response_type=code&client_id={client}&redirect_uri={}&{query}&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        op.url("/oauth2/authorize"),
        url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>()
    );
    let r = b.get(&url).await;
    Url::parse(&r.location().unwrap())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

/// A code redeemed at the token endpoint by the client `downstream` (PKCE verifier of
/// RFC 7636 appendix B): the status and the answer.
async fn redeem_downstream(op: &Harness, code: String, redirect: &str) -> (u16, Value) {
    post_as(
        op,
        "/oauth2/token",
        vec![
            ("grant_type", "authorization_code".into()),
            ("code", code),
            ("redirect_uri", redirect.into()),
            ("code_verifier", VERIFIER.into()),
        ],
        ("downstream", SECRET),
    )
    .await
}

/// The person signed in at `b` signs in to the client `downstream` whose redirect URI is
/// `http://127.0.0.1:9/cb`: the token endpoint's status and answer.
async fn loopback_tokens(b: &Browser, op: &Harness) -> (u16, Value) {
    let redirect = "http://127.0.0.1:9/cb";
    let code = client_code(b, op, "downstream", redirect, "scope=openid").await;
    redeem_downstream(op, code, redirect).await
}

/// The `kid`s ssogate's JWKS publishes, in its order.
async fn published_kids(op: &Harness) -> Vec<String> {
    let j: Value =
        serde_json::from_str(&Browser::new().get(&op.url("/oauth2/jwks")).await.body).unwrap();
    j["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// A form posted to one of ssogate's provider endpoints as client `who` (basic auth):
/// the status and the JSON answer.
async fn post_as(
    op: &Harness,
    path: &str,
    form: Vec<(&str, String)>,
    who: (&str, &str),
) -> (u16, Value) {
    let http = ssogate_oidc::http::client("t", &Default::default()).unwrap();
    let r = http
        .post(op.url(path))
        .basic_auth(who.0, Some(who.1))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form)
                .finish(),
        )
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (
        s,
        serde_json::from_str::<Value>(&r.text().await.unwrap()).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn an_application_signs_in_through_ssogate_and_receives_the_provisioned_person() {
    let (op, app, _) = chain().await;
    op.idp.set_user(
        "alice",
        json!({"preferred_username": "alice", "email": "alice@example.org", "email_verified": true,
               "name": "Alice Liddell", "groups": ["readers"]}),
    );
    let b = Browser::new();
    let r = sign_in_through_the_chain(&b, &op, &app, "alice").await;
    assert_eq!(
        r.status, 303,
        "the application accepted ssogate's tokens: {}",
        r.body
    );
    // What ssogate decided reached the application.
    let alice = app.directory.user_by_username("alice").unwrap().unwrap();
    assert_eq!(alice.email.as_deref(), Some("alice@example.org"));
    assert!(alice.email_verified);
    assert_eq!(alice.display_name.as_deref(), Some("Alice Liddell"));
    assert!(
        alice.grants.iter().any(|g| g.name == "Readers"),
        "{:?}",
        alice.grants
    );
    let v = b
        .get_with(
            &format!("{}/auth/verify", app.base),
            &[("accept", "application/json")],
        )
        .await;
    assert_eq!(v.status, 200);
    assert_eq!(v.header("remote-user").as_deref(), Some("alice"));
    // A second sign-in needs no login at ssogate: its session is reused.
    let b2 = Browser::new();
    b2.set_cookie("ssogate_session", &b.cookie("ssogate_session").unwrap());
    let r = b2.get(&format!("{}/auth/sso/start", app.base)).await;
    let r = b2.get(&loc(&r, &app.base)).await;
    assert_eq!(r.status, 302);
    assert!(loc(&r, &op.base).starts_with(&format!("{}/auth/sso/callback?code=", app.base)));
    let events: Vec<String> = op.audit();
    assert!(
        events.iter().any(|e| e == "op.token/success/"),
        "{events:?}"
    );
}

/// Discovery and JWKS describe what is served; the ID token is RS256 with a published
/// key, never `alg: none`.
#[tokio::test]
async fn discovery_and_keys_are_published_and_nothing_is_served_without_clients() {
    let (op, _app, _) = chain().await;
    let b = Browser::new();
    let d: Value = serde_json::from_str(
        &b.get(&op.url("/.well-known/openid-configuration"))
            .await
            .body,
    )
    .unwrap();
    assert_eq!(d["issuer"], op.base.as_str());
    assert_eq!(d["response_types_supported"], json!(["code"]));
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    assert!(
        !d["id_token_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "none")
    );
    let jwks: Value =
        serde_json::from_str(&b.get(d["jwks_uri"].as_str().unwrap()).await.body).unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["alg"], "RS256");
    // The same key on every call (kept in the directory).
    let again: Value = serde_json::from_str(&b.get(&op.url("/oauth2/jwks")).await.body).unwrap();
    assert_eq!(again, jwks);
    let plain = Harness::start(Opts::default()).await;
    assert_eq!(
        b.get(&plain.url("/.well-known/openid-configuration"))
            .await
            .status,
        404
    );
    assert_eq!(
        b.get(&plain.url("/oauth2/authorize?client_id=x"))
            .await
            .status,
        404
    );
}

/// A code redeemed by hand, then the attacks on the token endpoint and userinfo.
#[tokio::test]
async fn codes_are_one_time_bound_to_client_redirect_and_verifier() {
    let (op, app, _) = chain().await;
    let b = Browser::new();
    // Sign in to ssogate first, so the authorization answers at once.
    assert_eq!(b.login(&op, "alice").await.status, 303);
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let redirect = format!("{}/auth/sso/callback", app.base);
    let authorize = |extra: &[(&str, &str)]| {
        let mut u = Url::parse(&op.url("/oauth2/authorize")).unwrap();
        {
            let mut q = u.query_pairs_mut();
            for (k, v) in [
                ("response_type", "code"),
                ("client_id", "downstream"),
                ("redirect_uri", redirect.as_str()),
                ("scope", "openid email"),
                ("state", "s1"),
                ("nonce", "n1"),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
            ] {
                if !extra.iter().any(|(e, _)| *e == k) {
                    q.append_pair(k, v);
                }
            }
            for (k, v) in extra {
                if !v.is_empty() {
                    q.append_pair(k, v);
                }
            }
        }
        u.to_string()
    };
    let code_of = |r: &Resp| {
        Url::parse(&r.location().unwrap())
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
    };
    let http = ssogate_oidc::http::client("t", &Default::default()).unwrap();
    let token = |form: Vec<(&'static str, String)>, basic: Option<(&'static str, &'static str)>| {
        let http = http.clone();
        let url = op.url("/oauth2/token");
        async move {
            let mut req = http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(
                    url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(form)
                        .finish(),
                );
            if let Some((u, p)) = basic {
                req = req.basic_auth(u, Some(p));
            }
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let body: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap_or(Value::Null);
            (status, body)
        }
    };
    let redeem = |code: String, verifier: &'static str| {
        vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code),
            ("redirect_uri", redirect.clone()),
            ("code_verifier", verifier.to_owned()),
        ]
    };
    // The right request gets tokens; userinfo answers for the access token.
    let code = code_of(&b.get(&authorize(&[])).await).unwrap();
    let (s, t) = token(redeem(code.clone(), verifier), Some(("downstream", SECRET))).await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["token_type"], "Bearer");
    let info = http
        .get(op.url("/oauth2/userinfo"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 200);
    let info: Value = serde_json::from_str(&info.text().await.unwrap()).unwrap();
    let id_token = t["id_token"].as_str().unwrap();
    let (header, claims) = (segment(id_token, 0), segment(id_token, 1));
    assert_eq!(header["alg"], "RS256");
    assert_eq!(claims["iss"], op.base.as_str());
    assert_eq!(claims["aud"], "downstream");
    assert_eq!(claims["nonce"], "n1");
    assert_eq!(claims["sub"], info["sub"]);
    assert!(
        claims.get("groups").is_none(),
        "only the scopes asked for: {claims}"
    );
    // The same code again: refused, and the token it earned is revoked.
    let (s, e) = token(redeem(code, verifier), Some(("downstream", SECRET))).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    let revoked = http
        .get(op.url("/oauth2/userinfo"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 401, "a replayed code revokes its tokens");
    assert!(
        op.audit()
            .iter()
            .any(|e| e.starts_with("op.code_replayed/"))
    );
    // A wrong verifier, no verifier, another redirect URI, no client secret, a wrong one.
    let code = code_of(&b.get(&authorize(&[])).await).unwrap();
    let (s, e) = token(
        redeem(code, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj"),
        Some(("downstream", SECRET)),
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
    let code = code_of(&b.get(&authorize(&[])).await).unwrap();
    let mut no_verifier = redeem(code, verifier);
    no_verifier.retain(|(k, _)| *k != "code_verifier");
    let (s, _) = token(no_verifier, Some(("downstream", SECRET))).await;
    assert_eq!(s, 400);
    let code = code_of(&b.get(&authorize(&[])).await).unwrap();
    let mut elsewhere = redeem(code, verifier);
    elsewhere[2].1 = format!("{}/auth/sso/callback/", app.base);
    let (s, _) = token(elsewhere, Some(("downstream", SECRET))).await;
    assert_eq!(s, 400);
    let code = code_of(&b.get(&authorize(&[])).await).unwrap();
    let (s, e) = token(redeem(code.clone(), verifier), None).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (401, Some("invalid_client")),
        "{e}"
    );
    let (s, _) = token(
        redeem(code.clone(), verifier),
        Some(("downstream", "wrong-secret-wrong-secret")),
    )
    .await;
    assert_eq!(s, 401);
    // A public client cannot redeem a confidential client's code.
    let mut as_spa = redeem(code, verifier);
    as_spa.push(("client_id", "spa".into()));
    let (s, e) = token(as_spa, None).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
    // Redirect URI variants and open redirects never leave ssogate.
    for bad in [
        format!("{}/auth/sso/callback/", app.base),
        format!("{}/auth/sso/callback?x=1", app.base),
        "https://evil.example/".to_owned(),
    ] {
        let r = b.get(&authorize(&[("redirect_uri", &bad)])).await;
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.location().is_none());
    }
    // PKCE downgrade refused at the authorization endpoint.
    let r = b
        .get(&authorize(&[("code_challenge_method", "plain")]))
        .await;
    assert!(r.location().unwrap().contains("error=invalid_request"));
    // prompt=none without a session: login_required back to the client, no page.
    let r = Browser::new().get(&authorize(&[("prompt", "none")])).await;
    assert_eq!(r.status, 302);
    let to = r.location().unwrap();
    assert!(
        to.starts_with(&redirect) && to.contains("error=login_required") && to.contains("state=s1"),
        "{to}"
    );
}

/// Disabling the person in ssogate ends their session in the application, through
/// back-channel logout; so does signing out of ssogate.
#[tokio::test]
async fn disabling_a_person_signs_them_out_of_every_application() {
    let (op, app, _) = chain().await;
    let b = Browser::new();
    assert_eq!(
        sign_in_through_the_chain(&b, &op, &app, "alice")
            .await
            .status,
        303
    );
    let verify = format!("{}/auth/verify", app.base);
    assert_eq!(b.status_within(&verify, 200).await, 200);
    op.disable("alice").await;
    assert_eq!(
        b.status_within(&verify, 401).await,
        401,
        "the application heard of it"
    );
    let delivered = || op.audit().iter().any(|e| e == "op.backchannel/success/");
    for _ in 0..100 {
        if delivered() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(delivered(), "{:?}", op.audit());
    // Signing out of ssogate ends bob's session in the application too.
    let b = Browser::new();
    assert_eq!(
        sign_in_through_the_chain(&b, &op, &app, "bob").await.status,
        303
    );
    assert_eq!(b.status_within(&verify, 200).await, 200);
    let _ = b.get(&op.url("/account")).await;
    let csrf = b.cookie("ssogate_csrf").unwrap();
    assert_eq!(
        b.post(&op.url("/logout"), &[("csrf", &csrf)]).await.status,
        303
    );
    assert_eq!(b.status_within(&verify, 401).await, 401);
}

/// Signing out of the application signs out of ssogate (RP-initiated logout with the
/// ID token as hint) and comes back to the application's registered page; without a
/// hint the person is asked; an unregistered return address is refused on a page.
#[tokio::test]
async fn an_application_signs_the_person_out_of_ssogate() {
    let (op, app, _) = chain().await;
    let b = Browser::new();
    assert_eq!(
        sign_in_through_the_chain(&b, &op, &app, "alice")
            .await
            .status,
        303
    );
    let op_verify = op.url("/auth/verify");
    assert_eq!(b.status_within(&op_verify, 200).await, 200);
    // No hint: a question, and nobody is signed out by a link.
    let r = b.get(&op.url("/oauth2/logout?client_id=downstream")).await;
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains("The app asks to sign you out"),
        "{}",
        r.body
    );
    assert_eq!(b.status_within(&op_verify, 200).await, 200);
    // An unregistered return address: a page, no redirect, still signed in.
    let r = b
        .get(&op.url("/oauth2/logout?client_id=downstream&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F"))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.location().is_none());
    // The application's own sign-out: through ssogate and back.
    let _ = b.get(&format!("{}/account", app.base)).await;
    let csrf = b.cookie("ssogate_csrf").unwrap();
    let r = b
        .post(&format!("{}/logout", app.base), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let to = loc(&r, &app.base);
    assert!(to.starts_with(&op.url("/oauth2/logout?")), "{to}");
    assert!(to.contains("id_token_hint="), "{to}");
    let r = b.get(&to).await;
    assert_eq!(r.status, 302, "{}", r.body);
    let back = loc(&r, &op.base);
    assert!(
        back.starts_with(&format!("{}/logged-out", app.base)),
        "{back}"
    );
    assert_eq!(
        b.status_within(&op_verify, 401).await,
        401,
        "signed out of ssogate"
    );
}

/// A client open to one group only: everyone else gets a page with the reason, and an
/// audit event; a member gets a code.
#[tokio::test]
async fn a_client_admits_only_the_people_its_access_policy_names() {
    let (op, app, _) = chain().await;
    op.idp.set_user(
        "alice",
        json!({"preferred_username": "alice", "groups": ["readers"]}),
    );
    op.idp.set_user(
        "bob",
        json!({"preferred_username": "bob", "groups": ["admins"]}),
    );
    let url = format!(
        "{}?response_type=code&client_id=staff&redirect_uri={}&scope=openid&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        op.url("/oauth2/authorize"),
        url::form_urlencoded::byte_serialize(format!("{}/staff/callback", app.base).as_bytes())
            .collect::<String>()
    );
    let alice = Browser::new();
    assert_eq!(alice.login(&op, "alice").await.status, 303);
    let r = alice.get(&url).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body.contains("client_access_denied") && r.body.contains("Staff wiki"),
        "{}",
        r.body
    );
    assert!(
        op.audit()
            .iter()
            .any(|e| e == "op.authorize/failure/client_access_denied")
    );
    let bob = Browser::new();
    assert_eq!(bob.login(&op, "bob").await.status, 303);
    let r = bob.get(&url).await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert!(r.location().unwrap().contains("code="));
}

/// Refresh tokens rotate at every use; a used one presented again (a stolen copy)
/// revokes everything its family earned; another client cannot use one; signing out of
/// ssogate ends them.
#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_family() {
    let (op, app, _) = chain().await;
    let b = Browser::new();
    assert_eq!(b.login(&op, "alice").await.status, 303);
    let redirect = format!("{}/auth/sso/callback", app.base);
    let code = downstream_code(&b, &op, &redirect, "scope=openid&nonce=n1").await;
    let post = |form: Vec<(&'static str, String)>, who: (&'static str, &'static str)| {
        post_as(&op, "/oauth2/token", form, who)
    };
    let me = ("downstream", SECRET);
    let (s, first) = post(
        vec![
            ("grant_type", "authorization_code".into()),
            ("code", code),
            ("redirect_uri", redirect.clone()),
            ("code_verifier", VERIFIER.into()),
        ],
        me,
    )
    .await;
    assert_eq!(s, 200, "{first}");
    let rt1 = first["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |rt: &str| {
        vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", rt.to_owned()),
        ]
    };
    let (s, second) = post(refresh(&rt1), me).await;
    assert_eq!(s, 200, "{second}");
    let rt2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2, "rotated");
    assert!(second["id_token"].is_string());
    let http = ssogate_oidc::http::client("t", &Default::default()).unwrap();
    let userinfo = |at: String| {
        let req = http.get(op.url("/oauth2/userinfo")).bearer_auth(at);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let at2 = second["access_token"].as_str().unwrap().to_owned();
    assert_eq!(userinfo(at2.clone()).await, 200);
    // Another client may not use it (nor spend it).
    let (s, _) = post(refresh(&rt2), ("staff", SECRET)).await;
    assert_eq!(s, 400);
    // The first one again: reuse — the whole family is revoked, the fresh access token too.
    let (s, e) = post(refresh(&rt1), me).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
    assert_eq!(
        userinfo(at2).await,
        401,
        "the family's access tokens are revoked"
    );
    assert!(
        op.audit()
            .iter()
            .any(|e| e == "op.refresh_reused/failure/refresh_token_reused")
    );
    // A fresh sign-in's refresh token ends with the ssogate session.
    let code = downstream_code(&b, &op, &redirect, "scope=openid&nonce=n1").await;
    let (_, t) = post(
        vec![
            ("grant_type", "authorization_code".into()),
            ("code", code),
            ("redirect_uri", redirect.clone()),
            ("code_verifier", VERIFIER.into()),
        ],
        me,
    )
    .await;
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    let _ = b.get(&op.url("/account")).await;
    let csrf = b.cookie("ssogate_csrf").unwrap();
    assert_eq!(
        b.post(&op.url("/logout"), &[("csrf", &csrf)]).await.status,
        303
    );
    let (s, _) = post(refresh(&rt), me).await;
    assert_eq!(s, 400, "signed out of ssogate: the refresh token is gone");
}

/// `openid-client` (npm, OpenID Certified) as the application: it discovers ssogate,
/// sends the browser with PKCE, state and nonce, checks the answer's `iss`, exchanges
/// the code and checks the ID token its own way, reads userinfo, refreshes, and builds
/// the end-session URL. The browser part is ours: the sign-in at ssogate through the
/// upstream provider.
#[tokio::test]
async fn openid_client_signs_in_through_ssogate() {
    use std::io::{BufRead, BufReader, Write};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openid-client");
    let installed = dir.join("node_modules/openid-client/package.json").exists();
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if crate::external::available(
        "openid-client",
        "TEST_SSOGATE_REQUIRE_OPENID_CLIENT",
        (!node || !installed).then(|| {
            format!(
                "openid-client is not installed (npm ci in {})",
                dir.display()
            )
        }),
    )
    .is_none()
    {
        return;
    }
    let callback = "http://127.0.0.1:9/cb";
    let op = Harness::start(Opts {
        extra: leak(format!(
            "[clients.oc]\nredirect_uris = [\"{callback}\"]\npost_logout_redirect_uris = [\"http://127.0.0.1:9/bye\"]\nsecret = \"{SECRET}\"\n"
        )),
        ..Opts::default()
    })
    .await;
    op.idp.set_user(
        "alice",
        json!({"preferred_username": "alice", "email": "alice@example.org", "email_verified": true,
               "name": "Alice Liddell", "groups": ["readers"]}),
    );
    let mut child = std::process::Command::new("node")
        .arg(dir.join("rp.mjs"))
        .current_dir(&dir)
        .env("ISSUER", &op.base)
        .env("CLIENT_ID", "oc")
        .env("CLIENT_SECRET", SECRET)
        .env("REDIRECT_URI", callback)
        .env("POST_LOGOUT_URI", "http://127.0.0.1:9/bye")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let out = child.stdout.take().unwrap();
    // Stopped by its PID when the test ends, however it ends.
    let _child = crate::external::Proc(child);
    // Its lines, awaited (the servers run on this test's runtime: never block it).
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let authorize = tokio::time::timeout(std::time::Duration::from_secs(30), lines.recv())
        .await
        .expect("openid-client said nothing")
        .unwrap();
    let authorize = authorize.strip_prefix("authorize ").unwrap().to_owned();
    // The browser: to ssogate, its sign-in through the upstream provider, back.
    let b = Browser::new();
    let r = b.get(&authorize).await;
    let login = Url::parse(&loc(&r, &op.base)).unwrap();
    let return_to = login
        .query_pairs()
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let mut start = Url::parse(&op.url("/auth/fake/start")).unwrap();
    start.query_pairs_mut().append_pair("return_to", &return_to);
    let back = b.login_via(&op, &op.idp, start.as_str(), "alice").await;
    let r = b.get(&loc(&back, &op.base)).await;
    assert_eq!(r.status, 302, "{}", r.body);
    let to = loc(&r, &op.base);
    assert!(to.starts_with(callback), "{to}");
    writeln!(stdin, "{to}").unwrap();
    let result = tokio::time::timeout(std::time::Duration::from_secs(30), lines.recv())
        .await
        .expect("openid-client said nothing")
        .unwrap();
    let result: Value = serde_json::from_str(
        result
            .strip_prefix("result ")
            .unwrap_or_else(|| panic!("{result}")),
    )
    .unwrap();
    assert_eq!(result["claims"]["iss"], op.base.as_str());
    assert_eq!(result["claims"]["aud"], "oc");
    assert_eq!(result["claims"]["preferred_username"], "alice");
    assert_eq!(result["claims"]["email"], "alice@example.org");
    assert_eq!(result["claims"]["groups"], json!(["Readers"]));
    assert_eq!(result["userinfo"]["sub"], result["claims"]["sub"]);
    assert_eq!(result["userinfo"]["name"], "Alice Liddell");
    assert_eq!(result["refreshed_sub"], result["claims"]["sub"]);
    assert_eq!(result["rotated"], true);
    assert!(
        result["end_session"]
            .as_str()
            .unwrap()
            .starts_with(&op.url("/oauth2/logout?")),
        "{result}"
    );
}

/// Two instances on one PostgreSQL: a code issued by one is redeemed at the other, both
/// publish and sign with the one key, and a refresh token family revoked through one is
/// refused at the other.
#[tokio::test]
async fn two_instances_share_codes_keys_and_revocations() {
    let Some(url) = crate::support::postgres_database() else {
        return;
    };
    let op = Harness::start(Opts {
        postgres: Some(url),
        extra: leak(format!(
            "[clients.downstream]\nredirect_uris = [\"http://127.0.0.1:9/cb\"]\nsecret = \"{SECRET}\"\n"
        )),
        ..Opts::default()
    })
    .await;
    let (other, _stop) = op.second_instance().await;
    let b = Browser::new();
    assert_eq!(b.login(&op, "alice").await.status, 303);
    let r = b
        .get(&format!(
            "{}?response_type=code&client_id=downstream&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
            op.url("/oauth2/authorize")
        ))
        .await;
    let code = Url::parse(&r.location().unwrap())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let http = ssogate_oidc::http::client("t", &Default::default()).unwrap();
    let post = |base: &str, form: Vec<(&str, String)>| {
        let req = http
            .post(format!("{base}/oauth2/token"))
            .basic_auth("downstream", Some(SECRET))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(form)
                    .finish(),
            );
        async move {
            let r = req.send().await.unwrap();
            let s = r.status().as_u16();
            (
                s,
                serde_json::from_str::<Value>(&r.text().await.unwrap()).unwrap_or(Value::Null),
            )
        }
    };
    let (s, t) = post(
        &other,
        vec![
            ("grant_type", "authorization_code".into()),
            ("code", code),
            ("redirect_uri", "http://127.0.0.1:9/cb".into()),
            ("code_verifier", VERIFIER.into()),
        ],
    )
    .await;
    assert_eq!(
        s, 200,
        "a code from one instance is redeemed at the other: {t}"
    );
    let jwks = |base: String| {
        let http = http.clone();
        async move {
            http.get(format!("{base}/oauth2/jwks"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        jwks(op.base.clone()).await,
        jwks(other.clone()).await,
        "one key"
    );
    let refresh = |rt: &str| {
        vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", rt.to_owned()),
        ]
    };
    let rt1 = t["refresh_token"].as_str().unwrap().to_owned();
    let (s, t2) = post(&other, refresh(&rt1)).await;
    assert_eq!(s, 200, "{t2}");
    let rt2 = t2["refresh_token"].as_str().unwrap().to_owned();
    // The second instance answers userinfo for the fresh access token (and keeps it in
    // memory).
    let userinfo = |base: String, at: String| {
        let req = http.get(format!("{base}/oauth2/userinfo")).bearer_auth(at);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let at2 = t2["access_token"].as_str().unwrap().to_owned();
    assert_eq!(userinfo(other.clone(), at2.clone()).await, 200);
    // The first token again, at the first instance: the family is revoked everywhere.
    let (s, _) = post(&op.base, refresh(&rt1)).await;
    assert_eq!(s, 400);
    let (s, e) = post(&other, refresh(&rt2)).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
    // The other instance heard it (NOTIFY): the access token it held is refused there.
    let mut status = 0;
    for _ in 0..100 {
        status = userinfo(other.clone(), at2.clone()).await;
        if status == 401 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(status, 401, "revoked on one instance, refused on the other");
}

/// Apache httpd + mod_auth_openidc (Debian) protecting a location through ssogate: it
/// discovers ssogate, sends the browser with PKCE, exchanges the code, validates the ID
/// token against the JWKS and passes the provisioned claims on to what it protects.
#[tokio::test]
async fn apache_mod_auth_openidc_protects_a_location_through_ssogate() {
    let module = "/usr/lib/apache2/modules/mod_auth_openidc.so";
    let httpd = "/usr/sbin/apache2";
    let missing = (!std::path::Path::new(module).exists() || !std::path::Path::new(httpd).exists())
        .then(|| "apache2-bin and libapache2-mod-auth-openidc are not installed".to_owned());
    if crate::external::available("mod_auth_openidc", "TEST_SSOGATE_REQUIRE_APACHE", missing)
        .is_none()
    {
        return;
    }
    let port = crate::external::free_port();
    let apache = format!("http://127.0.0.1:{port}");
    let op = Harness::start(Opts {
        extra: leak(format!(
            "[clients.apache]\nredirect_uris = [\"{apache}/protected/redirect_uri\"]\nsecret = \"{SECRET}\"\n"
        )),
        ..Opts::default()
    })
    .await;
    op.idp.set_user(
        "alice",
        json!({"preferred_username": "alice", "email": "alice@example.org", "email_verified": true,
               "name": "Alice Liddell", "groups": ["readers"]}),
    );
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("htdocs/protected")).unwrap();
    std::fs::write(root.join("htdocs/protected/index.html"), "inside\n").unwrap();
    let m = "/usr/lib/apache2/modules";
    let conf = format!(
        r#"ServerRoot "{root}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{root}/httpd.pid"
ErrorLog "{root}/error.log"
LogLevel warn
LoadModule mpm_event_module {m}/mod_mpm_event.so
LoadModule authn_core_module {m}/mod_authn_core.so
LoadModule authz_core_module {m}/mod_authz_core.so
LoadModule authz_user_module {m}/mod_authz_user.so
LoadModule headers_module {m}/mod_headers.so
LoadModule auth_openidc_module {module}
DocumentRoot "{root}/htdocs"
OIDCProviderMetadataURL {issuer}/.well-known/openid-configuration
OIDCClientID apache
OIDCClientSecret {SECRET}
OIDCRedirectURI {apache}/protected/redirect_uri
OIDCCryptoPassphrase test-only-passphrase-0123456789
OIDCScope "openid profile email groups"
OIDCPKCEMethod S256
OIDCRemoteUserClaim preferred_username
OIDCPassClaimsAs environment
<Location /protected>
  AuthType openid-connect
  Require valid-user
  Header always set X-User "%{{OIDC_CLAIM_preferred_username}}e"
  Header always set X-Email "%{{OIDC_CLAIM_email}}e"
  Header always set X-Groups "%{{OIDC_CLAIM_groups}}e"
</Location>
"#,
        root = root.display(),
        issuer = op.base,
    );
    let conf_path = root.join("httpd.conf");
    std::fs::write(&conf_path, conf).unwrap();
    // A group of its own: httpd's workers outlive a parent killed alone (they were
    // left running after every run of this test).
    let apache_procs = crate::external::ProcGroup::spawn(
        std::process::Command::new(httpd)
            .args(["-f", conf_path.to_str().unwrap(), "-DFOREGROUND"])
            .env("APACHE_RUN_DIR", root)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    )
    .unwrap();
    let log = || std::fs::read_to_string(root.join("error.log")).unwrap_or_default();
    let b = Browser::new();
    // Apache is up when it answers (a redirect to ssogate, for a protected page).
    let mut r = None;
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            r = Some(b.get(&format!("{apache}/protected/index.html")).await);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let r = r.unwrap_or_else(|| panic!("apache did not start: {}", log()));
    assert_eq!(r.status, 302, "{} {}", r.body, log());
    let authorize = loc(&r, &apache);
    assert!(
        authorize.starts_with(&op.url("/oauth2/authorize?")),
        "{authorize}"
    );
    let r = b.get(&authorize).await;
    let login = Url::parse(&loc(&r, &op.base)).unwrap();
    let return_to = login
        .query_pairs()
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let mut start = Url::parse(&op.url("/auth/fake/start")).unwrap();
    start.query_pairs_mut().append_pair("return_to", &return_to);
    let back = b.login_via(&op, &op.idp, start.as_str(), "alice").await;
    let r = b.get(&loc(&back, &op.base)).await;
    assert_eq!(r.status, 302, "{}", r.body);
    let to = loc(&r, &op.base);
    assert!(
        to.starts_with(&format!("{apache}/protected/redirect_uri?")),
        "{to}"
    );
    // Apache redeems the code at ssogate and validates the ID token.
    let r = b.get(&to).await;
    assert_eq!(r.status, 302, "{} {}", r.body, log());
    let r = b.get(&loc(&r, &apache)).await;
    assert_eq!(r.status, 200, "{} {}", r.body, log());
    assert_eq!(r.body, "inside\n");
    assert_eq!(r.header("x-user").as_deref(), Some("alice"), "{}", log());
    assert_eq!(r.header("x-email").as_deref(), Some("alice@example.org"));
    assert_eq!(r.header("x-groups").as_deref(), Some("Readers"));
    // Stopped with everything it started: no process runs this test's configuration
    // (a killed process takes a moment to go; a worker left behind never goes).
    drop(apache_procs);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut running = crate::external::processes_with(conf_path.to_str().unwrap());
    while !running.is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        running = crate::external::processes_with(conf_path.to_str().unwrap());
    }
    assert!(
        running.is_empty(),
        "httpd processes left running: {running:?}"
    );
}

/// Introspection answers a client about its own tokens only (another client's token is
/// inactive, as an unknown one); revocation takes a token — a refresh token with its
/// family — and answers 200 either way.
#[tokio::test]
async fn introspection_and_revocation_serve_a_client_its_own_tokens() {
    let (op, app, _) = chain().await;
    let b = Browser::new();
    assert_eq!(b.login(&op, "alice").await.status, 303);
    let redirect = format!("{}/auth/sso/callback", app.base);
    let code = downstream_code(&b, &op, &redirect, "scope=openid%20profile").await;
    let post = |path: &'static str,
                form: Vec<(&'static str, String)>,
                who: (&'static str, &'static str)| { post_as(&op, path, form, who) };
    let me = ("downstream", SECRET);
    let (_, t) = post(
        "/oauth2/token",
        vec![
            ("grant_type", "authorization_code".into()),
            ("code", code),
            ("redirect_uri", redirect.clone()),
            ("code_verifier", VERIFIER.into()),
        ],
        me,
    )
    .await;
    let (at, rt) = (
        t["access_token"].as_str().unwrap().to_owned(),
        t["refresh_token"].as_str().unwrap().to_owned(),
    );
    let token = |x: &str| vec![("token", x.to_owned())];
    let http = ssogate_oidc::http::client("t", &Default::default()).unwrap();
    let userinfo = |at: String| {
        let req = http.get(op.url("/oauth2/userinfo")).bearer_auth(at);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(userinfo(at.clone()).await, 200);
    let (s, i) = post("/oauth2/introspect", token(&at), me).await;
    assert_eq!(s, 200);
    assert_eq!(i["active"], true, "{i}");
    assert_eq!(i["username"], "alice");
    assert_eq!(i["scope"], "openid profile");
    assert_eq!(i["client_id"], "downstream");
    let (_, i) = post("/oauth2/introspect", token(&rt), me).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["token_type"], "refresh_token");
    // Another client learns nothing of it; nor does a wrong secret.
    let (_, i) = post("/oauth2/introspect", token(&at), ("staff", SECRET)).await;
    assert_eq!(i, json!({"active": false}));
    let (s, _) = post(
        "/oauth2/introspect",
        token(&at),
        ("downstream", "wrong-secret-wrong-secret"),
    )
    .await;
    assert_eq!(s, 401);
    let (_, i) = post("/oauth2/introspect", token("made-up"), me).await;
    assert_eq!(i, json!({"active": false}));
    // Another client cannot revoke it; its client can.
    let (s, _) = post("/oauth2/revoke", token(&at), ("staff", SECRET)).await;
    assert_eq!(s, 200);
    assert_eq!(
        post("/oauth2/introspect", token(&at), me).await.1["active"],
        true
    );
    assert_eq!(
        userinfo(at.clone()).await,
        200,
        "not revoked by another client"
    );
    let (s, _) = post("/oauth2/revoke", token(&rt), me).await;
    assert_eq!(s, 200);
    assert_eq!(
        post("/oauth2/introspect", token(&at), me).await.1["active"],
        false
    );
    // Regression: userinfo kept answering for a revoked token it had read before.
    assert_eq!(
        userinfo(at.clone()).await,
        401,
        "a revoked refresh token takes its family's access tokens"
    );
    // A revoked refresh token takes its family: it no longer refreshes.
    let (s, _) = post(
        "/oauth2/token",
        vec![
            ("grant_type", "refresh_token".into()),
            ("refresh_token", rt.clone()),
        ],
        me,
    )
    .await;
    assert_eq!(s, 400);
}

/// Userinfo answers from memory for a token it has read, and stops the moment the
/// account is disabled (regression for the in-memory tokens: the account is read with
/// the token, so its status must not be taken from a stale copy).
#[tokio::test]
async fn userinfo_stops_answering_when_the_account_is_disabled() {
    let (op, app, _) = chain().await;
    let b = Browser::new();
    assert_eq!(b.login(&op, "alice").await.status, 303);
    let redirect = format!("{}/auth/sso/callback", app.base);
    let code = downstream_code(&b, &op, &redirect, "scope=openid%20profile").await;
    let (_, t) = redeem_downstream(&op, code, &redirect).await;
    let at = t["access_token"].as_str().unwrap().to_owned();
    let http = ssogate_oidc::http::client("t", &Default::default()).unwrap();
    let userinfo = || {
        let req = http.get(op.url("/oauth2/userinfo")).bearer_auth(&at);
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    for _ in 0..2 {
        let (s, body) = userinfo().await;
        assert_eq!(s, 200, "{body}");
        assert!(body.contains("Alice"), "{body}");
    }
    op.disable("alice").await;
    let mut last = (0, String::new());
    for _ in 0..100 {
        last = userinfo().await;
        if last.0 == 401 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(last.0, 401, "{}", last.1);
}

/// A client taken out of the configuration file: at the next start the access tokens it
/// was given are refused by userinfo (what it was promised could not be honoured).
#[tokio::test]
async fn a_token_of_a_client_no_longer_configured_is_refused() {
    let clients = "[clients.downstream]\nredirect_uris = [\"http://127.0.0.1:9/cb\"]\n\
                   secret = \"{SECRET}\"\n";
    let keep = "[clients.other]\nredirect_uris = [\"http://127.0.0.1:9/other\"]\n\
                secret = \"{SECRET}\"\n";
    let op = Harness::start(Opts {
        extra: leak(format!("{clients}{keep}").replace("{SECRET}", SECRET)),
        ..Opts::default()
    })
    .await;
    let b = Browser::new();
    assert_eq!(b.login(&op, "alice").await.status, 303);
    let (s, t) = loopback_tokens(&b, &op).await;
    assert_eq!(s, 200, "{t}");
    let at = t["access_token"].as_str().unwrap().to_owned();
    let http = ssogate_oidc::http::client("t", &Default::default()).unwrap();
    let userinfo = |base: String| {
        let req = http.get(format!("{base}/oauth2/userinfo")).bearer_auth(&at);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(userinfo(op.base.clone()).await, 200);
    let text = std::fs::read_to_string(op.config_path()).unwrap();
    let without = text.replace(&clients.replace("{SECRET}", SECRET), "");
    assert_ne!(text, without, "the client's table is taken out");
    let edited = op.config_path().with_file_name("edited.toml");
    std::fs::write(&edited, without).unwrap();
    let (next, _stop) = op.instance_from(&edited).await;
    assert_eq!(userinfo(next).await, 401);
}

/// One code sent twice at once (both requests may pass the first read of the code):
/// never two sets of tokens, and whatever the first got is revoked by the second.
#[tokio::test]
async fn a_code_redeemed_twice_at_once_yields_one_set_of_tokens_then_none() {
    let (op, app, _) = chain().await;
    let b = Browser::new();
    assert_eq!(b.login(&op, "alice").await.status, 303);
    let redirect = format!("{}/auth/sso/callback", app.base);
    let http = ssogate_oidc::http::client("t", &Default::default()).unwrap();
    for _ in 0..5 {
        let code = downstream_code(&b, &op, &redirect, "scope=openid").await;
        let form = || {
            vec![
                ("grant_type", "authorization_code".to_owned()),
                ("code", code.clone()),
                ("redirect_uri", redirect.clone()),
                ("code_verifier", VERIFIER.to_owned()),
            ]
        };
        let ((s1, t1), (s2, t2)) = tokio::join!(
            post_as(&op, "/oauth2/token", form(), ("downstream", SECRET)),
            post_as(&op, "/oauth2/token", form(), ("downstream", SECRET)),
        );
        let mut statuses = [s1, s2];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 400], "{t1} {t2}");
        let issued = if s1 == 200 { &t1 } else { &t2 };
        let refused = if s1 == 200 { &t2 } else { &t1 };
        assert_eq!(refused["error"], "invalid_grant", "{refused}");
        let at = issued["access_token"].as_str().unwrap();
        let status = http
            .get(op.url("/oauth2/userinfo"))
            .bearer_auth(at)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        assert_eq!(status, 401, "the replay revoked what the code gave");
    }
}

/// PEM as `openssl` writes it.
fn pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

/// The operator's own signing keys (`[server] signing_key_files`): the first key of an
/// algorithm signs, every listed key is published, none enters the directory; a set
/// without the keys the clients need does not start, and says which is missing.
#[tokio::test]
async fn operator_key_files_sign_and_never_enter_the_directory() {
    use ssogate_op::keys::{Alg, SigningKey};
    let dir = tempfile::tempdir().unwrap();
    let keys = [
        ("new.pem", SigningKey::generate_for(Alg::RS256).unwrap()),
        ("old.pem", SigningKey::generate_for(Alg::RS256).unwrap()),
        ("ed.pem", SigningKey::generate_for(Alg::EdDSA).unwrap()),
    ];
    let mut files = Vec::new();
    for (name, key) in &keys {
        let path = dir.path().join(name);
        std::fs::write(&path, pem(&key.to_pkcs8().unwrap())).unwrap();
        files.push(format!("\"{}\"", path.display()));
    }
    let op = Harness::start(Opts {
        server: leak(format!("signing_key_files = [{}]", files.join(", "))),
        extra: leak(format!(
            "[clients.downstream]\nredirect_uris = [\"http://127.0.0.1:9/cb\"]\nsecret = \"{SECRET}\"\n"
        )),
        ..Opts::default()
    })
    .await;
    assert_eq!(
        published_kids(&op).await,
        keys.iter().map(|(_, k)| k.kid.clone()).collect::<Vec<_>>(),
        "every listed key, in order"
    );
    let b = Browser::new();
    assert_eq!(b.login(&op, "alice").await.status, 303);
    let (s, t) = loopback_tokens(&b, &op).await;
    assert_eq!(s, 200, "{t}");
    let id_token = t["id_token"].as_str().unwrap();
    assert!(
        keys[0].1.verify(id_token).is_some(),
        "signed with the first RS256 file"
    );
    let d = op.directory.clone();
    let stored = tokio::task::spawn_blocking(move || d.op_keys(0))
        .await
        .unwrap()
        .unwrap();
    assert!(stored.is_empty(), "no key in the directory: {stored:?}");
    // A client signing with an algorithm no file holds is not registered.
    let admin = op
        .api_key(ssogate_store::credentials::ApiScope::Admin)
        .await;
    for (alg, want) in [("ES256", 422), ("EdDSA", 201)] {
        let (s, p) = crate::support::api_call(
            &op,
            "POST",
            "/api/v1/clients",
            &admin,
            Some(json!({"client_id": format!("app-{alg}"), "settings": {
                "redirect_uris": ["https://app.example.org/cb"],
                "id_token_signed_response_alg": alg}})),
        )
        .await;
        assert_eq!(s, want, "{alg}: {p}");
        if s == 422 {
            assert!(p.to_string().contains("signing_key_files"), "{p}");
        }
    }

    // Refused at start, by name: only an EdDSA key while discovery promises RS256; a
    // file that holds no key (named by its path).
    let not_a_key = dir.path().join("not-a-key.pem");
    std::fs::write(&not_a_key, "hello").unwrap();
    let start = |files: String| {
        let path = dir.path().join("start.toml");
        std::fs::write(
            &path,
            format!(
                "database_url = \"sqlite://{}\"\nbase_url = \"http://127.0.0.1:1\"\n[server]\nsigning_key_files = [{files}]\n",
                dir.path().join("x.db").display(),
            ),
        )
        .unwrap();
        let config = ssogate_config::load_with_env(Some(&path), &[]).unwrap();
        let store = ssogate_store::SqliteStore::open(&dir.path().join("x.db")).unwrap();
        ssogate_server::App::new(config, Arc::new(store), Default::default())
            .err()
            .unwrap()
            .to_string()
    };
    let e = start(files[2].clone());
    assert!(
        e.contains("signing_key_files") && e.contains("RS256"),
        "{e}"
    );
    let e = start(format!("{}, \"{}\"", files[0], not_a_key.display()));
    assert!(
        e.contains("not-a-key.pem") && e.contains("no PEM private key"),
        "{e}"
    );
}

/// Key rotation: the next key is published at once and signs only from its activation;
/// the previous one stays published until what it signed has expired, then goes.
#[tokio::test]
async fn a_rotated_key_is_published_before_it_signs_and_the_old_one_after() {
    let clock = crate::support::manual_clock();
    let now = || ssogate_oidc::Clock::now(&*clock);
    let op = Harness::start(Opts {
        clock: Some(clock.clone()),
        server: "session_idle_minutes = 600",
        extra: leak(format!(
            "[clients.downstream]\nredirect_uris = [\"http://127.0.0.1:9/cb\"]\nsecret = \"{SECRET}\"\n"
        )),
        ..Opts::default()
    })
    .await;
    op.idp.set_now(now());
    let b = Browser::new();
    assert_eq!(b.login(&op, "alice").await.status, 303);
    // The `kid` of a freshly issued ID token, and the kids the JWKS publishes.
    let kid_now = || async {
        let (_, t) = loopback_tokens(&b, &op).await;
        segment(t["id_token"].as_str().unwrap(), 0)["kid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let published = || published_kids(&op);
    let first = kid_now().await;
    assert_eq!(published().await, std::slice::from_ref(&first));
    // Rotate, as `ssogate op keys rotate` does: the next key signs in ten minutes.
    let next = ssogate_op::keys::SigningKey::generate().unwrap();
    let (next_kid, der) = (next.kid.clone(), next.to_pkcs8().unwrap());
    let t0 = now();
    op.directory
        .op_rotate_key(
            ssogate_store::directory::op::StoredKey {
                kid: next_kid.clone(),
                alg: "RS256".into(),
                private_key: {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD.encode(der)
                },
                created_at: t0,
                activates_at: t0 + 600,
                retired_at: None,
            },
            t0 + 600 + 900,
        )
        .unwrap();
    clock.advance(120);
    op.idp.set_now(now());
    assert_eq!(
        published().await,
        [first.clone(), next_kid.clone()],
        "published before use"
    );
    assert_eq!(kid_now().await, first, "not signing yet");
    clock.advance(600);
    op.idp.set_now(now());
    assert_eq!(
        kid_now().await,
        next_kid,
        "signing after activation (every instance within a minute)"
    );
    assert_eq!(
        published().await,
        [first.clone(), next_kid.clone()],
        "the old key still verifies what it signed"
    );
    clock.advance(900);
    op.idp.set_now(now());
    assert_eq!(
        published().await,
        [next_kid],
        "retired once its tokens expired"
    );
}

/// A pairwise client gets a `sub` of its own sector (OpenID Connect Core 8.1): not the
/// account's id, the same at every sign-in and in userinfo (the application's relying
/// party checks that), and one every instance computes alike.
#[tokio::test]
async fn a_pairwise_client_gets_a_sub_of_its_own_sector() {
    let (op, app, _) = chain_with("subject_type = \"pairwise\"\n").await;
    op.idp.set_user(
        "alice",
        json!({"preferred_username": "alice", "email": "alice@example.org", "email_verified": true}),
    );
    let b = Browser::new();
    let r = sign_in_through_the_chain(&b, &op, &app, "alice").await;
    assert_eq!(r.status, 303, "{}", r.body);
    let at_app = app.directory.user_by_username("alice").unwrap().unwrap();
    let at_op = op.directory.user_by_username("alice").unwrap().unwrap();
    let sub = at_app.identities[0].subject.clone();
    assert_ne!(sub, at_op.id.0.to_string(), "not the account's id");
    let salt = op.directory.op_secret("pairwise_salt", "unused").unwrap();
    assert_eq!(
        sub,
        ssogate_op::client::pairwise_sub("127.0.0.1", &at_op.id.0.to_string(), salt.as_bytes())
    );
    // Signing in again (a fresh browser, a fresh ssogate session) finds the same account.
    let b2 = Browser::new();
    let r = sign_in_through_the_chain(&b2, &op, &app, "alice").await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(app.directory.count(ssogate_store::Table::Users).unwrap(), 1);
    let disco: serde_json::Value = serde_json::from_str(
        &b.get(&op.url("/.well-known/openid-configuration"))
            .await
            .body,
    )
    .unwrap();
    assert_eq!(
        disco["subject_types_supported"],
        json!(["public", "pairwise"])
    );
}

/// A real browser (headless Chromium) signs in to an application through ssogate's
/// provider: the application sends it to ssogate, the person signs in there (a local
/// password), consents to nothing (first-party), and lands signed in at the application.
#[tokio::test]
async fn a_real_browser_signs_in_to_an_application_through_ssogate() {
    let Some(chrome) = crate::external::Chrome::start().await else {
        return;
    };
    // The person signs in at ssogate with a password (local sign-in on: the page offers
    // it beside the provider instead of starting the provider at once).
    let (op, app, _) = chain_opts("", "local_login = true").await;
    let d = op.directory.clone();
    tokio::task::spawn_blocking(move || {
        let row: ssogate_store::import::ImportRow = serde_json::from_value(json!({
            "username": "alice", "email": "alice@example.org", "email_verified": true,
            "display_name": "Alice Liddell"
        }))
        .unwrap();
        d.import_users(vec![row], 1, false, None, Box::new(|_| {}))
            .unwrap();
        let id = d.user_by_username("alice").unwrap().unwrap().id;
        d.set_password(id, Some("correct horse battery staple"), 1)
            .unwrap();
    })
    .await
    .unwrap();
    let c = &chrome.client;
    c.goto(&format!("{}/auth/sso/start", app.base))
        .await
        .unwrap();
    // At ssogate's sign-in page.
    let at = c.current_url().await.unwrap();
    assert!(
        at.as_str().starts_with(&op.base) && at.path() == "/login",
        "{at}"
    );
    c.find(fantoccini::Locator::Css("#username"))
        .await
        .unwrap()
        .send_keys("alice")
        .await
        .unwrap();
    c.find(fantoccini::Locator::Css("#password"))
        .await
        .unwrap()
        .send_keys("correct horse battery staple")
        .await
        .unwrap();
    crate::browser::click(c, "form.local button[type=submit]").await;
    // Back at the application, signed in as the person ssogate provisioned there.
    let landed = c.current_url().await.unwrap();
    assert!(landed.as_str().starts_with(&app.base), "{landed}");
    c.goto(&format!("{}/account", app.base)).await.unwrap();
    let text = crate::browser::body(c).await;
    assert!(text.contains("alice"), "{text}");
    let alice = app.directory.user_by_username("alice").unwrap().unwrap();
    assert_eq!(alice.display_name.as_deref(), Some("Alice Liddell"));
    assert!(
        op.audit().iter().any(|e| e == "op.token/success/"),
        "{:?}",
        op.audit()
    );
}

/// A client's value filter keeps what it does not care about out of its tokens and
/// userinfo: the application never sees the person's other groups.
#[tokio::test]
async fn a_client_receives_only_the_groups_its_filter_lets_through() {
    let (op, app, _) = chain_with("filters = { groups = \"^Staff\" }\n").await;
    op.idp.set_user(
        "alice",
        json!({"preferred_username": "alice", "email": "alice@example.org", "email_verified": true,
               "groups": ["readers"]}),
    );
    let b = Browser::new();
    let r = sign_in_through_the_chain(&b, &op, &app, "alice").await;
    assert_eq!(r.status, 303, "{}", r.body);
    // ssogate put Alice in Readers; the application heard of no group.
    let at_op = op.directory.user_by_username("alice").unwrap().unwrap();
    assert!(at_op.grants.iter().any(|g| g.name == "Readers"));
    let at_app = app.directory.user_by_username("alice").unwrap().unwrap();
    assert!(
        !at_app.grants.iter().any(|g| g.name == "Readers"),
        "{:?}",
        at_app.grants
    );
}

/// A client registered through the API (not the file) signs people in at once; its
/// secret is shown once and kept only as a digest; a rotation retires the old secret, a
/// removal the client; what the file defines, or what would not build, is refused; every
/// change is audited.
#[tokio::test]
async fn a_client_registered_through_the_api_signs_in_and_its_secret_rotates() {
    let (op, app, _) = chain().await;
    let key = op
        .api_key(ssogate_store::credentials::ApiScope::Admin)
        .await;
    let redirect = format!("{}/wiki/callback", app.base);
    let (s, made) = crate::support::api_call(
        &op,
        "POST",
        "/api/v1/clients",
        &key,
        Some(
            json!({"client_id": "wiki", "settings": {"name": "Wiki", "redirect_uris": [redirect],
            "scopes": ["openid", "profile", "groups"]}}),
        ),
    )
    .await;
    assert_eq!(s, 201, "{made}");
    assert_eq!(made["confidential"], true);
    let secret = made["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 43, "{secret}");
    let (_, listed) = crate::support::api_call(&op, "GET", "/api/v1/clients", &key, None).await;
    assert_eq!(listed[0]["client_id"], "wiki");
    assert!(!listed.to_string().contains(&secret), "{listed}");
    let d = op.directory.clone();
    let stored = tokio::task::spawn_blocking(move || d.op_client("wiki"))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let digest = stored.secret_sha256.unwrap();
    assert_eq!(digest, ssogate_store::sessions::digest(&secret));

    let b = Browser::new();
    assert_eq!(b.login(&op, "alice").await.status, 303);
    let redeem = |code: String| {
        vec![
            ("grant_type", "authorization_code"),
            ("code", leak(code)),
            ("redirect_uri", leak(redirect.clone())),
            ("code_verifier", VERIFIER),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_owned()))
        .collect::<Vec<_>>()
    };
    let code = client_code(&b, &op, "wiki", &redirect, "scope=openid%20groups").await;
    let (s, t) = post_as(&op, "/oauth2/token", redeem(code), ("wiki", &secret)).await;
    assert_eq!(s, 200, "{t}");
    assert!(t["id_token"].is_string());

    // A new secret: the old one stops at once.
    let (s, rotated) =
        crate::support::api_call(&op, "POST", "/api/v1/clients/wiki/secret", &key, None).await;
    assert_eq!(s, 200, "{rotated}");
    let fresh = rotated["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(fresh, secret);
    let code = client_code(&b, &op, "wiki", &redirect, "scope=openid").await;
    let (s, t) = post_as(
        &op,
        "/oauth2/token",
        redeem(code.clone()),
        ("wiki", &secret),
    )
    .await;
    assert_eq!(
        (s, t["error"].as_str()),
        (401, Some("invalid_client")),
        "{t}"
    );
    let (s, t) = post_as(&op, "/oauth2/token", redeem(code), ("wiki", &fresh)).await;
    assert_eq!(s, 200, "{t}");
    let http = ssogate_oidc::http::client("t", &Default::default()).unwrap();
    let userinfo = |at: String| {
        let req = http.get(op.url("/oauth2/userinfo")).bearer_auth(at);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let wiki_access = t["access_token"].as_str().unwrap().to_owned();
    assert_eq!(userinfo(wiki_access.clone()).await, 200);

    // Refused: the file's id, a taken id, keys [clients] does not know, a bad redirect
    // URI, turning a confidential client public.
    for (body, want) in [
        (
            json!({"client_id": "downstream", "settings": {"redirect_uris": [redirect]}}),
            409,
        ),
        (
            json!({"client_id": "wiki", "settings": {"redirect_uris": [redirect]}}),
            409,
        ),
        (
            json!({"client_id": "x", "settings": {"redirect_uris": [redirect], "colour": "red"}}),
            422,
        ),
        (
            json!({"client_id": "x", "settings": {"redirect_uris": ["/relative"]}}),
            422,
        ),
        (
            json!({"client_id": "x", "settings": {"redirect_uris": [redirect], "secret": "s"}}),
            422,
        ),
        (
            json!({"client_id": "bad id", "settings": {"redirect_uris": [redirect]}}),
            422,
        ),
    ] {
        let (s, p) =
            crate::support::api_call(&op, "POST", "/api/v1/clients", &key, Some(body.clone()))
                .await;
        assert_eq!(s, want, "{body} → {p}");
    }
    let (s, p) = crate::support::api_call(
        &op,
        "PATCH",
        "/api/v1/clients/wiki",
        &key,
        Some(json!({"public": true})),
    )
    .await;
    assert_eq!(s, 422, "{p}");
    let (s, p) = crate::support::api_call(
        &op,
        "PATCH",
        "/api/v1/clients/wiki",
        &key,
        Some(json!({"name": "The wiki"})),
    )
    .await;
    assert_eq!(
        (s, &p["settings"]["name"]),
        (200, &json!("The wiki")),
        "{p}"
    );

    // Removed: its authorization requests and its secret are refused.
    let (s, _) = crate::support::api_call(&op, "DELETE", "/api/v1/clients/wiki", &key, None).await;
    assert_eq!(s, 204);
    let (s, t) = post_as(&op, "/oauth2/token", redeem("x".into()), ("wiki", &fresh)).await;
    assert_eq!(s, 401, "{t}");
    assert_eq!(
        userinfo(wiki_access).await,
        401,
        "its access tokens went with it"
    );
    let r = b
        .get(&format!(
            "{}?response_type=code&client_id=wiki&redirect_uri={}&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
            op.url("/oauth2/authorize"),
            url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>()
        ))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.location().is_none(),
        "never a redirect for an unknown client"
    );
    let audit = op.audit();
    for e in [
        "admin.client.created",
        "admin.client.secret_rotated",
        "admin.client.updated",
        "admin.client.deleted",
    ] {
        assert!(
            audit.iter().any(|a| a.starts_with(&format!("{e}/"))),
            "{e} in {audit:?}"
        );
    }
}

/// The payload of a compact JWS, unverified (the tests that need verification do it).
fn payload(jwt: &str) -> Value {
    segment(jwt, 1)
}

/// Part `i` of a compact JWS (0: the header, 1: the payload) as JSON, unverified.
fn segment(jwt: &str, i: usize) -> Value {
    use base64::Engine as _;
    let seg = jwt.split('.').nth(i).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(seg)
            .unwrap(),
    )
    .unwrap()
}

/// ID tokens say how the person authenticated when ssogate knows: the upstream
/// provider's `amr`/`acr` passed on (and kept across a refresh), `pwd` for a local
/// password; nothing made up when the provider said nothing.
#[tokio::test]
async fn id_tokens_say_how_the_person_authenticated() {
    let (op, app, _) = chain_opts("", "local_login = true").await;
    let redirect = format!("{}/auth/sso/callback", app.base);
    let redeem = |code: String| {
        vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code),
            ("redirect_uri", redirect.clone()),
            ("code_verifier", VERIFIER.to_owned()),
        ]
    };
    op.idp.set_user(
        "alice",
        json!({"preferred_username": "alice", "amr": ["pwd", "otp", "bad value"], "acr": "urn:example:loa:2"}),
    );
    let b = Browser::new();
    assert_eq!(b.login(&op, "alice").await.status, 303);
    let code = downstream_code(&b, &op, &redirect, "scope=openid").await;
    let (s, t) = post_as(&op, "/oauth2/token", redeem(code), ("downstream", SECRET)).await;
    assert_eq!(s, 200, "{t}");
    let claims = payload(t["id_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["pwd", "otp"]), "{claims}");
    assert_eq!(claims["acr"], "urn:example:loa:2");
    let (s, r) = post_as(
        &op,
        "/oauth2/token",
        vec![
            ("grant_type", "refresh_token".to_owned()),
            (
                "refresh_token",
                t["refresh_token"].as_str().unwrap().to_owned(),
            ),
        ],
        ("downstream", SECRET),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        payload(r["id_token"].as_str().unwrap())["amr"],
        json!(["pwd", "otp"])
    );

    // The provider says nothing: neither does ssogate.
    op.idp.set_user("bob", json!({"preferred_username": "bob"}));
    let b = Browser::new();
    assert_eq!(b.login(&op, "bob").await.status, 303);
    let code = downstream_code(&b, &op, &redirect, "scope=openid").await;
    let (_, t) = post_as(&op, "/oauth2/token", redeem(code), ("downstream", SECRET)).await;
    let claims = payload(t["id_token"].as_str().unwrap());
    assert!(
        claims.get("amr").is_none() && claims.get("acr").is_none(),
        "{claims}"
    );

    // A local password.
    let d = op.directory.clone();
    tokio::task::spawn_blocking(move || {
        let id = d.user_by_username("bob").unwrap().unwrap().id;
        d.set_password(id, Some("correct horse battery staple"), 1)
            .unwrap();
    })
    .await
    .unwrap();
    let b = Browser::new();
    let csrf = b.csrf(&op).await;
    let r = b
        .post(
            &op.url("/login"),
            &[
                ("username", "bob"),
                ("password", "correct horse battery staple"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let code = downstream_code(&b, &op, &redirect, "scope=openid").await;
    let (_, t) = post_as(&op, "/oauth2/token", redeem(code), ("downstream", SECRET)).await;
    let claims = payload(t["id_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["pwd"]), "{claims}");
    assert!(claims.get("acr").is_none());
}

/// A client chooses ES256 or EdDSA: a key of that algorithm is made (beside RS256) and
/// published, its ID tokens are signed with it and an independent relying party (the
/// downstream ssogate) verifies them against the JWKS. With `access_token_format =
/// "jwt"` its access tokens are RFC 9068 JWTs (`typ: at+jwt`, verifiable with the same
/// JWKS), still accepted by userinfo and still revocable.
#[tokio::test]
async fn clients_choose_es256_or_eddsa_and_jwt_access_tokens() {
    use ssogate_oidc::jose::{Algorithm, Jws, KeySet};
    for (alg, algorithm) in [("ES256", Algorithm::ES256), ("EdDSA", Algorithm::EdDSA)] {
        let (op, app, _) = chain_with(leak(format!(
            "id_token_signed_response_alg = \"{alg}\"\naccess_token_format = \"jwt\"\n"
        )))
        .await;
        op.idp.set_user(
            "alice",
            json!({"preferred_username": "alice", "email": "alice@example.org", "email_verified": true}),
        );
        let b = Browser::new();
        let r = sign_in_through_the_chain(&b, &op, &app, "alice").await;
        assert_eq!(r.status, 303, "{alg}: the application accepted: {}", r.body);

        let http = ssogate_oidc::http::client("t", &Default::default()).unwrap();
        let jwks = http.get(op.url("/oauth2/jwks")).send().await.unwrap();
        let jwks = jwks.bytes().await.unwrap();
        let published: Value = serde_json::from_slice(&jwks).unwrap();
        let algs: Vec<&str> = published["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["alg"].as_str().unwrap())
            .collect();
        assert!(
            algs.contains(&"RS256") && algs.contains(&alg),
            "{published}"
        );
        let keys = KeySet::from_jwks(&jwks, &[algorithm], true).unwrap();

        let redirect = format!("{}/auth/sso/callback", app.base);
        let code = downstream_code(&b, &op, &redirect, "scope=openid%20groups").await;
        let (s, t) = redeem_downstream(&op, code, &redirect).await;
        assert_eq!(s, 200, "{t}");
        let id = Jws::parse(t["id_token"].as_str().unwrap()).unwrap();
        assert_eq!(id.verify(&keys, &[algorithm], None).unwrap(), algorithm);
        let access = t["access_token"].as_str().unwrap().to_owned();
        let at = Jws::parse(&access).unwrap();
        assert_eq!(at.header_str("typ"), Some("at+jwt"));
        assert_eq!(at.verify(&keys, &[algorithm], None).unwrap(), algorithm);
        let claims = payload(&access);
        assert_eq!(claims["iss"], op.base.as_str());
        assert_eq!(claims["client_id"], "downstream");
        assert_eq!(claims["aud"], "downstream");
        assert_eq!(claims["scope"], "openid groups");
        assert_eq!(
            claims["sub"],
            payload(t["id_token"].as_str().unwrap())["sub"]
        );
        assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 32));
        assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());

        let userinfo = |token: String| {
            let http = http.clone();
            let url = op.url("/oauth2/userinfo");
            async move {
                http.get(url)
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };
        assert_eq!(userinfo(access.clone()).await, 200);
        let (s, _) = post_as(
            &op,
            "/oauth2/revoke",
            vec![("token", access.clone())],
            ("downstream", SECRET),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(userinfo(access).await, 401, "{alg}: revoked, even as a JWT");
    }
}

/// `private_key_jwt` (OpenID Connect Core 9, RFC 7523): a client registered with its
/// public keys proves itself with a JWT it signs, no shared secret. Accepted once (its
/// `jti` is spent), only with the right issuer, subject, audience and lifetime, only
/// signed by a registered key with an asymmetric algorithm; never by a secret, never
/// mixed with another method.
#[tokio::test]
async fn a_client_authenticates_with_a_jwt_signed_by_its_own_key() {
    use ssogate_op::keys::{Alg, SigningKey};
    let key = SigningKey::generate_for(Alg::ES256).unwrap();
    let jwk = key.jwk();
    let op = Harness::start(Opts {
        extra: leak(format!(
            "[clients.keyed]\nredirect_uris = [\"https://keyed.example.org/cb\"]\ntoken_endpoint_auth_method = \"private_key_jwt\"\njwks = {{ keys = [ {{ kty = \"EC\", crv = \"P-256\", x = \"{}\", y = \"{}\", kid = \"{}\", alg = \"ES256\" }} ] }}\n",
            jwk["x"].as_str().unwrap(),
            jwk["y"].as_str().unwrap(),
            key.kid
        )),
        ..Opts::default()
    })
    .await;
    let b = Browser::new();
    assert_eq!(b.login(&op, "alice").await.status, 303);
    let redirect = "https://keyed.example.org/cb";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let token_endpoint = op.url("/oauth2/token");
    let assertion = |key: &SigningKey, claims: Value| key.sign(&claims).unwrap();
    let good = |jti: &str| {
        json!({"iss": "keyed", "sub": "keyed", "aud": token_endpoint, "exp": now + 60,
               "iat": now, "jti": jti})
    };
    let http = ssogate_oidc::http::client("t", &Default::default()).unwrap();
    let token = |code: String, extra: Vec<(&'static str, String)>, basic: bool| {
        let http = http.clone();
        let url = token_endpoint.clone();
        async move {
            let mut form = vec![
                ("grant_type", "authorization_code".to_owned()),
                ("code", code),
                ("redirect_uri", redirect.to_owned()),
                ("code_verifier", VERIFIER.to_owned()),
            ];
            form.extend(extra);
            let mut req = http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(
                    url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(form)
                        .finish(),
                );
            if basic {
                req = req.basic_auth("keyed", Some("any-secret-at-all-0123456789"));
            }
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let body: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap_or(Value::Null);
            (status, body)
        }
    };
    let with = |a: String| {
        vec![
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            ("client_assertion", a),
        ]
    };
    let first = assertion(&key, good("one"));
    let code = client_code(&b, &op, "keyed", redirect, "scope=openid").await;
    let (s, t) = token(code, with(first.clone()), false).await;
    assert_eq!(s, 200, "{t}");
    assert!(t["id_token"].is_string());

    // Refused, each on a fresh code: the same assertion again, another key, another
    // audience, too long a life, expired, another subject, `alg: none`, a secret
    // instead, an assertion and a secret together, the wrong assertion type.
    use base64::Engine as _;
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let other = SigningKey::generate_for(Alg::ES256).unwrap();
    type Case<'a> = (&'a str, Vec<(&'static str, String)>, bool, u16);
    let mut cases: Vec<Case> = vec![
        ("replayed", with(first), false, 401),
        (
            "another key",
            with(assertion(&other, good("two"))),
            false,
            401,
        ),
        (
            "another audience",
            with(assertion(
                &key,
                json!({"iss": "keyed", "sub": "keyed", "aud": "https://elsewhere.example", "exp": now + 60, "jti": "three"}),
            )),
            false,
            401,
        ),
        (
            "too long a life",
            with(assertion(
                &key,
                json!({"iss": "keyed", "sub": "keyed", "aud": token_endpoint, "exp": now + 3600, "jti": "four"}),
            )),
            false,
            401,
        ),
        (
            "expired",
            with(assertion(
                &key,
                json!({"iss": "keyed", "sub": "keyed", "aud": token_endpoint, "exp": now - 5, "jti": "five"}),
            )),
            false,
            401,
        ),
        (
            "another subject",
            with(assertion(
                &key,
                json!({"iss": "keyed", "sub": "alice", "aud": token_endpoint, "exp": now + 60, "jti": "six"}),
            )),
            false,
            401,
        ),
        (
            "alg none",
            with(format!(
                "{}.{}.",
                b64(json!({"alg": "none"})),
                b64(good("seven"))
            )),
            false,
            401,
        ),
        (
            "HMAC with the public key as secret",
            with(format!(
                "{}.{}.{}",
                b64(json!({"alg": "HS256", "kid": key.kid})),
                b64(good("hmac")),
                b64(json!("sig"))
            )),
            false,
            401,
        ),
        (
            "a secret instead",
            vec![("client_id", "keyed".to_owned())],
            true,
            401,
        ),
        (
            "two methods",
            with(assertion(&key, good("eight"))),
            true,
            400,
        ),
    ];
    let mut wrong_type = with(assertion(&key, good("nine")));
    wrong_type[0].1 = "urn:ietf:params:oauth:client-assertion-type:saml2-bearer".into();
    cases.push(("wrong type", wrong_type, false, 400));
    for (what, extra, basic, want) in cases {
        let code = client_code(&b, &op, "keyed", redirect, "scope=openid").await;
        let (s, t) = token(code, extra, basic).await;
        assert_eq!(s, want, "{what}: {t}");
        assert!(t.get("access_token").is_none(), "{what}: {t}");
    }
    // Introspection takes the same authentication.
    let (s, t) = token(String::new(), vec![], false).await;
    assert_eq!(s, 401, "no authentication at all: {t}");
    let http = ssogate_oidc::http::client("t", &Default::default()).unwrap();
    let r = http
        .post(op.url("/oauth2/introspect"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(with(assertion(&key, json!({"iss": "keyed", "sub": "keyed", "aud": op.base, "exp": now + 60, "jti": "ten"}))))
                .append_pair("token", "whatever")
                .finish(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "the issuer is an audience too");
}

/// A client with `logout_upstream`: its sign-out at ssogate goes on to the upstream
/// provider's end-session endpoint (with the upstream ID token as the hint) and comes
/// back to ssogate, which sends the browser on to the application's own return address
/// — that browser only, once.
#[tokio::test]
async fn an_applications_sign_out_goes_on_to_the_upstream_provider_and_back() {
    let (op, app, _) = chain_with("logout_upstream = true\n").await;
    let b = Browser::new();
    assert_eq!(
        sign_in_through_the_chain(&b, &op, &app, "alice")
            .await
            .status,
        303
    );
    let _ = b.get(&format!("{}/account", app.base)).await;
    let csrf = b.cookie("ssogate_csrf").unwrap();
    let r = b
        .post(&format!("{}/logout", app.base), &[("csrf", &csrf)])
        .await;
    let to = loc(&r, &app.base);
    assert!(to.starts_with(&op.url("/oauth2/logout?")), "{to}");
    let r = b.get(&to).await;
    assert_eq!(r.status, 302, "{}", r.body);
    let upstream = Url::parse(&loc(&r, &op.base)).unwrap();
    assert_eq!(
        upstream.as_str().split('?').next().unwrap(),
        format!("{}/logout", op.idp.issuer),
        "{upstream}"
    );
    let q: std::collections::HashMap<String, String> =
        upstream.query_pairs().into_owned().collect();
    assert_eq!(q["post_logout_redirect_uri"], op.url("/logged-out"));
    assert!(q.contains_key("id_token_hint"), "{q:?}");
    let state = q["state"].clone();
    assert_eq!(
        b.status_within(&op.url("/auth/verify"), 401).await,
        401,
        "signed out of ssogate before going on"
    );

    // The upstream provider sends the browser back with its state.
    let back = op.url(&format!(
        "/logged-out?state={}",
        url::form_urlencoded::byte_serialize(state.as_bytes()).collect::<String>()
    ));
    // Another browser with the state learns nothing and goes nowhere.
    let stranger = Browser::new().get(&back).await;
    assert_eq!(stranger.status, 200);
    let r = b.get(&back).await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert!(
        loc(&r, &op.base).starts_with(&format!("{}/logged-out", app.base)),
        "{:?}",
        r.location()
    );
    // Once.
    assert_eq!(b.get(&back).await.status, 200);
}

/// With a key-encryption key, the provider's signing keys are kept sealed in the
/// directory (no clear PKCS#8 there), and sign as before: the application accepts the
/// tokens.
#[tokio::test]
async fn signing_keys_are_sealed_in_the_directory_with_a_key_encryption_key() {
    let dir = tempfile::tempdir().unwrap();
    let kek = dir.path().join("kek");
    std::fs::write(&kek, "bench-and-tests-only-0123456789abcdef-kek\n").unwrap();
    let (op, app, _) = chain_opts(
        "",
        leak(format!(
            "signing_key_encryption_key_file = \"{}\"",
            kek.display()
        )),
    )
    .await;
    let b = Browser::new();
    let r = sign_in_through_the_chain(&b, &op, &app, "alice").await;
    assert_eq!(r.status, 303, "the application accepted: {}", r.body);
    let d = op.directory.clone();
    let keys = tokio::task::spawn_blocking(move || d.op_keys(0).unwrap())
        .await
        .unwrap();
    assert!(!keys.is_empty());
    for k in &keys {
        assert!(k.private_key.starts_with("enc1:"), "{} is sealed", k.kid);
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(k.private_key.trim_start_matches("enc1:"))
            .unwrap();
        assert!(
            ssogate_op::keys::SigningKey::from_pkcs8(&raw).is_err(),
            "what is kept is not a usable key"
        );
    }
}

/// A `private_key_jwt` client that publishes its keys at a `jwks_uri`: they are fetched
/// and kept; when the client rotates to a new key, an assertion signed with it is
/// accepted once the kept copy may be refreshed (a few seconds after the last fetch, so
/// forged `kid`s cannot make ssogate fetch without end); a key it no longer publishes
/// is refused.
#[tokio::test]
async fn a_client_publishing_its_keys_at_a_jwks_uri_can_rotate_them() {
    use ssogate_op::keys::{Alg, SigningKey};
    let (a, b_key) = (
        SigningKey::generate_for(Alg::ES256).unwrap(),
        SigningKey::generate_for(Alg::EdDSA).unwrap(),
    );
    let published = Arc::new(std::sync::Mutex::new(
        json!({"keys": [a.jwk()]}).to_string(),
    ));
    let served = published.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_uri = format!("http://{}/jwks", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let body = served.lock().unwrap().clone();
                async move { body }
            }),
        );
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    let clock = crate::support::manual_clock();
    let now = || ssogate_oidc::Clock::now(&*clock);
    let op = Harness::start(Opts {
        clock: Some(clock.clone()),
        server: "session_idle_minutes = 600",
        extra: leak(format!(
            "[clients.keyed]\nredirect_uris = [\"https://keyed.example.org/cb\"]\ntoken_endpoint_auth_method = \"private_key_jwt\"\njwks_uri = \"{jwks_uri}\"\n\
             [clients.unreachable]\nredirect_uris = [\"https://keyed.example.org/cb\"]\ntoken_endpoint_auth_method = \"private_key_jwt\"\njwks_uri = \"http://127.0.0.1:9/jwks\"\n"
        )),
        ..Opts::default()
    })
    .await;
    op.idp.set_now(now());
    let browser = Browser::new();
    assert_eq!(browser.login(&op, "alice").await.status, 303);
    let redirect = "https://keyed.example.org/cb";
    let token_endpoint = op.url("/oauth2/token");
    let exchange_as = |client: &'static str, key: &SigningKey, jti: &str| {
        let assertion = key
            .sign(&json!({"iss": client, "sub": client, "aud": token_endpoint,
                "exp": now() + 60, "jti": jti}))
            .unwrap();
        let op = &op;
        let browser = &browser;
        async move {
            let code = client_code(browser, op, client, redirect, "scope=openid").await;
            let http = ssogate_oidc::http::client("t", &Default::default()).unwrap();
            let r = http
                .post(op.url("/oauth2/token"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(
                    url::form_urlencoded::Serializer::new(String::new())
                        .append_pair("grant_type", "authorization_code")
                        .append_pair("code", &code)
                        .append_pair("redirect_uri", redirect)
                        .append_pair("code_verifier", VERIFIER)
                        .append_pair(
                            "client_assertion_type",
                            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                        )
                        .append_pair("client_assertion", &assertion)
                        .finish(),
                )
                .send()
                .await
                .unwrap();
            r.status().as_u16()
        }
    };
    let exchange = |key: &SigningKey, jti: &str| exchange_as("keyed", key, jti);
    assert_eq!(exchange(&a, "1").await, 200, "the published key");
    // The client rotates to another key.
    *published.lock().unwrap() = json!({"keys": [b_key.jwk()]}).to_string();
    assert_eq!(
        exchange(&b_key, "2").await,
        401,
        "just fetched: not fetched again at once"
    );
    clock.advance(11);
    op.idp.set_now(now());
    assert_eq!(
        exchange(&b_key, "3").await,
        200,
        "fetched again, the new key"
    );
    assert_eq!(exchange(&a, "4").await, 401, "the old key is gone");
    // The client's key server goes away: the last keys fetched still serve once they
    // are due for a refresh (an outage there does not lock the application out), and
    // only they.
    let _ = stop.send(());
    clock.advance(301);
    op.idp.set_now(now());
    let _ = browser.login(&op, "alice").await;
    assert_eq!(exchange(&b_key, "5").await, 200, "the last keys fetched");
    assert_eq!(exchange(&a, "6").await, 401);
    // Keys that could never be fetched authenticate nobody; the refusal is audited.
    assert_eq!(exchange_as("unreachable", &b_key, "7").await, 401);
    assert!(
        op.audit()
            .iter()
            .any(|e| e == "op.token/failure/invalid_client"),
        "{:?}",
        op.audit()
    );
}

/// The way back from an upstream logout is taken only with its own cookie: a crafted
/// link carrying an in-flight sign-in's `state` to `/`, `/login` or `/logged-out` does
/// not spend that sign-in (its binding cookie is named apart).
#[tokio::test]
async fn a_sign_in_in_flight_is_not_taken_for_a_logout_on_its_way_back() {
    let (op, _app, _) = chain().await;
    let b = Browser::new();
    let r = b.get(&op.url("/auth/fake/start")).await;
    assert_eq!(r.status, 302, "{}", r.body);
    let auth = Url::parse(&r.location().unwrap()).unwrap();
    let state = auth
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let q = url::form_urlencoded::byte_serialize(state.as_bytes()).collect::<String>();
    for path in ["/", "/login", "/logged-out"] {
        b.get(&op.url(&format!("{path}?state={q}"))).await;
    }
    op.idp.login_as("alice");
    let back = op.idp.authorize(&auth);
    let r = b.get(back.as_str()).await;
    assert_eq!(r.status, 303, "the sign-in still completes: {}", r.body);
}
