//! SQL rules: statements the database gateway refuses, per database and per user or group.
//! The gateway does the matching (`portunus-db`); the model keeps the rules and who they apply
//! to.

use crate::ids::{DatabaseId, SqlRuleId, UserGroupId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// What a rule matches (see the gateway for the exact semantics).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SqlMatcher {
    /// Verbs, or `VERB OBJECT` pairs: `DROP`, `DROP DATABASE`, `TRUNCATE`, `LOAD`.
    Verbs(Vec<String>),
    /// `DELETE` or `UPDATE` without a top-level `WHERE`.
    WithoutWhere,
    /// Tables: globs on `schema.table`.
    Tables(Vec<String>),
    /// A regular expression over the statement text (case-insensitive).
    Regex(String),
}

/// A rule as created or modified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SqlRuleSpec {
    pub name: String,
    pub comment: String,
    pub enabled: bool,
    pub matcher: SqlMatcher,
    /// Databases it applies to; empty = every database.
    pub databases: BTreeSet<DatabaseId>,
    /// Users and user groups it applies to; both empty = everyone.
    pub users: BTreeSet<UserId>,
    pub user_groups: BTreeSet<UserGroupId>,
}

/// A stored rule. Ids of deleted databases, users or groups stay in its sets and match
/// nothing (ids are never reused), so deleting a target never widens a rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SqlRule {
    pub id: SqlRuleId,
    pub spec: SqlRuleSpec,
    pub created_at_ms: u64,
}

impl SqlRule {
    /// Whether the rule applies to `user` (in `groups`) on `database`.
    pub fn applies(
        &self,
        database: DatabaseId,
        user: UserId,
        groups: &BTreeSet<UserGroupId>,
    ) -> bool {
        let s = &self.spec;
        s.enabled
            && (s.databases.is_empty() || s.databases.contains(&database))
            && ((s.users.is_empty() && s.user_groups.is_empty())
                || s.users.contains(&user)
                || s.user_groups.iter().any(|g| groups.contains(g)))
    }
}
