//! Configuration of the SSH gateway and its translation into russh's server settings.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use russh::keys::PrivateKey;
use russh::{cipher, MethodKind, MethodSet, Preferred};
use serde::{Deserialize, Serialize};

/// The tunable part of the gateway's configuration (serde, for the node's TOML file).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SshSettings {
    /// Seconds between keepalives to an idle client; there is no inactivity cut, a client that
    /// misses `keepalive_max` keepalives in a row is disconnected.
    pub keepalive_secs: u64,
    /// Unanswered keepalives before the connection is dropped.
    pub keepalive_max: usize,
    /// Largest SSH packet we accept on a channel (bigger packets mean more throughput).
    pub max_packet_size: u32,
    /// Channel window granted to the peer (client or target), in bytes: how much it may send
    /// ahead of us. OpenSSH's own default, 2 MiB, is enough on a LAN or loopback; one direction
    /// of one channel is capped at window / round-trip time (about 170 Mbit/s at 100 ms), so
    /// raise it for far-away peers. A larger window lets an OpenSSH peer queue that much in its
    /// channel buffer whenever we read more slowly than it sends, which it pays for in CPU (its
    /// buffer compaction moves the queued bytes): with four busy `ssh -L` clients sharing two
    /// cores with the bastion, 8 MiB cost the clients up to a quarter more CPU per byte than
    /// 2 MiB (bench `tunnel`).
    pub window_size: u32,
    /// Login attempts (failed within `auth_failure_window_secs`, or in flight) allowed per
    /// client IP; 0 = no limit.
    pub auth_failures_per_ip: u32,
    /// The same per user name, from any address (a spread-out guesser); 0 = no limit.
    pub auth_failures_per_user: u32,
    /// The window over which failed logins are counted.
    pub auth_failure_window_secs: u64,
    /// Shown before authentication (SSH banner), if set.
    pub login_banner: Option<String>,
    /// Seconds allowed to reach a target and log in there.
    pub target_connect_timeout_secs: u64,
    /// Keep shell recordings (asciicast v2) and hand them to the audit sink.
    pub record_sessions: bool,
    /// Seconds a connection has to log in before it is disconnected (OpenSSH's
    /// `LoginGraceTime`, 120 s by default there).
    pub login_grace_secs: u64,
    /// Connections not yet logged in, in total; more are closed at once (as OpenSSH's
    /// `MaxStartups`). 0 = no cap.
    pub max_unauthenticated: usize,
    /// Connections not yet logged in from one client address (as OpenSSH's
    /// `PerSourceMaxStartups`). 0 = no cap.
    pub max_unauthenticated_per_ip: usize,
    /// Password checks (argon2, ~19 MiB and tens of milliseconds of CPU each) run at once;
    /// further attempts wait their turn.
    pub concurrent_password_checks: usize,
}

impl Default for SshSettings {
    fn default() -> Self {
        Self {
            keepalive_secs: 30,
            keepalive_max: 4,
            max_packet_size: 256 * 1024,
            window_size: 2 * 1024 * 1024,
            auth_failures_per_ip: 20,
            auth_failures_per_user: 20,
            auth_failure_window_secs: 60,
            login_banner: None,
            target_connect_timeout_secs: 15,
            record_sessions: true,
            login_grace_secs: 60,
            max_unauthenticated: 128,
            max_unauthenticated_per_ip: 32,
            concurrent_password_checks: 2,
        }
    }
}

/// The ciphers offered to clients and to targets, most preferred first. russh's default list
/// leaves out aes128-gcm@openssh.com, which OpenSSH clients are often pinned to (`-c`, FIPS
/// policies); offered here with the rest of OpenSSH's own default set.
const CIPHERS: &[cipher::Name] = &[
    cipher::CHACHA20_POLY1305,
    cipher::AES_128_GCM,
    cipher::AES_256_GCM,
    cipher::AES_128_CTR,
    cipher::AES_192_CTR,
    cipher::AES_256_CTR,
];

/// russh's default algorithm preferences with [`CIPHERS`].
pub(crate) fn preferred() -> Preferred {
    Preferred {
        cipher: Cow::Borrowed(CIPHERS),
        ..Preferred::default()
    }
}

/// Everything the SSH gateway needs to start.
#[derive(Clone)]
pub struct SshConfig {
    /// Where to listen (port 0 picks a free port).
    pub listen: SocketAddr,
    /// The host key, the same on every node so that clients see one bastion.
    pub host_key: PrivateKey,
    pub settings: SshSettings,
    /// Load balancers whose connections start with a PROXY v2 header naming the real client
    /// (`--proxy-protocol-from`); empty = none, every peer address is the client's.
    pub proxy_protocol_from: Vec<crate::proxy_protocol::Cidr>,
    /// TLS to database targets reached through tunnels.
    pub database_tls: Arc<crate::db::tls::DatabaseTls>,
}

impl std::fmt::Debug for SshConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshConfig")
            .field("listen", &self.listen)
            .field("host_key", &"<secret>")
            .field("settings", &self.settings)
            .field("proxy_protocol_from", &self.proxy_protocol_from)
            .finish()
    }
}

impl SshConfig {
    /// A configuration with default settings.
    pub fn new(listen: SocketAddr, host_key: PrivateKey) -> Self {
        Self {
            listen,
            host_key,
            settings: SshSettings::default(),
            proxy_protocol_from: Vec::new(),
            database_tls: Arc::new(crate::db::tls::DatabaseTls::default()),
        }
    }

    /// The russh server settings (see TECH-NOTES: no 1 s delay on the first "none" probe,
    /// TCP_NODELAY, keepalives instead of an inactivity cut, big packets, OpenSSH's window).
    pub(crate) fn russh(&self) -> Arc<russh::server::Config> {
        let s = &self.settings;
        let mut methods = MethodSet::empty();
        for kind in [
            MethodKind::PublicKey,
            MethodKind::KeyboardInteractive,
            MethodKind::Password,
        ] {
            methods.push(kind);
        }
        Arc::new(russh::server::Config {
            server_id: russh::SshId::Standard("SSH-2.0-Portunus".into()),
            methods,
            auth_rejection_time: Duration::from_millis(500),
            auth_rejection_time_initial: Some(Duration::ZERO),
            keys: vec![self.host_key.clone()],
            window_size: s.window_size,
            maximum_packet_size: s.max_packet_size,
            channel_buffer_size: 64,
            event_buffer_size: 64,
            max_auth_attempts: 12,
            inactivity_timeout: None,
            keepalive_interval: Some(Duration::from_secs(s.keepalive_secs.max(1))),
            keepalive_max: s.keepalive_max,
            nodelay: true,
            preferred: preferred(),
            ..Default::default()
        })
    }

    /// The russh client settings used towards targets.
    pub(crate) fn russh_client(&self) -> Arc<russh::client::Config> {
        let s = &self.settings;
        Arc::new(russh::client::Config {
            window_size: s.window_size,
            maximum_packet_size: s.max_packet_size.min(256 * 1024),
            inactivity_timeout: None,
            keepalive_interval: Some(Duration::from_secs(s.keepalive_secs.max(1))),
            keepalive_max: s.keepalive_max,
            nodelay: true,
            preferred: preferred(),
            ..Default::default()
        })
    }
}
