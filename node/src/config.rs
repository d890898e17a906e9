//! Node configuration: flags, `PORTUNUS_*` environment variables and a TOML file (in that order
//! of precedence) resolved once, validated before any port is bound.

mod file;
mod resolve;
mod seal_keys;

pub use file::FileConfig;
pub use resolve::DEFAULT_TARGET_CA;
pub use resolve::{ConfigError, MetricsListen, NodeConfig, Role, DEFAULT_SNAPSHOT_EVERY};
pub use seal_keys::{default_seal_key_path, SealKeySource};

use clap::Args;
use std::path::PathBuf;

/// Options of `portunus up`. Every option has the same name in the TOML file (with `_` for `-`)
/// and a `PORTUNUS_` environment variable.
#[derive(Args, Debug, Default, Clone)]
pub struct UpArgs {
    /// TOML configuration file.
    #[arg(long, env = "PORTUNUS_CONFIG")]
    pub config: Option<PathBuf>,
    /// This node's id (unique in the cluster, never reused). Default 1.
    #[arg(long, env = "PORTUNUS_NODE_ID")]
    pub node_id: Option<u64>,
    /// Data directory. Default ./portunus-data.
    #[arg(long, env = "PORTUNUS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// SSH O&M listen address. Default 0.0.0.0:60022.
    #[arg(long, env = "PORTUNUS_SSH_LISTEN")]
    pub ssh_listen: Option<String>,
    /// Native MySQL gateway listen address (clients log in with their user name and an O&M
    /// token as password), or "off". Default 0.0.0.0:33306.
    #[arg(long, env = "PORTUNUS_MYSQL_LISTEN")]
    pub mysql_listen: Option<String>,
    /// Native PostgreSQL gateway listen address (clients log in with their user name and an
    /// O&M token as password, by SCRAM-SHA-256), or "off". Default 0.0.0.0:35432.
    #[arg(long, env = "PORTUNUS_POSTGRES_LISTEN")]
    pub postgres_listen: Option<String>,
    /// API and portal listen address. Default 0.0.0.0:8443.
    #[arg(long, env = "PORTUNUS_API_LISTEN")]
    pub api_listen: Option<String>,
    /// Where /metrics and /v1/status are served: IP:port (default 127.0.0.1:9464), "api" (on
    /// the API port, to anyone who reaches it) or "off".
    #[arg(long, env = "PORTUNUS_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Node-to-node QUIC listen address (UDP). Default 0.0.0.0:7070.
    #[arg(long, env = "PORTUNUS_CLUSTER_LISTEN")]
    pub cluster_listen: Option<String>,
    /// Address other nodes use to reach this one (when it differs from --cluster-listen).
    #[arg(long, env = "PORTUNUS_CLUSTER_ADVERTISE")]
    pub cluster_advertise: Option<String>,
    /// Initial voters of a new cluster, the same list on every node: 1=host:port,2=host:port,...
    #[arg(long, env = "PORTUNUS_PEERS")]
    pub peers: Option<String>,
    /// Join a running cluster through any member's cluster address.
    #[arg(long, env = "PORTUNUS_JOIN")]
    pub join: Option<String>,
    /// File holding the cluster secret shared by all nodes (or set PORTUNUS_CLUSTER_SECRET).
    #[arg(long, env = "PORTUNUS_CLUSTER_SECRET_FILE")]
    pub cluster_secret_file: Option<PathBuf>,
    /// File holding the sealing key (base64 of 32 random bytes; `openssl rand -base64 32`) that
    /// encrypts hosted passwords and keys; the same key on every node except witnesses, which
    /// never need it. Keep it outside the data directory. Default for a single node:
    /// `<data dir>.seal-key` beside the data directory, generated on its first start.
    #[arg(long, env = "PORTUNUS_SEAL_KEY_FILE")]
    pub seal_key_file: Option<PathBuf>,
    /// Former sealing keys (files, comma-separated) still accepted to open values sealed before
    /// a rotation; new values are sealed with --seal-key-file. Drop them once
    /// `portunus admin secrets reseal` has run.
    #[arg(long, env = "PORTUNUS_PREVIOUS_SEAL_KEY_FILE")]
    pub previous_seal_key_file: Option<String>,
    /// PEM certificate chain for the HTTPS API (default: self-signed, generated on first start).
    #[arg(long, env = "PORTUNUS_API_TLS_CERT")]
    pub api_tls_cert: Option<PathBuf>,
    /// PEM private key for the HTTPS API.
    #[arg(long, env = "PORTUNUS_API_TLS_KEY")]
    pub api_tls_key: Option<PathBuf>,
    /// PEM certificate chain offered by the native MySQL and PostgreSQL ports to clients that
    /// switch to TLS (default: the API's certificate).
    #[arg(long, env = "PORTUNUS_DATABASE_TLS_CERT")]
    pub database_tls_cert: Option<PathBuf>,
    /// PEM private key for --database-tls-cert.
    #[arg(long, env = "PORTUNUS_DATABASE_TLS_KEY")]
    pub database_tls_key: Option<PathBuf>,
    /// PEM CA bundle against which database targets' certificates are checked when the cluster
    /// setting database_target_tls is `verify` (default: /etc/ssl/certs/ca-certificates.crt
    /// when it exists).
    #[arg(long, env = "PORTUNUS_DATABASE_TARGET_CA")]
    pub database_target_ca: Option<PathBuf>,
    /// Move database answers on the native ports with splice(2) and a tee(2) copy to scan,
    /// instead of copying them through user space, where the client's and the database's
    /// connections are both plain TCP (TLS on either leg always copies). Off by default: on
    /// loopback it cost more CPU than the copy (`portunus-bench db`, bench/README.md).
    #[arg(long, env = "PORTUNUS_DATABASE_SPLICE")]
    pub database_splice: bool,
    /// Serve the API as plain HTTP (behind a TLS-terminating load balancer, or in tests).
    #[arg(long, env = "PORTUNUS_API_PLAINTEXT")]
    pub api_plaintext: bool,
    /// Load balancers (IP or CIDR, comma-separated) whose connections to the SSH, API and native
    /// database ports start with a PROXY v2 header naming the real client (HAProxy
    /// `send-proxy-v2`). Their connections must carry the header; nobody else's may. Default:
    /// none.
    #[arg(long, env = "PORTUNUS_PROXY_PROTOCOL_FROM")]
    pub proxy_protocol_from: Option<String>,
    /// Send audit events (sessions, commands, statements, file transfers, refusals,
    /// administrative acts) as they happen to a syslog receiver: `tcp://host:port` or
    /// `tls://host:port` (RFC 5424, octet-counted). Default: none.
    #[arg(long, env = "PORTUNUS_AUDIT_SYSLOG")]
    pub audit_syslog: Option<String>,
    /// The CA bundle (PEM) a `tls://` syslog receiver's certificate is checked against.
    /// Required with tls://.
    #[arg(long, env = "PORTUNUS_AUDIT_SYSLOG_CA")]
    pub audit_syslog_ca: Option<PathBuf>,
    /// The CA bundle (PEM) LDAP and AD servers' certificates are checked against. Default: the
    /// system's (/etc/ssl/certs/ca-certificates.crt).
    #[arg(long, env = "PORTUNUS_DIRECTORY_CA")]
    pub directory_ca: Option<PathBuf>,
    /// The CA bundle (PEM) OpenID providers' certificates are checked against (single sign-on
    /// of the web pages). Default: the system's (/etc/ssl/certs/ca-certificates.crt).
    #[arg(long, env = "PORTUNUS_OIDC_CA")]
    pub oidc_ca: Option<PathBuf>,
    /// Run as a witness: a Raft voter with no SSH or API listeners.
    #[arg(long, env = "PORTUNUS_WITNESS")]
    pub witness: bool,
    /// Seconds live sessions get to finish after SIGTERM. Default 30.
    #[arg(long, env = "PORTUNUS_DRAIN_GRACE_SECS")]
    pub drain_grace_secs: Option<u64>,
    /// Build a Raft snapshot (and purge the log behind it) after at least this many log
    /// entries, and after one entry per 4 KiB of the last snapshot when that is more.
    /// Default 5000; at least 20.
    #[arg(long, env = "PORTUNUS_SNAPSHOT_EVERY")]
    pub snapshot_every: Option<u64>,
    /// Log format: "human" (default) or "json".
    #[arg(long, env = "PORTUNUS_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Log filter, e.g. "info" or "portunus=debug". Default info.
    #[arg(long, env = "PORTUNUS_LOG")]
    pub log: Option<String>,
}
