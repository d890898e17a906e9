//! Databases, database accounts and network domains.

use crate::common::{AssetSource, Protocol};
use crate::ids::{DatabaseAccountId, DatabaseId, NetworkDomainId, ProjectId};
use crate::sealed::Sealed;
use serde::{Deserialize, Serialize};

/// Database engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DbEngine {
    MySql,
    PostgreSql,
    SqlServer,
    Oracle,
}

impl DbEngine {
    /// The O&M protocol of the engine.
    pub fn protocol(self) -> Protocol {
        match self {
            DbEngine::MySql => Protocol::MySql,
            DbEngine::PostgreSql => Protocol::PostgreSql,
            DbEngine::SqlServer => Protocol::SqlServer,
            DbEngine::Oracle => Protocol::Oracle,
        }
    }
}

/// A database reachable through the bastion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Database {
    pub id: DatabaseId,
    pub name: String,
    pub engine: DbEngine,
    pub address: String,
    pub port: u16,
    pub source: AssetSource,
    pub source_instance_id: String,
    pub comment: String,
    pub network_domain_id: Option<NetworkDomainId>,
    /// The project it belongs to; None: the default project.
    pub project_id: Option<ProjectId>,
    pub created_at_ms: u64,
}

/// Fields of a database to create.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewDatabase {
    pub name: String,
    pub engine: DbEngine,
    pub address: String,
    pub port: u16,
    pub source: AssetSource,
    pub source_instance_id: String,
    pub comment: String,
    pub network_domain_id: Option<NetworkDomainId>,
    /// The project to place it in; None: the default project.
    pub project_id: Option<ProjectId>,
}

/// Fields of a database to change; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabasePatch {
    pub name: Option<String>,
    pub address: Option<String>,
    pub port: Option<u16>,
    pub comment: Option<String>,
}

/// An account on a database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseAccount {
    pub id: DatabaseAccountId,
    pub database_id: DatabaseId,
    pub name: String,
    pub password: Option<Sealed>,
    pub comment: String,
    pub created_at_ms: u64,
}

/// Fields of a database account to create.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewDatabaseAccount {
    pub database_id: DatabaseId,
    pub name: String,
    pub password: Option<Sealed>,
    pub comment: String,
}

/// Fields of a database account to change; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseAccountPatch {
    pub name: Option<String>,
    pub password: Option<Option<Sealed>>,
    pub comment: Option<String>,
}

/// How a network domain reaches its assets.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum DomainKind {
    #[default]
    Direct,
    Proxy,
}

/// A proxy server of a network domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkProxy {
    /// `SSHProxy`, `HTTPProxy`, `Socks5Proxy`.
    pub proxy_type: String,
    pub address: String,
    pub port: u16,
    pub user: String,
    pub password: Option<Sealed>,
    /// `Master` (tried first) or `Slave`.
    pub node_type: String,
    /// An SSH proxy's trusted host key (`SHA256:...`): pinned by an administrator or trusted
    /// on first use; None until then. Unused by HTTP and SOCKS5 proxies.
    pub host_key_fingerprint: Option<String>,
}

/// The proxy kinds a network domain can use.
pub const PROXY_TYPES: [&str; 3] = ["SSHProxy", "HTTPProxy", "Socks5Proxy"];
/// The proxy node roles of a network domain, in the order they are tried.
pub const PROXY_NODE_TYPES: [&str; 2] = ["Master", "Slave"];

/// Editable fields of a network domain.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkDomainSpec {
    pub name: String,
    pub kind: DomainKind,
    pub comment: String,
    pub proxies: Vec<NetworkProxy>,
}

/// A network domain: a set of assets reached directly or through proxies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkDomain {
    pub id: NetworkDomainId,
    pub spec: NetworkDomainSpec,
    pub created_at_ms: u64,
}
