//! Signature nonces of the management API, remembered by the whole cluster so that a signed
//! request captured on the wire cannot be replayed to another node within its clock-skew
//! window.
//!
//! The API stores a fixed-size hash of each nonce ([`NonceKey`]) with the time after which the
//! request's timestamp alone refuses it. Entries are forgotten when the leader-stamped time of
//! a later request passes their expiry (in [`State::apply`], like the request-dedup answers),
//! so every replica prunes the same entries at the same log index. The table is bounded: when
//! [`MAX_NONCES`] unexpired nonces are remembered, new ones are refused (retryable) rather than
//! forgetting nonces that still protect someone.

use super::{Handled, State};
use crate::command::Command;
use crate::ids::NonceKey;
use crate::rejection::Rejection;
use crate::response::Response;

/// Most nonces remembered at once.
pub const MAX_NONCES: usize = 200_000;

/// Longest a nonce is kept, from the leader's time: a later expiry is brought back to this
/// (rather than refused, so that a node whose clock is far ahead of the leader's still serves).
pub const MAX_NONCE_TTL_MS: u64 = 60 * 60 * 1000;

impl State {
    pub(super) fn apply_nonces(&mut self, now: u64, cmd: &Command) -> Handled {
        match cmd {
            Command::RecordNonce { key, expires_ms } => {
                Some(self.record_nonce(now, *key, *expires_ms))
            }
            _ => None,
        }
    }

    fn record_nonce(
        &mut self,
        now: u64,
        key: NonceKey,
        expires_ms: u64,
    ) -> Result<Response, Rejection> {
        let expires_ms = expires_ms.min(now.saturating_add(MAX_NONCE_TTL_MS));
        if self.nonces.get(&key).is_some_and(|exp| *exp > now) {
            return Err(Rejection::NonceUsed);
        }
        if expires_ms <= now {
            // Already past its window: nothing left to protect.
            return Ok(Response::Done);
        }
        if self.nonces.len() >= MAX_NONCES {
            return Err(Rejection::NonceTableFull {
                limit: u32::try_from(MAX_NONCES).unwrap_or(u32::MAX),
            });
        }
        if let Some(old) = self.nonces.insert(key, expires_ms) {
            self.nonce_order.remove(&(old, key));
        }
        self.nonce_order.insert((expires_ms, key));
        Ok(Response::Done)
    }

    /// Drops nonces whose expiry is not after `now` (the leader's time of the request).
    pub(super) fn forget_expired_nonces(&mut self, now: u64) {
        while let Some(&(exp, key)) = self.nonce_order.first() {
            if exp > now {
                break;
            }
            self.nonce_order.pop_first();
            self.nonces.remove(&key);
        }
    }

    /// Whether this nonce is remembered and unexpired at `now_ms`.
    pub fn nonce_used(&self, key: &NonceKey, now_ms: u64) -> bool {
        self.nonces.get(key).is_some_and(|exp| *exp > now_ms)
    }

    /// How many nonces are remembered.
    pub fn nonces_remembered(&self) -> usize {
        self.nonces.len()
    }
}
