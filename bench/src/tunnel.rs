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
    /// Directory for tunnel.json and tunnel.md.
    #[arg(long, default_value = "bench/results")]
    pub out: PathBuf,
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
}

enum Via<'a> {
    Sshd(&'a Sshd),
    Portunus(SocketAddr, &'a [Token], &'a Askpass),
}

/// Runs the benchmark.
pub async fn run(args: &Args) -> anyhow::Result<Outcome> {
    let n = args.sessions.max(1);
    let mut servers = Vec::new();
    for _ in 0..n {
        servers.push(iperf::Server::start().await?);
    }
    let targets: Vec<SocketAddr> = servers.iter().map(|s| s.addr()).collect();
    let mut cluster = Cluster::start(1).await?;
    let mut tokens = Vec::new();
    for t in &targets {
        tokens.push(cluster.db_token(t.port()).await?);
    }
    let node = cluster.ssh_addrs()[0];
    let sshd = Sshd::start().await?;
    let askpass = Askpass::new();
    let mut rows = Vec::new();
    for sessions in [1, n] {
        let raw = iperf_all(&targets[..sessions], args.duration).await?;
        for cipher in CIPHERS {
            let via_sshd = Via::Sshd(&sshd);
            let sshd_gbps = through(&via_sshd, cipher, &targets[..sessions], args)
                .await?
                .context("sshd refused the cipher")?;
            let via_p = Via::Portunus(node, &tokens, &askpass);
            let portunus_gbps = through(&via_p, cipher, &targets[..sessions], args).await?;
            rows.push(Row {
                cipher: cipher.into(),
                sessions,
                raw_gbps: raw,
                sshd_gbps,
                portunus_gbps,
                ratio: portunus_gbps.map(|p| p / sshd_gbps),
            });
        }
    }
    drop(cluster);
    Ok(outcome(args, rows))
}

/// Sum of receiver throughput (Gbit/s) of one iperf3 client per target, run concurrently.
async fn iperf_all(targets: &[SocketAddr], duration: u64) -> anyhow::Result<f64> {
    let mut set = tokio::task::JoinSet::new();
    for t in targets {
        let t = *t;
        set.spawn(async move { iperf::run_client(t, duration, 1).await });
    }
    let mut bits = 0.0;
    while let Some(r) = set.join_next().await {
        bits += r??.bits_per_second;
    }
    Ok(bits / 1e9)
}

/// Starts one `ssh -N -L` per target through `via`, runs iperf3 through all of them at once.
async fn through(
    via: &Via<'_>,
    cipher: &str,
    targets: &[SocketAddr],
    args: &Args,
) -> anyhow::Result<Option<f64>> {
    let mut children: Vec<Child> = Vec::new();
    let mut locals = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        let local = sys::free_loopback_addr()?;
        let forward = format!("{}:127.0.0.1:{}", local.port(), target.port());
        let mut cmd = match via {
            Via::Sshd(sshd) => sshd_client(sshd),
            Via::Portunus(node, tokens, askpass) => {
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
    let gbps = iperf_all(&locals, args.duration).await;
    for mut c in children {
        let _ = c.kill().await;
    }
    gbps.map(Some)
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
         Portunus: one node, O&M token login; sshd: stock OpenSSH, key login as root.\n\n\
         | Cipher | Sessions | raw Gbit/s | sshd Gbit/s | Portunus Gbit/s | Portunus/sshd |\n\
         |---|---:|---:|---:|---:|---:|\n",
        args.duration
    );
    let mut goals = Vec::new();
    for r in &rows {
        let (p, ratio) = match (r.portunus_gbps, r.ratio) {
            (Some(p), Some(x)) => (format!("{p:.2}"), format!("{x:.2}x")),
            _ => ("cipher not offered".to_owned(), "-".to_owned()),
        };
        md.push_str(&format!(
            "| {} | {} | {:.2} | {:.2} | {p} | {ratio} |\n",
            r.cipher, r.sessions, r.raw_gbps, r.sshd_gbps
        ));
        let goal = format!(
            "Portunus >= 0.9x sshd ({}, {} session(s))",
            r.cipher, r.sessions
        );
        let measured = match r.ratio {
            Some(x) => format!("{x:.2}x"),
            None => "cipher not offered by Portunus".to_owned(),
        };
        let met = r.ratio.is_some_and(|x| x >= 0.9);
        goals.push(Goal::new("tunnel", &goal, measured, met));
    }
    Outcome {
        name: "tunnel",
        markdown: md,
        json: serde_json::to_value(&rows).unwrap_or_default(),
        goals,
    }
}
