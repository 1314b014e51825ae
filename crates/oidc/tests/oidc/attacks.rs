//! Every forged, stale or misdirected token and response is refused with its own error.

use super::*;
use ssogate_oidc::settings::ProtocolSettings;
use ssogate_oidc::{Algorithm, Clock};
use ssogate_testkit::{SigningKey, forge_hs256, forge_none, weak_rsa_jwk};

#[tokio::test]
async fn a_good_id_token_passes() {
    let r = rig().await;
    r.id_token(&r.claims()).await.unwrap();
}

#[tokio::test]
async fn alg_none_is_refused() {
    let r = rig().await;
    let token = forge_none(&r.claims());
    let e =
        r.rp.validate_id_token(&token, Some("n-1"), None)
            .await
            .unwrap_err();
    assert_eq!(e, OidcError::AlgNone);
    // Also when the provider itself sends it through the code flow.
    r.fake.set_tamper(Some(Box::new(|h, _| {
        h.insert("alg".into(), json!("none"));
    })));
    assert_eq!(r.login().await.unwrap_err(), OidcError::AlgNone);
}

#[tokio::test]
async fn hmac_keyed_by_the_public_key_is_refused() {
    let r = rig().await;
    let public = r.fake.signer().public_bytes();
    let token = forge_hs256(&public, Some("k1"), &r.claims());
    let e =
        r.rp.validate_id_token(&token, Some("n-1"), None)
            .await
            .unwrap_err();
    assert_eq!(
        e,
        OidcError::SymmetricAlgRefused {
            alg: "HS256".into()
        }
    );
}

#[tokio::test]
async fn hs256_only_with_the_client_secret_when_configured() {
    let mut p = ProtocolSettings::default();
    p.allow_hs256 = true;
    p.algorithms.push(Algorithm::HS256);
    let r = rig_with(p).await;
    let good = forge_hs256(b"secret", None, &r.claims());
    r.rp.validate_id_token(&good, Some("n-1"), None)
        .await
        .unwrap();
    let forged = forge_hs256(&r.fake.signer().public_bytes(), None, &r.claims());
    let e =
        r.rp.validate_id_token(&forged, Some("n-1"), None)
            .await
            .unwrap_err();
    assert_eq!(e, OidcError::BadSignature);
}

#[tokio::test]
async fn a_tampered_payload_fails_the_signature() {
    let r = rig().await;
    let token = r.fake.sign(json!({}), &r.claims());
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut evil = r.claims();
    evil["sub"] = json!("admin");
    use base64::Engine as _;
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(evil.to_string());
    let e =
        r.rp.validate_id_token(&parts.join("."), Some("n-1"), None)
            .await
            .unwrap_err();
    assert_eq!(e, OidcError::BadSignature);
}

#[tokio::test]
async fn wrong_issuer_and_audience() {
    let r = rig().await;
    let mut c = r.claims();
    c["iss"] = json!("https://evil.example");
    assert!(matches!(
        r.id_token(&c).await,
        Err(OidcError::WrongIssuer { .. })
    ));
    let mut c = r.claims();
    c["aud"] = json!("another-app");
    assert!(matches!(
        r.id_token(&c).await,
        Err(OidcError::WrongAudience { .. })
    ));
}

#[tokio::test]
async fn several_audiences_need_our_azp() {
    let r = rig().await;
    let mut c = r.claims();
    c["aud"] = json!(["app", "other"]);
    assert_eq!(r.id_token(&c).await.unwrap_err(), OidcError::AzpMissing);
    c["azp"] = json!("other");
    assert_eq!(
        r.id_token(&c).await.unwrap_err(),
        OidcError::WrongAzp {
            found: "other".into()
        }
    );
    c["azp"] = json!("app");
    r.id_token(&c).await.unwrap();
}

#[tokio::test]
async fn audience_checks_can_be_switched_off_per_provider() {
    let mut p = ProtocolSettings::default();
    p.check_audience = false;
    let r = rig_with(p).await;
    let mut c = r.claims();
    c["aud"] = json!(["x", "y"]);
    r.id_token(&c).await.unwrap();
    // Nextcloud switches them separately: audience off, azp still checked.
    let mut p = ProtocolSettings::default();
    p.check_audience = false;
    p.check_azp = Some(true);
    let r = rig_with(p).await;
    let mut c = r.claims();
    c["aud"] = json!(["x", "y"]);
    assert_eq!(r.id_token(&c).await.unwrap_err(), OidcError::AzpMissing);
    // And azp off alone: another party's azp passes, the audience is still ours.
    let mut p = ProtocolSettings::default();
    p.check_azp = Some(false);
    let r = rig_with(p).await;
    let mut c = r.claims();
    c["azp"] = json!("other");
    r.id_token(&c).await.unwrap();
}

#[tokio::test]
async fn time_claims_with_bounded_leeway() {
    let r = rig().await;
    let now = r.clock.now();
    let mut c = r.claims();
    c["exp"] = json!(now - 61);
    assert!(matches!(
        r.id_token(&c).await,
        Err(OidcError::Expired { .. })
    ));
    c["exp"] = json!(now - 59);
    r.id_token(&c).await.unwrap();
    let mut c = r.claims();
    c["iat"] = json!(now + 61);
    assert!(matches!(
        r.id_token(&c).await,
        Err(OidcError::IssuedInFuture { .. })
    ));
    let mut c = r.claims();
    c["nbf"] = json!(now + 61);
    assert!(matches!(
        r.id_token(&c).await,
        Err(OidcError::NotYetValid { .. })
    ));
    // A configured leeway above 300 s is capped.
    let mut p = ProtocolSettings::default();
    p.leeway_seconds = 10_000;
    let r = rig_with(p).await;
    let mut c = r.claims();
    c["exp"] = json!(r.clock.now() - 301);
    assert!(matches!(
        r.id_token(&c).await,
        Err(OidcError::Expired { leeway: 300, .. })
    ));
}

#[tokio::test]
async fn nonce_missing_or_replayed() {
    let r = rig().await;
    let mut c = r.claims();
    c.as_object_mut().unwrap().remove("nonce");
    assert_eq!(r.id_token(&c).await.unwrap_err(), OidcError::NonceMissing);
    // An ID token from an earlier login carries that login's nonce.
    let earlier = r.login().await.unwrap();
    let replayed = earlier.tokens.id_token.unwrap();
    let e =
        r.rp.validate_id_token(&replayed, Some("fresh-nonce"), None)
            .await
            .unwrap_err();
    assert_eq!(e, OidcError::NonceMismatch);
}

#[tokio::test]
async fn at_hash_must_match_the_access_token() {
    let r = rig().await;
    let mut c = r.claims();
    c["at_hash"] = json!(ssogate_testkit::at_hash_sha256("the-real-token"));
    let token = r.fake.sign(json!({}), &c);
    r.rp.validate_id_token(&token, Some("n-1"), Some("the-real-token"))
        .await
        .unwrap();
    let e =
        r.rp.validate_id_token(&token, Some("n-1"), Some("swapped-token"))
            .await
            .unwrap_err();
    assert_eq!(e, OidcError::AtHashMismatch);
}

#[tokio::test]
async fn state_missing_unknown_expired_replayed_or_from_another_browser() {
    let r = rig().await;
    let (url, issued) = r.states.begin(&r.rp, "/", None).await.unwrap();
    let back = r.fake.authorize(&url);
    let mut p = params(&back);

    let no_state = CallbackParams {
        state: None,
        ..p.clone()
    };
    assert_eq!(
        r.states
            .finish(&r.rp, &no_state, Some(&issued.binding))
            .await
            .unwrap_err(),
        OidcError::StateMissing
    );
    let unknown = CallbackParams {
        state: Some("made-up".into()),
        ..p.clone()
    };
    assert_eq!(
        r.states
            .finish(&r.rp, &unknown, Some(&issued.binding))
            .await
            .unwrap_err(),
        OidcError::StateUnknown
    );
    // Another browser (no cookie, or someone else's) cannot use, nor burn, the state.
    assert_eq!(
        r.states.finish(&r.rp, &p, None).await.unwrap_err(),
        OidcError::StateOtherBrowser
    );
    assert_eq!(
        r.states
            .finish(&r.rp, &p, Some("someone-elses-cookie"))
            .await
            .unwrap_err(),
        OidcError::StateOtherBrowser
    );
    r.states
        .finish(&r.rp, &p, Some(&issued.binding))
        .await
        .unwrap();
    assert_eq!(
        r.states
            .finish(&r.rp, &p, Some(&issued.binding))
            .await
            .unwrap_err(),
        OidcError::StateReplayed
    );

    let (url, issued) = r.states.begin(&r.rp, "/", None).await.unwrap();
    p = params(&r.fake.authorize(&url));
    r.clock.advance(601);
    assert_eq!(
        r.states
            .finish(&r.rp, &p, Some(&issued.binding))
            .await
            .unwrap_err(),
        OidcError::StateExpired
    );
}

#[tokio::test]
async fn a_code_cannot_be_replayed_under_a_fresh_state() {
    let r = rig().await;
    let (url, issued) = r.states.begin(&r.rp, "/", None).await.unwrap();
    let first = params(&r.fake.authorize(&url));
    r.states
        .finish(&r.rp, &first, Some(&issued.binding))
        .await
        .unwrap();
    let (_, issued2) = r.states.begin(&r.rp, "/", None).await.unwrap();
    let replay = CallbackParams {
        state: Some(issued2.state.clone()),
        ..first
    };
    let e = r
        .states
        .finish(&r.rp, &replay, Some(&issued2.binding))
        .await
        .unwrap_err();
    assert!(
        matches!(e, OidcError::CodeRejected { ref error, .. } if error == "invalid_grant"),
        "{e:?}"
    );
}

#[tokio::test]
async fn provider_errors_are_reported_with_their_description() {
    let r = rig().await;
    let (_, issued) = r.states.begin(&r.rp, "/", None).await.unwrap();
    let p = CallbackParams {
        state: Some(issued.state.clone()),
        error: Some("access_denied".into()),
        error_description: Some("The user said no".into()),
        ..CallbackParams::default()
    };
    let e = r
        .states
        .finish(&r.rp, &p, Some(&issued.binding))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        OidcError::ProviderError {
            error: "access_denied".into(),
            description: Some("The user said no".into())
        }
    );
    assert!(e.to_string().contains("The user said no"));
}

#[tokio::test]
async fn rfc9207_issuer_in_the_response_is_checked() {
    let r = rig().await;
    let (url, issued) = r.states.begin(&r.rp, "/", None).await.unwrap();
    let mut p = params(&r.fake.authorize(&url));
    p.iss = Some("https://mix-up.example".into());
    let e = r
        .states
        .finish(&r.rp, &p, Some(&issued.binding))
        .await
        .unwrap_err();
    assert!(matches!(e, OidcError::ResponseIssuerMismatch { .. }));
    // The provider announces RFC 9207, so a response without `iss` is refused too.
    let (url, issued) = r.states.begin(&r.rp, "/", None).await.unwrap();
    let mut p = params(&r.fake.authorize(&url));
    p.iss = None;
    let e = r
        .states
        .finish(&r.rp, &p, Some(&issued.binding))
        .await
        .unwrap_err();
    assert!(matches!(e, OidcError::ResponseIssuerMismatch { .. }));
}

#[tokio::test]
async fn unknown_kid_causes_one_refetch_then_rejection() {
    let r = rig().await;
    r.id_token(&r.claims()).await.unwrap();
    assert_eq!(r.fake.jwks_fetches(), 1);
    let stranger = SigningKey::rsa("not-published", 2048);
    let token = stranger.sign_jwt(json!({}), &r.claims());
    r.clock.advance(31);
    let e =
        r.rp.validate_id_token(&token, Some("n-1"), None)
            .await
            .unwrap_err();
    assert_eq!(
        e,
        OidcError::UnknownKey {
            kid: "not-published".into()
        }
    );
    assert_eq!(r.fake.jwks_fetches(), 2, "one refetch");
    // A storm of forged kids inside the minimum interval causes no more fetches.
    for i in 0..20 {
        let k = SigningKey::eddsa(&format!("forged-{i}"));
        let t = k.sign_jwt(json!({}), &r.claims());
        assert!(matches!(
            r.rp.validate_id_token(&t, Some("n-1"), None).await,
            Err(OidcError::UnknownKey { .. })
        ));
    }
    assert_eq!(r.fake.jwks_fetches(), 2);
}

#[tokio::test]
async fn rotation_is_followed_and_removed_keys_are_refused() {
    let r = rig().await;
    let old = r.fake.signer();
    r.id_token(&r.claims()).await.unwrap();
    let old_token = old.sign_jwt(json!({}), &r.claims());
    r.fake.rotate_to(SigningKey::es256("k2"));
    r.fake.unpublish("k1");
    r.clock.advance(31);
    // The new key is fetched on first sight.
    r.id_token(&r.claims()).await.unwrap();
    // A token signed by the retired key is refused.
    r.clock.advance(31);
    let e =
        r.rp.validate_id_token(&old_token, Some("n-1"), None)
            .await
            .unwrap_err();
    assert_eq!(e, OidcError::UnknownKey { kid: "k1".into() });
}

#[tokio::test]
async fn explicit_invalidation_refetches() {
    let r = rig().await;
    r.id_token(&r.claims()).await.unwrap();
    r.rp.invalidate();
    r.id_token(&r.claims()).await.unwrap();
    assert_eq!(r.fake.jwks_fetches(), 2);
}

#[tokio::test]
async fn weak_rsa_keys_are_refused_unless_strength_checks_are_off() {
    let r = rig().await;
    r.fake.publish_jwk(weak_rsa_jwk("weak"));
    let token = r
        .fake
        .signer()
        .sign_jwt(json!({"kid": "weak"}), &r.claims());
    let e =
        r.rp.validate_id_token(&token, Some("n-1"), None)
            .await
            .unwrap_err();
    assert!(
        matches!(e, OidcError::WeakKey { ref kid, .. } if kid == "weak"),
        "{e:?}"
    );

    let mut p = ProtocolSettings::default();
    p.validate_key_strength = false;
    let lax = rig_with(p).await;
    lax.fake.publish_jwk(weak_rsa_jwk("weak"));
    let token = lax
        .fake
        .signer()
        .sign_jwt(json!({"kid": "weak"}), &lax.claims());
    // The key is used (and, this token not being signed by it, fails to verify).
    let e = lax
        .rp
        .validate_id_token(&token, Some("n-1"), None)
        .await
        .unwrap_err();
    assert_eq!(e, OidcError::BadSignature);
}

#[tokio::test]
async fn algorithms_outside_the_allow_list_are_refused() {
    let mut p = ProtocolSettings::default();
    p.algorithms = vec![Algorithm::RS256];
    let r = rig_with(p).await;
    let ec = r.fake.rotate_to(SigningKey::es256("ec"));
    let token = ec.sign_jwt(json!({}), &r.claims());
    let e =
        r.rp.validate_id_token(&token, Some("n-1"), None)
            .await
            .unwrap_err();
    assert_eq!(
        e,
        OidcError::AlgNotAllowed {
            alg: "ES256".into()
        }
    );
}

#[tokio::test]
async fn critical_header_extensions_are_refused() {
    let r = rig().await;
    let token = r
        .fake
        .sign(json!({"crit": ["b64"], "b64": false}), &r.claims());
    let e =
        r.rp.validate_id_token(&token, Some("n-1"), None)
            .await
            .unwrap_err();
    assert!(matches!(e, OidcError::UnknownCritical(_)));
}

#[tokio::test]
async fn userinfo_with_another_subject_is_refused() {
    let fake = FakeProvider::start().await;
    let mut r = rig_on(fake, ProtocolSettings::default());
    let mut s = settings_for(&r.fake, ProtocolSettings::default());
    s.wanted_claims = vec!["userinfo_only".into()];
    r.rp = Provider::new(s, r.clock.clone()).unwrap();
    r.fake
        .set_userinfo(Some(json!({"sub": "mallory", "email": "m@evil.example"})));
    assert_eq!(r.login().await.unwrap_err(), OidcError::UserinfoSubMismatch);
}

#[tokio::test]
async fn logout_tokens_are_checked_to_the_letter() {
    let r = rig().await;
    let jti = Jtis::default();
    let good = r.fake.logout_claims(Some("alice"), Some("sid-alice"));
    let token = r.fake.sign(json!({"typ": "logout+jwt"}), &good);
    let req = jti.logout(&r.rp, &token).await.unwrap();
    assert_eq!(req.sid.as_deref(), Some("sid-alice"));
    assert_eq!(req.sub.as_deref(), Some("alice"));
    assert_eq!(
        jti.logout(&r.rp, &token).await.unwrap_err(),
        OidcError::LogoutTokenReplayed
    );

    let mut c = r.fake.logout_claims(Some("alice"), None);
    c["jti"] = json!("j-nonce");
    c["nonce"] = json!("n");
    let t = r.fake.sign(json!({}), &c);
    assert_eq!(
        jti.logout(&r.rp, &t).await.unwrap_err(),
        OidcError::LogoutTokenHasNonce
    );

    let mut c = r.fake.logout_claims(Some("alice"), None);
    c["jti"] = json!("j-events");
    c.as_object_mut().unwrap().remove("events");
    let t = r.fake.sign(json!({}), &c);
    assert_eq!(
        jti.logout(&r.rp, &t).await.unwrap_err(),
        OidcError::LogoutTokenNoEvent
    );

    let mut c = r.fake.logout_claims(None, None);
    c["jti"] = json!("j-nobody");
    let t = r.fake.sign(json!({}), &c);
    assert_eq!(
        jti.logout(&r.rp, &t).await.unwrap_err(),
        OidcError::LogoutTokenNoSubject
    );

    // An ID token is not a logout token.
    let id = r.fake.sign(json!({}), &r.claims());
    assert!(jti.logout(&r.rp, &id).await.is_err());
    // Nor is an access token.
    let at = r.fake.sign(json!({"typ": "at+jwt"}), &good);
    assert!(matches!(
        jti.logout(&r.rp, &at).await,
        Err(OidcError::WrongTokenType { .. })
    ));
}

#[tokio::test]
async fn jwt_access_tokens_need_at_jwt_and_our_audience() {
    let mut p = ProtocolSettings::default();
    p.bearer = ssogate_oidc::settings::BearerMode::Jwt;
    p.bearer_audience = vec!["https://api.example".into()];
    let r = rig_with(p).await;
    let claims = r.fake.access_claims("alice", "https://api.example");
    let good = r.fake.sign(json!({"typ": "at+jwt"}), &claims);
    let id = r.rp.bearer(&good).await.unwrap();
    assert_eq!(id.subject, "alice");
    assert_eq!(id.scopes, vec!["read", "write"]);
    let again = r.rp.bearer(&good).await.unwrap();
    assert!(
        Arc::ptr_eq(&id, &again),
        "the second call is served from the cache"
    );

    let wrong_typ = r.fake.sign(json!({"typ": "JWT"}), &claims);
    assert!(matches!(
        r.rp.bearer(&wrong_typ).await,
        Err(OidcError::WrongTokenType {
            expected: "at+jwt",
            ..
        })
    ));
    let other_aud = r.fake.sign(
        json!({"typ": "at+jwt"}),
        &r.fake.access_claims("alice", "https://other-api.example"),
    );
    assert!(matches!(
        r.rp.bearer(&other_aud).await,
        Err(OidcError::WrongAudience { .. })
    ));
    // An expired token is not served from the cache either.
    r.clock.advance(400);
    assert!(matches!(
        r.rp.bearer(&good).await,
        Err(OidcError::Expired { .. })
    ));
}

#[tokio::test]
async fn discovery_must_name_the_configured_issuer() {
    let r = rig().await;
    r.fake
        .discovery_set("issuer", json!("https://evil.example"));
    let e = r.rp.metadata().await.unwrap_err();
    assert!(matches!(e, OidcError::DiscoveryIssuerMismatch { .. }));
}

#[tokio::test]
async fn http_issuers_are_refused_off_loopback() {
    let fake = FakeProvider::start().await;
    let mut s = settings_for(&fake, ProtocolSettings::default());
    s.issuer = "http://idp.example".into();
    let e = Provider::new(s.clone(), Arc::new(ManualClock::new(0))).unwrap_err();
    assert!(matches!(e, OidcError::InsecureUrl { .. }));
    s.protocol.allow_insecure_http = true;
    assert!(Provider::new(s, Arc::new(ManualClock::new(0))).is_ok());
}

#[tokio::test]
async fn a_response_without_a_code_is_refused() {
    let r = rig().await;
    let (url, issued) = r.states.begin(&r.rp, "/", None).await.unwrap();
    let mut p = params(&r.fake.authorize(&url));
    p.code = None;
    let e = r
        .states
        .finish(&r.rp, &p, Some(&issued.binding))
        .await
        .unwrap_err();
    assert_eq!(e, OidcError::CodeMissing);
    assert_eq!(
        r.fake.token_requests(),
        0,
        "nothing was sent to the token endpoint"
    );
}

#[tokio::test]
async fn a_token_without_kid_needs_a_key_of_its_kind() {
    let r = rig().await;
    // Only an RSA key is published; an ES256 token without `kid` has nothing to verify with.
    let ec = SigningKey::es256("unpublished");
    let token = ec.sign_jwt(json!({"kid": null}), &r.claims());
    let e =
        r.rp.validate_id_token(&token, Some("n-1"), None)
            .await
            .unwrap_err();
    assert_eq!(
        e,
        OidcError::NoUsableKey {
            alg: "ES256".into()
        }
    );
}

/// Regression: introspection checked `aud` only when present and never `client_id`, so a
/// token the provider issued to another application's client was accepted.
#[tokio::test]
async fn introspection_refuses_tokens_issued_to_other_clients() {
    let mut p = ProtocolSettings::default();
    p.bearer = ssogate_oidc::settings::BearerMode::Introspection;
    p.bearer_audience = vec!["api://books".into()];
    let r = rig_with(p).await;
    // Ours: issued to this client (the fake answers with our client_id).
    let at = r.login().await.unwrap().tokens.access_token;
    assert_eq!(r.rp.bearer(&at).await.unwrap().subject, "alice");
    for (what, introspected) in [
        ("another client", json!({"client_id": "other-spa"})),
        (
            "another client and audience",
            json!({"client_id": "other-spa", "aud": ["other-api"]}),
        ),
        ("neither aud nor client_id", json!({})),
    ] {
        let token = r.fake.issue_foreign_token("alice", introspected);
        assert!(
            matches!(
                r.rp.bearer(&token).await,
                Err(OidcError::WrongAudience { .. })
            ),
            "{what}"
        );
    }
    // Another client's token for an audience we accept, and one by client id.
    let api = r
        .fake
        .issue_foreign_token("alice", json!({"client_id": "cli", "aud": "api://books"}));
    assert_eq!(r.rp.bearer(&api).await.unwrap().subject, "alice");
    let by_client = r
        .fake
        .issue_foreign_token("alice", json!({"client_id": "api://books"}));
    assert_eq!(r.rp.bearer(&by_client).await.unwrap().subject, "alice");
}

/// Userinfo cannot tell which client a token was issued to: without the operator's
/// acknowledgement the provider does not even start.
#[tokio::test]
async fn userinfo_bearer_mode_needs_an_explicit_acknowledgement() {
    let fake = FakeProvider::start().await;
    let mut p = ProtocolSettings::default();
    p.bearer = ssogate_oidc::settings::BearerMode::Userinfo;
    let err = Provider::new(
        settings_for(&fake, p.clone()),
        Arc::new(ManualClock::new(fake.now())),
    )
    .err()
    .unwrap();
    assert!(
        err.to_string()
            .contains("bearer_userinfo_accept_any_client = true"),
        "{err}"
    );
    p.bearer_userinfo_accept_any_client = true;
    let r = rig_on(fake, p);
    // Acknowledged: another client's token passes, as the operator accepted.
    let token = r
        .fake
        .issue_foreign_token("alice", json!({"client_id": "other-spa"}));
    assert_eq!(r.rp.bearer(&token).await.unwrap().subject, "alice");
}
