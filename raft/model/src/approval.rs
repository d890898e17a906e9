//! Command approval: a shell command (or an exec) that a control policy lists for approval is
//! held by the gateway until an administrator accepts or rejects it, from any node, or until
//! its deadline passes.

use crate::ids::{ApprovalId, NodeId, SessionId, UserId};
use serde::{Deserialize, Serialize};

/// Where a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApprovalState {
    Waiting,
    Accepted,
    Rejected,
    /// The engineer gave up waiting (Ctrl-C, or left); no longer decidable.
    Withdrawn,
}

/// One command waiting for (or given) an administrator's decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandApproval {
    pub id: ApprovalId,
    pub session_id: SessionId,
    pub user_id: UserId,
    /// The node holding the command.
    pub node_id: NodeId,
    pub command: String,
    pub asked_at_ms: u64,
    /// After this the request can no longer be decided (the gateway gave up waiting).
    pub deadline_ms: u64,
    pub state: ApprovalState,
    /// Who decided (an AccessKey id, or a user name).
    pub decided_by: Option<String>,
    pub decided_at_ms: Option<u64>,
}

impl CommandApproval {
    /// Still waiting at `now_ms`.
    pub fn waiting(&self, now_ms: u64) -> bool {
        self.state == ApprovalState::Waiting && now_ms < self.deadline_ms
    }
}
