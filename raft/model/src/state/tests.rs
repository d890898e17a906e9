//! Test fixture shared by the state tests: a state plus a clock and helpers that build one.

mod authz;
mod codec;
mod config_export;
mod directory;
mod dispatch;
mod lifecycle;
mod nonces;
mod policies;
mod projects;
mod properties;
mod sealed_scan;
mod sessions;
mod tokens;
mod two_factor;
mod web_sessions;

use super::State;
use crate::authz::Principal;
use crate::command::{Command, Request};
use crate::common::{AssetRef, Protocol};
use crate::host::{NewHost, NewHostAccount};
use crate::ids::*;
use crate::response::Response;
use crate::session::SessionGrant;
use crate::settings::ClusterSettings;
use crate::token::{NewToken, TokenAccount, TokenReceipt};
use crate::user::NewUser;
use crate::Rejection;

/// A state, a leader clock, and a log of every request applied (for replay tests).
pub(super) struct Fx {
    pub st: State,
    pub now: u64,
    pub log: Vec<Request>,
}

impl Fx {
    pub fn new() -> Self {
        Fx {
            st: State::default(),
            now: 1_700_000_000_000,
            log: Vec::new(),
        }
    }

    pub fn run(&mut self, command: Command) -> Response {
        let req = Request {
            now_ms: self.now,
            command,
            id: None,
        };
        let resp = self.st.apply(&req);
        self.log.push(req);
        resp
    }

    /// Applies a command that must be rejected, and checks that the state did not change.
    pub fn reject(&mut self, command: Command) -> Rejection {
        let before = self.st.clone();
        match self.run(command) {
            Response::Rejected(r) => {
                assert_eq!(
                    self.st, before,
                    "a rejected command changed the state ({r})"
                );
                r
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    pub fn created(&mut self, command: Command) -> u64 {
        match self.run(command) {
            Response::Created { id } => id,
            other => panic!("expected Created, got {other:?}"),
        }
    }

    pub fn done(&mut self, command: Command) {
        let r = self.run(command);
        assert_eq!(r, Response::Done);
    }

    pub fn settings(&mut self, f: impl FnOnce(&mut ClusterSettings)) {
        let mut s = self.st.settings().clone();
        f(&mut s);
        self.done(Command::UpdateSettings(s));
    }

    pub fn user(&mut self, name: &str) -> UserId {
        self.created(Command::CreateUser(NewUser {
            name: name.into(),
            ..Default::default()
        }))
    }

    pub fn group(&mut self, name: &str, members: &[UserId]) -> UserGroupId {
        let id = self.created(Command::CreateUserGroup {
            name: name.into(),
            comment: String::new(),
        });
        self.done(Command::AddUsersToGroup {
            group_id: id,
            user_ids: members.to_vec(),
        });
        id
    }

    pub fn host(&mut self, name: &str) -> HostId {
        self.created(Command::CreateHost(NewHost {
            name: name.into(),
            private_address: "10.0.0.1".into(),
            ..Default::default()
        }))
    }

    pub fn database(&mut self, name: &str) -> DatabaseId {
        self.created(Command::CreateDatabase(crate::database::NewDatabase {
            name: name.into(),
            engine: crate::database::DbEngine::MySql,
            address: "10.0.0.2".into(),
            port: 3306,
            source: Default::default(),
            source_instance_id: String::new(),
            comment: String::new(),
            network_domain_id: None,
            project_id: None,
        }))
    }

    pub fn database_account(&mut self, database: DatabaseId, name: &str) -> DatabaseAccountId {
        self.created(Command::CreateDatabaseAccount(
            crate::database::NewDatabaseAccount {
                database_id: database,
                name: name.into(),
                password: None,
                comment: String::new(),
            },
        ))
    }

    pub fn account(&mut self, host: HostId, name: &str) -> HostAccountId {
        self.created(Command::CreateHostAccount(NewHostAccount {
            host_id: host,
            name: name.into(),
            protocol: Protocol::Ssh,
            password: None,
            private_key: None,
            shared_key_id: None,
            sftp_only: false,
        }))
    }

    pub fn grant(&mut self, p: Principal, host: HostId, accounts: &[HostAccountId]) {
        self.done(Command::AttachHostAccounts {
            principal: p,
            host_id: host,
            account_ids: accounts.iter().copied().collect(),
        });
    }

    /// A user, a host, an SSH account and a direct grant of it.
    pub fn granted(&mut self, user: &str) -> (UserId, HostId, HostAccountId) {
        let u = self.user(user);
        let h = self.host(&format!("{user}-host"));
        let a = self.account(h, "root");
        self.grant(Principal::User(u), h, &[a]);
        (u, h, a)
    }

    pub fn start_node(&mut self, node: NodeId) -> u64 {
        match self.run(Command::NodeStarted { node_id: node }) {
            Response::NodeEpoch { epoch, .. } => epoch,
            other => panic!("expected NodeEpoch, got {other:?}"),
        }
    }

    pub fn issue(
        &mut self,
        user: UserId,
        host: HostId,
        acc: HostAccountId,
        hash: u8,
        uses: Option<u32>,
    ) -> TokenReceipt {
        let r = self.run(Command::IssueToken(NewToken {
            database_schema: None,
            mysql_native: None,
            pg_scram: None,
            issued_by: None,
            token_hash: [hash; 32],
            user_id: user,
            asset: AssetRef::Host(host),
            account: TokenAccount::Hosted(acc),
            protocol: Protocol::Ssh,
            validity_secs: None,
            use_count: uses,
        }));
        match r {
            Response::TokenIssued(receipt) => receipt,
            other => panic!("expected TokenIssued, got {other:?}"),
        }
    }

    pub fn spend_cmd(hash: u8, node: NodeId, epoch: u64) -> Command {
        Command::SpendToken {
            token_hash: [hash; 32],
            node_id: node,
            node_epoch: epoch,
            client_addr: "192.0.2.1:50000".into(),
            protocol: Some(Protocol::Ssh),
        }
    }

    pub fn spend(&mut self, hash: u8, node: NodeId, epoch: u64) -> SessionGrant {
        match self.run(Self::spend_cmd(hash, node, epoch)) {
            Response::SessionOpened(g) => g,
            other => panic!("expected SessionOpened, got {other:?}"),
        }
    }

    pub fn open_cmd(
        user: UserId,
        host: HostId,
        acc: HostAccountId,
        node: NodeId,
        epoch: u64,
    ) -> Command {
        Command::OpenSession {
            user_id: user,
            asset: AssetRef::Host(host),
            account_id: acc,
            protocol: Protocol::Ssh,
            node_id: node,
            node_epoch: epoch,
            client_addr: "192.0.2.9:4000".into(),
        }
    }

    pub fn open(
        &mut self,
        user: UserId,
        host: HostId,
        acc: HostAccountId,
        node: NodeId,
        epoch: u64,
    ) -> SessionId {
        match self.run(Self::open_cmd(user, host, acc, node, epoch)) {
            Response::SessionOpened(g) => g.session_id,
            other => panic!("expected SessionOpened, got {other:?}"),
        }
    }
}
