//! Synchronization of users from an LDAP or AD directory: what a node read from the
//! directory ([`DirectoryEntry`]) and what applying it changed ([`SyncReport`]). The rules are
//! in `state::directory`.

use serde::{Deserialize, Serialize};

/// Most entries one synchronization carries (one log entry holds them all).
pub const MAX_SYNC_ENTRIES: usize = 100_000;

/// How many names of users or groups a report lists for each kind of conflict.
pub const REPORTED_NAMES: usize = 20;

/// A user entry as the directory holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryEntry {
    /// The login name (the login attribute's value).
    pub login: String,
    /// The entry's distinguished name (kept as the user's SourceUserId).
    pub dn: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub mobile: Option<String>,
    /// Disabled in the directory (AD `userAccountControl` flag 2, OpenLDAP
    /// `pwdAccountLockedTime`, `nsAccountLock: TRUE`).
    pub disabled: bool,
    /// Names of the user groups the entry belongs to (its organizational unit and/or the
    /// directory groups it is a member of, as the settings ask).
    pub groups: Vec<String>,
}

/// What the last synchronization from a directory did, or why it could not run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    /// When it was applied (or failed).
    pub at_ms: u64,
    /// Why the directory could not be read; nothing was changed then.
    pub error: Option<String>,
    /// User entries the directory returned.
    pub entries: u64,
    /// Users created.
    pub created: u64,
    /// Users whose display name, e-mail or mobile number changed.
    pub updated: u64,
    /// Users locked: disabled in the directory, or no longer in it.
    pub locked: u64,
    /// Users whose directory lock was lifted (enabled again).
    pub unlocked: u64,
    /// User groups created.
    pub groups_created: u64,
    /// Users added to or removed from directory groups.
    pub membership_changes: u64,
    /// Login names held by a user of another source (left alone), first few.
    pub user_conflicts: Vec<String>,
    /// Group names held by a group of another source (left alone), first few.
    pub group_conflicts: Vec<String>,
    /// Entries whose name or attributes Portunus cannot take (`name: why`), first few.
    pub invalid: Vec<String>,
    /// Counts behind the three lists above.
    pub user_conflict_count: u64,
    pub group_conflict_count: u64,
    pub invalid_count: u64,
}

impl SyncReport {
    pub(crate) fn note(list: &mut Vec<String>, count: &mut u64, what: String) {
        *count += 1;
        if list.len() < REPORTED_NAMES {
            list.push(what);
        }
    }
}
