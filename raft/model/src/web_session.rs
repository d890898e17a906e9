//! Browser sessions of the web portal, replicated so that any node behind the load balancer
//! accepts the cookie and a logout on one node ends the session on all of them. The state keeps
//! only the SHA-256 of the cookie's random value (like O&M tokens), never the value itself.
//!
//! A session lives while it is used: it ends [`WEB_IDLE_MS`] after the last request that
//! touched it, and [`WEB_MAX_AGE_MS`] after it opened in any case. A session opened by a
//! password that still owes its second factor serves nothing but the code, for at most
//! [`WEB_PENDING_MS`] and [`WEB_MAX_CODE_FAILURES`] wrong codes.

use crate::ids::UserId;
use serde::{Deserialize, Serialize};

/// SHA-256 of a session cookie's value.
pub type WebSessionHash = [u8; 32];

/// A session ends this long after the last request that touched it.
pub const WEB_IDLE_MS: u64 = 30 * 60 * 1000;
/// A session ends this long after it opened, used or not.
pub const WEB_MAX_AGE_MS: u64 = 12 * 60 * 60 * 1000;
/// A session waiting for its second factor ends this long after it opened.
pub const WEB_PENDING_MS: u64 = 5 * 60 * 1000;
/// Wrong codes a session waiting for its second factor takes before it ends.
pub const WEB_MAX_CODE_FAILURES: u8 = 3;
/// Sessions one user may hold; opening one more ends the oldest.
pub const WEB_SESSIONS_PER_USER: usize = 16;
/// Requests refresh the last use at most this often (each refresh is a replicated write).
pub const WEB_TOUCH_EVERY_MS: u64 = 60 * 1000;

/// One browser session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebSession {
    pub user_id: UserId,
    pub opened_ms: u64,
    pub last_used_ms: u64,
    /// The password matched and a second factor is still owed.
    pub second_factor_pending: bool,
    /// Wrong codes given while pending.
    pub code_failures: u8,
    /// Where the browser logged in from (as the node saw it).
    pub client_addr: String,
}

impl WebSession {
    /// Whether the session still serves at `now_ms`.
    pub fn live_at(&self, now_ms: u64) -> bool {
        let age = now_ms.saturating_sub(self.opened_ms);
        if self.second_factor_pending {
            return age < WEB_PENDING_MS;
        }
        age < WEB_MAX_AGE_MS && now_ms.saturating_sub(self.last_used_ms) < WEB_IDLE_MS
    }

    /// Whether a request at `now_ms` should refresh the last use.
    pub fn wants_touch(&self, now_ms: u64) -> bool {
        now_ms.saturating_sub(self.last_used_ms) >= WEB_TOUCH_EVERY_MS
    }
}
