//! Applies O&M approval requests and decides whether a logon needs (and has) one.

use super::validate::{self, found};
use super::{Handled, State};
use crate::command::Command;
use crate::common::{AssetRef, Protocol};
use crate::ids::{EntityKind, TicketId, UserId};
use crate::rejection::Rejection;
use crate::response::Response;
use crate::ticket::{NewTicket, OperationTicket, TicketDecision, TicketState};

/// Requests kept; the oldest decided go first.
const MAX_KEPT: usize = 10_000;
/// Pending requests per user.
const MAX_PENDING_PER_USER: usize = 100;

/// The account of a logon, as a request names it.
pub(super) enum LogonAccount<'a> {
    Hosted(u64),
    Named(&'a str),
}

impl<'a> LogonAccount<'a> {
    /// The account an O&M token logs on as.
    pub(super) fn of_token(account: &'a crate::token::TokenAccount) -> Self {
        match account {
            crate::token::TokenAccount::Hosted(a) => LogonAccount::Hosted(*a),
            crate::token::TokenAccount::Custom { name, .. } => LogonAccount::Named(name),
        }
    }
}

impl State {
    pub(super) fn apply_tickets(&mut self, now: u64, cmd: &Command) -> Handled {
        let r = match cmd {
            Command::CreateOperationTicket(t) => self.create_ticket(now, t),
            Command::DecideOperationTicket {
                ticket_id,
                decision,
            } => self.decide_ticket(now, *ticket_id, decision),
            _ => return None,
        };
        Some(r)
    }

    fn create_ticket(&mut self, now: u64, t: &NewTicket) -> Result<Response, Rejection> {
        found(&self.users, EntityKind::User, t.user_id)?;
        match t.asset {
            AssetRef::Host(h) => found(&self.hosts, EntityKind::Host, h).map(|_| ())?,
            AssetRef::Database(d) => found(&self.databases, EntityKind::Database, d).map(|_| ())?,
        }
        validate::name("AssetAccountName", &t.account_name)?;
        validate::text("ApproveComment", &t.comment)?;
        if let (Some(s), Some(e)) = (t.start_ms, t.end_ms) {
            if e <= s {
                return Err(Rejection::invalid(
                    "EffectEndTime",
                    "must be after EffectStartTime",
                ));
            }
        }
        let pending = self
            .tickets
            .values()
            .filter(|x| x.request.user_id == t.user_id && x.state == TicketState::Pending)
            .count();
        if pending >= MAX_PENDING_PER_USER {
            return Err(Rejection::invalid(
                "AssetId",
                format!("at most {MAX_PENDING_PER_USER} pending requests per user"),
            ));
        }
        while self.tickets.len() >= MAX_KEPT {
            let oldest = self
                .tickets
                .values()
                .find(|x| x.state != TicketState::Pending)
                .map(|x| x.id);
            match oldest {
                Some(id) => self.tickets.remove(&id),
                None => return Err(Rejection::invalid("AssetId", "too many pending requests")),
            };
        }
        let id = self.alloc_id();
        self.tickets.insert(
            id,
            OperationTicket {
                id,
                request: t.clone(),
                created_at_ms: now,
                state: TicketState::Pending,
                start_ms: 0,
                end_ms: None,
                uses_allowed: None,
                uses: 0,
                decided_by: None,
                decision_comment: String::new(),
            },
        );
        Ok(Response::Created { id })
    }

    fn decide_ticket(
        &mut self,
        now: u64,
        id: TicketId,
        d: &TicketDecision,
    ) -> Result<Response, Rejection> {
        let t = found(&self.tickets, EntityKind::OperationTicket, id)?;
        if t.state != TicketState::Pending {
            return Err(Rejection::invalid(
                "OperationTicketId",
                "the request was already decided",
            ));
        }
        validate::text("Comment", &d.comment)?;
        let start = d.start_ms.or(t.request.start_ms).unwrap_or(now);
        let end = d.end_ms.or(t.request.end_ms);
        if end.is_some_and(|e| e <= start) {
            return Err(Rejection::invalid(
                "EffectEndTime",
                "must be after EffectStartTime",
            ));
        }
        let uses = d.uses.or(t.request.one_time.then_some(1));
        let Some(t) = self.tickets.get_mut(&id) else {
            return Err(Rejection::NotFound {
                kind: EntityKind::OperationTicket,
                id,
            });
        };
        t.state = if d.accept {
            TicketState::Approved
        } else {
            TicketState::Rejected
        };
        t.start_ms = start;
        t.end_ms = end;
        t.uses_allowed = uses;
        t.decided_by = Some(d.by.clone());
        t.decision_comment = d.comment.clone();
        Ok(Response::Done)
    }

    /// The control policy putting a logon of `user` on `asset` as `account` under O&M
    /// approval (its name), if one does; and the account's name.
    pub(super) fn approval_policy<'a>(
        &'a self,
        user: UserId,
        asset: AssetRef,
        account: LogonAccount<'a>,
    ) -> (Option<String>, &'a str) {
        let (hosted, name) = match account {
            LogonAccount::Hosted(id) => {
                let name = match asset {
                    AssetRef::Host(_) => self.host_accounts.get(&id).map(|a| a.name.as_str()),
                    AssetRef::Database(_) => {
                        self.database_accounts.get(&id).map(|a| a.name.as_str())
                    }
                };
                (Some(id), name.unwrap_or_default())
            }
            LogonAccount::Named(n) => (None, n),
        };
        let policy = match (asset, hosted) {
            (AssetRef::Host(h), Some(a)) => self.policy_for_host(user, h, a),
            (AssetRef::Host(_), None) => None,
            (AssetRef::Database(d), a) => self.policy_for_database(user, d, a),
        };
        (
            policy.filter(|p| p.approval).map(|p| p.basics.name.clone()),
            name,
        )
    }

    /// For a logon of `user` on `asset` as `account` over `protocol` at `now`: Ok(None) when
    /// no O&M approval is required, Ok(the request to use) when one admits it, the refusal
    /// otherwise.
    pub(super) fn approval_ticket(
        &self,
        user: UserId,
        asset: AssetRef,
        account: LogonAccount<'_>,
        protocol: Protocol,
        now: u64,
    ) -> Result<Option<TicketId>, Rejection> {
        let (policy, name) = self.approval_policy(user, asset, account);
        let Some(policy) = policy else {
            return Ok(None);
        };
        self.tickets
            .values()
            .find(|t| {
                t.request.user_id == user
                    && t.request.asset == asset
                    && t.request.account_name == name
                    && t.request.protocol == protocol
                    && t.admits(now)
            })
            .map(|t| Some(t.id))
            .ok_or(Rejection::ApprovalRequired { policy })
    }

    /// Counts a logon under request `id`.
    pub(super) fn use_ticket(&mut self, id: Option<TicketId>) {
        if let Some(t) = id.and_then(|id| self.tickets.get_mut(&id)) {
            t.uses = t.uses.saturating_add(1);
        }
    }

    pub fn operation_ticket(&self, id: TicketId) -> Option<&OperationTicket> {
        self.tickets.get(&id)
    }

    /// Every request, in id order.
    pub fn operation_tickets(&self) -> impl Iterator<Item = &OperationTicket> {
        self.tickets.values()
    }
}
