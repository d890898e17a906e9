//! The transaction benchmarks: each workload at each client count through every path of one
//! database, the paths one after another within a trial (so that they share the machine's
//! conditions), with the CPU time of the process in the middle (the node or HAProxy).

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::load::{self, Run, SysbenchData, Workload};
use super::setup::{Engine, Legs, Via};
use crate::sys;

/// Where the processes run while transactions are measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
pub enum Placement {
    /// Every process may run on every core: the process in the middle takes its CPU from the
    /// database and the load generator.
    Shared,
    /// The databases, the load generator and the `ssh -L` client on the first half of the
    /// cores, the node and HAProxy on the other half: a bastion on a machine of its own, as it
    /// is deployed.
    Split,
}

impl Placement {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Placement::Shared => "shared",
            Placement::Split => "split",
        }
    }
}

/// One workload at one client count through one path.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub placement: Placement,
    pub engine: Engine,
    pub workload: Workload,
    pub clients: usize,
    pub via: Via,
    /// The median trial (by transactions per second); None when every trial failed.
    pub run: Option<Run>,
    /// Transactions per second of each trial.
    pub trial_tps: Vec<f64>,
    /// Median over the trials of this path's tps / the direct path's tps in the same trial.
    pub ratio_vs_direct: Option<f64>,
    /// CPU milliseconds of the process in the middle (node or HAProxy) per transaction.
    pub middle_cpu_ms_per_tx: Option<f64>,
    /// Why a trial failed.
    pub note: Option<String>,
}

/// What the transaction benchmarks need from the command line.
pub(crate) struct Plan<'a> {
    pub(crate) duration: Duration,
    pub(crate) clients: &'a [usize],
    pub(crate) trials: usize,
    pub(crate) sysbench: SysbenchData,
    pub(crate) logs: &'a Path,
    pub(crate) placement: Placement,
    /// The CPUs of the load generator (a `taskset` list), when confined.
    pub(crate) client_cpus: Option<String>,
}

/// The workloads of an engine.
pub(crate) fn workloads(engine: Engine) -> [Workload; 2] {
    match engine {
        Engine::Mysql => [Workload::OltpReadOnly, Workload::OltpReadWrite],
        Engine::Postgres => [Workload::PgbenchSelect, Workload::PgbenchTpcb],
    }
}

/// Every workload and client count of `legs`' engine through every path.
pub(crate) async fn run(legs: &Legs, node_pid: u32, plan: &Plan<'_>) -> Vec<Row> {
    let mut rows = Vec::new();
    for workload in workloads(legs.engine) {
        for &clients in plan.clients {
            rows.extend(one_point(legs, node_pid, plan, workload, clients).await);
        }
    }
    rows
}

/// One (workload, clients) point: `trials` rounds of every path.
async fn one_point(
    legs: &Legs,
    node_pid: u32,
    plan: &Plan<'_>,
    workload: Workload,
    clients: usize,
) -> Vec<Row> {
    let mut runs: Vec<Vec<(Run, Option<f64>)>> = vec![Vec::new(); Via::ALL.len()];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); Via::ALL.len()];
    let mut notes: Vec<Option<String>> = vec![None; Via::ALL.len()];
    for _ in 0..plan.trials.max(1) {
        let mut direct_tps = None;
        for (i, via) in Via::ALL.into_iter().enumerate() {
            let at = legs.endpoint(via);
            let pid = legs.middle_pid(via, node_pid);
            let before = pid.and_then(|p| sys::cpu_seconds(Some(p)).ok());
            let measured = match legs.engine {
                Engine::Mysql => {
                    let cpus = plan.client_cpus.as_deref();
                    load::sysbench(workload, at, plan.sysbench, clients, plan.duration, cpus).await
                }
                Engine::Postgres => {
                    let cpus = plan.client_cpus.as_deref();
                    load::pgbench(workload, at, clients, plan.duration, plan.logs, cpus).await
                }
            };
            let after = pid.and_then(|p| sys::cpu_seconds(Some(p)).ok());
            let run = match measured {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("{} {} via {}: {e:#}", workload.name(), clients, via.label());
                    notes[i] = Some(format!("failed: {e:#}").chars().take(300).collect());
                    continue;
                }
            };
            let cpu_ms = before
                .zip(after)
                .map(|(b, a)| (a - b) * 1e3 / run.transactions.max(1) as f64);
            if via == Via::Direct {
                direct_tps = Some(run.tps);
            }
            if let Some(d) = direct_tps.filter(|d| *d > 0.0) {
                ratios[i].push(run.tps / d);
            }
            println!(
                "[{}] {} {} {} clients via {}: {:.0} tx/s, p50 {:.2} ms, p99 {:.2} ms",
                plan.placement.label(),
                legs.engine.label(),
                workload.name(),
                clients,
                via.label(),
                run.tps,
                run.p50_ms,
                run.p99_ms
            );
            runs[i].push((run, cpu_ms));
        }
    }
    Via::ALL
        .into_iter()
        .enumerate()
        .map(|(i, via)| {
            let trial_tps = runs[i].iter().map(|r| r.0.tps).collect();
            let mut sorted = runs[i].clone();
            sorted.sort_by(|a, b| a.0.tps.total_cmp(&b.0.tps));
            let median = sorted.get(sorted.len() / 2).cloned();
            Row {
                placement: plan.placement,
                engine: legs.engine,
                workload,
                clients,
                via,
                run: median.as_ref().map(|m| m.0.clone()),
                trial_tps,
                ratio_vs_direct: (via != Via::Direct && !ratios[i].is_empty())
                    .then(|| median_of(&ratios[i])),
                middle_cpu_ms_per_tx: median.and_then(|m| m.1),
                note: notes[i].take(),
            }
        })
        .collect()
}

pub(crate) fn median_of(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
