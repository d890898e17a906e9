//! Cluster-wide settings, API access keys, instance attributes, tags and directory settings.

use crate::ids::{DatabaseId, HostGroupId, HostId, UserGroupId, UserId};
use crate::sealed::Sealed;
use serde::{Deserialize, Serialize};

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

/// Descriptive attributes of the instance (DescribeInstanceAttribute).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceAttributes {
    pub instance_id: String,
    pub description: String,
    pub region_id: String,
    pub public_access: bool,
    pub public_white_list: Vec<String>,
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

/// LDAP or AD authentication server settings, stored as data for later use.
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
    pub name_mapping: String,
    pub email_mapping: String,
    pub mobile_mapping: String,
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
