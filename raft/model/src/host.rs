//! Hosts, host accounts, shared keys and host (asset) groups.

use crate::common::{AssetSource, Protocol};
use crate::ids::{
    DatabaseId, HostAccountId, HostGroupId, HostId, NetworkDomainId, ProjectId, SharedKeyId,
};
use crate::sealed::Sealed;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Operating system of a host.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum OsType {
    #[default]
    Linux,
    Windows,
}

/// Which address the bastion uses to reach a host.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum AddressType {
    #[default]
    Private,
    Public,
}

/// A server reachable through the bastion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    pub id: HostId,
    pub name: String,
    pub private_address: String,
    pub public_address: String,
    pub active_address_type: AddressType,
    pub os: OsType,
    pub source: AssetSource,
    /// Id in the source (ECS instance id); empty for local hosts.
    pub source_instance_id: String,
    pub comment: String,
    /// Service port per protocol; a protocol absent here uses its default port.
    pub ports: BTreeMap<Protocol, u16>,
    pub network_domain_id: Option<NetworkDomainId>,
    /// The project it belongs to; None: the default project.
    pub project_id: Option<ProjectId>,
    pub created_at_ms: u64,
}

impl Host {
    /// The address selected by `active_address_type`.
    pub fn active_address(&self) -> &str {
        match self.active_address_type {
            AddressType::Private => &self.private_address,
            AddressType::Public => &self.public_address,
        }
    }

    /// The service port for `protocol`.
    pub fn port(&self, protocol: Protocol) -> u16 {
        self.ports
            .get(&protocol)
            .copied()
            .unwrap_or(protocol.default_port())
    }
}

/// Fields of a host to create.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewHost {
    pub name: String,
    pub private_address: String,
    pub public_address: String,
    pub active_address_type: AddressType,
    pub os: OsType,
    pub source: AssetSource,
    pub source_instance_id: String,
    pub comment: String,
    pub ports: BTreeMap<Protocol, u16>,
    pub network_domain_id: Option<NetworkDomainId>,
    /// The project to place it in; None: the default project.
    pub project_id: Option<ProjectId>,
    /// The SSH host key fingerprint (`SHA256:...`) pinned from the start, so the first login
    /// does not trust whatever key answers; None: trusted on first use.
    pub host_key_fingerprint: Option<String>,
}

/// Fields of a host to change; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostPatch {
    pub name: Option<String>,
    pub private_address: Option<String>,
    pub public_address: Option<String>,
    pub os: Option<OsType>,
    pub comment: Option<String>,
}

/// An account on a host that the bastion logs on with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostAccount {
    pub id: HostAccountId,
    pub host_id: HostId,
    pub name: String,
    pub protocol: Protocol,
    pub password: Option<Sealed>,
    pub private_key: Option<Sealed>,
    pub shared_key_id: Option<SharedKeyId>,
    /// SSH logon disabled; only SFTP allowed.
    pub sftp_only: bool,
    pub created_at_ms: u64,
}

/// Fields of a host account to create.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewHostAccount {
    pub host_id: HostId,
    pub name: String,
    pub protocol: Protocol,
    pub password: Option<Sealed>,
    pub private_key: Option<Sealed>,
    pub shared_key_id: Option<SharedKeyId>,
    pub sftp_only: bool,
}

/// Fields of a host account to change; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostAccountPatch {
    pub name: Option<String>,
    pub password: Option<Sealed>,
    pub private_key: Option<Sealed>,
    pub shared_key_id: Option<Option<SharedKeyId>>,
    pub sftp_only: Option<bool>,
}

/// Which stored credential of a host account to erase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CredentialKind {
    Password,
    PrivateKey,
}

/// A private key several host accounts can log on with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedKey {
    pub id: SharedKeyId,
    pub name: String,
    pub private_key: Sealed,
    pub fingerprint: String,
    pub comment: String,
    pub created_at_ms: u64,
}

/// An asset group: hosts (and databases) managed together.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostGroup {
    pub id: HostGroupId,
    pub name: String,
    pub comment: String,
    pub hosts: BTreeSet<HostId>,
    pub databases: BTreeSet<DatabaseId>,
    pub created_at_ms: u64,
}
