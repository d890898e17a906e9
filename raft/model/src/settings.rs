//! Cluster-wide settings, API access keys, instance attributes, tags and directory settings.

use crate::ids::{DatabaseId, HostGroupId, HostId, UserGroupId, UserId};
use crate::sealed::Sealed;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Tunables shared by every node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSettings {
    /// Open sessions allowed in the whole cluster; 0 = unlimited.
    pub max_sessions_total: u32,
    /// Open sessions allowed per user; 0 = unlimited.
    pub max_sessions_per_user: u32,
    /// Default validity of an O&M token.
    pub token_validity_secs: u64,
    /// How far a renewal pushes the expiry (from the renewal time).
    pub token_renew_secs: u64,
    /// Renewals allowed per token; 0 = renewal not supported.
    pub token_max_renew_count: u32,
    /// Default uses per token; 0 = unlimited within the validity.
    pub token_default_use_count: u32,
    /// Whether users may renew their own tokens.
    pub token_self_renew: bool,
    /// Wrong passwords within `login_lock_window_secs` that lock a user's password logon;
    /// 0 = never lock.
    pub login_lock_threshold: u32,
    /// Window in which wrong passwords are counted (from the first one).
    pub login_lock_window_secs: u64,
    /// Length of a first automatic lockout; each further one in a row doubles it.
    pub login_lock_secs: u64,
    /// Longest automatic lockout.
    pub login_lock_max_secs: u64,
    /// Idle sessions are closed after this long; 0 = never.
    pub session_idle_timeout_secs: u64,
    /// Whether a statement the database gateway cannot read (an unterminated quote or comment)
    /// passes when SQL rules apply to the session; by default it is refused.
    pub sql_allow_unreadable: bool,
    /// Whether the native database ports refuse clients that do not switch to TLS (MySQL SSL,
    /// PostgreSQL SSLRequest). Off by default: neither port's login sends the token itself.
    pub database_require_tls: bool,
    /// TLS from the database gateway to database targets.
    pub database_target_tls: DatabaseTargetTls,
    /// Whether a host's SSH key must be pinned before the bastion logs in to it; by default
    /// (false) the first key a host presents is trusted and pinned.
    pub require_host_key_pins: bool,
    /// How long a command held for approval waits for an administrator's decision before it
    /// is refused.
    pub command_approval_wait_secs: u64,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            max_sessions_total: 0,
            max_sessions_per_user: 0,
            token_validity_secs: 3600,
            token_renew_secs: 3600,
            token_max_renew_count: 3,
            token_default_use_count: 0,
            token_self_renew: true,
            login_lock_threshold: 5,
            login_lock_window_secs: 900,
            login_lock_secs: 300,
            login_lock_max_secs: 3600,
            session_idle_timeout_secs: 1800,
            sql_allow_unreadable: false,
            database_require_tls: false,
            database_target_tls: DatabaseTargetTls::Prefer,
            require_host_key_pins: false,
            command_approval_wait_secs: 300,
        }
    }
}

/// TLS from the database gateway to its targets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DatabaseTargetTls {
    /// Never: the connection to the target stays plain.
    Off,
    /// When the target offers it, without checking its certificate (the default).
    #[default]
    Prefer,
    /// Always, without checking the certificate: a target that offers none is refused.
    Require,
    /// Always, with the certificate checked against the node's CA bundle.
    Verify,
}

impl DatabaseTargetTls {
    pub const NAMES: [&'static str; 4] = ["off", "prefer", "require", "verify"];

    pub fn name(self) -> &'static str {
        match self {
            DatabaseTargetTls::Off => "off",
            DatabaseTargetTls::Prefer => "prefer",
            DatabaseTargetTls::Require => "require",
            DatabaseTargetTls::Verify => "verify",
        }
    }

    pub fn parse(s: &str) -> Option<DatabaseTargetTls> {
        match s.to_ascii_lowercase().as_str() {
            "off" => Some(DatabaseTargetTls::Off),
            "prefer" => Some(DatabaseTargetTls::Prefer),
            "require" => Some(DatabaseTargetTls::Require),
            "verify" => Some(DatabaseTargetTls::Verify),
            _ => None,
        }
    }
}

/// Role of an API access key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    Admin,
    Auditor,
    Operator,
}

/// An API credential (AccessKeyId + sealed secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKey {
    pub access_key_id: String,
    pub secret: Sealed,
    pub role: Role,
    /// The user acting through this key (Operator keys act as that user).
    pub user_id: Option<UserId>,
    pub comment: String,
    pub created_at_ms: u64,
    pub enabled: bool,
}

/// Attributes of the instance (DescribeInstanceAttribute) and its public-network door.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceAttributes {
    pub instance_id: String,
    pub description: String,
    pub region_id: String,
    /// Off: every logon from a public (globally routable) source address is refused, on every
    /// gateway and the web portal. On by default.
    pub public_access: bool,
    /// When not empty, logons from public source addresses must come from one of these blocks.
    /// Private, loopback and link-local sources are never affected.
    pub public_white_list: Vec<WhiteListEntry>,
    /// The O&M address engineers reach the bastion by from the internet (a load balancer's
    /// host name or address); empty: not set.
    pub internet_endpoint: String,
    /// The O&M address engineers reach the bastion by from private networks; empty: not set.
    pub intranet_endpoint: String,
}

impl Default for InstanceAttributes {
    fn default() -> Self {
        InstanceAttributes {
            instance_id: String::new(),
            description: String::new(),
            region_id: String::new(),
            public_access: true,
            public_white_list: Vec::new(),
            internet_endpoint: String::new(),
            intranet_endpoint: String::new(),
        }
    }
}

/// Why `address` cannot be an O&M address (a host name or an IP address, without a scheme or
/// port), if it cannot; empty is allowed (not set).
pub fn endpoint_invalid(address: &str) -> Option<String> {
    if address.is_empty() {
        return None;
    }
    if address.parse::<IpAddr>().is_ok() {
        return None;
    }
    if address.len() > 253 {
        return Some("a host name has at most 253 characters".into());
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if address.split('.').all(label_ok) {
        None
    } else {
        Some(format!(
            "'{address}' is neither a host name nor an IP address (give no scheme, port or path)"
        ))
    }
}

impl InstanceAttributes {
    /// The O&M address for an engineer at `client`: the intranet one for a private (or
    /// loopback) source, the internet one for a public source, either when only one is set;
    /// None when neither is.
    pub fn endpoint_for(&self, client: IpAddr) -> Option<&str> {
        let (internet, intranet) = (
            Some(self.internet_endpoint.as_str()).filter(|e| !e.is_empty()),
            Some(self.intranet_endpoint.as_str()).filter(|e| !e.is_empty()),
        );
        if crate::policy::is_public(client) {
            internet.or(intranet)
        } else {
            intranet.or(internet)
        }
    }
}

/// Most entries the public white list holds (as Bastionhost allows).
pub const MAX_WHITE_LIST_ENTRIES: usize = 50;

/// One block of the instance's public white list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhiteListEntry {
    /// An address or CIDR block (`203.0.113.0/24`).
    pub entry: String,
    pub description: String,
}

impl InstanceAttributes {
    /// Whether a logon from `addr` may proceed; the error says why not, in words an engineer
    /// can take to the administrator.
    pub fn admits(&self, addr: IpAddr) -> Result<(), String> {
        if !crate::policy::is_public(addr) {
            return Ok(());
        }
        if !self.public_access {
            return Err(format!(
                "Logons from the public network ({addr}) are disabled on this bastion; connect \
                 from the private network, or ask your administrator to enable public access"
            ));
        }
        if self.public_white_list.is_empty()
            || self
                .public_white_list
                .iter()
                .any(|e| crate::policy::parse_block(&e.entry).is_ok_and(|b| b.contains(addr)))
        {
            return Ok(());
        }
        Err(format!(
            "The source address {addr} is not in this bastion's public white list; ask your \
             administrator to add it"
        ))
    }
}

/// Checks a public white list as an administrator sends it: each entry an address or block,
/// none allowing the whole Internet, at most [`MAX_WHITE_LIST_ENTRIES`].
pub fn validate_white_list(entries: &[WhiteListEntry]) -> Result<(), String> {
    if entries.len() > MAX_WHITE_LIST_ENTRIES {
        return Err(format!(
            "{} entries; the white list holds at most {MAX_WHITE_LIST_ENTRIES}",
            entries.len()
        ));
    }
    for e in entries {
        let block = crate::policy::parse_block(&e.entry)?;
        if block.bits == 0 {
            return Err(format!(
                "{:?} allows every address; turn public access on with an empty white list \
                 instead",
                e.entry
            ));
        }
        if e.description.chars().count() > 500 {
            return Err("a description is longer than 500 characters".into());
        }
    }
    Ok(())
}

/// A taggable resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ResourceRef {
    Instance,
    User(UserId),
    UserGroup(UserGroupId),
    Host(HostId),
    HostGroup(HostGroupId),
    Database(DatabaseId),
}

/// LDAP or AD authentication server settings: users whose source is LDAP or AD log in against
/// the directory they name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectorySettings {
    pub server: String,
    pub standby_server: String,
    pub port: u16,
    pub is_ssl: bool,
    pub base_dn: String,
    pub domain: String,
    pub account: String,
    pub password: Option<Sealed>,
    pub filter: String,
    /// The attribute holding the login name (empty: `uid` for LDAP, `sAMAccountName` for AD).
    pub login_name_mapping: String,
    pub name_mapping: String,
    pub email_mapping: String,
    pub mobile_mapping: String,
    /// What a synchronization from the directory takes, and how often it runs.
    pub sync: DirectorySync,
}

/// Synchronization of users from a directory (see `state::directory`): which attributes it
/// takes and how often the cluster runs it by itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectorySync {
    /// Hours between automatic synchronizations; 0 = only when asked (the API's SyncInterval:
    /// 0, or 4 to 168).
    pub interval_hours: u32,
    /// The display name is taken from the directory.
    pub name: bool,
    /// The e-mail address is taken from the directory.
    pub email: bool,
    /// The mobile number is taken from the directory.
    pub mobile: bool,
    /// The organizational unit holding a user's entry becomes a user group.
    pub ou_as_group: bool,
    /// The groups a user's entry is a member of (memberOf, or groups naming it as a member)
    /// become user groups.
    pub groups_as_groups: bool,
}

impl DirectorySync {
    /// Valid automatic intervals, in hours, besides 0.
    pub const INTERVAL_HOURS: std::ops::RangeInclusive<u32> = 4..=168;

    /// Whether a synchronization manages group membership at all.
    pub fn syncs_groups(&self) -> bool {
        self.ou_as_group || self.groups_as_groups
    }
}

impl Default for DirectorySync {
    fn default() -> Self {
        DirectorySync {
            interval_hours: 0,
            name: true,
            email: true,
            mobile: true,
            ou_as_group: false,
            groups_as_groups: false,
        }
    }
}

/// Instance-wide two-factor authentication settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwoFactorSettings {
    pub enabled: bool,
    /// Allowed methods (`sms`, `email`, `dingtalk`, `totp`).
    pub methods: Vec<String>,
    /// Skip the second factor for this many seconds after a success; 0 = always ask.
    pub skip_secs: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_o_and_m_address_fits_the_source_and_falls_back_to_the_other() {
        let mut a = InstanceAttributes::default();
        assert_eq!(a.endpoint_for(ip("203.0.113.9")), None);
        a.internet_endpoint = "bastion.example.com".into();
        assert_eq!(a.endpoint_for(ip("10.1.2.3")), Some("bastion.example.com"));
        a.intranet_endpoint = "10.0.0.5".into();
        assert_eq!(a.endpoint_for(ip("10.1.2.3")), Some("10.0.0.5"));
        assert_eq!(a.endpoint_for(ip("127.0.0.1")), Some("10.0.0.5"));
        assert_eq!(
            a.endpoint_for(ip("203.0.113.9")),
            Some("bastion.example.com")
        );
        for good in ["", "bastion", "b-1.example.com", "10.0.0.5", "2001:db8::1"] {
            assert_eq!(endpoint_invalid(good), None, "{good}");
        }
        for bad in [
            "https://b",
            "b:22",
            "b/x",
            "-b",
            "a..b",
            "b c",
            &"x".repeat(254),
        ] {
            assert!(endpoint_invalid(bad).is_some(), "{bad}");
        }
    }

    fn listed(blocks: &[&str]) -> InstanceAttributes {
        InstanceAttributes {
            public_white_list: blocks
                .iter()
                .map(|b| WhiteListEntry {
                    entry: b.to_string(),
                    description: String::new(),
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn public_access_is_on_by_default_and_private_sources_are_never_refused() {
        let open = InstanceAttributes::default();
        assert!(open.public_access);
        assert_eq!(open.admits(ip("203.0.113.9")), Ok(()));
        let closed = InstanceAttributes {
            public_access: false,
            ..listed(&["203.0.113.0/24"])
        };
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.1.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert_eq!(closed.admits(ip(private)), Ok(()), "{private}");
        }
        let refused = closed.admits(ip("203.0.113.9")).unwrap_err();
        assert!(refused.contains("public network"), "{refused}");
        assert!(closed.admits(ip("2001:db8::1")).is_err());
        assert!(closed.admits(ip("::ffff:8.8.8.8")).is_err());
    }

    #[test]
    fn a_white_list_limits_public_sources_only() {
        let a = listed(&["198.51.100.0/24", "2001:db8::/32"]);
        assert_eq!(a.admits(ip("198.51.100.7")), Ok(()));
        assert_eq!(a.admits(ip("::ffff:198.51.100.7")), Ok(()));
        assert_eq!(a.admits(ip("2001:db8::5")), Ok(()));
        assert_eq!(a.admits(ip("192.168.0.5")), Ok(()));
        let refused = a.admits(ip("203.0.113.9")).unwrap_err();
        assert!(
            refused.contains("203.0.113.9") && refused.contains("white list"),
            "{refused}"
        );
    }

    #[test]
    fn white_lists_are_checked_on_the_way_in() {
        let entry = |e: &str| WhiteListEntry {
            entry: e.into(),
            description: String::new(),
        };
        assert!(validate_white_list(&[entry("198.51.100.0/24"), entry("2001:db8::1")]).is_ok());
        let bad = validate_white_list(&[entry("198.51.100.0/33")]).unwrap_err();
        assert!(bad.contains("prefix length"), "{bad}");
        let all = validate_white_list(&[entry("0.0.0.0/0")]).unwrap_err();
        assert!(all.contains("every address"), "{all}");
        let many: Vec<_> = (0..51).map(|i| entry(&format!("198.51.100.{i}"))).collect();
        assert!(validate_white_list(&many)
            .unwrap_err()
            .contains("at most 50"));
    }
}

/// OpenID Connect single sign-on of the web console and portal: the provider, this bastion's
/// client registration there, and how an ID token names a bastion user. The SSH gateway keeps
/// its own credentials and tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcSettings {
    /// The login page offers the provider.
    pub enabled: bool,
    /// The provider's issuer (an `https://` URL): its discovery document is at
    /// `{issuer}/.well-known/openid-configuration`, and ID tokens must name it in `iss`.
    pub issuer: String,
    /// This bastion's client id at the provider (the `aud` of its ID tokens).
    pub client_id: String,
    /// The client secret, sealed; None for a public client (PKCE alone).
    pub client_secret: Option<Sealed>,
    /// The ID token claim holding the bastion user name (`preferred_username` when empty).
    pub user_claim: String,
    /// Scopes asked for besides `openid` (space-separated).
    pub scopes: String,
    /// A user the claim names who does not exist is created (source IDaaS, no password) at
    /// the first login; off by default: an administrator creates users.
    pub auto_create: bool,
    /// The text of the login page's button (the provider's name).
    pub display_name: String,
}

impl OidcSettings {
    /// The claim naming the user.
    pub fn claim(&self) -> &str {
        if self.user_claim.is_empty() {
            "preferred_username"
        } else {
            &self.user_claim
        }
    }

    /// Why these settings cannot be stored, if they cannot: (parameter, reason).
    pub fn invalid(&self) -> Option<(&'static str, &'static str)> {
        if self.enabled || !self.issuer.is_empty() {
            let rest = self.issuer.strip_prefix("https://").unwrap_or("");
            if rest.is_empty() || rest.contains(['?', '#', ' ']) {
                return Some((
                    "Issuer",
                    "the provider's https:// URL, without query or fragment",
                ));
            }
        }
        if self.enabled && self.client_id.is_empty() {
            return Some(("ClientId", "the client id registered at the provider"));
        }
        if self.user_claim.len() > 128 || self.scopes.len() > 1024 || self.display_name.len() > 128
        {
            return Some(("UserClaim", "claim names and scopes of a sensible length"));
        }
        None
    }
}
