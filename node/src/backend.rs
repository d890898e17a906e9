//! The node's implementation of the API's `Backend` port: the replicated state through this
//! node's Raft member, and the cluster's sealing key.

use crate::running::NodeShared;
use portunus_model::{Command, Response, Sealed, State};
use portunus_ops::{Backend, BackendError, BoxFuture};
use portunus_raft::{Replica, ReplicaError};
use std::sync::Arc;

pub(crate) struct NodeBackend {
    pub(crate) replica: Replica,
    pub(crate) metrics: Arc<portunus_ops::Metrics>,
    pub(crate) shared: Arc<NodeShared>,
    pub(crate) instance_id: String,
}

fn backend_error(e: ReplicaError) -> BackendError {
    match e {
        ReplicaError::Rejected(r) => BackendError::Rejected(r),
        ReplicaError::NoQuorum(m) => BackendError::Unavailable(format!("no quorum: {m}")),
        ReplicaError::Timeout(ms) => {
            BackendError::Unavailable(format!("no answer from the cluster within {ms} ms"))
        }
        ReplicaError::ShuttingDown => {
            BackendError::Unavailable("this node is shutting down".into())
        }
        other => BackendError::Internal(other.to_string()),
    }
}

impl Backend for NodeBackend {
    fn propose(&self, command: Command) -> BoxFuture<'_, Result<Response, BackendError>> {
        let token_op = match &command {
            Command::IssueToken(_) => Some("issue"),
            Command::RenewToken { .. } => Some("renew"),
            Command::RevokeToken { .. } => Some("revoke"),
            _ => None,
        };
        Box::pin(async move {
            let r = crate::metered::propose(&self.replica, &self.metrics, command).await;
            if let Some(op) = token_op {
                crate::metered::token_op(&self.metrics, op, r.is_ok());
            }
            r.map_err(backend_error)
        })
    }

    fn barrier(&self) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            self.replica
                .read_linearizable(|_| ())
                .await
                .map_err(backend_error)
        })
    }

    fn read(&self, f: &mut dyn FnMut(&State)) {
        self.replica.view().read(|s| f(s))
    }

    fn seal(&self, purpose: &str, plain: &[u8]) -> Result<Sealed, BackendError> {
        self.shared
            .sealer
            .seal(purpose, plain)
            .map_err(|e| BackendError::Internal(e.to_string()))
    }

    fn unseal(&self, purpose: &str, sealed: &Sealed) -> Result<Vec<u8>, BackendError> {
        self.shared
            .sealer
            .open(purpose, sealed)
            .map_err(|e| BackendError::Internal(e.to_string()))
    }

    fn hash_password(&self, password: &str) -> String {
        crate::bootstrap::hash_password(password)
    }

    fn session_events(&self, session_id: u64) -> BoxFuture<'_, Option<Vec<u8>>> {
        let name = crate::audit::events_name(session_id);
        Box::pin(async move { self.replica.get_blob(&name).await })
    }

    fn instance_id(&self) -> String {
        self.instance_id.clone()
    }
}

/// The cluster's instance id (what the API calls `InstanceId`): derived from the cluster
/// secret, so every node names the same instance without coordination.
pub(crate) fn instance_id(secret: &portunus_raft::tls::ClusterSecret) -> String {
    format!(
        "portunus-{}",
        hex::encode(&secret.derive("instance id")[..6])
    )
}
