//! The `logins` benchmark: full SSH logins per second and their latency, each a new TCP
//! connection, key exchange, password authentication and a direct-tcpip channel whose echo is
//! checked, from a russh client in this process. Portunus: the password is an O&M token with no
//! use limit (every login spends one use: a replicated SpendToken, and its end a CloseSession),
//! against a single node and against a three-node cluster round robin; sshd: a local user with a
//! password (PasswordAuthentication yes, UsePAM no).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::portunus::Cluster;
use crate::sshd::{self, Sshd};
use crate::stats::Latency;
use crate::suite::{Goal, Outcome};
use crate::{sshc, sys};

/// Options of `portunus-bench logins`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Seconds each target is measured.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Concurrent clients logging in.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Directory for logins.json and logins.md.
    #[arg(long, default_value = "bench/results")]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub target: String,
    pub logins: usize,
    pub failed: usize,
    pub per_second: f64,
    pub latency: Latency,
}

/// Runs the benchmark.
pub async fn run(args: &Args) -> anyhow::Result<Outcome> {
    let echo = sys::echo_server().await?;
    let mut rows = Vec::new();
    {
        let mut one = Cluster::start(1).await?;
        let t = one.db_token(echo.port()).await?;
        let addrs = one.ssh_addrs();
        rows.push(measure("Portunus, 1 node", &addrs, &t.user, &t.token, echo, args).await);
    }
    {
        let mut three = Cluster::start(3).await?;
        let t = three.db_token(echo.port()).await?;
        let addrs = three.ssh_addrs();
        let name = "Portunus, 3-node cluster (round robin)";
        rows.push(measure(name, &addrs, &t.user, &t.token, echo, args).await);
    }
    let sshd = Sshd::start().await?;
    let name = "OpenSSH sshd (password)";
    rows.push(measure(name, &[sshd.addr], sshd::USER, sshd::PASSWORD, echo, args).await);
    Ok(outcome(args, rows))
}

/// `clients` loops logging in one after the other for `duration`, spread over `addrs`.
pub(crate) async fn measure(
    name: &str,
    addrs: &[SocketAddr],
    user: &str,
    password: &str,
    echo: SocketAddr,
    args: &Args,
) -> Row {
    let config = sshc::config();
    let end = Instant::now() + Duration::from_secs(args.duration);
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for c in 0..args.clients {
        let (addrs, user, password) = (addrs.to_vec(), user.to_owned(), password.to_owned());
        let config = Arc::clone(&config);
        set.spawn(async move {
            let (mut ok, mut failed, mut i) = (Vec::new(), 0usize, c);
            while Instant::now() < end {
                let addr = addrs[i % addrs.len()];
                i += 1;
                let t = Instant::now();
                let timeout = Duration::from_secs(10);
                let r = sshc::login_and_forward(
                    config.clone(),
                    addr,
                    None,
                    &user,
                    &password,
                    echo,
                    timeout,
                );
                match r.await {
                    Ok(()) => ok.push(t.elapsed()),
                    Err(_) => failed += 1,
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
        target: name.into(),
        logins: all.len(),
        failed,
        per_second: all.len() as f64 / secs,
        latency: Latency::of(&all),
    }
}

fn outcome(args: &Args, rows: Vec<Row>) -> Outcome {
    let mut md = format!(
        "Full SSH logins (TCP connect, key exchange, password/token auth, direct-tcpip channel, \
         echo) from a russh client, {} concurrent clients, {} s per target.\n\n\
         | Target | Logins | Failed | Logins/s | p50 ms | p99 ms |\n|---|---:|---:|---:|---:|---:|\n",
        args.clients, args.duration
    );
    for r in &rows {
        md.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} |\n",
            r.target, r.logins, r.failed, r.per_second, r.latency.p50_ms, r.latency.p99_ms
        ));
    }
    let sshd = rows.last().map(|r| r.per_second).unwrap_or(0.0);
    let goals = rows[..rows.len().saturating_sub(1)]
        .iter()
        .map(|r| {
            let ratio = r.per_second / sshd;
            Goal::new(
                "logins",
                &format!("login rate above sshd's ({})", r.target),
                format!(
                    "{:.1}/s vs {:.1}/s ({ratio:.2}x), {} failed",
                    r.per_second, sshd, r.failed
                ),
                ratio > 1.0 && r.failed == 0,
            )
        })
        .collect();
    Outcome {
        name: "logins",
        markdown: md,
        json: serde_json::to_value(&rows).unwrap_or_default(),
        goals,
    }
}
