//! API signature nonces: first use, replay, expiry and the bound on the table.

use super::Fx;
use crate::command::{Command, Request};
use crate::ids::NonceKey;
use crate::rejection::Rejection;
use crate::response::Response;
use crate::state::{MAX_NONCES, MAX_NONCE_TTL_MS};

const WINDOW: u64 = 15 * 60 * 1000;

fn key(n: u64) -> NonceKey {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&n.to_be_bytes());
    k
}

fn record(k: NonceKey, expires_ms: u64) -> Command {
    Command::RecordNonce { key: k, expires_ms }
}

#[test]
fn a_nonce_is_accepted_once_and_a_replay_is_refused() {
    let mut fx = Fx::new();
    let until = fx.now + WINDOW;
    fx.done(record(key(1), until));
    assert!(fx.st.nonce_used(&key(1), fx.now));
    fx.now += 1_000;
    // The same nonce, whatever expiry the replaying node computed, changes nothing.
    assert_eq!(fx.reject(record(key(1), until)), Rejection::NonceUsed);
    assert_eq!(
        fx.reject(record(key(1), fx.now + WINDOW)),
        Rejection::NonceUsed
    );
    let r = Rejection::NonceUsed;
    assert_eq!((r.code(), r.http_status()), ("SignatureNonceUsed", 400));
    assert!(!r.is_retryable());
    // Another nonce is independent.
    fx.done(record(key(2), fx.now + WINDOW));
    assert_eq!(fx.st.nonces_remembered(), 2);
}

#[test]
fn expired_nonces_are_forgotten_by_any_later_request() {
    let mut fx = Fx::new();
    let start = fx.now;
    fx.done(record(key(1), start + WINDOW));
    fx.done(record(key(2), start + 2 * WINDOW));
    fx.now = start + WINDOW;
    // Pruned on the next applied request, whatever its command.
    fx.run(Command::PurgeSessions { ended_before_ms: 0 });
    assert_eq!(fx.st.nonces_remembered(), 1);
    assert!(!fx.st.nonce_used(&key(1), fx.now));
    assert!(fx.st.nonce_used(&key(2), fx.now));
    // Past its window the nonce may be recorded again (the timestamp check refuses such a
    // request anyway).
    fx.done(record(key(1), fx.now + WINDOW));
    assert_eq!(fx.reject(record(key(2), fx.now + 1)), Rejection::NonceUsed);
    // A nonce already past its expiry is not stored.
    fx.done(record(key(3), fx.now));
    assert!(!fx.st.nonce_used(&key(3), fx.now));
    assert_eq!(fx.st.nonces_remembered(), 2);
    // An expiry further than the model allows is brought back to the longest time kept.
    fx.done(record(key(4), u64::MAX));
    fx.now += MAX_NONCE_TTL_MS - 1;
    fx.run(Command::PurgeSessions { ended_before_ms: 0 });
    assert_eq!(fx.st.nonces_remembered(), 1);
    assert_eq!(fx.reject(record(key(4), fx.now + 1)), Rejection::NonceUsed);
    fx.now += 1;
    fx.run(Command::PurgeSessions { ended_before_ms: 0 });
    assert_eq!(fx.st.nonces_remembered(), 0);
}

#[test]
fn a_full_table_refuses_new_nonces_until_old_ones_expire() {
    let mut fx = Fx::new();
    let start = fx.now;
    // Applied directly: the fixture's log would hold every request.
    for i in 0..MAX_NONCES as u64 {
        let resp = fx.st.apply(&Request {
            now_ms: start,
            command: record(key(i), start + WINDOW + (i % 2)),
            id: None,
        });
        assert_eq!(resp, Response::Done);
    }
    assert_eq!(fx.st.nonces_remembered(), MAX_NONCES);
    let refused = fx.reject(record(key(u64::MAX), start + WINDOW));
    assert_eq!(
        refused,
        Rejection::NonceTableFull {
            limit: MAX_NONCES as u32
        }
    );
    assert_eq!((refused.code(), refused.http_status()), ("Throttling", 429));
    assert!(refused.is_retryable());
    assert!(refused.to_string().contains("retry later"), "{refused}");
    // A replay is still a replay, not a throttle.
    assert_eq!(
        fx.reject(record(key(7), start + WINDOW)),
        Rejection::NonceUsed
    );
    // Once the earliest half expires, there is room again; the rest is still remembered.
    fx.now = start + WINDOW;
    fx.done(record(key(u64::MAX), fx.now + WINDOW));
    assert_eq!(fx.st.nonces_remembered(), MAX_NONCES / 2 + 1);
    assert!(fx.st.nonce_used(&key(1), fx.now));
    assert!(!fx.st.nonce_used(&key(0), fx.now));
}
