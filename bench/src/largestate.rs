//! The `large-state` benchmark: a 3-node cluster of `portunus` processes holding many users,
//! hosts with an account each, and ended sessions (100,000 / 100,000 / 1,000,000 by default).
//! The state is written through the cluster transport (`portunus_raft::ClusterClient`, the
//! cluster secret, as `portunus cluster` does) in batches of commands, each batch one log entry:
//! the same commands the API and the gateway propose, without their HTTP and SSH in front (a
//! million SSH sessions would take hours). Each session is opened and closed by its own
//! `OpenSession` / `CloseSession` on a registered node id no process serves.
//!
//! Measured, the same way before (empty state) and after filling: token logins per second
//! (full SSH logins, round robin over the nodes) and the latency of list calls (`ListUsers`,
//! `ListHosts`, `ListSessions`, 100 per page, pages spread over the whole list). Then, full: every node's RSS
//! and data directory; a follower killed (SIGKILL) and started again from its disk, timed to
//! `/readyz`; a fourth node joining, timed until the leader has replicated its whole log to it
//! (a snapshot install: the log behind the latest snapshot is purged).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use portunus_model::{
    AssetRef, Command, EndReason, NewHost, NewHostAccount, NewUser, Principal, Protocol, Response,
};
use portunus_raft::tls::ClusterSecret;
use portunus_raft::ClusterClient;
use serde::Serialize;

use crate::logins;
use crate::portunus::Cluster;
use crate::stats::Latency;
use crate::suite::{Goal, Outcome};
use crate::sys;

/// Options of `portunus-bench large-state`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Users to create.
    #[arg(long, default_value_t = 100_000)]
    pub users: usize,
    /// Hosts to create, each with one account.
    #[arg(long, default_value_t = 100_000)]
    pub hosts: usize,
    /// Ended sessions to record.
    #[arg(long, default_value_t = 1_000_000)]
    pub sessions: usize,
    /// Commands per log entry while filling (a fill in fewer entries than a snapshot's interval,
    /// 5,000, leaves no snapshot for a joining node to install).
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Seconds each login-rate measurement lasts.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Concurrent clients logging in.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Calls per list measurement (each list action).
    #[arg(long, default_value_t = 100)]
    pub list_calls: usize,
    /// Directory for large-state.json and large-state.md.
    #[arg(long, default_value = "bench/results")]
    pub out: PathBuf,
}

/// Node id under which the recorded sessions ran (registered, never started as a process).
const SESSION_NODE: u64 = 1000;
/// Users sharing the sessions (members of one group granted one host account).
const SESSION_USERS: usize = 1000;
/// Proposals in flight while filling. More keeps a 2-core machine running three nodes so busy
/// that their AppendEntries miss openraft's 50 ms answer time once the state is large.
const IN_FLIGHT: usize = 2;

#[derive(Debug, Clone, Serialize)]
struct ListRow {
    state: String,
    action: String,
    latency: Latency,
}

#[derive(Debug, Clone, Serialize)]
struct NodeRow {
    node: u64,
    rss_mib: f64,
    disk_mib: f64,
}

#[derive(Debug, Clone, Serialize)]
struct Report {
    users: usize,
    hosts: usize,
    sessions: usize,
    fill_seconds: Vec<(String, f64)>,
    /// Seconds waited after the fill, before the full state's logins, for the snapshots the
    /// fill's last entries started to be written (each takes seconds of a core on every node:
    /// the window measures logins against the state, not against a snapshot's build).
    snapshot_wait_s: f64,
    logins: Vec<logins::Row>,
    /// Per login window (same order as `logins`): the nodes that took a snapshot meanwhile
    /// (its serialization and write compete with the logins for the cores and the disk).
    snapshots_during_logins: Vec<Vec<u64>>,
    lists: Vec<ListRow>,
    nodes_empty: Vec<NodeRow>,
    nodes_full: Vec<NodeRow>,
    restart_to_ready_s: f64,
    join_to_caught_up_s: f64,
    log_entries_at_join: u64,
    /// The leader's log was purged up to here when node 4 joined: a joining node had to
    /// install a snapshot (0: the whole log was there to replicate).
    purged_at_join: u64,
    /// The snapshot node 4 held once caught up (its last included index).
    joined_snapshot_index: u64,
    /// The fields of the leader's last "snapshot built" log line (bytes, clone_ms, encode_ms,
    /// write_ms) and of node 4's "snapshot installed" (bytes, decode_ms, write_ms).
    snapshot_built: BTreeMap<String, String>,
    snapshot_installed: BTreeMap<String, String>,
}

/// Each running node's `portunus_raft_snapshot_index` (None where it did not answer).
fn snapshot_indexes(cluster: &Cluster) -> Vec<Option<u64>> {
    cluster
        .metrics_addrs()
        .into_iter()
        .map(|addr| {
            let (_, body) = portunus_tests::http_get(addr, "/metrics").ok()?;
            body.lines()
                .find_map(|l| l.strip_prefix("portunus_raft_snapshot_index "))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .map(|v| v as u64)
        })
        .collect()
}

/// Waits until no node reports building a snapshot (`portunus_raft_snapshot_building`), after
/// a second in which the last applies may start one; the seconds waited. An error after
/// `limit`, or when a node does not answer.
async fn settle_snapshots(cluster: &Cluster, limit: Duration) -> anyhow::Result<f64> {
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    loop {
        let mut building = Vec::new();
        for (i, addr) in cluster.metrics_addrs().into_iter().enumerate() {
            let (_, body) = portunus_tests::http_get(addr, "/metrics")
                .with_context(|| format!("node {}'s metrics", i + 1))?;
            let flag = body
                .lines()
                .find_map(|l| l.strip_prefix("portunus_raft_snapshot_building "))
                .with_context(|| {
                    format!("node {} has no portunus_raft_snapshot_building", i + 1)
                })?;
            if flag.trim() != "0" {
                building.push(i + 1);
            }
        }
        if building.is_empty() {
            return Ok(started.elapsed().as_secs_f64());
        }
        if started.elapsed() > limit {
            bail!("nodes {building:?} still build a snapshot after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The nodes (ids) whose snapshot index moved since `before`.
fn snapshots_since(cluster: &Cluster, before: &[Option<u64>]) -> Vec<u64> {
    snapshot_indexes(cluster)
        .iter()
        .zip(before)
        .enumerate()
        .filter(|(_, (now, then))| now.is_some() && now != then)
        .map(|(i, _)| i as u64 + 1)
        .collect()
}

/// Runs the benchmark.
pub async fn run(args: &Args) -> anyhow::Result<Outcome> {
    let mut cluster = Cluster::start_with_spare(3).await?;
    let result = measure(&mut cluster, args).await;
    if result.is_err() {
        // The nodes' output, for the diagnosis (their directory goes with the cluster).
        std::fs::create_dir_all(&args.out)?;
        for n in &cluster.procs.nodes {
            let to = args.out.join(format!("large-state-node{}.log", n.id));
            if std::fs::copy(&n.log, &to).is_ok() {
                eprintln!("kept {}", to.display());
            }
        }
    }
    drop(cluster);
    Ok(outcome(args, result?))
}

async fn measure(cluster: &mut Cluster, args: &Args) -> anyhow::Result<Report> {
    let echo = sys::echo_server().await?;
    let token = cluster.db_token(echo.port()).await?;
    let largs = logins::Args {
        duration: args.duration,
        clients: args.clients,
        nodes: vec![3],
        out: args.out.clone(),
    };
    let token_cred = crate::sshc::Credential::password(&token.token);
    let ssh = cluster.ssh_addrs();
    let mut login_rows = Vec::new();
    let mut snapshots_during_logins = Vec::new();
    let name = "empty state";
    println!("logins, {name}");
    let before = snapshot_indexes(cluster);
    login_rows.push(logins::measure(name, &ssh, &token.user, &token_cred, echo, &largs).await);
    snapshots_during_logins.push(snapshots_since(cluster, &before));
    let mut lists = list_latency(cluster, "empty", args).await?;
    let nodes_empty = footprint(cluster)?;

    let secret = ClusterSecret::new(cluster.procs.secret.as_str()).context("cluster secret")?;
    let client = Arc::new(ClusterClient::new(&secret).context("cluster client")?);
    let via = cluster.procs.nodes[0].advertise.to_string();
    let fill_seconds = fill(&client, &via, args).await?.took;
    let snapshot_wait_s = settle_snapshots(cluster, Duration::from_secs(120)).await?;
    println!("waited {snapshot_wait_s:.1} s for the snapshots the fill started");

    let name = "full state";
    println!("logins, {name}");
    let before = snapshot_indexes(cluster);
    login_rows.push(logins::measure(name, &ssh, &token.user, &token_cred, echo, &largs).await);
    snapshots_during_logins.push(snapshots_since(cluster, &before));
    lists.extend(list_latency(cluster, "full", args).await?);
    let nodes_full = footprint(cluster)?;
    let restart_to_ready_s = restart_follower(cluster).await?;
    let joined = join_fourth(cluster).await?;
    Ok(Report {
        users: args.users,
        hosts: args.hosts,
        sessions: args.sessions,
        fill_seconds,
        snapshot_wait_s,
        logins: login_rows,
        snapshots_during_logins,
        lists,
        nodes_empty,
        nodes_full,
        restart_to_ready_s,
        join_to_caught_up_s: joined.seconds,
        log_entries_at_join: joined.last_log_index,
        purged_at_join: joined.purged_index,
        joined_snapshot_index: joined.snapshot_index,
        snapshot_built: joined.built,
        snapshot_installed: joined.installed,
    })
}

/// Proposes `commands` in batches (one log entry each), `IN_FLIGHT` at a time; the answers in
/// order. Any refused command fails the fill.
pub(crate) async fn propose_all(
    client: &Arc<ClusterClient>,
    via: &str,
    what: &str,
    commands: Vec<Command>,
    batch: usize,
) -> anyhow::Result<Vec<Response>> {
    let chunks: Vec<Vec<Command>> = commands
        .chunks(batch.max(1))
        .map(<[Command]>::to_vec)
        .collect();
    let total = chunks.len();
    let mut answers: Vec<Option<Vec<Response>>> = vec![None; total];
    let mut set = tokio::task::JoinSet::new();
    let mut next = 0;
    let mut done = 0;
    while done < total {
        while next < total && set.len() < IN_FLIGHT {
            let (client, via, chunk) = (client.clone(), via.to_string(), chunks[next].clone());
            let i = next;
            set.spawn(async move { (i, client.propose(&via, Command::Batch(chunk)).await) });
            next += 1;
        }
        let Some(joined) = set.join_next().await else {
            bail!("{what}: the proposing tasks ended early");
        };
        let (i, answer) = joined.context("a proposing task")?;
        match answer.with_context(|| format!("{what}: batch {i}"))? {
            Response::Batch(rs) => {
                if let Some(r) = rs.iter().find_map(Response::rejection) {
                    bail!("{what}: batch {i} refused a command: {r}");
                }
                answers[i] = Some(rs);
            }
            other => bail!("{what}: batch {i} answered {other:?}"),
        }
        done += 1;
        if done % 200 == 0 || done == total {
            println!("  {what}: {done}/{total} entries");
        }
    }
    Ok(answers.into_iter().flatten().flatten().collect())
}

fn created(answers: &[Response]) -> anyhow::Result<Vec<u64>> {
    answers
        .iter()
        .map(|r| match r {
            Response::Created { id } => Ok(*id),
            other => bail!("expected Created, got {other:?}"),
        })
        .collect()
}

/// What [`fill`] wrote: the seconds each kind took, and the ids made.
pub(crate) struct Filled {
    pub(crate) took: Vec<(String, f64)>,
    pub(crate) host_ids: Vec<u64>,
    /// One per host, in the order of `host_ids`.
    pub(crate) account_ids: Vec<u64>,
}

/// Writes the users, hosts, accounts and ended sessions.
pub(crate) async fn fill(
    client: &Arc<ClusterClient>,
    via: &str,
    args: &Args,
) -> anyhow::Result<Filled> {
    let mut took = Vec::new();
    let t = Instant::now();
    let users: Vec<Command> = (0..args.users)
        .map(|i| {
            Command::CreateUser(NewUser {
                name: format!("large-user-{i:07}"),
                ..Default::default()
            })
        })
        .collect();
    let user_ids = created(&propose_all(client, via, "users", users, args.batch).await?)?;
    took.push(("users".to_string(), t.elapsed().as_secs_f64()));

    let t = Instant::now();
    let hosts: Vec<Command> = (0..args.hosts)
        .map(|i| {
            Command::CreateHost(NewHost {
                name: format!("large-host-{i:07}"),
                private_address: format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255),
                ..Default::default()
            })
        })
        .collect();
    let host_ids = created(&propose_all(client, via, "hosts", hosts, args.batch).await?)?;
    took.push(("hosts".to_string(), t.elapsed().as_secs_f64()));

    let t = Instant::now();
    let accounts: Vec<Command> = host_ids
        .iter()
        .map(|&host_id| {
            Command::CreateHostAccount(NewHostAccount {
                host_id,
                name: "root".into(),
                protocol: Protocol::Ssh,
                password: None,
                private_key: None,
                shared_key_id: None,
                sftp_only: false,
            })
        })
        .collect();
    let account_ids =
        created(&propose_all(client, via, "host accounts", accounts, args.batch).await?)?;
    took.push(("host accounts".to_string(), t.elapsed().as_secs_f64()));

    if args.sessions == 0 {
        return Ok(Filled {
            took,
            host_ids,
            account_ids,
        });
    }
    let t = Instant::now();
    let (Some(&host_id), Some(&account_id)) = (host_ids.first(), account_ids.first()) else {
        bail!("sessions need at least one host");
    };
    let members: Vec<u64> = user_ids.iter().copied().take(SESSION_USERS).collect();
    if members.is_empty() {
        bail!("sessions need at least one user");
    }
    let setup = vec![Command::CreateUserGroup {
        name: "large-session-users".into(),
        comment: String::new(),
    }];
    let group_id = created(&propose_all(client, via, "session group", setup, 1).await?)?[0];
    let grant = vec![
        Command::AddUsersToGroup {
            group_id,
            user_ids: members.clone(),
        },
        Command::AttachHostAccounts {
            principal: Principal::Group(group_id),
            host_id,
            account_ids: BTreeSet::from([account_id]),
        },
        Command::NodeStarted {
            node_id: SESSION_NODE,
        },
    ];
    let answers = propose_all(client, via, "session grant", grant, 3).await?;
    let Some(Response::NodeEpoch { epoch, .. }) = answers.last() else {
        bail!("registering node {SESSION_NODE}: {answers:?}");
    };
    let epoch = *epoch;
    // Opened and closed a round at a time, so that no more than a round is ever open.
    let round = (args.batch * IN_FLIGHT * 10).max(1);
    let mut recorded = 0;
    while recorded < args.sessions {
        let n = round.min(args.sessions - recorded);
        let opens: Vec<Command> = (0..n)
            .map(|i| Command::OpenSession {
                user_id: members[(recorded + i) % members.len()],
                asset: AssetRef::Host(host_id),
                account_id,
                protocol: Protocol::Ssh,
                node_id: SESSION_NODE,
                node_epoch: epoch,
                client_addr: "192.0.2.1:50000".into(),
            })
            .collect();
        let opened = propose_all(client, via, "session opens", opens, args.batch).await?;
        let closes = opened
            .iter()
            .map(|r| match r {
                Response::SessionOpened(grant) => Ok(Command::CloseSession {
                    session_id: grant.session_id,
                    node_id: SESSION_NODE,
                    node_epoch: epoch,
                    reason: EndReason::Normal,
                    bytes_up: 4096,
                    bytes_down: 65536,
                    events: None,
                }),
                other => bail!("expected SessionOpened, got {other:?}"),
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        propose_all(client, via, "session closes", closes, args.batch).await?;
        recorded += n;
        println!("  sessions: {recorded}/{}", args.sessions);
    }
    took.push(("ended sessions".to_string(), t.elapsed().as_secs_f64()));
    Ok(Filled {
        took,
        host_ids,
        account_ids,
    })
}

/// Latency of `ListUsers`, `ListHosts` and `ListSessions` (100 per page) through every node in
/// turn, pages spread over the whole list.
async fn list_latency(cluster: &Cluster, state: &str, args: &Args) -> anyhow::Result<Vec<ListRow>> {
    let nodes = cluster.api_addrs();
    let mut rows = Vec::new();
    let lists = [
        ("ListUsers", args.users),
        ("ListHosts", args.hosts),
        ("ListSessions", args.sessions),
    ];
    for (action, total) in lists {
        let pages = (total / 100).max(1);
        let mut samples = Vec::new();
        for i in 0..args.list_calls {
            let page = 1 + (i * 7919) % pages;
            let params = [
                ("PageNumber", page.to_string()),
                ("PageSize", "100".to_string()),
            ];
            let t = Instant::now();
            cluster
                .api
                .call(
                    nodes[i % nodes.len()],
                    action,
                    &params,
                    Duration::from_secs(30),
                )
                .await
                .with_context(|| format!("{action} page {page}"))?;
            samples.push(t.elapsed());
        }
        rows.push(ListRow {
            state: state.into(),
            action: action.into(),
            latency: Latency::of(&samples),
        });
    }
    Ok(rows)
}

fn footprint(cluster: &Cluster) -> anyhow::Result<Vec<NodeRow>> {
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    cluster
        .procs
        .nodes
        .iter()
        .filter_map(|n| n.pid().map(|pid| (n, pid)))
        .map(|(n, pid)| {
            Ok(NodeRow {
                node: n.id,
                rss_mib: mib(sys::rss_bytes(pid)?),
                disk_mib: mib(sys::disk_bytes(&n.data_dir)?),
            })
        })
        .collect()
}

/// SIGKILL a follower, start it again from its disk: seconds from the start to `/readyz`.
async fn restart_follower(cluster: &mut Cluster) -> anyhow::Result<f64> {
    let leader = cluster.procs.nodes[0]
        .leader()
        .context("no leader known to node 1")?;
    let follower = (1..=3).find(|id| *id != leader).context("no follower")?;
    println!("restart: node {follower} (leader {leader})");
    cluster.procs.node(follower).kill();
    let started = Instant::now();
    cluster.procs.spawn(follower, &[])?;
    loop {
        if cluster.procs.nodes[follower as usize - 1].ready() {
            return Ok(started.elapsed().as_secs_f64());
        }
        if started.elapsed() > Duration::from_secs(300) {
            bail!("node {follower} not ready 300 s after its start");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How node 4 caught up.
struct Joined {
    seconds: f64,
    last_log_index: u64,
    purged_index: u64,
    snapshot_index: u64,
    /// The leader's latest "snapshot built" log line's fields, node 4's "snapshot installed".
    built: BTreeMap<String, String>,
    installed: BTreeMap<String, String>,
}

/// The `key=value` fields of the last line of the node log at `path` that says `message`.
fn last_logged(path: &std::path::Path, message: &str) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .rev()
        .find(|l| l.contains(message))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|w| w.split_once('='))
                .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// A gauge of the node serving `/metrics` at `addr`.
fn gauge(addr: std::net::SocketAddr, name: &str) -> anyhow::Result<u64> {
    let (code, body) = portunus_tests::http_get(addr, "/metrics")?;
    anyhow::ensure!(code == 200, "/metrics answered {code}");
    let v = portunus_tests::metric_sum(&body, name).with_context(|| format!("no {name}"))?;
    Ok(v as u64)
}

/// Node 4 joins: seconds from its start until the leader has replicated its whole log to it,
/// the leader's last log index and purged index then, and the snapshot node 4 holds.
async fn join_fourth(cluster: &mut Cluster) -> anyhow::Result<Joined> {
    let leader = cluster.procs.nodes[0]
        .leader()
        .context("no leader known to node 1")?;
    let leader_metrics = cluster.procs.nodes[leader as usize - 1].metrics;
    let purged_index = gauge(leader_metrics, "portunus_raft_purged_index")?;
    let via_addr = cluster.procs.nodes[leader as usize - 1].advertise;
    let via = via_addr.to_string();
    println!("join: node 4 through node {leader}");
    let started = Instant::now();
    cluster.procs.spawn_joining(4, &via)?;
    loop {
        let status = {
            let procs = &cluster.procs;
            tokio::task::block_in_place(|| procs.cli_status(via_addr))
        };
        if let Ok(s) = status {
            let last = s["last_log_index"].as_u64().unwrap_or(u64::MAX);
            let caught_up = s["nodes"].as_array().is_some_and(|nodes| {
                nodes
                    .iter()
                    .any(|m| m["id"] == 4 && m["matched_index"].as_u64() >= Some(last))
            });
            if caught_up {
                let seconds = started.elapsed().as_secs_f64();
                let snapshot_index = gauge(
                    cluster.procs.nodes[3].metrics,
                    "portunus_raft_snapshot_index",
                )?;
                let built = last_logged(
                    &cluster.procs.nodes[leader as usize - 1].log,
                    "snapshot built",
                );
                let installed = last_logged(&cluster.procs.nodes[3].log, "snapshot installed");
                return Ok(Joined {
                    seconds,
                    last_log_index: last,
                    purged_index,
                    snapshot_index,
                    built,
                    installed,
                });
            }
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("node 4 not caught up 600 s after its start");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn outcome(args: &Args, r: Report) -> Outcome {
    let mut md = format!(
        "A 3-node cluster of `portunus` processes filled through the cluster transport with \
         {} users, {} hosts with one account each and {} ended sessions ({} commands per log \
         entry, {IN_FLIGHT} entries in flight). Token logins: full SSH logins (key exchange, \
         token, direct-tcpip channel, echo) from {} clients round robin over the nodes, {} s. \
         Lists: {} calls each, 100 per page, pages spread over the list, through each node in \
         turn.\n\n",
        r.users, r.hosts, r.sessions, args.batch, args.clients, args.duration, args.list_calls
    );
    md.push_str("| Filled | Seconds |\n|---|---:|\n");
    for (what, s) in &r.fill_seconds {
        md.push_str(&format!("| {what} | {s:.1} |\n"));
    }
    md.push_str(&format!(
        "\nThe full state's logins began once no node was building a snapshot any more \
         ({:.1} s after the fill: a snapshot of the full state takes seconds of a core on \
         every node, see below).\n",
        r.snapshot_wait_s
    ));
    md.push_str(
        "\n| State | Logins | Failed | Logins/s | p50 ms | p99 ms | Nodes that took a snapshot meanwhile |\n\
         |---|---:|---:|---:|---:|---:|---|\n",
    );
    for (i, l) in r.logins.iter().enumerate() {
        let snapshots = match r.snapshots_during_logins.get(i).map(Vec::as_slice) {
            None | Some([]) => "none".to_owned(),
            Some(nodes) => nodes
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        };
        md.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {snapshots} |\n",
            l.target, l.logins, l.failed, l.per_second, l.latency.p50_ms, l.latency.p99_ms
        ));
    }
    md.push_str(
        "\n| State | Action | Calls | p50 ms | p99 ms | max ms |\n|---|---|---:|---:|---:|---:|\n",
    );
    for l in &r.lists {
        md.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} |\n",
            l.state,
            l.action,
            l.latency.count,
            l.latency.p50_ms,
            l.latency.p99_ms,
            l.latency.max_ms
        ));
    }
    md.push_str("\n| Node | RSS empty MiB | Disk empty MiB | RSS full MiB | Disk full MiB |\n|---:|---:|---:|---:|---:|\n");
    for (e, f) in r.nodes_empty.iter().zip(&r.nodes_full) {
        md.push_str(&format!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
            e.node, e.rss_mib, e.disk_mib, f.rss_mib, f.disk_mib
        ));
    }
    let how = if r.purged_at_join > 0 {
        format!(
            "the leader's log was purged up to entry {}, so it installed a snapshot (it held \
             the one up to entry {} then)",
            r.purged_at_join, r.joined_snapshot_index
        )
    } else {
        "the leader's log was whole, so it was replicated entry by entry".to_string()
    };
    md.push_str(&format!(
        "\nA follower killed and started again from its disk was ready after {:.2} s. A fourth \
         node joining had the leader's whole state (log up to entry {}) after {:.2} s: {how}.\n",
        r.restart_to_ready_s, r.log_entries_at_join, r.join_to_caught_up_s
    ));
    let field = |m: &BTreeMap<String, String>, k: &str| m.get(k).cloned().unwrap_or("?".into());
    if !r.snapshot_built.is_empty() || !r.snapshot_installed.is_empty() {
        md.push_str(&format!(
            "The leader's latest snapshot ({} bytes) took {} ms to copy, {} ms to encode and {} \
             ms to write; node 4 decoded the one it received in {} ms and wrote it in {} ms (the \
             nodes' logs).\n",
            field(&r.snapshot_built, "bytes"),
            field(&r.snapshot_built, "clone_ms"),
            field(&r.snapshot_built, "encode_ms"),
            field(&r.snapshot_built, "write_ms"),
            field(&r.snapshot_installed, "decode_ms"),
            field(&r.snapshot_installed, "write_ms"),
        ));
    }
    let scale = format!(
        "{} users, {} hosts, {} sessions",
        r.users, r.hosts, r.sessions
    );
    let mut goals = vec![
        Goal::new(
            "large-state",
            &format!("node start (SIGKILL, restart to /readyz) <= 5 s ({scale})"),
            format!("{:.2} s", r.restart_to_ready_s),
            r.restart_to_ready_s <= 5.0,
        ),
        Goal::new(
            "large-state",
            &format!("a joining node has the whole state (snapshot install) <= 10 s ({scale})"),
            format!(
                "{:.2} s ({})",
                r.join_to_caught_up_s,
                if r.purged_at_join > 0 {
                    "snapshot installed"
                } else {
                    "no snapshot yet: the log was replicated"
                }
            ),
            r.join_to_caught_up_s <= 10.0 && r.purged_at_join > 0,
        ),
    ];
    for l in r.lists.iter().filter(|l| l.state == "full") {
        let stat = if l.latency.count >= 20 {
            "p99"
        } else {
            "worst"
        };
        let v = if l.latency.count >= 20 {
            l.latency.p99_ms
        } else {
            l.latency.max_ms
        };
        goals.push(Goal::new(
            "large-state",
            &format!("{} {stat} <= 50 ms ({scale})", l.action),
            format!("{stat} {v:.1} ms over {} calls", l.latency.count),
            v <= 50.0,
        ));
    }
    if let [empty, full] = &r.logins[..] {
        let ratio = full.per_second / empty.per_second;
        goals.push(Goal::new(
            "large-state",
            &format!("token login rate within 10% of the empty state's ({scale})"),
            format!(
                "{:.1}/s vs {:.1}/s ({ratio:.2}x, ratio of logins per second), {} failed",
                full.per_second,
                empty.per_second,
                full.failed + empty.failed
            ),
            ratio >= 0.9 && full.failed + empty.failed == 0,
        ));
    }
    Outcome {
        name: "large-state",
        markdown: md,
        json: serde_json::json!({ "report": r }),
        goals,
    }
}
