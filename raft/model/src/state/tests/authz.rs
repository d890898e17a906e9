//! Authorization tests: default deny, group grants, host-group grants and rule periods.

use super::Fx;
use crate::authz::{Principal, RuleSpec};
use crate::command::Command;
use crate::common::{Protocol, Validity};
use crate::database::{DbEngine, NewDatabase, NewDatabaseAccount};
use crate::ids::EntityKind;
use crate::rejection::Rejection;

#[test]
fn access_is_denied_by_default() {
    let mut fx = Fx::new();
    let u = fx.user("alice");
    let h = fx.host("web");
    let a = fx.account(h, "root");
    let now = fx.now;
    assert_eq!(
        fx.st.check_host_access(u, h, a, Protocol::Ssh, now),
        Err(Rejection::NotAuthorized)
    );
    assert!(fx.st.authorized_hosts(u, now).is_empty());
    let e = fx.start_node(1);
    assert_eq!(
        fx.reject(Fx::open_cmd(u, h, a, 1, e)),
        Rejection::NotAuthorized
    );
}

#[test]
fn direct_grant_covers_only_granted_accounts() {
    let mut fx = Fx::new();
    let (u, h, root) = fx.granted("alice");
    let admin = fx.account(h, "admin");
    let now = fx.now;
    assert_eq!(
        fx.st.check_host_access(u, h, root, Protocol::Ssh, now),
        Ok(())
    );
    assert_eq!(
        fx.st.check_host_access(u, h, admin, Protocol::Ssh, now),
        Err(Rejection::NotAuthorized)
    );
    assert!(matches!(
        fx.st.check_host_access(u, h, root, Protocol::Rdp, now),
        Err(Rejection::InvalidParameter { .. })
    ));
    fx.done(Command::DetachHostAccounts {
        principal: Principal::User(u),
        host_id: h,
        account_ids: None,
    });
    assert_eq!(
        fx.st.check_host_access(u, h, root, Protocol::Ssh, now),
        Err(Rejection::NotAuthorized)
    );
}

#[test]
fn group_grant_reaches_members_only() {
    let mut fx = Fx::new();
    let alice = fx.user("alice");
    let bob = fx.user("bob");
    let h = fx.host("web");
    let a = fx.account(h, "root");
    let ops = fx.group("ops", &[alice]);
    fx.grant(Principal::Group(ops), h, &[a]);
    let now = fx.now;
    assert_eq!(
        fx.st.check_host_access(alice, h, a, Protocol::Ssh, now),
        Ok(())
    );
    assert_eq!(
        fx.st.check_host_access(bob, h, a, Protocol::Ssh, now),
        Err(Rejection::NotAuthorized)
    );
    fx.done(Command::RemoveUsersFromGroup {
        group_id: ops,
        user_ids: vec![alice],
    });
    assert_eq!(
        fx.st.check_host_access(alice, h, a, Protocol::Ssh, now),
        Err(Rejection::NotAuthorized)
    );
}

#[test]
fn host_group_grant_matches_account_names() {
    let mut fx = Fx::new();
    let u = fx.user("alice");
    let h1 = fx.host("a");
    let h2 = fx.host("b");
    let r1 = fx.account(h1, "root");
    let r2 = fx.account(h2, "root");
    let other = fx.account(h2, "deploy");
    let g = fx.created(Command::CreateHostGroup {
        name: "prod".into(),
        comment: String::new(),
    });
    fx.done(Command::AddHostsToGroup {
        group_id: g,
        host_ids: vec![h1, h2],
    });
    fx.done(Command::AttachHostGroupAccounts {
        principal: Principal::User(u),
        group_id: g,
        account_names: ["root".to_string()].into(),
    });
    let hosts = fx.st.authorized_hosts(u, fx.now);
    assert_eq!(hosts.get(&h1), Some(&[r1].into()));
    assert_eq!(hosts.get(&h2), Some(&[r2].into()));
    assert!(!hosts[&h2].contains(&other));
}

#[test]
fn rule_grants_only_inside_its_period_and_while_enabled() {
    let mut fx = Fx::new();
    let u = fx.user("alice");
    let h = fx.host("web");
    let a = fx.account(h, "root");
    let start = fx.now + 1_000;
    let spec = RuleSpec {
        name: "night shift".into(),
        validity: Validity::between(start, start + 10_000),
        users: [u].into(),
        host_accounts: [(h, [a].into())].into(),
        ..Default::default()
    };
    let rule = fx.created(Command::CreateRule(spec));
    let check = |fx: &Fx, t| fx.st.check_host_access(u, h, a, Protocol::Ssh, t);
    assert_eq!(check(&fx, start - 1), Err(Rejection::NotAuthorized));
    assert_eq!(check(&fx, start), Ok(()));
    assert_eq!(check(&fx, start + 9_999), Ok(()));
    assert_eq!(check(&fx, start + 10_000), Err(Rejection::NotAuthorized));
    fx.done(Command::SetRuleEnabled {
        rule_id: rule,
        enabled: false,
    });
    assert_eq!(check(&fx, start), Err(Rejection::NotAuthorized));
}

#[test]
fn rule_references_are_validated() {
    let mut fx = Fx::new();
    let h = fx.host("web");
    let spec = RuleSpec {
        name: "r".into(),
        users: [999].into(),
        host_accounts: [(h, Default::default())].into(),
        ..Default::default()
    };
    assert_eq!(
        fx.reject(Command::CreateRule(spec)),
        Rejection::NotFound {
            kind: EntityKind::User,
            id: 999
        }
    );
}

#[test]
fn database_grant_and_protocol() {
    let mut fx = Fx::new();
    let u = fx.user("alice");
    let db = fx.created(Command::CreateDatabase(NewDatabase {
        name: "orders".into(),
        engine: DbEngine::MySql,
        address: "db.internal".into(),
        port: 3306,
        source: Default::default(),
        source_instance_id: String::new(),
        comment: String::new(),
        network_domain_id: None,
        project_id: None,
    }));
    let acc = fx.created(Command::CreateDatabaseAccount(NewDatabaseAccount {
        database_id: db,
        name: "app".into(),
        password: None,
        comment: String::new(),
    }));
    let now = fx.now;
    let check = |fx: &Fx, p| fx.st.check_database_access(u, db, acc, p, now);
    assert_eq!(check(&fx, Protocol::MySql), Err(Rejection::NotAuthorized));
    fx.done(Command::AttachDatabaseAccounts {
        principal: Principal::User(u),
        database_id: db,
        account_ids: [acc].into(),
    });
    assert_eq!(check(&fx, Protocol::MySql), Ok(()));
    assert!(check(&fx, Protocol::PostgreSql).is_err());
    assert!(fx.st.authorized_databases(u, now).contains_key(&db));
}

#[test]
fn grant_with_foreign_account_is_rejected() {
    let mut fx = Fx::new();
    let u = fx.user("alice");
    let h1 = fx.host("a");
    let h2 = fx.host("b");
    let a2 = fx.account(h2, "root");
    let r = fx.reject(Command::AttachHostAccounts {
        principal: Principal::User(u),
        host_id: h1,
        account_ids: [a2].into(),
    });
    assert!(matches!(r, Rejection::InvalidParameter { .. }));
}

#[test]
fn rule_with_user_group_and_host_group() {
    let mut fx = Fx::new();
    let u = fx.user("alice");
    let ops = fx.group("ops", &[u]);
    let h = fx.host("web");
    let a = fx.account(h, "root");
    let g = fx.created(Command::CreateHostGroup {
        name: "prod".into(),
        comment: String::new(),
    });
    fx.done(Command::AddHostsToGroup {
        group_id: g,
        host_ids: vec![h],
    });
    let now = fx.now;
    fx.created(Command::CreateRule(RuleSpec {
        name: "ops-prod".into(),
        validity: Validity {
            start_ms: None,
            end_ms: Some(now + 100),
        },
        user_groups: [ops].into(),
        host_groups: [(g, ["root".to_string()].into())].into(),
        ..Default::default()
    }));
    assert_eq!(fx.st.check_host_access(u, h, a, Protocol::Ssh, now), Ok(()));
    assert_eq!(
        fx.st.check_host_access(u, h, a, Protocol::Ssh, now + 100),
        Err(Rejection::NotAuthorized)
    );
}
