//! The `logins` benchmark: full SSH logins per second and their latency, each a new TCP
//! connection, key exchange, authentication and a direct-tcpip channel whose echo is checked,
//! from a russh client in this process, with the same kind of credential on both sides:
//! - **password**: Portunus checks the user's argon2id hash (19 MiB, 2 passes: the `argon2`
//!   crate's defaults); sshd (`UsePAM yes`, as Debian ships it) asks PAM, whose `pam_unix`
//!   checks the yescrypt hash Debian's `passwd` stores;
//! - **key**: an Ed25519 key registered for the user on Portunus, in `authorized_keys` for sshd;
//! - **token** (Portunus only): an O&M token with no use limit, sent as the password: every
//!   login spends one use (a replicated SpendToken) and its end closes the session; compared
//!   with sshd's password logins, what the engineer would type instead.
//!
//! Portunus runs as one node and as clusters of 3 and 5 nodes (clients round robin over the
//! nodes); sshd as one listener forking a process per connection.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::portunus::{self, Cluster};
use crate::sshc::Credential;
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
    /// Portunus cluster sizes, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1u64, 3, 5])]
    pub nodes: Vec<u64>,
    /// Directory for logins.json, logins.md and logins.png.
    #[arg(long, default_value = "bench/results")]
    pub out: PathBuf,
}

/// The credential kinds measured, in table order.
const KINDS: [&str; 3] = ["token", "password", "key"];

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub target: String,
    /// `token`, `password` or `key`; empty in rows measured by other benches.
    pub credential: String,
    pub logins: usize,
    pub failed: usize,
    pub per_second: f64,
    pub latency: Latency,
    /// The first error a failed login gave, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

/// Runs the benchmark.
pub async fn run(args: &Args) -> anyhow::Result<Outcome> {
    let echo = sys::echo_server().await?;
    // sshd first: its client key is the key both sides are given.
    let sshd = Sshd::start_with_pam().await?;
    let key = Credential::key_file(&sshd.key)?;
    let public_key = std::fs::read_to_string(sshd.key.with_extension("pub"))?;
    let mut rows = Vec::new();
    for &n in &args.nodes {
        let mut cluster = Cluster::start(n).await?;
        let t = cluster.db_token(echo.port()).await?;
        cluster.add_public_key(&t.user_id, &public_key).await?;
        let addrs = cluster.ssh_addrs();
        let target = if n == 1 {
            "Portunus, 1 node".to_owned()
        } else {
            format!("Portunus, {n}-node cluster (round robin)")
        };
        for kind in KINDS {
            let cred = match kind {
                "token" => Credential::password(&t.token),
                "password" => Credential::password(portunus::USER_PASSWORD),
                _ => key.clone(),
            };
            println!("logins: {target}, {kind}");
            let mut row = measure(&target, &addrs, &t.user, &cred, echo, args).await;
            row.credential = kind.into();
            rows.push(row);
        }
    }
    let target = "OpenSSH sshd (UsePAM yes)";
    for (kind, cred) in [
        ("password", Credential::password(sshd::PASSWORD)),
        ("key", key),
    ] {
        println!("logins: {target}, {kind}");
        let mut row = measure(target, &[sshd.addr], sshd::USER, &cred, echo, args).await;
        row.credential = kind.into();
        rows.push(row);
    }
    Ok(outcome(args, rows))
}

/// `clients` loops logging in one after the other for `duration`, spread over `addrs`.
pub(crate) async fn measure(
    name: &str,
    addrs: &[SocketAddr],
    user: &str,
    cred: &Credential,
    echo: SocketAddr,
    args: &Args,
) -> Row {
    let config = sshc::config();
    let end = Instant::now() + Duration::from_secs(args.duration);
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for c in 0..args.clients {
        let (addrs, user, cred) = (addrs.to_vec(), user.to_owned(), cred.clone());
        let config = Arc::clone(&config);
        set.spawn(async move {
            let (mut ok, mut failed, mut first_error, mut i) = (Vec::new(), 0usize, None, c);
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
                    &cred,
                    echo,
                    timeout,
                );
                match r.await {
                    Ok(()) => ok.push(t.elapsed()),
                    Err(e) => {
                        failed += 1;
                        first_error.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
            }
            (ok, failed, first_error)
        });
    }
    let (mut all, mut failed, mut first_error) = (Vec::new(), 0, None);
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((ok, f, e)) => {
                all.extend(ok);
                failed += f;
                first_error = first_error.or(e);
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert_with(|| format!("client task: {e}"));
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    Row {
        target: name.into(),
        credential: String::new(),
        logins: all.len(),
        failed,
        per_second: all.len() as f64 / secs,
        latency: Latency::of(&all),
        first_error,
    }
}

/// The sshd row a Portunus row is compared with: the same credential kind (a token is typed
/// where a password would be).
fn peer<'a>(rows: &'a [Row], r: &Row) -> Option<&'a Row> {
    let kind = if r.credential == "token" {
        "password"
    } else {
        r.credential.as_str()
    };
    rows.iter()
        .find(|s| s.target.starts_with("OpenSSH") && s.credential == kind)
}

fn outcome(args: &Args, rows: Vec<Row>) -> Outcome {
    let mut md = format!(
        "Full SSH logins (TCP connect, key exchange, authentication, direct-tcpip channel, echo) \
         from a russh client, {} concurrent clients, {} s per row. password: argon2id (Portunus) \
         vs PAM `pam_unix` with a yescrypt hash (sshd); key: the same Ed25519 key on both; \
         token: an O&M token sent as the password (a replicated spend per login), compared with \
         sshd's password logins. Ratio: logins per second over sshd's with the same kind.\n\n\
         | Target | Credential | Logins | Failed | Logins/s | p50 ms | p99 ms | vs sshd |\n\
         |---|---|---:|---:|---:|---:|---:|---:|\n",
        args.clients, args.duration
    );
    let mut goals = Vec::new();
    for r in &rows {
        let ratio = peer(&rows, r)
            .filter(|_| !r.target.starts_with("OpenSSH"))
            .map(|s| (s, r.per_second / s.per_second));
        md.push_str(&format!(
            "| {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {} |\n",
            r.target,
            r.credential,
            r.logins,
            r.failed,
            r.per_second,
            r.latency.p50_ms,
            r.latency.p99_ms,
            ratio.map_or("-".into(), |(_, x)| format!("{x:.2}x")),
        ));
        if let Some((s, x)) = ratio {
            goals.push(Goal::new(
                "logins",
                &format!(
                    "login rate >= 3x sshd's, same credential kind ({}, {} vs sshd {})",
                    r.target, r.credential, s.credential
                ),
                format!(
                    "{:.1}/s vs {:.1}/s ({x:.2}x, ratio of logins per second), {} failed",
                    r.per_second, s.per_second, r.failed
                ),
                x >= 3.0 && r.failed == 0 && s.failed == 0,
            ));
        }
    }
    let errors: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            let e = r.first_error.as_ref()?;
            Some(format!("- {}, {}: {e}\n", r.target, r.credential))
        })
        .collect();
    if !errors.is_empty() {
        md.push_str("\nFirst error of each row with failed logins:\n\n");
        md.extend(errors);
    }
    let png = args.out.join("logins.png");
    let bars: Vec<(String, f64)> = rows
        .iter()
        .map(|r| {
            let who = r.target.split(" (").next().unwrap_or(&r.target);
            (format!("{who}, {}", r.credential), r.per_second)
        })
        .collect();
    let _ = std::fs::create_dir_all(&args.out);
    if crate::plot::bars(&png, "Full SSH logins per second", "logins/s", &bars).is_ok() {
        md.push_str("\n![login rates](logins.png)\n");
    }
    Outcome {
        name: "logins",
        markdown: md,
        json: serde_json::to_value(&rows).unwrap_or_default(),
        goals,
    }
}
