//! The calling side: cached QUIC connections to peers, and openraft's network factory on them.

use super::{RpcRequest, RpcResponse, MAX_MESSAGE};
use crate::tls::CLUSTER_SERVER_NAME;
use crate::{codec, NodeId, NodeInfo, TypeConfig};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &NodeInfo) -> PeerClient {
        PeerClient {
            peers: self.peers.clone(),
            target,
            addr: node.cluster_addr.clone(),
        }
    }
}

/// Raft RPCs to one peer.
pub(crate) struct PeerClient {
    peers: Peers,
    target: NodeId,
    addr: String,
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
            Err(e @ CallError::Timeout { .. }) => Err(RPCError::Unreachable(Unreachable::new(&e))),
            Err(e @ (CallError::Unreachable { .. } | CallError::Lost { .. })) => {
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
}
