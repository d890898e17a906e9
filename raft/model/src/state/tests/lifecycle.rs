//! Entity lifecycle tests: validation, uniqueness, lockout, cascades and admin data.

use super::Fx;
use crate::authz::{Principal, RuleSpec};
use crate::command::Command;
use crate::common::{AssetRef, Protocol, Validity};
use crate::host::HostPatch;
use crate::ids::{EntityKind, UserId};
use crate::rejection::Rejection;
use crate::response::Response;
use crate::sealed::Sealed;
use crate::settings::{ResourceRef, Role};
use crate::user::NewUser;

#[test]
fn names_are_unique_and_validated() {
    let mut fx = Fx::new();
    fx.user("alice");
    let dup = Command::CreateUser(NewUser {
        name: "alice".into(),
        ..Default::default()
    });
    assert_eq!(
        fx.reject(dup),
        Rejection::AlreadyExists {
            kind: EntityKind::User,
            name: "alice".into()
        }
    );
    let empty = Command::CreateUser(NewUser::default());
    assert!(matches!(
        fx.reject(empty),
        Rejection::InvalidParameter { .. }
    ));
    let a = fx.host("a");
    fx.host("b");
    let rename = Command::UpdateHost {
        host_id: a,
        patch: HostPatch {
            name: Some("b".into()),
            ..Default::default()
        },
    };
    assert!(matches!(fx.reject(rename), Rejection::AlreadyExists { .. }));
}

#[test]
fn ids_are_assigned_in_order() {
    let mut fx = Fx::new();
    let u = fx.user("alice");
    let h = fx.host("web");
    assert_eq!((u, h), (1, 2));
    assert_eq!(fx.st.user_by_name("alice").map(|u| u.id), Some(1));
    assert_eq!(fx.st.host_by_name("web").map(|h| h.id), Some(2));
}

/// Records a wrong password and returns (failed logins, locked until).
fn fail(fx: &mut Fx, u: UserId) -> (u32, Option<u64>) {
    match fx.run(Command::RecordLoginFailure { user_id: u }) {
        Response::LoginRecorded {
            failed_logins,
            locked_until_ms,
            ..
        } => (failed_logins, locked_until_ms),
        other => panic!("unexpected {other:?}"),
    }
}

fn lock_settings(fx: &mut Fx) {
    fx.settings(|s| {
        s.login_lock_threshold = 3;
        s.login_lock_window_secs = 600;
        s.login_lock_secs = 60;
        s.login_lock_max_secs = 200;
    });
}

#[test]
fn wrong_passwords_lock_the_password_for_a_while_with_growing_back_off() {
    let mut fx = Fx::new();
    let u = fx.user("alice");
    lock_settings(&mut fx);
    assert_eq!(fail(&mut fx, u), (1, None));
    assert_eq!(fail(&mut fx, u), (2, None));
    let t0 = fx.now;
    assert_eq!(
        fail(&mut fx, u),
        (0, Some(t0 + 60_000)),
        "third failure locks"
    );
    let user = fx.st.user(u).cloned().expect("user");
    assert!(user.password_locked(t0));
    assert!(!user.locked, "not an administrator's lock");
    assert!(
        fx.st.check_user_active(u, t0).is_ok(),
        "keys and tokens still work"
    );

    // Failures during the lockout are not counted and do not lengthen it.
    fx.now += 30_000;
    assert_eq!(fail(&mut fx, u), (0, Some(t0 + 60_000)));
    fx.now = t0 + 60_000;
    assert!(!fx.st.user(u).expect("user").password_locked(fx.now));

    // The next lockout in a row lasts twice as long, then the maximum.
    for _ in 0..2 {
        fail(&mut fx, u);
    }
    assert_eq!(fail(&mut fx, u).1, Some(fx.now + 120_000));
    fx.now += 120_000;
    for _ in 0..2 {
        fail(&mut fx, u);
    }
    assert_eq!(fail(&mut fx, u).1, Some(fx.now + 200_000), "capped");

    // An administrator unlocks early; the back-off starts again.
    fx.done(Command::UnlockUsers { user_ids: vec![u] });
    let user = fx.st.user(u).cloned().expect("user");
    assert!(!user.password_locked(fx.now));
    assert_eq!((user.failed_logins, user.lockouts), (0, 0));
    for _ in 0..2 {
        fail(&mut fx, u);
    }
    assert_eq!(fail(&mut fx, u).1, Some(fx.now + 60_000));
}

#[test]
fn failures_outside_the_window_start_a_new_count() {
    let mut fx = Fx::new();
    let u = fx.user("alice");
    lock_settings(&mut fx);
    fail(&mut fx, u);
    fail(&mut fx, u);
    fx.now += 600_000;
    assert_eq!(fail(&mut fx, u), (1, None), "the window began again");
}

#[test]
fn an_administrators_lock_stays_until_unlocked() {
    let mut fx = Fx::new();
    let u = fx.user("alice");
    fx.done(Command::LockUsers { user_ids: vec![u] });
    fx.now += 86_400_000;
    let user = fx.st.user(u).cloned().expect("user");
    assert!(user.password_locked(fx.now));
    assert_eq!(
        fx.st.check_user_active(u, fx.now).err(),
        Some(Rejection::UserLocked)
    );
    assert_eq!(
        fx.reject(Command::RecordLoginSuccess { user_id: u }),
        Rejection::UserLocked
    );
    fx.done(Command::UnlockUsers { user_ids: vec![u] });
    assert!(fx.st.check_user_active(u, fx.now).is_ok());
}

#[test]
fn lock_settings_are_checked() {
    let mut fx = Fx::new();
    let mut s = fx.st.settings().clone();
    s.login_lock_secs = 600;
    s.login_lock_max_secs = 60;
    assert!(matches!(
        fx.reject(Command::UpdateSettings(s)),
        Rejection::InvalidParameter { .. }
    ));
}

#[test]
fn the_approval_wait_is_bounded() {
    let mut fx = Fx::new();
    for (secs, ok) in [(9, false), (10, true), (86_400, true), (86_401, false)] {
        let mut s = fx.st.settings().clone();
        s.command_approval_wait_secs = secs;
        match ok {
            true => fx.done(Command::UpdateSettings(s)),
            false => {
                let r = fx.reject(Command::UpdateSettings(s));
                assert!(r.to_string().contains("command_approval_wait_secs"), "{r}");
            }
        }
    }
}

#[test]
fn success_resets_the_failure_counter() {
    let mut fx = Fx::new();
    let u = fx.user("alice");
    fx.run(Command::RecordLoginFailure { user_id: u });
    fx.run(Command::RecordLoginFailure { user_id: u });
    fx.run(Command::RecordLoginSuccess { user_id: u });
    let user = fx.st.user(u).cloned().expect("user");
    assert_eq!((user.failed_logins, user.failures_since_ms), (0, None));
    assert_eq!(user.last_login_ms, Some(fx.now));
}

#[test]
fn user_outside_validity_is_refused() {
    let mut fx = Fx::new();
    let (u, h, a) = fx.granted("alice");
    let now = fx.now;
    fx.done(Command::UpdateUser {
        user_id: u,
        patch: crate::user::UserPatch {
            validity: Some(Validity::between(now + 10, now + 20)),
            ..Default::default()
        },
    });
    assert_eq!(
        fx.st.check_host_access(u, h, a, Protocol::Ssh, now),
        Err(Rejection::UserExpired)
    );
    assert_eq!(
        fx.st.check_host_access(u, h, a, Protocol::Ssh, now + 10),
        Ok(())
    );
}

#[test]
fn deleting_a_user_cascades() {
    let mut fx = Fx::new();
    let (u, h, a) = fx.granted("alice");
    let g = fx.group("ops", &[u]);
    fx.issue(u, h, a, 5, None);
    let rule = fx.created(Command::CreateRule(RuleSpec {
        name: "r".into(),
        users: [u].into(),
        ..Default::default()
    }));
    fx.done(Command::CreateAccessKey {
        access_key_id: "AK1".into(),
        secret: Sealed(vec![1]),
        role: Role::Operator,
        user_id: Some(u),
        comment: String::new(),
    });
    let e = fx.start_node(1);
    let s = fx.open(u, h, a, 1, e);
    fx.done(Command::DeleteUser { user_id: u });
    assert!(fx.st.user(u).is_none());
    assert!(fx.st.user_group(g).is_some_and(|g| g.members.is_empty()));
    assert!(fx.st.host_grants_of(Principal::User(u)).is_empty());
    assert!(fx.st.token_by_hash(&[5; 32]).is_none());
    assert!(fx.st.rule(rule).is_some_and(|r| r.spec.users.is_empty()));
    assert!(fx.st.access_key("AK1").is_none());
    assert!(fx.st.session(s).is_some_and(|s| s.terminate_requested));
}

#[test]
fn deleting_a_host_cascades_to_accounts_grants_tokens_and_groups() {
    let mut fx = Fx::new();
    let (u, h, a) = fx.granted("alice");
    fx.issue(u, h, a, 5, None);
    let g = fx.created(Command::CreateHostGroup {
        name: "prod".into(),
        comment: String::new(),
    });
    fx.done(Command::AddHostsToGroup {
        group_id: g,
        host_ids: vec![h],
    });
    fx.done(Command::TrustHostKey {
        host_id: h,
        fingerprint: "SHA256:abc".into(),
    });
    fx.done(Command::TagResources {
        resources: vec![ResourceRef::Host(h)],
        tags: [("env".to_string(), "prod".to_string())].into(),
    });
    fx.done(Command::DeleteHost { host_id: h });
    assert!(fx.st.host(h).is_none());
    assert!(fx.st.host_account(a).is_none());
    assert!(fx.st.authorized_hosts(u, fx.now).is_empty());
    assert!(fx.st.token_by_hash(&[5; 32]).is_none());
    assert!(fx.st.host_group(g).is_some_and(|g| g.hosts.is_empty()));
    assert!(fx.st.host_key_fingerprint(h).is_none());
    assert!(fx.st.tags_of(ResourceRef::Host(h)).is_none());
}

#[test]
fn deleting_an_account_removes_it_from_grants() {
    let mut fx = Fx::new();
    let (u, h, a) = fx.granted("alice");
    fx.done(Command::DeleteHostAccount { account_id: a });
    let hosts = fx.st.authorized_hosts(u, fx.now);
    assert_eq!(hosts.get(&h).map(|s| s.len()), Some(0));
    assert!(matches!(
        fx.reject(Command::DeleteHostAccount { account_id: a }),
        Rejection::NotFound { .. }
    ));
}

#[test]
fn account_requires_existing_host() {
    let mut fx = Fx::new();
    let cmd = Command::CreateHostAccount(crate::host::NewHostAccount {
        host_id: 42,
        name: "root".into(),
        protocol: Protocol::Ssh,
        password: Some(Sealed(vec![9])),
        private_key: None,
        shared_key_id: None,
        sftp_only: false,
    });
    assert_eq!(
        fx.reject(cmd),
        Rejection::NotFound {
            kind: EntityKind::Host,
            id: 42
        }
    );
}

#[test]
fn host_key_trust_on_first_use() {
    let mut fx = Fx::new();
    let h = fx.host("web");
    let trust = |fp: &str| Command::TrustHostKey {
        host_id: h,
        fingerprint: fp.into(),
    };
    fx.done(trust("SHA256:one"));
    fx.done(trust("SHA256:one"));
    assert_eq!(
        fx.reject(trust("SHA256:two")),
        Rejection::HostKeyMismatch { host_id: h }
    );
    fx.done(Command::SetHostKey {
        host_id: h,
        fingerprint: Some("SHA256:two".into()),
    });
    assert_eq!(fx.st.host_key_fingerprint(h), Some("SHA256:two"));
}

#[test]
fn ssh_host_key_first_writer_wins() {
    let mut fx = Fx::new();
    let set = |b, only| Command::SetSshHostKey {
        key: Sealed(vec![b]),
        only_if_absent: only,
    };
    fx.done(set(1, true));
    fx.done(set(2, true));
    assert_eq!(fx.st.ssh_host_key(), Some(&Sealed(vec![1])));
    fx.done(set(3, false));
    assert_eq!(fx.st.ssh_host_key(), Some(&Sealed(vec![3])));
}

#[test]
fn shared_key_delete_detaches_accounts() {
    let mut fx = Fx::new();
    let h = fx.host("web");
    let a = fx.account(h, "root");
    let k = fx.created(Command::CreateSharedKey {
        name: "k".into(),
        private_key: Sealed(vec![1, 2]),
        fingerprint: "SHA256:k".into(),
        comment: String::new(),
    });
    fx.done(Command::AttachAccountsToSharedKey {
        key_id: k,
        account_ids: vec![a],
    });
    assert_eq!(fx.st.host_account(a).and_then(|a| a.shared_key_id), Some(k));
    fx.done(Command::DeleteSharedKey { key_id: k });
    assert_eq!(fx.st.host_account(a).and_then(|a| a.shared_key_id), None);
}

#[test]
fn custom_account_token_needs_host_grant() {
    let mut fx = Fx::new();
    let (u, h, _) = fx.granted("alice");
    let e = fx.start_node(1);
    let r = fx.run(Command::IssueToken(crate::token::NewToken {
        database_schema: None,
        mysql_native: None,
        pg_scram: None,
        issued_by: None,
        token_hash: [4; 32],
        user_id: u,
        asset: AssetRef::Host(h),
        account: crate::token::TokenAccount::Custom {
            name: "oracle".into(),
            password: Some(Sealed(vec![7])),
        },
        protocol: Protocol::Ssh,
        validity_secs: Some(60),
        use_count: Some(1),
    }));
    assert!(matches!(r, Response::TokenIssued(_)), "{r:?}");
    let g = fx.spend(4, 1, e);
    assert_eq!(
        g.account,
        crate::session::SessionAccount::Custom("oracle".into())
    );
}

#[test]
fn bad_settings_are_rejected() {
    let mut fx = Fx::new();
    let mut s = fx.st.settings().clone();
    s.token_validity_secs = 0;
    assert!(matches!(
        fx.reject(Command::UpdateSettings(s)),
        Rejection::InvalidParameter { .. }
    ));
}

#[test]
fn deleting_a_network_domain_returns_assets_to_direct() {
    let mut fx = Fx::new();
    let h = fx.host("web");
    let d = fx.created(Command::CreateNetworkDomain(crate::NetworkDomainSpec {
        name: "dmz".into(),
        kind: crate::DomainKind::Direct,
        ..Default::default()
    }));
    fx.done(Command::MoveHostsToNetworkDomain {
        domain_id: Some(d),
        host_ids: vec![h],
    });
    assert_eq!(fx.st.host(h).and_then(|h| h.network_domain_id), Some(d));
    fx.done(Command::DeleteNetworkDomain { domain_id: d });
    assert_eq!(fx.st.host(h).and_then(|h| h.network_domain_id), None);
}

fn jump(node_type: &str, address: &str) -> crate::NetworkProxy {
    crate::NetworkProxy {
        proxy_type: "SSHProxy".into(),
        address: address.into(),
        port: 22,
        user: "jump".into(),
        password: Some(Sealed(vec![1])),
        node_type: node_type.into(),
        host_key_fingerprint: None,
    }
}

#[test]
fn proxy_domains_name_usable_proxies() {
    let mut fx = Fx::new();
    let spec = |proxies| crate::NetworkDomainSpec {
        name: "dmz".into(),
        kind: crate::DomainKind::Proxy,
        comment: String::new(),
        proxies,
    };
    let refused = |fx: &mut Fx, proxies, field: &str| {
        let r = fx.reject(Command::CreateNetworkDomain(spec(proxies)));
        assert!(
            matches!(&r, Rejection::InvalidParameter { name, .. } if name == field),
            "{r:?}"
        );
    };
    refused(&mut fx, vec![], "Proxies");
    let mut odd = jump("Master", "10.0.0.2");
    odd.proxy_type = "FTPProxy".into();
    refused(&mut fx, vec![odd], "ProxyType");
    let mut nameless = jump("Master", "10.0.0.2");
    nameless.user.clear();
    refused(&mut fx, vec![nameless], "Proxies");
    let twice = vec![jump("Master", "10.0.0.2"), jump("Master", "10.0.0.3")];
    refused(&mut fx, twice, "NodeType");
    let mut socks = jump("Slave", "10.0.0.3");
    socks.proxy_type = "Socks5Proxy".into();
    socks.user.clear();
    socks.password = None;
    fx.created(Command::CreateNetworkDomain(spec(vec![
        jump("Master", "10.0.0.2"),
        socks,
    ])));
}

#[test]
fn ssh_proxy_host_keys_are_trusted_on_first_use_and_then_held() {
    let mut fx = Fx::new();
    let d = fx.created(Command::CreateNetworkDomain(crate::NetworkDomainSpec {
        name: "dmz".into(),
        kind: crate::DomainKind::Proxy,
        comment: String::new(),
        proxies: vec![jump("Master", "10.0.0.2")],
    }));
    let trust = |address: &str, fp: &str| Command::TrustProxyHostKey {
        domain_id: d,
        node_type: "Master".into(),
        address: address.into(),
        port: 22,
        fingerprint: fp.into(),
    };
    fx.reject(trust("10.0.0.9", "SHA256:a"));
    fx.done(trust("10.0.0.2", "SHA256:a"));
    fx.done(trust("10.0.0.2", "SHA256:a"));
    let r = fx.reject(trust("10.0.0.2", "SHA256:b"));
    assert!(matches!(r, Rejection::InvalidParameter { .. }), "{r:?}");
    let pin = |fx: &Fx| {
        fx.st
            .network_domain(d)
            .and_then(|d| d.spec.proxies[0].host_key_fingerprint.clone())
    };
    assert_eq!(pin(&fx).as_deref(), Some("SHA256:a"));
    // A change read before the pin keeps it; forgetting or moving the proxy drops it.
    let update = |proxy, forget: &[&str]| Command::UpdateNetworkDomain {
        domain_id: d,
        spec: crate::NetworkDomainSpec {
            name: "dmz".into(),
            kind: crate::DomainKind::Proxy,
            comment: "changed".into(),
            proxies: vec![proxy],
        },
        forget_host_keys: forget.iter().map(|s| s.to_string()).collect(),
    };
    fx.done(update(jump("Master", "10.0.0.2"), &[]));
    assert_eq!(pin(&fx).as_deref(), Some("SHA256:a"));
    fx.done(update(jump("Master", "10.0.0.2"), &["Master"]));
    assert_eq!(pin(&fx), None);
    fx.done(trust("10.0.0.2", "SHA256:a"));
    fx.done(update(jump("Master", "10.0.0.7"), &[]));
    assert_eq!(pin(&fx), None);
    // Only SSH proxies have keys to trust.
    let mut socks = jump("Master", "10.0.0.2");
    socks.proxy_type = "Socks5Proxy".into();
    socks.user.clear();
    socks.password = None;
    fx.done(update(socks, &[]));
    fx.reject(trust("10.0.0.2", "SHA256:a"));
    // A Proxy domain is not deleted while it reaches assets: they would go direct.
    let h = fx.host("web");
    fx.done(Command::MoveHostsToNetworkDomain {
        domain_id: Some(d),
        host_ids: vec![h],
    });
    let r = fx.reject(Command::DeleteNetworkDomain { domain_id: d });
    assert!(r.to_string().contains("1 host(s)"), "{r}");
}

#[test]
fn access_keys_are_unique_and_tags_bounded() {
    let mut fx = Fx::new();
    let key = || Command::CreateAccessKey {
        access_key_id: "AK".into(),
        secret: Sealed(vec![1]),
        role: Role::Admin,
        user_id: None,
        comment: String::new(),
    };
    fx.done(key());
    assert!(matches!(fx.reject(key()), Rejection::AlreadyExists { .. }));
    fx.done(Command::SetAccessKeyEnabled {
        access_key_id: "AK".into(),
        enabled: false,
    });
    assert!(fx.st.access_key("AK").is_some_and(|k| !k.enabled));
    let tags: std::collections::BTreeMap<String, String> = (0..21)
        .map(|i| (format!("k{i}"), "v".to_string()))
        .collect();
    let too_many = Command::TagResources {
        resources: vec![ResourceRef::Instance],
        tags,
    };
    assert!(matches!(
        fx.reject(too_many),
        Rejection::InvalidParameter { .. }
    ));
}
