//! Errors of the replicated state, split into what a caller may retry and what is fatal.

use portunus_model::Rejection;

/// The store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreOpenError {
    #[error("cannot open the RocksDB store at {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("the store at {path} is corrupt: {reason}")]
    Corrupt { path: String, reason: String },
}

/// A proposal or read could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    /// The state machine refused the command; nothing changed.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// No leader is reachable (no quorum, or an election is in progress). Retryable.
    #[error("the cluster has no quorum: no leader could be reached ({0})")]
    NoQuorum(String),
    /// The request did not complete in time; it may or may not have been applied. Retryable
    /// only for idempotent requests.
    #[error("the replicated request timed out after {0} ms")]
    Timeout(u64),
    /// Contact with the leader was lost after the request was sent: it may or may not have
    /// been applied. Not retried automatically, since commands are not idempotent.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// This node is shutting down or its Raft core stopped.
    #[error("this node is shutting down")]
    ShuttingDown,
    /// A peer answered with something this node cannot understand.
    #[error("peer protocol error: {0}")]
    Protocol(String),
    /// A membership change was refused.
    #[error("membership change refused: {0}")]
    Membership(String),
}

impl ReplicaError {
    /// Whether the same request may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ReplicaError::NoQuorum(_) | ReplicaError::Timeout(_))
    }
}
