//! The port through which the management API reaches the replicated state and the cluster's
//! secrets. `ops` never names openraft or RocksDB; the node implements [`Backend`].

use portunus_model::{Command, Response, Sealed, State};
use std::future::Future;
use std::pin::Pin;

/// A boxed future, for the port methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the backend could not serve a request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The state machine refused the command; nothing changed.
    #[error(transparent)]
    Rejected(#[from] portunus_model::Rejection),
    /// No quorum or no leader right now; the caller may retry.
    #[error("the cluster has no quorum right now: {0}")]
    Unavailable(String),
    /// Anything else (never contains secrets).
    #[error("{0}")]
    Internal(String),
}

/// A session's audit events as the cluster holds them (`ListSessionEvents`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvents {
    /// JSON lines, whole lines only.
    pub lines: Vec<u8>,
    /// The parts found (and in `lines`), from the first up to the first missing one.
    pub parts: u32,
    /// The part count the end marker states; None without one: the session is open, or the
    /// node that served it stopped before it ended.
    pub expected: Option<u32>,
}

/// The result of checking a host account from the bastion (`VerifyHostAccount`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostAccountCheck {
    /// `OK`, `Unreachable`, `HostKeyMismatch`, `HostKeyNotPinned`, `NoCredential`,
    /// `CredentialUnusable` or `AuthRefused`.
    pub result: &'static str,
    /// What happened, in words for the administrator (never a secret).
    pub message: String,
    /// The fingerprint pinned for the host, if any.
    pub pinned_fingerprint: Option<String>,
    /// The fingerprint the host presented, if it answered.
    pub seen_fingerprint: Option<String>,
}

/// The state of one proxy of a network domain, checked now from this node
/// (`GetNetworkDomain` with `CheckProxyState`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyCheck {
    /// `Master` or `Slave`.
    pub node_type: String,
    /// None: available. Else the Bastionhost error code (`CHECK_PWD_FAILED`,
    /// `CHECK_PWD_TIMEOUT`, `CHECK_PWD_NETWORK_ERR`, `UNEXPECTED`) and words for the
    /// administrator (never a secret).
    pub fault: Option<(&'static str, String)>,
}

/// The storage one member uses and has (`GetInstanceStoreInfo`).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeStore {
    pub node_id: u64,
    /// Bytes under the member's data directory.
    pub used_bytes: u64,
    /// Of those: the Raft log and state (RocksDB), recordings and event blobs, local audit
    /// files.
    pub raft_bytes: u64,
    pub blob_bytes: u64,
    pub audit_bytes: u64,
    /// Size and free space of the filesystem holding the data directory.
    pub capacity_bytes: u64,
    pub free_bytes: u64,
    /// Why the member could not be asked (then the figures are zero).
    pub error: Option<String>,
}

/// What the API needs from the node.
pub trait Backend: Send + Sync + 'static {
    /// Apply a command through the replicated log (from any node).
    fn propose(&self, command: Command) -> BoxFuture<'_, Result<Response, BackendError>>;
    /// Wait until this node's state reflects every write acknowledged before the call, so that
    /// a following [`Backend::read`] is linearizable.
    fn barrier(&self) -> BoxFuture<'_, Result<(), BackendError>>;
    /// Run `f` on this node's applied state.
    fn read(&self, f: &mut dyn FnMut(&State));
    /// Encrypt a secret with the cluster key, for `purpose` (see the node's sealing purposes).
    fn seal(&self, purpose: &str, plain: &[u8]) -> Result<Sealed, BackendError>;
    /// Decrypt a sealed secret.
    fn unseal(&self, purpose: &str, sealed: &Sealed) -> Result<Vec<u8>, BackendError>;
    /// The same secret sealed under the current sealing key; None when it already is.
    fn reseal(&self, purpose: &str, sealed: &Sealed) -> Result<Option<Sealed>, BackendError>;
    /// The id of the sealing key new values are sealed under (None without one).
    fn seal_key_id(&self) -> Option<String>;
    /// Hash a user password for storage (argon2id PHC string).
    fn hash_password(&self, password: &str) -> String;
    /// A session's audit events (JSON lines) from the members holding them; None when no
    /// member holds any (the session had none, or had none stored yet).
    fn session_events(&self, session_id: u64) -> BoxFuture<'_, Option<StoredEvents>>;
    /// The cluster's instance id (what the API calls `InstanceId`).
    fn instance_id(&self) -> String;
    /// The storage of every member of the cluster, each asked over the cluster's connections
    /// (a member that does not answer in time is listed with the reason).
    /// (A backend without a data directory, such as the development fake, has one member that
    /// reports why it has no figures.)
    fn store_usage(&self) -> BoxFuture<'_, Result<Vec<NodeStore>, BackendError>>;
    /// Keeps an exported configuration document under `name` on a majority of the members (so
    /// any node can read it back, and the loss of one loses it not).
    fn put_export(&self, name: &str, document: Vec<u8>) -> BoxFuture<'_, Result<(), BackendError>>;
    /// An exported configuration document from any member holding it.
    fn get_export(&self, name: &str) -> BoxFuture<'_, Option<Vec<u8>>>;
    /// Checks LDAP (`ad` false) or AD settings against the directory as a login would: a server
    /// answers over TLS, the service account (with `service_password`) binds, the base DN can
    /// be searched. Ok says what was found; Err why the check failed.
    fn verify_directory(
        &self,
        ad: bool,
        settings: portunus_model::DirectorySettings,
        service_password: Option<String>,
    ) -> BoxFuture<'_, Result<String, String>>;
    /// Reads every user entry the LDAP (`ad` false) or AD settings match, as a
    /// synchronization takes them. Err says why the directory could not be read.
    fn read_directory(
        &self,
        ad: bool,
        settings: portunus_model::DirectorySettings,
        service_password: Option<String>,
    ) -> BoxFuture<'_, Result<Vec<portunus_model::DirectoryEntry>, String>>;
    /// Checks each proxy of a network domain from this node as a session would use it.
    fn check_network_proxies(
        &self,
        domain_id: u64,
    ) -> BoxFuture<'_, Result<Vec<ProxyCheck>, BackendError>>;
    /// Connects to a host account's host as a login would: checks its key against the pinned
    /// fingerprint (trusting none), then tries the hosted credential.
    fn verify_host_account(
        &self,
        account_id: u64,
    ) -> BoxFuture<'_, Result<HostAccountCheck, BackendError>>;
}
