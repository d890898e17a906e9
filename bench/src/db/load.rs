//! The load generators: `sysbench` (MySQL/MariaDB OLTP scripts) and `pgbench` (PostgreSQL),
//! run as child processes against one endpoint, and their outputs read back: transactions per
//! second and the latency of every transaction (sysbench's histogram, pgbench's per-transaction
//! log), from which the percentiles are computed here.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Serialize;
use tokio::process::Command;

/// Where a load generator connects, and as whom.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub(crate) addr: SocketAddr,
    pub(crate) user: String,
    /// Empty: no password (a tunnel to a hosted account).
    pub(crate) password: String,
    pub(crate) database: String,
}

/// The workloads measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Workload {
    /// sysbench `oltp_read_only` (MySQL/MariaDB).
    OltpReadOnly,
    /// sysbench `oltp_read_write`.
    OltpReadWrite,
    /// `pgbench -S` (select only).
    PgbenchSelect,
    /// `pgbench` (TPC-B-like).
    PgbenchTpcb,
}

impl Workload {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::OltpReadOnly => "sysbench oltp_read_only",
            Self::OltpReadWrite => "sysbench oltp_read_write",
            Self::PgbenchSelect => "pgbench -S",
            Self::PgbenchTpcb => "pgbench (TPC-B-like)",
        }
    }
}

/// The sysbench data set: tables and rows per table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SysbenchData {
    pub(crate) tables: u32,
    pub(crate) table_size: u32,
}

/// What one run measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Run {
    pub transactions: u64,
    pub tps: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// Transactions that failed (pgbench) or errors sysbench ignored.
    pub errors: u64,
}

/// Runs a sysbench OLTP script against `at` (`prepare` = create and load the tables instead).
pub(crate) async fn sysbench(
    workload: Workload,
    at: &Endpoint,
    data: SysbenchData,
    clients: usize,
    duration: Duration,
    cpus: Option<&str>,
) -> anyhow::Result<Run> {
    let script = match workload {
        Workload::OltpReadOnly => "oltp_read_only",
        Workload::OltpReadWrite => "oltp_read_write",
        _ => bail!("{} is not a sysbench workload", workload.name()),
    };
    let out = sysbench_cmd(script, at, data, cpus)
        .arg(format!("--threads={clients}"))
        .arg(format!("--time={}", duration.as_secs().max(1)))
        .args(["--histogram=on", "--report-interval=0", "run"])
        .output()
        .await
        .context("run sysbench (Debian package sysbench)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "sysbench {script} via {} failed: {}{}",
            at.addr,
            tail(&text),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    parse_sysbench(&text).with_context(|| format!("sysbench said: {}", tail(&text)))
}

/// Creates and loads sysbench's tables through `at`.
pub(crate) async fn sysbench_prepare(at: &Endpoint, data: SysbenchData) -> anyhow::Result<()> {
    let out = sysbench_cmd("oltp_read_write", at, data, None)
        .args(["--threads=4", "prepare"])
        .output()
        .await
        .context("run sysbench (Debian package sysbench)")?;
    if !out.status.success() {
        bail!(
            "sysbench prepare: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// `program`, confined to `cpus` (a `taskset` list) when given.
fn command(program: &str, cpus: Option<&str>) -> Command {
    match cpus {
        Some(cpus) => {
            let mut cmd = Command::new("taskset");
            cmd.args(["-c", cpus, program]);
            cmd
        }
        None => Command::new(program),
    }
}

fn sysbench_cmd(script: &str, at: &Endpoint, data: SysbenchData, cpus: Option<&str>) -> Command {
    let mut cmd = command("sysbench", cpus);
    cmd.arg(script)
        .args(["--db-driver=mysql", "--mysql-host=127.0.0.1"])
        .arg(format!("--mysql-port={}", at.addr.port()))
        .arg(format!("--mysql-user={}", at.user))
        .arg(format!("--mysql-password={}", at.password))
        .arg(format!("--mysql-db={}", at.database))
        .arg(format!("--tables={}", data.tables))
        .arg(format!("--table-size={}", data.table_size))
        .kill_on_drop(true);
    cmd
}

/// Transactions, rate and latency percentiles from sysbench's report with `--histogram=on`.
pub(crate) fn parse_sysbench(text: &str) -> anyhow::Result<Run> {
    let mut run = Run::default();
    let mut histogram: Vec<(f64, u64)> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("transactions:") {
            let mut words = rest.split_whitespace();
            run.transactions = words.next().context("transactions")?.parse()?;
            let rate = words.next().context("rate")?.trim_start_matches('(');
            run.tps = rate.parse()?;
        } else if let Some(rest) = t.strip_prefix("ignored errors:") {
            run.errors = rest.split_whitespace().next().unwrap_or("0").parse()?;
        } else if let Some((value, bar)) = t.split_once('|') {
            let count = bar.trim_start_matches('*').trim();
            if let (Ok(v), Ok(c)) = (value.trim().parse::<f64>(), count.parse::<u64>()) {
                histogram.push((v, c));
            }
        }
    }
    if run.transactions == 0 || histogram.is_empty() {
        bail!("no transactions or no latency histogram in sysbench's report");
    }
    let (p50, p95, p99) = percentiles(&mut histogram);
    (run.p50_ms, run.p95_ms, run.p99_ms) = (p50, p95, p99);
    Ok(run)
}

/// p50, p95 and p99 of a (value, count) histogram.
fn percentiles(histogram: &mut [(f64, u64)]) -> (f64, f64, f64) {
    histogram.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: u64 = histogram.iter().map(|h| h.1).sum();
    let at = |q: f64| {
        let rank = ((total as f64 * q).ceil() as u64).clamp(1, total.max(1));
        let mut seen = 0;
        for (v, c) in histogram.iter() {
            seen += c;
            if seen >= rank {
                return *v;
            }
        }
        histogram.last().map_or(0.0, |h| h.0)
    };
    (at(0.50), at(0.95), at(0.99))
}

/// Runs pgbench (`-S` or TPC-B-like) against `at`, logging every transaction into `logs`.
pub(crate) async fn pgbench(
    workload: Workload,
    at: &Endpoint,
    clients: usize,
    duration: Duration,
    logs: &Path,
    cpus: Option<&str>,
) -> anyhow::Result<Run> {
    let select_only = match workload {
        Workload::PgbenchSelect => true,
        Workload::PgbenchTpcb => false,
        _ => bail!("{} is not a pgbench workload", workload.name()),
    };
    let dir = tempfile::tempdir_in(logs)?;
    let prefix = dir.path().join("tx");
    let mut cmd = pgbench_cmd(at, cpus);
    if select_only {
        cmd.arg("-S");
    }
    let out = cmd
        .args(["-n", "-c", &clients.to_string()])
        .args(["-j", &clients.clamp(1, 2).to_string()])
        .args(["-T", &duration.as_secs().max(1).to_string(), "-l"])
        .arg(format!("--log-prefix={}", prefix.display()))
        .arg(&at.database)
        .output()
        .await
        .context("run pgbench (Debian package postgresql-client-15)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "pgbench via {} failed: {}{}",
            at.addr,
            tail(&text),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut run = parse_pgbench(&text).with_context(|| format!("pgbench said: {}", tail(&text)))?;
    let mut latencies = Vec::new();
    for entry in std::fs::read_dir(dir.path())? {
        let log = std::fs::read_to_string(entry?.path())?;
        latencies.extend(log.lines().filter_map(pgbench_latency_us));
    }
    if latencies.is_empty() {
        bail!("pgbench logged no transaction");
    }
    let mut histogram: Vec<(f64, u64)> = latencies.iter().map(|us| (us / 1e3, 1)).collect();
    (run.p50_ms, run.p95_ms, run.p99_ms) = percentiles(&mut histogram);
    Ok(run)
}

/// `pgbench -i -s scale` through `at` (tables created and loaded, then vacuumed).
pub(crate) async fn pgbench_init(at: &Endpoint, scale: u32) -> anyhow::Result<()> {
    let out = pgbench_cmd(at, None)
        .args(["-i", "-q", "-s", &scale.to_string()])
        .arg(&at.database)
        .output()
        .await
        .context("run pgbench (Debian package postgresql-client-15)")?;
    if !out.status.success() {
        bail!("pgbench -i: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

fn pgbench_cmd(at: &Endpoint, cpus: Option<&str>) -> Command {
    let mut cmd = command("pgbench", cpus);
    cmd.args(["-h", "127.0.0.1", "-p", &at.addr.port().to_string()])
        .args(["-U", &at.user])
        .env("PGSSLMODE", "disable")
        .env_remove("PGPASSWORD")
        .kill_on_drop(true);
    if !at.password.is_empty() {
        cmd.env("PGPASSWORD", &at.password);
    }
    cmd
}

/// Transactions, rate and failures from pgbench's summary.
pub(crate) fn parse_pgbench(text: &str) -> anyhow::Result<Run> {
    let mut run = Run::default();
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("number of transactions actually processed:") {
            run.transactions = rest.split_whitespace().next().context("count")?.parse()?;
        } else if let Some(rest) = t.strip_prefix("number of failed transactions:") {
            run.errors = rest.split_whitespace().next().context("count")?.parse()?;
        } else if let Some(rest) = t.strip_prefix("tps = ") {
            run.tps = rest.split_whitespace().next().context("tps")?.parse()?;
        }
    }
    if run.transactions == 0 || run.tps == 0.0 {
        bail!("no transactions in pgbench's report");
    }
    Ok(run)
}

/// The latency (µs) of one line of pgbench's per-transaction log:
/// `client_id transaction_no time script_no time_epoch time_us` (time = latency in µs).
fn pgbench_latency_us(line: &str) -> Option<f64> {
    line.split_whitespace().nth(2)?.parse().ok()
}

/// The last lines of a tool's output, for error messages.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysbench_report_gives_rate_and_percentiles() {
        let text = "Latency histogram (values are in milliseconds)\n\
            \x20      value  ------------- distribution ------------- count\n\
            \x20      1.000 |****                                     10\n\
            \x20      2.000 |***************                          80\n\
            \x20      9.000 |*                                        10\n\
            \n SQL statistics:\n\
            \x20   transactions:                        100    (20.00 per sec.)\n\
            \x20   ignored errors:                      2      (0.40 per sec.)\n";
        let run = parse_sysbench(text).unwrap();
        assert_eq!(run.transactions, 100);
        assert_eq!(run.tps, 20.0);
        assert_eq!(run.errors, 2);
        assert_eq!((run.p50_ms, run.p95_ms, run.p99_ms), (2.0, 9.0, 9.0));
    }

    #[test]
    fn pgbench_summary_and_log_lines() {
        let text = "number of transactions actually processed: 4242\n\
            number of failed transactions: 0 (0.000%)\n\
            latency average = 0.235 ms\n\
            tps = 4240.123456 (without initial connection time)\n";
        let run = parse_pgbench(text).unwrap();
        assert_eq!((run.transactions, run.errors), (4242, 0));
        assert!((run.tps - 4240.123456).abs() < 1e-9);
        assert_eq!(
            pgbench_latency_us("0 199 2241 0 1175850568 995598"),
            Some(2241.0)
        );
    }
}
