//! Any bytes as a provider's discovery document: parsing and checking never panic, and a
//! document for another issuer is never accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssogate_oidc::discovery::Metadata;
use ssogate_oidc::{ProtocolSettings, ProviderSettings};

fuzz_target!(|data: &[u8]| {
    let settings = ProviderSettings {
        slug: "fz".into(),
        issuer: "https://idp.example".into(),
        client_id: "app".into(),
        client_secret: None,
        scopes: vec!["openid".into()],
        redirect_uri: "https://sso.example/auth/fz/callback".into(),
        wanted_claims: Vec::new(),
        protocol: ProtocolSettings::default(),
    };
    if let Ok(meta) = Metadata::from_discovery(data, &settings) {
        let _ = meta.use_pkce(&settings);
        let _ = meta.use_client_secret_post(&settings);
        let doc: serde_json::Value = serde_json::from_slice(data).unwrap_or_default();
        assert_eq!(doc["issuer"], "https://idp.example", "only our issuer's document");
    }
});
