//! Sessions as the browser carries them: the cookie, the session behind it, and the
//! in-memory cache forward-auth answers from.

use crate::cache::CachedSession;
use crate::cache::Miss;
use crate::state::App;
use crate::web;
use axum::http::{HeaderMap, HeaderValue};
use ssogate_oidc::OidcError;
use ssogate_store::StoreError;
use ssogate_store::audit::NewEvent;
use ssogate_store::sessions::Session;
use std::sync::Arc;

impl App {
    pub(crate) fn session_cookie(&self) -> &str {
        &self.config.server.cookie_name
    }

    /// The `Set-Cookie` that gives the browser a session (or, with `None`, takes it away).
    pub(crate) fn session_set_cookie(&self, secret: Option<&str>) -> Option<HeaderValue> {
        let s = &self.config.server;
        web::set_cookie_for(
            &s.cookie_name,
            secret.unwrap_or(""),
            "/",
            s.cookie_domain.as_deref(),
            Some(if secret.is_some() {
                self.lifetimes.absolute
            } else {
                0
            }),
            self.secure,
            "Lax",
        )
    }

    /// The session cookie's secret, if the request carries a plausible one.
    fn session_secret<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        web::cookie(headers, self.session_cookie()).filter(|s| !s.is_empty() && s.len() <= 128)
    }

    pub(crate) fn csrf_cookie(&self) -> &'static str {
        if self.secure {
            "__Host-ssogate_csrf"
        } else {
            "ssogate_csrf"
        }
    }

    /// The live session behind the request's cookie (its idle deadline pushed back).
    pub(crate) async fn session(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<(String, Session)>, StoreError> {
        let Some(secret) = self.session_secret(headers) else {
            return Ok(None);
        };
        let secret = secret.to_owned();
        let (now, life) = (self.now(), self.lifetimes);
        let s = secret.clone();
        let found = self.db(move |d| d.touch_session(&s, now, life)).await?;
        if let Some(session) = &found {
            self.revalidate(&secret, session);
        }
        Ok(found.map(|session| (secret, session)))
    }

    /// Re-validates the session at its provider with its refresh token when the
    /// provider asks for it (`refresh_interval_minutes`) and it is due, off the
    /// request's path. A provider that refuses the token (`invalid_grant`: the person
    /// was removed or their grant revoked) ends the session; an unreachable provider
    /// does not (it is tried again an interval later).
    pub(crate) fn revalidate(&self, secret: &str, session: &Session) {
        let Some(slug) = session.provider.as_deref() else {
            return;
        };
        let Some(entry) = self.provider(slug) else {
            return;
        };
        let interval = i64::from(entry.config.refresh_interval_minutes) * 60;
        let now = self.now();
        if interval == 0 || !session.refreshable || now - session.refreshed_at < interval {
            return;
        }
        let (app, secret) = (self.clone(), secret.to_owned());
        let (subject, user_id) = (session.subject.clone(), session.user_id);
        tokio::spawn(async move {
            let s = secret.clone();
            let claimed = app
                .db(move |d| d.claim_refresh(&s, now, now - interval))
                .await;
            let token = match claimed {
                Ok(Some(token)) => token,
                // Another request or instance is at it, or the session is gone.
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "a session's re-validation could not be claimed");
                    return;
                }
            };
            let subject = subject.unwrap_or_default();
            match entry.rp.refresh(&token, &subject).await {
                Ok(tokens) => {
                    let Some(rotated) = tokens.refresh_token.filter(|t| *t != *token) else {
                        return;
                    };
                    let s = secret.clone();
                    if let Err(e) = app.db(move |d| d.record_refresh(&s, &rotated)).await {
                        tracing::warn!(error = %e, "a rotated refresh token could not be kept");
                    }
                }
                Err(e) if refusal_ends_session(&e) => {
                    let ended = app.db(move |d| d.end_session(&secret)).await;
                    if let Err(e) = &ended {
                        tracing::error!(error = %e, "a session the provider refused could not be ended");
                    }
                    tracing::info!(provider = %entry.rp.slug(), user = %user_id, error = %e,
                        "the provider refused to refresh a session; it is ended");
                    app.metrics.inc(
                        "ssogate_sessions_refresh_total",
                        &[("provider", entry.rp.slug()), ("outcome", "refused")],
                    );
                    app.audit(NewEvent {
                        at: app.now(),
                        event: "session.refresh_refused".into(),
                        outcome: "failure".into(),
                        reason: Some(match &e {
                            OidcError::CodeRejected { error, .. } => error.clone(),
                            other => other.code().to_owned(),
                        }),
                        provider: Some(entry.rp.slug().to_owned()),
                        subject: Some(subject),
                        user_id: Some(user_id),
                        detail: Some(format!(
                            "The provider refused the session's refresh token ({e}); the session was ended and the person must sign in again."
                        )),
                        ..NewEvent::default()
                    })
                    .await;
                }
                Err(e) => {
                    app.metrics.inc(
                        "ssogate_sessions_refresh_total",
                        &[("provider", entry.rp.slug()), ("outcome", "error")],
                    );
                    tracing::warn!(provider = %entry.rp.slug(), error = %e,
                        "a session could not be re-validated at its provider; it stays, and is tried again an interval later");
                }
            }
        });
    }

    /// The session behind the request's cookie, when memory holds it live: no await,
    /// so forward-auth answers a hit without leaving the connection's task.
    pub(crate) fn cached_session_now(&self, headers: &HeaderMap) -> Option<Arc<CachedSession>> {
        let secret = self.session_secret(headers)?;
        let hash = ssogate_store::sessions::Digest::of(secret);
        self.session_in_memory(secret, hash.as_str(), self.now())
    }

    /// A live entry for the session `secret` (of digest `hash`), pushing its idle
    /// deadline in the directory, off the request's path, at most every `TOUCH_EVERY`.
    fn session_in_memory(&self, secret: &str, hash: &str, now: i64) -> Option<Arc<CachedSession>> {
        if let Some(hit) = self.cache.live(hash, now) {
            let touched = hit.touched_at.load(std::sync::atomic::Ordering::Relaxed);
            if now - touched >= crate::cache::TOUCH_EVERY
                && hit
                    .touched_at
                    .compare_exchange(
                        touched,
                        now,
                        std::sync::atomic::Ordering::AcqRel,
                        std::sync::atomic::Ordering::Relaxed,
                    )
                    .is_ok()
            {
                // Push the idle deadline in the directory, off the request's path; a
                // session found gone there leaves the cache too.
                let (app, secret, life) = (self.clone(), secret.to_owned(), self.lifetimes);
                let hash = hash.to_owned();
                // Called from the connection's task, so on the runtime; without one
                // (never in the server) the push waits for the next minute's request.
                let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                    return Some(hit);
                };
                runtime.spawn(async move {
                    let s = secret.clone();
                    match app.db(move |d| d.touch_session(&s, now, life)).await {
                        Ok(Some(session)) => app.revalidate(&secret, &session),
                        _ => app
                            .cache
                            .invalidate(&ssogate_store::invalidate::Invalidation::Session(hash)),
                    }
                });
            }
            return Some(hit);
        }
        None
    }

    /// The session behind the request's cookie with its account and identity headers,
    /// from memory when possible (forward-auth's hot path).
    pub(crate) async fn cached_session(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<Arc<CachedSession>>, StoreError> {
        let Some(secret) = self.session_secret(headers) else {
            return Ok(None);
        };
        let hash = ssogate_store::sessions::digest(secret);
        let now = self.now();
        if let Some(hit) = self.session_in_memory(secret, &hash, now) {
            return Ok(Some(hit));
        }
        let reading = match self.cache.after_miss(&hash, now).await {
            Miss::Found(hit) => return Ok(Some(hit)),
            Miss::Absent => return Ok(None),
            Miss::Read(reading) => reading,
        };
        self.metrics
            .inc("ssogate_cache_loads_total", &[("cache", "sessions")]);
        let (s, life) = (secret.to_owned(), self.lifetimes);
        let loaded = self
            .db(move |d| {
                let Some(session) = d.touch_session(&s, now, life)? else {
                    return Ok(None);
                };
                Ok(d.user(session.user_id)?.map(|u| (session, u)))
            })
            .await?;
        let Some((session, user)) = loaded else {
            reading.found_nothing();
            return Ok(None);
        };
        self.revalidate(secret, &session);
        let headers = answer_headers(self, &user, session.provider.as_deref());
        let entry = Arc::new(CachedSession {
            provider: session.provider.clone(),
            user_id: session.user_id,
            expires_at: session.expires_at,
            idle: life.idle,
            touched_at: std::sync::atomic::AtomicI64::new(now),
            user: Arc::new(user),
            headers,
        });
        // Not kept when an invalidation raced the read; the answer, true when read,
        // stands for this request.
        self.cache.insert(hash, entry.clone(), reading.seen, now);
        drop(reading);
        Ok(Some(entry))
    }
}

/// The identity headers for an account signed in through `provider` (`None`: a local
/// password), names as configured, values encoded. An unverified email is left out
/// unless that provider's `forward_unverified_email` says otherwise: applications
/// match accounts by email, and anyone can claim an address they do not own.
pub(crate) fn identity_headers(
    app: &App,
    user: &ssogate_core::directory::ExistingUser,
    provider: Option<&str>,
) -> Vec<(String, String)> {
    let names = &app.config.server.headers;
    let email = user.email.as_deref().filter(|_| {
        user.email_verified
            || provider
                .and_then(|p| app.provider(p))
                .is_some_and(|p| p.config.forward_unverified_email)
    });
    let of = |kind: ssogate_core::domain::GrantKind| {
        let mut v: Vec<&str> = user
            .grants
            .iter()
            .filter(|g| g.kind == kind)
            .map(|g| g.name.as_str())
            .collect();
        v.sort_unstable();
        v.dedup();
        crate::web::header_list(v.into_iter())
    };
    vec![
        (names.user.clone(), crate::web::header_value(&user.username)),
        (
            names.email.clone(),
            crate::web::header_value(email.unwrap_or("")),
        ),
        (
            names.email_verified.clone(),
            (user.email.is_some() && user.email_verified).to_string(),
        ),
        (
            names.name.clone(),
            crate::web::header_value(user.display_name.as_deref().unwrap_or(&user.username)),
        ),
        (
            names.groups.clone(),
            of(ssogate_core::domain::GrantKind::Group),
        ),
        (
            names.permissions.clone(),
            of(ssogate_core::domain::GrantKind::Permission),
        ),
        (
            names.libraries.clone(),
            of(ssogate_core::domain::GrantKind::Library),
        ),
    ]
}

/// Forward-auth's answer for an account signed in through `provider`, sealed in
/// advance ([`crate::middleware::seal_in_advance`]): `Cache-Control`, the identity
/// headers (a name or value that cannot be sent is left out), the security headers and
/// the request id's place. Kept with the cached session; each answer clones it.
pub(crate) fn answer_headers(
    app: &App,
    user: &ssogate_core::directory::ExistingUser,
    provider: Option<&str>,
) -> axum::http::HeaderMap {
    let identity = identity_headers(app, user, provider);
    let mut h = axum::http::HeaderMap::with_capacity(identity.len() + 8);
    h.insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    for (name, value) in identity {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::try_from(name),
            HeaderValue::from_str(&value),
        ) {
            h.insert(interned(&name), value);
        }
    }
    crate::middleware::seal_in_advance(&mut h, app.secure);
    // Kept as a clone, which holds only what it holds (no room to spare per session).
    h.clone()
}

/// `name` with `'static` bytes. A configured (custom) header name is shared by every
/// forward-auth answer: as refcounted bytes, each answer on each core increments and
/// decrements the same counter, and that cache line moving between cores was a tenth of
/// an answer's cost. Each distinct name is leaked once — names come from the
/// configuration, so there are a handful for the life of the process.
fn interned(name: &axum::http::HeaderName) -> axum::http::HeaderName {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let known = match names.get(name.as_str()) {
        Some(known) => *known,
        None => {
            let leaked: &'static str = Box::leak(name.as_str().to_owned().into_boxed_str());
            names.insert(leaked);
            leaked
        }
    };
    // A parsed name's text is lower-case and valid, as `from_static` requires.
    axum::http::HeaderName::from_static(known)
}

/// Whether a failed refresh says the person's access is gone (rather than that the
/// provider or ssogate's client settings are at fault, which must not sign everyone out).
fn refusal_ends_session(e: &OidcError) -> bool {
    match e {
        OidcError::CodeRejected { error, .. } => error == "invalid_grant",
        OidcError::SubjectChanged => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::{interned, refusal_ends_session};
    use ssogate_oidc::OidcError;

    #[test]
    fn interned_names_are_the_names_given_and_kept_once() {
        let configured = axum::http::HeaderName::try_from("X-Interned-Test-Name").unwrap();
        let a = interned(&configured);
        let b = interned(&axum::http::HeaderName::from_static("x-interned-test-name"));
        assert_eq!(a, configured);
        assert_eq!(a.as_str(), "x-interned-test-name");
        // The same leaked text both times, not a second copy.
        assert!(std::ptr::eq(a.as_str(), b.as_str()));
        let standard = interned(&axum::http::header::CACHE_CONTROL);
        assert_eq!(standard, axum::http::header::CACHE_CONTROL);
    }

    #[test]
    fn only_a_refused_grant_ends_a_session_never_a_client_or_network_fault() {
        let rejected = |error: &str| OidcError::CodeRejected {
            error: error.into(),
            description: None,
        };
        assert!(refusal_ends_session(&rejected("invalid_grant")));
        assert!(refusal_ends_session(&OidcError::SubjectChanged));
        // ssogate's own client settings at fault: signing everyone out would not help.
        assert!(!refusal_ends_session(&rejected("invalid_client")));
        assert!(!refusal_ends_session(&rejected("unauthorized_client")));
        assert!(!refusal_ends_session(&OidcError::Unreachable {
            url: "https://idp.example/token".into(),
            detail: "connection refused".into(),
        }));
    }
}
