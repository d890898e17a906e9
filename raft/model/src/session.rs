//! Sessions: one connection of a user to an asset through a node, holding one concurrency slot
//! while open.

use crate::common::{AssetRef, Protocol};
use crate::ids::{HostAccountId, NodeId, SessionId, TokenId, UserId};
use crate::session_trail::{EventsDigest, SessionLink};
use serde::{Deserialize, Serialize};

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EndReason {
    /// Client or target closed the connection.
    Normal,
    /// An administrator asked for termination.
    Terminated,
    /// Idle or maximum-duration timeout.
    Timeout,
    /// The node holding the session restarted or was declared lost.
    NodeLost,
    /// The connection failed.
    Error,
    /// The node gave up on the login before its admission committed (the cluster answered too
    /// late), so no one ever used the session: a token use it spent is given back.
    NotAdmitted,
}

/// The account a session logs on with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionAccount {
    /// A hosted host or database account.
    Hosted(HostAccountId),
    /// A custom account carried by an O&M token.
    Custom(String),
}

/// A session record, open while `ended_at_ms` is `None`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub token_id: Option<TokenId>,
    pub node_id: NodeId,
    pub node_epoch: u64,
    pub client_addr: String,
    pub asset: AssetRef,
    pub account: SessionAccount,
    pub protocol: Protocol,
    pub started_at_ms: u64,
    pub ended_at_ms: Option<u64>,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub end_reason: Option<EndReason>,
    pub terminate_requested: bool,
    /// The digest of the session's event chain, given by the node that closed it (None when
    /// the session was closed without its node: restarted, lost).
    pub events: Option<EventsDigest>,
    /// Its place in the trail of closed sessions (set when it closes).
    pub link: Option<SessionLink>,
}

impl Session {
    /// Whether the session still holds its slot.
    pub fn is_open(&self) -> bool {
        self.ended_at_ms.is_none()
    }
}

/// What a node learns when a session is admitted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionGrant {
    pub session_id: SessionId,
    pub user_id: UserId,
    pub asset: AssetRef,
    pub account: SessionAccount,
    pub protocol: Protocol,
    pub token_id: Option<TokenId>,
    /// Uses left on the token when it has a count limit.
    pub count_left: Option<u32>,
}
