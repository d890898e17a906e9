//! Starting a node and stopping it: the Raft member, membership on first start, the API
//! listener, background duties, and the SIGTERM drain.

use crate::bootstrap::{self, AdminCredentials};
use crate::config::{NodeConfig, Role};
use crate::probe::Probe;
use anyhow::Context;
use portunus_model::Command;
use portunus_proxy::gate::AuditSink;
use portunus_raft::{NodeInfo, RaftConfig, Replica};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// Longest wait for one step of a drain or stop (a proposal, the Raft shutdown).
const STEP_BOUND: Duration = Duration::from_secs(5);

/// A node that is running. Dropping it does not stop it; call [`RunningNode::stop`].
pub struct RunningNode {
    pub replica: Replica,
    pub config: NodeConfig,
    /// Where the API listens (None on a witness).
    pub api_addr: Option<SocketAddr>,
    /// Where `/metrics` and `/v1/status` are served on their own listener (`--metrics-listen`;
    /// None on a witness, or when they are off or on the API port).
    pub metrics_addr: Option<SocketAddr>,
    /// Where the cluster endpoint listens.
    pub cluster_addr: SocketAddr,
    /// Where the SSH gateway listens (None on a witness).
    pub ssh_addr: Option<SocketAddr>,
    /// The native MySQL gateway's address (None on a witness or when off).
    pub mysql_addr: Option<SocketAddr>,
    /// The native PostgreSQL port, when on.
    pub postgres_addr: Option<SocketAddr>,
    /// Node-local facts shared with the probe and duties.
    pub(crate) shared: Arc<NodeShared>,
    admin: Option<oneshot::Receiver<Option<AdminCredentials>>>,
    gate: Arc<crate::gate::Gate>,
    ssh_task: Option<JoinHandle<()>>,
    stop_tx: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// State of this process that is not replicated.
pub(crate) struct NodeShared {
    pub(crate) node_id: u64,
    pub(crate) role: Role,
    pub(crate) draining: AtomicBool,
    /// This node's epoch once `NodeStarted` was applied (0 before).
    pub(crate) epoch: AtomicU64,
    pub(crate) sealer: Arc<crate::seal::Sealer>,
    /// The instance's name, once this node's registration learnt it.
    pub(crate) instance_id: std::sync::OnceLock<String>,
    /// Whether the SSH gateway accepts connections.
    pub(crate) ssh_serving: AtomicBool,
    /// The session lease (see `duties`): true while this node has gone too long without
    /// renewing it and so ends its sessions, whose slots the majority is about to reclaim.
    pub(crate) fenced: tokio::sync::watch::Sender<bool>,
    /// The addresses this node publishes in the membership.
    pub(crate) info: NodeInfo,
    /// LDAP and AD logins (None: no CA bundle to check directory servers with).
    pub(crate) directory: Option<crate::directory::Directory>,
    /// Sessions the gateway holds on this node right now (admitted and not yet closed).
    pub(crate) live: std::sync::Mutex<std::collections::HashSet<u64>>,
    /// Sessions the gateway held and gave back whose close has not committed yet (or never
    /// did: the close gave up). Together with `live`, every session this node ever admitted in
    /// its epoch that the cluster may still show open; any other is one it never admitted.
    pub(crate) closing: std::sync::Mutex<std::collections::HashSet<u64>>,
    /// The native database ports' places for connections that have not logged in (MySQL and
    /// PostgreSQL together; the SSH port's caps and grace time, with places of their own).
    pub(crate) database_preauth: Arc<portunus_proxy::preauth::PreAuth>,
    /// The running SSH gateway (None before it serves, and on a witness).
    pub(crate) ssh_gateway: std::sync::Mutex<Option<portunus_proxy::ssh::GatewayHandle>>,
    /// Opens the web portal's terminals through the running SSH gateway (None before it
    /// serves, and on a witness).
    pub(crate) terminals: std::sync::Mutex<
        Option<portunus_proxy::ssh::Terminals<crate::gate::Gate, crate::audit::FileAudit>>,
    >,
}

fn self_info(config: &NodeConfig, api: Option<SocketAddr>) -> NodeInfo {
    NodeInfo {
        cluster_addr: config.cluster_advertise.clone(),
        api_addr: api.map(|a| a.to_string()).unwrap_or_default(),
        ssh_addr: match config.role {
            Role::Engine => config.ssh_listen.to_string(),
            Role::Witness => String::new(),
        },
    }
}

async fn establish_membership(
    replica: &Replica,
    config: &NodeConfig,
    me: NodeInfo,
) -> anyhow::Result<()> {
    if replica.is_initialized().await {
        return Ok(());
    }
    if let Some(via) = &config.join {
        let mut last = String::new();
        for _ in 0..120 {
            match replica.join(via, me.clone()).await {
                Ok(()) => return Ok(()),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        anyhow::bail!("could not join the cluster through {via}: {last}");
    }
    let voters: BTreeMap<u64, NodeInfo> = if config.peers.is_empty() {
        BTreeMap::from([(config.node_id, me)])
    } else {
        config
            .peers
            .iter()
            .map(|(id, addr)| {
                let info = if *id == config.node_id {
                    me.clone()
                } else {
                    NodeInfo {
                        cluster_addr: addr.clone(),
                        ..Default::default()
                    }
                };
                (*id, info)
            })
            .collect()
    };
    replica
        .initialize(voters)
        .await
        .context("initializing the cluster")
}

/// Refuses to run an engine whose sealing keys do not open the cluster's secrets (its SSH host
/// key stands for them all), with words saying which key is missing. The state is read once
/// this node has caught up with the cluster; without a quorum within [`STEP_BOUND`] the check
/// is left to the SSH gateway, which then logs the same words and does not start.
async fn check_sealing_key(replica: &Replica, config: &NodeConfig) -> anyhow::Result<()> {
    if config.role == Role::Witness {
        return Ok(());
    }
    let read = replica.read_linearizable(|s| s.ssh_host_key().cloned());
    let sealed = match tokio::time::timeout(STEP_BOUND * 2, read).await {
        Ok(Ok(sealed)) => sealed,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "sealing key not checked at start");
            return Ok(());
        }
        Err(_) => {
            tracing::warn!("sealing key not checked at start: the cluster did not answer");
            return Ok(());
        }
    };
    if let Some(sealed) = sealed {
        config
            .sealer
            .open(crate::seal::purpose::SSH_HOST_KEY, &sealed)
            .map_err(|e| {
                anyhow::anyhow!("the sealing key does not open this cluster's secrets: {e}")
            })?;
    }
    Ok(())
}

/// Start a node: open its store, take its place in the cluster, bind its listeners.
pub async fn start(config: NodeConfig) -> anyhow::Result<RunningNode> {
    portunus_raft::durable::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    crate::identity::check_or_record(&config.data_dir, config.node_id, &config.cluster_secret)?;
    let http = crate::http::Listeners::bind(&config).await?;
    let api_addr = http.api_addr()?;
    let metrics_addr = http.metrics_addr()?;
    let ssh_listener = match config.role {
        Role::Engine => Some(
            tokio::net::TcpListener::bind(config.ssh_listen)
                .await
                .with_context(|| format!("binding the SSH port on {}", config.ssh_listen))?,
        ),
        Role::Witness => None,
    };
    let ssh_addr = ssh_listener.as_ref().map(|l| l.local_addr()).transpose()?;
    let mysql_listener = match (config.role, config.mysql_listen) {
        (Role::Engine, Some(at)) => {
            Some(tokio::net::TcpListener::bind(at).await.with_context(|| {
                format!("binding the MySQL port on {at} (--mysql-listen; \"off\" turns it off)")
            })?)
        }
        _ => None,
    };
    let mysql_addr = mysql_listener
        .as_ref()
        .map(|l| l.local_addr())
        .transpose()?;
    let postgres_listener = match (config.role, config.postgres_listen) {
        (Role::Engine, Some(at)) => {
            Some(tokio::net::TcpListener::bind(at).await.with_context(|| {
                format!(
                    "binding the PostgreSQL port on {at} (--postgres-listen; \"off\" turns it off)"
                )
            })?)
        }
        _ => None,
    };
    let postgres_addr = postgres_listener
        .as_ref()
        .map(|l| l.local_addr())
        .transpose()?;
    let database_tls = match (&mysql_listener, &postgres_listener) {
        (None, None) => None,
        _ => Some(crate::api_tls::database_config(&config)?),
    };
    let target_tls = Arc::new(crate::api_tls::database_target_config(&config)?);
    let mut raft_config = RaftConfig::new(config.node_id, config.data_dir.clone());
    // Keep a fifth of an interval behind each snapshot for slow followers, purge in small steps.
    raft_config.snapshot_every = config.snapshot_every;
    raft_config.keep_behind_snapshot = (config.snapshot_every / 5).min(1_000);
    raft_config.purge_batch = (config.snapshot_every / 20).clamp(1, 256);
    let replica = Replica::start(raft_config, config.cluster_listen, &config.cluster_secret)
        .await
        .context("starting the replicated state")?;
    let cluster_addr = replica.local_addr();
    crate::store_usage::serve(&replica, config.data_dir.clone());
    let info = self_info(&config, api_addr);
    // A node that was a member before (a restart) holds the cluster's secrets already: its keys
    // must open them. A new member has nothing to check yet, nor a quorum to wait for.
    let restarted = replica.is_initialized().await;
    establish_membership(&replica, &config, info.clone()).await?;
    if config.role != Role::Witness {
        tracing::info!(
            current = %config.sealer.current_id().unwrap_or_default(),
            previous = ?config.sealer.previous_ids(),
            "sealing keys"
        );
    }
    if restarted {
        check_sealing_key(&replica, &config).await?;
    }

    let shared = Arc::new(NodeShared {
        node_id: config.node_id,
        role: config.role,
        draining: AtomicBool::new(false),
        epoch: AtomicU64::new(0),
        sealer: config.sealer.clone(),
        instance_id: std::sync::OnceLock::new(),
        ssh_serving: AtomicBool::new(false),
        fenced: tokio::sync::watch::Sender::new(false),
        live: std::sync::Mutex::default(),
        closing: std::sync::Mutex::default(),
        ssh_gateway: std::sync::Mutex::default(),
        database_preauth: Arc::new(portunus_proxy::preauth::PreAuth::new(
            config.ssh.max_unauthenticated,
            config.ssh.max_unauthenticated_per_ip,
        )),
        terminals: std::sync::Mutex::default(),
        info,
        directory: crate::api_tls::directory_client(&config)?,
    });
    let metrics = Arc::new(portunus_ops::Metrics::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let (admin_tx, admin_rx) = oneshot::channel();
    tasks.push(tokio::spawn(bootstrap::register(
        replica.clone(),
        shared.clone(),
        config.clone(),
        admin_tx,
    )));
    tasks.push(tokio::spawn(crate::duties::run(
        replica.clone(),
        shared.clone(),
        stop_rx.clone(),
    )));
    tasks.push(tokio::spawn(crate::directory_sync::run(
        replica.clone(),
        shared.clone(),
        stop_rx.clone(),
    )));
    let audit = match ssh_listener {
        Some(_) => Some(Arc::new(
            crate::audit::FileAudit::new(&config.data_dir, replica.clone())
                .context("opening the audit directory")?,
        )),
        None => None,
    };
    if let Some(audit) = &audit {
        crate::live::serve(&replica, audit.live().clone());
        tasks.push(tokio::spawn(audit.clone().run(stop_rx.clone())));
        if let Some(target) = config.audit_syslog.clone() {
            tasks.push(tokio::spawn(crate::audit_export::run(
                target,
                config.data_dir.clone(),
                config.node_id,
                replica.clone(),
                stop_rx.clone(),
            )));
        }
    }
    let gate = Arc::new(crate::gate::Gate::new(
        replica.clone(),
        shared.clone(),
        metrics.clone(),
        audit.clone(),
        config.ssh.concurrent_password_checks,
    ));
    {
        let probe = Arc::new(Probe::new(replica.clone(), shared.clone()));
        let backend = Arc::new(crate::backend::NodeBackend {
            replica: replica.clone(),
            metrics: metrics.clone(),
            shared: shared.clone(),
            audit: audit.clone(),
        });
        let web = Arc::new(crate::web::NodeWeb {
            gate: gate.clone(),
            shared: shared.clone(),
            ssh_port: ssh_addr.map(|a| a.port()),
            mysql_port: mysql_addr.map(|a| a.port()),
            postgres_port: postgres_addr.map(|a| a.port()),
            replica: replica.clone(),
            probe: probe.clone(),
            live: audit.as_ref().map(|a| a.live().clone()),
            consoles: audit
                .clone()
                .map(|audit| portunus_proxy::db::console::Consoles {
                    gate: gate.clone(),
                    audit,
                    target_tls: target_tls.clone(),
                    connect_timeout: Duration::from_secs(
                        config.ssh.target_connect_timeout_secs.max(1),
                    ),
                }),
        });
        let ports = crate::http::Ports {
            probe,
            backend,
            web,
        };
        tasks.extend(http.spawn(&config, ports, metrics.clone(), &stop_rx)?);
    }
    if let Some(audit) = audit.clone() {
        let stop = tokio_util::sync::CancellationToken::new();
        let mut rx = stop_rx.clone();
        let cancel = stop.clone();
        tokio::spawn(async move {
            let _ = rx.wait_for(|stopping| *stopping).await;
            cancel.cancel();
        });
        let port = portunus_proxy::db::native::NativePort {
            gate: gate.clone(),
            audit,
            connect_timeout: Duration::from_secs(config.ssh.target_connect_timeout_secs.max(1)),
            tls: database_tls,
            target_tls: target_tls.clone(),
            splice: config.database_splice,
            preauth: shared.database_preauth.clone(),
            login_grace: Duration::from_secs(config.ssh.login_grace_secs),
            proxy_from: Arc::new(config.proxy_protocol_from.clone()),
            cancels: crate::db_cancel::serve(&replica),
            threads: crate::db_kill::serve(&replica),
            cancel_router: Some(Arc::new(crate::db_cancel::Router(replica.clone()))),
            thread_router: Some(Arc::new(crate::db_kill::Router(replica.clone()))),
        };
        if let Some(listener) = mysql_listener {
            tasks.push(tokio::spawn(portunus_proxy::db::native::serve_mysql(
                listener,
                port.clone(),
                stop.clone(),
            )));
        }
        if let Some(listener) = postgres_listener {
            tasks.push(tokio::spawn(portunus_proxy::db::native::serve_postgres(
                listener, port, stop,
            )));
        }
    }
    let ssh_task = match (ssh_listener, audit) {
        (Some(listener), Some(audit)) => {
            let task = crate::ssh::SshTask {
                replica: replica.clone(),
                shared: shared.clone(),
                gate: gate.clone(),
                audit,
                listener,
                settings: config.ssh.clone(),
                proxy_protocol_from: config.proxy_protocol_from.clone(),
                target_tls,
            };
            Some(tokio::spawn(task.run(stop_rx.clone())))
        }
        _ => None,
    };
    Ok(RunningNode {
        ssh_task,
        ssh_addr,
        mysql_addr,
        postgres_addr,
        gate,
        replica,
        config,
        api_addr,
        metrics_addr,
        cluster_addr,
        shared,
        admin: Some(admin_rx),
        stop_tx,
        tasks,
    })
}

impl RunningNode {
    /// Wait until this node is registered in the cluster; returns the admin credentials when
    /// this start created them (first start of a new cluster), None otherwise.
    pub async fn registered(&mut self) -> Option<AdminCredentials> {
        match self.admin.take() {
            Some(rx) => rx.await.ok().flatten(),
            None => None,
        }
    }

    /// Seal a secret with the cluster key for `purpose` (see [`crate::seal::purpose`]).
    pub fn seal(&self, purpose: &str, plain: &[u8]) -> anyhow::Result<portunus_model::Sealed> {
        Ok(self.shared.sealer.seal(purpose, plain)?)
    }

    /// The session gate the data path uses on this node.
    pub fn session_gate(&self) -> Arc<dyn portunus_proxy::gate::SessionGate> {
        self.gate.clone()
    }

    /// The cluster's instance id, the `InstanceId` of every API call: random, chosen by the
    /// first node to start (None until that is applied here).
    pub fn instance_id(&self) -> Option<String> {
        if let Some(id) = self.shared.instance_id.get() {
            return Some(id.clone());
        }
        self.replica
            .view()
            .read(|s| s.instance_id().map(str::to_string))
    }

    /// This node's epoch (0 until it is registered).
    pub fn epoch(&self) -> u64 {
        self.shared.epoch.load(Ordering::SeqCst)
    }

    /// Stop taking new sessions, let live ones finish within `grace`, give this node's slots
    /// back, step away from leadership, and stop.
    pub async fn drain_and_stop(self, grace: Duration) {
        self.shared.draining.store(true, Ordering::SeqCst);
        tracing::info!(grace_secs = grace.as_secs(), "draining");
        let node_id = self.shared.node_id;
        let epoch = self.epoch();
        let deadline = tokio::time::Instant::now() + grace;
        let ssh = self
            .shared
            .ssh_gateway
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(h) = &ssh {
            h.drain();
        }
        loop {
            let view = self.replica.view();
            let open = view.read(|s| s.sessions_of_node(node_id).len());
            let live = ssh.as_ref().map(|h| h.live_sessions()).unwrap_or(0);
            if (open == 0 && live == 0) || tokio::time::Instant::now() >= deadline {
                tracing::info!(open, live, "drain finished");
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if epoch > 0 {
            // Gives back every slot this node still holds and closes its sessions (bounded: a
            // node without quorum still exits; the cluster reclaims the slots by lease then).
            let reclaim = self.replica.propose(Command::ReclaimNode { node_id });
            match tokio::time::timeout(STEP_BOUND, reclaim).await {
                Ok(Ok(_)) => tracing::info!("slots given back"),
                Ok(Err(e)) => tracing::warn!(error = %e, "giving the slots back failed"),
                Err(_) => tracing::warn!("giving the slots back timed out"),
            }
        }
        self.stop().await;
    }

    /// Stop at once: listeners, duties and the Raft member.
    pub async fn stop(self) {
        let _ = self.stop_tx.send(true);
        if let Some(t) = self.ssh_task {
            // The gateway disconnects its clients, gives their sessions back, then returns.
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
        // The terminals hold the gate, which holds `shared`: let go of them, or the cycle keeps
        // the replica (and its cluster port) alive after the node stopped.
        self.shared
            .terminals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if tokio::time::timeout(STEP_BOUND, self.replica.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("the replicated state did not shut down in time; exiting anyway");
        }
    }
}
