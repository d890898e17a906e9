//! Background duties. The leader probes every member and reclaims the concurrency slots of a
//! node that stopped answering (fenced by its epoch, so it cannot keep using them). Every node
//! notices when its own epoch was fenced that way (it was cut off, then healed) and registers
//! again, so that it serves new sessions by itself.

use crate::running::NodeShared;
use portunus_model::{Command, Response};
use portunus_raft::Replica;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A node silent for this long loses its slots.
pub const RECLAIM_AFTER: Duration = Duration::from_secs(3);
const PROBE_EVERY: Duration = Duration::from_millis(500);
const PROBE_TTL: Duration = Duration::from_millis(400);

/// Register again when the cluster fenced this node's epoch while it was cut off.
async fn reregister_if_fenced(replica: &Replica, shared: &NodeShared) {
    let mine = shared.epoch.load(Ordering::SeqCst);
    let node_id = shared.node_id;
    if mine == 0 || replica.view().read(|s| s.node_epoch(node_id)) <= mine {
        return;
    }
    tracing::warn!(
        node_id,
        "this node's slots were reclaimed while it was cut off: registering again"
    );
    match replica.propose(Command::NodeStarted { node_id }).await {
        Ok(Response::NodeEpoch { epoch, .. }) => shared.epoch.store(epoch, Ordering::SeqCst),
        Ok(other) => tracing::warn!(?other, "unexpected answer to a registration"),
        Err(e) => tracing::warn!(error = %e, "registering again failed; will retry"),
    }
}

pub(crate) async fn run(
    replica: Replica,
    shared: Arc<NodeShared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut last_ok: HashMap<u64, Instant> = HashMap::new();
    let mut tick = tokio::time::interval(PROBE_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        reregister_if_fenced(&replica, &shared).await;
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
