//! Proposals timed and counted in the node's metrics, by outcome.

use portunus_model::{Command, Response};
use portunus_ops::Metrics;
use portunus_raft::{Replica, ReplicaError};
use std::time::Instant;

/// The outcome label of a proposal.
fn outcome(r: &Result<Response, ReplicaError>) -> &'static str {
    match r {
        // An API call whose nonce was recorded but whose change was refused.
        Ok(Response::ApiCalled { change, .. }) if matches!(**change, Response::Rejected(_)) => {
            "rejected"
        }
        Ok(_) => "applied",
        Err(ReplicaError::Rejected(_)) => "rejected",
        Err(e) if e.is_retryable() => "unavailable",
        Err(_) => "failed",
    }
}

/// Propose `command`, recording its latency and outcome.
pub(crate) async fn propose(
    replica: &Replica,
    metrics: &Metrics,
    command: Command,
) -> Result<Response, ReplicaError> {
    let start = Instant::now();
    let r = replica.propose(command).await;
    let label = outcome(&r);
    metrics.proposals_total.with_label_values(&[label]).inc();
    metrics
        .proposal_seconds
        .with_label_values(&[label])
        .observe(start.elapsed().as_secs_f64());
    r
}

/// Count a token operation (`issue`, `spend`, `renew`, `revoke`) and whether it succeeded.
pub(crate) fn token_op(metrics: &Metrics, operation: &str, ok: bool) {
    let outcome = if ok { "ok" } else { "refused" };
    metrics
        .token_operations_total
        .with_label_values(&[operation, outcome])
        .inc();
}
