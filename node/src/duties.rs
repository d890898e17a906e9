//! Work the leader does for the cluster: probe every member and reclaim the concurrency slots of
//! a node that stopped answering (fenced by its epoch, so it cannot keep using them).

use portunus_model::Command;
use portunus_raft::Replica;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A node silent for this long loses its slots.
pub const RECLAIM_AFTER: Duration = Duration::from_secs(3);
const PROBE_EVERY: Duration = Duration::from_millis(500);
const PROBE_TTL: Duration = Duration::from_millis(400);

pub(crate) async fn run(replica: Replica, mut stop: watch::Receiver<bool>) {
    let mut last_ok: HashMap<u64, Instant> = HashMap::new();
    let mut tick = tokio::time::interval(PROBE_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let status = replica.status();
        if status.leader != Some(status.node_id) {
            last_ok.clear();
            continue;
        }
        let peers: Vec<_> = status
            .nodes
            .into_iter()
            .filter(|n| n.id != status.node_id)
            .collect();
        let probes = peers
            .iter()
            .map(|n| replica.ping(&n.info.cluster_addr, PROBE_TTL));
        let answers = futures::future::join_all(probes).await;
        let now = Instant::now();
        for (node, alive) in peers.iter().zip(answers) {
            let seen = last_ok.entry(node.id).or_insert(now);
            if alive {
                *seen = now;
                continue;
            }
            if now.duration_since(*seen) < RECLAIM_AFTER {
                continue;
            }
            let holds = replica
                .view()
                .read(|s| !s.sessions_of_node(node.id).is_empty());
            if holds {
                tracing::warn!(
                    node = node.id,
                    "node unreachable: reclaiming its concurrency slots"
                );
                if let Err(e) = replica
                    .propose(Command::ReclaimNode { node_id: node.id })
                    .await
                {
                    tracing::warn!(node = node.id, error = %e, "reclaim failed; will retry");
                }
            }
        }
    }
}
