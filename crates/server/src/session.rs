//! Sessions as the browser carries them: the cookie, the session behind it, and the
//! in-memory cache forward-auth answers from.

use crate::cache::CachedSession;
use crate::state::App;
use crate::web;
use axum::http::{HeaderMap, HeaderValue};
use ssogate_store::StoreError;
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
        Ok(self
            .db(move |d| d.touch_session(&s, now, life))
            .await?
            .map(|session| (secret, session)))
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
        if let Some(hit) = self.cache.get(&hash)
            && hit.live(now)
        {
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
                tokio::spawn(async move {
                    let alive = app.db(move |d| d.touch_session(&secret, now, life)).await;
                    if !matches!(alive, Ok(Some(_))) {
                        app.cache
                            .invalidate(&ssogate_store::invalidate::Invalidation::Session(hash));
                    }
                });
            }
            return Ok(Some(hit));
        }
        let seen = self.cache.generation();
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
            return Ok(None);
        };
        let headers = header_pairs(self, &user, session.provider.as_deref());
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
        self.cache.insert(hash, entry.clone(), seen, now);
        Ok(Some(entry))
    }
}

/// The identity headers of an account, ready to send.
pub(crate) fn header_pairs(
    app: &App,
    user: &ssogate_core::directory::ExistingUser,
    provider: Option<&str>,
) -> Vec<(axum::http::HeaderName, HeaderValue)> {
    crate::verify::identity_headers(app, user, provider)
        .into_iter()
        .filter_map(|(n, v)| {
            Some((
                axum::http::HeaderName::try_from(n).ok()?,
                HeaderValue::from_str(&v).ok()?,
            ))
        })
        .collect()
}
