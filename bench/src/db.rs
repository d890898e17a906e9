//! The `db` benchmark (issue 13, "Data path and speed"): the database gateway beside its peers
//! in one run. sysbench `oltp_read_only`/`oltp_read_write` against MariaDB and `pgbench -S` /
//! TPC-B-like against PostgreSQL 15, each directly, through the node's native port, through
//! `ssh -L` via the node and through HAProxy in TCP mode, at 1 and 16 clients; a large result
//! set through the native port and HAProxy with CPU seconds per GiB; the node's memory per idle
//! database session.

mod bulk;
mod idle;
mod load;
mod mysql;
mod oltp;
mod pg;
mod report;
mod setup;

use std::path::PathBuf;
use std::time::Duration;

use portunus_proxy::testing::openssh::Askpass;

use crate::portunus::{Cluster, DbAsset};
use crate::suite::Outcome;
use crate::sys;

pub use oltp::Placement;
pub use report::Report;
pub use setup::Engine;

/// Options of `portunus-bench db`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Seconds each sysbench or pgbench run lasts.
    #[arg(long, default_value_t = 5)]
    pub duration: u64,
    /// Client counts (sysbench threads, pgbench clients).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16])]
    pub clients: Vec<usize>,
    /// Rounds of every path per point; the table shows the median.
    #[arg(long, default_value_t = 1)]
    pub trials: usize,
    /// Where the processes run during the transaction runs: `shared` (every process on every
    /// core) and `split` (databases and load generators on half the cores, the node and HAProxy
    /// on the other half, as a bastion on its own machine).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Placement::Shared, Placement::Split])]
    pub placements: Vec<Placement>,
    /// Databases to measure.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Engine::Mysql, Engine::Postgres])]
    pub engines: Vec<Engine>,
    /// sysbench tables.
    #[arg(long, default_value_t = 8)]
    pub tables: u32,
    /// sysbench rows per table.
    #[arg(long, default_value_t = 10_000)]
    pub table_size: u32,
    /// pgbench scale factor (100,000 accounts each).
    #[arg(long, default_value_t = 16)]
    pub pg_scale: u32,
    /// GiB the large result set answers (0: skip it).
    #[arg(long, default_value_t = 1.0)]
    pub bulk_gib: f64,
    /// Characters per row of the large result set.
    #[arg(long, default_value_t = 1000)]
    pub bulk_row_bytes: usize,
    /// Idle sessions opened per path for the memory measure (0: skip it).
    #[arg(long, default_value_t = 500)]
    pub idle_sessions: usize,
    /// Cipher of the `ssh -L` client (default: the OpenSSH client's first choice).
    #[arg(long)]
    pub cipher: Option<String>,
    /// Directory for db.json and db.md.
    #[arg(long, default_value = "bench/results")]
    pub out: PathBuf,
}

/// Runs the benchmark.
pub async fn run(args: &Args) -> anyhow::Result<Outcome> {
    let logs = tempfile::tempdir()?;
    let sysbench = load::SysbenchData {
        tables: args.tables,
        table_size: args.table_size,
    };
    let mariadb = setup::mariadb(args.idle_sessions + 200).await?;
    let postgres = if args.engines.contains(&Engine::Postgres) {
        Some(setup::postgres().await?)
    } else {
        None
    };
    println!("preparing the data sets");
    load::sysbench_prepare(&setup::direct(mariadb.port), sysbench).await?;
    if let Some(pg) = &postgres {
        load::pgbench_init(&setup::direct(pg.port), args.pg_scale).await?;
    }
    let mut cluster = Cluster::start(1).await?;
    let node_pid = cluster.pid(1)?;
    let askpass = Askpass::new();
    let cipher = args.cipher.as_deref();
    let halves = sys::cpu_halves();
    let mut rows = Vec::new();
    let mut bulk_queries = Vec::new();
    let mut bulk = Vec::new();
    for engine in &args.engines {
        let port = match engine {
            Engine::Mysql => mariadb.port,
            Engine::Postgres => postgres.as_ref().map_or(0, |p| p.port),
        };
        let legs = setup::legs(*engine, port, &mut cluster, &askpass, cipher).await?;
        let server = match engine {
            Engine::Mysql => mariadb.pid(),
            Engine::Postgres => postgres.as_ref().and_then(|p| p.pid()),
        };
        let servers = [server, legs.ssh_pid()];
        let middles = [Some(node_pid), legs.haproxy_pid];
        for &placement in &args.placements {
            let client_cpus = match (placement, &halves) {
                (Placement::Shared, _) => None,
                (Placement::Split, Some((_, low, high))) => {
                    confine(&servers, low)?;
                    confine(&middles, high)?;
                    Some(low.clone())
                }
                (Placement::Split, None) => {
                    println!("the split placement needs two CPUs or more: not measured");
                    continue;
                }
            };
            let plan = oltp::Plan {
                duration: Duration::from_secs(args.duration),
                clients: &args.clients,
                trials: args.trials,
                sysbench,
                logs: logs.path(),
                placement,
                client_cpus,
            };
            rows.extend(oltp::run(&legs, node_pid, &plan).await);
            if let Some((all, _, _)) = &halves {
                confine(&servers, all)?;
                confine(&middles, all)?;
            }
        }
        if args.bulk_gib > 0.0 {
            let sql = bulk::query(*engine, args.bulk_gib, args.bulk_row_bytes);
            // A second node, set to splice answers instead of copying them, beside the first.
            let splice = [("PORTUNUS_DATABASE_SPLICE", "true")];
            let mut splicing = Cluster::start_with_env(1, &splice).await?;
            let (splice_native, _) = setup::native(*engine, port, &mut splicing).await?;
            let measured = bulk::run(
                *engine,
                &legs.direct,
                (&legs.native, node_pid),
                (&splice_native, splicing.pid(1)?),
                &sql,
                args.trials,
            );
            bulk.extend(measured.await?);
            drop(splicing);
            bulk_queries.push((*engine, sql));
        }
    }
    drop(cluster);
    let idle = if args.idle_sessions > 0 {
        idle_sessions(mariadb.port, args.idle_sessions, &askpass, cipher).await?
    } else {
        Vec::new()
    };
    let setup = format!(
        "MariaDB 10.11 with sysbench 1.0.20 ({} tables of {} rows), PostgreSQL 15 with pgbench \
         (scale {}), HAProxy 2.6, OpenSSH 9.2 client",
        args.tables, args.table_size, args.pg_scale
    );
    let report = Report {
        duration_s: args.duration,
        trials: args.trials.max(1),
        setup,
        rows,
        bulk_queries,
        bulk,
        idle,
    };
    Ok(report.outcome())
}

/// Confines each of `pids` (those known) with its threads and children to `cpus`.
fn confine(pids: &[Option<u32>], cpus: &str) -> anyhow::Result<()> {
    for pid in pids.iter().flatten() {
        sys::confine(*pid, cpus)?;
    }
    Ok(())
}

/// Idle sessions through the native port, then through one `ssh -L` tunnel, each on a freshly
/// started node (so that neither reuses heap the other freed).
async fn idle_sessions(
    port: u16,
    n: usize,
    askpass: &Askpass,
    cipher: Option<&str>,
) -> anyhow::Result<Vec<idle::IdleRow>> {
    let asset = DbAsset {
        engine: "MySQL",
        port,
        account: setup::ACCOUNT,
        password: setup::PASSWORD,
        schema: Some(setup::DATABASE),
    };
    let mut rows = Vec::new();
    {
        let mut cluster = Cluster::start(1).await?;
        let token = cluster.database_token(&asset).await?;
        let at = load::Endpoint {
            addr: cluster.procs.nodes[0].mysql,
            user: token.user.clone(),
            password: token.token.clone(),
            database: setup::DATABASE.into(),
        };
        rows.push(idle::measure("Portunus native port", cluster.pid(1)?, &at, n).await?);
    }
    let mut cluster = Cluster::start(1).await?;
    let token = cluster.database_token(&asset).await?;
    let ssh = cluster.procs.nodes[0].ssh;
    let (_child, local) = setup::tunnel(ssh, &token, port, askpass, cipher).await?;
    let at = load::Endpoint {
        addr: local,
        password: String::new(),
        ..setup::direct(port)
    };
    rows.push(idle::measure("ssh -L via Portunus (one tunnel)", cluster.pid(1)?, &at, n).await?);
    Ok(rows)
}
