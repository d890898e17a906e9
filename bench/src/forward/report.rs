//! Results of the `forward` benchmark: per-path numbers, goal ratios, JSON and Markdown.

use std::fmt::Write as _;

use serde::Serialize;

use crate::iperf::Measured;

pub(crate) const RAW: &str = "raw loopback";
pub(crate) const RELAY_COPY: &str = "relay copy";
pub(crate) const RELAY_SPLICE: &str = "relay splice";
pub(crate) const HAPROXY_AUTO: &str = "haproxy splice-auto";
pub(crate) const HAPROXY_ALWAYS: &str = "haproxy splice-request/response";

const GIB: f64 = (1u64 << 30) as f64;

/// Goal: splice moves at least this much more data per CPU second than copy.
const SPLICE_VS_COPY_EFFICIENCY_GOAL: f64 = 1.3;
/// Goal: splice throughput "close to" HAProxy's, read as at least this fraction.
const SPLICE_VS_HAPROXY_THROUGHPUT_GOAL: f64 = 0.9;

/// One measured path.
#[derive(Debug, Clone, Serialize)]
pub struct PathResult {
    pub path: String,
    /// What forwarded the traffic; `None` for raw loopback.
    pub forwarder: Option<String>,
    /// Receiver-side throughput (iperf3 end.sum_received.bits_per_second) in Gbit/s.
    pub gbit_per_s: f64,
    /// Bytes the receiver got, in GiB.
    pub gib_moved: f64,
    /// CPU seconds (user + system) the forwarder used during the run.
    pub cpu_seconds: Option<f64>,
    pub cpu_seconds_per_gib: Option<f64>,
}

impl PathResult {
    pub(crate) fn new(
        path: &str,
        forwarder: Option<&str>,
        measured: Measured,
        cpu_seconds: Option<f64>,
    ) -> Self {
        let gib_moved = measured.bytes as f64 / GIB;
        Self {
            path: path.to_owned(),
            forwarder: forwarder.map(str::to_owned),
            gbit_per_s: measured.bits_per_second / 1e9,
            gib_moved,
            cpu_seconds,
            cpu_seconds_per_gib: cpu_seconds.map(|cpu| cpu / gib_moved),
        }
    }

    /// GiB moved per CPU second of the forwarder.
    fn gib_per_cpu_second(&self) -> Option<f64> {
        self.cpu_seconds
            .filter(|cpu| *cpu > 0.0)
            .map(|cpu| self.gib_moved / cpu)
    }
}

/// A comparison between two paths, with the goal it is held to, if any.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    pub name: String,
    pub value: Option<f64>,
    pub goal: Option<f64>,
    /// `Some(false)` when a goal exists and was missed (or could not be measured).
    pub met: Option<bool>,
}

impl Ratio {
    fn new(name: &str, value: Option<f64>, goal: Option<f64>) -> Self {
        let met = goal.map(|goal| value.is_some_and(|v| v >= goal));
        Self {
            name: name.to_owned(),
            value,
            goal,
            met,
        }
    }
}

/// The whole benchmark result.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub duration_s: u64,
    pub streams: u32,
    pub paths: Vec<PathResult>,
    pub ratios: Vec<Ratio>,
}

impl Report {
    pub(crate) fn new(duration_s: u64, streams: u32, paths: Vec<PathResult>) -> Self {
        let find = |name: &str| paths.iter().find(|p| p.path == name);
        let (copy, splice) = (find(RELAY_COPY), find(RELAY_SPLICE));
        let (haproxy, haproxy_always) = (find(HAPROXY_AUTO), find(HAPROXY_ALWAYS));
        let div = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a / b);
        let efficiency = |p: Option<&PathResult>| p.and_then(PathResult::gib_per_cpu_second);
        let throughput = |p: Option<&PathResult>| p.map(|p| p.gbit_per_s);
        let ratios = vec![
            Ratio::new(
                "splice / copy, throughput per CPU-second",
                div(efficiency(splice), efficiency(copy)),
                Some(SPLICE_VS_COPY_EFFICIENCY_GOAL),
            ),
            Ratio::new(
                "splice / HAProxy splice-auto, throughput",
                div(throughput(splice), throughput(haproxy)),
                Some(SPLICE_VS_HAPROXY_THROUGHPUT_GOAL),
            ),
            Ratio::new(
                "splice / HAProxy splice-auto, throughput per CPU-second",
                div(efficiency(splice), efficiency(haproxy)),
                None,
            ),
            Ratio::new(
                "splice / HAProxy forced splice, throughput",
                div(throughput(splice), throughput(haproxy_always)),
                None,
            ),
            Ratio::new(
                "splice / HAProxy forced splice, throughput per CPU-second",
                div(efficiency(splice), efficiency(haproxy_always)),
                None,
            ),
            Ratio::new(
                "splice / copy, throughput",
                div(throughput(splice), throughput(copy)),
                None,
            ),
        ];
        Self {
            duration_s,
            streams,
            paths,
            ratios,
        }
    }

    /// The report as Markdown: the path table, then the ratios with a plain verdict.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(
            md,
            "## Plain-TCP forwarding, iperf3 over loopback ({} s, {} stream{})\n",
            self.duration_s,
            self.streams,
            if self.streams == 1 { "" } else { "s" }
        );
        md.push_str("| Path | Gbit/s | GiB moved | Forwarder CPU-s | CPU-s per GiB |\n");
        md.push_str("|---|---:|---:|---:|---:|\n");
        for p in &self.paths {
            let _ = writeln!(
                md,
                "| {} | {:.2} | {:.2} | {} | {} |",
                p.path,
                p.gbit_per_s,
                p.gib_moved,
                opt(p.cpu_seconds, 2),
                opt(p.cpu_seconds_per_gib, 3)
            );
        }
        md.push_str("\n| Ratio | Value | Goal | Verdict |\n|---|---:|---:|---|\n");
        for r in &self.ratios {
            let verdict = match r.met {
                Some(true) => "met",
                Some(false) => "**MISSED**",
                None => "(informational)",
            };
            let goal = r.goal.map_or("-".to_owned(), |g| format!(">= {g:.2}x"));
            let value = r.value.map_or("n/a".to_owned(), |v| format!("{v:.2}x"));
            let _ = writeln!(md, "| {} | {value} | {goal} | {verdict} |", r.name);
        }
        md.push_str(
            "\nCPU of the in-process relay is this process's /proc/self/stat delta (the relay is \
             its only work); HAProxy's is its /proc/<pid>/stat delta. iperf3 client and server \
             share the same cores, so compare paths within one run only.\n",
        );
        md
    }
}

fn opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or("-".to_owned(), |v| format!("{v:.decimals$}"))
}
