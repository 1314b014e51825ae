//! Applications (the clients of ssogate's provider) in the console: what each is
//! allowed, and what it would receive for an account — the claims its scopes release,
//! with its `sub` (pairwise or not), and whether its access policy admits the person at
//! all. Applications of the configuration file are read-only here; others are
//! registered here (the secret shown once, on the answer to the form), edited (every
//! key, as the TOML of `[clients.<id>]`), given a new secret, or removed after a
//! confirmation.

use super::{admin_failure, back_with, confirm, run, with_cookie};
use crate::auth::csrf_token;
use crate::extract::{AdminSession, CsrfForm, Req};
use crate::pages;
use crate::state::App;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use ssogate_op::client::{Client, Subject};
use std::collections::HashMap;

pub(super) struct ClientRow {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    pub redirect_uris: Vec<String>,
    pub scopes: String,
    pub access: String,
    pub subject: String,
    pub backchannel: bool,
    /// Registered in the directory (changed here), not the file.
    pub registered: bool,
    /// It has a secret that can be renewed.
    pub has_secret: bool,
}

pub(super) struct Preview {
    pub client: String,
    pub user: String,
    pub admitted: bool,
    pub claims: String,
}

#[derive(Template)]
#[template(path = "console_clients.html")]
struct ClientsPage<'a> {
    t: &'a crate::i18n::Texts,
    clients: Vec<ClientRow>,
    csrf: String,
    /// The form's values: client, user.
    chosen: (String, String),
    error: Option<String>,
    preview: Option<Preview>,
    notice: Option<String>,
    /// (application, secret) just registered or renewed: shown this once.
    secret: Option<(String, String)>,
    /// What the registration form held, when it was refused.
    form: NewClientForm,
    scopes: &'static [&'static str],
}

/// The registration form's values.
#[derive(Default, Clone)]
pub(super) struct NewClientForm {
    pub id: String,
    pub name: String,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub backchannel_logout_uri: String,
    pub public: bool,
    pub scopes: Vec<String>,
}

impl NewClientForm {
    pub(super) fn has_scope(&self, s: &&str) -> bool {
        self.scopes.iter().any(|x| x == s)
    }
}

fn row(c: &Client, registered: bool) -> ClientRow {
    let access = if c.access.is_open() {
        "everyone".to_owned()
    } else {
        let mut parts = Vec::new();
        for (what, list) in [
            ("groups", &c.access.groups),
            ("permissions", &c.access.permissions),
            ("libraries", &c.access.libraries),
        ] {
            if !list.is_empty() {
                parts.push(format!("{what}: {}", list.join(", ")));
            }
        }
        parts.join("; ")
    };
    ClientRow {
        id: c.id.clone(),
        name: c.name.clone(),
        kind: if c.is_public() {
            "public (PKCE)"
        } else {
            "confidential"
        },
        redirect_uris: c.redirect_uris.clone(),
        scopes: c.scopes.join(" "),
        access,
        subject: match &c.subject {
            Subject::Public => "public (the account's id)".to_owned(),
            Subject::Pairwise { sector } => format!("pairwise, sector {sector}"),
        },
        backchannel: c.backchannel_logout_uri.is_some(),
        registered,
        has_secret: c.secret.is_some(),
    }
}

/// What the page says besides the list.
#[derive(Default)]
struct Said {
    error: Option<String>,
    preview: Option<Preview>,
    notice: Option<String>,
    secret: Option<(String, String)>,
    form: Option<NewClientForm>,
}

async fn page(
    app: &App,
    req: &Req,
    actor: String,
    chosen: (String, String),
    said: Said,
) -> Response {
    let registered: Vec<String> = match run(app, actor, |a| a.clients()).await {
        Ok(list) => list.into_iter().map(|c| c.client_id).collect(),
        Err(e) => return admin_failure(req, &e),
    };
    let (csrf, cookie) = csrf_token(app, &req.headers);
    let status = if said.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let form = said.form.unwrap_or_else(|| NewClientForm {
        scopes: ["openid", "profile", "email", "groups"]
            .map(String::from)
            .to_vec(),
        ..NewClientForm::default()
    });
    with_cookie(
        pages::render(
            status,
            &ClientsPage {
                t: req.t,
                clients: app
                    .registry()
                    .clients
                    .values()
                    .map(|c| row(c, registered.contains(&c.id)))
                    .collect(),
                csrf,
                chosen,
                error: said.error,
                preview: said.preview,
                notice: said.notice,
                secret: said.secret,
                form,
                scopes: &ssogate_op::discovery::SCOPES,
            },
        ),
        cookie,
    )
}

pub(crate) async fn clients(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let first = app
        .registry()
        .clients
        .keys()
        .next()
        .cloned()
        .unwrap_or_default();
    let said = Said {
        notice: q.get("notice").map(|n| n.chars().take(200).collect()),
        ..Said::default()
    };
    page(&app, &req, admin.actor, (first, String::new()), said).await
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Registers an application and answers with its secret, once (no redirect: the secret
/// must not travel in a URL or be shown again on reload).
pub(crate) async fn add(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map_or(String::new(), |(_, v)| v.trim().to_owned())
    };
    let form = NewClientForm {
        id: get("client_id"),
        name: get("name"),
        redirect_uris: get("redirect_uris"),
        post_logout_redirect_uris: get("post_logout_redirect_uris"),
        backchannel_logout_uri: get("backchannel_logout_uri"),
        public: get("type") == "public",
        scopes: pairs
            .iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.clone())
            .collect(),
    };
    let mut settings = serde_json::Map::new();
    settings.insert("redirect_uris".into(), lines(&form.redirect_uris).into());
    if !form.name.is_empty() {
        settings.insert("name".into(), form.name.clone().into());
    }
    let post_logout = lines(&form.post_logout_redirect_uris);
    if !post_logout.is_empty() {
        settings.insert("post_logout_redirect_uris".into(), post_logout.into());
    }
    if !form.backchannel_logout_uri.is_empty() {
        settings.insert(
            "backchannel_logout_uri".into(),
            form.backchannel_logout_uri.clone().into(),
        );
    }
    if form.public {
        settings.insert("public".into(), true.into());
    }
    settings.insert("scopes".into(), form.scopes.clone().into());
    let (a, id) = (app.clone(), form.id.clone());
    let made = run(&app, admin.actor.clone(), move |adm| {
        a.change_client(adm, |adm, check| adm.add_client(&id, settings, check))
    })
    .await;
    let chosen = (form.id.clone(), String::new());
    match made {
        Ok((c, secret)) => {
            let said = Said {
                notice: Some(format!("Application “{}” registered.", c.client_id)),
                secret: secret.map(|s| (c.client_id.clone(), s.expose().to_owned())),
                ..Said::default()
            };
            page(&app, &req, admin.actor, chosen, said).await
        }
        Err(e) if e.is_input() || matches!(e, ssogate_admin::AdminError::Conflict(_)) => {
            let said = Said {
                error: Some(e.to_string()),
                form: Some(form),
                ..Said::default()
            };
            page(&app, &req, admin.actor, chosen, said).await
        }
        Err(e) => admin_failure(&req, &e),
    }
}

/// A new secret for a registered application, shown once on the answer.
pub(crate) async fn rotate(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Path(id): Path<String>,
    CsrfForm(_pairs): CsrfForm<Vec<(String, String)>>,
) -> Response {
    let (a, i) = (app.clone(), id.clone());
    let rotated = run(&app, admin.actor.clone(), move |adm| {
        a.change_client(adm, |adm, _| adm.rotate_client_secret(&i))
    })
    .await;
    match rotated {
        Ok(secret) => {
            let said = Said {
                notice: Some(format!(
                    "Application “{id}” has a new secret; the old one no longer works."
                )),
                secret: Some((id.clone(), secret.expose().to_owned())),
                ..Said::default()
            };
            page(&app, &req, admin.actor, (id, String::new()), said).await
        }
        Err(e) => admin_failure(&req, &e),
    }
}

pub(crate) async fn delete_confirm(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Path(id): Path<String>,
) -> Response {
    let i = id.clone();
    if let Err(e) = run(&app, admin.actor, move |a| a.client(&i)).await {
        return admin_failure(&req, &e);
    }
    let path: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    confirm(
        &app,
        &req,
        format!("Remove the application “{id}”?"),
        "It can no longer sign anyone in; the tokens it was given stop working at once.".into(),
        format!("/admin/clients/{path}/delete"),
        "Remove the application".into(),
        "/admin/clients",
    )
}

pub(crate) async fn delete(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Path(id): Path<String>,
    CsrfForm(_pairs): CsrfForm<Vec<(String, String)>>,
) -> Response {
    let (a, i) = (app.clone(), id.clone());
    match run(&app, admin.actor, move |adm| {
        a.change_client(adm, |adm, _| adm.remove_client(&i))
    })
    .await
    {
        Ok(()) => back_with("/admin/clients", &format!("Application “{id}” removed.")),
        Err(e) => admin_failure(&req, &e),
    }
}

/// What `client` would receive for `user`, with every scope it may be given.
pub(crate) async fn preview(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    CsrfForm(f): CsrfForm<HashMap<String, String>>,
) -> Response {
    let client_id = f.get("client").cloned().unwrap_or_default();
    let who = f.get("user").cloned().unwrap_or_default();
    let chosen = (client_id.clone(), who.clone());
    let Some(client) = app.client(&client_id) else {
        let said = Said {
            error: Some(format!("client: no application \"{client_id}\"")),
            ..Said::default()
        };
        return page(&app, &req, admin.actor, chosen, said).await;
    };
    let failed = |e: String| Said {
        error: Some(e),
        ..Said::default()
    };
    let user = match run(&app, admin.actor.clone(), move |a| a.user(&who)).await {
        Ok(u) => u,
        Err(e) => return page(&app, &req, admin.actor, chosen, failed(e.to_string())).await,
    };
    let mut person = crate::op::person(&user.user);
    let admitted = client.access.admits(&person);
    match crate::op::subject(&app, &client, user.user.id).await {
        Ok(sub) => person.sub = sub,
        Err(e) => return page(&app, &req, admin.actor, chosen, failed(e.to_string())).await,
    }
    client.shape.filter(&mut person);
    let mut claims = ssogate_op::claims::released(&person, &client.scopes);
    client.shape.rename(&mut claims);
    let preview = Preview {
        client: client.name.clone(),
        user: user.user.username.clone(),
        admitted,
        claims: serde_json::to_string_pretty(&claims).unwrap_or_default(),
    };
    let said = Said {
        preview: Some(preview),
        ..Said::default()
    };
    page(&app, &req, admin.actor, chosen, said).await
}

#[derive(Template)]
#[template(path = "console_client_edit.html")]
struct EditPage<'a> {
    t: &'a crate::i18n::Texts,
    id: String,
    text: String,
    rows: usize,
    csrf: String,
    error: Option<String>,
}

fn edit_page(app: &App, req: &Req, id: String, text: String, error: Option<String>) -> Response {
    let (csrf, cookie) = csrf_token(app, &req.headers);
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let rows = text.lines().count().clamp(8, 40) + 2;
    with_cookie(
        pages::render(
            status,
            &EditPage {
                t: req.t,
                id,
                text,
                rows,
                csrf,
                error,
            },
        ),
        cookie,
    )
}

/// A registered application's settings as the TOML of `[clients.<id>]`.
pub(crate) async fn edit_form(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Path(id): Path<String>,
) -> Response {
    let i = id.clone();
    match run(&app, admin.actor, move |a| a.client(&i)).await {
        Ok(c) => {
            match toml::Value::try_from(&c.settings).and_then(|v| toml::to_string_pretty(&v)) {
                Ok(text) => edit_page(&app, &req, id, text, None),
                Err(e) => admin_failure(
                    &req,
                    &ssogate_admin::AdminError::Store(ssogate_store::StoreError::Corrupt(format!(
                        "the settings of “{id}” cannot be shown as TOML ({e}); change them with the API or `ssogate client update`"
                    ))),
                ),
            }
        }
        Err(e) => admin_failure(&req, &e),
    }
}

/// Saves the settings whole: what the text leaves out is removed. Refused (the text
/// kept, the reason shown) when it is not TOML or the checks of the configuration file
/// refuse it.
pub(crate) async fn edit_save(
    State(app): State<App>,
    req: Req,
    admin: AdminSession,
    Path(id): Path<String>,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> Response {
    let text = pairs
        .iter()
        .find(|(k, _)| k == "settings")
        .map_or(String::new(), |(_, v)| v.replace("\r\n", "\n"));
    let new = match toml::from_str::<serde_json::Map<String, serde_json::Value>>(&text) {
        Ok(m) => m,
        Err(e) => {
            let e = format!("The settings are not TOML: {}", e.message());
            return edit_page(&app, &req, id, text, Some(e));
        }
    };
    let (a, i) = (app.clone(), id.clone());
    let saved = run(&app, admin.actor, move |adm| {
        a.change_client(adm, |adm, check| adm.replace_client(&i, new, check))
    })
    .await;
    match saved {
        Ok(_) => back_with("/admin/clients", &format!("Application “{id}” saved.")),
        Err(e) if e.is_input() => edit_page(&app, &req, id, text, Some(e.to_string())),
        Err(e) => admin_failure(&req, &e),
    }
}
