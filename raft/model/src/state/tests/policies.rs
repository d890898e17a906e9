//! Control policies: validation, scopes and which policy governs a session.

use super::Fx;
use crate::command::Command;
use crate::policy::*;
use crate::Rejection;
use std::collections::{BTreeMap, BTreeSet};

fn basics(name: &str, priority: u8) -> PolicyBasics {
    PolicyBasics {
        name: name.into(),
        comment: String::new(),
        priority,
    }
}

fn set(fx: &mut Fx, policy_id: u64, part: PolicyPart) {
    fx.done(Command::UpdatePolicy { policy_id, part });
}

#[test]
fn the_first_priority_then_the_newest_policy_covering_user_and_asset_governs() {
    let mut fx = Fx::new();
    let (alice, web, root) = fx.granted("alice");
    let bob = fx.user("bob");
    let ops = fx.group("ops", &[bob]);
    let other = fx.account(web, "deploy");
    let p1 = fx.created(Command::CreatePolicy(basics("p1", 5)));
    // A new policy covers nobody and nothing.
    assert_eq!(fx.st.policy_for_host(alice, web, root), None);
    set(&mut fx, p1, PolicyPart::Users(UserScope::All));
    assert_eq!(fx.st.policy_for_host(alice, web, root), None);
    set(
        &mut fx,
        p1,
        PolicyPart::Assets(AssetScope::Hosts(BTreeMap::from([(
            web,
            Accounts::Only(BTreeSet::from([root])),
        )]))),
    );
    let governing = |fx: &Fx, user, account| {
        fx.st
            .policy_for_host(user, web, account)
            .map(|p| p.basics.name.clone())
    };
    assert_eq!(governing(&fx, alice, root).as_deref(), Some("p1"));
    assert_eq!(governing(&fx, alice, other), None);
    // Same priority, created later: it wins. A larger number loses.
    let p2 = fx.created(Command::CreatePolicy(basics("p2", 5)));
    set(
        &mut fx,
        p2,
        PolicyPart::Users(UserScope::UserGroups([ops].into())),
    );
    set(&mut fx, p2, PolicyPart::Assets(AssetScope::All));
    let p3 = fx.created(Command::CreatePolicy(basics("p3", 9)));
    set(&mut fx, p3, PolicyPart::Users(UserScope::All));
    set(&mut fx, p3, PolicyPart::Assets(AssetScope::All));
    assert_eq!(governing(&fx, bob, root).as_deref(), Some("p2"));
    assert_eq!(governing(&fx, alice, root).as_deref(), Some("p1"));
    assert_eq!(governing(&fx, alice, other).as_deref(), Some("p3"));
    // Raising p3 above the others.
    set(&mut fx, p3, PolicyPart::Basics(basics("p3", 1)));
    assert_eq!(governing(&fx, bob, root).as_deref(), Some("p3"));
    fx.done(Command::DeletePolicy { policy_id: p3 });
    assert_eq!(governing(&fx, bob, root).as_deref(), Some("p2"));
}

#[test]
fn host_group_scopes_match_by_account_name_and_database_scopes_by_account() {
    let mut fx = Fx::new();
    let alice = fx.user("alice");
    let web = fx.host("web");
    let root = fx.account(web, "root");
    let deploy = fx.account(web, "deploy");
    let group = fx.created(Command::CreateHostGroup {
        name: "prod".into(),
        comment: String::new(),
    });
    fx.done(Command::AddHostsToGroup {
        group_id: group,
        host_ids: vec![web],
    });
    let p = fx.created(Command::CreatePolicy(basics("g", 1)));
    set(
        &mut fx,
        p,
        PolicyPart::Users(UserScope::Users([alice].into())),
    );
    set(
        &mut fx,
        p,
        PolicyPart::Assets(AssetScope::HostGroups(BTreeMap::from([(
            group,
            AccountNames::Only(BTreeSet::from(["root".to_string()])),
        )]))),
    );
    assert!(fx.st.policy_for_host(alice, web, root).is_some());
    assert!(fx.st.policy_for_host(alice, web, deploy).is_none());
    let db = fx.database("orders");
    let app = fx.database_account(db, "app");
    let d = fx.created(Command::CreatePolicy(basics("d", 1)));
    set(&mut fx, d, PolicyPart::Users(UserScope::All));
    set(
        &mut fx,
        d,
        PolicyPart::Assets(AssetScope::Databases(BTreeMap::from([(
            db,
            Accounts::Only(BTreeSet::from([app])),
        )]))),
    );
    assert!(fx.st.policy_for_database(alice, db, Some(app)).is_some());
    // An account the engineer names himself is not one of the listed accounts.
    assert!(fx.st.policy_for_database(alice, db, None).is_none());
    assert!(fx
        .st
        .policy_for_host(alice, web, root)
        .is_some_and(|x| x.id == p));
}

#[test]
fn bad_parts_are_refused_and_change_nothing() {
    let mut fx = Fx::new();
    let (_alice, web, _root) = fx.granted("alice");
    let other_host = fx.host("db-01");
    let foreign = fx.account(other_host, "root");
    let p = fx.created(Command::CreatePolicy(basics("p", 1)));
    for b in [
        basics("p", 1),
        basics("", 1),
        basics("q", 0),
        basics("q", 101),
    ] {
        fx.reject(Command::CreatePolicy(b));
    }
    let bad = [
        PolicyPart::Users(UserScope::Users([999_999].into())),
        PolicyPart::Assets(AssetScope::Hosts(BTreeMap::from([(
            web,
            Accounts::Only(BTreeSet::from([foreign])),
        )]))),
        PolicyPart::Commands(CommandControl {
            mode: ListMode::AllowOnly,
            commands: vec![],
            approval: vec![],
        }),
        PolicyPart::Commands(CommandControl {
            mode: ListMode::Deny,
            commands: vec!["rm\n-rf".into()],
            approval: vec![],
        }),
        PolicyPart::Protocols {
            ssh: SshOptions {
                shell: false,
                sftp: false,
                ..SshOptions::OPEN
            },
            rdp: RdpOptions::default(),
        },
        PolicyPart::IpAcl(IpAcl {
            mode: ListMode::AllowOnly,
            entries: vec![],
        }),
        PolicyPart::Hours(Some(AccessHours {
            week: [1 << 24; 7],
            time_zone: "UTC".into(),
        })),
    ];
    for part in bad {
        let r = fx.reject(Command::UpdatePolicy {
            policy_id: p,
            part: part.clone(),
        });
        assert!(
            matches!(
                r,
                Rejection::InvalidParameter { .. } | Rejection::NotFound { .. }
            ),
            "{part:?}: {r:?}"
        );
    }
    fx.reject(Command::UpdatePolicy {
        policy_id: 424_242,
        part: PolicyPart::Approval(true),
    });
}

#[test]
fn address_lists_match_addresses_and_blocks() {
    let acl = |mode, entries: &[&str]| IpAcl {
        mode,
        entries: entries.iter().map(|e| e.to_string()).collect(),
    };
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    let deny = acl(
        ListMode::Deny,
        &["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"],
    );
    assert!(!deny.allows(ip("10.200.1.1")));
    assert!(!deny.allows(ip("::ffff:10.1.2.3")));
    assert!(!deny.allows(ip("192.168.1.7")));
    assert!(deny.allows(ip("192.168.1.8")));
    assert!(!deny.allows(ip("2001:db8:1::5")));
    assert!(deny.allows(ip("2001:db9::5")));
    assert!(deny.allows(ip("11.0.0.1")));
    let only = acl(ListMode::AllowOnly, &["127.0.0.1", "0.0.0.0/0"]);
    assert!(only.allows(ip("8.8.8.8")));
    assert!(!only.allows(ip("::1")));
    let none = acl(ListMode::AllowOnly, &["127.0.0.2"]);
    assert!(!none.allows(ip("127.0.0.1")));
    for bad in [
        "10.0.0.0/33",
        "300.1.1.1",
        "host.example",
        "::/129",
        "1.2.3.4/",
    ] {
        assert!(parse_block(bad).is_err(), "{bad}");
    }
    let mut fx = Fx::new();
    let p = fx.created(Command::CreatePolicy(basics("p", 1)));
    let r = fx.reject(Command::UpdatePolicy {
        policy_id: p,
        part: PolicyPart::IpAcl(acl(ListMode::Deny, &["10.0.0.0/40"])),
    });
    assert!(r.to_string().contains("prefix length"), "{r}");
}

#[test]
fn a_held_command_is_decided_once_and_only_before_its_deadline() {
    use crate::approval::ApprovalState;
    let mut fx = Fx::new();
    let (u, h, a) = fx.granted("alice");
    let e = fx.start_node(1);
    let session = fx.open(u, h, a, 1, e);
    let ask = |fx: &mut Fx, deadline_ms| {
        fx.created(Command::AskCommandApproval {
            session_id: session,
            command: "systemctl restart nginx".into(),
            deadline_ms,
        })
    };
    let decide = |approval_id, accept| Command::DecideCommandApproval {
        approval_id,
        accept,
        by: "PTNadmin".into(),
    };
    let deadline = fx.now + 60_000;
    let first = ask(&mut fx, deadline);
    assert_eq!(fx.st.approvals_waiting(fx.now).count(), 1);
    fx.done(decide(first, true));
    let a1 = fx.st.command_approval(first).unwrap();
    assert_eq!(a1.state, ApprovalState::Accepted);
    assert_eq!(a1.decided_by.as_deref(), Some("PTNadmin"));
    fx.reject(decide(first, false));
    // Past its deadline a request can no longer be decided.
    let deadline = fx.now + 1_000;
    let late = ask(&mut fx, deadline);
    fx.now += 2_000;
    assert_eq!(fx.st.approvals_waiting(fx.now).count(), 0);
    fx.reject(decide(late, true));
    fx.reject(decide(424_242, true));
    // The engineer withdraws a waiting command: only its own session can, and then no
    // administrator can decide it.
    let deadline = fx.now + 60_000;
    let withdrawn = ask(&mut fx, deadline);
    let withdraw = |session_id| Command::WithdrawCommandApproval {
        approval_id: withdrawn,
        session_id,
    };
    fx.reject(withdraw(session + 1));
    fx.done(withdraw(session));
    assert_eq!(
        fx.st.command_approval(withdrawn).map(|a| a.state),
        Some(ApprovalState::Withdrawn)
    );
    assert_eq!(fx.st.approvals_waiting(fx.now).count(), 0);
    let r = fx.reject(decide(withdrawn, true));
    assert!(r.to_string().contains("withdrew"), "{r}");
    fx.reject(withdraw(session));
    fx.reject(Command::AskCommandApproval {
        session_id: 999_999,
        command: "ls".into(),
        deadline_ms: fx.now + 60_000,
    });
}

#[test]
fn under_o_and_m_approval_a_logon_needs_an_approved_request_within_its_period_and_uses() {
    use crate::common::{AssetRef, Protocol};
    use crate::ticket::{NewTicket, TicketDecision};
    let mut fx = Fx::new();
    let (u, h, a) = fx.granted("alice");
    let e = fx.start_node(1);
    let p = fx.created(Command::CreatePolicy(basics("gated", 1)));
    set(&mut fx, p, PolicyPart::Users(UserScope::All));
    set(&mut fx, p, PolicyPart::Assets(AssetScope::All));
    set(&mut fx, p, PolicyPart::Approval(true));
    let refused = fx.reject(Fx::open_cmd(u, h, a, 1, e));
    assert!(
        matches!(refused, Rejection::ApprovalRequired { .. }),
        "{refused:?}"
    );
    let ticket = |one_time| {
        Command::CreateOperationTicket(NewTicket {
            user_id: u,
            asset: AssetRef::Host(h),
            account_name: "root".into(),
            protocol: Protocol::Ssh,
            comment: "deploy".into(),
            start_ms: None,
            end_ms: None,
            one_time,
        })
    };
    let decide = |ticket_id, accept, end_ms| Command::DecideOperationTicket {
        ticket_id,
        decision: TicketDecision {
            end_ms,
            ..TicketDecision::as_asked(accept, "PTNadmin")
        },
    };
    let once = fx.created(ticket(true));
    fx.reject(Fx::open_cmd(u, h, a, 1, e));
    fx.done(decide(once, true, None));
    fx.reject(decide(once, false, None));
    let first = fx.open(u, h, a, 1, e);
    assert!(first > 0);
    // One logon only.
    fx.reject(Fx::open_cmd(u, h, a, 1, e));
    // A rejected request admits nothing; an approved one only within its period.
    let no = fx.created(ticket(false));
    fx.done(decide(no, false, None));
    fx.reject(Fx::open_cmd(u, h, a, 1, e));
    let end = fx.now + 1_000;
    let until = fx.created(ticket(false));
    fx.done(decide(until, true, Some(end)));
    fx.open(u, h, a, 1, e);
    fx.open(u, h, a, 1, e);
    fx.now += 2_000;
    fx.reject(Fx::open_cmd(u, h, a, 1, e));
    // Approval off: logons need no request.
    set(&mut fx, p, PolicyPart::Approval(false));
    fx.open(u, h, a, 1, e);
}

#[test]
fn under_o_and_m_approval_a_token_is_not_renewed_by_its_engineer() {
    use crate::common::{AssetRef, Protocol};
    use crate::ticket::{NewTicket, TicketDecision};
    let mut fx = Fx::new();
    let (u, h, a) = fx.granted("alice");
    let receipt = fx.issue(u, h, a, 1, None);
    let renew = Command::RenewToken {
        token_id: receipt.token_id,
        user_id: Some(u),
    };
    let p = fx.created(Command::CreatePolicy(basics("gated", 1)));
    set(&mut fx, p, PolicyPart::Users(UserScope::All));
    set(&mut fx, p, PolicyPart::Assets(AssetScope::All));
    set(&mut fx, p, PolicyPart::Approval(true));
    // Even with an approved request without an end, the engineer cannot extend the token.
    let ticket = fx.created(Command::CreateOperationTicket(NewTicket {
        user_id: u,
        asset: AssetRef::Host(h),
        account_name: "root".into(),
        protocol: Protocol::Ssh,
        comment: "deploy".into(),
        start_ms: None,
        end_ms: None,
        one_time: false,
    }));
    fx.done(Command::DecideOperationTicket {
        ticket_id: ticket,
        decision: TicketDecision::as_asked(true, "PTNadmin"),
    });
    match fx.reject(renew.clone()) {
        Rejection::InvalidParameter { name, reason } => {
            assert_eq!(name, "TokenId");
            assert!(reason.contains("self-renewal is not available"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // Approval off: the engineer renews again.
    set(&mut fx, p, PolicyPart::Approval(false));
    assert!(matches!(fx.run(renew), crate::Response::TokenRenewed(_)));
}
