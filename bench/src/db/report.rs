//! The `db` benchmark's tables and goals (issue 13): native port >= 0.9x direct transactions/s
//! at the highest client count, gateway CPU per GiB <= HAProxy's on the large result set, and
//! idle sessions measured.

use serde::Serialize;

use super::bulk::{self, BulkRow};
use super::idle::IdleRow;
use super::oltp::Row;
use super::setup::{Engine, Via};
use crate::suite::{Goal, Outcome};

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub duration_s: u64,
    pub trials: usize,
    pub setup: String,
    pub rows: Vec<Row>,
    /// The large result set's query per database.
    pub bulk_queries: Vec<(Engine, String)>,
    pub bulk: Vec<BulkRow>,
    pub idle: Vec<IdleRow>,
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

impl Report {
    fn markdown(&self) -> String {
        let mut md = format!(
            "Each database on loopback, reached directly, through the Portunus node's native port \
             (bastion user + O&M token), through `ssh -N -L` via the node (OpenSSH client, token \
             as SSH password, hosted credential injected), and through HAProxy in TCP mode; one \
             node process, {}. {} s per run, {} trial(s), the paths in turn within a trial: \
             tx/s and latencies of the median trial, `vs direct` the median of the trials' \
             ratios. Middle CPU: CPU time of the node or HAProxy process per transaction \
             (/proc/<pid>/stat). Cores `shared`: the load generators, the servers and the \
             process in the middle share every core of the machine, so a middle's CPU is taken \
             from the database; `split`: the database, the load generator and the `ssh -L` \
             client are confined to the first half of the cores and the node and HAProxy to the \
             other half (`taskset`), as a bastion runs on a machine of its own. Compare paths \
             within one run and one placement.\n\n\
             | Cores | Database | Workload | Clients | Path | tx/s | vs direct | p50 ms | p95 ms | p99 ms | middle CPU ms/tx |\n\
             |---|---|---|---:|---|---:|---:|---:|---:|---:|---:|\n",
            self.setup, self.duration_s, self.trials
        );
        for r in &self.rows {
            let (tps, p50, p95, p99) = match &r.run {
                Some(x) => (
                    format!("{:.0}", x.tps),
                    format!("{:.2}", x.p50_ms),
                    format!("{:.2}", x.p95_ms),
                    format!("{:.2}", x.p99_ms),
                ),
                None => (
                    r.note.clone().unwrap_or_else(|| "not measured".into()),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                ),
            };
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {tps} | {} | {p50} | {p95} | {p99} | {} |\n",
                r.placement.label(),
                r.engine.label(),
                r.workload.name(),
                r.clients,
                r.via.label(),
                r.ratio_vs_direct.map_or("-".into(), |x| format!("{x:.2}x")),
                opt(r.middle_cpu_ms_per_tx, 3),
            ));
        }
        let queries: Vec<String> = self
            .bulk_queries
            .iter()
            .map(|(e, q)| format!("{}: `{q}`", e.label()))
            .collect();
        md.push_str(&format!(
            "\nLarge result set ({}) read by the bench's own client (answers drained without \
             decoding rows), once per path in each of the {} trial(s), the paths in turn; GiB, \
             rows, seconds and CPU seconds (of the node or HAProxy process) are summed over the \
             trials.\n\n\
             | Database | Path | GiB | Rows | Seconds | GiB/s | middle CPU-s | CPU-s per GiB |\n\
             |---|---|---:|---:|---:|---:|---:|---:|\n",
            queries.join("; "),
            self.trials
        ));
        for b in &self.bulk {
            md.push_str(&format!(
                "| {} | {} | {:.2} | {} | {:.2} | {:.2} | {} | {} |\n",
                b.engine.label(),
                b.path,
                b.gib,
                b.rows,
                b.seconds,
                b.gib_per_s,
                opt(b.middle_cpu_s, 2),
                opt(b.cpu_s_per_gib, 3)
            ));
        }
        md.push_str(
            "\nIdle MySQL sessions (logged in, one `SELECT 1`, then silent), 16 opened at a time, \
             on a freshly started node per path: node VmRSS before and with them.\n\n\
             | Path | Sessions | Opened | RSS before MiB | RSS with MiB | KiB per session |\n\
             |---|---:|---:|---:|---:|---:|\n",
        );
        for i in &self.idle {
            md.push_str(&format!(
                "| {} | {} | {} | {:.1} | {:.1} | {:.0} |\n",
                i.path, i.sessions, i.opened, i.rss_before_mib, i.rss_after_mib, i.kib_per_session
            ));
        }
        for i in self.idle.iter().filter(|i| !i.failures.is_empty()) {
            md.push_str(&format!(
                "\nIdle via {}: not opened: {}\n",
                i.path,
                i.failures.join("; ")
            ));
        }
        md
    }

    fn goals(&self) -> Vec<Goal> {
        let mut goals = Vec::new();
        let top = self.rows.iter().map(|r| r.clients).max().unwrap_or(0);
        for r in self
            .rows
            .iter()
            .filter(|r| r.via == Via::Native && r.clients == top && r.run.is_some())
        {
            let direct = self.rows.iter().find(|d| {
                d.via == Via::Direct
                    && d.placement == r.placement
                    && d.engine == r.engine
                    && d.workload == r.workload
                    && d.clients == top
            });
            let tps = |row: Option<&Row>| row.and_then(|x| x.run.as_ref()).map_or(0.0, |x| x.tps);
            let goal = format!(
                "native port >= 0.9x direct tx/s ({} cores, {}, {}, {top} clients)",
                r.placement.label(),
                r.engine.label(),
                r.workload.name()
            );
            let x = r.ratio_vs_direct.unwrap_or(0.0);
            let measured = format!("{x:.2}x ({:.0} vs {:.0} tx/s)", tps(Some(r)), tps(direct));
            goals.push(Goal::new("db", &goal, measured, x >= 0.9));
        }
        for (engine, _) in &self.bulk_queries {
            let per_gib = |label: &str| {
                self.bulk
                    .iter()
                    .find(|b| b.engine == *engine && b.path == label)
                    .and_then(|b| b.cpu_s_per_gib)
            };
            let Some(native) = per_gib(bulk::NATIVE) else {
                continue;
            };
            for label in [bulk::HAPROXY_OFF, bulk::HAPROXY_ALWAYS] {
                let Some(h) = per_gib(label) else { continue };
                let goal = format!(
                    "native port CPU-s per GiB <= {label}'s ({}, large result set)",
                    engine.label()
                );
                let measured = format!("{native:.3} vs {h:.3} CPU-s/GiB ({:.2}x)", native / h);
                goals.push(Goal::new("db", &goal, measured, native <= h));
            }
        }
        if !self.idle.is_empty() {
            let missing: usize = self.idle.iter().map(|i| i.sessions - i.opened).sum();
            let measured = format!("{missing} not opened");
            goals.push(Goal::new(
                "db",
                "every idle session opened",
                measured,
                missing == 0,
            ));
        }
        goals
    }

    pub(crate) fn outcome(&self) -> Outcome {
        Outcome {
            name: "db",
            markdown: self.markdown(),
            json: serde_json::to_value(self).unwrap_or_default(),
            goals: self.goals(),
        }
    }
}
