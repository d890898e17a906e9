//! Applies the commands of browser sessions (see [`crate::web_session`]): open, second factor
//! passed or refused, touch, close. Expired sessions are dropped as the leader's time moves on
//! each open, so every replica forgets them alike.

use super::{Handled, State};
use crate::command::Command;
use crate::ids::UserId;
use crate::rejection::Rejection;
use crate::response::Response;
use crate::web_session::{
    WebSession, WebSessionHash, WEB_MAX_CODE_FAILURES, WEB_SESSIONS_PER_USER,
};

impl State {
    pub(super) fn apply_web_sessions(&mut self, now: u64, cmd: &Command) -> Handled {
        let r = match cmd {
            Command::OpenWebSession {
                session_hash,
                user_id,
                client_addr,
                second_factor_pending,
            } => self.open_web_session(
                now,
                *session_hash,
                *user_id,
                client_addr,
                *second_factor_pending,
            ),
            Command::WebSecondFactorPassed { session_hash } => {
                self.web_second_factor(now, session_hash, true)
            }
            Command::WebSecondFactorRefused { session_hash } => {
                self.web_second_factor(now, session_hash, false)
            }
            Command::TouchWebSession { session_hash } => {
                match self.web_sessions.get_mut(session_hash) {
                    Some(s) if s.live_at(now) => {
                        s.last_used_ms = now;
                        Ok(Response::Done)
                    }
                    _ => Err(Rejection::WebSessionUnknown),
                }
            }
            Command::CloseWebSession { session_hash } => {
                self.web_sessions.remove(session_hash);
                Ok(Response::Done)
            }
            _ => return None,
        };
        Some(r)
    }

    fn open_web_session(
        &mut self,
        now: u64,
        hash: WebSessionHash,
        user_id: UserId,
        client_addr: &str,
        pending: bool,
    ) -> Result<Response, Rejection> {
        self.check_user_active(user_id, now)?;
        if self.web_sessions.contains_key(&hash) {
            return Err(Rejection::invalid("session", "already exists"));
        }
        self.web_sessions.retain(|_, s| s.live_at(now));
        let mut mine: Vec<(u64, WebSessionHash)> = self
            .web_sessions
            .iter()
            .filter(|(_, s)| s.user_id == user_id)
            .map(|(h, s)| (s.opened_ms, *h))
            .collect();
        mine.sort();
        let excess = (mine.len() + 1).saturating_sub(WEB_SESSIONS_PER_USER);
        for (_, h) in mine.into_iter().take(excess) {
            self.web_sessions.remove(&h);
        }
        let session = WebSession {
            user_id,
            opened_ms: now,
            last_used_ms: now,
            second_factor_pending: pending,
            code_failures: 0,
            client_addr: client_addr.to_string(),
        };
        self.web_sessions.insert(hash, session);
        Ok(Response::Done)
    }

    /// A pending session's code: passed, it serves; refused, it counts, and ends at the limit.
    fn web_second_factor(
        &mut self,
        now: u64,
        hash: &WebSessionHash,
        passed: bool,
    ) -> Result<Response, Rejection> {
        let Some(s) = self.web_sessions.get_mut(hash) else {
            return Err(Rejection::WebSessionUnknown);
        };
        if !s.second_factor_pending || !s.live_at(now) {
            return Err(Rejection::WebSessionUnknown);
        }
        if passed {
            s.second_factor_pending = false;
            s.last_used_ms = now;
            return Ok(Response::Done);
        }
        s.code_failures += 1;
        if s.code_failures >= WEB_MAX_CODE_FAILURES {
            self.web_sessions.remove(hash);
        }
        Ok(Response::Done)
    }

    /// The browser session `hash` if it serves at `now_ms` (pending ones included: check
    /// [`WebSession::second_factor_pending`]).
    pub fn web_session(&self, hash: &WebSessionHash, now_ms: u64) -> Option<&WebSession> {
        self.web_sessions.get(hash).filter(|s| s.live_at(now_ms))
    }

    /// Browser sessions held (live or not yet pruned).
    pub fn web_session_count(&self) -> usize {
        self.web_sessions.len()
    }
}
