//! The good paths against the fake provider.

use super::*;
use ssogate_oidc::TokenSet;
use ssogate_oidc::settings::{BearerMode, EndSession, UserinfoMode};
use ssogate_testkit::SigningKey;

#[tokio::test]
async fn code_flow_with_pkce_nonce_and_at_hash() {
    let r = rig().await;
    let (url, issued) = r.states.begin(&r.rp, "/books?x=1", None).await.unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["state"], issued.state);
    assert!(q["nonce"].len() >= 43, "32 random bytes");
    assert_eq!(q["scope"], "openid profile email");
    let login = r
        .states
        .finish(
            &r.rp,
            &params(&r.fake.authorize(&url)),
            Some(&issued.binding),
        )
        .await
        .unwrap();
    assert_eq!(login.subject, "alice");
    assert_eq!(login.sid.as_deref(), Some("sid-alice"));
    assert_eq!(login.pending.return_to, "/books?x=1");
    assert_eq!(login.id_token_claims["email"], "alice@example.org");
    assert!(login.userinfo.is_none(), "nothing wanted was missing");
    assert!(login.tokens.refresh_token.is_some());
    assert!(login.dump.is_none());
    // Tokens never show in debug output.
    let shown = format!("{:?}", login.tokens);
    assert!(!shown.contains(&login.tokens.access_token));
}

#[tokio::test]
async fn prompt_and_extra_scopes_reach_the_provider() {
    let fake = FakeProvider::start().await;
    let mut s = settings_for(&fake, ProtocolSettings::default());
    s.protocol.prompt = Some("select_account".into());
    s.scopes.push("groups".into());
    let rp = Provider::new(s, Arc::new(ManualClock::new(fake.now()))).unwrap();
    let (url, _) = States::new().begin(&rp, "/", None).await.unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["prompt"], "select_account");
    assert_eq!(q["scope"], "openid profile email groups");
}

#[tokio::test]
async fn client_secret_post_when_the_provider_lists_only_it() {
    let r = rig().await;
    r.fake.require_auth_method("client_secret_post");
    r.login().await.unwrap();
    // And basic (the default) still works against a provider that wants it.
    let r = rig().await;
    r.login().await.unwrap();
    // The operator may force post even when basic is listed (Authelia).
    let fake = FakeProvider::start().await;
    fake.require_auth_method("client_secret_post");
    fake.discovery_set(
        "token_endpoint_auth_methods_supported",
        json!(["client_secret_basic", "client_secret_post"]),
    );
    let mut p = ProtocolSettings::default();
    p.token_auth_method = Some(ssogate_oidc::settings::TokenAuthMethod::ClientSecretPost);
    rig_on(fake, p).login().await.unwrap();
    // Forcing basic against a post-only provider fails at the token endpoint.
    let fake = FakeProvider::start().await;
    fake.require_auth_method("client_secret_post");
    let mut p = ProtocolSettings::default();
    p.token_auth_method = Some(ssogate_oidc::settings::TokenAuthMethod::ClientSecretBasic);
    let e = rig_on(fake, p).login().await.unwrap_err();
    assert!(
        matches!(e, OidcError::CodeRejected { ref error, .. } if error == "invalid_client"),
        "{e:?}"
    );
}

#[tokio::test]
async fn pkce_is_skipped_only_when_unsupported_or_switched_off() {
    let r = rig().await;
    r.fake
        .discovery_set("code_challenge_methods_supported", json!(["plain"]));
    let (url, _) = r.states.begin(&r.rp, "/", None).await.unwrap();
    assert!(!url.query_pairs().any(|(k, _)| k == "code_challenge"));
    let mut p = ProtocolSettings::default();
    p.pkce = Some(false);
    let r = rig_with(p).await;
    let (url, _) = r.states.begin(&r.rp, "/", None).await.unwrap();
    assert!(!url.query_pairs().any(|(k, _)| k == "code_challenge"));
    r.login().await.unwrap();
}

#[tokio::test]
async fn userinfo_enriches_when_wanted_claims_are_missing() {
    let fake = FakeProvider::start().await;
    let clock = Arc::new(ManualClock::new(fake.now()));
    let mut s = settings_for(&fake, ProtocolSettings::default());
    s.wanted_claims = vec!["email".into(), "userinfo_only".into()];
    let rp = Provider::new(s, clock.clone()).unwrap();
    let r = Rig {
        fake,
        rp,
        clock,
        states: States::new(),
    };
    let login = r.login().await.unwrap();
    let info = login.userinfo.unwrap();
    assert_eq!(info["userinfo_only"], "from userinfo");
    assert_eq!(info["sub"], "alice");
    // Signed userinfo responses are verified.
    r.fake.userinfo_as_jwt(true);
    let login = r.login().await.unwrap();
    assert_eq!(login.userinfo.unwrap()["iss"], json!(r.fake.issuer));
}

#[tokio::test]
async fn userinfo_never_and_always() {
    let mut p = ProtocolSettings::default();
    p.userinfo = UserinfoMode::Always;
    assert!(rig_with(p).await.login().await.unwrap().userinfo.is_some());
    let fake = FakeProvider::start().await;
    let mut s = settings_for(&fake, ProtocolSettings::default());
    s.wanted_claims = vec!["userinfo_only".into()];
    s.protocol.userinfo = UserinfoMode::Never;
    let rp = Provider::new(s, Arc::new(ManualClock::new(fake.now()))).unwrap();
    let r = Rig {
        fake,
        rp,
        clock: Arc::new(ManualClock::new(0)),
        states: States::new(),
    };
    assert!(r.login().await.unwrap().userinfo.is_none());
}

#[tokio::test]
async fn refresh_keeps_the_subject_and_rotates_tokens() {
    let r = rig().await;
    let login = r.login().await.unwrap();
    let rt = login.tokens.refresh_token.clone().unwrap();
    let fresh: TokenSet = r.rp.refresh(&rt, "alice").await.unwrap();
    assert_ne!(fresh.access_token, login.tokens.access_token);
    assert!(fresh.id_token.is_some());
    // The provider rotated the refresh token; the old one is dead.
    assert!(matches!(
        r.rp.refresh(&rt, "alice").await,
        Err(OidcError::CodeRejected { .. })
    ));
    // A refreshed ID token for another subject is refused.
    let rt2 = fresh.refresh_token.unwrap();
    assert_eq!(
        r.rp.refresh(&rt2, "bob").await.unwrap_err(),
        OidcError::SubjectChanged
    );
}

#[tokio::test]
async fn end_session_url_on_off_or_explicit() {
    let r = rig().await;
    let url =
        r.rp.end_session_url(
            Some("the-id-token"),
            Some("https://app.example/bye"),
            Some("s1"),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(
        url.as_str()
            .starts_with(&format!("{}/logout?", r.fake.issuer))
    );
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["id_token_hint"], "the-id-token");
    assert_eq!(q["post_logout_redirect_uri"], "https://app.example/bye");
    assert_eq!(q["state"], "s1");
    assert_eq!(q["client_id"], "app");

    let mut p = ProtocolSettings::default();
    p.end_session = EndSession::Off;
    assert!(
        rig_with(p)
            .await
            .rp
            .end_session_url(None, None, None)
            .await
            .unwrap()
            .is_none()
    );
    let mut p = ProtocolSettings::default();
    p.end_session = EndSession::Url("https://sso.example/signout".into());
    let url = rig_with(p)
        .await
        .rp
        .end_session_url(None, None, None)
        .await
        .unwrap()
        .unwrap();
    assert!(url.as_str().starts_with("https://sso.example/signout?"));
}

#[tokio::test]
async fn opaque_bearer_tokens_by_introspection_or_userinfo() {
    let mut p = ProtocolSettings::default();
    p.bearer = BearerMode::Introspection;
    let r = rig_with(p).await;
    let at = r.login().await.unwrap().tokens.access_token;
    let id = r.rp.bearer(&at).await.unwrap();
    assert_eq!(id.subject, "alice");
    assert_eq!(
        r.rp.bearer("not-a-token").await.unwrap_err(),
        OidcError::TokenInactive
    );

    let mut p = ProtocolSettings::default();
    p.bearer = BearerMode::Userinfo;
    p.bearer_userinfo_accept_any_client = true;
    let r = rig_with(p).await;
    let at = r.login().await.unwrap().tokens.access_token;
    assert_eq!(r.rp.bearer(&at).await.unwrap().subject, "alice");
    assert_eq!(
        r.rp.bearer("not-a-token").await.unwrap_err(),
        OidcError::TokenInactive
    );

    let r = rig().await;
    assert_eq!(
        r.rp.bearer("x").await.unwrap_err(),
        OidcError::BearerDisabled
    );
}

#[tokio::test]
async fn es256_eddsa_and_pss_tokens() {
    let r = rig().await;
    for key in [
        SigningKey::es256("ec256"),
        SigningKey::es384("ec384"),
        SigningKey::eddsa("ed"),
        SigningKey::rsa("ps", 2048).with_alg("PS256"),
        SigningKey::rsa("rs512", 3072).with_alg("RS512"),
    ] {
        let kid = key.kid.clone();
        r.fake.rotate_to(key);
        r.clock.advance(31);
        r.login().await.unwrap_or_else(|e| panic!("{kid}: {e}"));
    }
}

#[tokio::test]
async fn manual_endpoints_with_a_pem_public_key() {
    let fake = FakeProvider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("idp.pem");
    std::fs::write(&pem, fake.signer().public_pem()).unwrap();
    let i = &fake.issuer;
    let mut p = ProtocolSettings::default();
    p.discovery = false;
    p.authorization_endpoint = Some(format!("{i}/authorize"));
    p.token_endpoint = Some(format!("{i}/token"));
    p.public_key_file = Some(pem);
    let r = rig_on(fake, p);
    r.fake.send_iss(false);
    let login = r.login().await.unwrap();
    assert_eq!(login.subject, "alice");
    assert_eq!(r.fake.jwks_fetches(), 0, "the PEM key is used, no JWKS");
}

#[tokio::test]
async fn dump_claims_records_without_tokens_and_without_blocking() {
    let mut p = ProtocolSettings::default();
    p.dump_claims = true;
    let r = rig_with(p).await;
    let login = r.login().await.unwrap();
    let dump = login.dump.unwrap().to_string();
    assert!(dump.contains("alice@example.org"));
    assert!(!dump.contains(&login.tokens.access_token));
    assert!(!dump.contains(login.tokens.id_token.as_deref().unwrap()));
    assert!(!dump.contains(login.tokens.refresh_token.as_deref().unwrap()));
}

#[tokio::test]
async fn provider_check_reports_keys_and_warnings() {
    let r = rig().await;
    r.fake.publish_jwk(ssogate_testkit::weak_rsa_jwk("weak"));
    r.fake.discovery_set("end_session_endpoint", Value::Null);
    let report = r.rp.check().await;
    assert!(report.usable, "{report:?}");
    assert_eq!(report.keys.len(), 2);
    assert_eq!(report.keys[0].description, "RSA 2048");
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("weak") && w.contains("1024"))
    );
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("end_session_endpoint"))
    );
    assert!(report.warnings.iter().any(|w| w.contains("http")));
    assert_eq!(report.token_auth_method_used, "client_secret_basic");
    assert!(report.pkce);

    r.fake.unpublish("k1");
    let report = r.rp.check().await;
    assert!(!report.usable);
}

#[tokio::test]
async fn an_unreachable_provider_is_said_so() {
    let fake = FakeProvider::start().await;
    let s = settings_for(&fake, ProtocolSettings::default());
    drop(fake);
    let rp = Provider::new(s, Arc::new(ManualClock::new(0))).unwrap();
    let e = States::new().begin(&rp, "/", None).await.unwrap_err();
    assert!(matches!(e, OidcError::Unreachable { .. }), "{e:?}");
    assert!(e.is_provider_side());
}

/// Nextcloud's self-encoded and userinfo bearer validation together: a JWT is checked
/// locally (a foreign audience is refused, never passed on to userinfo), an opaque
/// token goes to userinfo.
#[tokio::test]
async fn jwt_or_userinfo_bearer_validation() {
    let mut p = ProtocolSettings::default();
    p.bearer = BearerMode::JwtOrUserinfo;
    p.bearer_audience = vec!["https://api.example".into()];
    p.bearer_userinfo_accept_any_client = true;
    let r = rig_with(p).await;
    let jwt = r.fake.sign(
        serde_json::json!({"typ": "at+jwt"}),
        &r.fake.access_claims("alice", "https://api.example"),
    );
    assert_eq!(r.rp.bearer(&jwt).await.unwrap().subject, "alice");
    let foreign = r.fake.sign(
        serde_json::json!({"typ": "at+jwt"}),
        &r.fake.access_claims("alice", "https://other-api.example"),
    );
    assert!(matches!(
        r.rp.bearer(&foreign).await,
        Err(OidcError::WrongAudience { .. })
    ));
    let opaque = r.login().await.unwrap().tokens.access_token;
    assert_eq!(r.rp.bearer(&opaque).await.unwrap().subject, "alice");
    assert_eq!(
        r.rp.bearer("not-a-token").await.unwrap_err(),
        OidcError::TokenInactive
    );
}

/// Nextcloud's `enable_default_claims`: the authorization request asks for quota, name,
/// email, groups and the mapped claims through the `claims` parameter; off by default.
#[tokio::test]
async fn default_claims_are_requested_when_asked() {
    let r = rig().await;
    let (url, _) = r.rp.begin("/", None).await.unwrap();
    assert!(!url.query_pairs().any(|(k, _)| k == "claims"));
    let mut p = ProtocolSettings::default();
    p.request_claims = true;
    let r = rig_with(p).await;
    let (url, _) = r.rp.begin("/", None).await.unwrap();
    let claims: serde_json::Value = serde_json::from_str(
        &url.query_pairs()
            .find(|(k, _)| k == "claims")
            .map(|(_, v)| v.into_owned())
            .unwrap(),
    )
    .unwrap();
    for name in ["quota", "name", "email", "groups"] {
        assert!(claims["id_token"].get(name).is_some(), "{claims}");
        assert!(claims["userinfo"].get(name).is_some(), "{claims}");
    }
    // The login still completes.
    r.login().await.unwrap();
}
