//! Projects: a partition of the assets, with the users who manage each part (project
//! authorizations) and the users who audit it (review rules).
//!
//! Every host and database belongs to exactly one project: the one it was placed in, or the
//! default project (which always exists, has no id of its own in the state and cannot be
//! deleted). A delegation names users and the projects they act on: all of them, or a set.

use crate::ids::{ProjectId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The id the API shows for the default project. Stored ids come from the shared counter,
/// which starts at 1, so 0 never names anything else.
pub const DEFAULT_PROJECT: ProjectId = 0;

/// The default project's name.
pub const DEFAULT_PROJECT_NAME: &str = "Default";

/// A project other than the default one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    pub id: ProjectId,
    pub name: String,
    pub description: String,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

/// What a delegation lets its users do in the projects it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DelegationKind {
    /// A project authorization: its users administer the covered projects' assets.
    Manage,
    /// A review rule: its users audit the covered projects' sessions.
    Review,
}

impl DelegationKind {
    /// The name an administrator reads in errors.
    pub fn name(self) -> &'static str {
        match self {
            DelegationKind::Manage => "project authorization",
            DelegationKind::Review => "review rule",
        }
    }
}

/// Names and scope of a delegation as an administrator sets them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelegationSpec {
    pub name: String,
    pub description: String,
    /// Covers every project, present and future (the API's `ScopeType` 1); else only
    /// `projects` (`ScopeType` 2).
    pub all_projects: bool,
}

/// A project authorization or a review rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delegation {
    pub id: u64,
    pub kind: DelegationKind,
    pub spec: DelegationSpec,
    /// The projects covered when `spec.all_projects` is off (kept when it is on, so switching
    /// back restores them).
    pub projects: BTreeSet<ProjectId>,
    /// The users it names (project administrators, or auditors).
    pub users: BTreeSet<UserId>,
}

/// The projects a user acts on through delegations of one kind. Delegations only add: a user
/// named in none reaches nothing through them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProjectReach {
    /// Named in no delegation of that kind.
    Nothing,
    /// Every project (a delegation with `all_projects`).
    All,
    /// These projects only.
    Projects(BTreeSet<ProjectId>),
}

impl ProjectReach {
    /// Whether an asset of this project is within reach.
    pub fn reaches(&self, project: ProjectId) -> bool {
        match self {
            ProjectReach::Nothing => false,
            ProjectReach::All => true,
            ProjectReach::Projects(set) => set.contains(&project),
        }
    }
}
