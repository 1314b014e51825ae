//! Applications (the `[clients.<id>]` of ssogate's provider) in the console: what each
//! is allowed (read-only here: they are configured in the file), and what it would
//! receive for an account — the claims its scopes release, with its `sub` (pairwise or
//! not), and whether its access policy admits the person at all.

use super::{run, with_cookie};
use crate::auth::csrf_token;
use crate::extract::{AdminSession, CsrfForm, Req};
use crate::pages;
use crate::state::App;
use askama::Template;
use axum::extract::State;
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
}

fn row(c: &Client) -> ClientRow {
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
    }
}

async fn page(
    app: &App,
    req: &Req,
    chosen: (String, String),
    error: Option<String>,
    preview: Option<Preview>,
) -> Response {
    let (csrf, cookie) = csrf_token(app, &req.headers);
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    with_cookie(
        pages::render(
            status,
            &ClientsPage {
                t: req.t,
                clients: app.registry().clients.values().map(|c| row(c)).collect(),
                csrf,
                chosen,
                error,
                preview,
            },
        ),
        cookie,
    )
}

pub(crate) async fn clients(State(app): State<App>, req: Req, _admin: AdminSession) -> Response {
    let first = app
        .registry()
        .clients
        .keys()
        .next()
        .cloned()
        .unwrap_or_default();
    page(&app, &req, (first, String::new()), None, None).await
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
        return page(
            &app,
            &req,
            chosen,
            Some(format!("client: no application \"{client_id}\"")),
            None,
        )
        .await;
    };
    let user = match run(&app, admin.actor, move |a| a.user(&who)).await {
        Ok(u) => u,
        Err(e) => return page(&app, &req, chosen, Some(e.to_string()), None).await,
    };
    let mut person = crate::op::person(&user.user);
    let admitted = client.access.admits(&person);
    match crate::op::subject(&app, &client, user.user.id).await {
        Ok(sub) => person.sub = sub,
        Err(e) => return page(&app, &req, chosen, Some(e.to_string()), None).await,
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
    page(&app, &req, chosen, None, Some(preview)).await
}
