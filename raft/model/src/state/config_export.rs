//! The cluster's configuration as one document, and its import into a fresh cluster: the
//! configuration backup the API's `CreateExportConfigJob` makes and `portunus cluster
//! import-config` restores.
//!
//! The configuration is everything an administrator set: users (with password hashes and TOTP
//! enrolments), groups, hosts, accounts, shared keys, host groups, databases, network domains,
//! authorizations, rules, SQL rules, control policies, projects and their delegations, tags,
//! settings, directories, AccessKeys, the bastion's SSH host key and the pinned host keys. Not
//! in it: what happened (sessions, the session and admin trails, O&M tokens, approvals, browser
//! sessions, nonces), which belongs to the cluster that lived it. Every secret stays sealed as
//! it is stored, so the document opens nothing without the sealing key, and a restore needs the
//! same sealing key file.

use super::{Handled, State};
use crate::authz::{Principal, Rule};
use crate::command::Command;
use crate::database::{Database, DatabaseAccount, NetworkDomain};
use crate::host::{Host, HostAccount, HostGroup, SharedKey};
use crate::ids::*;
use crate::policy::Policy;
use crate::project::{Delegation, Project};
use crate::rejection::Rejection;
use crate::response::Response;
use crate::sealed::Sealed;
use crate::settings::{
    AccessKey, ClusterSettings, DirectorySettings, InstanceAttributes, ResourceRef,
    TwoFactorSettings,
};
use crate::sql_rule::SqlRule;
use crate::user::{User, UserGroup};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The version of [`Configuration`]'s layout (it follows the state format: a document of
/// another state format is refused rather than misread).
pub const CONFIG_FORMAT: u32 = crate::STATE_FORMAT_VERSION;

/// Everything an administrator set, as lists (so that it reads as JSON).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Configuration {
    /// The state format it was taken from.
    pub format: u32,
    /// The next id the cluster would give, so restored ids are never reused.
    pub next_id: u64,
    pub users: Vec<User>,
    pub user_groups: Vec<UserGroup>,
    pub hosts: Vec<Host>,
    pub host_accounts: Vec<HostAccount>,
    pub shared_keys: Vec<SharedKey>,
    pub host_groups: Vec<HostGroup>,
    pub databases: Vec<Database>,
    pub database_accounts: Vec<DatabaseAccount>,
    pub network_domains: Vec<NetworkDomain>,
    pub host_grants: Vec<(Principal, HostId, BTreeSet<HostAccountId>)>,
    pub host_group_grants: Vec<(Principal, HostGroupId, BTreeSet<String>)>,
    pub database_grants: Vec<(Principal, DatabaseId, BTreeSet<DatabaseAccountId>)>,
    pub rules: Vec<Rule>,
    pub settings: ClusterSettings,
    pub ssh_host_key: Option<Sealed>,
    pub host_key_fingerprints: Vec<(HostId, String)>,
    pub access_keys: Vec<AccessKey>,
    pub instance: InstanceAttributes,
    pub tags: Vec<(ResourceRef, BTreeMap<String, String>)>,
    pub ldap: Option<DirectorySettings>,
    pub ad: Option<DirectorySettings>,
    pub oidc: Option<crate::settings::OidcSettings>,
    pub two_factor: TwoFactorSettings,
    pub sql_rules: Vec<SqlRule>,
    pub policies: Vec<Policy>,
    pub projects: Vec<Project>,
    pub delegations: Vec<Delegation>,
}

impl Configuration {
    /// How many entities of each kind it holds, for a summary before an import.
    pub fn counts(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("users", self.users.len()),
            ("user groups", self.user_groups.len()),
            ("hosts", self.hosts.len()),
            ("host accounts", self.host_accounts.len()),
            ("databases", self.databases.len()),
            ("database accounts", self.database_accounts.len()),
            ("authorization rules", self.rules.len()),
            ("control policies", self.policies.len()),
            ("projects", self.projects.len()),
            ("AccessKeys", self.access_keys.len()),
        ]
    }
}

fn list<'a, V: Clone + 'a>(values: impl IntoIterator<Item = &'a V>) -> Vec<V> {
    values.into_iter().cloned().collect()
}

fn by_id<T, M>(items: &[T], id: impl Fn(&T) -> u64) -> M
where
    T: Clone,
    M: FromIterator<(u64, T)>,
{
    items.iter().map(|x| (id(x), x.clone())).collect()
}

impl State {
    /// The configuration, to export.
    pub fn configuration(&self) -> Configuration {
        Configuration {
            format: CONFIG_FORMAT,
            next_id: self.next_id,
            users: list(self.users.values()),
            user_groups: list(self.user_groups.values()),
            hosts: list(self.hosts.values()),
            host_accounts: list(self.host_accounts.values()),
            shared_keys: list(self.shared_keys.values()),
            host_groups: list(self.host_groups.values()),
            databases: list(self.databases.values()),
            database_accounts: list(self.database_accounts.values()),
            network_domains: list(self.network_domains.values()),
            host_grants: self
                .host_grants
                .iter()
                .map(|((p, h), a)| (*p, *h, a.clone()))
                .collect(),
            host_group_grants: self
                .host_group_grants
                .iter()
                .map(|((p, g), a)| (*p, *g, a.clone()))
                .collect(),
            database_grants: self
                .database_grants
                .iter()
                .map(|((p, d), a)| (*p, *d, a.clone()))
                .collect(),
            rules: list(self.rules.values()),
            settings: self.settings.clone(),
            ssh_host_key: self.ssh_host_key.clone(),
            host_key_fingerprints: self
                .host_key_fingerprints
                .iter()
                .map(|(h, f)| (*h, f.clone()))
                .collect(),
            access_keys: list(self.access_keys.values()),
            instance: self.instance.clone(),
            tags: self.tags.iter().map(|(r, t)| (*r, t.clone())).collect(),
            ldap: self.ldap.clone(),
            ad: self.ad.clone(),
            oidc: self.oidc.clone(),
            two_factor: self.two_factor.clone(),
            sql_rules: list(self.sql_rules.values()),
            policies: list(self.policies.values()),
            projects: list(self.projects.values()),
            delegations: list(self.delegations.values()),
        }
    }

    pub(super) fn apply_config_import(&mut self, cmd: &Command) -> Handled {
        let Command::ImportConfiguration(c) = cmd else {
            return None;
        };
        Some(self.import_configuration(c))
    }

    /// Replaces the configuration of a cluster that holds none yet: no host, database,
    /// project, user group, rule or policy, and no user but the first administrator its first
    /// start made (replaced, with the AccessKeys of that start). History is kept.
    fn import_configuration(&mut self, c: &Configuration) -> Result<Response, Rejection> {
        if c.format != CONFIG_FORMAT {
            return Err(Rejection::invalid(
                "configuration",
                format!(
                    "it is of state format {}, this cluster reads format {CONFIG_FORMAT}: import it with the Portunus version that exported it",
                    c.format
                ),
            ));
        }
        let held = self.hosts.len()
            + self.databases.len()
            + self.projects.len()
            + self.user_groups.len()
            + self.rules.len()
            + self.policies.len();
        if held > 0 || self.users.len() > 1 {
            return Err(Rejection::invalid(
                "configuration",
                format!(
                    "this cluster already holds {} users, {} hosts, {} databases and {} projects: import into a fresh cluster",
                    self.users.len(),
                    self.hosts.len(),
                    self.databases.len(),
                    self.projects.len()
                ),
            ));
        }
        if let Some(bad) = dangling(c) {
            return Err(Rejection::invalid("configuration", bad));
        }
        self.next_id = self.next_id.max(c.next_id);
        self.users = by_id(&c.users, |u| u.id);
        self.user_groups = by_id(&c.user_groups, |g| g.id);
        self.user_names.reset();
        self.user_group_names.reset();
        self.host_names.reset();
        self.database_names.reset();
        self.host_account_owners.reset();
        self.database_account_owners.reset();
        self.hosts = by_id(&c.hosts, |h| h.id);
        self.host_accounts = by_id(&c.host_accounts, |a| a.id);
        self.shared_keys = by_id(&c.shared_keys, |k| k.id);
        self.host_groups = by_id(&c.host_groups, |g| g.id);
        self.databases = by_id(&c.databases, |d| d.id);
        self.database_accounts = by_id(&c.database_accounts, |a| a.id);
        self.network_domains = by_id(&c.network_domains, |d| d.id);
        self.host_grants = c
            .host_grants
            .iter()
            .map(|(p, h, a)| ((*p, *h), a.clone()))
            .collect();
        self.host_group_grants = c
            .host_group_grants
            .iter()
            .map(|(p, g, a)| ((*p, *g), a.clone()))
            .collect();
        self.database_grants = c
            .database_grants
            .iter()
            .map(|(p, d, a)| ((*p, *d), a.clone()))
            .collect();
        self.rules = by_id(&c.rules, |r| r.id);
        self.settings = c.settings.clone();
        self.ssh_host_key = c.ssh_host_key.clone();
        self.host_key_fingerprints = c.host_key_fingerprints.iter().cloned().collect();
        self.access_keys = c
            .access_keys
            .iter()
            .map(|k| (k.access_key_id.clone(), k.clone()))
            .collect();
        self.instance = c.instance.clone();
        self.tags = c.tags.iter().cloned().collect();
        self.ldap = c.ldap.clone();
        self.ad = c.ad.clone();
        self.oidc = c.oidc.clone();
        self.two_factor = c.two_factor.clone();
        self.sql_rules = by_id(&c.sql_rules, |r| r.id);
        self.policies = by_id(&c.policies, |p| p.id);
        self.projects = by_id(&c.projects, |p| p.id);
        self.delegations = by_id(&c.delegations, |d| d.id);
        Ok(Response::Done)
    }
}

/// The first reference in `c` to something it does not hold, if any: a document edited by hand
/// (or cut short) is refused rather than imported half-connected.
fn dangling(c: &Configuration) -> Option<String> {
    let ids = |v: Vec<u64>| v.into_iter().collect::<BTreeSet<u64>>();
    let users = ids(c.users.iter().map(|u| u.id).collect());
    let groups = ids(c.user_groups.iter().map(|g| g.id).collect());
    let hosts = ids(c.hosts.iter().map(|h| h.id).collect());
    let dbs = ids(c.databases.iter().map(|d| d.id).collect());
    let projects = ids(c.projects.iter().map(|p| p.id).collect());
    let principal = |p: &Principal| match p {
        Principal::User(u) => users.contains(u),
        Principal::Group(g) => groups.contains(g),
    };
    if let Some(a) = c.host_accounts.iter().find(|a| !hosts.contains(&a.host_id)) {
        return Some(format!(
            "host account {} names host {}, which it does not hold",
            a.id, a.host_id
        ));
    }
    if let Some(a) = c
        .database_accounts
        .iter()
        .find(|a| !dbs.contains(&a.database_id))
    {
        return Some(format!(
            "database account {} names database {}, which it does not hold",
            a.id, a.database_id
        ));
    }
    let project_of = |p: Option<ProjectId>| p.is_none_or(|p| projects.contains(&p));
    if let Some(h) = c.hosts.iter().find(|h| !project_of(h.project_id)) {
        return Some(format!("host {} names a project it does not hold", h.id));
    }
    if let Some(d) = c.databases.iter().find(|d| !project_of(d.project_id)) {
        return Some(format!(
            "database {} names a project it does not hold",
            d.id
        ));
    }
    let grants_ok = c
        .host_grants
        .iter()
        .all(|(p, h, _)| principal(p) && hosts.contains(h))
        && c.database_grants
            .iter()
            .all(|(p, d, _)| principal(p) && dbs.contains(d))
        && c.host_group_grants.iter().all(|(p, _, _)| principal(p));
    if !grants_ok {
        return Some("an authorization names a user, group or asset it does not hold".into());
    }
    let max = [users, groups, hosts, dbs, projects]
        .iter()
        .filter_map(|s| s.last().copied())
        .max()
        .unwrap_or(0);
    if max >= c.next_id && max > 0 {
        return Some(format!(
            "its next id {} is not above its ids (up to {max})",
            c.next_id
        ));
    }
    None
}
