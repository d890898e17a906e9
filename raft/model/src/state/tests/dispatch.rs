//! Every command variant reaches a handler, and every rejection leaves the state untouched.

use super::Fx;
use crate::authz::{Principal, RuleSpec};
use crate::command::{Command, Request};
use crate::common::{AssetRef, Protocol};
use crate::database::{DbEngine, NetworkDomainSpec, NewDatabase, NewDatabaseAccount};
use crate::host::{AddressType, CredentialKind, NewHost, NewHostAccount};
use crate::project::{DelegationKind, DelegationSpec};
use crate::response::Response;
use crate::sealed::Sealed;
use crate::session::EndReason;
use crate::settings::{ClusterSettings, ResourceRef, Role};
use crate::token::{NewToken, TokenAccount};
use crate::user::NewUser;
use crate::Rejection;

fn users_and_hosts() -> Vec<Command> {
    vec![
        Command::CreateUser(NewUser::default()),
        Command::UpdateUser {
            user_id: 999,
            patch: Default::default(),
        },
        Command::DeleteUser { user_id: 999 },
        Command::SetUserPassword {
            user_id: 1,
            password_hash: Some("$argon2id$x".into()),
        },
        Command::LockUsers {
            user_ids: vec![1, 999],
        },
        Command::UnlockUsers { user_ids: vec![1] },
        Command::RecordLoginFailure { user_id: 999 },
        Command::RecordLoginSuccess { user_id: 1 },
        Command::EnrollTotp {
            user_id: 999,
            secret: Sealed(vec![1]),
            recovery_codes: vec![],
        },
        Command::ConfirmTotp {
            user_id: 1,
            secret: Sealed(vec![1]),
            step: 1,
        },
        Command::UseTotpStep {
            user_id: 1,
            secret: Sealed(vec![1]),
            step: 1,
        },
        Command::UseRecoveryCode {
            user_id: 1,
            code_hash: [0; 32],
        },
        Command::RecordSecondFactorFailure { user_id: 1 },
        Command::ResetTotp { user_id: 999 },
        Command::AddUserPublicKey {
            user_id: 1,
            name: "k".into(),
            public_key: "ssh-ed25519 AAAA".into(),
            fingerprint: "SHA256:x".into(),
            comment: String::new(),
        },
        Command::UpdateUserPublicKey {
            user_id: 1,
            key_id: 999,
            name: None,
            comment: None,
        },
        Command::RemoveUserPublicKey {
            user_id: 1,
            key_id: 999,
        },
        Command::CreateUserGroup {
            name: "g".into(),
            comment: String::new(),
        },
        Command::UpdateUserGroup {
            group_id: 999,
            name: "g".into(),
            comment: String::new(),
        },
        Command::DeleteUserGroup { group_id: 999 },
        Command::AddUsersToGroup {
            group_id: 999,
            user_ids: vec![],
        },
        Command::RemoveUsersFromGroup {
            group_id: 999,
            user_ids: vec![],
        },
        Command::CreateHost(NewHost::default()),
        Command::UpdateHost {
            host_id: 999,
            patch: Default::default(),
        },
        Command::DeleteHost { host_id: 999 },
        Command::SetHostsPort {
            host_ids: vec![2],
            protocol: Protocol::MySql,
            port: 22,
        },
        Command::SetHostsActiveAddress {
            host_ids: vec![999],
            address_type: AddressType::Public,
        },
        Command::CreateHostAccount(NewHostAccount {
            host_id: 2,
            name: "root".into(),
            protocol: Protocol::Ssh,
            password: None,
            private_key: None,
            shared_key_id: None,
            sftp_only: true,
        }),
        Command::UpdateHostAccount {
            account_id: 999,
            patch: Default::default(),
        },
        Command::DeleteHostAccount { account_id: 999 },
        Command::ResetHostAccountCredential {
            account_id: 3,
            kind: CredentialKind::Password,
        },
        Command::CreateSharedKey {
            name: "k".into(),
            private_key: Sealed(vec![]),
            fingerprint: "f".into(),
            comment: String::new(),
        },
        Command::UpdateSharedKey {
            key_id: 999,
            name: None,
            private_key: None,
            fingerprint: None,
            comment: None,
        },
        Command::DeleteSharedKey { key_id: 999 },
        Command::AttachAccountsToSharedKey {
            key_id: 999,
            account_ids: vec![],
        },
        Command::DetachAccountsFromSharedKey {
            key_id: 999,
            account_ids: vec![],
        },
        Command::CreateHostGroup {
            name: String::new(),
            comment: String::new(),
        },
        Command::UpdateHostGroup {
            group_id: 999,
            name: "x".into(),
            comment: String::new(),
        },
        Command::DeleteHostGroup { group_id: 999 },
        Command::AddHostsToGroup {
            group_id: 999,
            host_ids: vec![],
        },
        Command::RemoveHostsFromGroup {
            group_id: 999,
            host_ids: vec![],
        },
        Command::AddDatabasesToGroup {
            group_id: 999,
            database_ids: vec![],
        },
        Command::RemoveDatabasesFromGroup {
            group_id: 999,
            database_ids: vec![],
        },
        Command::TrustHostKey {
            host_id: 2,
            fingerprint: "SHA256:z".into(),
        },
        Command::SetHostKey {
            host_id: 999,
            fingerprint: None,
        },
    ]
}

fn databases_and_grants() -> Vec<Command> {
    vec![
        Command::CreateDatabase(NewDatabase {
            name: "d".into(),
            engine: DbEngine::Oracle,
            address: "a".into(),
            port: 0,
            source: Default::default(),
            source_instance_id: String::new(),
            comment: String::new(),
            network_domain_id: None,
            project_id: None,
        }),
        Command::UpdateDatabase {
            database_id: 999,
            patch: Default::default(),
        },
        Command::DeleteDatabase { database_id: 999 },
        Command::CreateDatabaseAccount(NewDatabaseAccount {
            database_id: 999,
            name: "a".into(),
            password: None,
            comment: String::new(),
        }),
        Command::UpdateDatabaseAccount {
            account_id: 999,
            patch: Default::default(),
        },
        Command::DeleteDatabaseAccount { account_id: 999 },
        Command::CreateNetworkDomain(NetworkDomainSpec::default()),
        Command::UpdateNetworkDomain {
            domain_id: 999,
            spec: Default::default(),
            forget_host_keys: Vec::new(),
        },
        Command::DeleteNetworkDomain { domain_id: 999 },
        Command::MoveHostsToNetworkDomain {
            domain_id: Some(999),
            host_ids: vec![2],
        },
        Command::MoveDatabasesToNetworkDomain {
            domain_id: None,
            database_ids: vec![999],
        },
        Command::CreateProject {
            name: String::new(),
            description: String::new(),
        },
        Command::UpdateProject {
            project_id: 0,
            name: "p".into(),
            description: String::new(),
        },
        Command::DeleteProject { project_id: 999 },
        Command::ImportConfiguration(Box::default()),
        Command::MoveHostsToProject {
            from: Some(999),
            to: 0,
            host_ids: vec![2],
        },
        Command::MoveDatabasesToProject {
            from: None,
            to: 999,
            database_ids: vec![],
        },
        Command::CreateDelegation {
            kind: DelegationKind::Manage,
            spec: DelegationSpec {
                name: String::new(),
                description: String::new(),
                all_projects: true,
            },
        },
        Command::UpdateDelegation {
            kind: DelegationKind::Review,
            delegation_id: 999,
            spec: DelegationSpec {
                name: "r".into(),
                description: String::new(),
                all_projects: false,
            },
        },
        Command::DeleteDelegation {
            kind: DelegationKind::Review,
            delegation_id: 999,
        },
        Command::SetDelegationProjects {
            kind: DelegationKind::Manage,
            delegation_id: 999,
            project_ids: vec![0],
            attach: true,
        },
        Command::SetDelegationUsers {
            kind: DelegationKind::Manage,
            delegation_id: 999,
            user_ids: vec![1],
            attach: false,
        },
        Command::AttachHostAccounts {
            principal: Principal::Group(999),
            host_id: 2,
            account_ids: Default::default(),
        },
        Command::DetachHostAccounts {
            principal: Principal::User(1),
            host_id: 2,
            account_ids: Some([3].into()),
        },
        Command::AttachHostGroupAccounts {
            principal: Principal::User(1),
            group_id: 999,
            account_names: Default::default(),
        },
        Command::DetachHostGroupAccounts {
            principal: Principal::User(1),
            group_id: 999,
            account_names: None,
        },
        Command::AttachDatabaseAccounts {
            principal: Principal::User(1),
            database_id: 999,
            account_ids: Default::default(),
        },
        Command::DetachDatabaseAccounts {
            principal: Principal::User(1),
            database_id: 999,
            account_ids: None,
        },
        Command::CreateRule(RuleSpec::default()),
        Command::UpdateRule {
            rule_id: 999,
            spec: Default::default(),
        },
        Command::SetRuleEnabled {
            rule_id: 999,
            enabled: true,
        },
        Command::DeleteRule { rule_id: 999 },
    ]
}

fn tokens_sessions_admin() -> Vec<Command> {
    vec![
        Command::IssueToken(NewToken {
            database_schema: None,
            mysql_native: None,
            pg_scram: None,
            issued_by: None,
            token_hash: [1; 32],
            user_id: 1,
            asset: AssetRef::Host(2),
            account: TokenAccount::Hosted(3),
            protocol: Protocol::Ssh,
            validity_secs: None,
            use_count: None,
        }),
        Command::RenewToken {
            token_id: 999,
            user_id: None,
        },
        Command::RevokeToken { token_id: 999 },
        Fx::spend_cmd(2, 1, 1),
        Command::PurgeTokens {
            expired_before_ms: 0,
        },
        Command::NodeStarted { node_id: 5 },
        Command::ReclaimNode { node_id: 1 },
        Fx::open_cmd(1, 2, 3, 1, 99),
        Command::CloseSession {
            session_id: 999,
            node_id: 1,
            node_epoch: 1,
            reason: EndReason::Error,
            bytes_up: 0,
            bytes_down: 0,
            events: None,
        },
        Command::RequestTermination { session_id: 999 },
        Command::PurgeSessions { ended_before_ms: 0 },
        Command::UpdateSettings(ClusterSettings::default()),
        Command::SetSshHostKey {
            key: Sealed(vec![]),
            only_if_absent: false,
        },
        Command::CreateAccessKey {
            access_key_id: "AK".into(),
            secret: Sealed(vec![1]),
            role: Role::Operator,
            user_id: None,
            comment: String::new(),
        },
        Command::SetAccessKeyEnabled {
            access_key_id: "none".into(),
            enabled: false,
        },
        Command::DeleteAccessKey {
            access_key_id: "none".into(),
        },
        Command::SetInstanceDescription(String::new()),
        Command::SetInstanceEndpoints {
            internet: "https://bastion".into(),
            intranet: String::new(),
        },
        Command::TagResources {
            resources: vec![ResourceRef::Host(999)],
            tags: Default::default(),
        },
        Command::UntagResources {
            resources: vec![ResourceRef::Instance],
            keys: vec![],
            all: true,
        },
        Command::SetLdapSettings(None),
        Command::SetAdSettings(Some(Default::default())),
        Command::SetOidcSettings(None),
        Command::SetTwoFactorSettings(Default::default()),
        Command::SyncDirectory {
            source: crate::user::UserSource::Ad,
            entries: vec![Default::default()],
        },
        Command::DirectorySyncFailed {
            source: crate::user::UserSource::Ldap,
            error: "down".into(),
        },
        Command::RecordNonce {
            access_key_id: "none".into(),
            key: [7; 16],
            request_ms: u64::MAX,
        },
    ]
}

#[test]
fn every_variant_is_handled_and_rejections_change_nothing() {
    let mut fx = Fx::new();
    let (u, h, a) = fx.granted("alice");
    assert_eq!((u, h, a), (1, 2, 3));
    fx.start_node(1);
    let base = fx.st.clone();
    let all: Vec<Command> = users_and_hosts()
        .into_iter()
        .chain(databases_and_grants())
        .chain(tokens_sessions_admin())
        .collect();
    let variants: std::collections::BTreeSet<String> = all
        .iter()
        .map(|c| {
            format!("{c:?}")
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect()
        })
        .collect();
    assert_eq!(variants.len(), 104, "one sample per Command variant");
    let mut rejected = 0;
    for cmd in all {
        let mut st = base.clone();
        let resp = st.apply(&Request {
            now_ms: fx.now,
            command: cmd.clone(),
            id: None,
        });
        if let Response::Rejected(r) = &resp {
            assert_ne!(r, &Rejection::invalid("command", "not handled"), "{cmd:?}");
            assert_eq!(st, base, "{cmd:?} was rejected ({r}) but changed the state");
            rejected += 1;
        }
    }
    assert!(
        rejected > 40,
        "most samples are invalid on purpose, got {rejected}"
    );
}
