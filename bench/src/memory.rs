//! The `memory` benchmark: resident memory of one `portunus` node process per session, with 1,
//! 100 and 1,000 sessions open at once, opened by russh clients in this process. Idle tunnel:
//! an O&M-token login with one direct-tcpip channel to an echo server, silent after one echo.
//! Active shell: an O&M-token login to a host (a stock sshd here, hosted password account) with
//! a pty and a shell that is sent `echo` once a second and drained. Per session = (RSS with the
//! sessions open - RSS just before opening them) / sessions.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use russh::ChannelMsg;
use serde::Serialize;

use crate::portunus::{Cluster, Token};
use crate::sshd::{self, Sshd};
use crate::suite::{Goal, Outcome};
use crate::{sshc, sys};

/// Options of `portunus-bench memory`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Session counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 100, 1000])]
    pub sessions: Vec<usize>,
    /// Largest count measured for active shell sessions (each also costs a sshd process).
    #[arg(long, default_value_t = 1000)]
    pub shell_max: usize,
    /// Writes made through the engines of the two-engines-plus-witness cluster before its
    /// footprint is measured a second time (0: skip the footprint part).
    #[arg(long, default_value_t = 20000)]
    pub footprint_writes: usize,
    /// Directory for memory.json and memory.md.
    #[arg(long, default_value = "bench/results")]
    pub out: PathBuf,
}

/// Resident memory and data-dir size of one member of a two-engines-plus-witness cluster.
#[derive(Debug, Clone, Serialize)]
pub struct Footprint {
    pub node: u64,
    pub kind: String,
    pub rss_idle_mib: f64,
    pub disk_idle_mib: f64,
    pub rss_loaded_mib: f64,
    pub disk_loaded_mib: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub kind: String,
    pub sessions: usize,
    pub opened: usize,
    pub rss_before_mib: f64,
    pub rss_with_mib: f64,
    pub kib_per_session: f64,
    /// Why sessions did not open: "<count> x <error>", one entry per distinct error.
    pub failures: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tunnel,
    Shell,
}

/// Runs the benchmark.
pub async fn run(args: &Args) -> anyhow::Result<Outcome> {
    let echo = sys::echo_server().await?;
    let sshd = Sshd::start().await?;
    let mut cluster = Cluster::start(1).await?;
    let tunnel = cluster.db_token(echo.port()).await?;
    let shell = cluster
        .host_token(sshd.addr.port(), sshd::USER, sshd::PASSWORD)
        .await?;
    let pid = cluster.pid(1)?;
    let node = cluster.ssh_addrs()[0];
    let mut rows = Vec::new();
    for (kind, token, name) in [
        (Kind::Tunnel, &tunnel, "idle tunnel"),
        (Kind::Shell, &shell, "active shell"),
    ] {
        for &n in &args.sessions {
            if kind == Kind::Shell && n > args.shell_max {
                continue;
            }
            rows.push(level(kind, name, n, node, token, echo, pid).await?);
        }
    }
    drop(cluster);
    let footprint = if args.footprint_writes > 0 {
        footprint(args.footprint_writes).await?
    } else {
        Vec::new()
    };
    Ok(outcome(rows, footprint, args.footprint_writes))
}

/// Two engines and a witness: every member's RSS and data-dir size (allocated blocks) when idle
/// after start-up, then after `writes` replicated writes (user groups created through the two
/// engines, 16 at a time).
async fn footprint(writes: usize) -> anyhow::Result<Vec<Footprint>> {
    let cluster = Cluster::start_with_witness().await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = members(&cluster)?;
    let apis = cluster.api_addrs();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for client in 0..16 {
        let (api, next, node) = (cluster.api.clone(), next.clone(), apis[client % apis.len()]);
        tasks.push(tokio::spawn(async move {
            let mut failed = 0usize;
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= writes {
                    return failed;
                }
                let params = [("UserGroupName", format!("footprint-{n}"))];
                let r = api
                    .call(node, "CreateUserGroup", &params, Duration::from_secs(10))
                    .await;
                failed += usize::from(r.is_err());
            }
        }));
    }
    let mut failed = 0;
    for t in tasks {
        failed += t.await?;
    }
    anyhow::ensure!(failed == 0, "{failed} of {writes} footprint writes failed");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let loaded = members(&cluster)?;
    Ok(idle
        .into_iter()
        .zip(loaded)
        .map(
            |((node, kind, rss_idle, disk_idle), (_, _, rss, disk))| Footprint {
                node,
                kind,
                rss_idle_mib: rss_idle,
                disk_idle_mib: disk_idle,
                rss_loaded_mib: rss,
                disk_loaded_mib: disk,
            },
        )
        .collect())
}

/// (id, kind, RSS MiB, data dir MiB) of every member.
fn members(cluster: &Cluster) -> anyhow::Result<Vec<(u64, String, f64, f64)>> {
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    cluster
        .procs
        .nodes
        .iter()
        .map(|n| {
            let kind = if n.witness { "witness" } else { "engine" };
            let rss = sys::rss_bytes(cluster.pid(n.id)?)?;
            Ok((
                n.id,
                kind.into(),
                mib(rss),
                mib(sys::disk_bytes(&n.data_dir)?),
            ))
        })
        .collect()
}

async fn level(
    kind: Kind,
    name: &str,
    n: usize,
    node: SocketAddr,
    token: &Token,
    echo: SocketAddr,
    pid: u32,
) -> anyhow::Result<Row> {
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = sys::rss_bytes(pid)?;
    let stop = Arc::new(AtomicBool::new(false));
    let sem = Arc::new(tokio::sync::Semaphore::new(16));
    let (opened_tx, mut opened_rx) = tokio::sync::mpsc::channel::<Result<(), String>>(n);
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (token, stop, sem, tx) = (token.clone(), stop.clone(), sem.clone(), opened_tx.clone());
        tasks.push(tokio::spawn(async move {
            let permit = sem.acquire_owned().await;
            let session =
                tokio::time::timeout(Duration::from_secs(30), open(kind, node, &token, echo)).await;
            drop(permit);
            let (handle, mut ch) = match session {
                Ok(Ok(session)) => session,
                Ok(Err(e)) => {
                    let _ = tx.send(Err(format!("{e:#}"))).await;
                    return;
                }
                Err(_) => {
                    let _ = tx.send(Err("no session within 30 s".into())).await;
                    return;
                }
            };
            let _ = tx.send(Ok(())).await;
            while !stop.load(Ordering::SeqCst) {
                if kind == Kind::Shell {
                    let _ = ch.data(&b"echo portunus\n"[..]).await;
                }
                let _ = tokio::time::timeout(Duration::from_secs(1), drain(&mut ch)).await;
            }
            drop(handle);
        }));
    }
    drop(opened_tx);
    let mut opened = 0;
    let mut errors: Vec<(String, usize)> = Vec::new();
    for _ in 0..n {
        // Every task reports exactly once (it keeps its sender while it holds its session).
        match opened_rx.recv().await {
            Some(Ok(())) => opened += 1,
            Some(Err(e)) => match errors.iter_mut().find(|(seen, _)| *seen == e) {
                Some((_, count)) => *count += 1,
                None => errors.push((e, 1)),
            },
            None => {}
        }
    }
    eprintln!("memory: {name}: {opened} of {n} sessions open");
    for (e, count) in &errors {
        eprintln!("memory: {name}: {count} failed: {e}");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let with = sys::rss_bytes(pid)?;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        let _ = t.await;
    }
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    Ok(Row {
        kind: name.into(),
        sessions: n,
        opened,
        rss_before_mib: mib(before),
        rss_with_mib: mib(with),
        kib_per_session: (with as f64 - before as f64) / 1024.0 / opened.max(1) as f64,
        failures: errors
            .into_iter()
            .map(|(e, count)| format!("{count} x {e}"))
            .collect(),
    })
}

type Session = (
    russh::client::Handle<sshc::Trusting>,
    russh::Channel<russh::client::Msg>,
);

async fn open(
    kind: Kind,
    node: SocketAddr,
    token: &Token,
    echo: SocketAddr,
) -> anyhow::Result<Session> {
    let handle = sshc::login(sshc::config(), node, None, &token.user, &token.token).await?;
    match kind {
        Kind::Tunnel => {
            let mut ch = sshc::open_tunnel(&handle, echo).await?;
            sshc::echo(&mut ch, b"x").await?;
            Ok((handle, ch))
        }
        Kind::Shell => {
            let mut ch = handle.channel_open_session().await?;
            ch.request_pty(true, "xterm", 80, 24, 0, 0, &[]).await?;
            ch.request_shell(true).await?;
            ch.data(&b"echo ready\n"[..]).await?;
            tokio::time::timeout(Duration::from_secs(20), drain_until(&mut ch, b"ready"))
                .await
                .context("shell never answered")??;
            Ok((handle, ch))
        }
    }
}

/// Reads whatever arrives until the channel is quiet (the caller bounds it with a timeout).
async fn drain(ch: &mut russh::Channel<russh::client::Msg>) {
    while let Some(msg) = ch.wait().await {
        if matches!(msg, ChannelMsg::Eof | ChannelMsg::Close) {
            std::future::pending::<()>().await;
        }
    }
    std::future::pending::<()>().await;
}

async fn drain_until(
    ch: &mut russh::Channel<russh::client::Msg>,
    needle: &[u8],
) -> anyhow::Result<()> {
    let mut seen = Vec::new();
    loop {
        match ch.wait().await {
            Some(ChannelMsg::Data { data }) => {
                seen.extend_from_slice(&data);
                if seen.windows(needle.len()).filter(|w| *w == needle).count() >= 2 {
                    return Ok(());
                }
            }
            Some(ChannelMsg::Eof | ChannelMsg::Close) | None => anyhow::bail!("shell closed"),
            Some(_) => {}
        }
    }
}

fn outcome(rows: Vec<Row>, footprint: Vec<Footprint>, writes: usize) -> Outcome {
    let mut md = String::from(
        "RSS (VmRSS) of one `portunus` node process; sessions opened by russh clients with an \
         O&M token, 16 at a time. Idle tunnel: one direct-tcpip channel, silent. Active shell: \
         pty + shell on a stock sshd behind the node, one `echo` a second.\n\n\
         | Kind | Sessions | Opened | RSS before MiB | RSS with MiB | KiB per session |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    for r in &rows {
        md.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.0} |\n",
            r.kind, r.sessions, r.opened, r.rss_before_mib, r.rss_with_mib, r.kib_per_session
        ));
    }
    for r in rows.iter().filter(|r| !r.failures.is_empty()) {
        md.push_str(&format!(
            "\nNot opened ({} sessions, {}): {}.\n",
            r.kind,
            r.sessions,
            r.failures.join("; ")
        ));
    }
    let failed: usize = rows.iter().map(|r| r.sessions - r.opened).sum();
    let mut goals = vec![Goal::new(
        "memory",
        "every requested session opened",
        format!("{failed} not opened"),
        failed == 0,
    )];
    if !footprint.is_empty() {
        md.push_str(&format!(
            "\nTwo engines and a witness (`--witness`), each a `portunus` process: RSS and data \
             dir (allocated blocks) idle after start-up, then after {writes} replicated writes \
             (CreateUserGroup through both engines, 16 at a time).\n\n\
             | Node | Kind | RSS idle MiB | Disk idle MiB | RSS after MiB | Disk after MiB |\n\
             |---:|---|---:|---:|---:|---:|\n"
        ));
        for f in &footprint {
            md.push_str(&format!(
                "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
                f.node,
                f.kind,
                f.rss_idle_mib,
                f.disk_idle_mib,
                f.rss_loaded_mib,
                f.disk_loaded_mib
            ));
        }
        let max = |kind: &str, v: fn(&Footprint) -> f64| {
            footprint
                .iter()
                .filter(|f| f.kind == kind)
                .map(v)
                .fold(0.0, f64::max)
        };
        let (w_rss, e_rss) = (
            max("witness", |f| f.rss_loaded_mib),
            max("engine", |f| f.rss_loaded_mib),
        );
        let (w_disk, e_disk) = (
            max("witness", |f| f.disk_loaded_mib),
            max("engine", |f| f.disk_loaded_mib),
        );
        goals.push(Goal::new(
            "memory",
            "witness RSS no larger than an engine's (after the writes)",
            format!("witness {w_rss:.1} MiB, largest engine {e_rss:.1} MiB"),
            w_rss > 0.0 && w_rss <= e_rss,
        ));
        goals.push(Goal::new(
            "memory",
            "witness data dir within 10% of an engine's (same log and snapshots)",
            format!("witness {w_disk:.1} MiB, largest engine {e_disk:.1} MiB"),
            w_disk > 0.0 && w_disk <= e_disk * 1.1,
        ));
    }
    Outcome {
        name: "memory",
        markdown: md,
        json: serde_json::json!({ "sessions": rows, "footprint": footprint }),
        goals,
    }
}
