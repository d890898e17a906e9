//! Authorization vocabulary: principals, direct grants and time-limited rules.
//!
//! Access is denied by default. A user reaches an asset account through a direct grant to
//! the user, a grant to one of the user's groups, or an enabled rule whose validity window
//! contains the current time.

use crate::common::Validity;
use crate::ids::{DatabaseAccountId, DatabaseId, HostAccountId, HostGroupId, HostId, RuleId};
use crate::ids::{UserGroupId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Who a grant is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Principal {
    User(UserId),
    Group(UserGroupId),
}

/// Members and assets of an authorization rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSpec {
    pub name: String,
    pub comment: String,
    pub validity: Validity,
    pub users: BTreeSet<UserId>,
    pub user_groups: BTreeSet<UserGroupId>,
    /// Hosts with the accounts granted on each (an empty set grants the host without accounts).
    pub host_accounts: BTreeMap<HostId, BTreeSet<HostAccountId>>,
    /// Host groups with the account names granted on their hosts.
    pub host_groups: BTreeMap<HostGroupId, BTreeSet<String>>,
    pub database_accounts: BTreeMap<DatabaseId, BTreeSet<DatabaseAccountId>>,
}

/// A named, optionally time-limited authorization of many users on many assets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: RuleId,
    pub enabled: bool,
    pub spec: RuleSpec,
    pub created_at_ms: u64,
}

impl Rule {
    /// Whether the rule grants anything at `now_ms` to a user in `groups`.
    pub fn applies_to(&self, user: UserId, groups: &BTreeSet<UserGroupId>, now_ms: u64) -> bool {
        self.enabled
            && self.spec.validity.contains(now_ms)
            && (self.spec.users.contains(&user)
                || self.spec.user_groups.iter().any(|g| groups.contains(g)))
    }
}
