//! The `web-pages` benchmark: how soon the administrator console's views and the O&M portal
//! are drawn in a real headless Chromium, on a 3-node cluster of `portunus` processes holding
//! 10,000 users, 10,000 hosts with an account each and 10,000 ended sessions (written through
//! the cluster transport as `large-state` does), with an engineer authorized for every host.
//!
//! `bench/web/pages.py` (selenium + chromedriver) logs on and loads each view afresh N times:
//! per load, the first contentful paint and the moment the view is drawn with the server's data
//! (a `performance.mark` the page's script sets once the requests the view needs have answered
//! and the rows are in the page), both from the start of navigation, as the browser measures.
//! The goal: every page drawn within 200 ms.

use std::path::PathBuf;
use std::process::Command as Process;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use portunus_model::{Command, Principal};
use portunus_raft::tls::ClusterSecret;
use portunus_raft::ClusterClient;
use serde::{Deserialize, Serialize};

use crate::largestate;
use crate::portunus::{Cluster, USER_PASSWORD};
use crate::stats::Latency;
use crate::suite::{Goal, Outcome};

/// Options of `portunus-bench web-pages`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Users to create (besides the administrator and the engineer).
    #[arg(long, default_value_t = 10_000)]
    pub users: usize,
    /// Hosts to create, each with one account, all authorized to the engineer.
    #[arg(long, default_value_t = 10_000)]
    pub hosts: usize,
    /// Ended sessions to record.
    #[arg(long, default_value_t = 10_000)]
    pub sessions: usize,
    /// Timed loads of each page.
    #[arg(long, default_value_t = 10)]
    pub loads: usize,
    /// Directory for web-pages.json and web-pages.md.
    #[arg(long, default_value = "bench/results")]
    pub out: PathBuf,
}

/// What the page script reported for one load, in ms from the start of navigation.
#[derive(Debug, Clone, Deserialize, Serialize)]
struct Load {
    drawn: f64,
    paint: Option<f64>,
    html: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
struct Seen {
    console: std::collections::BTreeMap<String, Vec<Load>>,
    portal: std::collections::BTreeMap<String, Vec<Load>>,
    portal_host_rows: usize,
}

#[derive(Debug, Clone, Serialize)]
struct Row {
    page: String,
    drawn: Latency,
    paint: Latency,
}

#[derive(Debug, Clone, Serialize)]
struct Report {
    users: usize,
    hosts: usize,
    sessions: usize,
    loads: usize,
    portal_host_rows: usize,
    rows: Vec<Row>,
}

const ADMIN: &str = "web-admin";
const ENGINEER: &str = "web-engineer";

/// Runs the benchmark.
pub async fn run(args: &Args) -> anyhow::Result<Outcome> {
    let mut cluster = Cluster::start(3).await?;
    let report = measure(&mut cluster, args).await?;
    drop(cluster);
    Ok(outcome(report))
}

async fn measure(cluster: &mut Cluster, args: &Args) -> anyhow::Result<Report> {
    let secret = ClusterSecret::new(cluster.procs.secret.as_str()).context("cluster secret")?;
    let client = Arc::new(ClusterClient::new(&secret).context("cluster client")?);
    let via = cluster.procs.nodes[0].advertise.to_string();
    let fill_args = largestate::Args {
        users: args.users,
        hosts: args.hosts,
        sessions: args.sessions,
        batch: 100,
        duration: 0,
        clients: 0,
        list_calls: 0,
        out: args.out.clone(),
    };
    println!(
        "filling: {} users, {} hosts, {} sessions",
        args.users, args.hosts, args.sessions
    );
    let filled = largestate::fill(&client, &via, &fill_args).await?;

    // The administrator: a user holding an Admin AccessKey of their own.
    let admin_id = cluster.user(ADMIN).await?;
    cluster.procs.cli(
        cluster.procs.nodes[0].advertise,
        &[
            "create-access-key",
            "--role",
            "admin",
            "--user-id",
            &admin_id,
        ],
    )?;
    // The engineer, authorized for every host's account.
    let engineer_id: u64 = cluster.user(ENGINEER).await?.parse()?;
    let grants: Vec<Command> = filled
        .host_ids
        .iter()
        .zip(&filled.account_ids)
        .map(|(&host_id, &account_id)| Command::AttachHostAccounts {
            principal: Principal::User(engineer_id),
            host_id,
            account_ids: [account_id].into(),
        })
        .collect();
    largestate::propose_all(&client, &via, "engineer's grants", grants, 100).await?;

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web/pages.py");
    let base = format!("http://{}", cluster.api_addrs()[0]);
    let input = serde_json::json!({
        "base": base,
        "admin": [ADMIN, USER_PASSWORD],
        "engineer": [ENGINEER, USER_PASSWORD],
        "loads": args.loads,
    });
    println!("loading pages from {base}");
    let run = tokio::task::spawn_blocking(move || {
        Process::new("python3")
            .arg(&script)
            .arg(input.to_string())
            .output()
    })
    .await??;
    if !run.status.success() {
        bail!(
            "bench/web/pages.py failed: {}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    let seen: Seen = serde_json::from_slice(&run.stdout).with_context(|| {
        format!(
            "bench/web/pages.py printed {}",
            String::from_utf8_lossy(&run.stdout)
        )
    })?;
    let ms = |v: f64| Duration::from_secs_f64(v / 1e3);
    let rows = seen
        .console
        .iter()
        .map(|(view, loads)| (format!("console #{view}"), loads))
        .chain(
            seen.portal
                .iter()
                .map(|(view, loads)| (format!("O&M {view}"), loads)),
        )
        .map(|(page, loads)| Row {
            page,
            drawn: Latency::of(&loads.iter().map(|l| ms(l.drawn)).collect::<Vec<_>>()),
            paint: Latency::of(
                &loads
                    .iter()
                    .filter_map(|l| l.paint.map(ms))
                    .collect::<Vec<_>>(),
            ),
        })
        .collect();
    Ok(Report {
        users: args.users,
        hosts: args.hosts,
        sessions: args.sessions,
        loads: args.loads,
        portal_host_rows: seen.portal_host_rows,
        rows,
    })
}

const GOAL_MS: f64 = 200.0;

fn outcome(r: Report) -> Outcome {
    let mut md = format!(
        "A 3-node cluster of `portunus` processes holding {} users, {} hosts with one account \
         each (all authorized to the engineer) and {} ended sessions. Headless Chromium \
         (Debian's `chromium`, driven by selenium) loads each page {} times afresh over plain \
         HTTP on loopback (the browser's cache warm, the session cookie kept): *paint* is the \
         first contentful paint, *drawn* the moment the page's script has the server's answers \
         in the page; both from the start of navigation, in ms. The portal's host list showed \
         {} rows.\n\n\
         | Page | drawn p50 | drawn max | paint p50 | paint max |\n|---|---:|---:|---:|---:|\n",
        r.users, r.hosts, r.sessions, r.loads, r.portal_host_rows
    );
    for row in &r.rows {
        md.push_str(&format!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} |\n",
            row.page, row.drawn.p50_ms, row.drawn.max_ms, row.paint.p50_ms, row.paint.max_ms
        ));
    }
    let scale = format!("{} hosts, {} sessions", r.hosts, r.sessions);
    let goals = r
        .rows
        .iter()
        .map(|row| {
            Goal::new(
                "web-pages",
                &format!("{} drawn <= {GOAL_MS:.0} ms ({scale})", row.page),
                format!(
                    "worst {:.0} ms, p50 {:.0} ms over {} loads",
                    row.drawn.max_ms, row.drawn.p50_ms, row.drawn.count
                ),
                row.drawn.count > 0 && row.drawn.max_ms <= GOAL_MS,
            )
        })
        .collect();
    Outcome {
        name: "web-pages",
        markdown: md,
        json: serde_json::json!({ "report": r }),
        goals,
    }
}
