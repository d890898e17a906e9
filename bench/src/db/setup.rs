//! The parts of the `db` benchmark: a real MariaDB and PostgreSQL 15 on loopback (the project's
//! test fixtures), one Portunus node process with a hosted account and an O&M token per
//! database, and the four ways a client reaches each database: directly, through the node's
//! native port, through `ssh -L` via the node (OpenSSH client, token as the SSH password), and
//! through HAProxy in TCP mode.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use portunus_proxy::testing::mariadb::MariaDb;
use portunus_proxy::testing::openssh::Askpass;
use portunus_proxy::testing::postgres::Postgres;
use serde::Serialize;
use tokio::process::Child;

use super::load::Endpoint;
use crate::haproxy::{Haproxy, Splice};
use crate::portunus::{Cluster, DbAsset, Token};
use crate::sys;

/// The hosted account's name and password, on both databases.
pub(crate) const ACCOUNT: &str = "app";
pub(crate) const PASSWORD: &str = "Bench-hosted-Passw0rd";
/// The database the load runs in.
pub(crate) const DATABASE: &str = "bench";

/// How a client reaches the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Via {
    Direct,
    /// The node's native database port (login: bastion user + O&M token).
    Native,
    /// `ssh -N -L` through the node (token as the SSH password), hosted credential injected.
    Tunnel,
    /// HAProxy in TCP mode with its default options (no splice).
    Haproxy,
}

impl Via {
    pub(crate) const ALL: [Via; 4] = [Via::Direct, Via::Native, Via::Tunnel, Via::Haproxy];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Via::Direct => "direct",
            Via::Native => "Portunus native port",
            Via::Tunnel => "ssh -L via Portunus",
            Via::Haproxy => "HAProxy (TCP)",
        }
    }
}

/// The database engines measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
pub enum Engine {
    Mysql,
    Postgres,
}

impl Engine {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Engine::Mysql => "MariaDB 10.11",
            Engine::Postgres => "PostgreSQL 15",
        }
    }

    fn api_type(self) -> &'static str {
        match self {
            Engine::Mysql => "MySQL",
            Engine::Postgres => "PostgreSQL",
        }
    }
}

/// One database behind its four paths.
pub(crate) struct Legs {
    pub(crate) engine: Engine,
    pub(crate) direct: Endpoint,
    pub(crate) native: Endpoint,
    pub(crate) tunnel: Endpoint,
    pub(crate) haproxy: Endpoint,
    pub(crate) haproxy_pid: Option<u32>,
    _haproxy: Haproxy,
    _ssh: Child,
}

impl Legs {
    pub(crate) fn endpoint(&self, via: Via) -> &Endpoint {
        match via {
            Via::Direct => &self.direct,
            Via::Native => &self.native,
            Via::Tunnel => &self.tunnel,
            Via::Haproxy => &self.haproxy,
        }
    }

    /// The `ssh -L` client's process.
    pub(crate) fn ssh_pid(&self) -> Option<u32> {
        self._ssh.id()
    }

    /// The process whose CPU the path adds (the node or HAProxy), if any.
    pub(crate) fn middle_pid(&self, via: Via, node_pid: u32) -> Option<u32> {
        match via {
            Via::Direct => None,
            Via::Native | Via::Tunnel => Some(node_pid),
            Via::Haproxy => self.haproxy_pid,
        }
    }
}

/// A started MariaDB with the bench account and database.
pub(crate) async fn mariadb(max_connections: usize) -> anyhow::Result<MariaDb> {
    let db = MariaDb::start_with(&[
        &format!("--max-connections={max_connections}"),
        "--innodb-buffer-pool-size=256M",
    ])
    .await;
    db.root(&format!(
        "CREATE DATABASE {DATABASE}; \
         CREATE USER '{ACCOUNT}'@'%' IDENTIFIED BY '{PASSWORD}'; \
         GRANT ALL ON {DATABASE}.* TO '{ACCOUNT}'@'%';"
    ))
    .await;
    Ok(db)
}

/// A started PostgreSQL with the bench role (SCRAM) owning the bench database.
pub(crate) async fn postgres() -> anyhow::Result<Postgres> {
    let pg = Postgres::start(&[]).await;
    pg.superuser(
        "postgres",
        &format!("CREATE ROLE {ACCOUNT} LOGIN PASSWORD '{PASSWORD}'"),
    )
    .await;
    pg.superuser(
        "postgres",
        &format!("CREATE DATABASE {DATABASE} OWNER {ACCOUNT}"),
    )
    .await;
    Ok(pg)
}

/// The endpoint of the database itself.
pub(crate) fn direct(port: u16) -> Endpoint {
    Endpoint {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        user: ACCOUNT.into(),
        password: PASSWORD.into(),
        database: DATABASE.into(),
    }
}

/// The node's paths to the database at `port`: a token, an `ssh -L` tunnel, HAProxy.
pub(crate) async fn legs(
    engine: Engine,
    port: u16,
    cluster: &mut Cluster,
    askpass: &Askpass,
    cipher: Option<&str>,
) -> anyhow::Result<Legs> {
    let (native, token) = native(engine, port, cluster).await?;
    let node = &cluster.procs.nodes[0];
    let (ssh, local) = tunnel(node.ssh, &token, port, askpass, cipher).await?;
    let target = SocketAddr::from(([127, 0, 0, 1], port));
    let haproxy = Haproxy::start(target, Splice::Off).await?;
    Ok(Legs {
        engine,
        direct: direct(port),
        native,
        tunnel: Endpoint {
            addr: local,
            user: ACCOUNT.into(),
            password: String::new(),
            database: DATABASE.into(),
        },
        haproxy: Endpoint {
            addr: haproxy.addr(),
            ..direct(port)
        },
        haproxy_pid: haproxy.pid(),
        _haproxy: haproxy,
        _ssh: ssh,
    })
}

/// The database at `port` registered on the first node of `cluster` with a token for it: the
/// node's native port for that token, and the token.
pub(crate) async fn native(
    engine: Engine,
    port: u16,
    cluster: &mut Cluster,
) -> anyhow::Result<(Endpoint, Token)> {
    let asset = DbAsset {
        engine: engine.api_type(),
        port,
        account: ACCOUNT,
        password: PASSWORD,
        schema: Some(DATABASE),
    };
    let token = cluster.database_token(&asset).await?;
    let node = &cluster.procs.nodes[0];
    let native = Endpoint {
        addr: match engine {
            Engine::Mysql => node.mysql,
            Engine::Postgres => node.postgres,
        },
        user: token.user.clone(),
        password: token.token.clone(),
        database: DATABASE.into(),
    };
    Ok((native, token))
}

/// `ssh -N -L` from the OpenSSH client through the node at `ssh` with `token`, forwarding a
/// free local port to the database at `port`; the ssh child and the local address.
pub(crate) async fn tunnel(
    ssh: SocketAddr,
    token: &Token,
    port: u16,
    askpass: &Askpass,
    cipher: Option<&str>,
) -> anyhow::Result<(Child, SocketAddr)> {
    let local = sys::free_loopback_addr()?;
    let mut cmd = askpass.ssh(ssh.port(), &token.user, &token.token);
    if let Some(c) = cipher {
        cmd.args(["-c", c]);
    }
    let log = tempfile::NamedTempFile::new()?;
    cmd.args(["-o", "ExitOnForwardFailure=yes", "-N", "-L"])
        .arg(format!("{}:127.0.0.1:{port}", local.port()))
        .stdout(std::process::Stdio::null())
        .stderr(log.reopen()?);
    let child = cmd.spawn().context("spawn ssh")?;
    if let Err(e) = sys::wait_listening(local.port(), Duration::from_secs(20)).await {
        let said = std::fs::read_to_string(log.path()).unwrap_or_default();
        return Err(e.context(format!("ssh -L said: {said}")));
    }
    Ok((child, local))
}
