//! The relying party against the in-process fake provider (every attack) and against
//! the real `oidc-provider` from npm. One test binary, as links are slow on two cores.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::field_reassign_with_default
)]

mod attacks;
mod flows;
mod real_provider;

use serde_json::{Value, json};
use ssogate_oidc::settings::ProtocolSettings;
use ssogate_oidc::{
    CallbackParams, ClientSecret, InMemoryStates, ManualClock, OidcError, Provider,
    ProviderSettings, VerifiedLogin,
};
use ssogate_testkit::FakeProvider;
use std::sync::Arc;
use url::Url;

pub struct Rig {
    pub fake: FakeProvider,
    pub rp: Provider,
    pub clock: Arc<ManualClock>,
    pub states: InMemoryStates,
}

pub fn settings_for(fake: &FakeProvider, protocol: ProtocolSettings) -> ProviderSettings {
    ProviderSettings {
        slug: "fake".into(),
        issuer: fake.issuer.clone(),
        client_id: fake.client_id(),
        client_secret: Some(ClientSecret::new(fake.client_secret())),
        scopes: vec!["openid".into(), "profile".into(), "email".into()],
        redirect_uri: "http://127.0.0.1:8080/auth/fake/callback".into(),
        wanted_claims: Vec::new(),
        protocol,
    }
}

pub async fn rig_with(protocol: ProtocolSettings) -> Rig {
    let fake = FakeProvider::start().await;
    rig_on(fake, protocol)
}

pub fn rig_on(fake: FakeProvider, protocol: ProtocolSettings) -> Rig {
    let clock = Arc::new(ManualClock::new(fake.now()));
    let rp = Provider::new(settings_for(&fake, protocol), clock.clone()).unwrap();
    Rig {
        fake,
        rp,
        clock,
        states: InMemoryStates::new(),
    }
}

pub async fn rig() -> Rig {
    rig_with(ProtocolSettings::default()).await
}

pub fn params(url: &Url) -> CallbackParams {
    let mut p = CallbackParams::default();
    for (k, v) in url.query_pairs() {
        let v = Some(v.into_owned());
        match &*k {
            "state" => p.state = v,
            "code" => p.code = v,
            "error" => p.error = v,
            "error_description" => p.error_description = v,
            "iss" => p.iss = v,
            _ => {}
        }
    }
    p
}

impl Rig {
    /// A whole login: begin, the provider's authorization, finish.
    pub async fn login(&self) -> Result<VerifiedLogin, OidcError> {
        let (url, issued) = self.rp.begin(&self.states, "/home", None).await?;
        let back = self.fake.authorize(&url);
        self.rp
            .finish(&self.states, &params(&back), Some(&issued.binding))
            .await
    }

    /// Validates an ID token with these claims, signed by the provider's current key.
    pub async fn id_token(&self, claims: &Value) -> Result<(), OidcError> {
        let token = self.fake.sign(json!({"typ": "JWT"}), claims);
        self.rp
            .validate_id_token(&token, Some("n-1"), None)
            .await
            .map(drop)
    }

    pub fn claims(&self) -> Value {
        self.fake.id_claims("alice", Some("n-1"))
    }
}
