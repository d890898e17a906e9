//! Replicated state for Portunus: openraft over RocksDB, with a mutually authenticated QUIC
//! transport between nodes. Callers see a [`Replica`] handle: propose commands from any node
//! (forwarded to the leader), read the applied state locally or linearizably.

// openraft's storage and network traits fix these (large) error types.
#![allow(clippy::result_large_err)]

mod batch;
mod blobs;
mod client;
pub mod codec;
mod config;
pub mod durable;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod network;
mod replica;
mod request_id;
pub mod store;
pub mod tls;

pub(crate) use batch::Batcher;
pub use blobs::first_copy;
pub use client::ClusterClient;
pub use config::RaftConfig;
pub use error::{ReplicaError, StoreOpenError};
pub use portunus_model as model;
pub use replica::{ClusterStatus, NodeStatus, Replica, ServiceHandler, StartError};

use serde::{Deserialize, Serialize};
use std::io::Cursor;

/// An AccessKey as reported to operators: never its secret.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccessKeyInfo {
    pub access_key_id: String,
    pub role: String,
    pub user_id: Option<u64>,
    pub enabled: bool,
    pub comment: String,
}

/// A node's identity in the cluster.
pub type NodeId = u64;

/// What every member of the membership carries: its addresses, so that the membership is the
/// cluster's address book.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// QUIC address other nodes use to reach this node's Raft endpoint.
    pub cluster_addr: String,
    /// Address of the management API (empty for a witness).
    pub api_addr: String,
    /// Address of the SSH O&M port (empty for a witness).
    pub ssh_addr: String,
}

openraft::declare_raft_types!(
    /// openraft type configuration for Portunus.
    pub TypeConfig:
        D = portunus_model::Request,
        R = portunus_model::Response,
        NodeId = NodeId,
        Node = NodeInfo,
);

/// The openraft instance type used across the crate.
pub type Raft = openraft::Raft<TypeConfig>;
