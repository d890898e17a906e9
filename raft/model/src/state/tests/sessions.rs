//! Session, slot and node-epoch fencing tests.

use super::Fx;
use crate::command::Command;
use crate::rejection::{LimitScope, Rejection};
use crate::response::Response;
use crate::session::EndReason;
use crate::State;

#[test]
fn per_user_and_total_limits_are_never_exceeded() {
    let mut fx = Fx::new();
    fx.settings(|s| {
        s.max_sessions_total = 3;
        s.max_sessions_per_user = 2;
    });
    let (alice, h1, a1) = fx.granted("alice");
    let (bob, h2, a2) = fx.granted("bob");
    let e = fx.start_node(1);
    fx.open(alice, h1, a1, 1, e);
    fx.open(alice, h1, a1, 1, e);
    let third = fx.reject(Fx::open_cmd(alice, h1, a1, 1, e));
    assert_eq!(
        third,
        Rejection::ConcurrencyLimit {
            scope: LimitScope::User,
            limit: 2
        }
    );
    fx.open(bob, h2, a2, 1, e);
    let fourth = fx.reject(Fx::open_cmd(bob, h2, a2, 1, e));
    assert_eq!(
        fourth,
        Rejection::ConcurrencyLimit {
            scope: LimitScope::Total,
            limit: 3
        }
    );
    assert_eq!(fx.st.slots_in_use(), 3);
    assert_eq!(fx.st.slots_in_use_by(alice), 2);
    assert_eq!(fx.st.slots_in_use_by(bob), 1);
}

#[test]
fn many_attempts_respect_the_total_limit() {
    let mut fx = Fx::new();
    fx.settings(|s| s.max_sessions_total = 5);
    let (u, h, a) = fx.granted("alice");
    let e1 = fx.start_node(1);
    let e2 = fx.start_node(2);
    let mut admitted = 0;
    for i in 0..20 {
        let (node, epoch) = if i % 2 == 0 { (1, e1) } else { (2, e2) };
        if let Response::SessionOpened(_) = fx.run(Fx::open_cmd(u, h, a, node, epoch)) {
            admitted += 1;
        }
        assert!(fx.st.slots_in_use() <= 5);
    }
    assert_eq!(admitted, 5);
}

#[test]
fn close_frees_the_slot_and_records_the_end() {
    let mut fx = Fx::new();
    fx.settings(|s| s.max_sessions_total = 1);
    let (u, h, a) = fx.granted("alice");
    let e = fx.start_node(1);
    let s = fx.open(u, h, a, 1, e);
    fx.now += 5_000;
    fx.done_close(s, 1, e);
    let rec = fx.st.session(s).cloned().expect("session kept");
    assert_eq!(rec.ended_at_ms, Some(fx.now));
    assert_eq!(rec.end_reason, Some(EndReason::Normal));
    assert_eq!((rec.bytes_up, rec.bytes_down), (10, 20));
    assert_eq!(fx.st.slots_in_use(), 0);
    fx.open(u, h, a, 1, e);
    let twice = Command::CloseSession {
        session_id: s,
        node_id: 1,
        node_epoch: e,
        reason: EndReason::Normal,
        bytes_up: 0,
        bytes_down: 0,
        events: None,
    };
    assert_eq!(fx.reject(twice), Rejection::SessionClosed { session_id: s });
}

#[test]
fn another_node_cannot_close_a_session() {
    let mut fx = Fx::new();
    let (u, h, a) = fx.granted("alice");
    let e1 = fx.start_node(1);
    let e2 = fx.start_node(2);
    let s = fx.open(u, h, a, 1, e1);
    let wrong = Command::CloseSession {
        session_id: s,
        node_id: 2,
        node_epoch: e2,
        reason: EndReason::Normal,
        bytes_up: 0,
        bytes_down: 0,
        events: None,
    };
    assert_eq!(
        fx.reject(wrong),
        Rejection::SessionNotOnNode {
            session_id: s,
            node_id: 2
        }
    );
}

#[test]
fn reclaim_frees_slots_and_fences_the_old_epoch() {
    let mut fx = Fx::new();
    fx.settings(|s| s.max_sessions_total = 2);
    let (u, h, a) = fx.granted("alice");
    let e1 = fx.start_node(1);
    let e2 = fx.start_node(2);
    let s1 = fx.open(u, h, a, 1, e1);
    let s2 = fx.open(u, h, a, 1, e1);
    assert_eq!(fx.st.sessions_of_node(1), vec![s1, s2]);
    match fx.run(Command::ReclaimNode { node_id: 1 }) {
        Response::NodeEpoch {
            epoch,
            closed_sessions,
            ..
        } => {
            assert_eq!(epoch, e1 + 1);
            assert_eq!(closed_sessions, vec![s1, s2]);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(fx.st.slots_in_use(), 0);
    assert!(fx.st.sessions_of_node(1).is_empty());
    assert_eq!(
        fx.st.session(s1).and_then(|s| s.end_reason),
        Some(EndReason::NodeLost)
    );
    let stale = fx.reject(Fx::open_cmd(u, h, a, 1, e1));
    assert_eq!(
        stale,
        Rejection::StaleNodeEpoch {
            node_id: 1,
            given: e1,
            current: e1 + 1
        }
    );
    let stale_close = Command::CloseSession {
        session_id: s1,
        node_id: 1,
        node_epoch: e1,
        reason: EndReason::Normal,
        bytes_up: 0,
        bytes_down: 0,
        events: None,
    };
    assert!(matches!(
        fx.reject(stale_close),
        Rejection::StaleNodeEpoch { .. }
    ));
    // The freed slots are usable by the healthy node.
    fx.open(u, h, a, 2, e2);
    fx.open(u, h, a, 2, e2);
}

#[test]
fn restart_bumps_epoch_and_closes_sessions() {
    let mut fx = Fx::new();
    let (u, h, a) = fx.granted("alice");
    let e1 = fx.start_node(1);
    fx.issue(u, h, a, 3, None);
    let g = fx.spend(3, 1, e1);
    let e1b = fx.start_node(1);
    assert_eq!(e1b, e1 + 1);
    assert_eq!(fx.st.node_epoch(1), e1b);
    assert!(!fx.st.session(g.session_id).is_some_and(|s| s.is_open()));
    assert!(matches!(
        fx.reject(Fx::spend_cmd(3, 1, e1)),
        Rejection::StaleNodeEpoch { .. }
    ));
    fx.spend(3, 1, e1b);
}

#[test]
fn node_that_never_started_is_refused() {
    let mut fx = Fx::new();
    let (u, h, a) = fx.granted("alice");
    assert_eq!(
        fx.reject(Fx::open_cmd(u, h, a, 9, 0)),
        Rejection::StaleNodeEpoch {
            node_id: 9,
            given: 0,
            current: 0
        }
    );
}

#[test]
fn termination_request_marks_the_session() {
    let mut fx = Fx::new();
    let (u, h, a) = fx.granted("alice");
    let e = fx.start_node(1);
    let s = fx.open(u, h, a, 1, e);
    fx.done(Command::RequestTermination { session_id: s });
    assert!(fx.st.session(s).is_some_and(|s| s.terminate_requested));
    fx.done_close(s, 1, e);
    let purge = Command::PurgeSessions {
        ended_before_ms: fx.now + 1,
    };
    assert_eq!(fx.run(purge), Response::Purged { count: 1 });
    assert!(fx.st.session(s).is_none());
}

#[test]
fn closing_links_each_record_into_the_session_trail_with_its_events() {
    use crate::session_trail::EventsDigest;
    let mut fx = Fx::new();
    let (u, h, a) = fx.granted("alice");
    let e = fx.start_node(1);
    let s1 = fx.open(u, h, a, 1, e);
    let s2 = fx.open(u, h, a, 1, e);
    let mut digest = EventsDigest::start(s1);
    digest.push(b"{\"type\":\"command\",\"line\":\"id\"}");
    let closed = fx.run(Command::CloseSession {
        session_id: s1,
        node_id: 1,
        node_epoch: e,
        reason: EndReason::Normal,
        bytes_up: 1,
        bytes_down: 2,
        events: Some(digest),
    });
    assert_eq!(closed, Response::SessionClosed { session_id: s1 });
    // The node restarts: its other session is closed without it, and linked too.
    let e2 = fx.start_node(1);
    assert!(e2 > e);
    let r1 = fx.st.session(s1).cloned().expect("kept");
    let r2 = fx.st.session(s2).cloned().expect("kept");
    assert_eq!(r1.events, Some(digest));
    assert_eq!(r2.events, None);
    let (l1, l2) = (r1.link.expect("linked"), r2.link.expect("linked"));
    assert_eq!((l1.seq, l2.seq), (1, 2));
    assert_eq!(l2.prev, l1.hash);
    assert_eq!(fx.st.session_trail().head(), l2.hash);
    assert_eq!(fx.st.verify_session_trail(), Ok(()));
    let s3 = fx.open(u, h, a, 1, e2);
    assert!(
        fx.st.session(s3).is_some_and(|s| s.link.is_none()),
        "open: not linked yet"
    );

    // Purging drops the oldest closed records and anchors the chain on the last one dropped.
    fx.now += 10;
    let purged = fx.run(Command::PurgeSessions {
        ended_before_ms: fx.now,
    });
    assert_eq!(purged, Response::Purged { count: 2 }, "the open one stays");
    assert_eq!(fx.st.session_trail().anchor(), l2.hash);
    assert_eq!(fx.st.verify_session_trail(), Ok(()));
}

/// The newest-first pages of `newest_sessions` are the sessions a walk from the newest gives,
/// after opens, closes and purges made with the order index built, and after a decode (index
/// not built).
#[test]
fn pages_of_the_newest_sessions_are_a_walk_from_the_newest() {
    let mut fx = Fx::new();
    let (u, h, a) = fx.granted("alice");
    let e = fx.start_node(1);
    let walked = |st: &State, skip: usize, n: usize| -> Vec<u64> {
        st.sessions()
            .rev()
            .skip(skip)
            .take(n)
            .map(|s| s.id)
            .collect()
    };
    let paged = |st: &State, skip: usize, n: usize| -> Vec<u64> {
        st.newest_sessions(skip, n).map(|s| s.id).collect()
    };
    let check = |st: &State| {
        assert_eq!(st.session_count(), st.sessions().count());
        let order = st
            .session_order
            .get(|| Box::new(st.sessions().map(|s| s.id)));
        assert!(order.iter().eq(st.sessions().map(|s| &s.id)), "{order:?}");
        for skip in [0, 1, 3, 7, 11, 12, 40] {
            for n in [0, 1, 5, 100] {
                assert_eq!(
                    paged(st, skip, n),
                    walked(st, skip, n),
                    "skip {skip}, n {n}"
                );
            }
        }
    };
    assert_eq!(paged(&fx.st, 0, 10), Vec::<u64>::new());
    let mut opened = Vec::new();
    for _ in 0..6 {
        opened.push(fx.open(u, h, a, 1, e));
    }
    check(&fx.st); // builds the index
    for _ in 0..6 {
        opened.push(fx.open(u, h, a, 1, e));
        check(&fx.st);
    }
    assert_eq!(paged(&fx.st, 0, 2), vec![opened[11], opened[10]]);
    for s in &opened[..5] {
        fx.done_close(*s, 1, e);
    }
    fx.now += 10;
    let purged = fx.run(Command::PurgeSessions {
        ended_before_ms: fx.now,
    });
    assert_eq!(purged, Response::Purged { count: 5 });
    check(&fx.st);
    assert_eq!(paged(&fx.st, 6, 10), vec![opened[5]]);
    let decoded: State = bincode::serde::decode_from_slice(
        &bincode::serde::encode_to_vec(&fx.st, bincode::config::standard()).expect("encode"),
        bincode::config::standard(),
    )
    .expect("decode")
    .0;
    check(&decoded);
}
