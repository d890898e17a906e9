//! Access decisions: what a user may reach now, from direct grants, group grants and rules.
//!
//! Default deny: nothing is reachable unless a grant or an enabled, in-period rule says so.

use super::validate::found;
use super::State;
use crate::authz::Principal;
use crate::common::{AssetRef, Protocol};
use crate::ids::*;
use crate::rejection::Rejection;
use crate::user::User;
use std::collections::{BTreeMap, BTreeSet};

/// Assets mapped to the account ids granted on them (an empty set: asset without accounts).
pub type Entitlements = BTreeMap<u64, BTreeSet<u64>>;

impl State {
    /// Groups the user belongs to.
    pub fn groups_of_user(&self, user: UserId) -> BTreeSet<UserGroupId> {
        self.user_groups
            .values()
            .filter(|g| g.members.contains(&user))
            .map(|g| g.id)
            .collect()
    }

    fn principals(user: UserId, groups: &BTreeSet<UserGroupId>) -> Vec<Principal> {
        let mut all = vec![Principal::User(user)];
        all.extend(groups.iter().map(|g| Principal::Group(*g)));
        all
    }

    /// Hosts the user may reach at `now_ms`, with the host accounts granted on each.
    /// Ignores the user's lock and validity (see [`State::check_user_active`]).
    pub fn authorized_hosts(&self, user: UserId, now_ms: u64) -> Entitlements {
        let groups = self.groups_of_user(user);
        let mut out = Entitlements::new();
        let mut by_names: Vec<(&BTreeSet<HostId>, &BTreeSet<String>)> = Vec::new();
        for p in Self::principals(user, &groups) {
            for ((_, host), accounts) in self.host_grants.range((p, 0)..=(p, u64::MAX)) {
                out.entry(*host).or_default().extend(accounts);
            }
            for ((_, group), names) in self.host_group_grants.range((p, 0)..=(p, u64::MAX)) {
                if let Some(g) = self.host_groups.get(group) {
                    by_names.push((&g.hosts, names));
                }
            }
        }
        for rule in self.rules.values() {
            if !rule.applies_to(user, &groups, now_ms) {
                continue;
            }
            for (host, accounts) in &rule.spec.host_accounts {
                out.entry(*host).or_default().extend(accounts);
            }
            for (group, names) in &rule.spec.host_groups {
                if let Some(g) = self.host_groups.get(group) {
                    by_names.push((&g.hosts, names));
                }
            }
        }
        self.add_named_accounts(&mut out, &by_names);
        out
    }

    /// Expands host-group grants (hosts + account names) into host account ids.
    fn add_named_accounts(
        &self,
        out: &mut Entitlements,
        grants: &[(&BTreeSet<HostId>, &BTreeSet<String>)],
    ) {
        for (hosts, names) in grants {
            for h in hosts.iter() {
                let accounts = out.entry(*h).or_default();
                for a in self.host_accounts_of(*h) {
                    if names.contains(&a.name) {
                        accounts.insert(a.id);
                    }
                }
            }
        }
    }

    /// Databases the user may reach at `now_ms`, with the database accounts granted on each.
    pub fn authorized_databases(&self, user: UserId, now_ms: u64) -> Entitlements {
        let groups = self.groups_of_user(user);
        let mut out = Entitlements::new();
        for p in Self::principals(user, &groups) {
            for ((_, db), accounts) in self.database_grants.range((p, 0)..=(p, u64::MAX)) {
                out.entry(*db).or_default().extend(accounts);
            }
        }
        for rule in self.rules.values() {
            if rule.applies_to(user, &groups, now_ms) {
                for (db, accounts) in &rule.spec.database_accounts {
                    out.entry(*db).or_default().extend(accounts);
                }
            }
        }
        out
    }

    /// The user exists, is not locked and is inside its validity period.
    pub fn check_user_active(&self, user: UserId, now_ms: u64) -> Result<&User, Rejection> {
        let u = found(&self.users, EntityKind::User, user)?;
        if u.locked {
            return Err(Rejection::UserLocked);
        }
        if !u.validity.contains(now_ms) {
            return Err(Rejection::UserExpired);
        }
        Ok(u)
    }

    /// May `user` log on to `host` as hosted `account` over `protocol` at `now_ms`?
    pub fn check_host_access(
        &self,
        user: UserId,
        host: HostId,
        account: HostAccountId,
        protocol: Protocol,
        now_ms: u64,
    ) -> Result<(), Rejection> {
        self.check_user_active(user, now_ms)?;
        found(&self.hosts, EntityKind::Host, host)?;
        let a = found(&self.host_accounts, EntityKind::HostAccount, account)?;
        if a.host_id != host {
            return Err(Rejection::invalid(
                "AssetAccountId",
                "account does not belong to the host",
            ));
        }
        if a.protocol != protocol {
            return Err(Rejection::invalid(
                "Protocol",
                format!("account uses {}", a.protocol),
            ));
        }
        let hosts = self.authorized_hosts(user, now_ms);
        match hosts.get(&host) {
            Some(accounts) if accounts.contains(&account) => Ok(()),
            _ => Err(Rejection::NotAuthorized),
        }
    }

    /// May `user` log on to database `db` as `account` over `protocol` at `now_ms`?
    pub fn check_database_access(
        &self,
        user: UserId,
        db: DatabaseId,
        account: DatabaseAccountId,
        protocol: Protocol,
        now_ms: u64,
    ) -> Result<(), Rejection> {
        self.check_user_active(user, now_ms)?;
        let d = found(&self.databases, EntityKind::Database, db)?;
        let a = found(
            &self.database_accounts,
            EntityKind::DatabaseAccount,
            account,
        )?;
        if a.database_id != db {
            return Err(Rejection::invalid(
                "AssetAccountId",
                "account does not belong to the database",
            ));
        }
        if d.engine.protocol() != protocol {
            return Err(Rejection::invalid(
                "Protocol",
                format!("database speaks {}", d.engine.protocol()),
            ));
        }
        let dbs = self.authorized_databases(user, now_ms);
        match dbs.get(&db) {
            Some(accounts) if accounts.contains(&account) => Ok(()),
            _ => Err(Rejection::NotAuthorized),
        }
    }

    /// Host or database access with a hosted account.
    pub fn check_asset_access(
        &self,
        user: UserId,
        asset: AssetRef,
        account: u64,
        protocol: Protocol,
        now_ms: u64,
    ) -> Result<(), Rejection> {
        match asset {
            AssetRef::Host(h) => self.check_host_access(user, h, account, protocol, now_ms),
            AssetRef::Database(d) => self.check_database_access(user, d, account, protocol, now_ms),
        }
    }

    /// May `user` reach `asset` at all (used for custom accounts carried by O&M tokens)?
    pub fn check_asset_reachable(
        &self,
        user: UserId,
        asset: AssetRef,
        protocol: Protocol,
        now_ms: u64,
    ) -> Result<(), Rejection> {
        self.check_user_active(user, now_ms)?;
        let granted = match asset {
            AssetRef::Host(h) => {
                found(&self.hosts, EntityKind::Host, h)?;
                if !protocol.is_host_protocol() {
                    return Err(Rejection::invalid("Protocol", "hosts take SSH or RDP"));
                }
                self.authorized_hosts(user, now_ms).contains_key(&h)
            }
            AssetRef::Database(d) => {
                let db = found(&self.databases, EntityKind::Database, d)?;
                if db.engine.protocol() != protocol {
                    return Err(Rejection::invalid(
                        "Protocol",
                        format!("database speaks {}", db.engine.protocol()),
                    ));
                }
                self.authorized_databases(user, now_ms).contains_key(&d)
            }
        };
        if granted {
            Ok(())
        } else {
            Err(Rejection::NotAuthorized)
        }
    }
}
