//! Control policies: what a session may do on the assets a policy covers, for the users it
//! covers — command control, protocol control, source addresses, logon hours, O&M approval.
//!
//! One policy governs a session: of the policies whose user scope and asset scope both cover
//! the session's user, asset and account, the one with the smallest priority number, and of
//! those the most recently created ([`Policy::precedes`]). A session no policy covers runs
//! without these controls (authorization still decides what it may reach). The gateways do
//! the enforcing; the model keeps the policies and answers which one governs.

use crate::ids::{DatabaseAccountId, DatabaseId, HostAccountId, HostGroupId, HostId, PolicyId};
use crate::ids::{UserGroupId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// Priorities run from 1 (first) to 100.
pub const PRIORITIES: std::ops::RangeInclusive<u8> = 1..=100;

/// A policy's name, comment and priority, as created or modified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyBasics {
    pub name: String,
    pub comment: String,
    pub priority: u8,
}

/// Whom a policy covers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserScope {
    /// Nobody yet (a new policy covers nobody until its scope is set).
    #[default]
    Nobody,
    All,
    Users(BTreeSet<UserId>),
    UserGroups(BTreeSet<UserGroupId>),
}

/// Which accounts of an asset a policy covers: all, or these (by id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Accounts {
    All,
    Only(BTreeSet<u64>),
}

impl Accounts {
    fn cover(&self, account: u64) -> bool {
        match self {
            Accounts::All => true,
            Accounts::Only(set) => set.contains(&account),
        }
    }
}

/// Which accounts of a host group's hosts a policy covers: all, or these (by name).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountNames {
    All,
    Only(BTreeSet<String>),
}

/// Which assets a policy covers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AssetScope {
    /// No asset yet (a new policy covers nothing until its scope is set).
    #[default]
    Nothing,
    All,
    Hosts(BTreeMap<HostId, Accounts>),
    /// Host groups, with their accounts by name (as Bastionhost names them for groups).
    HostGroups(BTreeMap<HostGroupId, AccountNames>),
    Databases(BTreeMap<DatabaseId, Accounts>),
}

/// A list's meaning.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListMode {
    /// What is listed is refused; everything else is allowed.
    #[default]
    Deny,
    /// Only what is listed is allowed.
    AllowOnly,
}

/// Shell command control (Linux hosts): the gateway checks each command line before the
/// target runs it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandControl {
    pub mode: ListMode,
    /// Command patterns (the gateway defines their syntax).
    pub commands: Vec<String>,
    /// Commands held until an administrator approves them.
    pub approval: Vec<String>,
}

/// SSH and SFTP options; each true = allowed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshOptions {
    /// Interactive shells.
    pub shell: bool,
    /// Remote commands (`ssh host command`).
    pub exec: bool,
    pub sftp: bool,
    pub sftp_upload: bool,
    pub sftp_download: bool,
    pub sftp_mkdir: bool,
    pub sftp_remove: bool,
    pub sftp_rename: bool,
    pub sftp_rmdir: bool,
    /// The API's three forwarding options (`TcpForwarding`, `AllowTcpForwarding`,
    /// `AllowDirectTcp`): a `-L` tunnel — how the database tunnels run — needs all three
    /// ([`SshOptions::tunnels`]); Portunus offers no other kind of forwarding.
    pub tcp_forwarding: bool,
    pub allow_tcp_forwarding: bool,
    pub direct_tcp: bool,
    /// Kept as set; Portunus forwards no X11 (always refused).
    pub x11_forwarding: bool,
}

impl SshOptions {
    /// Everything allowed: a policy's protocol control until it is set.
    pub const OPEN: SshOptions = SshOptions {
        shell: true,
        exec: true,
        sftp: true,
        sftp_upload: true,
        sftp_download: true,
        sftp_mkdir: true,
        sftp_remove: true,
        sftp_rename: true,
        sftp_rmdir: true,
        tcp_forwarding: true,
        allow_tcp_forwarding: true,
        direct_tcp: true,
        x11_forwarding: true,
    };

    /// Whether `-L` tunnels are allowed.
    pub fn tunnels(&self) -> bool {
        self.tcp_forwarding && self.allow_tcp_forwarding && self.direct_tcp
    }
}

impl Default for SshOptions {
    fn default() -> Self {
        Self::OPEN
    }
}

/// RDP options, kept as set (Portunus serves no RDP sessions to apply them to).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RdpOptions {
    /// Option name (as the API names it) -> allowed.
    pub options: BTreeMap<String, bool>,
}

/// Source addresses: IPv4/IPv6 addresses or CIDR blocks (`10.0.0.0/8`), as text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpAcl {
    pub mode: ListMode,
    pub entries: Vec<String>,
}

impl IpAcl {
    /// Whether a client at `addr` may log on. An entry that does not parse matches nothing
    /// (the API refuses them on the way in).
    pub fn allows(&self, addr: IpAddr) -> bool {
        let listed = self
            .entries
            .iter()
            .any(|e| parse_block(e).is_ok_and(|b| b.contains(addr)));
        match self.mode {
            ListMode::Deny => !listed,
            ListMode::AllowOnly => listed,
        }
    }
}

/// An address block: an address and how many leading bits count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    pub addr: IpAddr,
    pub bits: u8,
}

impl Block {
    /// Whether `addr` is inside (an IPv4-mapped IPv6 client address counts as its IPv4).
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, addr) {
            (IpAddr::V4(net), IpAddr::V4(a)) => prefix_eq(
                u128::from(u32::from(net)),
                u128::from(u32::from(a)),
                32,
                self.bits,
            ),
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                prefix_eq(u128::from(net), u128::from(a), 128, self.bits)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: u128, b: u128, width: u8, bits: u8) -> bool {
    let drop = u32::from(width - bits.min(width));
    a.checked_shr(drop).unwrap_or(0) == b.checked_shr(drop).unwrap_or(0)
}

/// Whether `addr` is a public (globally routable) address: not loopback, private (RFC 1918,
/// IPv6 unique local), shared (100.64.0.0/10), link-local or unspecified. An IPv4-mapped IPv6
/// address counts as its IPv4. Documentation ranges count as public.
pub fn is_public(addr: IpAddr) -> bool {
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    };
    match addr {
        IpAddr::V4(a) => {
            let [b0, b1, ..] = a.octets();
            !(a.is_loopback()
                || a.is_private()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_broadcast()
                || (b0 == 100 && (64..128).contains(&b1)))
        }
        IpAddr::V6(a) => {
            let first = a.segments()[0];
            !(a.is_loopback()
                || a.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// Parses `1.2.3.4`, `1.2.3.0/24`, `2001:db8::/32`; the error says what is wrong.
pub fn parse_block(text: &str) -> Result<Block, String> {
    let text = text.trim();
    let (addr, bits) = match text.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (text, None),
    };
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("{text:?} is not an IP address or CIDR block"))?;
    let width = if addr.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        None => width,
        Some(b) => b
            .parse::<u8>()
            .ok()
            .filter(|b| *b <= width)
            .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {width}"))?,
    };
    Ok(Block { addr, bits })
}

/// The hours of the week logons are allowed, in a time zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessHours {
    /// Per weekday, Monday first: bit `h` set = the hour starting at `h`:00 is allowed.
    pub week: [u32; 7],
    /// An IANA time zone name (`UTC`, `Asia/Shanghai`), validated by the API.
    pub time_zone: String,
}

/// Everything one policy says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub id: PolicyId,
    pub basics: PolicyBasics,
    pub created_at_ms: u64,
    pub users: UserScope,
    pub assets: AssetScope,
    pub commands: CommandControl,
    pub ssh: SshOptions,
    pub rdp: RdpOptions,
    pub ip_acl: IpAcl,
    /// None = any time.
    pub hours: Option<AccessHours>,
    /// O&M approval required before a session.
    pub approval: bool,
}

/// One part of a policy replaced, as the API's `Set*` actions do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolicyPart {
    Basics(PolicyBasics),
    Users(UserScope),
    Assets(AssetScope),
    Commands(CommandControl),
    Protocols { ssh: SshOptions, rdp: RdpOptions },
    IpAcl(IpAcl),
    Hours(Option<AccessHours>),
    Approval(bool),
}

/// The session a policy may govern: who, and which asset and account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Governed<'a> {
    Host {
        host: HostId,
        account: HostAccountId,
        /// The account's name and the host's groups, for group scopes.
        account_name: &'a str,
        groups: &'a BTreeSet<HostGroupId>,
    },
    Database {
        database: DatabaseId,
        /// None for an account not hosted in the bastion (carried by a token).
        account: Option<DatabaseAccountId>,
    },
}

impl Policy {
    /// Whether it covers `user` (a member of `groups`).
    pub fn covers_user(&self, user: UserId, groups: &BTreeSet<UserGroupId>) -> bool {
        match &self.users {
            UserScope::Nobody => false,
            UserScope::All => true,
            UserScope::Users(set) => set.contains(&user),
            UserScope::UserGroups(set) => set.iter().any(|g| groups.contains(g)),
        }
    }

    /// Whether it covers the asset and account of `target`.
    pub fn covers_asset(&self, target: &Governed<'_>) -> bool {
        match (&self.assets, target) {
            (AssetScope::Nothing, _) => false,
            (AssetScope::All, _) => true,
            (AssetScope::Hosts(hosts), Governed::Host { host, account, .. }) => {
                hosts.get(host).is_some_and(|a| a.cover(*account))
            }
            (
                AssetScope::HostGroups(groups),
                Governed::Host {
                    account_name,
                    groups: of_host,
                    ..
                },
            ) => groups.iter().any(|(g, accounts)| {
                of_host.contains(g)
                    && match accounts {
                        AccountNames::All => true,
                        AccountNames::Only(names) => names.contains(*account_name),
                    }
            }),
            (AssetScope::Databases(dbs), Governed::Database { database, account }) => {
                dbs.get(database).is_some_and(|a| match (a, account) {
                    (Accounts::All, _) => true,
                    (Accounts::Only(set), Some(acc)) => set.contains(acc),
                    (Accounts::Only(_), None) => false,
                })
            }
            _ => false,
        }
    }

    /// Whether this policy takes precedence over `other`: a smaller priority number first,
    /// and at equal priority the more recently created (the larger id: ids only grow).
    pub fn precedes(&self, other: &Policy) -> bool {
        (self.basics.priority, std::cmp::Reverse(self.id))
            < (other.basics.priority, std::cmp::Reverse(other.id))
    }
}

impl AccessHours {
    /// Whether `weekday` (0 = Monday) at `hour` (0..24) is allowed.
    pub fn allows(&self, weekday: usize, hour: u32) -> bool {
        hour < 24 && self.week.get(weekday).is_some_and(|h| h & (1 << hour) != 0)
    }
}
