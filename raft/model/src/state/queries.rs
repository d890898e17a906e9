//! Read-only lookups for gateways and the API. Iterators yield in ascending id order.

use super::State;
use crate::authz::{Principal, Rule};
use crate::common::AssetRef;
use crate::database::{Database, DatabaseAccount, NetworkDomain};
use crate::host::{Host, HostAccount, HostGroup, SharedKey};
use crate::ids::*;
use crate::sealed::Sealed;
use crate::session::Session;
use crate::settings::{
    AccessKey, ClusterSettings, DirectorySettings, InstanceAttributes, ResourceRef,
    TwoFactorSettings,
};
use crate::token::Token;
use crate::user::{User, UserGroup};
use std::collections::{BTreeMap, BTreeSet};

impl State {
    pub fn user(&self, id: UserId) -> Option<&User> {
        self.users.get(&id)
    }
    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }
    pub fn user_by_name(&self, name: &str) -> Option<&User> {
        let id = self.user_ids_by_name().get(name)?;
        self.users.get(id)
    }
    pub(crate) fn user_ids_by_name(&self) -> &BTreeMap<String, UserId> {
        self.user_names
            .get(|| Box::new(self.users.values().map(|u| (u.id, u.name.as_str()))))
    }
    pub(crate) fn user_group_ids_by_name(&self) -> &BTreeMap<String, UserGroupId> {
        self.user_group_names
            .get(|| Box::new(self.user_groups.values().map(|g| (g.id, g.name.as_str()))))
    }
    pub fn user_group(&self, id: UserGroupId) -> Option<&UserGroup> {
        self.user_groups.get(&id)
    }
    pub fn user_groups(&self) -> impl Iterator<Item = &UserGroup> {
        self.user_groups.values()
    }
    pub fn host(&self, id: HostId) -> Option<&Host> {
        self.hosts.get(&id)
    }
    pub fn hosts(&self) -> impl Iterator<Item = &Host> {
        self.hosts.values()
    }
    pub fn host_by_name(&self, name: &str) -> Option<&Host> {
        let id = self.host_ids_by_name().get(name)?;
        self.hosts.get(id)
    }
    pub(crate) fn host_ids_by_name(&self) -> &BTreeMap<String, HostId> {
        self.host_names
            .get(|| Box::new(self.hosts.values().map(|h| (h.id, h.name.as_str()))))
    }
    pub fn host_account(&self, id: HostAccountId) -> Option<&HostAccount> {
        self.host_accounts.get(&id)
    }
    /// A host's accounts, in id order.
    pub fn host_accounts_of(&self, host: HostId) -> impl Iterator<Item = &HostAccount> {
        let all = || {
            Box::new(self.host_accounts.values().map(|a| (a.host_id, a.id)))
                as Box<dyn Iterator<Item = (u64, u64)>>
        };
        self.host_account_owners
            .of(host, all)
            .filter_map(|id| self.host_accounts.get(&id))
    }
    pub fn shared_key(&self, id: SharedKeyId) -> Option<&SharedKey> {
        self.shared_keys.get(&id)
    }
    pub fn shared_keys(&self) -> impl Iterator<Item = &SharedKey> {
        self.shared_keys.values()
    }
    pub fn host_group(&self, id: HostGroupId) -> Option<&HostGroup> {
        self.host_groups.get(&id)
    }
    pub fn host_groups(&self) -> impl Iterator<Item = &HostGroup> {
        self.host_groups.values()
    }
    pub fn database(&self, id: DatabaseId) -> Option<&Database> {
        self.databases.get(&id)
    }
    pub fn databases(&self) -> impl Iterator<Item = &Database> {
        self.databases.values()
    }
    pub fn database_by_name(&self, name: &str) -> Option<&Database> {
        let id = self.database_ids_by_name().get(name)?;
        self.databases.get(id)
    }
    pub(crate) fn database_ids_by_name(&self) -> &BTreeMap<String, DatabaseId> {
        self.database_names
            .get(|| Box::new(self.databases.values().map(|d| (d.id, d.name.as_str()))))
    }
    pub fn database_account(&self, id: DatabaseAccountId) -> Option<&DatabaseAccount> {
        self.database_accounts.get(&id)
    }
    /// A database's accounts, in id order.
    pub fn database_accounts_of(&self, db: DatabaseId) -> impl Iterator<Item = &DatabaseAccount> {
        let all = || {
            Box::new(
                self.database_accounts
                    .values()
                    .map(|a| (a.database_id, a.id)),
            ) as Box<dyn Iterator<Item = (u64, u64)>>
        };
        self.database_account_owners
            .of(db, all)
            .filter_map(|id| self.database_accounts.get(&id))
    }
    pub fn network_domain(&self, id: NetworkDomainId) -> Option<&NetworkDomain> {
        self.network_domains.get(&id)
    }
    pub fn network_domains(&self) -> impl Iterator<Item = &NetworkDomain> {
        self.network_domains.values()
    }
    /// Direct host grants of one principal: host -> granted account ids.
    pub fn host_grants_of(&self, p: Principal) -> BTreeMap<HostId, BTreeSet<HostAccountId>> {
        let range = self.host_grants.range((p, 0)..=(p, u64::MAX));
        range.map(|((_, h), a)| (*h, a.clone())).collect()
    }
    /// Direct host-group grants of one principal: group -> granted account names.
    pub fn host_group_grants_of(&self, p: Principal) -> BTreeMap<HostGroupId, BTreeSet<String>> {
        let range = self.host_group_grants.range((p, 0)..=(p, u64::MAX));
        range.map(|((_, g), n)| (*g, n.clone())).collect()
    }
    /// Direct database grants of one principal: database -> granted account ids.
    pub fn database_grants_of(
        &self,
        p: Principal,
    ) -> BTreeMap<DatabaseId, BTreeSet<DatabaseAccountId>> {
        let range = self.database_grants.range((p, 0)..=(p, u64::MAX));
        range.map(|((_, d), a)| (*d, a.clone())).collect()
    }
    pub fn rule(&self, id: RuleId) -> Option<&Rule> {
        self.rules.get(&id)
    }
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.values()
    }
    pub fn token(&self, id: TokenId) -> Option<&Token> {
        self.tokens.get(&id)
    }
    pub fn token_by_hash(&self, hash: &TokenHash) -> Option<&Token> {
        self.token_index
            .get(hash)
            .and_then(|id| self.tokens.get(id))
    }
    pub fn tokens_of_user(&self, user: UserId) -> impl Iterator<Item = &Token> {
        self.tokens.values().filter(move |t| t.user_id == user)
    }
    pub fn session(&self, id: SessionId) -> Option<&Session> {
        self.sessions.get(&id)
    }
    /// The hash chain of closed sessions.
    pub fn session_trail(&self) -> &crate::session_trail::SessionTrail {
        &self.session_trail
    }
    /// Walks the session trail over the retained sessions.
    pub fn verify_session_trail(&self) -> Result<(), crate::admin_audit::ChainBreak> {
        self.session_trail.verify(&self.sessions)
    }
    /// Every retained session, open or closed.
    /// Every session kept, open and ended, in id order (the order they were opened in).
    pub fn sessions(&self) -> impl DoubleEndedIterator<Item = &Session> {
        self.sessions.values()
    }

    /// How many sessions are kept (open and closed).
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Up to `n` sessions, newest first, after skipping the `skip` newest: a page of the
    /// unfiltered list without walking the sessions before it.
    pub fn newest_sessions(&self, skip: usize, n: usize) -> impl Iterator<Item = &Session> {
        let order = self
            .session_order
            .get(|| Box::new(self.sessions.keys().copied()));
        (0..n)
            .map_while(move |k| {
                let at = order.len().checked_sub(1 + skip.checked_add(k)?)?;
                order.get(at)
            })
            .filter_map(|id| self.sessions.get(id))
    }
    pub fn open_sessions(&self) -> impl Iterator<Item = &Session> {
        self.open_sessions
            .iter()
            .filter_map(|id| self.sessions.get(id))
    }
    /// Ids of the open sessions a node holds.
    pub fn sessions_of_node(&self, node: NodeId) -> Vec<SessionId> {
        self.open_sessions()
            .filter(|s| s.node_id == node)
            .map(|s| s.id)
            .collect()
    }
    /// Open sessions on one asset.
    pub fn sessions_on_asset(&self, asset: AssetRef) -> impl Iterator<Item = &Session> {
        self.open_sessions().filter(move |s| s.asset == asset)
    }
    /// Concurrency slots in use in the cluster (open sessions).
    pub fn slots_in_use(&self) -> u32 {
        u32::try_from(self.open_sessions.len()).unwrap_or(u32::MAX)
    }
    /// Concurrency slots held by one user.
    pub fn slots_in_use_by(&self, user: UserId) -> u32 {
        let n = self.open_sessions().filter(|s| s.user_id == user).count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }
    /// Current epoch of a node; 0 if it never started.
    pub fn node_epoch(&self, node: NodeId) -> u64 {
        self.node_epochs.get(&node).copied().unwrap_or(0)
    }
    /// Every node known with its epoch.
    pub fn node_epochs(&self) -> &BTreeMap<NodeId, u64> {
        &self.node_epochs
    }
    pub fn settings(&self) -> &ClusterSettings {
        &self.settings
    }
    pub fn ssh_host_key(&self) -> Option<&Sealed> {
        self.ssh_host_key.as_ref()
    }
    /// Trusted fingerprint of a target host's SSH key.
    pub fn host_key_fingerprint(&self, host: HostId) -> Option<&str> {
        self.host_key_fingerprints.get(&host).map(String::as_str)
    }
    pub fn access_key(&self, access_key_id: &str) -> Option<&AccessKey> {
        self.access_keys.get(access_key_id)
    }
    pub fn access_keys(&self) -> impl Iterator<Item = &AccessKey> {
        self.access_keys.values()
    }
    pub fn instance(&self) -> &InstanceAttributes {
        &self.instance
    }
    pub fn tags_of(&self, r: ResourceRef) -> Option<&BTreeMap<String, String>> {
        self.tags.get(&r)
    }
    pub fn tagged(&self) -> &BTreeMap<ResourceRef, BTreeMap<String, String>> {
        &self.tags
    }
    pub fn oidc_settings(&self) -> Option<&crate::settings::OidcSettings> {
        self.oidc.as_ref()
    }

    pub fn ldap_settings(&self) -> Option<&DirectorySettings> {
        self.ldap.as_ref()
    }
    pub fn ad_settings(&self) -> Option<&DirectorySettings> {
        self.ad.as_ref()
    }
    pub fn two_factor_settings(&self) -> &TwoFactorSettings {
        &self.two_factor
    }
    /// The last synchronization from the directory `source` names (`Ldap`, `Ad`).
    pub fn directory_sync(
        &self,
        source: crate::user::UserSource,
    ) -> Option<&crate::directory::SyncReport> {
        self.directory_syncs.get(&source)
    }
}
