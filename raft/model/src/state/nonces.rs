//! Signature nonces of the management API, remembered by the whole cluster so that a signed
//! request captured on the wire cannot be replayed to another node within its clock-skew
//! window.
//!
//! The API stores a fixed-size hash of each nonce ([`NonceKey`]) with the AccessKey that signed
//! it and the request's timestamp. The model, not the caller, decides how long it is kept: as
//! long as a node may still accept the request's timestamp, i.e. until the leader's time passes
//! `timestamp + MAX_REQUEST_AGE_MS + NONCE_CLOCK_MARGIN_MS`; a timestamp more than
//! `MAX_REQUEST_LEAD_MS + NONCE_CLOCK_MARGIN_MS` ahead of the leader's time is refused, so a
//! future-dated request cannot stretch how long its nonce occupies the table (at most
//! `MAX_NONCE_TTL_MS` from the leader's time). Entries are forgotten when the leader-stamped
//! time of a later request passes their expiry (in [`State::apply`], like the request-dedup
//! answers), so every replica prunes the same entries at the same log index.
//!
//! The table is bounded, and shared fairly: one AccessKey holds at most
//! [`MAX_NONCES_PER_KEY`] nonces, keys of other roles than Admin together at most
//! `MAX_NONCES - ADMIN_RESERVED_NONCES`, and the whole table at most [`MAX_NONCES`]. Over a
//! bound, new nonces are refused (retryable) rather than forgetting nonces that still protect
//! someone; so one key flooding the API throttles itself, and an Admin key always has room.

use super::{Handled, State};
use crate::command::Command;
use crate::ids::NonceKey;
use crate::rejection::Rejection;
use crate::response::Response;
use crate::settings::Role;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Most nonces remembered at once.
pub const MAX_NONCES: usize = 200_000;

/// Most nonces one AccessKey holds at once: with requests dated now, kept about 16 minutes,
/// this is a sustained 25 calls per second per key, and bursts of 25,000.
pub const MAX_NONCES_PER_KEY: usize = 25_000;

/// Room kept for Admin keys: keys of the other roles together hold at most
/// `MAX_NONCES - ADMIN_RESERVED_NONCES` nonces.
pub const ADMIN_RESERVED_NONCES: usize = 50_000;

/// How old a request's timestamp may be for a node to accept it.
pub const MAX_REQUEST_AGE_MS: u64 = 15 * 60 * 1000;

/// How far ahead of a node's clock a request's timestamp may be for the node to accept it.
pub const MAX_REQUEST_LEAD_MS: u64 = 5 * 60 * 1000;

/// How far apart the clocks of the nodes and the leader's may be: a nonce is kept this much
/// longer than its request's window, and a request dated this much further ahead is allowed.
pub const NONCE_CLOCK_MARGIN_MS: u64 = 60 * 1000;

/// Longest a nonce is kept, from the leader's time.
pub const MAX_NONCE_TTL_MS: u64 =
    MAX_REQUEST_LEAD_MS + MAX_REQUEST_AGE_MS + 2 * NONCE_CLOCK_MARGIN_MS;

/// The remembered nonces, with their owners' counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonceTable {
    /// Every remembered nonce.
    entries: BTreeMap<NonceKey, Held>,
    /// The same nonces ordered by expiry, for pruning.
    order: BTreeSet<(u64, NonceKey)>,
    /// How many nonces each AccessKey holds (keys holding none are absent).
    per_key: BTreeMap<String, u32>,
    /// How many are held by keys that were not Admin keys when they recorded them.
    not_admin: u32,
}

/// One remembered nonce.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Held {
    /// When the leader's time makes it forgettable.
    expires_ms: u64,
    /// The AccessKey that signed it.
    access_key_id: String,
    /// Whether that key was an Admin key then.
    admin: bool,
}

fn limit(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl NonceTable {
    fn insert(&mut self, key: NonceKey, held: Held) {
        *self.per_key.entry(held.access_key_id.clone()).or_default() += 1;
        if !held.admin {
            self.not_admin += 1;
        }
        self.order.insert((held.expires_ms, key));
        if let Some(old) = self.entries.insert(key, held) {
            // Callers remove a key before inserting it again; stay consistent regardless.
            self.order.remove(&(old.expires_ms, key));
            self.release(&old);
        }
    }

    fn remove(&mut self, key: &NonceKey) {
        if let Some(old) = self.entries.remove(key) {
            self.order.remove(&(old.expires_ms, *key));
            self.release(&old);
        }
    }

    fn release(&mut self, old: &Held) {
        if let Some(n) = self.per_key.get_mut(&old.access_key_id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_key.remove(&old.access_key_id);
            }
        }
        if !old.admin {
            self.not_admin = self.not_admin.saturating_sub(1);
        }
    }

    /// Which bound, if any, a new nonce of this key would cross.
    fn check_room(&self, access_key_id: &str, admin: bool) -> Result<(), Rejection> {
        let held = self.per_key.get(access_key_id).copied().unwrap_or(0);
        if held >= limit(MAX_NONCES_PER_KEY) {
            return Err(Rejection::NonceQuotaExceeded {
                limit: limit(MAX_NONCES_PER_KEY),
            });
        }
        let shared = MAX_NONCES - ADMIN_RESERVED_NONCES;
        if !admin && self.not_admin >= limit(shared) {
            return Err(Rejection::NonceTableFull {
                limit: limit(shared),
            });
        }
        if self.entries.len() >= MAX_NONCES {
            return Err(Rejection::NonceTableFull {
                limit: limit(MAX_NONCES),
            });
        }
        Ok(())
    }
}

impl State {
    pub(super) fn apply_nonces(&mut self, now: u64, cmd: &Command) -> Handled {
        match cmd {
            Command::RecordNonce {
                access_key_id,
                key,
                request_ms,
            } => Some(self.record_nonce(now, access_key_id, *key, *request_ms)),
            _ => None,
        }
    }

    pub(super) fn record_nonce(
        &mut self,
        now: u64,
        access_key_id: &str,
        key: NonceKey,
        request_ms: u64,
    ) -> Result<Response, Rejection> {
        if self.nonce_used(&key, now) {
            return Err(Rejection::NonceUsed);
        }
        let admin = match self.access_keys.get(access_key_id) {
            Some(k) if k.enabled => k.role == Role::Admin,
            _ => {
                return Err(Rejection::AccessKeyNotFound {
                    access_key_id: access_key_id.to_string(),
                })
            }
        };
        let lead = MAX_REQUEST_LEAD_MS + NONCE_CLOCK_MARGIN_MS;
        if request_ms > now.saturating_add(lead) {
            return Err(Rejection::invalid(
                "x-acs-date",
                format!(
                    "the request is dated more than {} seconds after the cluster's clock",
                    lead / 1000
                ),
            ));
        }
        let expires_ms = request_ms.saturating_add(MAX_REQUEST_AGE_MS + NONCE_CLOCK_MARGIN_MS);
        if expires_ms <= now {
            // Already past its window: nothing left to protect.
            return Ok(Response::Done);
        }
        self.nonces.check_room(access_key_id, admin)?;
        // A forgettable entry of the same key may still be there between prunings.
        self.nonces.remove(&key);
        let held = Held {
            expires_ms,
            access_key_id: access_key_id.to_string(),
            admin,
        };
        self.nonces.insert(key, held);
        Ok(Response::Done)
    }

    /// Drops nonces whose expiry is not after `now` (the leader's time of the request).
    pub(super) fn forget_expired_nonces(&mut self, now: u64) {
        while let Some(&(exp, key)) = self.nonces.order.first() {
            if exp > now {
                break;
            }
            self.nonces.remove(&key);
        }
    }

    /// Whether this nonce is remembered and unexpired at `now_ms`.
    pub fn nonce_used(&self, key: &NonceKey, now_ms: u64) -> bool {
        self.nonces
            .entries
            .get(key)
            .is_some_and(|h| h.expires_ms > now_ms)
    }

    /// How many nonces are remembered.
    pub fn nonces_remembered(&self) -> usize {
        self.nonces.entries.len()
    }

    /// How many nonces this AccessKey holds.
    pub fn nonces_held_by(&self, access_key_id: &str) -> usize {
        self.nonces
            .per_key
            .get(access_key_id)
            .map_or(0, |n| *n as usize)
    }
}
