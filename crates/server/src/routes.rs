//! Every route, and the layers around them.

use crate::extract::Req;
use crate::middleware::frame;
use crate::state::App;
use crate::{account, auth, console, ops, verify};
use axum::Router;
use axum::extract::State;
use axum::middleware;
use axum::routing::{get, post};
use std::convert::Infallible;
use std::sync::Arc;

/// Every route.
pub fn router(app: App) -> Router {
    let mut r = Router::new()
        .route("/", get(account::root))
        .route("/login", get(auth::login_page).post(auth::local_login))
        .route("/logged-out", get(auth::logged_out))
        .route("/logout", post(auth::logout))
        .route("/auth/verify", get(verify::verify))
        .route("/auth/{slug}/start", get(auth::start))
        .route("/auth/{slug}/callback", get(auth::callback))
        .route(
            "/auth/{slug}/backchannel-logout",
            post(auth::backchannel_logout),
        )
        .route("/account", get(account::page))
        .route("/account/link/{slug}", post(account::link))
        .route("/account/password", post(crate::password::change))
        // The paths of the systems being left, so redirect URIs registered at the
        // provider keep working (`callback` in a provider's table).
        .route("/oidc/callback", get(auth::legacy_callback))
        .route("/apps/user_oidc/code", get(auth::legacy_callback))
        .route("/index.php/apps/user_oidc/code", get(auth::legacy_callback))
        .route(
            "/apps/user_oidc/backchannel-logout/{name}",
            post(auth::nextcloud_backchannel_logout),
        )
        .route(
            "/index.php/apps/user_oidc/backchannel-logout/{name}",
            post(auth::nextcloud_backchannel_logout),
        )
        .route("/api/oidc/callback/{slug}", get(auth::legacy_callback))
        .route("/api/oidc/auth/{slug}", get(auth::legacy_start))
        .route("/api/oidc/identities", get(account::identities_json))
        .route(
            "/password/reset",
            get(crate::password::reset_page).post(crate::password::reset),
        )
        .route(
            "/account/unlink/{slug}",
            get(account::unlink_confirm).post(account::unlink),
        )
        .route("/api/oidc/providers", get(ops::providers))
        // ssogate as an OpenID Provider (`[clients.<id>]`).
        .route(
            "/.well-known/openid-configuration",
            get(crate::op::discovery),
        )
        .route("/oauth2/jwks", get(crate::op::jwks))
        .route("/oauth2/authorize", get(crate::op::authorize))
        .route("/oauth2/token", post(crate::op::token))
        .route("/oauth2/introspect", post(crate::op::introspect))
        .route("/oauth2/revoke", post(crate::op::revoke))
        .route(
            "/oauth2/logout",
            get(crate::op::end_session).post(crate::op::end_session_confirmed),
        )
        .route(
            "/oauth2/userinfo",
            get(crate::op::userinfo).post(crate::op::userinfo),
        )
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/static/ssogate.css", get(ops::stylesheet));
    if app.demo_people.is_some() {
        r = r.route("/demo/whoami", get(verify::whoami));
    }
    // The console: every route behind the administrator guard (route_layer: an unknown
    // path under /admin is still the plain 404).
    let admin = Router::new()
        .route("/admin", get(console::dashboard))
        .route("/admin/users", get(console::users))
        .route(
            "/admin/users/bulk",
            axum::routing::post(console::users_bulk),
        )
        .route("/admin/users/{id}", get(console::user))
        .route(
            "/admin/users/{id}/delete",
            get(console::delete_confirm).post(console::delete),
        )
        .route("/admin/users/{id}/{action}", post(console::user_action))
        .route(
            "/admin/test-claims",
            get(console::test_claims).post(console::test_claims_run),
        )
        .route("/admin/effective-settings", get(console::effective))
        .route(
            "/admin/clients",
            get(console::clients).post(console::client_add),
        )
        .route(
            "/admin/clients/preview",
            axum::routing::post(console::client_preview),
        )
        .route(
            "/admin/clients/{id}/secret",
            axum::routing::post(console::client_rotate),
        )
        .route(
            "/admin/clients/{id}/edit",
            get(console::client_edit_form).post(console::client_edit_save),
        )
        .route(
            "/admin/clients/{id}/delete",
            get(console::client_delete_confirm).post(console::client_delete),
        )
        .route("/admin/audit", get(console::audit))
        .route("/admin/audit/{id}", get(console::audit_event))
        .route("/admin/lifecycle", get(console::lifecycle))
        .route(
            "/admin/provisioning",
            get(console::provisioning).post(console::provisioning_save_global),
        )
        .route(
            "/admin/provisioning/{slug}",
            post(console::provisioning_save),
        )
        .route(
            "/admin/provisioning/{slug}/inherit",
            post(console::provisioning_inherit),
        )
        .route(
            "/admin/providers",
            get(console::providers).post(console::provider_add),
        )
        .route(
            "/admin/providers/{slug}",
            get(console::provider_edit).post(console::provider_update),
        )
        .route(
            "/admin/providers/{slug}/check",
            get(console::check_provider),
        )
        .route(
            "/admin/providers/{slug}/jwks-refresh",
            post(console::provider_refresh_keys),
        )
        .route(
            "/admin/providers/{slug}/delete",
            get(console::provider_delete_confirm).post(console::provider_delete),
        )
        .route(
            "/admin/api-keys",
            get(console::keys).post(console::key_create),
        )
        .route("/admin/api-keys/{id}/revoke", post(console::key_revoke))
        .route(
            "/admin/webhooks",
            get(console::webhooks).post(console::webhook_add),
        )
        .route("/admin/webhooks/{name}", get(console::webhook))
        .route(
            "/admin/webhooks/{name}/delete",
            get(console::webhook_delete_confirm).post(console::webhook_delete),
        )
        .route(
            "/admin/webhooks/{name}/{action}",
            post(console::webhook_action),
        )
        .route(
            "/admin/webhook-deliveries/{id}/replay",
            post(console::webhook_replay),
        )
        .route("/admin/catalogue", get(console::catalogue))
        .route("/admin/catalogue/{kind}", post(console::catalogue_create))
        .route(
            "/admin/catalogue/{kind}/{name}",
            get(console::catalogue_item).post(console::catalogue_update),
        )
        .route(
            "/admin/catalogue/{kind}/{name}/delete",
            get(console::catalogue_delete_confirm).post(console::catalogue_delete),
        )
        .route("/admin/audit.csv", get(console::audit_csv))
        .route_layer(middleware::from_fn_with_state(
            app.clone(),
            console::require_admin,
        ));
    r = r.merge(admin).merge(crate::scim::routes());
    let (api, doc) = crate::api::routes();
    // Every API operation behind the credential guard (unknown paths stay a 404).
    let api = api.route_layer(middleware::from_fn_with_state(
        app.clone(),
        crate::api::require_caller,
    ));
    let finished = Arc::new(crate::api::document::finish(&doc));
    let doc = Arc::new(doc);
    r = r
        .merge(api)
        .route(
            "/api/openapi.json",
            get(move |State(app): State<App>| {
                let finished = finished.clone();
                async move {
                    // The names that must exist are those of now.
                    let catalogue = app.db(|d| d.catalogue()).await.unwrap_or_default();
                    let providers: Vec<String> = app.registry().providers.keys().cloned().collect();
                    axum::Json(crate::api::document::with_names(
                        &finished,
                        &catalogue,
                        &providers,
                        &app.config.passwords.policy(),
                    ))
                }
            }),
        )
        .route(
            "/api/docs",
            get(move |req: Req| {
                let doc = doc.clone();
                async move { crate::pages::api_docs(req.t, &doc) }
            }),
        )
        .route(
            "/api/{*rest}",
            axum::routing::any(crate::api::no_such_endpoint),
        );
    r.fallback(ops::not_found)
        .layer(middleware::from_fn_with_state(app.clone(), frame))
        .with_state(app)
}

/// Every request's way in: `GET /auth/verify` — forward-auth, asked once for every
/// request a proxy lets through, so the one that sets the ceiling — goes straight to
/// its handler ([`crate::middleware::verify_directly`]); everything else (HEAD and
/// other methods on it included) through the [`router`] and its layers.
///
/// One per connection, made by [`Doors`]. hyper's adapter clones the service for each
/// request: a hall is one count of its own connection's (shared by no other core),
/// where cloning the app and the router was two counts every connection shares.
#[derive(Clone)]
pub(crate) struct Hall(Arc<Room>);

struct Room {
    app: App,
    router: Router,
    /// The connection's peer: put in a request's extensions (`ConnectInfo`) on its way
    /// to a handler that reads it — never for an answer made at once, which needs none
    /// (the insert costs three allocations).
    peer: std::net::SocketAddr,
}

/// Makes a [`Hall`] for each connection the server accepts.
#[derive(Clone)]
pub(crate) struct Doors {
    app: App,
    router: Router,
}

impl Doors {
    pub(crate) fn new(app: App) -> Doors {
        Doors {
            router: router(app.clone()),
            app,
        }
    }
}

impl tower_service::Service<axum::serve::IncomingStream<'_, tokio::net::TcpListener>> for Doors {
    type Response = Hall;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Hall, Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(
        &mut self,
        stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>,
    ) -> Self::Future {
        std::future::ready(Ok(Hall(Arc::new(Room {
            app: self.app.clone(),
            router: self.router.clone(),
            peer: *stream.remote_addr(),
        }))))
    }
}

/// What [`Hall`] answers: a forward-auth answer made at once, or one on its way.
pub(crate) enum Answer {
    /// Taken by the first poll.
    Now(Option<axum::response::Response>),
    Later(
        std::pin::Pin<
            Box<
                dyn std::future::Future<Output = Result<axum::response::Response, Infallible>>
                    + Send,
            >,
        >,
    ),
}

impl std::future::Future for Answer {
    type Output = Result<axum::response::Response, Infallible>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        match self.get_mut() {
            Answer::Now(res) => match res.take() {
                Some(res) => std::task::Poll::Ready(Ok(res)),
                // Polled again after its answer: nothing more will come.
                None => std::task::Poll::Pending,
            },
            Answer::Later(f) => f.as_mut().poll(cx),
        }
    }
}

impl tower_service::Service<axum::extract::Request> for Hall {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: axum::extract::Request) -> Answer {
        let room = &*self.0;
        if req.method() == axum::http::Method::GET && req.uri().path() == "/auth/verify" {
            return crate::middleware::verify_directly(&room.app, req, room.peer);
        }
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(room.peer));
        Answer::Later(Box::pin(tower_service::Service::call(
            &mut room.router.clone(),
            req,
        )))
    }
}
