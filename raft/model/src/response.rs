//! The outcome of applying one request.

use crate::ids::{NodeId, SessionId, UserId};
use crate::rejection::Rejection;
use crate::session::SessionGrant;
use crate::token::TokenReceipt;
use serde::{Deserialize, Serialize};

/// What `apply` returns; deterministic like the state itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// Success with nothing to report (also used for blank and membership log entries).
    Done,
    /// An entity was created with this id.
    Created { id: u64 },
    /// An O&M token was issued.
    TokenIssued(TokenReceipt),
    /// An O&M token was renewed.
    TokenRenewed(TokenReceipt),
    /// A session was admitted and holds a slot.
    SessionOpened(SessionGrant),
    /// A session was closed and its slot freed.
    SessionClosed { session_id: SessionId },
    /// A node's epoch was bumped; these sessions were closed with `NodeLost`.
    NodeEpoch {
        node_id: NodeId,
        epoch: u64,
        closed_sessions: Vec<SessionId>,
    },
    /// A logon attempt was recorded.
    LoginRecorded {
        user_id: UserId,
        failed_logins: u32,
        /// Password logons are refused until then (an automatic lockout began or goes on).
        locked_until_ms: Option<u64>,
    },
    /// Records were purged.
    Purged { count: u64 },
    /// The command was refused and changed nothing.
    Rejected(Rejection),
    /// The answers to a `Command::Batch`, in its order.
    Batch(#[serde(deserialize_with = "crate::decoding::nested")] Vec<Response>),
    /// Sealed values replaced by `Command::Reseal`, and those left alone because they changed
    /// meanwhile.
    Resealed {
        replaced: u64,
        changed_meanwhile: u64,
    },
    /// The instance's name (`Command::EnsureInstanceId`).
    InstanceId { instance_id: String },
    /// The answer to a `Command::ApiCall` whose nonce was recorded: its change's answer
    /// (`Done` without a change; `Rejected` when the change was refused), and the sequence
    /// number of the admin audit entry appended, if one was.
    ApiCalled {
        #[serde(deserialize_with = "crate::decoding::nested")]
        change: Box<Response>,
        audit_seq: Option<u64>,
    },
    /// What a directory synchronization changed (`Command::SyncDirectory`).
    DirectorySynced(Box<crate::directory::SyncReport>),
}

impl Response {
    /// The rejection, if the command was refused.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            Response::Rejected(r) => Some(r),
            _ => None,
        }
    }

    /// Turns the response into a `Result`.
    pub fn into_result(self) -> Result<Response, Rejection> {
        match self {
            Response::Rejected(r) => Err(r),
            other => Ok(other),
        }
    }
}
