//! O&M token tests: counting, expiry, renewal, revocation and atomic spending.

use super::Fx;
use crate::command::Command;
use crate::rejection::{LimitScope, Rejection};
use crate::response::Response;

#[test]
fn token_with_one_use_is_spent_exactly_once() {
    let mut fx = Fx::new();
    let (u, h, a) = fx.granted("alice");
    let epoch = fx.start_node(1);
    let receipt = fx.issue(u, h, a, 7, Some(1));
    assert!(receipt.has_count_limit);
    assert_eq!(receipt.count_left, 1);
    let grant = fx.spend(7, 1, epoch);
    assert_eq!(grant.user_id, u);
    assert_eq!(grant.count_left, Some(0));
    assert_eq!(fx.st.token(receipt.token_id).map(|t| t.uses), Some(1));
    assert_eq!(
        fx.reject(Fx::spend_cmd(7, 1, epoch)),
        Rejection::TokenUsedUp
    );
    assert_eq!(fx.st.slots_in_use(), 1);
}

#[test]
fn token_with_three_uses_counts_down() {
    let mut fx = Fx::new();
    let (u, h, a) = fx.granted("alice");
    let epoch = fx.start_node(1);
    fx.issue(u, h, a, 1, Some(3));
    let left: Vec<_> = (0..3).map(|_| fx.spend(1, 1, epoch).count_left).collect();
    assert_eq!(left, vec![Some(2), Some(1), Some(0)]);
    assert_eq!(
        fx.reject(Fx::spend_cmd(1, 1, epoch)),
        Rejection::TokenUsedUp
    );
}

#[test]
fn unlimited_token_has_no_count() {
    let mut fx = Fx::new();
    let (u, h, a) = fx.granted("alice");
    let epoch = fx.start_node(1);
    let receipt = fx.issue(u, h, a, 1, Some(0));
    assert!(!receipt.has_count_limit);
    for _ in 0..5 {
        assert_eq!(fx.spend(1, 1, epoch).count_left, None);
    }
}

#[test]
fn expired_token_is_refused() {
    let mut fx = Fx::new();
    let (u, h, a) = fx.granted("alice");
    let epoch = fx.start_node(1);
    let receipt = fx.issue(u, h, a, 1, None);
    assert_eq!(receipt.expire_at_ms, fx.now + 3_600_000);
    fx.now = receipt.expire_at_ms - 1;
    fx.spend(1, 1, epoch);
    fx.now = receipt.expire_at_ms;
    assert_eq!(
        fx.reject(Fx::spend_cmd(1, 1, epoch)),
        Rejection::TokenExpired
    );
}

#[test]
fn unknown_token_is_refused() {
    let mut fx = Fx::new();
    let epoch = fx.start_node(1);
    assert_eq!(
        fx.reject(Fx::spend_cmd(9, 1, epoch)),
        Rejection::TokenUnknown
    );
}

#[test]
fn refused_slot_does_not_burn_a_use() {
    let mut fx = Fx::new();
    let (u, h, a) = fx.granted("alice");
    fx.settings(|s| s.max_sessions_per_user = 1);
    let epoch = fx.start_node(1);
    let receipt = fx.issue(u, h, a, 1, Some(2));
    let first = fx.spend(1, 1, epoch);
    let rej = fx.reject(Fx::spend_cmd(1, 1, epoch));
    assert_eq!(
        rej,
        Rejection::ConcurrencyLimit {
            scope: LimitScope::User,
            limit: 1
        }
    );
    assert_eq!(fx.st.token(receipt.token_id).map(|t| t.count_left), Some(1));
    fx.done_close(first.session_id, 1, epoch);
    assert_eq!(fx.spend(1, 1, epoch).count_left, Some(0));
}

#[test]
fn renew_extends_up_to_the_maximum() {
    let mut fx = Fx::new();
    let (u, h, a) = fx.granted("alice");
    let receipt = fx.issue(u, h, a, 1, None);
    assert_eq!(receipt.max_renew_count, 3);
    for n in 1..=3 {
        fx.now += 1_800_000;
        let renew = Command::RenewToken {
            token_id: receipt.token_id,
            user_id: Some(u),
        };
        match fx.run(renew) {
            Response::TokenRenewed(r) => {
                assert_eq!(r.renew_count, n);
                assert_eq!(r.expire_at_ms, fx.now + 3_600_000);
            }
            other => panic!("renewal {n} failed: {other:?}"),
        }
    }
    let again = Command::RenewToken {
        token_id: receipt.token_id,
        user_id: None,
    };
    assert_eq!(fx.reject(again), Rejection::TokenRenewLimit { max: 3 });
}

#[test]
fn renew_by_another_user_or_after_expiry_is_refused() {
    let mut fx = Fx::new();
    let (u, h, a) = fx.granted("alice");
    let bob = fx.user("bob");
    let receipt = fx.issue(u, h, a, 1, None);
    let by_bob = Command::RenewToken {
        token_id: receipt.token_id,
        user_id: Some(bob),
    };
    assert_eq!(fx.reject(by_bob), Rejection::NotAuthorized);
    fx.now = receipt.expire_at_ms;
    let late = Command::RenewToken {
        token_id: receipt.token_id,
        user_id: Some(u),
    };
    assert_eq!(fx.reject(late), Rejection::TokenExpired);
}

#[test]
fn revoked_token_is_refused_and_purged() {
    let mut fx = Fx::new();
    let (u, h, a) = fx.granted("alice");
    let epoch = fx.start_node(1);
    let receipt = fx.issue(u, h, a, 1, None);
    fx.done(Command::RevokeToken {
        token_id: receipt.token_id,
    });
    assert_eq!(
        fx.reject(Fx::spend_cmd(1, 1, epoch)),
        Rejection::TokenRevoked
    );
    let purged = fx.run(Command::PurgeTokens {
        expired_before_ms: 0,
    });
    assert_eq!(purged, Response::Purged { count: 1 });
    assert!(fx.st.token_by_hash(&[1; 32]).is_none());
    assert_eq!(
        fx.reject(Fx::spend_cmd(1, 1, epoch)),
        Rejection::TokenUnknown
    );
}

#[test]
fn token_needs_authorization_and_a_fresh_hash() {
    let mut fx = Fx::new();
    let (u, h, a) = fx.granted("alice");
    let bob = fx.user("bob");
    let cmd = |user, hash| {
        Command::IssueToken(crate::token::NewToken {
            database_schema: None,
            mysql_native: None,
            pg_scram: None,
            issued_by: None,
            token_hash: [hash; 32],
            user_id: user,
            asset: crate::common::AssetRef::Host(h),
            account: crate::token::TokenAccount::Hosted(a),
            protocol: crate::common::Protocol::Ssh,
            validity_secs: None,
            use_count: None,
        })
    };
    assert_eq!(fx.reject(cmd(bob, 1)), Rejection::NotAuthorized);
    fx.issue(u, h, a, 1, None);
    assert!(matches!(
        fx.reject(cmd(u, 1)),
        Rejection::AlreadyExists { .. }
    ));
}

#[test]
fn locked_user_cannot_spend() {
    let mut fx = Fx::new();
    let (u, h, a) = fx.granted("alice");
    let epoch = fx.start_node(1);
    fx.issue(u, h, a, 1, Some(1));
    fx.done(Command::LockUsers { user_ids: vec![u] });
    assert_eq!(fx.reject(Fx::spend_cmd(1, 1, epoch)), Rejection::UserLocked);
}

impl Fx {
    pub fn done_close(&mut self, session: u64, node: u64, epoch: u64) {
        let r = self.run(Command::CloseSession {
            session_id: session,
            node_id: node,
            node_epoch: epoch,
            reason: crate::session::EndReason::Normal,
            bytes_up: 10,
            bytes_down: 20,
            events: None,
        });
        assert_eq!(
            r,
            Response::SessionClosed {
                session_id: session
            }
        );
    }
}

#[test]
fn a_session_closed_as_never_admitted_gives_its_token_use_back() {
    use crate::session::EndReason;
    let mut fx = Fx::new();
    let (u, h, a) = fx.granted("alice");
    let epoch = fx.start_node(1);
    let receipt = fx.issue(u, h, a, 7, Some(2));
    let used = fx.spend(7, 1, epoch);
    let abandoned = fx.spend(7, 1, epoch);
    assert_eq!(abandoned.count_left, Some(0));
    let close = |fx: &mut Fx, session_id, reason| {
        fx.run(Command::CloseSession {
            session_id,
            node_id: 1,
            node_epoch: epoch,
            reason,
            bytes_up: 0,
            bytes_down: 0,
            events: None,
        })
    };
    let r = close(&mut fx, abandoned.session_id, EndReason::NotAdmitted);
    assert_eq!(
        r,
        Response::SessionClosed {
            session_id: abandoned.session_id
        }
    );
    let t = fx.st.token(receipt.token_id).expect("the token").clone();
    assert_eq!(
        (t.uses, t.count_left),
        (1, 1),
        "the abandoned spend is given back"
    );
    // A second close of the same session gives nothing more back.
    let again = close(&mut fx, abandoned.session_id, EndReason::NotAdmitted);
    assert!(
        matches!(again, Response::Rejected(Rejection::SessionClosed { .. })),
        "{again:?}"
    );
    // A session that ran ends normally and keeps its use.
    fx.done_close(used.session_id, 1, epoch);
    let t = fx.st.token(receipt.token_id).expect("the token").clone();
    assert_eq!((t.uses, t.count_left), (1, 1));
    // The use given back can be spent again, and then the token is used up.
    assert_eq!(fx.spend(7, 1, epoch).count_left, Some(0));
    assert_eq!(
        fx.reject(Fx::spend_cmd(7, 1, epoch)),
        Rejection::TokenUsedUp
    );
}

#[test]
fn resent_spend_with_the_same_id_spends_once_and_answers_the_same() {
    use crate::command::{Request, RequestId};
    let mut fx = Fx::new();
    let (u, h, a) = fx.granted("alice");
    let epoch = fx.start_node(1);
    fx.issue(u, h, a, 7, Some(2));
    let id = RequestId { origin: 42, seq: 1 };
    let send = |fx: &mut Fx| {
        fx.st.apply(&Request {
            now_ms: fx.now,
            command: Fx::spend_cmd(7, 1, epoch),
            id: Some(id),
        })
    };
    let first = send(&mut fx);
    fx.now += 1_000;
    let again = send(&mut fx);
    assert_eq!(
        first, again,
        "a re-send answers what the first apply answered"
    );
    assert!(matches!(first, Response::SessionOpened(_)), "{first:?}");
    assert_eq!(
        fx.st.slots_in_use(),
        1,
        "the re-send opened no second session"
    );
    // Another request (a new id) still spends the second use.
    assert_eq!(fx.spend(7, 1, epoch).count_left, Some(0));
    // Past the window the id is forgotten (the state does not grow without bound).
    fx.now += crate::state::DEDUP_WINDOW_MS + 1;
    fx.done(Command::UpdateSettings(fx.st.settings().clone()));
    assert!(matches!(
        send(&mut fx),
        Response::Rejected(Rejection::TokenUsedUp)
    ));
}
