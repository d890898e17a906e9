//! The replicated vocabulary of Portunus: entities, commands, outcomes and a pure `apply`.
//!
//! Everything here is plain data. [`State::apply`] performs no I/O, reads no clock (the leader
//! stamps [`Request::now_ms`]) and uses only ordered collections, so every replica that applies
//! the same log reaches a byte-identical state. Secrets arrive already sealed ([`Sealed`]) or
//! hashed (passwords as argon2 PHC strings, tokens as SHA-256 digests); the model never sees them
//! in the clear.

pub mod admin_audit;
pub mod approval;
pub mod authz;
pub mod command;
pub mod common;
pub mod database;
pub mod decoding;
pub mod directory;
pub mod host;
pub mod ids;
pub mod policy;
pub mod project;
pub mod rejection;
pub mod response;
pub mod sealed;
pub mod second_factor;
pub mod session;
pub mod session_trail;
pub mod settings;
pub mod sql_rule;
pub mod state;
pub mod ticket;
pub mod token;
pub mod user;
pub mod web_session;

pub use admin_audit::{
    AdminAuditEntry, AdminAuditLog, AdminAuditRecord, AuditHash, ChainBreak, ADMIN_AUDIT_RETENTION,
};
pub use approval::{ApprovalState, CommandApproval};
pub use authz::{Principal, Rule, RuleSpec};
pub use command::{Command, NonceRecord, Request, RequestId};
pub use common::{AssetRef, AssetSource, AssetType, Protocol, Validity};
pub use database::{
    Database, DatabaseAccount, DatabaseAccountPatch, DatabasePatch, DbEngine, DomainKind,
    NetworkDomain, NetworkDomainSpec, NetworkProxy, NewDatabase, NewDatabaseAccount,
    PROXY_NODE_TYPES, PROXY_TYPES,
};
pub use directory::{DirectoryEntry, SyncReport, MAX_SYNC_ENTRIES};
pub use host::{
    AddressType, CredentialKind, Host, HostAccount, HostAccountPatch, HostGroup, HostPatch,
    NewHost, NewHostAccount, OsType, SharedKey,
};
pub use ids::*;
pub use policy::is_public;
pub use policy::{
    parse_block, AccessHours, AccountNames, Accounts, AssetScope, Block, CommandControl, Governed,
    IpAcl, ListMode, Policy, PolicyBasics, PolicyPart, RdpOptions, SshOptions, UserScope,
};
pub use project::{
    Delegation, DelegationKind, DelegationSpec, Project, ProjectReach, DEFAULT_PROJECT,
    DEFAULT_PROJECT_NAME,
};
pub use rejection::{LimitScope, Rejection};
pub use response::Response;
pub use sealed::{purpose as seal_purpose, Resealed, Sealed, SealedAt};
pub use second_factor::{FailureRun, TotpEnrolment, TwoFactorStatus};
pub use session::{EndReason, Session, SessionAccount, SessionGrant};
pub use session_trail::{EventsDigest, SessionLink, SessionTrail};
pub use settings::{
    endpoint_invalid, validate_white_list, AccessKey, ClusterSettings, DatabaseTargetTls,
    DirectorySettings, DirectorySync, InstanceAttributes, OidcSettings, ResourceRef, Role,
    TwoFactorSettings, WhiteListEntry, MAX_WHITE_LIST_ENTRIES,
};
pub use sql_rule::{SqlMatcher, SqlRule, SqlRuleSpec};
pub use state::{Configuration, State, CONFIG_FORMAT};
pub use ticket::{NewTicket, OperationTicket, TicketDecision, TicketState};
pub use token::{NewToken, ScramVerifier, Token, TokenAccount, TokenIssuer, TokenReceipt};
pub use user::{
    NewUser, PublicKey, TwoFactorMethod, UiLanguage, User, UserGroup, UserPatch, UserSource,
};
pub use web_session::{WebSession, WebSessionHash};

/// Format tag the storage writes before the bincode-encoded [`State`] in snapshots.
/// 2: the state remembers API signature nonces.
/// 3: each remembered nonce names its AccessKey (per-key quotas).
/// 4: the hash-chained admin audit log.
/// 5: the instance's random name.
/// 6: O&M tokens of PostgreSQL databases keep a SCRAM verifier (the native PostgreSQL port);
///    the session trail (closed sessions hash-chained, with their events' digests); the
///    setting that requires pinned host keys.
/// 7: users' TOTP enrolments (sealed secret, last step used, recovery code digests, wrong-code
///    run) and their two-factor status.
/// 8: the setting for TLS to database targets.
/// 9: control policies; commands waiting for approval; O&M approval requests.
/// 10: browser sessions of the web portal (hashes of their cookies).
/// 11: the instance's public-access switch (on by default) and white list with descriptions;
///     the directories' login name mapping.
/// 12: projects (each host and database names its project), project authorizations and
///     review rules.
/// 13: SSH proxies of network domains keep their trusted host key; a held command can be
///     withdrawn by its session; the setting for how long a held command waits.
/// 14: directory synchronization: its settings, the last one's report per directory, the
///     directory's lock on a user, the source of a user group.
/// 16: the instance's O&M addresses (`InternetEndpoint`, `IntranetEndpoint`); a user's language.
pub const STATE_FORMAT_VERSION: u32 = 16;
