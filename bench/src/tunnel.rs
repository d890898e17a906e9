//! The `tunnel` benchmark: iperf3 through `ssh -N -L` from the OpenSSH client, via one Portunus
//! node (O&M token login, a database target at the iperf3 server) and via a stock sshd (root,
//! key login), against raw loopback; per cipher, with one and with several concurrent sessions
//! (one ssh process and one iperf3 stream per session).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use portunus_proxy::testing::openssh::Askpass;
use serde::Serialize;
use tokio::process::{Child, Command};

use crate::portunus::{Cluster, Token};
use crate::sshd::Sshd;
use crate::suite::{Goal, Outcome};
use crate::{iperf, sys};

pub const CIPHERS: [&str; 3] = [
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
];

/// Options of `portunus-bench tunnel`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Seconds each iperf3 run lasts.
    #[arg(long, default_value_t = 5)]
    pub duration: u64,
    /// Concurrent sessions in the multi-session runs.
    #[arg(long, default_value_t = 4)]
    pub sessions: usize,
    /// Trials per cipher and session count, each an sshd run then a Portunus run; the table
    /// shows the medians (the ratio is the median of the trials' ratios).
    #[arg(long, default_value_t = 5)]
    pub trials: usize,
    /// Ciphers to measure, comma-separated (default: all three).
    #[arg(long, value_delimiter = ',', default_values_t = CIPHERS.map(String::from))]
    pub ciphers: Vec<String>,
    /// Directory for tunnel.json and tunnel.md.
    #[arg(long, default_value = "bench/results")]
    pub out: PathBuf,
    /// An environment variable for the Portunus node, NAME=VALUE (repeatable), to try a
    /// setting (e.g. TOKIO_WORKER_THREADS=1); the results say which were set.
    #[arg(long = "node-env", value_parser = crate::portunus::name_value)]
    pub node_env: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub cipher: String,
    pub sessions: usize,
    pub raw_gbps: f64,
    pub sshd_gbps: f64,
    /// None: Portunus does not offer the cipher.
    pub portunus_gbps: Option<f64>,
    pub ratio: Option<f64>,
    /// Portunus/sshd of each trial, in order.
    pub trial_ratios: Vec<f64>,
    /// CPU seconds of the server side (the sshd listener and its connection processes) per GiB.
    pub sshd_cpu_s_per_gib: f64,
    /// CPU seconds of the Portunus node process per GiB.
    pub portunus_cpu_s_per_gib: Option<f64>,
    /// CPU seconds of the `ssh -N -L` clients per GiB, towards sshd and towards Portunus.
    pub client_cpu_s_per_gib_sshd: f64,
    pub client_cpu_s_per_gib_portunus: Option<f64>,
}

/// What one run (or the sum of several) through sshd or Portunus measured.
#[derive(Debug, Clone, Copy, Default)]
struct Measured {
    gbps: f64,
    gib: f64,
    server_cpu_s: f64,
    client_cpu_s: f64,
}

impl Measured {
    fn server_per_gib(&self) -> f64 {
        self.server_cpu_s / self.gib.max(1e-9)
    }

    fn client_per_gib(&self) -> f64 {
        self.client_cpu_s / self.gib.max(1e-9)
    }

    fn add(&mut self, other: &Measured) {
        self.gib += other.gib;
        self.server_cpu_s += other.server_cpu_s;
        self.client_cpu_s += other.client_cpu_s;
    }
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

enum Via<'a> {
    Sshd(&'a Sshd),
    /// The node's SSH address and pid, a token per session.
    Portunus(SocketAddr, u32, &'a [Token], &'a Askpass),
}

/// Runs the benchmark.
pub async fn run(args: &Args) -> anyhow::Result<Outcome> {
    let n = args.sessions.max(1);
    let mut servers = Vec::new();
    for _ in 0..n {
        servers.push(iperf::Server::start().await?);
    }
    let targets: Vec<SocketAddr> = servers.iter().map(|s| s.addr()).collect();
    let mut cluster =
        Cluster::start_with_env(1, &crate::portunus::env_refs(&args.node_env)).await?;
    let mut tokens = Vec::new();
    for t in &targets {
        tokens.push(cluster.db_token(t.port()).await?);
    }
    let node = cluster.ssh_addrs()[0];
    let node_pid = cluster.pid(1)?;
    let sshd = Sshd::start().await?;
    let askpass = Askpass::new();
    let mut rows = Vec::new();
    for sessions in [1, n] {
        let raw = iperf_all(&targets[..sessions], args.duration).await?.0;
        for cipher in args.ciphers.iter().map(String::as_str) {
            // sshd and Portunus alternate, so that a trial's ratio compares runs made under
            // about the same load from whatever else shares the machine.
            let (mut s_sum, mut p_sum) = (Measured::default(), Measured::default());
            let (mut s_gbps, mut p_gbps, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            let mut offered = true;
            for _ in 0..args.trials.max(1) {
                let via_sshd = Via::Sshd(&sshd);
                let s = through(&via_sshd, cipher, &targets[..sessions], args)
                    .await?
                    .context("sshd refused the cipher")?;
                s_sum.add(&s);
                s_gbps.push(s.gbps);
                let via_p = Via::Portunus(node, node_pid, &tokens, &askpass);
                let Some(p) = through(&via_p, cipher, &targets[..sessions], args).await? else {
                    offered = false;
                    break;
                };
                p_sum.add(&p);
                p_gbps.push(p.gbps);
                ratios.push(p.gbps / s.gbps);
            }
            let p = offered.then_some(p_sum);
            rows.push(Row {
                cipher: cipher.into(),
                sessions,
                raw_gbps: raw,
                sshd_gbps: median(&s_gbps),
                portunus_gbps: offered.then(|| median(&p_gbps)),
                ratio: offered.then(|| median(&ratios)),
                trial_ratios: ratios,
                sshd_cpu_s_per_gib: s_sum.server_per_gib(),
                portunus_cpu_s_per_gib: p.map(|p| p.server_per_gib()),
                client_cpu_s_per_gib_sshd: s_sum.client_per_gib(),
                client_cpu_s_per_gib_portunus: p.map(|p| p.client_per_gib()),
            });
        }
    }
    drop(cluster);
    Ok(outcome(args, rows))
}

/// Sum of receiver throughput (Gbit/s) and of bytes received (GiB) of one iperf3 client per
/// target, run concurrently.
async fn iperf_all(targets: &[SocketAddr], duration: u64) -> anyhow::Result<(f64, f64)> {
    let mut set = tokio::task::JoinSet::new();
    for t in targets {
        let t = *t;
        set.spawn(async move { iperf::run_client(t, duration, 1).await });
    }
    let (mut bits, mut bytes) = (0.0, 0u64);
    while let Some(r) = set.join_next().await {
        let m = r??;
        bits += m.bits_per_second;
        bytes += m.bytes;
    }
    Ok((bits / 1e9, bytes as f64 / (1u64 << 30) as f64))
}

/// CPU seconds of the server side so far: the node process, or the sshd listener with the
/// connection processes it has reaped (waits up to 10 s for them to end first).
async fn server_cpu(via: &Via<'_>) -> anyhow::Result<f64> {
    match via {
        Via::Sshd(sshd) => {
            let pid = sshd.pid().context("sshd exited")?;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while !sys::has_no_children(pid) && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            sys::cpu_seconds_with_children(pid)
        }
        Via::Portunus(_, pid, _, _) => sys::cpu_seconds(Some(*pid)),
    }
}

/// Starts one `ssh -N -L` per target through `via`, runs iperf3 through all of them at once.
async fn through(
    via: &Via<'_>,
    cipher: &str,
    targets: &[SocketAddr],
    args: &Args,
) -> anyhow::Result<Option<Measured>> {
    let cpu_before = server_cpu(via).await?;
    let mut children: Vec<Child> = Vec::new();
    let mut locals = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        let local = sys::free_loopback_addr()?;
        let forward = format!("{}:127.0.0.1:{}", local.port(), target.port());
        let mut cmd = match via {
            Via::Sshd(sshd) => sshd_client(sshd),
            Via::Portunus(node, _, tokens, askpass) => {
                askpass.ssh(node.port(), &tokens[i].user, &tokens[i].token)
            }
        };
        cmd.args([
            "-c",
            cipher,
            "-o",
            "ExitOnForwardFailure=yes",
            "-N",
            "-L",
            &forward,
        ]);
        let log = tempfile::NamedTempFile::new()?;
        cmd.stdout(std::process::Stdio::null())
            .stderr(log.reopen()?);
        children.push(cmd.kill_on_drop(true).spawn().context("spawn ssh")?);
        if let Err(e) = sys::wait_listening(local.port(), Duration::from_secs(20)).await {
            let said = std::fs::read_to_string(log.path()).unwrap_or_default();
            if said.contains("no matching cipher") {
                for mut c in children {
                    let _ = c.kill().await;
                }
                return Ok(None);
            }
            return Err(e.context(format!("ssh -L ({cipher}) said: {said}")));
        }
        locals.push(local);
    }
    let measured = iperf_all(&locals, args.duration).await;
    let mut client_cpu_s = 0.0;
    for mut c in children {
        if let Some(pid) = c.id() {
            client_cpu_s += sys::cpu_seconds(Some(pid)).unwrap_or(0.0);
        }
        let _ = c.kill().await;
    }
    let (gbps, gib) = measured?;
    let server_cpu_s = server_cpu(via).await? - cpu_before;
    Ok(Some(Measured {
        gbps,
        gib,
        server_cpu_s,
        client_cpu_s,
    }))
}

fn sshd_client(sshd: &Sshd) -> Command {
    let mut cmd = Command::new("ssh");
    cmd.args(["-F", "/dev/null", "-o", "StrictHostKeyChecking=no"])
        .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes"])
        .arg("-i")
        .arg(&sshd.key)
        .args([
            "-p",
            &sshd.addr.port().to_string(),
            "-l",
            "root",
            "127.0.0.1",
        ])
        .stdin(std::process::Stdio::null());
    cmd
}

fn outcome(args: &Args, rows: Vec<Row>) -> Outcome {
    let mut md = format!(
        "iperf3 through `ssh -N -L` (OpenSSH client), {} s per run, one iperf3 stream per session; \
         Portunus: one node, O&M token login; sshd: stock OpenSSH, key login as root. {} \
         trial(s) per row, sshd and Portunus alternating: Gbit/s are medians, Portunus/sshd the \
         median of the trials' ratios (lowest-highest in parentheses). \
         Server CPU-s/GiB: CPU seconds of the sshd listener and its connection processes, or of \
         the Portunus node process, per GiB carried; client: of the `ssh` processes.{}\n\n\
         | Cipher | Sessions | raw Gbit/s | sshd Gbit/s | Portunus Gbit/s | Portunus/sshd \
         | server CPU-s/GiB sshd | server CPU-s/GiB Portunus | client CPU-s/GiB (sshd / Portunus) |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        args.duration,
        args.trials.max(1),
        crate::portunus::env_note(&args.node_env)
    );
    let mut goals = Vec::new();
    for r in &rows {
        let (p, ratio) = match (r.portunus_gbps, r.ratio) {
            (Some(p), Some(x)) if r.trial_ratios.len() > 1 => {
                let lo = r.trial_ratios.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = r.trial_ratios.iter().copied().fold(0.0, f64::max);
                (format!("{p:.2}"), format!("{x:.2}x ({lo:.2}-{hi:.2})"))
            }
            (Some(p), Some(x)) => (format!("{p:.2}"), format!("{x:.2}x")),
            _ => ("cipher not offered".to_owned(), "-".to_owned()),
        };
        let opt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
        md.push_str(&format!(
            "| {} | {} | {:.2} | {:.2} | {p} | {ratio} | {:.2} | {} | {:.2} / {} |\n",
            r.cipher,
            r.sessions,
            r.raw_gbps,
            r.sshd_gbps,
            r.sshd_cpu_s_per_gib,
            opt(r.portunus_cpu_s_per_gib),
            r.client_cpu_s_per_gib_sshd,
            opt(r.client_cpu_s_per_gib_portunus),
        ));
        let goal = format!(
            "Portunus >= 1.0x sshd, median of >= 5 trials ({}, {} session(s))",
            r.cipher, r.sessions
        );
        let measured = match r.ratio {
            Some(x) if r.trial_ratios.len() > 1 => {
                let lo = r.trial_ratios.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = r.trial_ratios.iter().copied().fold(0.0, f64::max);
                format!(
                    "{x:.2}x (median of {} trials, {lo:.2}-{hi:.2})",
                    r.trial_ratios.len()
                )
            }
            Some(x) => format!("{x:.2}x"),
            None => "cipher not offered by Portunus".to_owned(),
        };
        let met = r.ratio.is_some_and(|x| x >= 1.0) && r.trial_ratios.len() >= 5;
        goals.push(Goal::new("tunnel", &goal, measured, met));
        if let Some(p) = r.portunus_cpu_s_per_gib {
            let x = p / r.sshd_cpu_s_per_gib.max(1e-9);
            goals.push(Goal::new(
                "tunnel",
                &format!(
                    "node CPU-s per GiB <= 0.75x sshd's ({}, {} session(s))",
                    r.cipher, r.sessions
                ),
                format!(
                    "{p:.2} vs {:.2} CPU-s/GiB ({x:.2}x, over all trials)",
                    r.sshd_cpu_s_per_gib
                ),
                x <= 0.75,
            ));
        }
    }
    Outcome {
        name: "tunnel",
        markdown: md,
        json: serde_json::to_value(&rows).unwrap_or_default(),
        goals,
    }
}
