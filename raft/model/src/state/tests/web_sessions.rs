//! Browser sessions: open for active users only, live while used (idle and absolute ends), a
//! pending second factor serves nothing and ends after three wrong codes, logout ends it, and a
//! user holds a bounded number.

use super::Fx;
use crate::command::Command;
use crate::web_session::{
    WEB_IDLE_MS, WEB_MAX_AGE_MS, WEB_PENDING_MS, WEB_SESSIONS_PER_USER, WEB_TOUCH_EVERY_MS,
};
use crate::Rejection;

fn open(user_id: u64, hash: u8, pending: bool) -> Command {
    Command::OpenWebSession {
        session_hash: [hash; 32],
        user_id,
        client_addr: "127.0.0.1:5000".into(),
        second_factor_pending: pending,
    }
}

#[test]
fn a_session_lives_while_used_and_ends_idle_or_old() {
    let mut fx = Fx::new();
    let u = fx.user("alice");
    fx.done(open(u, 1, false));
    let s = fx.st.web_session(&[1; 32], fx.now).expect("live");
    assert_eq!((s.user_id, s.second_factor_pending), (u, false));
    assert!(!s.wants_touch(fx.now + WEB_TOUCH_EVERY_MS - 1));
    assert!(s.wants_touch(fx.now + WEB_TOUCH_EVERY_MS));
    // Touched before it idles out, it lives on past the first idle limit.
    for _ in 0..3 {
        fx.now += WEB_IDLE_MS - 1;
        fx.done(Command::TouchWebSession {
            session_hash: [1; 32],
        });
    }
    assert!(fx
        .st
        .web_session(&[1; 32], fx.now + WEB_IDLE_MS - 1)
        .is_some());
    assert!(fx.st.web_session(&[1; 32], fx.now + WEB_IDLE_MS).is_none());
    // Whatever its use, it ends at its maximum age.
    let opened = fx.st.web_session(&[1; 32], fx.now).unwrap().opened_ms;
    assert!(fx
        .st
        .web_session(&[1; 32], opened + WEB_MAX_AGE_MS)
        .is_none());
    fx.now += WEB_IDLE_MS;
    assert_eq!(
        fx.reject(Command::TouchWebSession {
            session_hash: [1; 32]
        }),
        Rejection::WebSessionUnknown
    );
}

#[test]
fn only_an_active_user_opens_one_and_logout_ends_it() {
    let mut fx = Fx::new();
    let u = fx.user("alice");
    fx.done(Command::LockUsers { user_ids: vec![u] });
    assert_eq!(fx.reject(open(u, 1, false)), Rejection::UserLocked);
    fx.done(Command::UnlockUsers { user_ids: vec![u] });
    fx.done(open(u, 1, false));
    assert!(matches!(
        fx.reject(open(u, 1, false)),
        Rejection::InvalidParameter { .. }
    ));
    fx.done(Command::CloseWebSession {
        session_hash: [1; 32],
    });
    assert!(fx.st.web_session(&[1; 32], fx.now).is_none());
    fx.done(Command::CloseWebSession {
        session_hash: [1; 32],
    });
}

#[test]
fn a_pending_session_passes_once_or_ends_after_three_wrong_codes() {
    let mut fx = Fx::new();
    let u = fx.user("alice");
    fx.done(open(u, 1, true));
    fx.done(open(u, 2, true));
    assert!(
        fx.st
            .web_session(&[1; 32], fx.now)
            .unwrap()
            .second_factor_pending
    );
    fx.done(Command::WebSecondFactorPassed {
        session_hash: [1; 32],
    });
    assert!(
        !fx.st
            .web_session(&[1; 32], fx.now)
            .unwrap()
            .second_factor_pending
    );
    assert_eq!(
        fx.reject(Command::WebSecondFactorPassed {
            session_hash: [1; 32]
        }),
        Rejection::WebSessionUnknown,
        "a session passes once"
    );
    for _ in 0..2 {
        fx.done(Command::WebSecondFactorRefused {
            session_hash: [2; 32],
        });
        assert!(fx.st.web_session(&[2; 32], fx.now).is_some());
    }
    fx.done(Command::WebSecondFactorRefused {
        session_hash: [2; 32],
    });
    assert!(
        fx.st.web_session(&[2; 32], fx.now).is_none(),
        "third wrong code"
    );
    // A pending session that waits too long ends.
    fx.done(open(u, 3, true));
    fx.now += WEB_PENDING_MS;
    assert_eq!(
        fx.reject(Command::WebSecondFactorPassed {
            session_hash: [3; 32]
        }),
        Rejection::WebSessionUnknown
    );
}

#[test]
fn a_user_holds_a_bounded_number_and_expired_ones_are_forgotten() {
    let mut fx = Fx::new();
    let u = fx.user("alice");
    for i in 0..WEB_SESSIONS_PER_USER as u8 + 2 {
        fx.now += 1;
        fx.done(open(u, i, false));
    }
    assert_eq!(fx.st.web_session_count(), WEB_SESSIONS_PER_USER);
    assert!(
        fx.st.web_session(&[0; 32], fx.now).is_none(),
        "the oldest went"
    );
    assert!(fx.st.web_session(&[1; 32], fx.now).is_none());
    assert!(fx.st.web_session(&[2; 32], fx.now).is_some());
    let bob = fx.user("bob");
    fx.now += WEB_MAX_AGE_MS;
    fx.done(open(bob, 200, false));
    assert_eq!(fx.st.web_session_count(), 1, "expired sessions are dropped");
}
