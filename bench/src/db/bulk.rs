//! The large result set: one `SELECT` answering at least `--bulk-gib` GiB (generated rows:
//! MariaDB's SEQUENCE engine, PostgreSQL's `generate_series`), read by the bench's own client
//! (which drains the answer without decoding rows) directly, through the node's native port (and
//! that of a node set to splice answers instead of copying them) and through HAProxy in TCP mode
//! with each of its splice settings; CPU seconds per GiB of the
//! node and of HAProxy (`/proc/<pid>/stat` utime + stime before and after).

use std::net::SocketAddr;
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

use super::load::Endpoint;
use super::mysql::{Drained, MySql};
use super::pg::Pg;
use super::setup::Engine;
use crate::haproxy::{Haproxy, Splice};
use crate::sys;

/// What one path measured.
#[derive(Debug, Clone, Serialize)]
pub struct BulkRow {
    pub engine: Engine,
    pub path: String,
    pub gib: f64,
    pub rows: u64,
    pub seconds: f64,
    pub gib_per_s: f64,
    /// CPU seconds of the process in the middle; None for the direct path.
    pub middle_cpu_s: Option<f64>,
    pub cpu_s_per_gib: Option<f64>,
}

/// Label of the native-port row, which the goals look up.
pub(crate) const NATIVE: &str = "Portunus native port";
/// The native port of a node started with `--database-splice`.
pub(crate) const NATIVE_SPLICE: &str = "Portunus native port, splicing (--database-splice)";
/// Labels of the HAProxy rows.
pub(crate) const HAPROXY_OFF: &str = "HAProxy (TCP, no splice: default)";
pub(crate) const HAPROXY_AUTO: &str = "HAProxy (TCP, splice-auto)";
pub(crate) const HAPROXY_ALWAYS: &str = "HAProxy (TCP, splice-request/response)";

/// The query answering about `gib` GiB in rows of `row_bytes` characters.
pub(crate) fn query(engine: Engine, gib: f64, row_bytes: usize) -> String {
    // What a row costs on the wire besides its characters: MySQL a 4-byte packet header and a
    // 3-byte length prefix; PostgreSQL a DataRow's tag, length, column count and value length.
    let overhead = match engine {
        Engine::Mysql => 7.0,
        Engine::Postgres => 11.0,
    };
    let rows = (gib * (1u64 << 30) as f64 / (row_bytes as f64 + overhead)).ceil() as u64;
    match engine {
        Engine::Mysql => format!("SELECT REPEAT('x', {row_bytes}) FROM seq_1_to_{rows}"),
        Engine::Postgres => {
            format!("SELECT repeat('x', {row_bytes}) FROM generate_series(1, {rows})")
        }
    }
}

/// Reads the answer to `sql` through every path; `trials` rounds, the paths in turn.
pub(crate) async fn run(
    engine: Engine,
    direct: &Endpoint,
    (native, node_pid): (&Endpoint, u32),
    (splicing, splicing_pid): (&Endpoint, u32),
    sql: &str,
    trials: usize,
) -> anyhow::Result<Vec<BulkRow>> {
    let target = direct.addr;
    let mut sums: Vec<BulkRow> = Vec::new();
    for _ in 0..trials.max(1) {
        let mut rows = vec![fetch(engine, "direct", direct, None, sql).await?];
        rows.push(fetch(engine, NATIVE, native, Some(node_pid), sql).await?);
        rows.push(fetch(engine, NATIVE_SPLICE, splicing, Some(splicing_pid), sql).await?);
        for (label, splice) in [
            (HAPROXY_OFF, Splice::Off),
            (HAPROXY_AUTO, Splice::Auto),
            (HAPROXY_ALWAYS, Splice::Always),
        ] {
            rows.push(through_haproxy(engine, label, splice, target, direct, sql).await?);
        }
        if sums.is_empty() {
            sums = rows;
        } else {
            for (s, r) in sums.iter_mut().zip(rows) {
                s.gib += r.gib;
                s.rows += r.rows;
                s.seconds += r.seconds;
                s.middle_cpu_s = s.middle_cpu_s.zip(r.middle_cpu_s).map(|(a, b)| a + b);
            }
        }
    }
    for s in &mut sums {
        s.gib_per_s = s.gib / s.seconds.max(1e-9);
        s.cpu_s_per_gib = s.middle_cpu_s.map(|c| c / s.gib.max(1e-9));
    }
    Ok(sums)
}

async fn through_haproxy(
    engine: Engine,
    label: &str,
    splice: Splice,
    target: SocketAddr,
    direct: &Endpoint,
    sql: &str,
) -> anyhow::Result<BulkRow> {
    let haproxy = Haproxy::start(target, splice).await?;
    let at = Endpoint {
        addr: haproxy.addr(),
        ..direct.clone()
    };
    let row = fetch(engine, label, &at, haproxy.pid(), sql).await;
    haproxy.stop().await?;
    row
}

/// Logs in through `at`, then reads the whole answer to `sql`, timing it and the CPU of `pid`.
async fn fetch(
    engine: Engine,
    label: &str,
    at: &Endpoint,
    pid: Option<u32>,
    sql: &str,
) -> anyhow::Result<BulkRow> {
    let what = || format!("{} bulk via {label}", engine.label());
    let mut client = Client::connect(engine, at).await.with_context(what)?;
    let before = pid.map(|p| sys::cpu_seconds(Some(p))).transpose()?;
    let started = Instant::now();
    let drained = client.query_drain(sql).await.with_context(what)?;
    let seconds = started.elapsed().as_secs_f64();
    let after = pid.map(|p| sys::cpu_seconds(Some(p))).transpose()?;
    let middle_cpu_s = before.zip(after).map(|(b, a)| a - b);
    let gib = drained.bytes as f64 / (1u64 << 30) as f64;
    println!(
        "{}: {gib:.2} GiB in {seconds:.2} s, middle CPU {}",
        what(),
        middle_cpu_s.map_or("-".into(), |c| format!("{c:.2} s"))
    );
    Ok(BulkRow {
        engine,
        path: label.into(),
        gib,
        rows: drained.rows,
        seconds,
        gib_per_s: gib / seconds.max(1e-9),
        middle_cpu_s,
        cpu_s_per_gib: middle_cpu_s.map(|c| c / gib.max(1e-9)),
    })
}

/// The bench's client of either database.
enum Client {
    MySql(MySql),
    Pg(Pg),
}

impl Client {
    async fn connect(engine: Engine, at: &Endpoint) -> anyhow::Result<Client> {
        Ok(match engine {
            Engine::Mysql => Client::MySql(
                MySql::connect(at.addr, &at.user, &at.password, Some(&at.database)).await?,
            ),
            Engine::Postgres => {
                Client::Pg(Pg::connect(at.addr, &at.user, &at.password, &at.database).await?)
            }
        })
    }

    async fn query_drain(&mut self, sql: &str) -> anyhow::Result<Drained> {
        match self {
            Client::MySql(c) => c.query_drain(sql).await,
            Client::Pg(c) => c.query_drain(sql).await,
        }
    }
}
