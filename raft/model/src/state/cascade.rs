//! Deletions and what they cascade to: grants, rule members, tokens, tags and open sessions.
//!
//! Open sessions are history and keep their slot until their node closes them; a deletion only
//! marks the affected ones `terminate_requested`.

use super::validate::found;
use super::State;
use crate::authz::Principal;
use crate::common::AssetRef;
use crate::ids::*;
use crate::rejection::Rejection;
use crate::response::Response;
use crate::session::{Session, SessionAccount};
use crate::settings::ResourceRef;
use crate::token::{Token, TokenAccount};

impl State {
    pub(super) fn delete_user(&mut self, id: UserId) -> Result<Response, Rejection> {
        found(&self.users, EntityKind::User, id)?;
        if let Some(u) = self.users.remove(&id) {
            self.user_names.remove(&u.name, id);
        }
        for g in self.user_groups.values_mut() {
            g.members.remove(&id);
        }
        self.drop_principal(Principal::User(id));
        for r in self.rules.values_mut() {
            r.spec.users.remove(&id);
        }
        self.drop_tokens(|t| t.user_id == id);
        self.drop_delegated_user(id);
        self.access_keys.retain(|_, k| k.user_id != Some(id));
        self.tags.remove(&ResourceRef::User(id));
        self.terminate_where(|s| s.user_id == id);
        Ok(Response::Done)
    }

    pub(super) fn delete_user_group(&mut self, id: UserGroupId) -> Result<Response, Rejection> {
        found(&self.user_groups, EntityKind::UserGroup, id)?;
        if let Some(g) = self.user_groups.remove(&id) {
            self.user_group_names.remove(&g.name, id);
        }
        self.drop_principal(Principal::Group(id));
        for r in self.rules.values_mut() {
            r.spec.user_groups.remove(&id);
        }
        self.tags.remove(&ResourceRef::UserGroup(id));
        Ok(Response::Done)
    }

    fn drop_principal(&mut self, p: Principal) {
        self.host_grants.retain(|k, _| k.0 != p);
        self.host_group_grants.retain(|k, _| k.0 != p);
        self.database_grants.retain(|k, _| k.0 != p);
    }

    pub(super) fn delete_host(&mut self, id: HostId) -> Result<Response, Rejection> {
        found(&self.hosts, EntityKind::Host, id)?;
        let accounts: Vec<u64> = self.host_accounts_of(id).map(|a| a.id).collect();
        for a in accounts {
            self.delete_host_account(a)?;
        }
        if let Some(h) = self.hosts.remove(&id) {
            self.host_names.remove(&h.name, id);
        }
        self.host_grants.retain(|k, _| k.1 != id);
        for g in self.host_groups.values_mut() {
            g.hosts.remove(&id);
        }
        for r in self.rules.values_mut() {
            r.spec.host_accounts.remove(&id);
        }
        let asset = AssetRef::Host(id);
        self.drop_tokens(|t| t.asset == asset);
        self.host_key_fingerprints.remove(&id);
        self.tags.remove(&ResourceRef::Host(id));
        self.terminate_where(|s| s.asset == asset);
        Ok(Response::Done)
    }

    pub(super) fn delete_host_account(&mut self, id: HostAccountId) -> Result<Response, Rejection> {
        found(&self.host_accounts, EntityKind::HostAccount, id)?;
        if let Some(a) = self.host_accounts.remove(&id) {
            self.host_account_owners.remove(a.host_id, id);
        }
        for set in self.host_grants.values_mut() {
            set.remove(&id);
        }
        for r in self.rules.values_mut() {
            for set in r.spec.host_accounts.values_mut() {
                set.remove(&id);
            }
        }
        self.drop_account_uses(id);
        Ok(Response::Done)
    }

    /// Tokens and open sessions that log on with a hosted account (ids are unique across kinds).
    fn drop_account_uses(&mut self, account: u64) {
        self.drop_tokens(|t| t.account == TokenAccount::Hosted(account));
        self.terminate_where(|s| s.account == SessionAccount::Hosted(account));
    }

    pub(super) fn delete_shared_key(&mut self, id: SharedKeyId) -> Result<Response, Rejection> {
        found(&self.shared_keys, EntityKind::SharedKey, id)?;
        self.shared_keys.remove(&id);
        let holding: Vec<HostAccountId> = self
            .host_accounts
            .values()
            .filter(|a| a.shared_key_id == Some(id))
            .map(|a| a.id)
            .collect();
        for a in holding {
            if let Some(a) = self.host_accounts.get_mut(&a) {
                a.shared_key_id = None;
            }
        }
        Ok(Response::Done)
    }

    pub(super) fn delete_host_group(&mut self, id: HostGroupId) -> Result<Response, Rejection> {
        found(&self.host_groups, EntityKind::HostGroup, id)?;
        self.host_groups.remove(&id);
        self.host_group_grants.retain(|k, _| k.1 != id);
        for r in self.rules.values_mut() {
            r.spec.host_groups.remove(&id);
        }
        self.tags.remove(&ResourceRef::HostGroup(id));
        Ok(Response::Done)
    }

    pub(super) fn delete_database(&mut self, id: DatabaseId) -> Result<Response, Rejection> {
        found(&self.databases, EntityKind::Database, id)?;
        let accounts: Vec<u64> = self.database_accounts_of(id).map(|a| a.id).collect();
        for a in accounts {
            self.delete_database_account(a)?;
        }
        if let Some(d) = self.databases.remove(&id) {
            self.database_names.remove(&d.name, id);
        }
        self.database_grants.retain(|k, _| k.1 != id);
        for g in self.host_groups.values_mut() {
            g.databases.remove(&id);
        }
        for r in self.rules.values_mut() {
            r.spec.database_accounts.remove(&id);
        }
        let asset = AssetRef::Database(id);
        self.drop_tokens(|t| t.asset == asset);
        self.tags.remove(&ResourceRef::Database(id));
        self.terminate_where(|s| s.asset == asset);
        Ok(Response::Done)
    }

    pub(super) fn delete_database_account(
        &mut self,
        id: DatabaseAccountId,
    ) -> Result<Response, Rejection> {
        found(&self.database_accounts, EntityKind::DatabaseAccount, id)?;
        if let Some(a) = self.database_accounts.remove(&id) {
            self.database_account_owners.remove(a.database_id, id);
        }
        for set in self.database_grants.values_mut() {
            set.remove(&id);
        }
        for r in self.rules.values_mut() {
            for set in r.spec.database_accounts.values_mut() {
                set.remove(&id);
            }
        }
        self.drop_account_uses(id);
        Ok(Response::Done)
    }

    /// Removes matching tokens and their hash index entries; returns how many.
    pub(super) fn drop_tokens(&mut self, pred: impl Fn(&Token) -> bool) -> u64 {
        let doomed: Vec<(TokenId, TokenHash)> = self
            .tokens
            .values()
            .filter(|t| pred(t))
            .map(|t| (t.id, t.hash))
            .collect();
        for (id, hash) in &doomed {
            self.tokens.remove(id);
            self.token_index.remove(hash);
        }
        doomed.len() as u64
    }

    /// Marks matching open sessions for termination.
    fn terminate_where(&mut self, pred: impl Fn(&Session) -> bool) {
        for id in &self.open_sessions {
            if let Some(s) = self.sessions.get_mut(id) {
                if pred(s) {
                    s.terminate_requested = true;
                }
            }
        }
    }
}
