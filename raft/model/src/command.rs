//! Requests and commands: everything that can change the replicated state.

use crate::admin_audit::AdminAuditRecord;
use crate::authz::{Principal, RuleSpec};
use crate::common::{AssetRef, Protocol};
use crate::database::{
    DatabaseAccountPatch, DatabasePatch, NetworkDomainSpec, NewDatabase, NewDatabaseAccount,
};
use crate::directory::DirectoryEntry;
use crate::host::NewHostAccount;
use crate::host::{AddressType, CredentialKind, HostAccountPatch, HostPatch, NewHost};
use crate::ids::*;
use crate::policy::{PolicyBasics, PolicyPart};
use crate::project::{DelegationKind, DelegationSpec};
use crate::sealed::Sealed;
use crate::session::EndReason;
use crate::settings::{
    ClusterSettings, DirectorySettings, ResourceRef, Role, TwoFactorSettings, WhiteListEntry,
};
use crate::sql_rule::SqlRuleSpec;
use crate::token::NewToken;
use crate::user::{NewUser, UserPatch, UserSource};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One log entry's payload: a command stamped by the leader with the current unix millis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub now_ms: u64,
    pub command: Command,
    /// Set by the proposing node so that a proposal re-sent after a lost answer (the leader
    /// died or changed mid-call) is applied once: a second entry with the same id answers the
    /// first one's response and changes nothing.
    pub id: Option<RequestId>,
}

/// Identifies one proposal across re-sends: the proposing process and its sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestId {
    /// Random per process start, so ids never repeat across restarts.
    pub origin: u64,
    pub seq: u64,
}

/// Every change the replicated state accepts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Command {
    // ---- users and user groups
    CreateUser(NewUser),
    UpdateUser {
        user_id: UserId,
        patch: UserPatch,
    },
    DeleteUser {
        user_id: UserId,
    },
    SetUserPassword {
        user_id: UserId,
        password_hash: Option<String>,
    },
    LockUsers {
        user_ids: Vec<UserId>,
    },
    /// Unlocks and resets the failed-logon counter.
    UnlockUsers {
        user_ids: Vec<UserId>,
    },
    RecordLoginFailure {
        user_id: UserId,
    },
    RecordLoginSuccess {
        user_id: UserId,
    },
    AddUserPublicKey {
        user_id: UserId,
        name: String,
        public_key: String,
        fingerprint: String,
        comment: String,
    },
    UpdateUserPublicKey {
        user_id: UserId,
        key_id: PublicKeyId,
        name: Option<String>,
        comment: Option<String>,
    },
    RemoveUserPublicKey {
        user_id: UserId,
        key_id: PublicKeyId,
    },
    CreateUserGroup {
        name: String,
        comment: String,
    },
    UpdateUserGroup {
        group_id: UserGroupId,
        name: String,
        comment: String,
    },
    DeleteUserGroup {
        group_id: UserGroupId,
    },
    AddUsersToGroup {
        group_id: UserGroupId,
        user_ids: Vec<UserId>,
    },
    RemoveUsersFromGroup {
        group_id: UserGroupId,
        user_ids: Vec<UserId>,
    },

    // ---- hosts, accounts, shared keys, host groups
    CreateHost(NewHost),
    UpdateHost {
        host_id: HostId,
        patch: HostPatch,
    },
    DeleteHost {
        host_id: HostId,
    },
    SetHostsPort {
        host_ids: Vec<HostId>,
        protocol: Protocol,
        port: u16,
    },
    SetHostsActiveAddress {
        host_ids: Vec<HostId>,
        address_type: AddressType,
    },
    CreateHostAccount(NewHostAccount),
    UpdateHostAccount {
        account_id: HostAccountId,
        patch: HostAccountPatch,
    },
    DeleteHostAccount {
        account_id: HostAccountId,
    },
    ResetHostAccountCredential {
        account_id: HostAccountId,
        kind: CredentialKind,
    },
    CreateSharedKey {
        name: String,
        private_key: Sealed,
        fingerprint: String,
        comment: String,
    },
    UpdateSharedKey {
        key_id: SharedKeyId,
        name: Option<String>,
        private_key: Option<Sealed>,
        fingerprint: Option<String>,
        comment: Option<String>,
    },
    /// Deletes the key and detaches it from every account using it.
    DeleteSharedKey {
        key_id: SharedKeyId,
    },
    AttachAccountsToSharedKey {
        key_id: SharedKeyId,
        account_ids: Vec<HostAccountId>,
    },
    DetachAccountsFromSharedKey {
        key_id: SharedKeyId,
        account_ids: Vec<HostAccountId>,
    },
    CreateHostGroup {
        name: String,
        comment: String,
    },
    UpdateHostGroup {
        group_id: HostGroupId,
        name: String,
        comment: String,
    },
    DeleteHostGroup {
        group_id: HostGroupId,
    },
    AddHostsToGroup {
        group_id: HostGroupId,
        host_ids: Vec<HostId>,
    },
    RemoveHostsFromGroup {
        group_id: HostGroupId,
        host_ids: Vec<HostId>,
    },
    AddDatabasesToGroup {
        group_id: HostGroupId,
        database_ids: Vec<DatabaseId>,
    },
    RemoveDatabasesFromGroup {
        group_id: HostGroupId,
        database_ids: Vec<DatabaseId>,
    },
    /// Trust on first use: records the fingerprint if none is known, accepts it if equal,
    /// rejects `HostKeyMismatch` otherwise.
    TrustHostKey {
        host_id: HostId,
        fingerprint: String,
    },
    /// Administrator replaces (or with `None` forgets) the trusted fingerprint.
    SetHostKey {
        host_id: HostId,
        fingerprint: Option<String>,
    },

    // ---- databases, database accounts, network domains
    CreateDatabase(NewDatabase),
    UpdateDatabase {
        database_id: DatabaseId,
        patch: DatabasePatch,
    },
    DeleteDatabase {
        database_id: DatabaseId,
    },
    CreateDatabaseAccount(NewDatabaseAccount),
    UpdateDatabaseAccount {
        account_id: DatabaseAccountId,
        patch: DatabaseAccountPatch,
    },
    DeleteDatabaseAccount {
        account_id: DatabaseAccountId,
    },
    CreateNetworkDomain(NetworkDomainSpec),
    /// Replaces the domain's settings. A proxy whose kind, address and port stay keeps the
    /// host key trusted for it when `spec` gives none (a pin trusted on first use meanwhile is
    /// not lost to a change read before it), unless its node type is in `forget_host_keys`.
    UpdateNetworkDomain {
        domain_id: NetworkDomainId,
        spec: NetworkDomainSpec,
        forget_host_keys: Vec<String>,
    },
    /// Trust on first use of an SSH proxy's host key: records the fingerprint on the domain's
    /// proxy of that node type when none is known and the proxy is still at `address:port`,
    /// accepts an equal one, rejects another.
    TrustProxyHostKey {
        domain_id: NetworkDomainId,
        node_type: String,
        address: String,
        port: u16,
        fingerprint: String,
    },
    /// Deletes the domain; its assets go back to direct access.
    DeleteNetworkDomain {
        domain_id: NetworkDomainId,
    },
    MoveHostsToNetworkDomain {
        domain_id: Option<NetworkDomainId>,
        host_ids: Vec<HostId>,
    },
    MoveDatabasesToNetworkDomain {
        domain_id: Option<NetworkDomainId>,
        database_ids: Vec<DatabaseId>,
    },

    // ---- projects, project authorizations and review rules (see `project`)
    CreateProject {
        name: String,
        description: String,
    },
    UpdateProject {
        project_id: ProjectId,
        name: String,
        description: String,
    },
    /// Deletes a project that holds no host or database; delegations stop covering it.
    DeleteProject {
        project_id: ProjectId,
    },
    /// Moves hosts into project `to` (`DEFAULT_PROJECT` included); with `from`, every host
    /// must be in that project now.
    MoveHostsToProject {
        from: Option<ProjectId>,
        to: ProjectId,
        host_ids: Vec<HostId>,
    },
    MoveDatabasesToProject {
        from: Option<ProjectId>,
        to: ProjectId,
        database_ids: Vec<DatabaseId>,
    },
    CreateDelegation {
        kind: DelegationKind,
        spec: DelegationSpec,
    },
    UpdateDelegation {
        kind: DelegationKind,
        delegation_id: DelegationId,
        spec: DelegationSpec,
    },
    DeleteDelegation {
        kind: DelegationKind,
        delegation_id: DelegationId,
    },
    /// Adds projects to (or, with `attach` off, removes them from) what a delegation covers.
    SetDelegationProjects {
        kind: DelegationKind,
        delegation_id: DelegationId,
        project_ids: Vec<ProjectId>,
        attach: bool,
    },
    /// Names users in (or removes them from) a delegation.
    SetDelegationUsers {
        kind: DelegationKind,
        delegation_id: DelegationId,
        user_ids: Vec<UserId>,
        attach: bool,
    },

    /// Replaces the configuration of a cluster that holds none yet with an exported one (see
    /// `state::config_export`).
    ImportConfiguration(Box<crate::state::Configuration>),

    // ---- authorizations
    /// Grants the host and adds these accounts (may be empty) to the grant.
    AttachHostAccounts {
        principal: Principal,
        host_id: HostId,
        account_ids: BTreeSet<HostAccountId>,
    },
    /// Removes these accounts from the grant; `None` removes the host grant entirely.
    DetachHostAccounts {
        principal: Principal,
        host_id: HostId,
        account_ids: Option<BTreeSet<HostAccountId>>,
    },
    AttachHostGroupAccounts {
        principal: Principal,
        group_id: HostGroupId,
        account_names: BTreeSet<String>,
    },
    DetachHostGroupAccounts {
        principal: Principal,
        group_id: HostGroupId,
        account_names: Option<BTreeSet<String>>,
    },
    AttachDatabaseAccounts {
        principal: Principal,
        database_id: DatabaseId,
        account_ids: BTreeSet<DatabaseAccountId>,
    },
    DetachDatabaseAccounts {
        principal: Principal,
        database_id: DatabaseId,
        account_ids: Option<BTreeSet<DatabaseAccountId>>,
    },
    CreateRule(RuleSpec),
    UpdateRule {
        rule_id: RuleId,
        spec: RuleSpec,
    },
    SetRuleEnabled {
        rule_id: RuleId,
        enabled: bool,
    },
    DeleteRule {
        rule_id: RuleId,
    },

    // ---- O&M tokens
    IssueToken(NewToken),
    /// Extends expiry to `now + token_renew_secs`; `user_id`, when given, must own the token.
    RenewToken {
        token_id: TokenId,
        user_id: Option<UserId>,
    },
    RevokeToken {
        token_id: TokenId,
    },
    /// Atomically checks the token, consumes one use, takes a slot and opens a session.
    SpendToken {
        token_hash: TokenHash,
        node_id: NodeId,
        node_epoch: u64,
        client_addr: String,
        /// When given, must equal the token's protocol.
        protocol: Option<Protocol>,
    },
    /// Removes tokens that expired before this time (and revoked ones).
    PurgeTokens {
        expired_before_ms: u64,
    },

    // ---- nodes and sessions
    /// A node (re)started: bump its epoch, free its slots, close its sessions (NodeLost).
    NodeStarted {
        node_id: NodeId,
    },
    /// The leader declares a node lost: same effect as `NodeStarted`.
    ReclaimNode {
        node_id: NodeId,
    },
    /// A logon with the user's own credentials: checks authorization and takes a slot.
    OpenSession {
        user_id: UserId,
        asset: AssetRef,
        account_id: u64,
        protocol: Protocol,
        node_id: NodeId,
        node_epoch: u64,
        client_addr: String,
    },
    CloseSession {
        session_id: SessionId,
        node_id: NodeId,
        node_epoch: u64,
        reason: EndReason,
        bytes_up: u64,
        bytes_down: u64,
        /// The digest of the session's events as the node stored them.
        events: Option<crate::session_trail::EventsDigest>,
    },
    RequestTermination {
        session_id: SessionId,
    },
    /// Removes closed sessions that ended before this time.
    PurgeSessions {
        ended_before_ms: u64,
    },

    // ---- settings, keys, instance, tags, directories
    UpdateSettings(ClusterSettings),
    /// Sets the SSH host key shared by every node; with `only_if_absent` the first writer wins.
    SetSshHostKey {
        key: Sealed,
        only_if_absent: bool,
    },
    CreateAccessKey {
        access_key_id: String,
        secret: Sealed,
        role: Role,
        user_id: Option<UserId>,
        comment: String,
    },
    SetAccessKeyEnabled {
        access_key_id: String,
        enabled: bool,
    },
    DeleteAccessKey {
        access_key_id: String,
    },
    /// The instance's description (ModifyInstanceAttribute).
    SetInstanceDescription(String),
    /// The instance's O&M addresses (ModifyInstanceAttribute's InternetEndpoint and
    /// IntranetEndpoint); empty clears one.
    SetInstanceEndpoints {
        internet: String,
        intranet: String,
    },
    /// Logons from public source addresses allowed or refused.
    SetPublicAccess(bool),
    /// The public white list, replaced whole (validated with [`crate::validate_white_list`]).
    SetPublicWhiteList(Vec<WhiteListEntry>),
    TagResources {
        resources: Vec<ResourceRef>,
        tags: BTreeMap<String, String>,
    },
    /// Removes these tag keys, or every tag when `all`.
    UntagResources {
        resources: Vec<ResourceRef>,
        keys: Vec<String>,
        all: bool,
    },
    SetLdapSettings(Option<DirectorySettings>),
    SetAdSettings(Option<DirectorySettings>),
    /// OpenID Connect single sign-on of the web pages; None removes it.
    SetOidcSettings(Option<crate::settings::OidcSettings>),
    /// A synchronization of users from the LDAP (`source` Ldap) or AD directory: the user
    /// entries its settings' filter matched, read by one node (see `state::directory`).
    SyncDirectory {
        source: UserSource,
        entries: Vec<DirectoryEntry>,
    },
    /// A synchronization that could not read the directory: recorded as the last one's
    /// result, nothing else changes.
    DirectorySyncFailed {
        source: UserSource,
        error: String,
    },
    SetTwoFactorSettings(TwoFactorSettings),

    // ---- a user's TOTP second factor (see `second_factor`)
    /// Starts a user's TOTP enrolment, pending until confirmed: the secret (sealed) and the
    /// SHA-256 of each recovery code. Replaces a pending enrolment; refused while one is
    /// active (an administrator resets it first).
    EnrollTotp {
        user_id: UserId,
        secret: Sealed,
        recovery_codes: Vec<[u8; 32]>,
    },
    /// Activates the pending enrolment holding `secret` with its first valid code, found by
    /// the node to be the code of time-step `step`.
    ConfirmTotp {
        user_id: UserId,
        secret: Sealed,
        step: u64,
    },
    /// A login's code, found valid by the node for time-step `step` against `secret`:
    /// accepted only above the last step used (a code works once, cluster-wide).
    UseTotpStep {
        user_id: UserId,
        secret: Sealed,
        step: u64,
    },
    /// A login's recovery code (its SHA-256), accepted once.
    UseRecoveryCode {
        user_id: UserId,
        code_hash: [u8; 32],
    },
    /// A wrong second-factor code: counted, and locks codes as wrong passwords lock passwords.
    RecordSecondFactorFailure {
        user_id: UserId,
    },
    /// An administrator removes a user's enrolment (a lost device): the user enrolls again.
    ResetTotp {
        user_id: UserId,
    },

    // ---- group commit
    /// Several commands in one log entry, applied one after the other as if each were its own
    /// entry (each checked and applied or refused on its own; the batch is not atomic). The
    /// Raft core appends and fsyncs one entry at a time, so a node folds the commands proposed
    /// concurrently into one entry. Answered with `Response::Batch`, one answer per command.
    /// Batches do not nest.
    Batch(#[serde(deserialize_with = "crate::decoding::nested")] Vec<Command>),

    // ---- API replay protection
    /// Remembers a signature nonce of a correctly signed API request, signed by
    /// `access_key_id` and dated `request_ms`, for as long as a node may accept that date, so
    /// that the same request replayed to any node is refused (`Rejection::NonceUsed` while it
    /// is remembered). Refused when the key is unknown or disabled, when the date is too far
    /// ahead of the leader's clock, and (retryable, `NonceQuotaExceeded`/`NonceTableFull`) when
    /// the key's share, the non-Admin share or the whole table is full (see `state::nonces`).
    /// Kept after `Batch` so earlier variants keep their encoding.
    RecordNonce {
        access_key_id: String,
        key: NonceKey,
        request_ms: u64,
    },

    // ---- administrative audit trail
    /// Appends one entry to the hash-chained admin audit log (see `admin_audit`), stamped with
    /// the leader's time. Never refused. Kept last so earlier variants keep their encoding.
    RecordAdminAudit(AdminAuditRecord),

    // ---- SQL rules of the database gateway
    CreateSqlRule(SqlRuleSpec),
    UpdateSqlRule {
        rule_id: SqlRuleId,
        spec: SqlRuleSpec,
    },
    DeleteSqlRule {
        rule_id: SqlRuleId,
    },

    // ---- sealing key rotation and instance identity
    /// Replaces sealed values with the same secrets sealed under the current sealing key, each
    /// only while the state still holds the old ciphertext at its place (a value changed or
    /// removed since it was read is left alone). Answered with `Response::Resealed`.
    Reseal(Vec<crate::sealed::Resealed>),
    /// Names the instance (the API's `InstanceId`) unless it already has a name; proposed with
    /// a random name by every node as it starts, so the first one wins and all agree. Answered
    /// with `Response::InstanceId` carrying the name in force.
    EnsureInstanceId {
        instance_id: String,
    },

    // ---- control policies
    /// Answered with `Response::Created`; the new policy covers nobody and nothing until its
    /// scopes are set, and allows everything until its controls are.
    CreatePolicy(PolicyBasics),
    /// Replaces one part of a policy.
    UpdatePolicy {
        policy_id: PolicyId,
        part: PolicyPart,
    },
    DeletePolicy {
        policy_id: PolicyId,
    },
    // ---- command approval
    /// A gateway holds `command` of an open session for approval until `deadline_ms`.
    /// Answered with `Response::Created`.
    AskCommandApproval {
        session_id: SessionId,
        command: String,
        deadline_ms: u64,
    },
    /// The session holding the command gave up waiting (the engineer pressed Ctrl-C or
    /// left); refused unless it is still waiting and held by `session_id`.
    WithdrawCommandApproval {
        approval_id: ApprovalId,
        session_id: SessionId,
    },
    /// An administrator's decision; refused once decided or past the deadline.
    DecideCommandApproval {
        approval_id: ApprovalId,
        accept: bool,
        by: String,
    },
    // ---- O&M approval requests
    /// Answered with `Response::Created`.
    CreateOperationTicket(crate::ticket::NewTicket),
    /// Refused unless the request is pending.
    DecideOperationTicket {
        ticket_id: TicketId,
        decision: crate::ticket::TicketDecision,
    },
    // ---- browser sessions of the web portal (see `web_session`)
    /// Opens a browser session for an active user whose password matched, under the SHA-256
    /// of its cookie; `second_factor_pending` when a code is still owed. Drops expired
    /// sessions and, past `WEB_SESSIONS_PER_USER`, the user's oldest.
    OpenWebSession {
        session_hash: crate::web_session::WebSessionHash,
        user_id: UserId,
        client_addr: String,
        second_factor_pending: bool,
    },
    /// The pending session's second factor was given: it serves from now on.
    WebSecondFactorPassed {
        session_hash: crate::web_session::WebSessionHash,
    },
    /// A wrong code for the pending session: counted; the last allowed one ends it.
    WebSecondFactorRefused {
        session_hash: crate::web_session::WebSessionHash,
    },
    /// A request used the session: its idle time starts again.
    TouchWebSession {
        session_hash: crate::web_session::WebSessionHash,
    },
    /// Logout: the session ends on every node (done even when it had ended already).
    CloseWebSession {
        session_hash: crate::web_session::WebSessionHash,
    },

    // ---- one API call in one log entry (see `state::api_calls`)
    /// An API call's first change together with the call's signature nonce and its admin audit
    /// entry, so that the call costs one commit instead of three. Applied in order: the nonce is
    /// recorded as `RecordNonce` would (its refusal refuses the whole command, nothing else is
    /// applied); then `change`, if any, is applied as on its own (neither a `Batch` nor another
    /// `ApiCall`); then `audit`, if any, is appended to the admin audit trail unless `change`
    /// was refused (the caller records the entry with the call's answer afterwards). Answered
    /// with `Response::ApiCalled`, unless the nonce is refused (`Response::Rejected`).
    ApiCall {
        nonce: Option<NonceRecord>,
        audit: Option<AdminAuditRecord>,
        #[serde(deserialize_with = "crate::decoding::nested")]
        change: Option<Box<Command>>,
    },
}

/// A signed API request's nonce as `Command::RecordNonce` records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonceRecord {
    pub access_key_id: String,
    pub key: NonceKey,
    pub request_ms: u64,
}
