//! The node's implementation of `ops`'s `NodeProbe` port: readiness and gauges from the Raft
//! member and the applied state.

use crate::config::Role;
use crate::running::NodeShared;
use portunus_ops::{Metrics, NodeProbe, Readiness};
use portunus_raft::Replica;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How long a leader may go without a quorum acknowledgement and still call itself ready.
const QUORUM_FRESH_MS: u64 = 1_500;

pub(crate) struct Probe {
    replica: Replica,
    shared: Arc<NodeShared>,
    clock: Arc<LogClock>,
}

/// When recent log indexes first appeared in this node's log, so that a peer's lag can be told
/// in seconds: the age of the oldest entry it does not hold yet.
#[derive(Default)]
struct LogClock {
    seen: Mutex<VecDeque<(u64, Instant)>>,
}

/// Indexes remembered (one per Raft metrics change, so many entries apart under load).
const LOG_CLOCK_LEN: usize = 4096;

impl LogClock {
    fn note(&self, last_log_index: u64) {
        let mut seen = self.seen.lock().expect("lock");
        if seen.back().is_some_and(|(i, _)| *i >= last_log_index) {
            return;
        }
        if seen.len() == LOG_CLOCK_LEN {
            seen.pop_front();
        }
        seen.push_back((last_log_index, Instant::now()));
    }

    /// Seconds since the first entry after `matched` appeared; 0 when nothing is missing.
    fn lag_seconds(&self, matched: u64, last_log_index: u64) -> f64 {
        if matched >= last_log_index {
            return 0.0;
        }
        let seen = self.seen.lock().expect("lock");
        // The first remembered index above `matched` appeared no later than entry matched+1
        // would have been recorded; older than the window: the oldest remembered time.
        let at = seen
            .iter()
            .find(|(i, _)| *i > matched)
            .or(seen.front())
            .map(|(_, t)| *t);
        at.map_or(0.0, |t| t.elapsed().as_secs_f64())
    }

    /// Keep noting the last log index until the replica stops.
    async fn run(self: Arc<Self>, replica: Replica) {
        let mut rx = replica.watch_status();
        loop {
            let last = rx.borrow_and_update().last_log_index.unwrap_or(0);
            self.note(last);
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
}

impl Probe {
    pub(crate) fn new(replica: Replica, shared: Arc<NodeShared>) -> Self {
        let clock = Arc::new(LogClock::default());
        tokio::spawn(clock.clone().run(replica.clone()));
        Probe {
            replica,
            shared,
            clock,
        }
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
        let status = self.replica.status();
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
        m.raft_snapshot_building
            .set(self.replica.view().snapshot_building() as i64);
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
        m.raft_replication_lag_seconds.reset();
        if status.leader == Some(status.node_id) {
            for n in status.nodes.iter().filter(|n| n.id != status.node_id) {
                let matched = n.matched_index.unwrap_or(0);
                let lag = status.last_log_index.saturating_sub(matched);
                let peer = n.id.to_string();
                m.raft_replication_lag
                    .with_label_values(&[&peer])
                    .set(lag as i64);
                m.raft_replication_lag_seconds
                    .with_label_values(&[&peer])
                    .set(self.clock.lag_seconds(matched, status.last_log_index));
            }
        }
        m.node_ready.set(self.readiness().ready as i64);
        let gateway = self
            .shared
            .ssh_gateway
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(g) = gateway {
            let s = g.preauth();
            m.ssh_unauthenticated_connections
                .set(s.unauthenticated as i64);
            export_cuts(&m.ssh_preauth_cut_total, &s);
        }
        let s = self.shared.database_preauth.stats();
        m.database_unauthenticated_connections
            .set(s.unauthenticated as i64);
        export_cuts(&m.database_preauth_cut_total, &s);
        let node_id = self.shared.node_id;
        let (in_use, limit, mine, held) = self.replica.view().read(|s| {
            let mine: Vec<String> = s
                .open_sessions()
                .filter(|sess| sess.node_id == node_id)
                .map(|sess| sess.protocol.to_string())
                .collect();
            let mut held = std::collections::BTreeMap::new();
            for sess in s.open_sessions() {
                *held.entry(sess.node_id).or_insert(0i64) += 1;
            }
            (
                s.slots_in_use(),
                s.settings().max_sessions_total,
                mine,
                held,
            )
        });
        m.concurrency_slots_in_use.set(in_use as i64);
        m.concurrency_slots_limit.set(limit as i64);
        m.concurrency_slots_held.reset();
        for member in &status.nodes {
            let n = held.get(&member.id).copied().unwrap_or(0);
            m.concurrency_slots_held
                .with_label_values(&[&member.id.to_string()])
                .set(n);
        }
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
        let mut v = serde_json::to_value(self.replica.status()).unwrap_or_default();
        v["ready"] = serde_json::to_value(self.readiness()).unwrap_or_default();
        v["epoch"] = self.shared.epoch.load(Ordering::SeqCst).into();
        v
    }
}

/// Brings the counters of connections cut before login, by reason, up to `stats`.
fn export_cuts(
    counters: &portunus_ops::IntCounterVec,
    stats: &portunus_proxy::preauth::PreAuthStats,
) {
    for (reason, value) in [
        ("total_cap", stats.refused_total),
        ("address_cap", stats.refused_per_address),
        ("grace_time", stats.grace_expired),
    ] {
        let c = counters.with_label_values(&[reason]);
        c.inc_by(value.saturating_sub(c.get()));
    }
}

#[cfg(test)]
mod tests {
    use super::LogClock;

    #[test]
    fn lag_is_zero_when_caught_up_and_grows_with_the_oldest_missing_entry() {
        let clock = LogClock::default();
        clock.note(10);
        std::thread::sleep(std::time::Duration::from_millis(30));
        clock.note(20);
        assert_eq!(clock.lag_seconds(20, 20), 0.0);
        let behind_old = clock.lag_seconds(5, 20);
        let behind_new = clock.lag_seconds(15, 20);
        assert!(behind_old >= 0.03, "{behind_old}");
        assert!(behind_new < behind_old, "{behind_new} vs {behind_old}");
        // An index noted twice, or going back, keeps the first time.
        clock.note(20);
        clock.note(3);
        assert!(clock.lag_seconds(15, 20) >= behind_new);
    }
}
