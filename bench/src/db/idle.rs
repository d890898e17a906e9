//! Memory per idle database session: the node's resident set (VmRSS) before and after `n`
//! MySQL connections are opened (16 at a time, each logged in and answering one `SELECT 1`)
//! and left idle, through the native port (one bastion session each) or through one
//! `ssh -L` tunnel (one channel and one database session each, one bastion session in all).

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Semaphore;

use super::load::Endpoint;
use super::mysql::MySql;
use crate::sys;

/// What one path measured.
#[derive(Debug, Clone, Serialize)]
pub struct IdleRow {
    pub path: String,
    pub sessions: usize,
    pub opened: usize,
    pub rss_before_mib: f64,
    pub rss_after_mib: f64,
    pub kib_per_session: f64,
    /// The first few errors of connections that did not open.
    pub failures: Vec<String>,
}

const AT_ONCE: usize = 16;

/// Opens `n` idle connections through `at`, measuring the RSS of `node_pid` around them.
pub(crate) async fn measure(
    label: &str,
    node_pid: u32,
    at: &Endpoint,
    n: usize,
) -> anyhow::Result<IdleRow> {
    let before = sys::rss_bytes(node_pid)?;
    let gate = Arc::new(Semaphore::new(AT_ONCE));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (gate, at) = (gate.clone(), at.clone());
        set.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let mut c = MySql::connect(at.addr, &at.user, &at.password, Some(&at.database)).await?;
            c.ping().await?;
            anyhow::Ok(c)
        });
    }
    let mut open = Vec::with_capacity(n);
    let mut failures = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok(c)) => open.push(c),
            Ok(Err(e)) if failures.len() < 5 => failures.push(format!("{e:#}")),
            Err(e) if failures.len() < 5 => failures.push(e.to_string()),
            _ => {}
        }
    }
    let after = sys::rss_bytes(node_pid)?;
    let opened = open.len();
    drop(open);
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    let row = IdleRow {
        path: label.into(),
        sessions: n,
        opened,
        rss_before_mib: mib(before),
        rss_after_mib: mib(after),
        kib_per_session: (after as f64 - before as f64) / 1024.0 / opened.max(1) as f64,
        failures,
    };
    println!(
        "idle via {label}: {opened}/{n} open, RSS {:.1} -> {:.1} MiB, {:.0} KiB per session",
        row.rss_before_mib, row.rss_after_mib, row.kib_per_session
    );
    Ok(row)
}
