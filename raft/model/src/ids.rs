//! Identifier aliases and the entity kinds named in rejections.
//!
//! All numeric ids come from one counter in [`crate::State`], so they are unique across kinds and
//! assigned identically on every replica.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A Portunus user.
pub type UserId = u64;
/// A user group.
pub type UserGroupId = u64;
/// A public key registered for a user.
pub type PublicKeyId = u64;
/// A host (server) asset.
pub type HostId = u64;
/// An account on a host.
pub type HostAccountId = u64;
/// A shared private key usable by several host accounts.
pub type SharedKeyId = u64;
/// An asset group (host group).
pub type HostGroupId = u64;
/// A database asset.
pub type DatabaseId = u64;
/// An account on a database.
pub type DatabaseAccountId = u64;
/// A network domain.
pub type NetworkDomainId = u64;
/// An authorization rule.
pub type RuleId = u64;
/// A SQL rule of the database gateway.
pub type SqlRuleId = u64;
/// A control policy.
pub type PolicyId = u64;
/// A command waiting for an administrator's approval.
pub type ApprovalId = u64;
/// An O&M approval request.
pub type TicketId = u64;
/// An O&M token.
pub type TokenId = u64;
/// A project (0 is the default project, see [`crate::project::DEFAULT_PROJECT`]).
pub type ProjectId = u64;
/// A project authorization or a review rule.
pub type DelegationId = u64;
/// A session (one connection to an asset through a node).
pub type SessionId = u64;
/// A cluster node (the Raft node id).
pub type NodeId = u64;
/// SHA-256 of an O&M token; the only form in which tokens are stored.
pub type TokenHash = [u8; 32];
/// A signature nonce of the management API as the state remembers it: the first 16 bytes of
/// SHA-256 of `"<AccessKeyId>\n<nonce>"`, computed by the API (the model does no hashing).
pub type NonceKey = [u8; 16];

/// The kinds of entity a rejection can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EntityKind {
    User,
    UserGroup,
    PublicKey,
    Host,
    HostAccount,
    SharedKey,
    HostGroup,
    Database,
    DatabaseAccount,
    NetworkDomain,
    Rule,
    Token,
    Session,
    AccessKey,
    Node,
    Authorization,
    SqlRule,
    Policy,
    CommandApproval,
    OperationTicket,
    Project,
    ProjectAuthorization,
    ReviewRule,
}

impl EntityKind {
    /// Human-readable name used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            EntityKind::User => "user",
            EntityKind::UserGroup => "user group",
            EntityKind::PublicKey => "public key",
            EntityKind::Host => "host",
            EntityKind::HostAccount => "host account",
            EntityKind::SharedKey => "shared key",
            EntityKind::HostGroup => "host group",
            EntityKind::Database => "database",
            EntityKind::DatabaseAccount => "database account",
            EntityKind::NetworkDomain => "network domain",
            EntityKind::Rule => "authorization rule",
            EntityKind::Token => "O&M token",
            EntityKind::Session => "session",
            EntityKind::AccessKey => "access key",
            EntityKind::Node => "node",
            EntityKind::Authorization => "authorization",
            EntityKind::SqlRule => "SQL rule",
            EntityKind::Policy => "control policy",
            EntityKind::CommandApproval => "command approval",
            EntityKind::OperationTicket => "O&M approval request",
            EntityKind::Project => "project",
            EntityKind::ProjectAuthorization => "project authorization",
            EntityKind::ReviewRule => "review rule",
        }
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
