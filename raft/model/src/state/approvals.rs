//! Applies command approval requests and decisions.

use super::{Handled, State};
use crate::approval::{ApprovalState, CommandApproval};
use crate::command::Command;
use crate::ids::{ApprovalId, EntityKind, SessionId};
use crate::rejection::Rejection;
use crate::response::Response;

/// Requests kept (waiting, and decided ones for the record); the oldest decided go first.
const MAX_KEPT: usize = 10_000;
/// Requests waiting at once, cluster-wide and per session.
const MAX_WAITING: usize = 1_000;
const MAX_WAITING_PER_SESSION: usize = 16;
/// The longest command held.
const MAX_COMMAND: usize = 16 * 1024;

impl State {
    pub(super) fn apply_approvals(&mut self, now: u64, cmd: &Command) -> Handled {
        let r = match cmd {
            Command::AskCommandApproval {
                session_id,
                command,
                deadline_ms,
            } => self.ask_approval(now, *session_id, command, *deadline_ms),
            Command::DecideCommandApproval {
                approval_id,
                accept,
                by,
            } => self.decide_approval(now, *approval_id, *accept, by),
            Command::WithdrawCommandApproval {
                approval_id,
                session_id,
            } => self.withdraw_approval(now, *approval_id, *session_id),
            _ => return None,
        };
        Some(r)
    }

    fn ask_approval(
        &mut self,
        now: u64,
        session_id: SessionId,
        command: &str,
        deadline_ms: u64,
    ) -> Result<Response, Rejection> {
        let session = self
            .sessions
            .get(&session_id)
            .filter(|s| s.is_open())
            .ok_or(Rejection::NotFound {
                kind: EntityKind::Session,
                id: session_id,
            })?;
        if command.len() > MAX_COMMAND || command.trim().is_empty() {
            return Err(Rejection::invalid("Command", "empty or longer than 16 KiB"));
        }
        let waiting: Vec<&CommandApproval> =
            self.approvals.values().filter(|a| a.waiting(now)).collect();
        let of_session = waiting
            .iter()
            .filter(|a| a.session_id == session_id)
            .count();
        if waiting.len() >= MAX_WAITING || of_session >= MAX_WAITING_PER_SESSION {
            return Err(Rejection::invalid(
                "Command",
                "too many commands are waiting for approval",
            ));
        }
        let (user_id, node_id) = (session.user_id, session.node_id);
        self.prune_approvals(now);
        let id = self.alloc_id();
        self.approvals.insert(
            id,
            CommandApproval {
                id,
                session_id,
                user_id,
                node_id,
                command: command.to_string(),
                asked_at_ms: now,
                deadline_ms,
                state: ApprovalState::Waiting,
                decided_by: None,
                decided_at_ms: None,
            },
        );
        Ok(Response::Created { id })
    }

    /// Drops the oldest requests no longer waiting while more than [`MAX_KEPT`] are kept.
    fn prune_approvals(&mut self, now: u64) {
        while self.approvals.len() >= MAX_KEPT {
            let oldest = self
                .approvals
                .values()
                .find(|a| !a.waiting(now))
                .map(|a| a.id);
            match oldest {
                Some(id) => self.approvals.remove(&id),
                None => break,
            };
        }
    }

    fn decide_approval(
        &mut self,
        now: u64,
        id: ApprovalId,
        accept: bool,
        by: &str,
    ) -> Result<Response, Rejection> {
        let a = self.approvals.get_mut(&id).ok_or(Rejection::NotFound {
            kind: EntityKind::CommandApproval,
            id,
        })?;
        if !a.waiting(now) {
            let why = match a.state {
                ApprovalState::Waiting => "its wait is over (the session refused the command)",
                ApprovalState::Accepted => "it was already accepted",
                ApprovalState::Rejected => "it was already rejected",
                ApprovalState::Withdrawn => "the engineer withdrew it",
            };
            return Err(Rejection::invalid(
                "CommandId",
                format!("cannot decide: {why}"),
            ));
        }
        a.state = if accept {
            ApprovalState::Accepted
        } else {
            ApprovalState::Rejected
        };
        a.decided_by = Some(by.to_string());
        a.decided_at_ms = Some(now);
        Ok(Response::Done)
    }

    fn withdraw_approval(
        &mut self,
        now: u64,
        id: ApprovalId,
        session_id: SessionId,
    ) -> Result<Response, Rejection> {
        let a = self.approvals.get_mut(&id).ok_or(Rejection::NotFound {
            kind: EntityKind::CommandApproval,
            id,
        })?;
        if a.session_id != session_id {
            return Err(Rejection::invalid(
                "CommandId",
                "only the session holding the command withdraws it",
            ));
        }
        if !a.waiting(now) {
            return Err(Rejection::invalid("CommandId", "it is no longer waiting"));
        }
        a.state = ApprovalState::Withdrawn;
        a.decided_at_ms = Some(now);
        Ok(Response::Done)
    }

    pub fn command_approval(&self, id: ApprovalId) -> Option<&CommandApproval> {
        self.approvals.get(&id)
    }

    /// The requests still waiting at `now_ms`, oldest first.
    pub fn approvals_waiting(&self, now_ms: u64) -> impl Iterator<Item = &CommandApproval> {
        self.approvals.values().filter(move |a| a.waiting(now_ms))
    }
}
