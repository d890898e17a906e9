//! Ids for proposals, so that a proposal re-sent after a lost answer is applied once (the
//! state machine answers a known id with the first answer; see `portunus_model::State::apply`).

use portunus_model::RequestId;
use std::sync::atomic::{AtomicU64, Ordering};

/// Hands out ids unique to this process: a random origin and a counter.
pub(crate) struct RequestIds {
    origin: u64,
    seq: AtomicU64,
}

impl RequestIds {
    pub(crate) fn new() -> Self {
        let mut bytes = [0u8; 8];
        let origin = match aws_lc_rs::rand::fill(&mut bytes) {
            Ok(()) => u64::from_le_bytes(bytes),
            // No system randomness: fall back on the clock and the pid, still distinct per start.
            Err(_) => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0);
                nanos ^ (u64::from(std::process::id()) << 32)
            }
        };
        RequestIds {
            origin,
            seq: AtomicU64::new(0),
        }
    }

    pub(crate) fn next(&self) -> RequestId {
        RequestId {
            origin: self.origin,
            seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RequestIds;

    #[test]
    fn ids_are_distinct_within_and_across_generators() {
        let a = RequestIds::new();
        let b = RequestIds::new();
        let (a1, a2, b1) = (a.next(), a.next(), b.next());
        assert_ne!(a1, a2);
        assert_ne!(a1.origin, b1.origin);
    }
}
