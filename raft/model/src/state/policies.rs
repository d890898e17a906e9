//! Applies control policy commands and answers which policy governs a session.

use super::validate::{self, found};
use super::{Handled, State};
use crate::command::Command;
use crate::ids::{DatabaseAccountId, DatabaseId, EntityKind, HostAccountId, HostId, PolicyId};
use crate::ids::{HostGroupId, UserId};
use crate::policy::*;
use crate::rejection::Rejection;
use crate::response::Response;
use std::collections::BTreeSet;

/// At most this many policies, commands or addresses in a list, ids in a scope.
const MAX_POLICIES: usize = 1_000;
const MAX_LIST: usize = 500;
const MAX_ENTRY_LEN: usize = 1024;

impl State {
    pub(super) fn apply_policies(&mut self, now: u64, cmd: &Command) -> Handled {
        let r = match cmd {
            Command::CreatePolicy(basics) => self.create_policy(now, basics),
            Command::UpdatePolicy { policy_id, part } => self.update_policy(*policy_id, part),
            Command::DeletePolicy { policy_id } => match self.policies.remove(policy_id) {
                Some(_) => Ok(Response::Done),
                None => Err(Rejection::NotFound {
                    kind: EntityKind::Policy,
                    id: *policy_id,
                }),
            },
            _ => return None,
        };
        Some(r)
    }

    fn create_policy(&mut self, now: u64, basics: &PolicyBasics) -> Result<Response, Rejection> {
        self.check_basics(basics, None)?;
        if self.policies.len() >= MAX_POLICIES {
            return Err(Rejection::invalid(
                "PolicyName",
                format!("at most {MAX_POLICIES} control policies"),
            ));
        }
        let id = self.alloc_id();
        self.policies.insert(
            id,
            Policy {
                id,
                basics: basics.clone(),
                created_at_ms: now,
                users: UserScope::Nobody,
                assets: AssetScope::Nothing,
                commands: CommandControl::default(),
                ssh: SshOptions::OPEN,
                rdp: RdpOptions::default(),
                ip_acl: IpAcl::default(),
                hours: None,
                approval: false,
            },
        );
        Ok(Response::Created { id })
    }

    fn update_policy(&mut self, id: PolicyId, part: &PolicyPart) -> Result<Response, Rejection> {
        found(&self.policies, EntityKind::Policy, id)?;
        self.check_part(id, part)?;
        let Some(p) = self.policies.get_mut(&id) else {
            return Err(Rejection::NotFound {
                kind: EntityKind::Policy,
                id,
            });
        };
        match part.clone() {
            PolicyPart::Basics(b) => p.basics = b,
            PolicyPart::Users(u) => p.users = u,
            PolicyPart::Assets(a) => p.assets = a,
            PolicyPart::Commands(c) => p.commands = c,
            PolicyPart::Protocols { ssh, rdp } => {
                p.ssh = ssh;
                p.rdp = rdp;
            }
            PolicyPart::IpAcl(acl) => p.ip_acl = acl,
            PolicyPart::Hours(h) => p.hours = h,
            PolicyPart::Approval(on) => p.approval = on,
        }
        Ok(Response::Done)
    }

    fn check_basics(&self, b: &PolicyBasics, id: Option<PolicyId>) -> Result<(), Rejection> {
        validate::name("PolicyName", &b.name)?;
        if b.comment.chars().count() > 500 {
            return Err(Rejection::invalid("Comment", "longer than 500 characters"));
        }
        if !PRIORITIES.contains(&b.priority) {
            return Err(Rejection::invalid("Priority", "must be between 1 and 100"));
        }
        let names = self
            .policies
            .values()
            .map(|p| (p.id, p.basics.name.as_str()));
        validate::unique(EntityKind::Policy, &b.name, id, names)
    }

    fn check_part(&self, id: PolicyId, part: &PolicyPart) -> Result<(), Rejection> {
        match part {
            PolicyPart::Basics(b) => self.check_basics(b, Some(id)),
            PolicyPart::Users(UserScope::Users(set)) => {
                bounded("UserIds", set.len())?;
                validate::all_found(&self.users, EntityKind::User, set)
            }
            PolicyPart::Users(UserScope::UserGroups(set)) => {
                bounded("UserGroupIds", set.len())?;
                validate::all_found(&self.user_groups, EntityKind::UserGroup, set)
            }
            PolicyPart::Users(_) => Ok(()),
            PolicyPart::Assets(a) => self.check_assets(a),
            PolicyPart::Commands(c) => {
                if c.mode == ListMode::AllowOnly && c.commands.is_empty() {
                    return Err(Rejection::invalid(
                        "CommandConfig.Deny.Commands",
                        "a whitelist needs at least one command",
                    ));
                }
                entries("CommandConfig.Deny.Commands", &c.commands)?;
                entries("CommandConfig.Approval.Commands", &c.approval)
            }
            PolicyPart::Protocols { ssh, rdp } => {
                if !ssh.shell && !ssh.sftp {
                    return Err(Rejection::invalid(
                        "ProtocolConfig.SSH",
                        "at least one of SSHChannel and SFTPChannel must be Enable",
                    ));
                }
                bounded("ProtocolConfig.RDP", rdp.options.len())
            }
            PolicyPart::IpAcl(acl) => {
                if acl.mode == ListMode::AllowOnly && acl.entries.is_empty() {
                    return Err(Rejection::invalid(
                        "IPAclConfig.IPs",
                        "a whitelist needs at least one address",
                    ));
                }
                entries("IPAclConfig.IPs", &acl.entries)?;
                match acl.entries.iter().find_map(|e| parse_block(e).err()) {
                    Some(why) => Err(Rejection::invalid("IPAclConfig.IPs", why)),
                    None => Ok(()),
                }
            }
            PolicyPart::Hours(Some(h)) => {
                if h.week.iter().any(|d| *d >= 1 << 24) {
                    return Err(Rejection::invalid(
                        "AccessTimeRangeConfig.EffectiveTime",
                        "hours run from 0 to 23",
                    ));
                }
                validate::name("AccessTimeRangeConfig.TimeZone", &h.time_zone)
            }
            PolicyPart::Hours(None) | PolicyPart::Approval(_) => Ok(()),
        }
    }

    fn check_assets(&self, a: &AssetScope) -> Result<(), Rejection> {
        match a {
            AssetScope::Nothing | AssetScope::All => Ok(()),
            AssetScope::Hosts(hosts) => {
                bounded("Hosts", hosts.len())?;
                validate::all_found(&self.hosts, EntityKind::Host, hosts.keys())?;
                for (host, accounts) in hosts {
                    if let Accounts::Only(ids) = accounts {
                        for acc in ids {
                            let a = found(&self.host_accounts, EntityKind::HostAccount, *acc)?;
                            if a.host_id != *host {
                                return Err(Rejection::invalid(
                                    "Hosts.HostAccountIds",
                                    format!("host account {acc} is not an account of host {host}"),
                                ));
                            }
                        }
                    }
                }
                Ok(())
            }
            AssetScope::HostGroups(groups) => {
                bounded("HostGroups", groups.len())?;
                validate::all_found(&self.host_groups, EntityKind::HostGroup, groups.keys())?;
                for accounts in groups.values() {
                    if let AccountNames::Only(names) = accounts {
                        let names: Vec<String> = names.iter().cloned().collect();
                        entries("HostGroups.AccountNames", &names)?;
                    }
                }
                Ok(())
            }
            AssetScope::Databases(dbs) => {
                bounded("Databases", dbs.len())?;
                validate::all_found(&self.databases, EntityKind::Database, dbs.keys())?;
                for (db, accounts) in dbs {
                    if let Accounts::Only(ids) = accounts {
                        for acc in ids {
                            let a =
                                found(&self.database_accounts, EntityKind::DatabaseAccount, *acc)?;
                            if a.database_id != *db {
                                return Err(Rejection::invalid(
                                    "Databases.DatabaseAccountIds",
                                    format!(
                                        "database account {acc} is not an account of database {db}"
                                    ),
                                ));
                            }
                        }
                    }
                }
                Ok(())
            }
        }
    }

    pub fn policy(&self, id: PolicyId) -> Option<&Policy> {
        self.policies.get(&id)
    }

    /// Every policy, in id order.
    pub fn policies(&self) -> impl Iterator<Item = &Policy> {
        self.policies.values()
    }

    /// The policy governing `user`'s session on `host` as `account` (see [`crate::policy`]).
    pub fn policy_for_host(
        &self,
        user: UserId,
        host: HostId,
        account: HostAccountId,
    ) -> Option<&Policy> {
        let account_name = self
            .host_accounts
            .get(&account)
            .map(|a| a.name.as_str())
            .unwrap_or_default();
        let groups: BTreeSet<HostGroupId> = self
            .host_groups
            .values()
            .filter(|g| g.hosts.contains(&host))
            .map(|g| g.id)
            .collect();
        self.governing(
            user,
            Governed::Host {
                host,
                account,
                account_name,
                groups: &groups,
            },
        )
    }

    /// The policy governing `user`'s session on `database` (as a hosted `account`, or None for
    /// an account the engineer names himself).
    pub fn policy_for_database(
        &self,
        user: UserId,
        database: DatabaseId,
        account: Option<DatabaseAccountId>,
    ) -> Option<&Policy> {
        self.governing(user, Governed::Database { database, account })
    }

    fn governing(&self, user: UserId, target: Governed<'_>) -> Option<&Policy> {
        let groups = self.groups_of_user(user);
        self.policies
            .values()
            .filter(|p| p.covers_user(user, &groups) && p.covers_asset(&target))
            .reduce(|best, p| if p.precedes(best) { p } else { best })
    }
}

fn bounded(field: &str, len: usize) -> Result<(), Rejection> {
    if len > MAX_LIST {
        return Err(Rejection::invalid(
            field,
            format!("at most {MAX_LIST} entries"),
        ));
    }
    Ok(())
}

/// A list of bounded, non-blank entries without control characters.
fn entries(field: &str, list: &[String]) -> Result<(), Rejection> {
    bounded(field, list.len())?;
    for e in list {
        if e.trim().is_empty() {
            return Err(Rejection::invalid(field, "an entry is empty"));
        }
        if e.len() > MAX_ENTRY_LEN || e.chars().any(char::is_control) {
            return Err(Rejection::invalid(
                field,
                format!(
                    "an entry is longer than {MAX_ENTRY_LEN} bytes or holds control characters"
                ),
            ));
        }
    }
    Ok(())
}
