//! The replicated state and its deterministic `apply`.
//!
//! Each area of commands is applied by its own submodule; every handler validates everything
//! before it mutates anything, so a rejected command leaves the state untouched.

mod access;
mod admin;
mod admin_audit;
mod api_calls;
mod approvals;
mod asset_groups;
mod cascade;
mod config_export;
mod databases;
mod directory;
mod grants;
mod hosts;
mod names;
mod nonces;
mod policies;
mod projects;
mod queries;
mod reseal;
mod sessions;
mod sql_rules;
mod tickets;
mod tokens;
mod two_factor;
mod users;
mod validate;
mod web_sessions;

#[cfg(test)]
mod tests;

use crate::authz::{Principal, Rule};
use crate::command::{Command, Request, RequestId};
use crate::database::{Database, DatabaseAccount, NetworkDomain};
use crate::host::{Host, HostAccount, HostGroup, SharedKey};
use crate::ids::*;
use crate::rejection::Rejection;
use crate::response::Response;
use crate::sealed::Sealed;
use crate::session::Session;
use crate::settings::{
    AccessKey, ClusterSettings, DirectorySettings, InstanceAttributes, ResourceRef,
    TwoFactorSettings,
};
use crate::token::Token;
use crate::user::{User, UserGroup};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The map of the collections that grow with a deployment (users, hosts, their accounts,
/// sessions): a persistent B-tree whose clone shares every node, so that a snapshot copies the
/// state in microseconds instead of holding back the applies while gigabytes are copied.
/// Encoded like a `BTreeMap` (a length, then the entries in key order).
pub type Shared<K, V> = imbl::OrdMap<K, V>;

/// Result of one area handler: `None` when the command belongs to another area.
type Handled = Option<Result<Response, Rejection>>;

/// Everything the cluster agrees on. Only ordered collections, so encoding is deterministic.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    next_id: u64,
    #[serde(deserialize_with = "crate::decoding::shared_map")]
    users: Shared<UserId, User>,
    user_groups: BTreeMap<UserGroupId, UserGroup>,
    #[serde(deserialize_with = "crate::decoding::shared_map")]
    hosts: Shared<HostId, Host>,
    #[serde(deserialize_with = "crate::decoding::shared_map")]
    host_accounts: Shared<HostAccountId, HostAccount>,
    shared_keys: BTreeMap<SharedKeyId, SharedKey>,
    host_groups: BTreeMap<HostGroupId, HostGroup>,
    databases: BTreeMap<DatabaseId, Database>,
    database_accounts: BTreeMap<DatabaseAccountId, DatabaseAccount>,
    network_domains: BTreeMap<NetworkDomainId, NetworkDomain>,
    host_grants: BTreeMap<(Principal, HostId), BTreeSet<HostAccountId>>,
    host_group_grants: BTreeMap<(Principal, HostGroupId), BTreeSet<String>>,
    database_grants: BTreeMap<(Principal, DatabaseId), BTreeSet<DatabaseAccountId>>,
    rules: BTreeMap<RuleId, Rule>,
    tokens: BTreeMap<TokenId, Token>,
    token_index: BTreeMap<TokenHash, TokenId>,
    #[serde(deserialize_with = "crate::decoding::shared_map")]
    sessions: Shared<SessionId, Session>,
    open_sessions: BTreeSet<SessionId>,
    node_epochs: BTreeMap<NodeId, u64>,
    settings: ClusterSettings,
    ssh_host_key: Option<Sealed>,
    host_key_fingerprints: BTreeMap<HostId, String>,
    access_keys: BTreeMap<String, AccessKey>,
    instance: InstanceAttributes,
    tags: BTreeMap<ResourceRef, BTreeMap<String, String>>,
    ldap: Option<DirectorySettings>,
    ad: Option<DirectorySettings>,
    /// OpenID Connect single sign-on of the web pages.
    oidc: Option<crate::settings::OidcSettings>,
    two_factor: TwoFactorSettings,
    /// Answers of recently applied requests that carried an id, for re-sends.
    recent: BTreeMap<RequestId, (u64, Response)>,
    /// The same ids ordered by when they were applied, for pruning.
    recent_order: BTreeSet<(u64, RequestId)>,
    /// Signature nonces of API requests, with when each may be forgotten and whose they are
    /// (see `nonces`).
    nonces: nonces::NonceTable,
    /// The hash-chained trail of administrative API calls.
    admin_audit: crate::admin_audit::AdminAuditLog,
    /// SQL rules of the database gateway.
    sql_rules: BTreeMap<SqlRuleId, crate::sql_rule::SqlRule>,
    /// The instance's name, random, chosen once by the first node to start.
    instance_id: Option<String>,
    /// The hash chain of closed sessions' records.
    session_trail: crate::session_trail::SessionTrail,
    /// Control policies.
    policies: BTreeMap<PolicyId, crate::policy::Policy>,
    /// Commands held for approval, and recent decisions.
    approvals: BTreeMap<ApprovalId, crate::approval::CommandApproval>,
    /// O&M approval requests.
    tickets: BTreeMap<TicketId, crate::ticket::OperationTicket>,
    /// Browser sessions of the web portal, by the SHA-256 of their cookie.
    web_sessions: BTreeMap<crate::web_session::WebSessionHash, crate::web_session::WebSession>,
    /// Projects other than the default one.
    projects: BTreeMap<ProjectId, crate::project::Project>,
    /// Project authorizations and review rules.
    delegations: BTreeMap<DelegationId, crate::project::Delegation>,
    /// The last synchronization from each directory (`Ldap`, `Ad`).
    directory_syncs: BTreeMap<crate::user::UserSource, crate::directory::SyncReport>,
    /// Users by name (derived, not encoded: see `names`).
    #[serde(skip)]
    user_names: names::NameIndex,
    /// User groups by name (derived, not encoded).
    #[serde(skip)]
    user_group_names: names::NameIndex,
    /// Hosts by name (derived, not encoded).
    #[serde(skip)]
    host_names: names::NameIndex,
    /// Databases by name (derived, not encoded).
    #[serde(skip)]
    database_names: names::NameIndex,
    /// Host accounts by host (derived, not encoded).
    #[serde(skip)]
    host_account_owners: names::OwnerIndex,
    /// Database accounts by database (derived, not encoded).
    #[serde(skip)]
    database_account_owners: names::OwnerIndex,
    /// Session ids in order, for pages of the session list (derived, not encoded).
    #[serde(skip)]
    session_order: names::OrderIndex,
}

/// How long the answer of an identified request is kept for a re-send. Longer than any
/// proposal's whole retry budget.
pub const DEDUP_WINDOW_MS: u64 = 120_000;

pub use config_export::{Configuration, CONFIG_FORMAT};
pub use nonces::{
    ADMIN_RESERVED_NONCES, MAX_NONCES, MAX_NONCES_PER_KEY, MAX_NONCE_TTL_MS, MAX_REQUEST_AGE_MS,
    MAX_REQUEST_LEAD_MS, NONCE_CLOCK_MARGIN_MS,
};

impl State {
    /// Applies one request. Pure: the result depends only on `self` and `req`.
    pub fn apply(&mut self, req: &Request) -> Response {
        self.forget_old_requests(req.now_ms);
        self.forget_expired_nonces(req.now_ms);
        if let Some(id) = req.id {
            if let Some((_, answer)) = self.recent.get(&id) {
                return answer.clone();
            }
        }
        let answer = self.apply_once(req);
        if let Some(id) = req.id {
            self.recent.insert(id, (req.now_ms, answer.clone()));
            self.recent_order.insert((req.now_ms, id));
        }
        answer
    }

    /// Drops remembered answers older than the dedup window.
    fn forget_old_requests(&mut self, now: u64) {
        let horizon = now.saturating_sub(DEDUP_WINDOW_MS);
        while let Some(&(at, id)) = self.recent_order.first() {
            if at >= horizon {
                break;
            }
            self.recent_order.pop_first();
            self.recent.remove(&id);
        }
    }

    fn apply_once(&mut self, req: &Request) -> Response {
        let now = req.now_ms;
        let cmd = &req.command;
        if let Command::Batch(cmds) = cmd {
            let answers = cmds
                .iter()
                .map(|c| match c {
                    Command::Batch(_) => {
                        Response::Rejected(Rejection::invalid("command", "nested batch"))
                    }
                    c => self.apply_command(now, c),
                })
                .collect();
            return Response::Batch(answers);
        }
        self.apply_command(now, cmd)
    }

    fn apply_command(&mut self, now: u64, cmd: &Command) -> Response {
        let handled = self
            .apply_users(now, cmd)
            .or_else(|| self.apply_directory_sync(now, cmd))
            .or_else(|| self.apply_public_keys(now, cmd))
            .or_else(|| self.apply_two_factor(now, cmd))
            .or_else(|| self.apply_hosts(now, cmd))
            .or_else(|| self.apply_asset_groups(now, cmd))
            .or_else(|| self.apply_databases(now, cmd))
            .or_else(|| self.apply_projects(now, cmd))
            .or_else(|| self.apply_grants(now, cmd))
            .or_else(|| self.apply_tokens(now, cmd))
            .or_else(|| self.apply_sessions(now, cmd))
            .or_else(|| self.apply_admin(now, cmd))
            .or_else(|| self.apply_nonces(now, cmd))
            .or_else(|| self.apply_admin_audit(now, cmd))
            .or_else(|| self.apply_api_call(now, cmd))
            .or_else(|| self.apply_sql_rules(now, cmd))
            .or_else(|| self.apply_policies(now, cmd))
            .or_else(|| self.apply_approvals(now, cmd))
            .or_else(|| self.apply_tickets(now, cmd))
            .or_else(|| self.apply_reseal(cmd))
            .or_else(|| self.apply_web_sessions(now, cmd))
            .or_else(|| self.apply_config_import(cmd));
        match handled {
            Some(Ok(resp)) => resp,
            Some(Err(rej)) => Response::Rejected(rej),
            None => Response::Rejected(Rejection::invalid("command", "not handled")),
        }
    }

    /// Takes the next id from the shared counter.
    fn alloc_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}
