//! An API call's writes in one log entry (see `fold`): how many entries a call costs, the
//! audit entry each call leaves, and replays of calls that write more than once.

use super::*;
use portunus_model::{Command, NewUser, Response};
use std::sync::atomic::Ordering;

/// Proposals made so far (log entries of a real cluster).
fn proposals(h: &Harness) -> u64 {
    h.backend.proposals.load(Ordering::SeqCst)
}

/// The admin audit trail's (action, result) pairs after sequence number `after`.
fn trail_after(h: &Harness, after: u64) -> Vec<(String, String)> {
    let mut out = Vec::new();
    h.backend.read(&mut |s| {
        out = s
            .admin_audit()
            .entries()
            .filter(|e| e.seq > after)
            .map(|e| (e.record.action.clone(), e.record.result.clone()))
            .collect();
    });
    out
}

fn last_seq(h: &Harness) -> u64 {
    let mut n = 0;
    h.backend.read(&mut |s| n = s.admin_audit().last_seq());
    n
}

fn pair(action: &str, result: &str) -> (String, String) {
    (action.to_string(), result.to_string())
}

#[tokio::test]
async fn a_call_that_changes_one_thing_costs_one_log_entry() {
    let h = harness();
    let (seq, sent, nonces) = (last_seq(&h), proposals(&h), nonces_recorded(&h));
    let (status, body) = call(&h, "CreateUserGroup", &[("UserGroupName", "g")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        proposals(&h) - sent,
        1,
        "nonce, change and audit entry in one"
    );
    assert_eq!(nonces_recorded(&h) - nonces, 1);
    assert_eq!(trail_after(&h, seq), [pair("CreateUserGroup", "OK")]);

    // A refused change: the nonce stays recorded, the entry names the answer.
    let (seq, sent) = (last_seq(&h), proposals(&h));
    let dup = call(&h, "CreateUserGroup", &[("UserGroupName", "g")]).await;
    let code = dup.1["Code"].as_str().map(str::to_string);
    assert_eq!(code.as_deref(), Some("OBJECT_AlREADY_EXISTS"), "{}", dup.1);
    assert_eq!(
        proposals(&h) - sent,
        2,
        "the call's entry, then its audit entry"
    );
    assert_eq!(nonces_recorded(&h) - nonces, 2);
    assert_eq!(
        trail_after(&h, seq),
        [pair("CreateUserGroup", "OBJECT_AlREADY_EXISTS")]
    );

    // A listing proposes nothing of its own: its nonce alone, and no audit entry.
    let (seq, sent) = (last_seq(&h), proposals(&h));
    let (status, body) = call(&h, "ListUserGroups", &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(proposals(&h) - sent, 1);
    assert_eq!(nonces_recorded(&h) - nonces, 3);
    assert!(trail_after(&h, seq).is_empty());
}

#[tokio::test]
async fn a_call_refused_before_it_runs_costs_one_entry_and_is_in_the_trail() {
    let h = harness();
    let (seq, sent, nonces) = (last_seq(&h), proposals(&h), nonces_recorded(&h));
    // A change the key's role may not make: its nonce and its audit entry, in one entry.
    let mut denied = req("CreateUserGroup", &[("UserGroupName", "g")]);
    (denied.ak, denied.secret) = ("auditor", "auditor-secret");
    assert_error(&send(&h, &denied).await, 403, "Forbidden");
    assert_eq!(proposals(&h) - sent, 1, "nonce and audit entry in one");
    assert_eq!(nonces_recorded(&h) - nonces, 1);
    assert_eq!(trail_after(&h, seq), [pair("CreateUserGroup", "Forbidden")]);
    let by = {
        let mut who = Vec::new();
        h.backend.read(&mut |s| {
            who = s
                .admin_audit()
                .entries()
                .filter(|e| e.seq > seq)
                .map(|e| e.record.access_key_id.clone())
                .collect();
        });
        who
    };
    assert_eq!(by, ["auditor"], "the entry names the key that was refused");

    // A change with a missing parameter: the same, the entry names the refusal.
    let (seq, sent) = (last_seq(&h), proposals(&h));
    let (status, body) = call(&h, "CreateUserGroup", &[]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(proposals(&h) - sent, 1);
    assert_eq!(
        trail_after(&h, seq),
        [pair("CreateUserGroup", "MissingParameter")]
    );

    // A refused read: its nonce alone, no audit entry.
    let (seq, sent) = (last_seq(&h), proposals(&h));
    let (status, body) = call(&h, "ListUsers", &[("PageSize", "abc")]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(proposals(&h) - sent, 1);
    assert_eq!(nonces_recorded(&h) - nonces, 3);
    assert!(trail_after(&h, seq).is_empty());
    let (_, groups) = call(&h, "ListUserGroups", &[]).await;
    assert_eq!(groups["TotalCount"], 0, "{groups}");
}

#[tokio::test]
async fn a_key_that_may_change_nothing_cannot_flood_the_trail_with_refusals() {
    let h = harness();
    h.backend
        .add_access_key("flooder", "flooder-secret", Role::Auditor, None);
    let (seq, nonces) = (last_seq(&h), nonces_recorded(&h));
    let began = std::time::Instant::now();
    let tries = super::super::REFUSED_ENTRIES_BURST as usize + 10;
    for i in 0..tries {
        let name = format!("g{i}");
        let mut denied = req("CreateUserGroup", &[("UserGroupName", &name)]);
        (denied.ak, denied.secret) = ("flooder", "flooder-secret");
        assert_error(&send(&h, &denied).await, 403, "Forbidden");
    }
    // One more entry may come back each second the loop took.
    let refills = began.elapsed().as_secs() as usize + 1;
    let recorded = trail_after(&h, seq).len();
    let burst = super::super::REFUSED_ENTRIES_BURST as usize;
    assert!(
        (burst..=burst + refills).contains(&recorded),
        "{recorded} refused entries recorded of {tries}, budget {burst}"
    );
    assert!(recorded < tries, "the budget held nothing back");
    assert_eq!(
        nonces_recorded(&h) - nonces,
        tries,
        "every refused call still records its nonce"
    );
    // Another key's refusals are not held back by this one's budget.
    let seq = last_seq(&h);
    let mut other = req("CreateUserGroup", &[("UserGroupName", "x")]);
    (other.ak, other.secret) = ("auditor", "auditor-secret");
    assert_error(&send(&h, &other).await, 403, "Forbidden");
    assert_eq!(trail_after(&h, seq), [pair("CreateUserGroup", "Forbidden")]);
}

#[tokio::test]
async fn a_call_that_writes_several_times_leaves_one_entry_and_cannot_be_replayed() {
    let h = harness();
    let mut ids = Vec::new();
    for name in ["alice", "bob"] {
        match h.backend.apply_now(Command::CreateUser(NewUser {
            name: name.into(),
            ..Default::default()
        })) {
            Response::Created { id } => ids.push(id),
            other => panic!("user {name}: {other:?}"),
        }
    }
    let locked = |h: &Harness| {
        let mut out = Vec::new();
        h.backend.read(&mut |s| {
            out = ids
                .iter()
                .map(|id| s.user(*id).is_some_and(|u| u.locked))
                .collect();
        });
        out
    };
    // The first of three proposals is refused (no such user): the call still answers OK, and
    // its one entry says so.
    let list = format!("[\"999999\",\"{}\",\"{}\"]", ids[0], ids[1]);
    let lock = req("LockUsers", &[("UserIds", &list)]);
    let (seq, sent) = (last_seq(&h), proposals(&h));
    let (status, body) = send(&h, &lock).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Results"][0]["Code"], "OBJECT_NOT_FOUND", "{body}");
    assert_eq!(locked(&h), [true, true]);
    assert_eq!(proposals(&h) - sent, 4, "three changes and the audit entry");
    assert_eq!(trail_after(&h, seq), [pair("LockUsers", "OK")]);

    // Unlocked again, the same signed request replayed to another node changes nothing: its
    // first entry is refused whole, and no later change of the call is sent.
    let unlock = format!("[\"{}\",\"{}\"]", ids[0], ids[1]);
    let (status, body) = call(&h, "UnlockUsers", &[("UserIds", &unlock)]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(locked(&h), [false, false]);
    let other = api_router(h.backend.clone(), h.metrics.clone());
    let (seq, sent) = (last_seq(&h), proposals(&h));
    assert_error(
        &send_to(&other, build(&lock).0).await,
        400,
        "SignatureNonceUsed",
    );
    assert_eq!(locked(&h), [false, false]);
    assert_eq!(proposals(&h) - sent, 1, "only the refused first entry");
    assert!(trail_after(&h, seq).is_empty());
}

#[tokio::test]
async fn a_write_whose_first_change_applied_and_then_failed_says_both() {
    let h = harness();
    let host = create_host(&h, "web-1").await;
    // Two writes: the comment changes, then the move to a network domain that does not exist
    // is refused.
    let (seq, sent) = (last_seq(&h), proposals(&h));
    let resp = call(
        &h,
        "ModifyHost",
        &[
            ("HostId", &host),
            ("Comment", "on call"),
            ("NetworkDomainId", "999999"),
        ],
    )
    .await;
    assert_error(&resp, 404, "OBJECT_NOT_FOUND");
    assert_eq!(proposals(&h) - sent, 3, "{}", resp.1);
    assert_eq!(
        trail_after(&h, seq),
        [
            pair("ModifyHost", "OK"),
            pair("ModifyHost", "OBJECT_NOT_FOUND")
        ]
    );
}
