//! Shared fixtures of the SSH gateway tests: a gateway on a free loopback port with the fake
//! gate, a real OpenSSH `sshd` as target, and the OpenSSH `ssh` client with a password given
//! through SSH_ASKPASS.
#![allow(dead_code, unused_imports)]

use std::net::SocketAddr;
use std::sync::Arc;

use portunus_proxy::gate::{AssetKind, Permit, Secret, TargetCredential, TargetProtocol};
use portunus_proxy::ssh::{GatewayHandle, SshConfig, SshGateway};
use portunus_proxy::testing::{FakeGate, MemoryAudit};
use tempfile::TempDir;
use tokio::process::Command;

pub use portunus_proxy::testing::openssh::{
    free_port, keygen, wait_listening, Askpass, Sshd, WAIT,
};

/// A gateway under test.
pub struct Gateway {
    pub gate: Arc<FakeGate>,
    pub audit: Arc<MemoryAudit>,
    pub addr: SocketAddr,
    pub handle: GatewayHandle,
    pub dir: TempDir,
    askpass: Askpass,
}

impl Gateway {
    pub async fn start(gate: Arc<FakeGate>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_, key_text, _) = keygen(dir.path(), "gateway_host_key");
        let host_key = russh::keys::decode_secret_key(&key_text, None).expect("decode host key");
        let config = SshConfig::new("127.0.0.1:0".parse().expect("addr"), host_key);
        let audit = MemoryAudit::new();
        let gw = SshGateway::bind(config, Arc::clone(&gate), Arc::clone(&audit))
            .await
            .expect("bind gateway");
        let (addr, handle) = (gw.local_addr().expect("addr"), gw.handle());
        tokio::spawn(gw.serve(std::future::pending()));
        let askpass = Askpass::new();
        Self {
            gate,
            audit,
            addr,
            handle,
            dir,
            askpass,
        }
    }

    /// An OpenSSH client command to the gateway, logging in as `login` with `password`.
    pub fn ssh(&self, login: &str, password: &str) -> Command {
        self.askpass.ssh(self.addr.port(), login, password)
    }

    /// Sets the askpass environment of an OpenSSH tool (ssh, sftp, scp).
    pub fn askpass_env(&self, cmd: &mut Command, password: &str) {
        self.askpass.env(cmd, password);
    }
}

/// A permit template for a host (session id filled in by the gate).
pub fn permit(asset: &str, account: &str, port: u16, credential: TargetCredential) -> Permit {
    Permit {
        session_id: 0,
        user_name: "alice".into(),
        asset_id: 1,
        asset_name: asset.into(),
        account_id: None,
        kind: AssetKind::Host,
        address: "127.0.0.1".into(),
        port,
        protocol: TargetProtocol::Ssh,
        account_name: account.into(),
        credential,
        sftp_only: false,
        host_key_fingerprint: None,
        sql_rules: Vec::new(),
        sql_allow_unreadable: false,
        default_database: None,
        database_tls: Default::default(),
        controls: Default::default(),
        route: Default::default(),
    }
}

/// A permit template for a database listening on `port`.
pub fn database_permit(asset: &str, account: &str, port: u16) -> Permit {
    Permit {
        kind: AssetKind::Database,
        protocol: TargetProtocol::Other,
        ..permit(asset, account, port, TargetCredential::None)
    }
}

pub fn key_credential(sshd: &Sshd) -> TargetCredential {
    TargetCredential::PrivateKey(Secret(sshd.client_key.clone()))
}
