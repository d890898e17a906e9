//! Applies node-epoch and session commands; owns slot accounting and fencing.
//!
//! A slot is an open session. A node's commands carry the epoch it got from its last
//! `NodeStarted`; `NodeStarted` and `ReclaimNode` bump the epoch and close every session the
//! node held, so a node that comes back with an old epoch cannot use slots it lost.

use super::validate::{self, found};
use super::{Handled, State};
use crate::command::Command;
use crate::common::{AssetRef, Protocol};
use crate::ids::*;
use crate::rejection::{LimitScope, Rejection};
use crate::response::Response;
use crate::session::{EndReason, Session, SessionAccount, SessionGrant};
use crate::session_trail::EventsDigest;

impl State {
    pub(super) fn apply_sessions(&mut self, now: u64, cmd: &Command) -> Handled {
        let r = match cmd {
            Command::NodeStarted { node_id } | Command::ReclaimNode { node_id } => {
                Ok(self.bump_epoch(now, *node_id))
            }
            Command::OpenSession {
                user_id,
                asset,
                account_id,
                protocol,
                node_id,
                node_epoch,
                client_addr,
            } => {
                let target = (*asset, *account_id, *protocol);
                self.open_session(now, *user_id, target, (*node_id, *node_epoch), client_addr)
            }
            Command::CloseSession {
                session_id,
                node_id,
                node_epoch,
                reason,
                bytes_up,
                bytes_down,
                events,
            } => self.check_epoch(*node_id, *node_epoch).and_then(|_| {
                self.close_session(
                    now,
                    *session_id,
                    *node_id,
                    *reason,
                    ((*bytes_up, *bytes_down), *events),
                )
            }),
            Command::RequestTermination { session_id } => self.request_termination(*session_id),
            Command::PurgeSessions { ended_before_ms } => Ok(self.purge_sessions(*ended_before_ms)),
            _ => return None,
        };
        Some(r)
    }

    /// Rejects commands from a node whose epoch is not current (or that never started).
    pub(super) fn check_epoch(&self, node: NodeId, given: u64) -> Result<(), Rejection> {
        let current = self.node_epoch(node);
        if current == 0 || given != current {
            return Err(Rejection::StaleNodeEpoch {
                node_id: node,
                given,
                current,
            });
        }
        Ok(())
    }

    /// Refuses when admitting one more session for `user` would exceed a limit.
    pub(super) fn check_slot(&self, user: UserId) -> Result<(), Rejection> {
        let total = self.settings.max_sessions_total;
        if total > 0 && self.open_sessions.len() as u64 >= u64::from(total) {
            return Err(Rejection::ConcurrencyLimit {
                scope: LimitScope::Total,
                limit: total,
            });
        }
        let per_user = self.settings.max_sessions_per_user;
        if per_user > 0 && self.slots_in_use_by(user) >= per_user {
            return Err(Rejection::ConcurrencyLimit {
                scope: LimitScope::User,
                limit: per_user,
            });
        }
        Ok(())
    }

    /// Stores an admitted session (its `id` is assigned here) and takes its slot.
    pub(super) fn insert_session(&mut self, mut s: Session) -> SessionGrant {
        s.id = self.alloc_id();
        let grant = SessionGrant {
            session_id: s.id,
            user_id: s.user_id,
            asset: s.asset,
            account: s.account.clone(),
            protocol: s.protocol,
            token_id: s.token_id,
            count_left: None,
        };
        self.open_sessions.insert(s.id);
        self.session_order.insert(s.id);
        self.sessions.insert(s.id, s);
        grant
    }

    fn bump_epoch(&mut self, now: u64, node: NodeId) -> Response {
        let epoch = self.node_epoch(node) + 1;
        self.node_epochs.insert(node, epoch);
        let closed = self.sessions_of_node(node);
        for id in &closed {
            self.end_session(now, *id, EndReason::NodeLost, None);
        }
        Response::NodeEpoch {
            node_id: node,
            epoch,
            closed_sessions: closed,
        }
    }

    fn open_session(
        &mut self,
        now: u64,
        user: UserId,
        (asset, account, protocol): (AssetRef, u64, Protocol),
        (node, epoch): (NodeId, u64),
        client_addr: &str,
    ) -> Result<Response, Rejection> {
        self.check_epoch(node, epoch)?;
        validate::text("ClientAddr", client_addr)?;
        self.check_asset_access(user, asset, account, protocol, now)?;
        let ticket = self.approval_ticket(
            user,
            asset,
            super::tickets::LogonAccount::Hosted(account),
            protocol,
            now,
        )?;
        self.check_slot(user)?;
        self.use_ticket(ticket);
        let draft = Session {
            id: 0,
            user_id: user,
            token_id: None,
            node_id: node,
            node_epoch: epoch,
            client_addr: client_addr.to_string(),
            asset,
            account: SessionAccount::Hosted(account),
            protocol,
            started_at_ms: now,
            ended_at_ms: None,
            bytes_up: 0,
            bytes_down: 0,
            end_reason: None,
            terminate_requested: false,
            events: None,
            link: None,
        };
        Ok(Response::SessionOpened(self.insert_session(draft)))
    }

    fn close_session(
        &mut self,
        now: u64,
        id: SessionId,
        node: NodeId,
        reason: EndReason,
        (bytes, events): ((u64, u64), Option<EventsDigest>),
    ) -> Result<Response, Rejection> {
        let s = found(&self.sessions, EntityKind::Session, id)?;
        if !s.is_open() {
            return Err(Rejection::SessionClosed { session_id: id });
        }
        if s.node_id != node {
            return Err(Rejection::SessionNotOnNode {
                session_id: id,
                node_id: node,
            });
        }
        let token = s.token_id;
        if let Some(s) = self.sessions.get_mut(&id) {
            s.events = events;
        }
        if reason == EndReason::NotAdmitted {
            // No one used the session: the token use its admission spent is given back.
            if let Some(t) = token.and_then(|t| self.tokens.get_mut(&t)) {
                t.uses = t.uses.saturating_sub(1);
                if t.has_count_limit {
                    t.count_left = t.count_left.saturating_add(1);
                }
            }
        }
        self.end_session(now, id, reason, Some(bytes));
        Ok(Response::SessionClosed { session_id: id })
    }

    /// Marks the session ended, frees its slot and links its record into the session trail.
    fn end_session(
        &mut self,
        now: u64,
        id: SessionId,
        reason: EndReason,
        bytes: Option<(u64, u64)>,
    ) {
        self.open_sessions.remove(&id);
        if let Some(s) = self.sessions.get_mut(&id) {
            s.ended_at_ms = Some(now.max(s.started_at_ms));
            s.end_reason = Some(reason);
            if let Some((up, down)) = bytes {
                s.bytes_up = up;
                s.bytes_down = down;
            }
            self.session_trail.link(s);
        }
    }

    fn request_termination(&mut self, id: SessionId) -> Result<Response, Rejection> {
        let s = self
            .sessions
            .get_mut(&id)
            .ok_or(Rejection::not_found(EntityKind::Session, id))?;
        if !s.is_open() {
            return Err(Rejection::SessionClosed { session_id: id });
        }
        s.terminate_requested = true;
        Ok(Response::Done)
    }

    /// Removes the oldest closed sessions that ended before `before`, in the order they closed
    /// and stopping at the first that ended later, so the session trail stays unbroken.
    fn purge_sessions(&mut self, before: u64) -> Response {
        let gone = self.session_trail.purge_oldest(&self.sessions, |s| {
            s.ended_at_ms.is_some_and(|e| e < before)
        });
        for id in &gone {
            self.sessions.remove(id);
            self.session_order.remove(*id);
        }
        Response::Purged {
            count: gone.len() as u64,
        }
    }
}
