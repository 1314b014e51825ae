//! The authorization endpoint (Core 3.1.2): the request checked, the person signed in
//! (or sent to sign in), a code for the client.

use super::*;

/// The authorization endpoint (Core 3.1.2).
pub(crate) async fn authorize(State(app): State<App>, req: Req, uri: Uri) -> Response {
    if !app.serves_clients() {
        return not_configured();
    }
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let iss = issuer(&app).to_owned();
    let now = app.now();
    let registry = app.registry();
    let a = match authorize::validate(&pairs, |id| registry.clients.get(id).map(|c| &**c)) {
        Ok(a) => a,
        Err(AuthorizeError::Page { error, description }) => {
            let mut ev = req.event("op.authorize", "failure", now);
            ev.reason = Some(error.into());
            ev.detail = Some(description.clone());
            app.refused(ev, req.addr).await;
            return crate::pages::message(
                req.t,
                StatusCode::BAD_REQUEST,
                req.t.err_state_title,
                &format!(
                    "The application's sign-in request is not valid: {description}. Go back to the application and try again; if it keeps failing, tell its administrator."
                ),
                None,
                Some(error),
            );
        }
        Err(AuthorizeError::Redirect {
            redirect_uri,
            error,
            description,
            state,
        }) => {
            let mut ev = req.event("op.authorize", "failure", now);
            ev.reason = Some(error.into());
            ev.detail = Some(description.clone());
            app.refused(ev, req.addr).await;
            return found(&authorize::error_redirect(
                &redirect_uri,
                error,
                &description,
                state.as_deref(),
                &iss,
            ));
        }
    };
    let session = match app.session(&req.headers).await {
        Ok(s) => s,
        Err(e) => return crate::respond::server_error(req.t, &e),
    };
    let fresh = |created: i64| !a.prompt_login && a.max_age.is_none_or(|m| now - created <= m);
    let (secret, session) = match session {
        Some((secret, s)) if fresh(s.created_at) => (secret, s),
        _ if a.prompt_none => {
            return found(&authorize::error_redirect(
                &a.redirect_uri,
                "login_required",
                "nobody is signed in to ssogate",
                a.state.as_deref(),
                &iss,
            ));
        }
        _ => return found(&login_then(&pairs)),
    };
    let user = match app.db(move |d| d.user(session.user_id)).await {
        Ok(Some(u)) if u.status == UserStatus::Active => u,
        Ok(_) => return found(&login_then(&pairs)),
        Err(e) => return crate::respond::server_error(req.t, &e),
    };
    // The client's access policy: only people holding what it names.
    if let Some(client) = app.client(&a.client_id)
        && !client.access.admits(&person(&user))
    {
        let mut ev = req.event("op.authorize", "failure", now);
        ev.user_id = Some(user.id);
        ev.reason = Some("client_access_denied".into());
        ev.detail = Some(format!("client {}", client.id));
        app.audit(ev).await;
        return crate::pages::message(
            req.t,
            StatusCode::FORBIDDEN,
            req.t.err_rejected_title,
            &format!(
                "Your account may not sign in to {}: it is open to members of certain groups or holders of certain permissions only. Ask an administrator for access.",
                client.name
            ),
            None,
            Some("client_access_denied"),
        );
    }
    let code = match ssogate_op::random_token(32) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "no code could be made");
            return crate::respond::server_error(
                req.t,
                &ssogate_store::StoreError::Corrupt(e.to_string()),
            );
        }
    };
    let mut a = a;
    a.amr = session.amr.clone();
    a.acr = session.acr.clone();
    let grant_json = serde_json::to_string(&a).unwrap_or_default();
    let new = NewCode {
        code_hash: ssogate_op::digest(&code),
        client_id: a.client_id.clone(),
        user_id: user.id,
        grant_json,
        auth_time: session.created_at,
        sid: Some(ssogate_store::sessions::digest(&secret)),
        expires_at: now + CODE_SECONDS,
    };
    if let Err(e) = app.db(move |d| d.op_put_code(new)).await {
        return crate::respond::server_error(req.t, &e);
    }
    let mut ev = req.event("op.authorize", "success", now);
    ev.user_id = Some(user.id);
    ev.detail = Some(format!("client {}", a.client_id));
    app.audit(ev).await;
    found(&authorize::success(&a, &code, &iss))
}

/// Where the person signs in before coming back to this request: the same request,
/// less a `prompt=login` that would ask again forever (a fresh sign-in within five
/// minutes then satisfies it).
fn login_then(pairs: &[(String, String)]) -> String {
    let mut again = url::form_urlencoded::Serializer::new(String::new());
    let mut had_login = false;
    for (k, v) in pairs {
        if k == "prompt" && v.split(' ').any(|p| p == "login") {
            had_login = true;
            let rest: Vec<&str> = v
                .split(' ')
                .filter(|p| *p != "login" && !p.is_empty())
                .collect();
            if !rest.is_empty() {
                again.append_pair(k, &rest.join(" "));
            }
            continue;
        }
        if k == "max_age" && had_login {
            continue;
        }
        again.append_pair(k, v);
    }
    if had_login && !pairs.iter().any(|(k, _)| k == "max_age") {
        again.append_pair("max_age", "300");
    }
    let back = format!("{}?{}", ssogate_op::discovery::AUTHORIZE, again.finish());
    let mut login = url::form_urlencoded::Serializer::new(String::new());
    login.append_pair("return_to", &back);
    format!("/login?{}", login.finish())
}
