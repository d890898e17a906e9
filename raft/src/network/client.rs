//! The calling side: cached QUIC connections to peers, and openraft's network factory on them.

use super::{RpcRequest, RpcResponse, MAX_MESSAGE};
use crate::tls::CLUSTER_SERVER_NAME;
use crate::{codec, NodeId, NodeInfo, TypeConfig};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::Backoff;
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long replication to a peer pauses after the peer could not be reached at all (no
/// connection). openraft's default is 500 ms, longer than a follower's election timer allows:
/// one missed connection would let the follower's lease lapse.
const UNREACHABLE_BACKOFF: Duration = Duration::from_millis(100);
/// How long a vote request from a newer term lets a held-back leader speak again (long enough
/// for one heartbeat to reach the candidate, whose answer makes this node step down).
const LIFT_FOR: Duration = Duration::from_millis(500);

/// A leader that has not heard from a majority for a while holds back its heartbeats.
///
/// openraft 0.9 has no quorum check: a leader whose messages still reach the followers while
/// their answers do not (a one-way cut, heavy loss) keeps refreshing their leader lease, so no
/// one starts an election and nothing commits until the link heals. Holding back the
/// heartbeats lets the followers' timers run out and elect a leader that can reach a majority.
/// A vote request of a newer term lifts the hold toward that candidate for a moment: the next
/// heartbeat reaches it, and its refusal (it is in a newer term) makes this node step down. Without it a
/// held-back leader with a longer log than the candidate would refuse its vote and stay leader,
/// silent, forever.
#[derive(Default)]
pub(crate) struct HoldBack {
    stale: AtomicBool,
    /// The candidate the hold is lifted for, and since when.
    lifted: Mutex<Option<(NodeId, Instant)>>,
}

impl HoldBack {
    /// Set from the leader's view of its majority; true when this changed the setting.
    pub(crate) fn set_stale(&self, stale: bool) -> bool {
        self.stale.swap(stale, Ordering::SeqCst) != stale
    }

    /// A vote request of a newer term arrived from `candidate`: let heartbeats reach it (and
    /// only it: heartbeats reaching the other followers would renew their leader lease and make
    /// them refuse the candidate).
    pub(crate) fn lift(&self, candidate: NodeId) {
        if self.stale.load(Ordering::SeqCst) {
            *self.lifted.lock().expect("lock") = Some((candidate, Instant::now()));
        }
    }

    /// Whether heartbeats and appends to `target` are held back now.
    pub(crate) fn holding(&self, target: NodeId) -> bool {
        self.stale.load(Ordering::SeqCst)
            && !self
                .lifted
                .lock()
                .expect("lock")
                .is_some_and(|(to, at)| to == target && at.elapsed() < LIFT_FOR)
    }

    /// Whether this node holds back its heartbeats (to anyone).
    pub(crate) fn stale(&self) -> bool {
        self.stale.load(Ordering::SeqCst)
    }
}

/// Why a call to a peer failed before an answer came back.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("peer {addr} unreachable: {reason}")]
    Unreachable { addr: String, reason: String },
    #[error("peer {addr} did not answer within {ms} ms")]
    Timeout { addr: String, ms: u64 },
    /// The request may have reached the peer, but no answer came back.
    #[error("lost contact with peer {addr} after sending: {reason}")]
    Lost { addr: String, reason: String },
    #[error("peer {addr} sent a malformed answer: {reason}")]
    Protocol { addr: String, reason: String },
}

/// Connections to other nodes, keyed by address, reopened when they die.
#[derive(Clone)]
pub struct Peers {
    endpoint: quinn::Endpoint,
    conns: Arc<Mutex<HashMap<String, quinn::Connection>>>,
}

impl Peers {
    pub(crate) fn new(endpoint: quinn::Endpoint) -> Self {
        Peers {
            endpoint,
            conns: Arc::default(),
        }
    }

    async fn connection(&self, addr: &str) -> Result<quinn::Connection, CallError> {
        let cached = self.conns.lock().expect("lock").get(addr).cloned();
        if let Some(c) = cached.filter(|c| c.close_reason().is_none()) {
            return Ok(c);
        }
        let unreachable = |reason: String| CallError::Unreachable {
            addr: addr.to_string(),
            reason,
        };
        let sock = tokio::net::lookup_host(addr)
            .await
            .map_err(|e| unreachable(e.to_string()))?
            .next()
            .ok_or_else(|| unreachable("address does not resolve".into()))?;
        let conn = self
            .endpoint
            .connect(sock, CLUSTER_SERVER_NAME)
            .map_err(|e| unreachable(e.to_string()))?
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        self.conns
            .lock()
            .expect("lock")
            .insert(addr.to_string(), conn.clone());
        Ok(conn)
    }

    /// Send one request to `addr` and wait for its answer, at most `ttl`.
    pub(crate) async fn call(
        &self,
        addr: &str,
        req: &RpcRequest,
        ttl: Duration,
    ) -> Result<RpcResponse, CallError> {
        let fut = async {
            let conn = self.connection(addr).await?;
            let net = |e: &dyn std::fmt::Display| CallError::Lost {
                addr: addr.to_string(),
                reason: e.to_string(),
            };
            let (mut send, mut recv) = conn.open_bi().await.map_err(|e| net(&e))?;
            let bytes = codec::encode(req).map_err(|e| CallError::Protocol {
                addr: addr.to_string(),
                reason: e.to_string(),
            })?;
            send.write_all(&bytes).await.map_err(|e| net(&e))?;
            send.finish().map_err(|e| net(&e))?;
            let answer = recv.read_to_end(MAX_MESSAGE).await.map_err(|e| net(&e))?;
            codec::decode::<RpcResponse>(&answer).map_err(|e| CallError::Protocol {
                addr: addr.to_string(),
                reason: e.to_string(),
            })
        };
        let result = tokio::time::timeout(ttl, fut).await.unwrap_or_else(|_| {
            Err(CallError::Timeout {
                addr: addr.to_string(),
                ms: ttl.as_millis() as u64,
            })
        });
        if result.is_err() {
            // A peer that restarted on the same address needs a new connection at once.
            self.conns.lock().expect("lock").remove(addr);
        }
        result
    }
}

/// openraft's view of the network: one [`PeerClient`] per target.
pub(crate) struct NetworkFactory {
    pub(crate) peers: Peers,
    pub(crate) hold_back: Arc<HoldBack>,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &NodeInfo) -> PeerClient {
        PeerClient {
            peers: self.peers.clone(),
            target,
            addr: node.cluster_addr.clone(),
            hold_back: self.hold_back.clone(),
        }
    }
}

/// Raft RPCs to one peer.
pub(crate) struct PeerClient {
    peers: Peers,
    target: NodeId,
    addr: String,
    hold_back: Arc<HoldBack>,
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, NodeInfo, RaftError<NodeId, E>>>;

impl PeerClient {
    async fn raw<E: std::error::Error>(
        &self,
        req: RpcRequest,
        option: &RPCOption,
    ) -> Result<RpcResponse, RPCError<NodeId, NodeInfo, RaftError<NodeId, E>>> {
        match self.peers.call(&self.addr, &req, option.hard_ttl()).await {
            Ok(r) => Ok(r),
            // A slow answer or a dropped connection is retried with the next heartbeat: only a
            // peer that cannot be connected to at all pauses replication to it (the backoff).
            Err(e @ (CallError::Timeout { .. } | CallError::Lost { .. })) => {
                Err(RPCError::Network(NetworkError::new(&e)))
            }
            Err(e @ CallError::Unreachable { .. }) => {
                Err(RPCError::Unreachable(Unreachable::new(&e)))
            }
            Err(e @ CallError::Protocol { .. }) => Err(RPCError::Network(NetworkError::new(&e))),
        }
    }

    fn mismatch<T, E: std::error::Error>(
        &self,
    ) -> Result<T, RPCError<NodeId, NodeInfo, RaftError<NodeId, E>>> {
        let e = CallError::Protocol {
            addr: self.addr.clone(),
            reason: "answer of the wrong kind".into(),
        };
        Err(RPCError::Network(NetworkError::new(&e)))
    }

    fn remote<T, E: std::error::Error>(
        &self,
        r: Result<T, RaftError<NodeId, E>>,
    ) -> Result<T, RPCError<NodeId, NodeInfo, RaftError<NodeId, E>>> {
        r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        if self.hold_back.holding(self.target) {
            let e = CallError::Unreachable {
                addr: self.addr.clone(),
                reason: "held back: this leader has not heard from a majority lately".into(),
            };
            return Err(RPCError::Unreachable(Unreachable::new(&e)));
        }
        match self.raw(RpcRequest::AppendEntries(rpc), &option).await? {
            RpcResponse::AppendEntries(r) => self.remote(r),
            _ => self.mismatch(),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        match self.raw(RpcRequest::InstallSnapshot(rpc), &option).await? {
            RpcResponse::InstallSnapshot(r) => self.remote(r),
            _ => self.mismatch(),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        match self.raw(RpcRequest::Vote(rpc), &option).await? {
            RpcResponse::Vote(r) => self.remote(r),
            _ => self.mismatch(),
        }
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::repeat(UNREACHABLE_BACKOFF))
    }
}
