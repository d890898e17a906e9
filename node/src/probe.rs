//! The node's implementation of `ops`'s `NodeProbe` port: readiness and gauges from the Raft
//! member and the applied state.

use crate::config::Role;
use crate::running::NodeShared;
use portunus_ops::{Metrics, NodeProbe, Readiness};
use portunus_raft::Replica;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// How long a leader may go without a quorum acknowledgement and still call itself ready.
const QUORUM_FRESH_MS: u64 = 1_500;

pub(crate) struct Probe {
    replica: Replica,
    shared: Arc<NodeShared>,
}

impl Probe {
    pub(crate) fn new(replica: Replica, shared: Arc<NodeShared>) -> Self {
        Probe { replica, shared }
    }

    /// The replica's status with the commit index, which openraft's metrics lack.
    fn status(&self) -> portunus_raft::ClusterStatus {
        self.replica
            .status()
            .with_commit_index(self.replica.view().committed_index())
    }
}

impl NodeProbe for Probe {
    fn readiness(&self) -> Readiness {
        if self.shared.role == Role::Witness {
            return Readiness::not_ready("witness: serves no sessions");
        }
        if self.shared.draining.load(Ordering::SeqCst) {
            return Readiness::not_ready("draining");
        }
        let epoch = self.shared.epoch.load(Ordering::SeqCst);
        if epoch == 0 {
            return Readiness::not_ready("starting: not yet registered in the cluster");
        }
        let node_id = self.shared.node_id;
        if self.replica.view().read(|s| s.node_epoch(node_id)) > epoch {
            // The majority reclaimed this node's slots while it was cut off: its epoch is
            // fenced, so every admission it proposes would be refused.
            return Readiness::not_ready(
                "fenced: this node's slots were reclaimed; it must register again",
            );
        }
        if !self.shared.ssh_serving.load(Ordering::SeqCst) {
            return Readiness::not_ready("starting: the SSH gateway is not serving yet");
        }
        let status = self.replica.status();
        match status.leader {
            None => Readiness::not_ready("no quorum: no leader known"),
            Some(l) if l == status.node_id => match status.millis_since_quorum_ack {
                Some(ms) if ms <= QUORUM_FRESH_MS => Readiness::ready(),
                _ => Readiness::not_ready("no quorum: the majority does not answer"),
            },
            Some(_) => Readiness::ready(),
        }
    }

    fn observe(&self, m: &Metrics) {
        let status = self.status();
        m.raft_is_leader
            .set((status.leader == Some(status.node_id)) as i64);
        m.raft_term.set(status.term as i64);
        m.raft_leader_id.set(status.leader.unwrap_or(0) as i64);
        m.raft_last_log_index.set(status.last_log_index as i64);
        m.raft_commit_index
            .set(status.commit_index.unwrap_or(0) as i64);
        m.raft_applied_index.set(status.applied_index as i64);
        m.raft_snapshot_index.set(status.snapshot_index as i64);
        m.raft_purged_index.set(status.purged_index as i64);
        m.raft_snapshot_bytes
            .set(self.replica.view().snapshot_bytes() as i64);
        m.raft_log_entries
            .set(status.last_log_index.saturating_sub(status.purged_index) as i64);
        let voters = status.nodes.iter().filter(|n| n.voter).count();
        m.raft_members
            .with_label_values(&["voter"])
            .set(voters as i64);
        m.raft_members
            .with_label_values(&["learner"])
            .set((status.nodes.len() - voters) as i64);
        let witnesses = status.nodes.iter().filter(|n| n.witness).count();
        m.raft_members
            .with_label_values(&["witness"])
            .set(witnesses as i64);
        m.raft_replication_lag.reset();
        if status.leader == Some(status.node_id) {
            for n in status.nodes.iter().filter(|n| n.id != status.node_id) {
                let lag = status
                    .last_log_index
                    .saturating_sub(n.matched_index.unwrap_or(0));
                m.raft_replication_lag
                    .with_label_values(&[&n.id.to_string()])
                    .set(lag as i64);
            }
        }
        m.node_ready.set(self.readiness().ready as i64);
        let node_id = self.shared.node_id;
        let (in_use, limit, mine) = self.replica.view().read(|s| {
            let mine: Vec<String> = s
                .open_sessions()
                .filter(|sess| sess.node_id == node_id)
                .map(|sess| sess.protocol.to_string())
                .collect();
            (s.slots_in_use(), s.settings().max_sessions_total, mine)
        });
        m.concurrency_slots_in_use.set(in_use as i64);
        m.concurrency_slots_limit.set(limit as i64);
        m.sessions_active.reset();
        for proto in ["ssh", "sftp", "mysql", "postgresql", "rdp"] {
            m.sessions_active.with_label_values(&[proto]).set(0);
        }
        for proto in mine {
            m.sessions_active
                .with_label_values(&[&proto.to_lowercase()])
                .inc();
        }
    }

    fn cluster_status(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self.status()).unwrap_or_default();
        v["ready"] = serde_json::to_value(self.readiness()).unwrap_or_default();
        v["epoch"] = self.shared.epoch.load(Ordering::SeqCst).into();
        v
    }
}
