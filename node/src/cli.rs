//! The `portunus` command line: `up` runs a node; `cluster` inspects and changes membership;
//! `admin` manages users, assets, authorizations and tokens through the API ([`admin`]); `sso`
//! opens the portal's local client links ([`sso`]).

pub mod admin;
pub mod sso;

use crate::config::{NodeConfig, UpArgs};
use anyhow::Context;
use clap::{Parser, Subcommand};
use portunus_model::{Command, Response, Role as KeyRole};
use portunus_raft::tls::ClusterSecret;
use portunus_raft::ClusterClient;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Portunus: a clustered bastion host.
#[derive(Parser, Debug)]
#[command(name = "portunus", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Commands,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Commands {
    /// Run a node (with no options: a single-node cluster with embedded defaults).
    Up(Box<UpArgs>),
    /// Inspect or change the cluster, through any node's cluster address.
    Cluster(ClusterArgs),
    /// Manage users, hosts, databases, authorizations and O&M tokens through any node's API,
    /// with an AccessKey.
    Admin(Box<admin::AdminArgs>),
    /// Open a `portunus://` link of the O&M portal in a local client (ssh, mysql, psql,
    /// DBeaver), or register this program as the links' handler (`--register`).
    Sso(sso::SsoArgs),
}

/// Options of `portunus cluster`.
#[derive(clap::Args, Debug)]
pub struct ClusterArgs {
    /// Cluster address (host:port) of any member.
    #[arg(long, env = "PORTUNUS_VIA", default_value = "127.0.0.1:7070")]
    pub via: String,
    /// File holding the cluster secret (or set PORTUNUS_CLUSTER_SECRET).
    #[arg(long, env = "PORTUNUS_CLUSTER_SECRET_FILE")]
    pub cluster_secret_file: Option<PathBuf>,
    #[command(subcommand)]
    pub action: ClusterAction,
}

/// What to do with the cluster.
#[derive(Subcommand, Debug)]
pub enum ClusterAction {
    /// Show members, leader and progress as JSON.
    Status,
    /// Print a session's recording (asciicast v2), its parts fetched from whichever node holds
    /// them. A recording cut short (a session still open, or whose node died mid-session) is
    /// printed as far as it goes, and the command then fails saying so.
    Recording {
        /// The session id.
        session_id: u64,
    },
    /// Print a session's audit events (command lines, file operations, tunnel records, SQL
    /// statements) as JSON lines, fetched part by part from whichever node holds each; an
    /// open session's stored so far are printed, then an error says they are not all.
    Events {
        /// The session id.
        session_id: u64,
    },
    /// Create an AccessKey pair for the API; prints the secret once. Its secret is sealed here
    /// with the cluster's sealing key (the cluster secret alone cannot do it).
    CreateAccessKey {
        /// The cluster's sealing key file (as the nodes' --seal-key-file). Default:
        /// portunus-data.seal-key, where a single node started here keeps it.
        #[arg(long, env = "PORTUNUS_SEAL_KEY_FILE")]
        seal_key_file: Option<PathBuf>,
        /// admin, auditor, or operator (a user's own key, acting as that user: its O&M tokens,
        /// its TOTP enrolment; needs --user-id). An admin or auditor key given --user-id is
        /// that user's: it opens the web console to them with that role.
        #[arg(long, default_value = "admin")]
        role: String,
        /// The user the key belongs to (its id: `portunus admin user list`): needed by an
        /// operator key, optional for admin and auditor keys.
        #[arg(long)]
        user_id: Option<u64>,
        /// Free text kept with the key.
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// List the AccessKeys (never their secrets).
    ListAccessKeys,
    /// Ask the node holding a session to end it.
    TerminateSession {
        /// The session id.
        session_id: u64,
    },
    /// Remove a node from the cluster.
    RemoveNode {
        /// Id of the node to remove.
        node_id: u64,
    },
    /// Show the cluster settings; with options, change those settings first.
    Settings(SettingsArgs),
    /// Restore a configuration export (GetExportConfigJob's download, as a file) into a fresh
    /// cluster: one that holds no user, host, database or project yet. Every secret in it must
    /// open with this cluster's sealing key, so start the new cluster with the same
    /// --seal-key-file. The AccessKeys of the export replace those of the first start.
    ImportConfig {
        /// The export (JSON, as decoded from the DownloadUrl).
        file: PathBuf,
        /// The cluster's sealing key file (as the nodes' --seal-key-file). Default:
        /// portunus-data.seal-key, where a single node started here keeps it.
        #[arg(long, env = "PORTUNUS_SEAL_KEY_FILE")]
        seal_key_file: Option<PathBuf>,
    },
}

/// Cluster settings an operator changes from a shell (0 = unlimited / never).
#[derive(clap::Args, Debug)]
pub struct SettingsArgs {
    /// Open O&M sessions allowed in the whole cluster.
    #[arg(long)]
    pub max_sessions_total: Option<u32>,
    /// Open O&M sessions allowed per user.
    #[arg(long)]
    pub max_sessions_per_user: Option<u32>,
    /// Wrong passwords (within the window) that lock a user's password logon for a while.
    #[arg(long)]
    pub login_lock_threshold: Option<u32>,
    /// Seconds in which wrong passwords are counted, from the first.
    #[arg(long)]
    pub login_lock_window_secs: Option<u64>,
    /// Seconds a first lockout lasts; each further lockout in a row doubles it.
    #[arg(long)]
    pub login_lock_secs: Option<u64>,
    /// Longest lockout, in seconds.
    #[arg(long)]
    pub login_lock_max_secs: Option<u64>,
    /// Idle sessions are closed after this many seconds.
    #[arg(long)]
    pub session_idle_timeout_secs: Option<u64>,
    /// Uses of each new O&M token (each login spends one); 0 = unlimited within its validity.
    #[arg(long)]
    pub token_default_use_count: Option<u32>,
    /// Whether a statement the database gateway cannot read passes when SQL rules apply
    /// (default false: it is refused).
    #[arg(long)]
    pub sql_allow_unreadable: Option<bool>,
    /// Whether the native MySQL and PostgreSQL ports refuse clients that do not use TLS
    /// (default false).
    #[arg(long)]
    pub database_require_tls: Option<bool>,
    /// TLS from the gateway to database targets: off, prefer (when the target offers it,
    /// certificate unchecked; the default), require (refuse targets without TLS), verify
    /// (require, and check the certificate against each node's --database-target-ca).
    #[arg(long, value_parser = parse_target_tls)]
    pub database_target_tls: Option<portunus_model::DatabaseTargetTls>,
    /// Whether a host's SSH key must be pinned (at creation, or with `portunus admin host
    /// fingerprint HOST --set ...`) before the bastion sends it a credential; by default
    /// (false) the first key a host presents is trusted and pinned.
    #[arg(long)]
    pub require_host_key_pins: Option<bool>,
    /// Seconds a command held for approval waits for an administrator's decision before it is
    /// refused (10 to 86400; default 300).
    #[arg(long)]
    pub command_approval_wait_secs: Option<u64>,
}

fn parse_target_tls(s: &str) -> Result<portunus_model::DatabaseTargetTls, String> {
    portunus_model::DatabaseTargetTls::parse(s).ok_or_else(|| {
        let names = portunus_model::DatabaseTargetTls::NAMES.join(", ");
        format!("'{s}' is not a TLS mode for database targets (one of: {names})")
    })
}

/// Read the settings, apply the changes asked for (if any) and print the result.
async fn settings(client: &ClusterClient, via: &str, args: SettingsArgs) -> anyhow::Result<()> {
    let mut s = client.settings(via).await?;
    let before = s.clone();
    if let Some(v) = args.max_sessions_total {
        s.max_sessions_total = v;
    }
    if let Some(v) = args.sql_allow_unreadable {
        s.sql_allow_unreadable = v;
    }
    if let Some(v) = args.database_require_tls {
        s.database_require_tls = v;
    }
    if let Some(v) = args.database_target_tls {
        s.database_target_tls = v;
    }
    if let Some(v) = args.require_host_key_pins {
        s.require_host_key_pins = v;
    }
    if let Some(v) = args.max_sessions_per_user {
        s.max_sessions_per_user = v;
    }
    if let Some(v) = args.login_lock_threshold {
        s.login_lock_threshold = v;
    }
    if let Some(v) = args.login_lock_window_secs {
        s.login_lock_window_secs = v;
    }
    if let Some(v) = args.login_lock_secs {
        s.login_lock_secs = v;
    }
    if let Some(v) = args.login_lock_max_secs {
        s.login_lock_max_secs = v;
    }
    if let Some(v) = args.session_idle_timeout_secs {
        s.session_idle_timeout_secs = v;
    }
    if let Some(v) = args.token_default_use_count {
        s.token_default_use_count = v;
    }
    if let Some(v) = args.command_approval_wait_secs {
        s.command_approval_wait_secs = v;
    }
    if s != before {
        if let Response::Rejected(e) = client
            .propose(via, Command::UpdateSettings(s.clone()))
            .await?
        {
            anyhow::bail!("{e}");
        }
        let (old, new) = (toml::Table::try_from(&before)?, toml::Table::try_from(&s)?);
        let changed = new
            .iter()
            .filter(|(k, v)| old.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect();
        trail(client, via, "ClusterSettings", changed).await;
    }
    print!("{}", toml::to_string(&s)?);
    Ok(())
}

fn secret_for_client(file: Option<&PathBuf>) -> anyhow::Result<ClusterSecret> {
    let bytes = match (std::env::var("PORTUNUS_CLUSTER_SECRET"), file) {
        (Ok(v), _) => v.into_bytes(),
        (Err(_), Some(path)) => {
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))?
        }
        (Err(_), None) => {
            let local = PathBuf::from("portunus-data/cluster-secret");
            std::fs::read(&local).context(
                "no cluster secret: set PORTUNUS_CLUSTER_SECRET or --cluster-secret-file",
            )?
        }
    };
    Ok(ClusterSecret::new(bytes)?)
}

/// The sealing key of `cluster create-access-key`: the file given, else where a single node
/// started in this directory keeps it.
fn sealer_for_client(file: Option<PathBuf>) -> anyhow::Result<crate::seal::Sealer> {
    let path = match file {
        Some(p) => p,
        None => crate::config::default_seal_key_path(std::path::Path::new("portunus-data"))
            .context("no default sealing key path")?,
    };
    let text = std::fs::read(&path).with_context(|| {
        format!(
            "--seal-key-file {}: cannot read the cluster's sealing key",
            path.display()
        )
    })?;
    let key = crate::seal::SealKey::parse(&text)
        .with_context(|| format!("--seal-key-file {}", path.display()))?;
    Ok(crate::seal::Sealer::new(key, Vec::new()))
}

/// Run `portunus cluster ...`.
pub async fn cluster(args: ClusterArgs) -> anyhow::Result<()> {
    let secret = secret_for_client(args.cluster_secret_file.as_ref())?;
    let client = ClusterClient::new(&secret)?;
    match args.action {
        ClusterAction::Status => {
            let status = client.status(&args.via).await?;
            println!("{}", serde_json::to_string_pretty(&status)?);
        }
        ClusterAction::Recording { session_id } => {
            let addrs = member_addrs(&client, &args.via).await?;
            let (client, addrs) = (&client, &addrs);
            let get = |name: String| async move { fetch_blob(client, addrs, &name).await };
            let read =
                crate::audit::read_recording(session_id, get, &mut std::io::stdout()).await?;
            match (read.parts, read.expected) {
                _ if read.complete() => {}
                (0, None) => anyhow::bail!(
                    "no node holds a recording of session {session_id} (only sessions with a \
                     terminal are recorded)"
                ),
                (found, None) => anyhow::bail!(
                    "the recording of session {session_id} has no end ({found} parts printed): \
                     the session is still open, or the node that served it stopped before it \
                     ended"
                ),
                (found, Some(parts)) => anyhow::bail!(
                    "the recording of session {session_id} is incomplete: {found} of its \
                     {parts} parts printed, no node holds part {found}"
                ),
            }
        }
        ClusterAction::Events { session_id } => {
            let addrs = member_addrs(&client, &args.via).await?;
            let (client, addrs) = (&client, &addrs);
            let get = |name: String| async move { fetch_blob(client, addrs, &name).await };
            let read = crate::audit::read_events(session_id, get, &mut std::io::stdout()).await?;
            if read.nothing() {
                anyhow::bail!(
                    "no node holds audit events of session {session_id} (a session without \
                     events has none; an open one's are stored every few seconds)"
                );
            }
            if let Some(why) = read.incomplete(&format!("the events of session {session_id}")) {
                anyhow::bail!("{why}");
            }
        }
        ClusterAction::CreateAccessKey {
            role,
            user_id,
            comment,
            seal_key_file,
        } => {
            let sealer = sealer_for_client(seal_key_file)?;
            let key = NewKey {
                role: &role,
                user_id,
                comment,
            };
            create_access_key(&client, &args.via, &sealer, key).await?;
        }
        ClusterAction::ListAccessKeys => {
            let keys = client.access_keys(&args.via).await?;
            println!("{}", serde_json::to_string_pretty(&keys)?);
        }
        ClusterAction::TerminateSession { session_id } => {
            let r = client
                .propose(&args.via, Command::RequestTermination { session_id })
                .await?;
            match r {
                Response::Rejected(e) => anyhow::bail!("{e}"),
                _ => println!("session {session_id}: termination requested"),
            }
            let params = [("SessionId".to_string(), session_id.to_string())].into();
            trail(&client, &args.via, "ClusterTerminateSession", params).await;
        }
        ClusterAction::RemoveNode { node_id } => {
            client.remove_node(&args.via, node_id).await?;
            println!("node {node_id} removed from the cluster");
            let params = [("NodeId".to_string(), node_id.to_string())].into();
            trail(&client, &args.via, "ClusterRemoveNode", params).await;
        }
        ClusterAction::Settings(s) => settings(&client, &args.via, s).await?,
        ClusterAction::ImportConfig {
            file,
            seal_key_file,
        } => import_config(&client, &args.via, &file, seal_key_file).await?,
    }
    Ok(())
}

/// Checks an export against this cluster's sealing key and proposes it.
async fn import_config(
    client: &ClusterClient,
    via: &str,
    file: &std::path::Path,
    seal_key_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("{}: cannot read", file.display()))?;
    let doc = portunus_ops::config_export::ConfigDocument::parse(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let sealer = sealer_for_client(seal_key_file)?;
    // Every sealed value must open here: a restore under another sealing key would leave
    // hosted credentials and AccessKeys that no node can use.
    let mut scratch = portunus_model::State::default();
    let loaded = scratch.apply(&portunus_model::Request {
        now_ms: 0,
        command: Command::ImportConfiguration(Box::new(doc.configuration.clone())),
        id: None,
    });
    if let Response::Rejected(e) = loaded {
        anyhow::bail!("{}: {e}", file.display());
    }
    for (at, sealed) in scratch.sealed_values() {
        if sealer.open(at.purpose(), sealed).is_err() {
            anyhow::bail!(
                "{}: {at:?} does not open with this sealing key (the export was sealed under key {}): start the cluster with the sealing key file of the exported one",
                file.display(),
                doc.seal_key_id.as_deref().unwrap_or("unknown")
            );
        }
    }
    match client
        .propose(
            via,
            Command::ImportConfiguration(Box::new(doc.configuration.clone())),
        )
        .await?
    {
        Response::Rejected(e) => anyhow::bail!("{e}"),
        _ => println!("imported {}", doc.summary()),
    }
    let params = [("File".to_string(), file.display().to_string())].into();
    trail(client, via, "ClusterImportConfig", params).await;
    Ok(())
}

/// The cluster addresses of every member, as the node at `via` knows them.
async fn member_addrs(client: &ClusterClient, via: &str) -> anyhow::Result<Vec<String>> {
    let status = client.status(via).await?;
    Ok(status
        .nodes
        .iter()
        .map(|n| n.info.cluster_addr.clone())
        .collect())
}

/// A replicated blob from the first of the members at `addrs` that holds it (asked as
/// [`portunus_raft::first_copy`] says).
async fn fetch_blob(client: &ClusterClient, addrs: &[String], name: &str) -> Option<Vec<u8>> {
    portunus_raft::first_copy(addrs, |addr| async move {
        client.get_blob(addr, name).await.ok().flatten()
    })
    .await
}

/// Changes the log filter of the running process.
pub type LogReload = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// Where SIGHUP reads the new log filter from: the `log` key of the config file when one was
/// given, else the file `log-level` in the data directory.
fn reread_log_filter(config: &NodeConfig) -> Option<String> {
    if let Some(path) = &config.config_file {
        return crate::config::FileConfig::load(path).ok()?.log;
    }
    let text = std::fs::read_to_string(config.data_dir.join("log-level")).ok()?;
    Some(text.trim().to_string())
}

/// On SIGHUP: the sealing keys (once the node runs: `replica` is set), then the log filter.
async fn reload_on_sighup(
    config: NodeConfig,
    reload: LogReload,
    mut hup: tokio::signal::unix::Signal,
    replica: Arc<OnceLock<portunus_raft::Replica>>,
) {
    while hup.recv().await.is_some() {
        match replica.get() {
            Some(replica) => reload_seal_keys(&config, replica),
            None => tracing::warn!("SIGHUP: sealing keys not reloaded: the node is still starting"),
        }
        match reread_log_filter(&config) {
            Some(filter) => match reload(&filter) {
                Ok(()) => tracing::warn!(%filter, "log filter changed"),
                Err(e) => tracing::error!(error = %e, "log filter not changed"),
            },
            None => tracing::warn!(
                "SIGHUP: no log filter found (config file `log` key or data dir `log-level` file)"
            ),
        }
    }
}

fn reload_seal_keys(config: &NodeConfig, replica: &portunus_raft::Replica) {
    if config.role == crate::config::Role::Witness {
        return;
    }
    match crate::rekey::reload_seal_keys(config, replica) {
        Ok(r) => tracing::warn!(
            current = %r.current,
            previous = ?r.previous,
            "sealing keys reloaded"
        ),
        Err(e) => tracing::error!(
            error = %e,
            keeping = %config.sealer.current_id().unwrap_or_default(),
            "sealing keys not reloaded: keeping the current ones"
        ),
    }
}

/// What `cluster create-access-key` was asked for.
struct NewKey<'a> {
    role: &'a str,
    user_id: Option<u64>,
    comment: String,
}

async fn create_access_key(
    client: &ClusterClient,
    via: &str,
    sealer: &crate::seal::Sealer,
    key: NewKey<'_>,
) -> anyhow::Result<()> {
    let NewKey {
        role,
        user_id,
        comment,
    } = key;
    let role = match (role, user_id) {
        // An admin or auditor key may belong to a user: it gives them the console with that
        // role, and its API calls are the user's in the trail.
        ("admin", _) => KeyRole::Admin,
        ("auditor", _) => KeyRole::Auditor,
        ("operator", Some(_)) => KeyRole::Operator,
        ("operator", None) => {
            anyhow::bail!("--role operator: an operator key acts as a user: give --user-id")
        }
        (other, _) => anyhow::bail!("--role: '{other}' is not admin, auditor or operator"),
    };
    let (id, key_secret) = portunus_ops::api::new_access_key();
    let sealed = sealer.seal(
        crate::seal::purpose::ACCESS_KEY_SECRET,
        key_secret.as_bytes(),
    )?;
    let command = Command::CreateAccessKey {
        access_key_id: id.clone(),
        secret: sealed,
        role,
        user_id,
        comment,
    };
    if let Response::Rejected(e) = client.propose(via, command).await? {
        anyhow::bail!("{e}");
    }
    println!("access key id:     {id}");
    println!("access key secret: {key_secret}");
    let params = [
        ("AccessKeyId".to_string(), id),
        ("Role".to_string(), format!("{role:?}")),
    ]
    .into_iter()
    .chain(user_id.map(|u| ("UserId".to_string(), u.to_string())))
    .collect();
    trail(client, via, "ClusterCreateAccessKey", params).await;
    Ok(())
}

/// Appends an administrative act made with the cluster secret to the admin audit trail. The
/// nodes cannot tell this tool's requests from each other's (both hold the cluster secret), so
/// the tool records its own acts, as the API records its calls; the entry names the cluster
/// secret as the credential and this host as the source. A failure is reported, not fatal:
/// the act is done.
async fn trail(
    client: &ClusterClient,
    via: &str,
    action: &str,
    params: std::collections::BTreeMap<String, String>,
) {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "an unknown host".into());
    let user = std::env::var("USER").unwrap_or_else(|_| "someone".into());
    let record = portunus_model::AdminAuditRecord {
        access_key_id: "(cluster secret)".into(),
        role: KeyRole::Admin,
        user_id: None,
        source: format!("portunus cluster, {user}@{host}"),
        action: action.into(),
        params,
        result: "OK".into(),
    };
    match client.propose(via, Command::RecordAdminAudit(record)).await {
        Ok(Response::Rejected(e)) => {
            eprintln!("warning: not recorded in the admin audit trail: {e}")
        }
        Err(e) => eprintln!("warning: not recorded in the admin audit trail: {e}"),
        Ok(_) => {}
    }
}

/// Run `portunus up` until SIGTERM or Ctrl-C, then drain. SIGHUP re-reads the sealing keys
/// and the log filter.
pub async fn up(config: NodeConfig, reload: LogReload) -> anyhow::Result<()> {
    let hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("installing the SIGHUP handler")?;
    let running = Arc::new(OnceLock::new());
    tokio::spawn(reload_on_sighup(
        config.clone(),
        reload,
        hup,
        Arc::clone(&running),
    ));
    // One SIGTERM listener for the whole run: a signal that arrives while no listener exists
    // is lost (the default action is already replaced), and the node would never stop.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let grace = Duration::from_secs(config.drain_grace_secs);
    let mut node = crate::start(config).await?;
    let _ = running.set(node.replica.clone());
    let c = &node.config;
    println!("portunus node {} ({:?})", c.node_id, c.role);
    println!("  data:     {}", c.data_dir.display());
    println!(
        "  cluster:  {} (QUIC, advertised as {})",
        node.cluster_addr, c.cluster_advertise
    );
    if let Some(ssh) = node.ssh_addr {
        println!(
            "  ssh:      {ssh}  (O&M: ssh -p {} USER@HOST, password = O&M token)",
            ssh.port()
        );
    }
    if let Some(api) = node.api_addr {
        let scheme = if c.api_plaintext { "http" } else { "https" };
        let extra = match c.metrics_listen {
            crate::config::MetricsListen::Api => " /metrics /v1/status",
            _ => "",
        };
        println!("  api:      {scheme}://{api}  (/healthz /readyz{extra})");
    }
    if let Some(m) = node.metrics_addr {
        println!("  metrics:  http://{m}  (/metrics /v1/status)");
    }
    // A Raft core that stops on its own (a write the disk refused, a full disk) leaves a node
    // that can neither commit nor renew its leases: it exits, naming why, so that its
    // supervisor restarts it (systemd's Restart=on-failure) once the cause is gone.
    let failed = raft_failed(node.replica.clone());
    tokio::pin!(failed);
    tokio::select! {
        why = &mut failed => return Err(stopped_on_its_own(why)),
        creds = node.registered() => {
            if let Some(creds) = creds {
                // The secrets go only to the file (mode 0600): standard output ends up in
                // journals and terminals' scrollback.
                println!("first start: administrator created; password and access key secret in {} (mode 0600)",
                    node.config.data_dir.join("admin-credentials.toml").display());
                println!("  user:              {}", creds.user);
                println!("  access key id:     {}", creds.access_key_id);
            }
            println!("node {} registered in the cluster (epoch {})", node.config.node_id, node.epoch());
            if let Some(id) = node.instance_id() {
                println!("  instance: {id}");
            }
        }
        _ = shutdown_signal(&mut term) => {
            node.drain_and_stop(grace).await;
            return Ok(());
        }
    }
    tokio::select! {
        why = &mut failed => return Err(stopped_on_its_own(why)),
        _ = shutdown_signal(&mut term) => {}
    }
    println!("stopping: draining for up to {} s", grace.as_secs());
    node.drain_and_stop(grace).await;
    Ok(())
}

/// Resolves, with why, once this node's Raft core has stopped without being asked to.
async fn raft_failed(replica: portunus_raft::Replica) -> String {
    let mut metrics = replica.watch_status();
    drop(replica);
    loop {
        if let Err(fatal) = &metrics.borrow_and_update().running_state {
            return fatal.to_string();
        }
        if metrics.changed().await.is_err() {
            return "the Raft core ended".to_string();
        }
    }
}

fn stopped_on_its_own(why: String) -> anyhow::Error {
    tracing::error!(%why, "the replicated log stopped on this node; exiting");
    anyhow::anyhow!(
        "the replicated log stopped on this node ({why}); it takes no part in the cluster \
         until restarted (check the data directory's disk: full, read-only, failing)"
    )
}

async fn shutdown_signal(term: &mut tokio::signal::unix::Signal) {
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
