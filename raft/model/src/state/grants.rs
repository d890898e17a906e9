//! Applies authorization commands: direct grants and authorization rules.

use super::validate::{self, found};
use super::{Handled, State};
use crate::authz::{Principal, Rule, RuleSpec};
use crate::command::Command;
use crate::ids::*;
use crate::rejection::Rejection;
use crate::response::Response;
use std::collections::{BTreeMap, BTreeSet};

impl State {
    pub(super) fn apply_grants(&mut self, now: u64, cmd: &Command) -> Handled {
        let r = match cmd {
            Command::AttachHostAccounts {
                principal,
                host_id,
                account_ids,
            } => self.attach_host(*principal, *host_id, account_ids),
            Command::DetachHostAccounts {
                principal,
                host_id,
                account_ids,
            } => Ok(detach(
                &mut self.host_grants,
                (*principal, *host_id),
                account_ids,
            )),
            Command::AttachHostGroupAccounts {
                principal,
                group_id,
                account_names,
            } => self.attach_host_group(*principal, *group_id, account_names),
            Command::DetachHostGroupAccounts {
                principal,
                group_id,
                account_names,
            } => Ok(detach(
                &mut self.host_group_grants,
                (*principal, *group_id),
                account_names,
            )),
            Command::AttachDatabaseAccounts {
                principal,
                database_id,
                account_ids,
            } => self.attach_database(*principal, *database_id, account_ids),
            Command::DetachDatabaseAccounts {
                principal,
                database_id,
                account_ids,
            } => Ok(detach(
                &mut self.database_grants,
                (*principal, *database_id),
                account_ids,
            )),
            Command::CreateRule(spec) => self.create_rule(now, spec),
            Command::UpdateRule { rule_id, spec } => self.update_rule(*rule_id, spec),
            Command::SetRuleEnabled { rule_id, enabled } => {
                self.set_rule_enabled(*rule_id, *enabled)
            }
            Command::DeleteRule { rule_id } => self
                .rules
                .remove(rule_id)
                .map(|_| Response::Done)
                .ok_or(Rejection::not_found(EntityKind::Rule, *rule_id)),
            _ => return None,
        };
        Some(r)
    }

    fn check_principal(&self, p: Principal) -> Result<(), Rejection> {
        match p {
            Principal::User(id) => found(&self.users, EntityKind::User, id).map(|_| ()),
            Principal::Group(id) => found(&self.user_groups, EntityKind::UserGroup, id).map(|_| ()),
        }
    }

    /// The host exists and every account belongs to it.
    fn check_host_accounts(
        &self,
        host: HostId,
        accounts: &BTreeSet<HostAccountId>,
    ) -> Result<(), Rejection> {
        found(&self.hosts, EntityKind::Host, host)?;
        for id in accounts {
            let a = found(&self.host_accounts, EntityKind::HostAccount, *id)?;
            if a.host_id != host {
                return Err(Rejection::invalid(
                    "HostAccountIds",
                    format!("host account {id} does not belong to host {host}"),
                ));
            }
        }
        Ok(())
    }

    /// The database exists and every account belongs to it.
    fn check_db_accounts(
        &self,
        db: DatabaseId,
        accounts: &BTreeSet<DatabaseAccountId>,
    ) -> Result<(), Rejection> {
        found(&self.databases, EntityKind::Database, db)?;
        for id in accounts {
            let a = found(&self.database_accounts, EntityKind::DatabaseAccount, *id)?;
            if a.database_id != db {
                return Err(Rejection::invalid(
                    "DatabaseAccountIds",
                    format!("database account {id} does not belong to database {db}"),
                ));
            }
        }
        Ok(())
    }

    fn check_group_names(
        &self,
        group: HostGroupId,
        names: &BTreeSet<String>,
    ) -> Result<(), Rejection> {
        found(&self.host_groups, EntityKind::HostGroup, group)?;
        names
            .iter()
            .try_for_each(|n| validate::name("HostAccountNames", n))
    }

    fn attach_host(
        &mut self,
        p: Principal,
        host: HostId,
        accounts: &BTreeSet<HostAccountId>,
    ) -> Result<Response, Rejection> {
        self.check_principal(p)?;
        self.check_host_accounts(host, accounts)?;
        let set = self.host_grants.entry((p, host)).or_default();
        set.extend(accounts.iter().copied());
        Ok(Response::Done)
    }

    fn attach_host_group(
        &mut self,
        p: Principal,
        group: HostGroupId,
        names: &BTreeSet<String>,
    ) -> Result<Response, Rejection> {
        self.check_principal(p)?;
        self.check_group_names(group, names)?;
        let set = self.host_group_grants.entry((p, group)).or_default();
        set.extend(names.iter().cloned());
        Ok(Response::Done)
    }

    fn attach_database(
        &mut self,
        p: Principal,
        db: DatabaseId,
        accounts: &BTreeSet<DatabaseAccountId>,
    ) -> Result<Response, Rejection> {
        self.check_principal(p)?;
        self.check_db_accounts(db, accounts)?;
        let set = self.database_grants.entry((p, db)).or_default();
        set.extend(accounts.iter().copied());
        Ok(Response::Done)
    }

    fn check_rule(&self, spec: &RuleSpec, except: Option<RuleId>) -> Result<(), Rejection> {
        validate::name("RuleName", &spec.name)?;
        validate::text("Comment", &spec.comment)?;
        if !spec.validity.is_well_formed() {
            return Err(Rejection::invalid(
                "EffectiveTime",
                "start must precede end",
            ));
        }
        validate::all_found(&self.users, EntityKind::User, &spec.users)?;
        validate::all_found(&self.user_groups, EntityKind::UserGroup, &spec.user_groups)?;
        for (host, accounts) in &spec.host_accounts {
            self.check_host_accounts(*host, accounts)?;
        }
        for (group, names) in &spec.host_groups {
            self.check_group_names(*group, names)?;
        }
        for (db, accounts) in &spec.database_accounts {
            self.check_db_accounts(*db, accounts)?;
        }
        let names = self.rules.values().map(|r| (r.id, r.spec.name.as_str()));
        validate::unique(EntityKind::Rule, &spec.name, except, names)
    }

    fn create_rule(&mut self, now: u64, spec: &RuleSpec) -> Result<Response, Rejection> {
        self.check_rule(spec, None)?;
        let id = self.alloc_id();
        let rule = Rule {
            id,
            enabled: true,
            spec: spec.clone(),
            created_at_ms: now,
        };
        self.rules.insert(id, rule);
        Ok(Response::Created { id })
    }

    fn update_rule(&mut self, id: RuleId, spec: &RuleSpec) -> Result<Response, Rejection> {
        found(&self.rules, EntityKind::Rule, id)?;
        self.check_rule(spec, Some(id))?;
        if let Some(r) = self.rules.get_mut(&id) {
            r.spec = spec.clone();
        }
        Ok(Response::Done)
    }

    fn set_rule_enabled(&mut self, id: RuleId, enabled: bool) -> Result<Response, Rejection> {
        let r = self
            .rules
            .get_mut(&id)
            .ok_or(Rejection::not_found(EntityKind::Rule, id))?;
        r.enabled = enabled;
        Ok(Response::Done)
    }
}

/// Removes some members of a grant, or the whole grant with `None`. Idempotent.
fn detach<K: Ord, V: Ord + Clone>(
    grants: &mut BTreeMap<K, BTreeSet<V>>,
    key: K,
    members: &Option<BTreeSet<V>>,
) -> Response {
    match members {
        None => {
            grants.remove(&key);
        }
        Some(remove) => {
            if let Some(set) = grants.get_mut(&key) {
                set.retain(|v| !remove.contains(v));
            }
        }
    }
    Response::Done
}
