//! Applies O&M token commands: issue, renew, revoke, purge and the atomic spend.

use super::validate::{self, found};
use super::{Handled, State};
use crate::command::Command;
use crate::common::{AssetRef, Protocol};
use crate::ids::*;
use crate::rejection::Rejection;
use crate::response::Response;
use crate::session::{Session, SessionAccount};
use crate::token::{NewToken, Token, TokenAccount};

impl State {
    pub(super) fn apply_tokens(&mut self, now: u64, cmd: &Command) -> Handled {
        let r = match cmd {
            Command::IssueToken(new) => self.issue_token(now, new),
            Command::RenewToken { token_id, user_id } => self.renew_token(now, *token_id, *user_id),
            Command::RevokeToken { token_id } => self
                .tokens
                .get_mut(token_id)
                .map(|t| {
                    t.revoked = true;
                    Response::Done
                })
                .ok_or(Rejection::not_found(EntityKind::Token, *token_id)),
            Command::SpendToken {
                token_hash,
                node_id,
                node_epoch,
                client_addr,
                protocol,
            } => self.spend_token(
                now,
                token_hash,
                (*node_id, *node_epoch),
                client_addr,
                *protocol,
            ),
            Command::PurgeTokens { expired_before_ms } => {
                let before = *expired_before_ms;
                let count = self.drop_tokens(|t| t.revoked || t.expire_at_ms < before);
                Ok(Response::Purged { count })
            }
            _ => return None,
        };
        Some(r)
    }

    /// The user may use this account on this asset now (hosted: full check; custom: asset only).
    fn check_token_target(
        &self,
        user: UserId,
        asset: AssetRef,
        account: &TokenAccount,
        protocol: Protocol,
        now: u64,
    ) -> Result<(), Rejection> {
        match account {
            TokenAccount::Hosted(id) => self.check_asset_access(user, asset, *id, protocol, now),
            TokenAccount::Custom { .. } => self.check_asset_reachable(user, asset, protocol, now),
        }
    }

    fn issue_token(&mut self, now: u64, new: &NewToken) -> Result<Response, Rejection> {
        if let TokenAccount::Custom { name, .. } = &new.account {
            validate::name("AssetAccountName", name)?;
        }
        self.check_token_target(new.user_id, new.asset, &new.account, new.protocol, now)?;
        if self.token_index.contains_key(&new.token_hash) {
            return Err(Rejection::AlreadyExists {
                kind: EntityKind::Token,
                name: "token hash".to_string(),
            });
        }
        if new.validity_secs == Some(0) {
            return Err(Rejection::invalid("ValiditySecs", "must be positive"));
        }
        let secs = new
            .validity_secs
            .unwrap_or(self.settings.token_validity_secs);
        let uses = new
            .use_count
            .unwrap_or(self.settings.token_default_use_count);
        let id = self.alloc_id();
        let token = Token {
            id,
            hash: new.token_hash,
            user_id: new.user_id,
            asset: new.asset,
            account: new.account.clone(),
            protocol: new.protocol,
            created_at_ms: now,
            expire_at_ms: now.saturating_add(secs.saturating_mul(1000)),
            has_count_limit: uses > 0,
            count_left: uses,
            renew_count: 0,
            max_renew_count: self.settings.token_max_renew_count,
            revoked: false,
            uses: 0,
            issued_by: new.issued_by.clone(),
            database_schema: new.database_schema.clone(),
            mysql_native: new.mysql_native,
            pg_scram: new.pg_scram,
        };
        let receipt = token.receipt();
        self.token_index.insert(token.hash, id);
        self.tokens.insert(id, token);
        Ok(Response::TokenIssued(receipt))
    }

    fn renew_token(
        &mut self,
        now: u64,
        id: TokenId,
        user: Option<UserId>,
    ) -> Result<Response, Rejection> {
        let self_renew = self.settings.token_self_renew;
        let extend_ms = self.settings.token_renew_secs.saturating_mul(1000);
        let t = found(&self.tokens, EntityKind::Token, id)?;
        if let Some(u) = user {
            if t.user_id != u || !self_renew {
                return Err(Rejection::NotAuthorized);
            }
            let logon_account = super::tickets::LogonAccount::of_token(&t.account);
            // Under O&M approval a token lives no longer than approved: no self-renewal,
            // whatever request was approved (seed 000: "token self-renewal is not available").
            if let (Some(policy), _) = self.approval_policy(u, t.asset, logon_account) {
                return Err(Rejection::invalid(
                    "TokenId",
                    format!(
                        "O&M approval is on for this asset (control policy {policy:?}): token \
                         self-renewal is not available; submit a new approval request"
                    ),
                ));
            }
        }
        usable(t, now)?;
        if t.renew_count >= t.max_renew_count {
            return Err(Rejection::TokenRenewLimit {
                max: t.max_renew_count,
            });
        }
        let t = self
            .tokens
            .get_mut(&id)
            .ok_or(Rejection::not_found(EntityKind::Token, id))?;
        t.renew_count += 1;
        t.expire_at_ms = t.expire_at_ms.max(now.saturating_add(extend_ms));
        Ok(Response::TokenRenewed(t.receipt()))
    }

    fn spend_token(
        &mut self,
        now: u64,
        hash: &TokenHash,
        (node, epoch): (NodeId, u64),
        client_addr: &str,
        protocol: Option<Protocol>,
    ) -> Result<Response, Rejection> {
        self.check_epoch(node, epoch)?;
        validate::text("ClientAddr", client_addr)?;
        let id = *self.token_index.get(hash).ok_or(Rejection::TokenUnknown)?;
        let t = found(&self.tokens, EntityKind::Token, id)?;
        usable(t, now)?;
        if t.has_count_limit && t.count_left == 0 {
            return Err(Rejection::TokenUsedUp);
        }
        if protocol.is_some_and(|p| p != t.protocol) {
            return Err(Rejection::invalid(
                "Protocol",
                format!("token is for {}", t.protocol),
            ));
        }
        self.check_token_target(t.user_id, t.asset, &t.account, t.protocol, now)?;
        let logon_account = super::tickets::LogonAccount::of_token(&t.account);
        let ticket = self.approval_ticket(t.user_id, t.asset, logon_account, t.protocol, now)?;
        self.check_slot(t.user_id)?;
        // Every check passed: from here on nothing can fail.
        self.use_ticket(ticket);
        let t = found(&self.tokens, EntityKind::Token, id)?;
        let account = match &t.account {
            TokenAccount::Hosted(a) => SessionAccount::Hosted(*a),
            TokenAccount::Custom { name, .. } => SessionAccount::Custom(name.clone()),
        };
        let draft = Session {
            id: 0,
            user_id: t.user_id,
            token_id: Some(id),
            node_id: node,
            node_epoch: epoch,
            client_addr: client_addr.to_string(),
            asset: t.asset,
            account,
            protocol: t.protocol,
            started_at_ms: now,
            ended_at_ms: None,
            bytes_up: 0,
            bytes_down: 0,
            end_reason: None,
            terminate_requested: false,
            events: None,
            link: None,
        };
        let count_left = self.tokens.get_mut(&id).and_then(|t| {
            t.uses = t.uses.saturating_add(1);
            t.has_count_limit.then(|| {
                t.count_left -= 1;
                t.count_left
            })
        });
        let mut grant = self.insert_session(draft);
        grant.count_left = count_left;
        Ok(Response::SessionOpened(grant))
    }
}

impl State {
    /// May this open session still run at `now_ms`? Its user must be active (not locked by an
    /// administrator, inside its validity), its O&M token (if it came with one) neither revoked,
    /// deleted nor expired, and its target still authorized. Access withdrawn after a session
    /// opened ends it: every node asks this of the sessions it holds whenever the state changes
    /// and once a second.
    pub fn check_session_access(&self, id: SessionId, now_ms: u64) -> Result<(), Rejection> {
        let s = found(&self.sessions, EntityKind::Session, id)?;
        if let Some(token) = s.token_id {
            let t = self.tokens.get(&token).ok_or(Rejection::TokenRevoked)?;
            usable(t, now_ms)?;
            return self.check_token_target(t.user_id, t.asset, &t.account, t.protocol, now_ms);
        }
        match &s.account {
            SessionAccount::Hosted(a) => {
                self.check_asset_access(s.user_id, s.asset, *a, s.protocol, now_ms)
            }
            SessionAccount::Custom(_) => {
                self.check_asset_reachable(s.user_id, s.asset, s.protocol, now_ms)
            }
        }
    }
}

/// Not revoked and not expired at `now`.
fn usable(t: &Token, now: u64) -> Result<(), Rejection> {
    if t.revoked {
        return Err(Rejection::TokenRevoked);
    }
    if now >= t.expire_at_ms {
        return Err(Rejection::TokenExpired);
    }
    Ok(())
}
