//! Node-to-node transport: one QUIC endpoint per node (server and client at once), mutually
//! authenticated with the cluster CA. Each RPC is one bidirectional stream carrying one encoded
//! request and one encoded response.

mod client;
mod server;

pub use client::{CallError, Peers};
pub(crate) use client::{HoldBack, NetworkFactory};
pub(crate) use server::serve;

use crate::{NodeId, NodeInfo, TypeConfig};
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use portunus_model::{Command, RequestId, Response};
use serde::{Deserialize, Serialize};

/// Largest message accepted on a stream (a snapshot chunk or a large append batch).
pub(crate) const MAX_MESSAGE: usize = 64 * 1024 * 1024;
// A snapshot chunk and its request's framing fit in one message with room to spare.
const _: () = assert!(crate::config::SNAPSHOT_CHUNK_BYTES as usize * 2 <= MAX_MESSAGE);

/// A request from one node to another.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum RpcRequest {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A write forwarded to the node believed to be leader; it stamps the time.
    Propose {
        command: Command,
        /// The same id on every re-send, so the command is applied once.
        id: RequestId,
        hops: u8,
    },
    /// Ask the leader for a read point that makes a following local read linearizable.
    ReadIndex,
    /// Add a node to the cluster (as a voter once it has caught up).
    Join {
        node_id: NodeId,
        info: NodeInfo,
    },
    /// Remove a node from the voters and the cluster.
    Remove {
        node_id: NodeId,
    },
    /// Replace the addresses a member publishes (same cluster address).
    SetInfo {
        node_id: NodeId,
        info: NodeInfo,
    },
    /// Liveness probe; answered with the responder's id.
    Ping,
    /// A member renews its session lease with the leader (see `Replica::renew_lease`).
    Renew {
        node_id: NodeId,
    },
    /// The responder's view of the cluster.
    Status,
    /// Store a copy of a blob.
    PutBlob {
        name: String,
        data: Vec<u8>,
    },
    /// Return a blob if held.
    GetBlob {
        name: String,
    },
    /// List the AccessKeys (without secrets).
    AccessKeys,
    /// The cluster settings, read linearizably.
    Settings,
    /// A call to a service the node's application registered (`Replica::serve_calls`).
    Service {
        name: String,
        body: Vec<u8>,
    },
    /// Would the responder vote for `candidate`, whose log ends at `last_log_id`? Asked before
    /// a campaign, changing no term (see `replica::election`).
    PreVote {
        candidate: NodeId,
        last_log_id: Option<openraft::LogId<NodeId>>,
    },
}

/// Why a forwarded request was not served.
#[derive(Debug, Clone, Serialize, Deserialize, thiserror::Error)]
pub(crate) enum PeerRefusal {
    #[error("not the leader")]
    NotLeader { leader: Option<NodeId> },
    #[error("no quorum: {0}")]
    NoQuorum(String),
    #[error("{0}")]
    Other(String),
}

/// The answer to an [`RpcRequest`], variant for variant.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum RpcResponse {
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    Propose(Result<Response, PeerRefusal>),
    ReadIndex(Result<u64, PeerRefusal>),
    Membership(Result<(), PeerRefusal>),
    Pong(NodeId),
    Renewed(Result<(), PeerRefusal>),
    Status(Box<crate::ClusterStatus>),
    BlobStored(Result<(), String>),
    Blob(Option<Vec<u8>>),
    AccessKeys(Result<Vec<crate::AccessKeyInfo>, PeerRefusal>),
    Settings(Result<portunus_model::ClusterSettings, PeerRefusal>),
    Service(Result<Vec<u8>, String>),
    PreVote(bool),
}
