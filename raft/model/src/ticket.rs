//! O&M approval requests ("operation tickets"): where a control policy requires O&M approval,
//! a user reaches an asset only under an approved request of theirs for that asset, account
//! and protocol, within the approved period and uses.

use crate::common::{AssetRef, Protocol};
use crate::ids::{TicketId, UserId};
use serde::{Deserialize, Serialize};

/// Where a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TicketState {
    Pending,
    Approved,
    Rejected,
}

/// A request as the user makes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTicket {
    pub user_id: UserId,
    pub asset: AssetRef,
    pub account_name: String,
    pub protocol: Protocol,
    pub comment: String,
    /// The period asked for (unix millis); None = from the approval on / without end.
    pub start_ms: Option<u64>,
    pub end_ms: Option<u64>,
    /// One logon only.
    pub one_time: bool,
}

/// An approver's decision, possibly narrowing the period and the uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketDecision {
    pub accept: bool,
    pub by: String,
    pub comment: String,
    pub start_ms: Option<u64>,
    pub end_ms: Option<u64>,
    /// Logons allowed; None keeps what was asked (one, or unlimited).
    pub uses: Option<u32>,
}

impl TicketDecision {
    /// `accept` (or refuse) by `by`, without a comment, keeping the asked period and logons.
    pub fn as_asked(accept: bool, by: &str) -> Self {
        TicketDecision {
            accept,
            by: by.into(),
            comment: String::new(),
            start_ms: None,
            end_ms: None,
            uses: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationTicket {
    pub id: TicketId,
    pub request: NewTicket,
    pub created_at_ms: u64,
    pub state: TicketState,
    /// The approved period and logons (None = unlimited), once approved.
    pub start_ms: u64,
    pub end_ms: Option<u64>,
    pub uses_allowed: Option<u32>,
    pub uses: u32,
    pub decided_by: Option<String>,
    pub decision_comment: String,
}

impl OperationTicket {
    /// Whether it lets its user log on at `now_ms`.
    pub fn admits(&self, now_ms: u64) -> bool {
        self.state == TicketState::Approved
            && self.start_ms <= now_ms
            && self.end_ms.is_none_or(|e| now_ms < e)
            && self.uses_allowed.is_none_or(|n| self.uses < n)
    }
}
