//! An operator's client of the cluster transport: status and membership changes from a shell,
//! authenticated with the cluster secret like any node.

use crate::network::{Peers, RpcRequest, RpcResponse};
use crate::tls::{ClusterSecret, ClusterTls};
use crate::{ClusterStatus, NodeId, ReplicaError, StartError};
use std::time::Duration;

const TTL: Duration = Duration::from_secs(60);

/// A client-only QUIC endpoint holding cluster credentials.
pub struct ClusterClient {
    peers: Peers,
    ids: crate::request_id::RequestIds,
}

impl ClusterClient {
    /// Build a client with credentials derived from `secret`.
    pub fn new(secret: &ClusterSecret) -> Result<Self, StartError> {
        let tls = ClusterTls::new(secret)?;
        let bind = "0.0.0.0:0".parse().expect("valid address");
        let mut endpoint = quinn::Endpoint::client(bind).map_err(|e| StartError::Listen {
            addr: bind,
            reason: e.to_string(),
        })?;
        endpoint.set_default_client_config(tls.client_config()?);
        Ok(ClusterClient {
            peers: Peers::new(endpoint),
            ids: crate::request_id::RequestIds::new(),
        })
    }

    async fn call(&self, addr: &str, req: RpcRequest) -> Result<RpcResponse, ReplicaError> {
        self.peers
            .call(addr, &req, TTL)
            .await
            .map_err(|e| ReplicaError::NoQuorum(e.to_string()))
    }

    /// The view of the cluster from the node at `addr`.
    pub async fn status(&self, addr: &str) -> Result<ClusterStatus, ReplicaError> {
        match self.call(addr, RpcRequest::Status).await? {
            RpcResponse::Status(s) => Ok(*s),
            _ => Err(ReplicaError::Protocol("answer of the wrong kind".into())),
        }
    }

    /// Fetch a blob (a session recording, say) from the node at `addr`.
    pub async fn get_blob(&self, addr: &str, name: &str) -> Result<Option<Vec<u8>>, ReplicaError> {
        match self
            .call(
                addr,
                RpcRequest::GetBlob {
                    name: name.to_string(),
                },
            )
            .await?
        {
            RpcResponse::Blob(b) => Ok(b),
            _ => Err(ReplicaError::Protocol("answer of the wrong kind".into())),
        }
    }

    /// Apply a command through the node at `addr` (forwarded to the leader). A rejection by
    /// the state machine comes back as `Response::Rejected`.
    pub async fn propose(
        &self,
        addr: &str,
        command: portunus_model::Command,
    ) -> Result<portunus_model::Response, ReplicaError> {
        match self
            .call(
                addr,
                RpcRequest::Propose {
                    command,
                    id: self.ids.next(),
                    hops: 0,
                },
            )
            .await?
        {
            RpcResponse::Propose(r) => r.map_err(Into::into),
            _ => Err(ReplicaError::Protocol("answer of the wrong kind".into())),
        }
    }

    /// The AccessKeys of the cluster (ids, roles, state; never secrets), as the node at `addr`
    /// sees them after a linearizable barrier.
    pub async fn access_keys(&self, addr: &str) -> Result<Vec<crate::AccessKeyInfo>, ReplicaError> {
        match self.call(addr, RpcRequest::AccessKeys).await? {
            RpcResponse::AccessKeys(r) => r.map_err(Into::into),
            _ => Err(ReplicaError::Protocol("answer of the wrong kind".into())),
        }
    }

    /// The cluster settings as the node at `addr` sees them after a linearizable barrier.
    pub async fn settings(
        &self,
        addr: &str,
    ) -> Result<portunus_model::ClusterSettings, ReplicaError> {
        match self.call(addr, RpcRequest::Settings).await? {
            RpcResponse::Settings(r) => r.map_err(Into::into),
            _ => Err(ReplicaError::Protocol("answer of the wrong kind".into())),
        }
    }

    /// Remove node `node_id` from the cluster, through the node at `addr`.
    pub async fn remove_node(&self, addr: &str, node_id: NodeId) -> Result<(), ReplicaError> {
        match self.call(addr, RpcRequest::Remove { node_id }).await? {
            RpcResponse::Membership(r) => r.map_err(|e| ReplicaError::Membership(e.to_string())),
            _ => Err(ReplicaError::Protocol("answer of the wrong kind".into())),
        }
    }
}
