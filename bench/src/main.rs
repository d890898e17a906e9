//! `portunus-bench`: runs one benchmark (or all of them), prints its table and writes JSON +
//! Markdown results.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use portunus_bench::{
    apiwrites, db, failover, forward, largestate, logins, memory, suite, tunnel, webpages, writes,
};

#[derive(Debug, Parser)]
#[command(name = "portunus-bench", about = "Portunus benchmark harness")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Plain-TCP forwarding throughput and CPU cost: raw, copy relay, splice relay, HAProxy.
    Forward(forward::Args),
    /// iperf3 through `ssh -N -L`: one Portunus node vs stock sshd vs raw loopback.
    Tunnel(tunnel::Args),
    /// Full SSH logins per second by credential kind: 1, 3 and 5 nodes vs sshd.
    Logins(logins::Args),
    /// Replicated token issue/spend per second and latency at 1/16/256 clients; disk fsync.
    Writes(writes::Args),
    /// Signed API writes on 3 `portunus` processes vs etcd 3.4 puts on 3 `etcd` processes.
    ApiWrites(apiwrites::Args),
    /// SIGKILL the leader under load: recovery time, failed spends, dropped sessions, reclaim.
    Failover(failover::Args),
    /// Node RSS per idle tunnel and per active shell session at 1/100/1000 sessions.
    Memory(memory::Args),
    /// The database gateway: sysbench and pgbench direct / native port / ssh -L / HAProxy,
    /// a large result set's CPU per GiB, memory per idle session.
    Db(db::Args),
    /// A cluster holding 100,000 users, 100,000 hosts and 1,000,000 ended sessions: node
    /// start, a joining node's catch-up, list latency, login rate against the empty state.
    LargeState(largestate::Args),
    /// The console's views and the O&M portal drawn in headless Chromium with 10,000 hosts
    /// and 10,000 sessions in the state.
    WebPages(webpages::Args),
    /// Every benchmark with short settings; writes results/all.{json,md} as well.
    All(AllArgs),
    /// Rebuilds results/all.{json,md} from the latest results/<bench>.{json,md} of each bench.
    Collect(CollectArgs),
}

#[derive(Debug, Clone, clap::Args)]
struct CollectArgs {
    /// Directory of the results.
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
}

#[derive(Debug, Clone, clap::Args)]
struct AllArgs {
    /// Seconds per measured point where a benchmark takes a duration.
    #[arg(long, default_value_t = 5)]
    duration: u64,
    /// Failover trials.
    #[arg(long, default_value_t = 5)]
    trials: usize,
    /// Directory for the results.
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
}

async fn run(command: Command) -> anyhow::Result<()> {
    let outcome = match command {
        Command::Forward(a) => {
            let report = forward::run(&a).await?;
            (portunus_bench::forward_outcome(&report), a.out)
        }
        Command::Tunnel(a) => (tunnel::run(&a).await?, a.out),
        Command::Logins(a) => (logins::run(&a).await?, a.out),
        Command::Writes(a) => (writes::run(&a).await?, a.out),
        Command::ApiWrites(a) => (apiwrites::run(&a).await?, a.out),
        Command::Failover(a) => (failover::run(&a).await?, a.out),
        Command::Memory(a) => (memory::run(&a).await?, a.out),
        Command::Db(a) => (db::run(&a).await?, a.out),
        Command::LargeState(a) => (largestate::run(&a).await?, a.out),
        Command::WebPages(a) => (webpages::run(&a).await?, a.out),
        Command::All(a) => return all(a).await,
        Command::Collect(a) => return suite::collect(&a.out),
    };
    suite::write(&outcome.1, &outcome.0)
}

async fn all(a: AllArgs) -> anyhow::Result<()> {
    let out = a.out.clone();
    let d = a.duration;
    let mut outcomes = Vec::new();
    let mut failures = Vec::new();
    let mut keep = |name: &str, r: anyhow::Result<suite::Outcome>| match r {
        Ok(o) => {
            if let Err(e) = suite::write(&out, &o) {
                failures.push((name.to_owned(), format!("{e:#}")));
            }
            outcomes.push(o);
        }
        Err(e) => {
            eprintln!("{name} failed: {e:#}");
            failures.push((name.to_owned(), format!("{e:#}")));
        }
    };
    let fwd = forward::Args {
        duration: d,
        streams: 1,
        out: out.clone(),
    };
    keep(
        "forward",
        forward::run(&fwd)
            .await
            .map(|r| portunus_bench::forward_outcome(&r)),
    );
    let t = tunnel::Args {
        duration: d,
        sessions: 4,
        trials: 5,
        ciphers: tunnel::CIPHERS.map(String::from).to_vec(),
        out: out.clone(),
        node_env: Vec::new(),
    };
    keep("tunnel", tunnel::run(&t).await);
    let l = logins::Args {
        duration: d,
        clients: 8,
        nodes: vec![1, 3, 5],
        out: out.clone(),
    };
    keep("logins", logins::run(&l).await);
    let w = writes::Args {
        duration: d.min(4),
        clients: vec![1, 16, 256],
        out: out.clone(),
    };
    keep("writes", writes::run(&w).await);
    let aw = apiwrites::Args {
        duration: d,
        clients: vec![16, 64, 256],
        out: out.clone(),
        node_env: Vec::new(),
    };
    keep("api-writes", apiwrites::run(&aw).await);
    let f = failover::Args {
        // Its p99 goal needs at least 20 leader kills.
        trials: a.trials.max(20),
        sessions: 2,
        clients: 4,
        nodes: 3,
        out: out.clone(),
    };
    keep("failover", failover::run(&f).await);
    let f5 = failover::Args { nodes: 5, ..f };
    keep("failover-5", failover::run(&f5).await);
    let m = memory::Args {
        sessions: vec![1, 100, 1000],
        shell_max: 1000,
        footprint_writes: 20000,
        out: out.clone(),
    };
    keep("memory", memory::run(&m).await);
    let db = db::Args {
        duration: d,
        clients: vec![1, 16],
        trials: 1,
        placements: vec![db::Placement::Shared, db::Placement::Split],
        engines: vec![db::Engine::Mysql, db::Engine::Postgres],
        tables: 8,
        table_size: 10_000,
        pg_scale: 16,
        bulk_gib: 1.0,
        bulk_row_bytes: 1000,
        idle_sessions: 500,
        cipher: None,
        out: out.clone(),
    };
    keep("db", db::run(&db).await);
    let ls = largestate::Args {
        users: 100_000,
        hosts: 100_000,
        sessions: 1_000_000,
        batch: 100,
        duration: d,
        clients: 8,
        list_calls: 100,
        out: out.clone(),
    };
    keep("large-state", largestate::run(&ls).await);
    let wp = webpages::Args {
        users: 10_000,
        hosts: 10_000,
        sessions: 10_000,
        loads: 10,
        out: out.clone(),
    };
    keep("web-pages", webpages::run(&wp).await);
    suite::write_all(&a.out, &outcomes, &failures)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(cli.command))
}
