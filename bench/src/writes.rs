//! The `writes` benchmark: replicated token issue and spend on a three-node cluster, measured at
//! the Replica level in-process (`portunus_node::testing::three_nodes`: real RocksDB with fsync,
//! real QUIC between the nodes, no API or SSH in front). Client `i` proposes through node
//! `i % 3`, so two thirds of the commands are forwarded by a follower to the leader. Issue
//! phase: `IssueToken` (one use each); spend phase: `SpendToken` of those tokens. The disk's
//! write + fdatasync latency is measured first, in the same directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use portunus_model::{AssetRef, Command, NewToken, Protocol, Response, TokenAccount};
use portunus_node::testing::{authorized_host_account, three_nodes};
use portunus_node::RunningNode;
use serde::Serialize;

use crate::stats::Latency;
use crate::suite::{Goal, Outcome};

/// Options of `portunus-bench writes`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Seconds each (operation, clients) point lasts.
    #[arg(long, default_value_t = 4)]
    pub duration: u64,
    /// Concurrent clients, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 16, 256])]
    pub clients: Vec<usize>,
    /// Directory for writes.json, writes.md and writes.png.
    #[arg(long, default_value = "bench/results")]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub op: String,
    pub clients: usize,
    pub ok: usize,
    pub failed: usize,
    pub per_second: f64,
    pub latency: Latency,
}

/// Runs the benchmark.
pub async fn run(args: &Args) -> anyhow::Result<Outcome> {
    let dir = tempfile::tempdir()?;
    let fsync = fsync_latency(dir.path(), 1000, Duration::from_secs(3))?;
    let (nodes, _) = three_nodes(dir.path()).await;
    let nodes = Arc::new(nodes);
    let target = Arc::new(setup(&nodes[0]).await?);
    let counter = Arc::new(AtomicUsize::new(0));
    let mut rows = Vec::new();
    for &clients in &args.clients {
        let first = counter.load(Ordering::SeqCst);
        let (c, t) = (Arc::clone(&counter), Arc::clone(&target));
        let issue_next: Next = Arc::new(move |_| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            Some(Command::IssueToken(token(&t, n)))
        });
        let issue = phase(&nodes, clients, args.duration, issue_next).await;
        let issued = counter.load(Ordering::SeqCst);
        let next = Arc::new(AtomicUsize::new(first));
        let spend_next: Next = Arc::new(move |node| {
            let n = next.fetch_add(1, Ordering::SeqCst);
            (n < issued).then(|| spend(node, n))
        });
        let spend = phase(&nodes, clients, args.duration, spend_next).await;
        rows.push(Row {
            op: "issue".into(),
            clients,
            ..issue
        });
        rows.push(Row {
            op: "spend".into(),
            clients,
            ..spend
        });
    }
    if let Ok(nodes) = Arc::try_unwrap(nodes) {
        for n in nodes {
            n.stop().await;
        }
    }
    std::fs::create_dir_all(&args.out)?;
    let png = args.out.join("writes.png");
    let series: Vec<crate::plot::Series> = ["issue", "spend"]
        .iter()
        .map(|op| crate::plot::Series {
            name: (*op).to_string(),
            points: rows
                .iter()
                .filter(|r| r.op == *op && r.latency.count > 0)
                .map(|r| (r.clients, r.latency))
                .collect(),
        })
        .collect();
    let title = "Replicated writes: latency vs concurrent clients";
    let plotted = crate::plot::latency_vs_clients(&png, title, &series).is_ok();
    Ok(outcome(args, rows, fsync, plotted))
}

/// What a client proposes next, given its node (None: nothing left).
type Next = Arc<dyn Fn(&RunningNode) -> Option<Command> + Send + Sync>;

struct Target {
    user_id: u64,
    host_id: u64,
    account_id: u64,
}

async fn setup(node: &RunningNode) -> anyhow::Result<Target> {
    let (user_id, host_id, account_id) =
        authorized_host_account(node, "bench-writer", "bench-host", "127.0.0.1").await;
    Ok(Target {
        user_id,
        host_id,
        account_id,
    })
}

fn hash(n: usize) -> [u8; 32] {
    let mut h = [0xb5u8; 32];
    h[..8].copy_from_slice(&(n as u64).to_le_bytes());
    h
}

fn token(t: &Target, n: usize) -> NewToken {
    NewToken {
        database_schema: None,
        mysql_native: None,
        pg_scram: None,
        issued_by: None,
        token_hash: hash(n),
        user_id: t.user_id,
        asset: AssetRef::Host(t.host_id),
        account: TokenAccount::Hosted(t.account_id),
        protocol: Protocol::Ssh,
        validity_secs: Some(3600),
        use_count: Some(1),
    }
}

fn spend(node: &RunningNode, n: usize) -> Command {
    Command::SpendToken {
        token_hash: hash(n),
        node_id: node.config.node_id,
        node_epoch: node.epoch(),
        client_addr: "127.0.0.1:40000".into(),
        protocol: None,
    }
}

/// `clients` tasks proposing `next(node, i)` through node `i % 3` (its batcher, if any) until
/// `secs` pass or `next` has nothing more to propose.
async fn phase(nodes: &Arc<Vec<RunningNode>>, clients: usize, secs: u64, next: Next) -> Row {
    let end = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..clients {
        let (nodes, next) = (Arc::clone(nodes), Arc::clone(&next));
        set.spawn(async move {
            let node = &nodes[i % nodes.len()];
            let (mut ok, mut failed) = (Vec::new(), 0usize);
            while Instant::now() < end {
                let Some(cmd) = next(node) else { break };
                let t = Instant::now();
                let answer = node.replica.propose(cmd).await;
                match answer {
                    Ok(Response::TokenIssued(_) | Response::SessionOpened(_)) => {
                        ok.push(t.elapsed())
                    }
                    _ => failed += 1,
                }
            }
            (ok, failed)
        });
    }
    let (mut all, mut failed) = (Vec::new(), 0);
    while let Some(Ok((ok, f))) = set.join_next().await {
        all.extend(ok);
        failed += f;
    }
    let secs = started.elapsed().as_secs_f64();
    Row {
        op: String::new(),
        clients,
        ok: all.len(),
        failed,
        per_second: all.len() as f64 / secs,
        latency: Latency::of(&all),
    }
}

/// Latency of a 4 KiB write followed by fdatasync, in a file under `dir`.
pub(crate) fn fsync_latency(dir: &Path, max: usize, within: Duration) -> anyhow::Result<Latency> {
    let mut f = std::fs::File::create(dir.join("fsync-probe"))?;
    let block = [0x5au8; 4096];
    let (mut samples, end) = (Vec::new(), Instant::now() + within);
    while samples.len() < max && Instant::now() < end {
        let t = Instant::now();
        f.write_all(&block)?;
        f.sync_data()?;
        samples.push(t.elapsed());
    }
    Ok(Latency::of(&samples))
}

fn outcome(args: &Args, rows: Vec<Row>, fsync: Latency, plotted: bool) -> Outcome {
    let mut md = format!(
        "Replicated writes on a 3-node in-process cluster ({}, RocksDB + fsync, \
         QUIC on loopback), client i through node i % 3, {} s per point. Disk: 4 KiB write + \
         fdatasync p50 {:.3} ms, p99 {:.3} ms ({} samples, same run, same directory).\n\n\
         | Op | Clients | OK | Failed | Ops/s | p50 ms | p99 ms |\n|---|---:|---:|---:|---:|---:|---:|\n",
        "Replica::propose, which folds the commands waiting on a node into one log entry",
        args.duration,
        fsync.p50_ms,
        fsync.p99_ms,
        fsync.count
    );
    for r in &rows {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {:.0} | {:.2} | {:.2} |\n",
            r.op, r.clients, r.ok, r.failed, r.per_second, r.latency.p50_ms, r.latency.p99_ms
        ));
    }
    if plotted {
        md.push_str("\n![latency vs clients](writes.png)\n");
    }
    let failed: usize = rows.iter().map(|r| r.failed).sum();
    let goals = vec![Goal::new(
        "writes",
        "no failed replicated writes under load",
        format!("{failed} failed"),
        failed == 0,
    )];
    Outcome {
        name: "writes",
        markdown: md,
        json: serde_json::json!({ "fsync": fsync, "rows": rows }),
        goals,
    }
}
