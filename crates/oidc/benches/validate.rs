//! ID token validation against its floor, in the same run:
//!
//! * `raw`: the signature check alone (aws-lc-rs, key parsed beforehand) — the floor;
//! * `ssogate`: `Provider::validate_id_token` — parse, allow-list, key lookup, signature,
//!   iss/aud/azp/exp/iat/nbf/nonce/at_hash (target: within 1.3× of `raw`);
//! * `jsonwebtoken`: plain `jsonwebtoken::decode` with a key built from the JWK, for
//!   comparison (it rebuilds the key per token).
//!
//! And the bearer cache: a hit (`ssogate`) against SHA-256 of the token plus a map lookup
//! (`floor`); target under 2 µs per hit.
//!
//! Run: `cargo bench -p ssogate-oidc --bench validate`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use aws_lc_rs::signature::{self, ParsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use ssogate_oidc::settings::{BearerMode, ProtocolSettings};
use ssogate_oidc::{ClientSecret, ManualClock, Provider, ProviderSettings};
use ssogate_testkit::{FakeProvider, SigningKey};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn raw_key(jwk: &Value) -> ParsedPublicKey {
    let d = |k: &str| B64.decode(jwk[k].as_str().unwrap()).unwrap();
    match jwk["kty"].as_str().unwrap() {
        "RSA" => signature::RsaPublicKeyComponents {
            n: d("n"),
            e: d("e"),
        }
        .to_parsed_public_key(&signature::RSA_PKCS1_2048_8192_SHA256)
        .unwrap(),
        "EC" => {
            let mut point = vec![4u8];
            point.extend(d("x"));
            point.extend(d("y"));
            ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).unwrap()
        }
        _ => ParsedPublicKey::new(&signature::ED25519, d("x")).unwrap(),
    }
}

fn jsonwebtoken_alg(alg: &str) -> jsonwebtoken::Algorithm {
    match alg {
        "ES256" => jsonwebtoken::Algorithm::ES256,
        "EdDSA" => jsonwebtoken::Algorithm::EdDSA,
        _ => jsonwebtoken::Algorithm::RS256,
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fake = rt.block_on(FakeProvider::start());
    let clock = Arc::new(ManualClock::new(fake.now()));
    let protocol = ProtocolSettings {
        bearer: BearerMode::Jwt,
        ..ProtocolSettings::default()
    };
    let settings = ProviderSettings {
        slug: "bench".into(),
        issuer: fake.issuer.clone(),
        client_id: "app".into(),
        client_secret: Some(ClientSecret::new("secret")),
        scopes: vec!["openid".into()],
        redirect_uri: "http://127.0.0.1:8080/auth/bench/callback".into(),
        wanted_claims: Vec::new(),
        protocol,
    };
    let rp = Provider::new(settings, clock).unwrap();

    for key in [
        SigningKey::rsa("rs", 2048),
        SigningKey::es256("es"),
        SigningKey::eddsa("ed"),
    ] {
        let alg = key.alg;
        let jwk = key.jwk();
        let key = fake.publish(key);
        rp.invalidate();
        let mut claims = fake.id_claims("alice", Some("nonce-123"));
        claims["at_hash"] = json!(ssogate_testkit::at_hash("access-token", alg));
        let token = key.sign_jwt(json!({"typ": "JWT"}), &claims);
        // Warm the caches (discovery, JWKS) and prove the token is good.
        rt.block_on(rp.validate_id_token(&token, Some("nonce-123"), Some("access-token")))
            .unwrap();

        let parsed = raw_key(&jwk);
        let (input, sig) = token.rsplit_once('.').unwrap();
        let sig = B64.decode(sig).unwrap();
        let decoding =
            jsonwebtoken::DecodingKey::from_jwk(&serde_json::from_value(jwk.clone()).unwrap())
                .unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken_alg(alg));
        validation.set_audience(&["app"]);
        validation.set_issuer(&[&fake.issuer]);

        let mut g = c.benchmark_group(format!("id_token/{alg}"));
        g.bench_function("raw", |b| {
            b.iter(|| {
                parsed
                    .verify_sig(black_box(input.as_bytes()), black_box(&sig))
                    .unwrap()
            })
        });
        g.bench_function("ssogate", |b| {
            b.iter(|| {
                rt.block_on(rp.validate_id_token(
                    black_box(&token),
                    Some("nonce-123"),
                    Some("access-token"),
                ))
                .unwrap()
            })
        });
        g.bench_function("jsonwebtoken", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<HashMap<String, Value>>(
                    black_box(&token),
                    &decoding,
                    &validation,
                )
                .unwrap()
            })
        });
        g.finish();
    }

    // Bearer cache hits.
    let at = fake.sign(
        json!({"typ": "at+jwt"}),
        &fake.access_claims("alice", "app"),
    );
    rt.block_on(rp.bearer(&at)).unwrap();
    let mut floor: HashMap<[u8; 32], u64> = HashMap::new();
    let digest = |t: &str| {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, t.as_bytes());
        let mut k = [0u8; 32];
        k.copy_from_slice(d.as_ref());
        k
    };
    for i in 0..10_000u64 {
        floor.insert(digest(&format!("token-{i}")), i);
    }
    floor.insert(digest(&at), 1);
    let mut g = c.benchmark_group("bearer_cache_hit");
    g.bench_function("floor", |b| {
        b.iter(|| *floor.get(&digest(black_box(&at))).unwrap())
    });
    g.bench_function("ssogate", |b| {
        b.iter(|| rt.block_on(rp.bearer(black_box(&at))).unwrap())
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
