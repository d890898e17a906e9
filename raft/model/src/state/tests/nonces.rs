//! API signature nonces: first use, replay, expiry, the bounds on how long one is kept and on
//! how many each key (and each role) holds.

use super::Fx;
use crate::command::{Command, Request};
use crate::ids::NonceKey;
use crate::rejection::Rejection;
use crate::response::Response;
use crate::settings::Role;
use crate::state::{
    ADMIN_RESERVED_NONCES, MAX_NONCES, MAX_NONCES_PER_KEY, MAX_NONCE_TTL_MS, MAX_REQUEST_AGE_MS,
    MAX_REQUEST_LEAD_MS, NONCE_CLOCK_MARGIN_MS,
};

/// How long a nonce of a request dated at the leader's time is kept.
const KEPT: u64 = MAX_REQUEST_AGE_MS + NONCE_CLOCK_MARGIN_MS;

fn key(n: u64) -> NonceKey {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&n.to_be_bytes());
    k
}

fn record(ak: &str, k: NonceKey, request_ms: u64) -> Command {
    Command::RecordNonce {
        access_key_id: ak.into(),
        key: k,
        request_ms,
    }
}

fn with_keys(keys: &[(&str, Role)]) -> Fx {
    let mut fx = Fx::new();
    for (id, role) in keys {
        fx.done(Command::CreateAccessKey {
            access_key_id: (*id).into(),
            secret: crate::Sealed(vec![1]),
            role: *role,
            user_id: None,
            comment: String::new(),
        });
    }
    fx
}

/// Records `n` nonces of `ak` dated `at`, numbered from `first`, applied directly (the
/// fixture's log would hold every request); each must be accepted.
fn fill(fx: &mut Fx, ak: &str, first: u64, n: usize, at: u64) {
    for i in first..first + n as u64 {
        let resp = fx.st.apply(&Request {
            now_ms: fx.now,
            command: record(ak, key(i), at),
            id: None,
        });
        assert_eq!(resp, Response::Done, "nonce {i} of {ak}");
    }
}

#[test]
fn a_nonce_is_accepted_once_and_a_replay_is_refused() {
    let mut fx = with_keys(&[("ak", Role::Admin)]);
    let at = fx.now;
    fx.done(record("ak", key(1), at));
    assert!(fx.st.nonce_used(&key(1), fx.now));
    fx.now += 1_000;
    // The same nonce, whatever date the replaying node sends, changes nothing.
    assert_eq!(fx.reject(record("ak", key(1), at)), Rejection::NonceUsed);
    assert_eq!(
        fx.reject(record("ak", key(1), fx.now)),
        Rejection::NonceUsed
    );
    let r = Rejection::NonceUsed;
    assert_eq!((r.code(), r.http_status()), ("SignatureNonceUsed", 400));
    assert!(!r.is_retryable());
    // Another nonce is independent.
    fx.done(record("ak", key(2), fx.now));
    assert_eq!(fx.st.nonces_remembered(), 2);
    assert_eq!(fx.st.nonces_held_by("ak"), 2);
}

#[test]
fn unknown_or_disabled_keys_record_nothing() {
    let mut fx = with_keys(&[("ak", Role::Admin)]);
    let now = fx.now;
    let r = fx.reject(record("nobody", key(1), now));
    assert!(matches!(r, Rejection::AccessKeyNotFound { .. }), "{r}");
    fx.done(Command::SetAccessKeyEnabled {
        access_key_id: "ak".into(),
        enabled: false,
    });
    let r = fx.reject(record("ak", key(1), now));
    assert!(matches!(r, Rejection::AccessKeyNotFound { .. }), "{r}");
    assert_eq!(fx.st.nonces_remembered(), 0);
}

#[test]
fn a_nonce_is_kept_for_its_requests_window_on_the_leaders_clock() {
    let mut fx = with_keys(&[("ak", Role::Auditor)]);
    let start = fx.now;
    fx.done(record("ak", key(1), start));
    // Dated ten minutes ago: kept five minutes less.
    fx.done(record("ak", key(2), start - 10 * 60 * 1000));
    fx.now = start + KEPT - 10 * 60 * 1000;
    // Pruned on the next applied request, whatever its command.
    fx.run(Command::PurgeSessions { ended_before_ms: 0 });
    assert_eq!(fx.st.nonces_remembered(), 1);
    assert!(!fx.st.nonce_used(&key(2), fx.now));
    assert_eq!(fx.st.nonces_held_by("ak"), 1);
    fx.now = start + KEPT - 1;
    fx.run(Command::PurgeSessions { ended_before_ms: 0 });
    assert!(fx.st.nonce_used(&key(1), fx.now));
    fx.now += 1;
    fx.run(Command::PurgeSessions { ended_before_ms: 0 });
    assert_eq!(fx.st.nonces_remembered(), 0);
    assert_eq!(fx.st.nonces_held_by("ak"), 0);
    // Past its window the nonce may be recorded again (the timestamp check refuses such a
    // request anyway); a request already past its window is not stored.
    let now = fx.now;
    fx.done(record("ak", key(1), now));
    fx.done(record("ak", key(3), now - KEPT));
    assert!(!fx.st.nonce_used(&key(3), fx.now));
    assert_eq!(fx.st.nonces_remembered(), 1);
}

#[test]
fn a_future_date_does_not_stretch_how_long_a_nonce_is_kept() {
    let mut fx = with_keys(&[("ak", Role::Auditor)]);
    let start = fx.now;
    let lead = MAX_REQUEST_LEAD_MS + NONCE_CLOCK_MARGIN_MS;
    // Dated as far ahead as a node whose clock is off by the margin may accept...
    fx.done(record("ak", key(1), start + lead));
    // ...but not further, whatever the client claims.
    for claimed in [start + lead + 1, start + 3_600_000, u64::MAX] {
        let r = fx.reject(record("ak", key(2), claimed));
        assert!(r.to_string().contains("x-acs-date"), "{r}");
        assert_eq!(r.code(), "InvalidParameter");
    }
    // The furthest-dated nonce is gone once MAX_NONCE_TTL_MS of the leader's time has passed.
    assert_eq!(start + lead + KEPT, start + MAX_NONCE_TTL_MS);
    fx.now = start + MAX_NONCE_TTL_MS - 1;
    fx.run(Command::PurgeSessions { ended_before_ms: 0 });
    assert!(fx.st.nonce_used(&key(1), fx.now));
    fx.now += 1;
    fx.run(Command::PurgeSessions { ended_before_ms: 0 });
    assert_eq!(fx.st.nonces_remembered(), 0);
    const { assert!(MAX_NONCE_TTL_MS < 30 * 60 * 1000) };
}

#[test]
fn one_key_over_its_share_is_throttled_and_the_others_are_not() {
    let mut fx = with_keys(&[("flood", Role::Auditor), ("calm", Role::Auditor)]);
    let start = fx.now;
    fill(&mut fx, "flood", 0, MAX_NONCES_PER_KEY, start);
    let refused = fx.reject(record("flood", key(u64::MAX), start));
    assert_eq!(
        refused,
        Rejection::NonceQuotaExceeded {
            limit: MAX_NONCES_PER_KEY as u32
        }
    );
    assert_eq!((refused.code(), refused.http_status()), ("Throttling", 429));
    assert!(refused.is_retryable());
    assert!(refused.to_string().contains("AccessKey"), "{refused}");
    // A replay is still a replay, not a throttle.
    assert_eq!(
        fx.reject(record("flood", key(7), start)),
        Rejection::NonceUsed
    );
    // Another key of the same role is not affected.
    fx.done(record("calm", key(u64::MAX), start));
    // The flooding key gets room again as its nonces expire.
    fx.now = start + KEPT;
    fx.done(record("flood", key(u64::MAX - 1), fx.now));
    assert_eq!(fx.st.nonces_held_by("flood"), 1);
}

#[test]
fn admin_keys_keep_room_when_every_other_key_floods() {
    let others = (MAX_NONCES - ADMIN_RESERVED_NONCES) / MAX_NONCES_PER_KEY;
    let names: Vec<String> = (0..=others).map(|i| format!("op{i}")).collect();
    let mut keys: Vec<(&str, Role)> = names.iter().map(|n| (n.as_str(), Role::Auditor)).collect();
    keys.push(("admin", Role::Admin));
    keys.push(("admin2", Role::Admin));
    let mut fx = with_keys(&keys);
    let start = fx.now;
    for (i, name) in names[..others].iter().enumerate() {
        fill(
            &mut fx,
            name,
            (i * MAX_NONCES_PER_KEY) as u64,
            MAX_NONCES_PER_KEY,
            start,
        );
    }
    // Every non-Admin key, even one under its own share, is now refused...
    let refused = fx.reject(record(&names[others], key(u64::MAX), start));
    assert_eq!(
        refused,
        Rejection::NonceTableFull {
            limit: (MAX_NONCES - ADMIN_RESERVED_NONCES) as u32
        }
    );
    assert_eq!(refused.code(), "Throttling");
    // ...and Admin keys still have their reserve, up to their own shares.
    let base = (others * MAX_NONCES_PER_KEY) as u64;
    fill(&mut fx, "admin", base, MAX_NONCES_PER_KEY, start);
    fill(
        &mut fx,
        "admin2",
        base + MAX_NONCES_PER_KEY as u64,
        1,
        start,
    );
    assert_eq!(
        fx.st.nonces_remembered(),
        others * MAX_NONCES_PER_KEY + MAX_NONCES_PER_KEY + 1
    );
}

#[test]
fn a_full_table_refuses_every_key() {
    let keys: Vec<String> = (0..MAX_NONCES / MAX_NONCES_PER_KEY + 1)
        .map(|i| format!("admin{i}"))
        .collect();
    let roles: Vec<(&str, Role)> = keys.iter().map(|k| (k.as_str(), Role::Admin)).collect();
    let mut fx = with_keys(&roles);
    let start = fx.now;
    let full = MAX_NONCES / MAX_NONCES_PER_KEY;
    for (i, k) in keys[..full].iter().enumerate() {
        fill(
            &mut fx,
            k,
            (i * MAX_NONCES_PER_KEY) as u64,
            MAX_NONCES_PER_KEY,
            start,
        );
    }
    assert_eq!(fx.st.nonces_remembered(), MAX_NONCES);
    let refused = fx.reject(record(&keys[full], key(u64::MAX), start));
    assert_eq!(
        refused,
        Rejection::NonceTableFull {
            limit: MAX_NONCES as u32
        }
    );
    assert!(refused.to_string().contains("retry later"), "{refused}");
}
