//! The handle the rest of Portunus holds on the replicated state: start a member, propose
//! commands from any node (forwarded to the leader, which stamps the time), read locally or
//! linearizably, change membership, report status.

mod election;
mod handler;
mod status;

pub use status::{ClusterStatus, NodeStatus};

use crate::network::{HoldBack, NetworkFactory, Peers, RpcRequest, RpcResponse};
use crate::store::{self, StateView};
use crate::tls::{ClusterSecret, ClusterTls};
use crate::{NodeId, NodeInfo, Raft, RaftConfig, ReplicaError};
use portunus_model::{Command, Response, State};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a proposal may wait for a leader before it is refused for want of quorum.
const LEADER_WAIT: Duration = Duration::from_secs(2);
/// How long a node without a leader keeps callers waiting for an election before it refuses
/// them at once (an election starts 300-400 ms after the last heartbeat and takes a round trip).
const LEADERLESS_GRACE: Duration = Duration::from_millis(1_000);
/// How long a leader may go without hearing from a quorum before it refuses writes at once.
const QUORUM_STALE_MS: u64 = 1_500;
/// How long a leader may go without hearing from a majority before it holds back its
/// heartbeats so that the others elect a leader that can reach one (see [`HoldBack`]). Four
/// heartbeats: long enough not to depose a leader for one late answer, short enough that the
/// election that follows ends well within a member's 1.5 s session lease.
const HOLD_BACK_AFTER_MS: u64 = 250;
/// A node that held back its heartbeats as leader does not stand for election for this long
/// after: its link is probably what failed, and with its longer log it would otherwise win the
/// election that deposed it again and again (seen with a leader losing a third of its packets).
const ELECTION_PAUSE: Duration = Duration::from_secs(2);
/// ... unless no leader is elected, or heard, within this long: then the others cannot win
/// without it (its log is the longest, or they need its vote and it refuses them), and a
/// cluster without a leader for the whole pause would cost every member its session lease.
const PAUSE_WHILE_LEADERLESS: Duration = Duration::from_millis(600);
/// A leader grants lease renewals only while it heard from a majority this recently.
const RENEW_QUORUM_MS: u64 = 750;
/// How long a lease renewal may take before it counts as failed.
const RENEW_TTL: Duration = Duration::from_millis(400);
/// How many times a proposal may be forwarded between nodes.
const MAX_HOPS: u8 = 3;
/// How long copying a blob to one member may take (a recording part over a slow link).
const BLOB_COPY_TTL: Duration = Duration::from_secs(30);
/// Blob copies in flight to one member at once (see [`Replica::put_blob`]).
const BLOB_COPIES_PER_MEMBER: usize = 4;

/// Shared by the handle, the RPC server and background tasks.
pub(crate) struct Inner {
    pub(crate) id: NodeId,
    pub(crate) raft: Raft,
    pub(crate) peers: Peers,
    pub(crate) view: StateView,
    pub(crate) blobs: crate::blobs::BlobDir,
    last_stamp: AtomicU64,
    ids: crate::request_id::RequestIds,
    /// Since when this node has seen no leader (`None` while it sees one).
    leaderless_since: std::sync::Mutex<Option<Instant>>,
    /// While this node leads: when it took over and when each member last renewed its lease.
    pub(crate) leases: std::sync::Mutex<Leases>,
    /// Whether this node, leading without a majority, holds back its heartbeats.
    pub(crate) hold_back: Arc<HoldBack>,
    /// The application's services other members may call, by name.
    pub(crate) services: std::sync::RwLock<std::collections::HashMap<String, ServiceHandler>>,
    /// When an AppendEntries (a leader's heartbeat or entries) last arrived.
    pub(crate) heard_leader: std::sync::Mutex<Option<Instant>>,
    /// How long a voter refuses candidates after a leader's last word (openraft's leader lease:
    /// the election timeout's maximum).
    pub(crate) leader_lease: Duration,
    /// Whether this node stands for election (false for a while after it held back as leader).
    pub(crate) electing: std::sync::atomic::AtomicBool,
    /// The leader this node knew last (kept while it knows none).
    last_leader: std::sync::Mutex<Option<NodeId>>,
    /// Turns for blob copies to each member, by cluster address (see [`Replica::put_blob`]).
    blob_turns: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Semaphore>>>,
}

/// Answers a call from another member: its body in, the answer (or why not) out.
pub type ServiceHandler = Arc<
    dyn Fn(
            Vec<u8>,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<u8>, String>> + Send>>
        + Send
        + Sync,
>;

/// The leader's record of session leases.
#[derive(Default)]
pub(crate) struct Leases {
    /// When this node became leader (`None` while it does not lead).
    leading_since: Option<Instant>,
    /// The term of that leadership.
    leading_term: Option<u64>,
    pub(crate) renewed: std::collections::HashMap<NodeId, Instant>,
    /// When the Raft core's latest metrics report was seen (it reports at least every tick).
    /// Its `millis_since_quorum_ack` was measured then: after a stall of this process (a
    /// pause) the report is as old as the stall, and its age counts.
    pub(crate) metrics_seen: Option<Instant>,
}

impl Leases {
    /// How long ago the latest metrics report was seen (`u64::MAX` ms before the first).
    pub(crate) fn report_age_ms(&self) -> u64 {
        self.metrics_seen
            .map_or(u64::MAX, |at| at.elapsed().as_millis() as u64)
    }
}

/// A running member of the cluster.
#[derive(Clone)]
pub struct Replica {
    inner: Arc<Inner>,
    endpoint: quinn::Endpoint,
    /// Folds the commands proposed concurrently on this node into one log entry.
    batcher: crate::Batcher,
}

/// Starting a member failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] crate::StoreOpenError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("cannot listen for cluster traffic on {addr}: {reason}")]
    Listen { addr: SocketAddr, reason: String },
    #[error("invalid Raft settings: {0}")]
    Config(String),
    #[error("the Raft core failed to start: {0}")]
    Raft(String),
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Replica {
    /// Open the store, bind the QUIC endpoint on `listen` and start the Raft core.
    pub async fn start(
        config: RaftConfig,
        listen: SocketAddr,
        secret: &ClusterSecret,
    ) -> Result<Replica, StartError> {
        let (log_store, sm) = store::open(&config.data_dir)?;
        let resigned = log_store.resign_leadership(config.node_id).map_err(|e| {
            crate::StoreOpenError::Corrupt {
                path: config.data_dir.display().to_string(),
                reason: format!("cannot read or rewrite the stored vote: {e}"),
            }
        })?;
        if resigned {
            tracing::info!(
                node_id = config.node_id,
                "led the cluster when it stopped: starts as a follower (a new leader is elected)"
            );
        }
        let view = sm.view();
        let tls = ClusterTls::new(secret)?;
        let listen_err = |e: std::io::Error| StartError::Listen {
            addr: listen,
            reason: e.to_string(),
        };
        let socket = std::net::UdpSocket::bind(listen).map_err(listen_err)?;
        let mut endpoint = quinn::Endpoint::new(
            crate::tls::endpoint_config(secret, config.node_id),
            Some(tls.server_config()?),
            socket,
            Arc::new(quinn::TokioRuntime),
        )
        .map_err(listen_err)?;
        endpoint.set_default_client_config(tls.client_config()?);
        let peers = Peers::new(endpoint.clone());
        let raft_config = config
            .openraft()
            .map_err(|e| StartError::Config(e.to_string()))?;
        let hold_back = Arc::new(HoldBack::default());
        let network = NetworkFactory {
            peers: peers.clone(),
            hold_back: hold_back.clone(),
        };
        let raft = Raft::new(
            config.node_id,
            Arc::new(raft_config),
            network,
            log_store,
            sm,
        )
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;
        let inner = Arc::new(Inner {
            id: config.node_id,
            raft,
            peers,
            view,
            blobs: crate::blobs::BlobDir::new(&config.data_dir),
            last_stamp: AtomicU64::new(0),
            ids: crate::request_id::RequestIds::new(),
            leaderless_since: std::sync::Mutex::new(Some(Instant::now())),
            leases: std::sync::Mutex::default(),
            hold_back,
            services: Default::default(),
            heard_leader: std::sync::Mutex::new(None),
            leader_lease: Duration::from_millis(config.election_max_ms),
            electing: std::sync::atomic::AtomicBool::new(true),
            last_leader: std::sync::Mutex::new(None),
            blob_turns: Default::default(),
        });
        tokio::spawn(crate::network::serve(endpoint.clone(), inner.clone()));
        tokio::spawn(watch_leader(Arc::downgrade(&inner)));
        tokio::spawn(election::campaign_when_due(
            Arc::downgrade(&inner),
            config.election_min_ms,
            config.election_max_ms,
        ));
        tokio::spawn(snapshot_when_due(Arc::downgrade(&inner), config.clone()));
        let batcher = {
            let inner = inner.clone();
            crate::Batcher::with(Arc::new(move |command| {
                let inner = inner.clone();
                Box::pin(async move {
                    let id = inner.ids.next();
                    match inner.propose(command, id, 0).await? {
                        Response::Rejected(r) => Err(ReplicaError::Rejected(r)),
                        other => Ok(other),
                    }
                })
            }))
        };
        Ok(Replica {
            inner,
            endpoint,
            batcher,
        })
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.inner.id
    }

    /// Serves calls named `name` from other members (over the cluster's authenticated
    /// connections) with `handler`, replacing an earlier handler of that name.
    pub fn serve_calls(&self, name: &str, handler: ServiceHandler) {
        if let Ok(mut s) = self.inner.services.write() {
            s.insert(name.to_string(), handler);
        }
    }

    /// Calls the service `name` of member `node_id` with `body`, waiting at most `ttl`.
    pub async fn call_member(
        &self,
        node_id: NodeId,
        name: &str,
        body: Vec<u8>,
        ttl: Duration,
    ) -> Result<Vec<u8>, ReplicaError> {
        let status = self.status();
        let Some(member) = status.nodes.iter().find(|n| n.id == node_id) else {
            return Err(ReplicaError::Protocol(format!("no member {node_id}")));
        };
        let req = RpcRequest::Service {
            name: name.to_string(),
            body,
        };
        match self
            .inner
            .peers
            .call(&member.info.cluster_addr, &req, ttl)
            .await
        {
            Ok(RpcResponse::Service(r)) => r.map_err(ReplicaError::Protocol),
            Ok(_) => Err(ReplicaError::Protocol("answer of the wrong kind".into())),
            Err(e) => Err(ReplicaError::Protocol(format!("member {node_id}: {e}"))),
        }
    }

    /// The address the cluster endpoint listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.endpoint
            .local_addr()
            .expect("a bound endpoint has an address")
    }

    /// Read access to the locally applied state (may lag the leader slightly).
    pub fn view(&self) -> &StateView {
        &self.inner.view
    }

    /// Whether this node already belongs to an initialized cluster.
    pub async fn is_initialized(&self) -> bool {
        self.inner.raft.is_initialized().await.unwrap_or(false)
    }

    /// Initialize a new cluster with these voters. Safe to call on every initial member with
    /// the same list; a node already initialized ignores it.
    pub async fn initialize(&self, voters: BTreeMap<NodeId, NodeInfo>) -> Result<(), ReplicaError> {
        if self.is_initialized().await {
            return Ok(());
        }
        match self.inner.raft.initialize(voters).await {
            Ok(()) => Ok(()),
            Err(openraft::error::RaftError::APIError(
                openraft::error::InitializeError::NotAllowed(_),
            )) => Ok(()),
            Err(e) => Err(ReplicaError::Membership(e.to_string())),
        }
    }

    /// Propose a command; it is applied on every node once committed. A rejection by the state
    /// machine comes back as [`ReplicaError::Rejected`] and changed nothing.
    pub async fn propose(&self, command: Command) -> Result<Response, ReplicaError> {
        self.batcher.propose(command).await
    }

    /// Propose a command only as this node's decision while it leads: refused
    /// ([`ReplicaError::NoQuorum`]) instead of forwarded when another node leads or this one
    /// loses the leadership meanwhile. For commands whose reason is the leader's own view
    /// (reclaiming a member whose lease lapsed in this node's lease table).
    pub async fn propose_as_leader(&self, command: Command) -> Result<Response, ReplicaError> {
        self.inner.propose_as_leader(command).await
    }

    /// Run `f` on a state that reflects every write acknowledged before this call started.
    pub async fn read_linearizable<T>(
        &self,
        f: impl FnOnce(&State) -> T,
    ) -> Result<T, ReplicaError> {
        self.inner.read_current(f).await
    }

    /// Ask the cluster (through `via`, any member's cluster address) to add this node.
    pub async fn join(&self, via: &str, info: NodeInfo) -> Result<(), ReplicaError> {
        let req = RpcRequest::Join {
            node_id: self.inner.id,
            info,
        };
        self.inner.membership_call(via, req).await
    }

    /// Add a node (learner first, voter once caught up). Served by the leader.
    pub async fn add_node(&self, node_id: NodeId, info: NodeInfo) -> Result<(), ReplicaError> {
        self.inner
            .membership(RpcRequest::Join { node_id, info })
            .await
    }

    /// Publish this node's addresses in the membership (the cluster's address book) through
    /// the leader. Needed after a bootstrap with `--peers`: every initial member initialized
    /// with its own map (its own addresses, only the cluster address of the others) and those
    /// maps share log id 0, so views differ until a membership entry from the leader replaces
    /// them. The cluster address itself cannot change this way.
    pub async fn publish_info(&self, info: NodeInfo) -> Result<(), ReplicaError> {
        let req = RpcRequest::SetInfo {
            node_id: self.inner.id,
            info,
        };
        self.inner.membership(req).await
    }

    /// Remove a node from the cluster. Served by the leader.
    pub async fn remove_node(&self, node_id: NodeId) -> Result<(), ReplicaError> {
        self.inner.membership(RpcRequest::Remove { node_id }).await
    }

    /// Store an immutable blob (a session recording, say) on this node and copy it to every
    /// member; succeeds once a majority of voters hold it, and returns how many voters held it
    /// then. The copies to the other members go on in the background: a member that is down
    /// or cut off (whose calls end only at the connection's idle timeout, 5 s, or the call's
    /// 30 s) must not hold back the caller, which closes a session's trail before it frees the
    /// session's slot, and stores a recording's parts while the session runs.
    ///
    /// At most [`BLOB_COPIES_PER_MEMBER`] copies go to one member at once (each holds the blob
    /// in memory and a stream of the connection that also carries that member's heartbeats).
    /// A copy that must wait for its turn is waited for while the majority needs it (a slow
    /// majority slows the caller, as before) and dropped once the majority is there: that
    /// member then lacks the blob, and reads on it fetch it from the others.
    pub async fn put_blob(&self, name: &str, data: Vec<u8>) -> Result<usize, ReplicaError> {
        use futures::stream::{FuturesUnordered, StreamExt};
        crate::blobs::check_name(name).map_err(|e| ReplicaError::Protocol(e.to_string()))?;
        let status = self.status();
        let voters = status.nodes.iter().filter(|n| n.voter).count().max(1);
        let i_vote = status
            .nodes
            .iter()
            .any(|n| n.id == self.inner.id && n.voter);
        let mut copies = 0;
        if self.inner.blobs.put(name, &data).await.is_ok() && (i_vote || status.nodes.is_empty()) {
            copies += 1;
        }
        let req = Arc::new(RpcRequest::PutBlob {
            name: name.to_string(),
            data,
        });
        let copy = |addr: String, voter: bool, turn: tokio::sync::OwnedSemaphorePermit| {
            let (inner, req) = (Arc::clone(&self.inner), Arc::clone(&req));
            async move {
                let answer = inner.peers.call(&addr, &req, BLOB_COPY_TTL).await;
                drop(turn);
                let stored = match answer {
                    Ok(RpcResponse::BlobStored(Ok(()))) => Ok(()),
                    Ok(RpcResponse::BlobStored(Err(e))) => Err(format!("{addr}: {e}")),
                    Ok(_) => Err(format!("{addr}: answer of the wrong kind")),
                    Err(e) => Err(e.to_string()),
                };
                (voter, stored)
            }
        };
        let mut calls = FuturesUnordered::new();
        // Copies waiting for their member's turn; they resolve to the turn.
        let mut waiting = FuturesUnordered::new();
        for n in status.nodes.iter().filter(|n| n.id != self.inner.id) {
            let (addr, voter) = (n.info.cluster_addr.clone(), n.voter);
            let turns = self.inner.blob_turns(&addr);
            match turns.clone().try_acquire_owned() {
                Ok(turn) => calls.push(copy(addr, voter, turn)),
                Err(_) => waiting.push(async move {
                    let turn = turns.acquire_owned().await;
                    (addr, voter, turn)
                }),
            }
        }
        while copies * 2 <= voters && !(calls.is_empty() && waiting.is_empty()) {
            tokio::select! {
                Some((voter, stored)) = calls.next(), if !calls.is_empty() => {
                    copies += usize::from(voter && stored.is_ok());
                }
                Some((addr, voter, turn)) = waiting.next(), if !waiting.is_empty() => {
                    if let Ok(turn) = turn {
                        calls.push(copy(addr, voter, turn));
                    }
                }
            }
        }
        if !waiting.is_empty() {
            tracing::debug!(
                blob = %name, members = waiting.len(),
                "not copying a blob to members that still have earlier copies in flight"
            );
        }
        if !calls.is_empty() {
            let name = name.to_string();
            tokio::spawn(async move {
                while let Some((_, stored)) = calls.next().await {
                    if let Err(e) = stored {
                        tracing::debug!(blob = %name, error = %e, "a member did not store a blob");
                    }
                }
            });
        }
        if copies * 2 > voters {
            Ok(copies)
        } else {
            Err(ReplicaError::NoQuorum(format!(
                "blob {name} stored on {copies} of {voters} voters, fewer than a majority"
            )))
        }
    }

    /// Read a blob from this node, or from any member that holds it (asked as
    /// [`crate::first_copy`] says: a member that is down must not hold back every part of a
    /// recording read part by part).
    pub async fn get_blob(&self, name: &str) -> Option<Vec<u8>> {
        if let Some(b) = self.inner.blobs.get(name).await {
            return Some(b);
        }
        let req = RpcRequest::GetBlob {
            name: name.to_string(),
        };
        // Collected first: a filtering iterator held across the awaits below would make the
        // future not `Send`.
        let members: Vec<String> = (self.status().nodes.iter())
            .filter(|n| n.id != self.inner.id)
            .map(|n| n.info.cluster_addr.clone())
            .collect();
        crate::first_copy(members, |addr| {
            let (peers, req) = (&self.inner.peers, &req);
            async move {
                match peers.call(&addr, req, BLOB_COPY_TTL).await {
                    Ok(RpcResponse::Blob(found)) => found,
                    _ => None,
                }
            }
        })
        .await
    }

    /// Whether another member answers a liveness probe within `ttl`.
    pub async fn ping(&self, addr: &str, ttl: Duration) -> bool {
        matches!(
            self.inner.peers.call(addr, &RpcRequest::Ping, ttl).await,
            Ok(RpcResponse::Pong(_))
        )
    }

    /// Renew this node's session lease with the leader. Succeeds only when the leader answers
    /// and has heard from a majority within the last 750 ms, so a caller that records the
    /// time it *sent* each successful renewal knows a lower bound of the time the leader
    /// last renewed it. Never waits for an election.
    ///
    /// The contract (used for concurrency slots): the leader reclaims a member's slots only
    /// after [`Replica::lease_age`] exceeds some `R`; a member that stops its sessions once
    /// its last successful renewal was *sent* more than `F < R - 0.75 s` ago never overlaps
    /// with the sessions the majority admits on the reclaimed slots.
    pub async fn renew_lease(&self) -> Result<(), ReplicaError> {
        // Without a leader (campaigning, or between leaders) this node asks the last one it
        // knew: a leader grants only while it still leads and hears a majority, whatever the
        // member believes. A member on a lossy link to a leader the others still follow
        // misses heartbeats and campaigns in vain; renewing nowhere meanwhile, it let its
        // lease lapse while the leader could have renewed it.
        let leader = self.inner.raft.metrics().borrow().current_leader;
        let last = *self.inner.last_leader.lock().expect("lock");
        let Some(leader) = leader.or(last) else {
            return Err(ReplicaError::NoQuorum("no leader".into()));
        };
        if leader == self.inner.id {
            return self.inner.leader_renew(self.inner.id).map_err(Into::into);
        }
        let addr = self.inner.leader_addr(leader).unwrap_or_default();
        let req = RpcRequest::Renew {
            node_id: self.inner.id,
        };
        match self.inner.peers.call(&addr, &req, RENEW_TTL).await {
            Ok(RpcResponse::Renewed(r)) => r.map_err(Into::into),
            Ok(_) => Err(ReplicaError::Protocol("answer of the wrong kind".into())),
            Err(e) => Err(ReplicaError::NoQuorum(e.to_string())),
        }
    }

    /// Starts every member's lease afresh, as a new leader does: for a leader whose process
    /// stalled (paused, descheduled), since it could not hear renewals meanwhile and its table
    /// would show live members as silent. Nothing while this node does not lead.
    pub fn restart_leases(&self) {
        let mut leases = self.inner.leases.lock().expect("lock");
        if leases.leading_since.is_some() {
            leases.leading_since = Some(Instant::now());
            leases.renewed.clear();
        }
    }

    /// While this node leads: how long since `node_id` last renewed its lease, counting from
    /// when this node took over if it has not renewed since (a new leader gives every member
    /// a full lease). `None` when this node does not lead.
    pub fn lease_age(&self, node_id: NodeId) -> Option<Duration> {
        let leases = self.inner.leases.lock().expect("lock");
        let since = leases.leading_since?;
        let last = leases
            .renewed
            .get(&node_id)
            .copied()
            .unwrap_or(since)
            .max(since);
        Some(last.elapsed())
    }

    /// A status report built from Raft metrics.
    pub fn status(&self) -> ClusterStatus {
        self.inner.status()
    }

    /// A receiver that changes whenever the Raft metrics change.
    pub fn watch_status(
        &self,
    ) -> tokio::sync::watch::Receiver<openraft::RaftMetrics<NodeId, NodeInfo>> {
        self.inner.raft.metrics()
    }

    /// Stop the Raft core and close the endpoint.
    pub async fn shutdown(&self) {
        let _ = self.inner.raft.shutdown().await;
        self.endpoint.close(0u32.into(), b"shutdown");
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
    }
}

impl Inner {
    /// The turns for blob copies to the member at `addr`.
    fn blob_turns(&self, addr: &str) -> Arc<tokio::sync::Semaphore> {
        let mut turns = self.blob_turns.lock().expect("lock");
        let turns_of = turns
            .entry(addr.to_string())
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(BLOB_COPIES_PER_MEMBER)));
        Arc::clone(turns_of)
    }

    fn stamp(&self) -> u64 {
        let now = now_ms();
        let prev = self.last_stamp.fetch_max(now, Ordering::SeqCst);
        now.max(prev)
    }

    fn leader_addr(&self, leader: NodeId) -> Option<String> {
        self.node_info(leader).map(|n| n.cluster_addr)
    }

    /// What member `id` publishes in the current membership.
    pub(crate) fn node_info(&self, id: NodeId) -> Option<NodeInfo> {
        let m = self.raft.metrics().borrow().membership_config.clone();
        m.membership().get_node(&id).cloned()
    }

    /// Wait for a known leader, at most until `deadline`. A node that has seen no leader for
    /// longer than [`LEADERLESS_GRACE`] (an election normally takes well under that) is cut off
    /// from the majority: it refuses at once instead of making every caller wait.
    async fn leader(&self, deadline: Instant) -> Result<NodeId, ReplicaError> {
        let mut rx = self.raft.metrics();
        loop {
            if let Some(l) = rx.borrow_and_update().current_leader {
                return Ok(l);
            }
            let since = self
                .leaderless_since
                .lock()
                .expect("lock")
                .unwrap_or_else(Instant::now);
            let until = deadline.min(since + LEADERLESS_GRACE);
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, rx.changed()).await.is_err() {
                return Err(ReplicaError::NoQuorum(format!(
                    "no leader elected for {} ms: this node cannot reach a majority",
                    since.elapsed().as_millis()
                )));
            }
        }
    }

    /// This member's status, with the commit index its log store records.
    pub(crate) fn status(&self) -> ClusterStatus {
        ClusterStatus::from_metrics(&self.raft.metrics().borrow())
            .with_commit_index(self.view.committed_index())
    }

    /// Run `f` on a state that reflects every write acknowledged before this call started.
    pub(crate) async fn read_current<T>(
        &self,
        f: impl FnOnce(&State) -> T,
    ) -> Result<T, ReplicaError> {
        let index = self.read_index().await?;
        self.wait_applied(index, LEADER_WAIT).await?;
        Ok(self.view.read(f))
    }

    async fn wait_applied(&self, index: u64, within: Duration) -> Result<(), ReplicaError> {
        let mut rx = self.view.subscribe();
        let waited = tokio::time::timeout(within, rx.wait_for(|i| *i >= index))
            .await
            .map(|r| r.map(|_| ()));
        match waited {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(ReplicaError::ShuttingDown),
            Err(_) => Err(ReplicaError::Timeout(within.as_millis() as u64)),
        }
    }
}

/// Keeps `leaderless_since` and the leader's lease table current from the Raft metrics; ends
/// with the replica.
/// Asks the Raft core for a snapshot once the log since the last one is as long as
/// [`RaftConfig::snapshot_due_after`] says for the last snapshot's size; asks again only after
/// that snapshot is done (or a minute passed without it).
async fn snapshot_when_due(inner: std::sync::Weak<Inner>, config: RaftConfig) {
    let mut asked: Option<(u64, Instant)> = None;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let Some(inner) = inner.upgrade() else { return };
        let (applied, snapshot) = {
            let m = inner.raft.metrics();
            let m = m.borrow();
            (
                m.last_applied.map_or(0, |l| l.index),
                m.snapshot.map_or(0, |l| l.index),
            )
        };
        if asked
            .is_some_and(|(at, when)| at == snapshot && when.elapsed() < Duration::from_secs(60))
        {
            continue;
        }
        asked = None;
        let due = config.snapshot_due_after(inner.view.snapshot_bytes());
        if applied.saturating_sub(snapshot) >= due {
            if let Err(e) = inner.raft.trigger().snapshot().await {
                tracing::warn!(error = %e, "could not ask for a snapshot");
                return;
            }
            asked = Some((snapshot, Instant::now()));
        }
    }
}

async fn watch_leader(inner: std::sync::Weak<Inner>) {
    let Some(mut rx) = inner.upgrade().map(|i| i.raft.metrics()) else {
        return;
    };
    // When this node last held back its heartbeats, and whether it stands for election.
    let mut held_at: Option<Instant> = None;
    let mut electing = true;
    // Whether the metrics were reported anew since the last look.
    let mut fresh = true;
    // The other leader (and its term) the metrics named last, and the last moment the metrics
    // gave word of a leader: this node leading, or another leader first named.
    let mut named: Option<(u64, u64)> = None;
    let mut led_seen: Option<Instant> = None;
    loop {
        let (leader, term, quorum_ack_ms, voters) = {
            let m = rx.borrow_and_update();
            let voters = m.membership_config.membership().voter_ids().count();
            (
                m.current_leader,
                m.current_term,
                m.millis_since_quorum_ack,
                voters,
            )
        };
        let has_leader = leader.is_some();
        {
            let Some(inner) = inner.upgrade() else { return };
            if has_leader {
                *inner.last_leader.lock().expect("lock") = leader;
            }
            let leading_for = {
                let mut leases = inner.leases.lock().expect("lock");
                // Only a new report dates its measurements (a wake-up on time does not).
                if fresh {
                    leases.metrics_seen = Some(Instant::now());
                }
                // A new term is a new leadership, even when no metrics showed the one between.
                if leader == Some(inner.id) && leases.leading_term != Some(term) {
                    leases.leading_since = None;
                }
                match (leader == Some(inner.id), leases.leading_since) {
                    (true, None) => {
                        leases.leading_since = Some(Instant::now());
                        leases.leading_term = Some(term);
                        leases.renewed.clear();
                    }
                    (false, Some(_)) => {
                        leases.leading_since = None;
                        leases.renewed.clear();
                    }
                    _ => {}
                }
                leases
                    .leading_since
                    .map(|at| at.elapsed().as_millis() as u64)
            };
            // The metrics come at least every election tick, so this is checked that often.
            let stale = match (leading_for, quorum_ack_ms) {
                (Some(_), _) if voters <= 1 => false,
                (Some(_), Some(ms)) => ms > HOLD_BACK_AFTER_MS,
                (Some(leading), None) => leading > HOLD_BACK_AFTER_MS,
                (None, _) => false,
            };
            if inner.hold_back.set_stale(stale) {
                if stale {
                    tracing::warn!(
                        node_id = inner.id,
                        "leading without word from a majority for over {HOLD_BACK_AFTER_MS} ms: \
                         holding back heartbeats so that the others elect a leader"
                    );
                } else {
                    tracing::info!(node_id = inner.id, "no longer holding back heartbeats");
                }
            }
            if stale {
                held_at = Some(Instant::now());
            }
            // How long this node has gone without word of a leader: since it last led, last
            // heard a leader (an AppendEntries) or first saw one named. openraft keeps a leader
            // that died as the current one until a new vote, so the time since a leader was last
            // heard counts even while the metrics name one: a leader elected while this node
            // paused, and killed at once, left it paused for the whole pause (its log the
            // longest, the other member refused for a shorter one) until every lease had lapsed
            // (fault run seed 7188). A leader never heard (killed before its first append) is
            // timed from when it was named; and this node's own campaign, which shows no leader
            // for a while, does not restart the count (it did, and paused the campaign again).
            match leader {
                Some(l) if l == inner.id => led_seen = Some(Instant::now()),
                Some(l) if named != Some((l, term)) => {
                    named = Some((l, term));
                    led_seen = Some(Instant::now());
                }
                _ => {}
            }
            let heard = *inner.heard_leader.lock().expect("lock");
            let leaderless_for = heard.max(led_seen).map(|at| at.elapsed());
            let pause = leader != Some(inner.id)
                && held_at.is_some_and(|at| at.elapsed() < ELECTION_PAUSE)
                && leaderless_for.is_none_or(|d| d <= PAUSE_WHILE_LEADERLESS);
            if electing == pause {
                electing = !pause;
                inner.electing.store(electing, Ordering::SeqCst);
                if pause {
                    tracing::info!(
                        node_id = inner.id,
                        "not standing for election for {} ms after holding back as leader",
                        ELECTION_PAUSE.as_millis()
                    );
                } else if let Some(d) = leaderless_for.filter(|d| *d > PAUSE_WHILE_LEADERLESS) {
                    let why = match has_leader {
                        true => "the leader is not heard",
                        false => "no one else was elected",
                    };
                    tracing::info!(
                        node_id = inner.id,
                        ?leader,
                        leaderless_ms = d.as_millis() as u64,
                        "standing for election again: {why}"
                    );
                }
            }
            let mut since = inner.leaderless_since.lock().expect("lock");
            match (has_leader, *since) {
                (true, _) => *since = None,
                (false, None) => *since = Some(Instant::now()),
                (false, Some(_)) => {}
            }
        }
        // Looked at again after a while even when nothing changes: a pause ends on time.
        fresh = match tokio::time::timeout(Duration::from_millis(100), rx.changed()).await {
            Ok(Ok(())) => true,
            Ok(Err(_)) => return,
            Err(_) => false,
        };
    }
}
