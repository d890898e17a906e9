//! A plain report of a member's view of the cluster, built from openraft's metrics.

use crate::{NodeId, NodeInfo};
use openraft::{RaftMetrics, ServerState};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One member as seen from this node.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeStatus {
    pub id: NodeId,
    pub info: NodeInfo,
    pub voter: bool,
    /// A witness: a member that serves no sessions (it publishes no SSH or API address).
    pub witness: bool,
    /// The member's role in words: "witness" or "engine".
    pub kind: String,
    /// Highest log index known replicated to it (reported by the leader only).
    pub matched_index: Option<u64>,
}

/// This node's view of the cluster.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub node_id: NodeId,
    /// "leader", "follower", "candidate", "learner" or "shutdown".
    pub role: String,
    pub leader: Option<NodeId>,
    pub term: u64,
    pub last_log_index: u64,
    /// Highest log index this node knows committed (a majority holds it), when reported:
    /// openraft's metrics do not carry it, the log store does (see [`Self::with_commit_index`]).
    pub commit_index: Option<u64>,
    pub applied_index: u64,
    pub snapshot_index: u64,
    pub purged_index: u64,
    /// On the leader: milliseconds since a quorum last acknowledged it.
    pub millis_since_quorum_ack: Option<u64>,
    pub nodes: Vec<NodeStatus>,
}

/// A member that publishes neither an SSH nor an API address serves no sessions: a witness.
fn is_witness(info: &NodeInfo) -> bool {
    info.ssh_addr.is_empty() && info.api_addr.is_empty()
}

impl ClusterStatus {
    /// The same report with the commit index filled in (from
    /// [`crate::store::StateView::committed_index`]).
    pub fn with_commit_index(mut self, committed: u64) -> Self {
        self.commit_index = Some(committed);
        self
    }

    pub(crate) fn from_metrics(m: &RaftMetrics<NodeId, NodeInfo>) -> Self {
        let role = match m.state {
            ServerState::Leader => "leader",
            ServerState::Follower => "follower",
            ServerState::Candidate => "candidate",
            ServerState::Learner => "learner",
            ServerState::Shutdown => "shutdown",
        };
        let matched: BTreeMap<NodeId, Option<u64>> = m
            .replication
            .as_ref()
            .map(|r| r.iter().map(|(id, l)| (*id, l.map(|l| l.index))).collect())
            .unwrap_or_default();
        let membership = m.membership_config.membership();
        let voters: Vec<NodeId> = membership.voter_ids().collect();
        let nodes = membership
            .nodes()
            .map(|(id, info)| NodeStatus {
                id: *id,
                info: info.clone(),
                voter: voters.contains(id),
                witness: is_witness(info),
                kind: if is_witness(info) {
                    "witness"
                } else {
                    "engine"
                }
                .to_string(),
                matched_index: matched.get(id).copied().flatten(),
            })
            .collect();
        ClusterStatus {
            node_id: m.id,
            role: role.to_string(),
            leader: m.current_leader,
            term: m.current_term,
            last_log_index: m.last_log_index.unwrap_or(0),
            commit_index: None,
            applied_index: m.last_applied.map(|l| l.index).unwrap_or(0),
            snapshot_index: m.snapshot.map(|l| l.index).unwrap_or(0),
            purged_index: m.purged.map(|l| l.index).unwrap_or(0),
            millis_since_quorum_ack: m.millis_since_quorum_ack,
            nodes,
        }
    }
}
