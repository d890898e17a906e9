//! Merging flags, environment, file and defaults into one validated [`NodeConfig`].

use super::{FileConfig, UpArgs};
use portunus_raft::tls::ClusterSecret;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The largest node id: the native database ports put the node's id in 10 bits of the ids
/// they give clients (PostgreSQL process ids, MySQL connection ids), which is how a cancel or
/// KILL that reaches another node finds the node holding the session.
const MAX_NODE_ID: u64 = portunus_proxy::db::native::NodeIds::MAX_NODE;
const NODE_IDS_UP_TO: &str = "node ids go from 1 to 1023 (the native database ports carry the \
     node id in the connection ids they give clients)";

/// A configuration problem, naming the option or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("--{option}: {reason}")]
    Invalid {
        option: &'static str,
        reason: String,
    },
    #[error("cluster secret: {0}")]
    Secret(String),
    #[error("sealing key: {0}")]
    SealKey(String),
}

/// Log entries between Raft snapshots unless configured.
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 5_000;

fn invalid(option: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        option,
        reason: reason.into(),
    }
}

/// What kind of member this node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Serves SSH and the API and votes.
    Engine,
    /// Votes and stores the log only.
    Witness,
}

/// Where a node serves `/metrics` and `/v1/status`, which tell the cluster's layout and load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricsListen {
    /// Their own listener (plain HTTP), for the operator's network or loopback.
    At(SocketAddr),
    /// On the API port, to anyone who can reach it (the behaviour before this option).
    Api,
    /// Not served.
    Off,
}

/// Default of `--mysql-listen`.
/// The CA bundle checked against database targets' certificates when none is configured
/// (Debian's `ca-certificates`), if it exists.
pub const DEFAULT_TARGET_CA: &str = "/etc/ssl/certs/ca-certificates.crt";

pub const DEFAULT_MYSQL_LISTEN: &str = "0.0.0.0:33306";

/// Default of `--postgres-listen`.
pub const DEFAULT_POSTGRES_LISTEN: &str = "0.0.0.0:35432";

/// Default of `--metrics-listen`: loopback only (9464, the Prometheus exporter port of
/// OpenTelemetry).
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9464";

fn metrics_listen(value: Option<String>) -> Result<MetricsListen, ConfigError> {
    match value.as_deref().map(str::trim) {
        Some("api") => Ok(MetricsListen::Api),
        Some("off") => Ok(MetricsListen::Off),
        other => addr(
            "metrics-listen",
            other.map(str::to_string),
            DEFAULT_METRICS_LISTEN,
        )
        .map(MetricsListen::At)
        .map_err(|_| {
            invalid(
                "metrics-listen",
                format!(
                    "'{}' is neither an IP:port address nor \"api\" or \"off\"",
                    other.unwrap_or_default()
                ),
            )
        }),
    }
}

/// A validated node configuration.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The TOML file the configuration came from, if any.
    pub config_file: Option<PathBuf>,
    pub node_id: u64,
    pub data_dir: PathBuf,
    pub ssh_listen: SocketAddr,
    /// The native MySQL gateway's address; None when off.
    pub mysql_listen: Option<SocketAddr>,
    /// The native PostgreSQL gateway's address; None when off.
    pub postgres_listen: Option<SocketAddr>,
    pub api_listen: SocketAddr,
    /// Where `/metrics` and `/v1/status` are served.
    pub metrics_listen: MetricsListen,
    pub cluster_listen: SocketAddr,
    /// Address peers use to reach this node's cluster endpoint.
    pub cluster_advertise: String,
    /// Initial voters (empty for a single node or a joining node).
    pub peers: BTreeMap<u64, String>,
    pub join: Option<String>,
    pub cluster_secret: ClusterSecret,
    /// The sealing keys (none on a witness).
    pub sealer: std::sync::Arc<crate::seal::Sealer>,
    /// Where the sealing keys were read from, to read them again on SIGHUP.
    pub seal_keys: super::seal_keys::SealKeySource,
    pub api_plaintext: bool,
    pub api_tls_cert: Option<PathBuf>,
    pub api_tls_key: Option<PathBuf>,
    /// Certificate and key of the native database ports (None: the API's).
    pub database_tls_cert: Option<PathBuf>,
    pub database_tls_key: Option<PathBuf>,
    /// CA bundle for checking database targets' certificates (`verify`) when one is given
    /// (else the system's, [`DEFAULT_TARGET_CA`], if usable).
    pub database_target_ca: Option<PathBuf>,
    /// Whether native-port answers are spliced instead of copied (`--database-splice`).
    pub database_splice: bool,
    pub role: Role,
    /// The CA bundle directory servers' certificates are checked against (`--directory-ca`;
    /// None: the system's).
    pub directory_ca: Option<PathBuf>,
    /// The CA bundle OpenID providers' certificates are checked against.
    pub oidc_ca: Option<PathBuf>,
    /// Where audit events are sent as they happen (`--audit-syslog`).
    pub audit_syslog: Option<crate::audit_export::SyslogTarget>,
    /// Load balancers whose SSH connections carry a PROXY v2 header (`--proxy-protocol-from`).
    pub proxy_protocol_from: Vec<portunus_proxy_protocol::Cidr>,
    pub drain_grace_secs: u64,
    /// Log entries between Raft snapshots.
    pub snapshot_every: u64,
    pub log_json: bool,
    pub log_filter: String,
    /// SSH gateway settings (the `[ssh]` table of the file; defaults otherwise).
    pub ssh: portunus_proxy::ssh::SshSettings,
    /// Limits of the API listener (the `[api]` table of the file; defaults otherwise).
    pub api: portunus_ops::ApiSettings,
}

fn addr(
    option: &'static str,
    value: Option<String>,
    default: &str,
) -> Result<SocketAddr, ConfigError> {
    let text = value.unwrap_or_else(|| default.to_string());
    text.parse()
        .map_err(|_| invalid(option, format!("'{text}' is not an IP:port address")))
}

/// An address that may be "off" (None).
fn optional_addr(
    option: &'static str,
    value: Option<String>,
    default: &str,
) -> Result<Option<SocketAddr>, ConfigError> {
    match value.as_deref().map(str::trim) {
        Some("off") => Ok(None),
        other => addr(option, other.map(str::to_string), default).map(Some),
    }
}

/// Parse `1=host:port,2=host:port`.
pub fn parse_peers(text: &str) -> Result<BTreeMap<u64, String>, ConfigError> {
    let mut peers = BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (id, address) = item
            .split_once('=')
            .ok_or_else(|| invalid("peers", format!("'{item}' is not ID=HOST:PORT")))?;
        let id: u64 = id
            .trim()
            .parse()
            .map_err(|_| invalid("peers", format!("'{id}' is not a node id")))?;
        if id == 0 {
            return Err(invalid("peers", "node ids start at 1"));
        }
        if id > MAX_NODE_ID {
            return Err(invalid(
                "peers",
                format!("{id} is too large: {NODE_IDS_UP_TO}"),
            ));
        }
        let address = address.trim();
        if address
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
            .is_none()
        {
            return Err(invalid("peers", format!("'{address}' has no port")));
        }
        if peers.insert(id, address.to_string()).is_some() {
            return Err(invalid("peers", format!("node {id} is listed twice")));
        }
    }
    Ok(peers)
}

impl NodeConfig {
    /// Resolve the options of `portunus up`: flags and environment first, then the file, then
    /// defaults.
    pub fn resolve(args: UpArgs) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(p) => FileConfig::load(p)?,
            None => FileConfig::default(),
        };
        Self::resolve_with(args, file)
    }

    /// [`NodeConfig::resolve`] with the file's contents already read.
    pub fn resolve_with(args: UpArgs, file: FileConfig) -> Result<Self, ConfigError> {
        let node_id = args.node_id.or(file.node_id).unwrap_or(1);
        let snapshot_every = args
            .snapshot_every
            .or(file.snapshot_every)
            .unwrap_or(DEFAULT_SNAPSHOT_EVERY);
        if snapshot_every < 20 {
            return Err(invalid(
                "--snapshot-every",
                format!("{snapshot_every} is too small: at least 20 log entries between snapshots"),
            ));
        }
        if node_id == 0 {
            return Err(invalid("node-id", "node ids start at 1"));
        }
        if node_id > MAX_NODE_ID {
            return Err(invalid(
                "node-id",
                format!("{node_id} is too large: {NODE_IDS_UP_TO}"),
            ));
        }
        let data_dir = args
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| "portunus-data".into());
        let peers = match args.peers.or(file.peers) {
            Some(text) => parse_peers(&text)?,
            None => BTreeMap::new(),
        };
        if !peers.is_empty() && !peers.contains_key(&node_id) {
            return Err(invalid(
                "peers",
                format!("this node's id {node_id} is not in the list"),
            ));
        }
        let join = args.join.or(file.join);
        if join.is_some() && !peers.is_empty() {
            return Err(invalid(
                "join",
                "give either --peers (new cluster) or --join, not both",
            ));
        }
        let cluster_listen = addr(
            "cluster-listen",
            args.cluster_listen.or(file.cluster_listen),
            "0.0.0.0:7070",
        )?;
        let cluster_advertise = args
            .cluster_advertise
            .or(file.cluster_advertise)
            .or_else(|| peers.get(&node_id).cloned())
            .unwrap_or_else(|| advertise_default(cluster_listen));
        let log_format = args
            .log_format
            .or(file.log_format)
            .unwrap_or_else(|| "human".into());
        if log_format != "human" && log_format != "json" {
            return Err(invalid(
                "log-format",
                format!("'{log_format}' is neither human nor json"),
            ));
        }
        let proxy_protocol_from = match args.proxy_protocol_from.or(file.proxy_protocol_from) {
            Some(text) => portunus_proxy_protocol::Cidr::parse_list(&text)
                .map_err(|e| invalid("proxy-protocol-from", e))?,
            None => Vec::new(),
        };
        let audit_syslog_ca = args.audit_syslog_ca.or(file.audit_syslog_ca);
        let audit_syslog = match args.audit_syslog.or(file.audit_syslog) {
            Some(url) => {
                let target = crate::audit_export::SyslogTarget::parse(&url, audit_syslog_ca)
                    .map_err(|e| invalid("audit-syslog", e))?;
                match &target.ca {
                    Some(ca) if !ca.is_file() => {
                        return Err(invalid(
                            "audit-syslog-ca",
                            format!("{} is not a readable file", ca.display()),
                        ))
                    }
                    None if target.tls_name.is_some() => return Err(invalid(
                        "audit-syslog-ca",
                        "a tls:// receiver needs the CA bundle its certificate is checked against",
                    )),
                    _ => {}
                }
                Some(target)
            }
            None if audit_syslog_ca.is_some() => {
                return Err(invalid("audit-syslog-ca", "given without --audit-syslog"))
            }
            None => None,
        };
        let secret_file = args.cluster_secret_file.or(file.cluster_secret_file);
        let api = file.api.unwrap_or_default();
        api.validate().map_err(|e| ConfigError::File {
            path: args
                .config
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            reason: e,
        })?;
        let single = peers.is_empty() && join.is_none();
        let role = if args.witness || file.witness.unwrap_or(false) {
            Role::Witness
        } else {
            Role::Engine
        };
        let cluster_secret = load_secret(secret_file.as_deref(), &data_dir, single)?;
        let (sealer, seal_keys) = super::seal_keys::load_at_start(
            args.seal_key_file.or(file.seal_key_file),
            args.previous_seal_key_file.or(file.previous_seal_key_file),
            &data_dir,
            single,
            role,
        )?;
        Ok(NodeConfig {
            config_file: args.config.clone(),
            node_id,
            ssh_listen: addr(
                "ssh-listen",
                args.ssh_listen.or(file.ssh_listen),
                "0.0.0.0:60022",
            )?,
            mysql_listen: optional_addr(
                "mysql-listen",
                args.mysql_listen.or(file.mysql_listen),
                DEFAULT_MYSQL_LISTEN,
            )?,
            postgres_listen: optional_addr(
                "postgres-listen",
                args.postgres_listen.or(file.postgres_listen),
                DEFAULT_POSTGRES_LISTEN,
            )?,
            api_listen: addr(
                "api-listen",
                args.api_listen.or(file.api_listen),
                "0.0.0.0:8443",
            )?,
            metrics_listen: metrics_listen(args.metrics_listen.or(file.metrics_listen))?,
            cluster_listen,
            cluster_advertise,
            cluster_secret,
            sealer: std::sync::Arc::new(sealer),
            seal_keys,
            data_dir,
            peers,
            join,
            api_plaintext: args.api_plaintext || file.api_plaintext.unwrap_or(false),
            api_tls_cert: args.api_tls_cert.or(file.api_tls_cert),
            api_tls_key: args.api_tls_key.or(file.api_tls_key),
            database_tls_cert: args.database_tls_cert.or(file.database_tls_cert),
            database_tls_key: args.database_tls_key.or(file.database_tls_key),
            database_target_ca: args.database_target_ca.or(file.database_target_ca),
            database_splice: args.database_splice || file.database_splice.unwrap_or(false),
            role,
            proxy_protocol_from,
            audit_syslog,
            directory_ca: args.directory_ca.or(file.directory_ca),
            oidc_ca: args.oidc_ca.or(file.oidc_ca),
            drain_grace_secs: args
                .drain_grace_secs
                .or(file.drain_grace_secs)
                .unwrap_or(30),
            snapshot_every,
            log_json: log_format == "json",
            log_filter: args
                .log
                .or(file.log)
                .unwrap_or_else(|| "info,openraft=warn".into()),
            ssh: file.ssh.unwrap_or_default(),
            api,
        })
    }
}

fn advertise_default(listen: SocketAddr) -> String {
    if listen.ip().is_unspecified() {
        format!("127.0.0.1:{}", listen.port())
    } else {
        listen.to_string()
    }
}

/// The secret comes from PORTUNUS_CLUSTER_SECRET, else the named file. A single node with
/// neither generates one on first start and keeps it in its data directory.
fn load_secret(
    file: Option<&Path>,
    data_dir: &Path,
    single: bool,
) -> Result<ClusterSecret, ConfigError> {
    if let Ok(value) = std::env::var("PORTUNUS_CLUSTER_SECRET") {
        return ClusterSecret::new(value)
            .map_err(|e| ConfigError::Secret(format!("PORTUNUS_CLUSTER_SECRET: {e}")));
    }
    if let Some(path) = file {
        let bytes = std::fs::read(path)
            .map_err(|e| ConfigError::Secret(format!("cannot read {}: {e}", path.display())))?;
        return ClusterSecret::new(bytes).map_err(|e| {
            ConfigError::Secret(format!("--cluster-secret-file {}: {e}", path.display()))
        });
    }
    if !single {
        return Err(ConfigError::Secret(
            "a cluster of several nodes needs the same secret on every node: set \
             PORTUNUS_CLUSTER_SECRET or --cluster-secret-file"
                .into(),
        ));
    }
    let path = data_dir.join("cluster-secret");
    if !path.exists() {
        let mut raw = [0u8; 32];
        aws_lc_rs::rand::fill(&mut raw).map_err(|_| ConfigError::Secret("no randomness".into()))?;
        crate::secret_file::write_private(&path, hex::encode(raw).as_bytes())
            .map_err(|e| ConfigError::Secret(format!("cannot write {}: {e}", path.display())))?;
    }
    let bytes = std::fs::read(&path)
        .map_err(|e| ConfigError::Secret(format!("cannot read {}: {e}", path.display())))?;
    ClusterSecret::new(bytes).map_err(|e| ConfigError::Secret(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_parse_and_errors_name_the_problem() {
        let p = parse_peers("1=127.0.0.1:7071, 2=node-b:7072").unwrap();
        assert_eq!(p[&2], "node-b:7072");
        assert!(parse_peers("1=a:1,1=b:2")
            .unwrap_err()
            .to_string()
            .contains("twice"));
        assert!(parse_peers("x=a:1")
            .unwrap_err()
            .to_string()
            .contains("not a node id"));
        assert!(parse_peers("1=nohost")
            .unwrap_err()
            .to_string()
            .contains("no port"));
        assert!(parse_peers("1=a:1,1024=b:2")
            .unwrap_err()
            .to_string()
            .contains("1024 is too large: node ids go from 1 to 1023"));
        assert!(parse_peers("1=a:1,1023=b:2").is_ok());
    }

    #[test]
    fn node_ids_past_what_client_ids_carry_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let args = UpArgs {
            node_id: Some(1024),
            data_dir: Some(dir.path().into()),
            ..Default::default()
        };
        let err = NodeConfig::resolve(args).unwrap_err().to_string();
        assert!(
            err.contains("1024 is too large: node ids go from 1 to 1023"),
            "{err}"
        );
    }

    #[test]
    fn own_id_must_be_among_peers_and_secret_required() {
        let dir = tempfile::tempdir().unwrap();
        let args = UpArgs {
            node_id: Some(3),
            data_dir: Some(dir.path().into()),
            peers: Some("1=a:1,2=b:2".into()),
            ..Default::default()
        };
        let err = NodeConfig::resolve(args).unwrap_err().to_string();
        assert!(err.contains("not in the list"), "{err}");
    }

    #[test]
    fn single_node_generates_a_private_secret_once() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let dir = dir.as_path();
        let args = UpArgs {
            data_dir: Some(dir.into()),
            ..Default::default()
        };
        let a = NodeConfig::resolve(args.clone()).unwrap();
        let b = NodeConfig::resolve(args).unwrap();
        assert_eq!(a.cluster_secret.derive("x"), b.cluster_secret.derive("x"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("cluster-secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(a.ssh_listen.port(), 60022);
        assert_eq!(a.api_listen.port(), 8443);
        assert_eq!(
            a.metrics_listen,
            MetricsListen::At("127.0.0.1:9464".parse().unwrap())
        );
    }

    #[test]
    fn metrics_listen_takes_an_address_api_or_off() {
        assert_eq!(
            metrics_listen(Some("api".into())).unwrap(),
            MetricsListen::Api
        );
        assert_eq!(
            metrics_listen(Some("off".into())).unwrap(),
            MetricsListen::Off
        );
        assert_eq!(
            metrics_listen(Some("10.0.0.1:9100".into())).unwrap(),
            MetricsListen::At("10.0.0.1:9100".parse().unwrap())
        );
        let err = metrics_listen(Some("everywhere".into()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("metrics-listen") && err.contains("everywhere"),
            "{err}"
        );
    }
}
