//! Who a request speaks for: the session cookie looked up in the replicated state after a
//! linearizable barrier (so a logout or a lock applied through any node is seen here), the
//! user still active, and, for a request that changes something, the portal's origin and the
//! session's CSRF token. The last use is refreshed through the log at most once a minute.

use crate::cookie;
use crate::error::WebError;
use crate::{now_ms, Web};
use axum::http::HeaderMap;
use portunus_model::{Command, WebSessionHash};

/// A request's session.
#[derive(Clone, Debug)]
pub(crate) struct Authed {
    pub user_id: u64,
    pub user_name: String,
    pub hash: WebSessionHash,
    /// The session's CSRF token (for the page).
    pub csrf: String,
    /// The password matched and the code is still owed.
    pub pending: bool,
    cookie: String,
}

impl Authed {
    /// Whether `given` is this session's CSRF token.
    pub fn csrf_ok(&self, given: Option<&str>) -> bool {
        cookie::csrf_matches(given, &self.cookie)
    }
}

/// Reads what the state says of the session `hash`: (user id, name, pending, wants a touch).
fn lookup(web: &Web, hash: &WebSessionHash, now: u64) -> Option<(u64, String, bool, bool)> {
    let mut found = None;
    web.backend.read(&mut |s| {
        found = s.web_session(hash, now).and_then(|ws| {
            let user = s.check_user_active(ws.user_id, now).ok()?;
            Some((
                ws.user_id,
                user.name.clone(),
                ws.second_factor_pending,
                ws.wants_touch(now),
            ))
        });
    });
    found
}

impl Web {
    /// The session of a request (pending ones included), or [`WebError::LoggedOut`].
    pub async fn session(&self, headers: &HeaderMap) -> Result<Authed, WebError> {
        let value = cookie::from_headers(headers).ok_or(WebError::LoggedOut)?;
        let hash = cookie::hash(&value);
        self.backend.barrier().await?;
        let now = now_ms();
        let (user_id, user_name, pending, touch) =
            lookup(self, &hash, now).ok_or(WebError::LoggedOut)?;
        if touch && !pending {
            self.propose(Command::TouchWebSession { session_hash: hash })
                .await?;
        }
        Ok(Authed {
            user_id,
            user_name,
            hash,
            csrf: cookie::csrf_of(&value),
            pending,
            cookie: value,
        })
    }

    /// The session of a WebSocket upgrade from the portal's own page: the origin (browsers
    /// send one with every WebSocket, and no CORS rule guards WebSockets), a completed login
    /// and its CSRF token (`csrf`, from the query) are checked.
    pub async fn websocket_user(
        &self,
        headers: &HeaderMap,
        csrf: Option<&str>,
    ) -> Result<Authed, WebError> {
        if !crate::cookie::same_origin(headers) {
            return Err(WebError::Forged);
        }
        let authed = self.logged_in(headers).await?;
        if !authed.csrf_ok(csrf) {
            return Err(WebError::Forged);
        }
        Ok(authed)
    }

    /// The session of a request that completed its login.
    pub async fn logged_in(&self, headers: &HeaderMap) -> Result<Authed, WebError> {
        let authed = self.session(headers).await?;
        if authed.pending {
            return Err(WebError::LoggedOut);
        }
        Ok(authed)
    }

    /// The session of a request that changes something: from the portal's own page, with the
    /// session's CSRF token in its header.
    pub async fn acting(&self, headers: &HeaderMap, pending_ok: bool) -> Result<Authed, WebError> {
        if !cookie::same_origin(headers) {
            return Err(WebError::Forged);
        }
        let authed = self.session(headers).await?;
        if authed.pending && !pending_ok {
            return Err(WebError::LoggedOut);
        }
        let given = headers
            .get(cookie::CSRF_HEADER)
            .and_then(|v| v.to_str().ok());
        if !authed.csrf_ok(given) {
            return Err(WebError::Forged);
        }
        Ok(authed)
    }
}
