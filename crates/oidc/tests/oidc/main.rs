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
    CallbackParams, ClientSecret, LogoutRequest, ManualClock, OidcError, PendingLogin, Provider,
    ProviderSettings, VerifiedLogin,
};
use ssogate_testkit::FakeProvider;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::Mutex;
use url::Url;

pub struct Rig {
    pub fake: FakeProvider,
    pub rp: Provider,
    pub clock: Arc<ManualClock>,
    pub states: States,
}

/// The caller's side of the pending logins, in memory — what the server does with the
/// directory: kept by state, bound to a browser secret, taken once and only by that
/// browser. The relying party itself keeps nothing.
#[derive(Default)]
pub struct States {
    pending: Mutex<HashMap<String, (String, PendingLogin)>>,
    spent: Mutex<HashSet<String>>,
}

/// What the browser holds: the state (in the provider's redirect) and its binding cookie.
#[derive(Debug)]
pub struct Issued {
    pub state: String,
    pub binding: String,
}

impl States {
    pub fn new() -> States {
        States::default()
    }

    pub async fn begin(
        &self,
        rp: &Provider,
        return_to: &str,
        purpose: Option<String>,
    ) -> Result<(Url, Issued), OidcError> {
        let (url, pending) = rp.begin(return_to, purpose).await?;
        let binding = ssogate_oidc::login::random_token(32)?;
        let state = pending.state.clone();
        self.pending
            .lock()
            .unwrap()
            .insert(state.clone(), (binding.clone(), pending));
        Ok((url, Issued { state, binding }))
    }

    pub async fn finish(
        &self,
        rp: &Provider,
        params: &CallbackParams,
        binding: Option<&str>,
    ) -> Result<VerifiedLogin, OidcError> {
        let state = params.state.as_deref().ok_or(OidcError::StateMissing)?;
        let pending = {
            let mut all = self.pending.lock().unwrap();
            let Some((expected, _)) = all.get(state) else {
                return Err(if self.spent.lock().unwrap().contains(state) {
                    OidcError::StateReplayed
                } else {
                    OidcError::StateUnknown
                });
            };
            if binding != Some(expected.as_str()) {
                return Err(OidcError::StateOtherBrowser);
            }
            self.spent.lock().unwrap().insert(state.to_owned());
            all.remove(state).unwrap().1
        };
        rp.finish(params, pending).await
    }
}

/// The caller's replay guard for logout tokens, in memory.
#[derive(Default)]
pub struct Jtis(Mutex<HashSet<(String, String)>>);

impl Jtis {
    pub async fn logout(&self, rp: &Provider, token: &str) -> Result<LogoutRequest, OidcError> {
        let req = rp.logout_token(token).await?;
        let first = self
            .0
            .lock()
            .unwrap()
            .insert((rp.slug().to_owned(), req.jti.clone()));
        if first {
            Ok(req)
        } else {
            Err(OidcError::LogoutTokenReplayed)
        }
    }
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
        states: States::new(),
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
        let (url, issued) = self.states.begin(&self.rp, "/home", None).await?;
        let back = self.fake.authorize(&url);
        self.states
            .finish(&self.rp, &params(&back), Some(&issued.binding))
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
