//! Replay protection, fast path: a bounded, per-node memory of signature nonces seen recently.
//!
//! A nonce is remembered until the clock-skew window of its request has passed, after which
//! the timestamp check alone rejects a replay. This memory only spares a round trip when a
//! request is replayed to the same node; the authority is the replicated nonce table
//! (`Command::RecordNonce`, see `auth::record_nonce`), which also catches a replay to another
//! node. When full, the oldest entries are forgotten first (the replicated table still holds
//! them); only nonces of correctly signed requests are stored, so only holders of a valid
//! AccessKey can fill it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Nonces remembered at most.
pub const DEFAULT_CAPACITY: usize = 100_000;

/// The nonce memory.
pub struct NonceCache {
    inner: Mutex<Inner>,
    capacity: usize,
}

#[derive(Default)]
struct Inner {
    /// Each nonce's expiry and the number of the insertion that set it.
    expiry: HashMap<String, (u64, u64)>,
    /// Insertions in order (expiry, nonce, number); an entry whose number is no longer the
    /// nonce's (it was forgotten and inserted again) only waits to be pruned.
    order: VecDeque<(u64, String, u64)>,
    inserted: u64,
}

impl NonceCache {
    /// A cache holding at most `capacity` nonces.
    pub fn new(capacity: usize) -> Self {
        NonceCache {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
        }
    }

    /// Records `key` until `expires_ms`; false if it is already known (a replay).
    pub fn insert(&self, key: &str, now_ms: u64, expires_ms: u64) -> bool {
        let mut inner = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let inner = &mut *inner;
        while let Some((exp, _, _)) = inner.order.front() {
            if *exp > now_ms && inner.order.len() < self.capacity {
                break;
            }
            let Some((_, k, n)) = inner.order.pop_front() else {
                break;
            };
            if inner.expiry.get(&k).is_some_and(|(_, set_by)| *set_by == n) {
                inner.expiry.remove(&k);
            }
        }
        if inner.expiry.get(key).is_some_and(|(e, _)| *e > now_ms) {
            return false;
        }
        inner.inserted += 1;
        let n = inner.inserted;
        inner.expiry.insert(key.to_string(), (expires_ms, n));
        inner.order.push_back((expires_ms, key.to_string(), n));
        true
    }

    /// Forgets `key` (its request could not be recorded cluster-wide and was not served).
    pub fn remove(&self, key: &str) {
        let mut inner = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        // Its entry in `order` stays until pruned; pruning then leaves alone a later insertion.
        inner.expiry.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::NonceCache;

    #[test]
    fn replays_are_refused_until_expiry_and_capacity_is_bounded() {
        let c = NonceCache::new(2);
        assert!(c.insert("a", 0, 100));
        assert!(!c.insert("a", 50, 150));
        assert!(c.insert("a", 100, 200));
        assert!(c.insert("b", 100, 200));
        assert!(c.insert("c", 100, 200));
        let len = c.inner.lock().expect("lock").order.len();
        assert!(len <= 2);
        c.remove("c");
        assert!(c.insert("c", 100, 200));
    }

    #[test]
    fn a_nonce_forgotten_and_seen_again_is_kept_while_its_first_entry_is_pruned() {
        let c = NonceCache::new(4);
        assert!(c.insert("a", 0, 100));
        assert!(c.insert("b", 1, 300));
        assert!(c.insert("c", 2, 300));
        // The call of "a" could not be recorded; the same request comes again (same expiry).
        c.remove("a");
        assert!(c.insert("a", 10, 100));
        // One more nonce pushes the first insertion of "a" out for room.
        assert!(c.insert("d", 20, 300));
        assert!(
            !c.insert("a", 30, 100),
            "the second insertion of a nonce was pruned with its first"
        );
    }
}
