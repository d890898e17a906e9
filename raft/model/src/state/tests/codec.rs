//! Serialization and determinism tests: bincode round trips and replay equality.

use super::Fx;
use crate::command::{Command, Request};
use crate::response::Response;
use crate::state::State;
use crate::STATE_FORMAT_VERSION;

fn encode<T: serde::Serialize>(v: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(v, bincode::config::standard()).expect("encode")
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> T {
    let (v, used) =
        bincode::serde::decode_from_slice(bytes, bincode::config::standard()).expect("decode");
    assert_eq!(used, bytes.len());
    v
}

/// A state touching most areas.
fn populated() -> Fx {
    let mut fx = Fx::new();
    let (u, h, a) = fx.granted("alice");
    let bob = fx.user("bob");
    fx.group("ops", &[u, bob]);
    let e = fx.start_node(1);
    fx.issue(u, h, a, 1, Some(2));
    fx.spend(1, 1, e);
    fx.open(u, h, a, 1, e);
    fx.run(Command::RecordLoginFailure { user_id: bob });
    fx.run(Command::SetSshHostKey {
        key: crate::Sealed(vec![1, 2, 3]),
        only_if_absent: true,
    });
    fx.run(Command::TagResources {
        resources: vec![crate::ResourceRef::Instance],
        tags: [("k".to_string(), "v".to_string())].into(),
    });
    fx.run(Command::CreateAccessKey {
        access_key_id: "AK".into(),
        secret: crate::Sealed(vec![4, 5, 6]),
        role: crate::Role::Auditor,
        user_id: None,
        comment: String::new(),
    });
    let recorded = fx.run(Command::RecordNonce {
        access_key_id: "AK".into(),
        key: [9; 16],
        request_ms: fx.now,
    });
    assert_eq!(recorded, crate::Response::Done);
    fx
}

#[test]
fn populated_state_round_trips_through_bincode() {
    let fx = populated();
    let bytes = encode(&fx.st);
    let back: State = decode(&bytes);
    assert_eq!(back, fx.st);
    assert_eq!(back.slots_in_use(), 2);
    assert!(back.token_by_hash(&[1; 32]).is_some());
    assert!(back.nonce_used(&[9; 16], fx.now));
    assert_eq!(back.nonces_held_by("AK"), 1);
    assert_eq!(STATE_FORMAT_VERSION, 16);
}

#[test]
fn requests_and_responses_round_trip() {
    let fx = populated();
    for req in &fx.log {
        let back: Request = decode(&encode(req));
        assert_eq!(&back, req);
    }
    let resp = Response::Rejected(crate::Rejection::TokenExpired);
    let back: Response = decode(&encode(&resp));
    assert_eq!(back, resp);
}

#[test]
fn replay_is_deterministic() {
    let fx = populated();
    let mut a = State::default();
    let mut b = State::default();
    let ra: Vec<Response> = fx.log.iter().map(|r| a.apply(r)).collect();
    let rb: Vec<Response> = fx.log.iter().map(|r| b.apply(r)).collect();
    assert_eq!(ra, rb);
    assert_eq!(a, b);
    assert_eq!(a, fx.st);
    assert_eq!(encode(&a), encode(&b));
}
