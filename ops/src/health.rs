//! Liveness and readiness: what a load balancer asks before sending a node new connections.

use crate::Metrics;
use serde::Serialize;

/// Whether this node should receive new sessions, and if not, why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Readiness {
    pub ready: bool,
    /// Why the node is not ready ("starting", "no quorum", "draining", ...).
    pub reason: Option<String>,
}

impl Readiness {
    /// Ready to serve.
    pub fn ready() -> Self {
        Readiness {
            ready: true,
            reason: None,
        }
    }

    /// Not ready, for this reason.
    pub fn not_ready(reason: impl Into<String>) -> Self {
        Readiness {
            ready: false,
            reason: Some(reason.into()),
        }
    }
}

/// The port through which `ops` learns about the node it runs in.
pub trait NodeProbe: Send + Sync + 'static {
    /// Current readiness.
    fn readiness(&self) -> Readiness;
    /// Refresh the gauges that mirror node state, just before a scrape.
    fn observe(&self, metrics: &Metrics);
    /// A JSON report of this node's view of the cluster (no secrets).
    fn cluster_status(&self) -> serde_json::Value;
}
