//! The `failover` benchmark, on three (or five) real `portunus` processes: under a steady load of token
//! spends (full SSH logins with an O&M token, each a replicated SpendToken, sent round robin to
//! the two followers) and with open tunnel sessions on every node, SIGKILL the leader. Per
//! trial: time from the kill until a spend started after it succeeds, failed spends, tunnel
//! sessions on the survivors that dropped, time until a survivor's
//! `portunus_concurrency_slots_held` says the killed node holds no slot (the leader reclaims a
//! node's slots after 3 s without a lease renewal), and
//! acknowledged logins missing from the token's recorded uses after the kill (each acknowledged
//! login is a committed spend; more uses than acknowledgements are spends whose login failed
//! later, fewer would be a lost write). The killed
//! node is restarted (same id, same data) before the next trial.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use crate::portunus::{Cluster, Token};
use crate::stats::Latency;
use crate::suite::{Goal, Outcome};
use crate::{sshc, sys};

/// Options of `portunus-bench failover`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Leader kills (a p99 needs many: the goal asks for at least 20).
    #[arg(long, default_value_t = 20)]
    pub trials: usize,
    /// Tunnel sessions held open on each node.
    #[arg(long, default_value_t = 2)]
    pub sessions: usize,
    /// Concurrent spend loops.
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// Engines in the cluster (3 or 5); results go to failover.* for 3, failover-5.* for 5.
    #[arg(long, default_value_t = 3)]
    pub nodes: u64,
    /// Directory for failover.json and failover.md.
    #[arg(long, default_value = "bench/results")]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    pub killed: u64,
    pub recovery_ms: f64,
    pub spends_ok: usize,
    pub spends_failed: usize,
    pub survivor_sessions: usize,
    pub survivor_sessions_dropped: usize,
    pub reclaim_ms: Option<f64>,
    /// Logins acknowledged to their client (each a committed token spend): spend loops,
    /// probes and held sessions, on every node including the killed one before the kill.
    pub spends_acknowledged: usize,
    /// The token's use count read from a survivor after the trial.
    pub uses_recorded: u64,
    /// Acknowledged spends missing from the recorded uses (must be 0).
    pub acknowledged_lost: u64,
    /// What each failed spend said (the client's error).
    pub failures: Vec<String>,
}

/// One spend: when it started and ended, whether it succeeded, and its error if not.
type Attempt = (Instant, Instant, bool, Option<String>);

/// Runs the benchmark.
pub async fn run(args: &Args) -> anyhow::Result<Outcome> {
    anyhow::ensure!(
        matches!(args.nodes, 3 | 5),
        "--nodes {}: the failover bench runs 3 or 5 engines",
        args.nodes
    );
    let echo = sys::echo_server().await?;
    let mut trials = Vec::new();
    let mut rejoin = None;
    for i in 0..args.trials {
        // A fresh cluster per trial: every kill hits a cluster that has never failed before.
        let mut cluster = Cluster::start(args.nodes).await?;
        let token = cluster.db_token(echo.port()).await?;
        let t = trial(&mut cluster, &token, echo, args).await?;
        if i + 1 == args.trials {
            rejoin = Some(restart(&mut cluster, t.killed).await);
        }
        trials.push(t);
    }
    Ok(outcome(args, trials, rejoin))
}

/// A held tunnel session pinging through its channel until told to stop.
fn hold(
    addr: SocketAddr,
    token: &Token,
    echo: SocketAddr,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<anyhow::Result<bool>> {
    let (user, pw) = (token.user.clone(), token.token.clone());
    tokio::spawn(async move {
        let handle =
            sshc::login(sshc::config(), addr, Some(sshc::next_source()), &user, &pw).await?;
        let mut ch = sshc::open_tunnel(&handle, echo).await?;
        sshc::echo(&mut ch, b"x").await?;
        let mut dropped = false;
        while !stop.load(Ordering::SeqCst) {
            let ping = tokio::time::timeout(Duration::from_secs(3), sshc::echo(&mut ch, b"x"));
            if !matches!(ping.await, Ok(Ok(()))) {
                dropped = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        drop(handle);
        Ok(dropped)
    })
}

/// Slots in use cluster-wide, as the node whose metrics listener is `metrics` reports it.
/// Slots that node `node` holds according to the replicated state, as `metrics` reports it.
fn slots_held(metrics: SocketAddr, node: u64) -> Option<u64> {
    let (_, body) = portunus_tests::http_get(metrics, "/metrics").ok()?;
    let series = format!("portunus_concurrency_slots_held{{node=\"{node}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

async fn trial(
    cluster: &mut Cluster,
    token: &Token,
    echo: SocketAddr,
    args: &Args,
) -> anyhow::Result<Trial> {
    let leader = cluster.leader;
    let ssh = cluster.ssh_addrs();
    let survivors: Vec<usize> = (0..args.nodes as usize)
        .filter(|i| *i as u64 + 1 != leader)
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let mut held = Vec::new();
    for (i, addr) in ssh.iter().enumerate() {
        for _ in 0..args.sessions {
            let on_survivor = survivors.contains(&i);
            held.push((on_survivor, hold(*addr, token, echo, Arc::clone(&stop))));
        }
    }
    // Load: spends through the survivors, each attempt recorded as (start, end, ok).
    let log: Arc<Mutex<Vec<Attempt>>> = Arc::default();
    let load_stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for _ in 0..args.clients {
        let targets: Vec<SocketAddr> = survivors.iter().map(|i| ssh[*i]).collect();
        let (log, load_stop, next, token) =
            (log.clone(), load_stop.clone(), next.clone(), token.clone());
        load.push(tokio::spawn(async move {
            let config = sshc::config();
            while !load_stop.load(Ordering::SeqCst) {
                let addr = targets[next.fetch_add(1, Ordering::SeqCst) % targets.len()];
                let t = Instant::now();
                let timeout = Duration::from_secs(2);
                let r = sshc::login_and_forward(
                    config.clone(),
                    addr,
                    Some(sshc::next_source()),
                    &token.user,
                    &sshc::Credential::password(&token.token),
                    echo,
                    timeout,
                )
                .await;
                let failed = r.is_err();
                if failed {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                log.lock().unwrap_or_else(|e| e.into_inner()).push((
                    t,
                    Instant::now(),
                    !failed,
                    r.err().map(|e| format!("{e:#}")),
                ));
            }
        }));
    }
    // Probe: a fresh spend every 50 ms (5 s timeout), so recovery is not hidden behind
    // attempts stuck on the dead leader.
    {
        let targets: Vec<SocketAddr> = survivors.iter().map(|i| ssh[*i]).collect();
        let (log, load_stop, token) = (log.clone(), load_stop.clone(), token.clone());
        load.push(tokio::spawn(async move {
            let config = sshc::config();
            let mut probes = Vec::new();
            let mut n = 0usize;
            while !load_stop.load(Ordering::SeqCst) {
                let addr = targets[n % targets.len()];
                n += 1;
                let (log, token, config) = (log.clone(), token.clone(), config.clone());
                probes.push(tokio::spawn(async move {
                    let t = Instant::now();
                    let timeout = Duration::from_secs(5);
                    let r = sshc::login_and_forward(
                        config,
                        addr,
                        Some(sshc::next_source()),
                        &token.user,
                        &sshc::Credential::password(&token.token),
                        echo,
                        timeout,
                    )
                    .await;
                    log.lock().unwrap_or_else(|e| e.into_inner()).push((
                        t,
                        Instant::now(),
                        r.is_ok(),
                        r.err().map(|e| format!("{e:#}")),
                    ));
                }));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            for p in probes {
                let _ = p.await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let killed_at = Instant::now();
    cluster.procs.node(leader).kill();
    // Recovery: a spend started after the kill succeeded.
    let deadline = killed_at + Duration::from_secs(30);
    let recovered = loop {
        let first = log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(s, _, ok, _)| *ok && *s >= killed_at)
            .map(|(_, e, _, _)| *e)
            .min();
        if let Some(end) = first {
            break end;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no successful spend 30 s after the kill"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    load_stop.store(true, Ordering::SeqCst);
    for l in load {
        let _ = l.await;
    }
    // Reclaim: the replicated state no longer gives the killed node any slot.
    let survivor_metrics = cluster.metrics_addrs()[survivors[0]];
    let mut reclaim_ms = None;
    while killed_at.elapsed() < Duration::from_secs(20) {
        if slots_held(survivor_metrics, leader) == Some(0) {
            reclaim_ms = Some(killed_at.elapsed().as_secs_f64() * 1e3);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let (mut survivor_sessions, mut dropped, mut held_opened) = (0, 0, 0);
    for (on_survivor, h) in held {
        let r = h.await.context("session task")?;
        if r.is_ok() {
            held_opened += 1;
        }
        if on_survivor {
            survivor_sessions += 1;
            if !matches!(r, Ok(false)) {
                dropped += 1;
            }
        }
    }
    let log = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let spends_acknowledged = log.iter().filter(|l| l.2).count() + held_opened;
    let uses_recorded = cluster.token_uses(&token.user_id, survivors[0]).await?;
    let t = Trial {
        killed: leader,
        recovery_ms: (recovered - killed_at).as_secs_f64() * 1e3,
        spends_ok: log.iter().filter(|l| l.2).count(),
        spends_failed: log.iter().filter(|l| !l.2).count(),
        failures: log.iter().filter_map(|l| l.3.clone()).collect(),
        survivor_sessions,
        survivor_sessions_dropped: dropped,
        reclaim_ms,
        spends_acknowledged,
        uses_recorded,
        acknowledged_lost: (spends_acknowledged as u64).saturating_sub(uses_recorded),
    };
    Ok(t)
}

/// Restarts the killed node (same id, same data); returns the seconds until the cluster was
/// stable again, or None if it was not within 20 s.
async fn restart(cluster: &mut Cluster, id: u64) -> Option<f64> {
    let started = Instant::now();
    cluster.procs.spawn(id, &[]).ok()?;
    let procs = &mut cluster.procs;
    let stable = tokio::task::block_in_place(|| procs.wait_stable(Duration::from_secs(20)));
    stable.ok().map(|_| started.elapsed().as_secs_f64())
}

fn outcome(args: &Args, trials: Vec<Trial>, rejoin: Option<Option<f64>>) -> Outcome {
    let bench = if args.nodes == 5 {
        "failover-5"
    } else {
        "failover"
    };
    let mut md = format!(
        "{} real `portunus` processes; {} spend loops (SSH login with an O&M token + direct-tcpip, \
         2 s timeout) round robin on the followers, plus a probe spend every 50 ms (5 s timeout); clients connect from 250 loopback source IPs in turn (127.0.1.x); {} tunnel sessions held on every node; \
         leader SIGKILLed; a fresh cluster per trial. {} trials.\n\n\
         | Trial | Killed | Recovery ms | Spends OK | Failed | Survivor sessions | Dropped | Reclaim ms | Acknowledged | Recorded | Lost |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        args.nodes,
        args.clients,
        args.sessions,
        trials.len()
    );
    for (i, t) in trials.iter().enumerate() {
        let reclaim = t
            .reclaim_ms
            .map_or("not seen".into(), |v| format!("{v:.0}"));
        md.push_str(&format!(
            "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            i + 1,
            t.killed,
            t.recovery_ms,
            t.spends_ok,
            t.spends_failed,
            t.survivor_sessions,
            t.survivor_sessions_dropped,
            reclaim,
            t.spends_acknowledged,
            t.uses_recorded,
            t.acknowledged_lost
        ));
    }
    let rec: Vec<Duration> = trials
        .iter()
        .map(|t| Duration::from_secs_f64(t.recovery_ms / 1e3))
        .collect();
    let rec = Latency::of(&rec);
    let recl: Vec<Duration> = trials
        .iter()
        .filter_map(|t| t.reclaim_ms)
        .map(|v| Duration::from_secs_f64(v / 1e3))
        .collect();
    let recl = Latency::of(&recl);
    let failed: usize = trials.iter().map(|t| t.spends_failed).sum();
    let dropped: usize = trials.iter().map(|t| t.survivor_sessions_dropped).sum();
    let lost: u64 = trials.iter().map(|t| t.acknowledged_lost).sum();
    let acked: usize = trials.iter().map(|t| t.spends_acknowledged).sum();
    // With fewer than 100 trials the 99th percentile is the worst trial: say so.
    let p99 = if trials.len() < 100 {
        "p99 (the worst trial)"
    } else {
        "p99"
    };
    md.push_str(&format!(
        "\nKill to first successful spend: p50 {:.0} ms, {p99} {:.0} ms. Slots reclaimed: p50 {:.0} ms, \
         {p99} {:.0} ms ({} of {} trials). Failed spends in all: {failed}.\n",
        rec.p50_ms, rec.p99_ms, recl.p50_ms, recl.p99_ms, recl.count, trials.len()
    ));
    let rejoined = match rejoin {
        Some(Some(secs)) => format!("rejoined, cluster stable after {secs:.1} s"),
        Some(None) => "did NOT rejoin: no stable cluster within 20 s".to_owned(),
        None => "not tried".to_owned(),
    };
    md.push_str(&format!(
        "Restart of the killed node (same id and data) after the last trial: {rejoined}.\n"
    ));
    let failures: Vec<String> = trials
        .iter()
        .enumerate()
        .flat_map(|(i, t)| {
            t.failures
                .iter()
                .map(move |f| format!("- trial {}: {f}\n", i + 1))
        })
        .collect();
    if !failures.is_empty() {
        md.push_str("\nWhat the failed spends' clients saw:\n\n");
        md.extend(failures);
    }
    let png = args.out.join(format!("{bench}.png"));
    let recovery: Vec<f64> = trials.iter().map(|t| t.recovery_ms).collect();
    let title = format!(
        "Leader SIGKILL to first successful token login, {} engines, {} trials",
        args.nodes,
        trials.len()
    );
    let _ = std::fs::create_dir_all(&args.out);
    if crate::plot::cdf(&png, &title, "ms after the kill", &recovery).is_ok() {
        md.push_str(&format!("\n![recovery distribution]({bench}.png)\n"));
    }
    let goals = vec![
        Goal::new(
            bench,
            "killed node restarts and rejoins (stable within 20 s)",
            rejoined,
            matches!(rejoin, Some(Some(_))),
        ),
        Goal::new(
            bench,
            "leader kill to first successful token login < 600 ms at p99, over at least 20 trials",
            format!("{p99} {:.0} ms over {} trials", rec.p99_ms, rec.count),
            rec.p99_ms < 600.0 && rec.count >= 20,
        ),
        Goal::new(
            bench,
            "zero dropped sessions on survivors",
            format!("{dropped} dropped"),
            dropped == 0,
        ),
        Goal::new(
            bench,
            "dead node's slots reclaimed within 3.5 s at p99 (3 s without a lease renewal)",
            format!(
                "{} of {} trials, {p99} {:.0} ms",
                recl.count,
                trials.len(),
                recl.p99_ms
            ),
            recl.count == trials.len() && recl.p99_ms <= 3_500.0,
        ),
        Goal::new(
            bench,
            "zero acknowledged writes lost (token uses recorded >= logins acknowledged)",
            format!("{lost} lost of {acked} acknowledged"),
            lost == 0 && acked > 0,
        ),
    ];
    Outcome {
        name: bench,
        markdown: md,
        json: serde_json::json!({ "trials": trials, "recovery": rec, "reclaim": recl, "rejoin_secs": rejoin.flatten() }),
        goals,
    }
}
