//! Logout: back-channel logout to the applications a session signed in to, and
//! RP-initiated logout at ssogate.

use super::*;

/// Seconds before the `attempts`-th delivery is tried again: 10 s doubling, at most an
/// hour.
fn retry_in(attempts: i64) -> i64 {
    (10_i64 << attempts.clamp(0, 9)).min(3600)
}

/// Deliveries given up after this many attempts (about a day of retries).
const MAX_ATTEMPTS: i64 = 30;

/// Sends the back-channel logouts that are due (sessions ended, accounts disabled or
/// deleted): a logout token per application the session had signed in to, retried with
/// backoff, each delivery and each failure audited. Claimed in the directory, so with
/// several instances each logout is sent by one.
pub(crate) async fn deliver_logouts(app: &App) {
    if !app.serves_clients() {
        return;
    }
    let now = app.now();
    let due = match app.db(move |d| d.op_claim_logouts(now, 50, retry_in)).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "back-channel logouts could not be read");
            return;
        }
    };
    for p in due {
        let uri = app
            .client(&p.client_id)
            .and_then(|c| c.backchannel_logout_uri.clone());
        let Some(uri) = uri else {
            // The application has no back-channel logout: nothing to tell it.
            let _ = app.db(move |d| d.op_logout_finished(p.id, now, None)).await;
            continue;
        };
        let outcome = send_logout(app, &p, &uri, now).await;
        let mut ev = ssogate_store::audit::NewEvent {
            at: now,
            event: "op.backchannel".into(),
            user_id: Some(p.user_id),
            ..Default::default()
        };
        match outcome {
            Ok(()) => {
                let _ = app.db(move |d| d.op_logout_finished(p.id, now, None)).await;
                ev.outcome = "success".into();
                ev.detail = Some(format!("client {} told the session ended", p.client_id));
                app.audit(ev).await;
            }
            Err(e) => {
                tracing::warn!(client = %p.client_id, attempt = p.attempts, error = %e, "a back-channel logout was not delivered");
                let give_up = p.attempts >= MAX_ATTEMPTS;
                let err = e.clone();
                let _ = if give_up {
                    app.db(move |d| d.op_logout_finished(p.id, now, Some(&err)))
                        .await
                } else {
                    app.db(move |d| d.op_logout_failed(p.id, &err)).await
                };
                ev.outcome = "failure".into();
                ev.reason = Some(if give_up { "gave_up" } else { "will_retry" }.into());
                ev.detail = Some(format!(
                    "client {} (attempt {}): {e}",
                    p.client_id, p.attempts
                ));
                app.audit(ev).await;
            }
        }
    }
}

async fn send_logout(
    app: &App,
    p: &ssogate_store::directory::op::PendingLogout,
    uri: &str,
    now: i64,
) -> Result<(), String> {
    let jti = ssogate_op::random_token(16).map_err(|e| e.to_string())?;
    let client = app.client(&p.client_id);
    // Signed as the client's ID tokens are: the algorithm it verifies.
    let key = signing_key(app, client.as_ref().map(|c| c.alg).unwrap_or_default()).await?;
    let sub = match &client {
        Some(c) => super::subject(app, c, p.user_id)
            .await
            .map_err(|e| e.to_string())?,
        None => p.user_id.0.to_string(),
    };
    let claims = claims::logout_token(issuer(app), &p.client_id, &sub, &p.sid, &jti, now);
    let token = key
        .sign_typed(&claims, "logout+jwt")
        .map_err(|e| e.to_string())?;
    let client = app.outbound_http()?;
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("logout_token", &token)
        .finish();
    let res = client
        .post(uri)
        .timeout(std::time::Duration::from_secs(5))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("cannot reach {uri} ({e})"))?;
    if res.status().is_success() {
        Ok(())
    } else {
        Err(format!("{uri} answered HTTP {}", res.status().as_u16()))
    }
}

/// What the end-session endpoint was asked (RP-Initiated Logout 1.0, 2).
struct LogoutAsk {
    /// The client the request is from, when it could be established.
    client: Option<String>,
    /// The account a valid `id_token_hint` names.
    hinted_sub: Option<String>,
    /// Where to go afterwards: registered for that client, exactly.
    back: Option<String>,
}

fn logout_ask(
    app: &App,
    keys: &[Arc<SigningKey>],
    pairs: &[(String, String)],
) -> Result<LogoutAsk, String> {
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let hint = get("id_token_hint").and_then(|h| keys.iter().find_map(|k| k.verify(h)));
    if get("id_token_hint").is_some() && hint.is_none() {
        return Err("the id_token_hint is not an ID token ssogate issued".into());
    }
    let hinted_client = hint
        .as_ref()
        .and_then(|c| c.get("aud"))
        .and_then(|a| a.as_str())
        .map(str::to_owned);
    let client = match (get("client_id"), hinted_client) {
        (Some(c), Some(h)) if c != h => {
            return Err("client_id and the id_token_hint name different applications".into());
        }
        (Some(c), _) => Some(c.to_owned()),
        (None, h) => h,
    };
    let back = match get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let registered = client
                .as_deref()
                .and_then(|c| app.client(c))
                .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|u| u == uri));
            if !registered {
                return Err(
                    "the post_logout_redirect_uri is not one registered for this application"
                        .into(),
                );
            }
            let mut p = vec![];
            if let Some(s) = get("state") {
                p.push(("state", s));
            }
            Some(authorize::redirect_with(uri, &p))
        }
    };
    Ok(LogoutAsk {
        client,
        hinted_sub: hint
            .as_ref()
            .and_then(|c| c.get("sub"))
            .and_then(|s| s.as_str())
            .map(str::to_owned),
        back,
    })
}

/// The end-session request in `uri`, checked (both the asking and the confirmed request
/// read it); else the answer that refuses it.
async fn read_ask(app: &App, req: &Req, uri: &Uri) -> Result<LogoutAsk, Response> {
    if !app.serves_clients() {
        return Err(not_configured());
    }
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let keys = published_keys(app)
        .await
        .map(|(k, _)| k)
        .unwrap_or_default();
    match logout_ask(app, &keys, &pairs) {
        Ok(a) => Ok(a),
        Err(why) => Err(logout_refused(app, req, &why).await),
    }
}

/// The end-session endpoint (RP-Initiated Logout 1.0): with an `id_token_hint` for the
/// person signed in, their ssogate session ends at once (and every other application
/// hears of it by back-channel); otherwise the person is asked first, so a link on
/// another site cannot sign anyone out. Back to a registered `post_logout_redirect_uri`
/// only.
pub(crate) async fn end_session(State(app): State<App>, req: Req, uri: Uri) -> Response {
    let ask = match read_ask(&app, &req, &uri).await {
        Ok(a) => a,
        Err(refused) => return refused,
    };
    let session = match app.session(&req.headers).await {
        Ok(s) => s,
        Err(e) => return crate::respond::server_error(req.t, &e),
    };
    // The hint names the person as its client saw them (pairwise clients: their own sub).
    let expected = match (&session, ask.client.as_ref().and_then(|c| app.client(c))) {
        (Some((_, s)), Some(c)) => match super::subject(&app, &c, s.user_id).await {
            Ok(sub) => Some(sub),
            Err(e) => return crate::respond::server_error(req.t, &e),
        },
        (Some((_, s)), None) => Some(s.user_id.0.to_string()),
        (None, _) => None,
    };
    match session {
        None => found(ask.back.as_deref().unwrap_or("/logged-out")),
        Some((secret, s)) if ask.hinted_sub.is_some() && ask.hinted_sub == expected => {
            end_and_return(&app, &req, &secret, &s, &ask).await
        }
        Some(_) => {
            // Ask: a form that posts the same request back with a CSRF token.
            let (csrf, cookie) = crate::auth::csrf_token(&app, &req.headers);
            let t = req.t;
            let mut res = crate::pages::render(
                StatusCode::OK,
                &crate::pages::MessagePage {
                    t,
                    title: t.sign_out.into(),
                    paragraphs: vec![format!(
                        "{} asks to sign you out of ssogate.",
                        ask.client
                            .as_deref()
                            .and_then(|c| app.client(c))
                            .map_or_else(|| "An application".to_owned(), |c| c.name.clone())
                    )],
                    form: Some(crate::pages::FormButton {
                        action: format!(
                            "{}?{}",
                            ssogate_op::discovery::END_SESSION,
                            uri.query().unwrap_or("")
                        ),
                        csrf,
                        button: t.sign_out.into(),
                    }),
                    link: None,
                    reference: None,
                },
            );
            if let Some(c) = cookie {
                res.headers_mut().append(header::SET_COOKIE, c);
            }
            res
        }
    }
}

/// The confirmed sign-out of [`end_session`].
pub(crate) async fn end_session_confirmed(
    State(app): State<App>,
    req: Req,
    uri: Uri,
    crate::extract::CsrfForm(_): crate::extract::CsrfForm<crate::auth::TokenForm>,
) -> Response {
    let ask = match read_ask(&app, &req, &uri).await {
        Ok(a) => a,
        Err(refused) => return refused,
    };
    match app.session(&req.headers).await {
        Ok(Some((secret, s))) => end_and_return(&app, &req, &secret, &s, &ask).await,
        Ok(None) => found(ask.back.as_deref().unwrap_or("/logged-out")),
        Err(e) => crate::respond::server_error(req.t, &e),
    }
}

async fn end_and_return(
    app: &App,
    req: &Req,
    secret: &str,
    session: &ssogate_store::sessions::Session,
    ask: &LogoutAsk,
) -> Response {
    let s = secret.to_owned();
    let ended = match app.db(move |d| d.end_session(&s)).await {
        Ok(e) => e,
        Err(e) => return crate::respond::server_error(req.t, &e),
    };
    let mut ev = req.event("logout", "success", app.now());
    ev.user_id = Some(session.user_id);
    ev.provider = session.provider.clone();
    ev.detail = Some(format!(
        "asked by {}",
        ask.client.as_deref().unwrap_or("an application")
    ));
    app.audit(ev).await;
    let back = ask.back.as_deref().unwrap_or("/logged-out");
    let upstream = match ask.client.as_deref().and_then(|c| app.client(c)) {
        Some(c) if c.logout_upstream => {
            let id_token = ended.and_then(|e| e.id_token);
            upstream_logout(app, session.provider.as_deref(), id_token.as_deref(), back).await
        }
        _ => None,
    };
    let mut res = match upstream {
        Some((url, binding)) => {
            let mut res = found(&url);
            res.headers_mut().append(header::SET_COOKIE, binding);
            res
        }
        None => found(back),
    };
    if let Some(c) = app.session_set_cookie(None) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

/// The login-state "provider" under which a logout on its way through the upstream
/// provider waits for the way back.
const CONTINUE: &str = "op-logout";
/// How long the way back waits.
const CONTINUE_SECONDS: i64 = 600;

/// On through the upstream provider's end-session endpoint (with the session's ID token
/// as the hint), coming back to ssogate's post-logout page with a `state` that names,
/// for this browser only, where to go next. `None` when the person did not sign in
/// through a provider, or it has no end-session endpoint: the caller goes on at once.
async fn upstream_logout(
    app: &App,
    provider: Option<&str>,
    id_token: Option<&str>,
    back: &str,
) -> Option<(String, HeaderValue)> {
    let entry = provider.and_then(|p| app.provider(p))?;
    let state = ssogate_op::random_token(24).ok()?;
    let here = app.post_logout_url(&entry);
    let url = match entry
        .rp
        .end_session_url(id_token, Some(&here), Some(&state))
        .await
    {
        Ok(Some(url)) => url.to_string(),
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!(provider = entry.rp.slug(), error = %e, "no logout at the provider");
            return None;
        }
    };
    let (st, next, now) = (state.clone(), back.to_owned(), app.now());
    let binding = app
        .db(move |d| d.put_login_state(CONTINUE, &st, &next, now, CONTINUE_SECONDS))
        .await
        .inspect_err(|e| tracing::warn!(error = %e, "the way back from the provider's logout could not be kept"))
        .ok()?;
    let cookie = crate::web::set_cookie(
        &crate::auth::logout_binding_cookie(&state),
        &binding,
        "/",
        Some(CONTINUE_SECONDS),
        app.secure,
        "Lax",
    )?;
    Some((url, cookie))
}

/// Back from the upstream provider's logout (at ssogate's post-logout page, `/`, or the
/// sign-in page, with the `state` it was given): where the application asked to go,
/// for the browser that set off. `None` when the request is no such return.
pub(crate) async fn continue_logout(app: &App, req: &Req, state: Option<&str>) -> Option<Response> {
    let state = state?;
    let cookie_name = crate::auth::logout_binding_cookie(state);
    let binding = crate::web::cookie(&req.headers, &cookie_name)?.to_owned();
    let (st, now) = (state.to_owned(), app.now());
    let taken = app
        .db(move |d| Ok(d.take_login_state(&st, Some(&binding), CONTINUE, now)))
        .await
        .ok()?
        .ok()?;
    let mut res = found(&taken.payload);
    if let Some(gone) = crate::web::set_cookie(&cookie_name, "", "/", Some(0), app.secure, "Lax") {
        res.headers_mut().append(header::SET_COOKIE, gone);
    }
    Some(res)
}

async fn logout_refused(app: &App, req: &Req, why: &str) -> Response {
    let mut ev = req.event("op.logout", "failure", app.now());
    ev.reason = Some("invalid_request".into());
    ev.detail = Some(why.to_owned());
    app.refused(ev, req.addr).await;
    crate::pages::message(
        req.t,
        StatusCode::BAD_REQUEST,
        req.t.err_state_title,
        &format!(
            "The application's sign-out request is not valid: {why}. You are still signed in; sign out from your account page if you meant to."
        ),
        None,
        Some("invalid_request"),
    )
}
