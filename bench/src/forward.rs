//! The `forward` benchmark: plain-TCP forwarding throughput and CPU cost over loopback.
//!
//! iperf3 pushes traffic (a) straight to its server, (b) through an in-process
//! [`Relay`] in copy mode, (c) the same in splice mode, and (d) through HAProxy in TCP mode with
//! `option splice-auto` (plus, for reference, HAProxy forced to splice with
//! `option splice-request`/`splice-response`). For each forwarder the CPU seconds it used during the run are taken
//! from /proc (this process for the relay, the child for HAProxy).

mod report;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{ensure, Context};
use portunus_proxy::forward::ForwardMode;
use portunus_proxy::relay::Relay;

use crate::haproxy::{self, Haproxy};
use crate::{iperf, sys};
pub use report::{PathResult, Ratio, Report};

/// Options of `portunus-bench forward`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Seconds each iperf3 run lasts.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Parallel iperf3 streams (iperf3 -P).
    #[arg(long, default_value_t = 1)]
    pub streams: u32,
    /// Directory for forward.json and forward.md.
    #[arg(long, default_value = "bench/results")]
    pub out: PathBuf,
}

/// Runs the benchmark, writes `forward.json` and `forward.md` under `--out`, prints the table.
pub async fn main(args: Args) -> anyhow::Result<()> {
    let report = run(&args).await?;
    let markdown = report.to_markdown();
    std::fs::create_dir_all(&args.out).with_context(|| format!("create {:?}", args.out))?;
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::write(args.out.join("forward.json"), json + "\n")?;
    std::fs::write(args.out.join("forward.md"), &markdown)?;
    println!("{markdown}");
    Ok(())
}

/// Measures the four paths one after the other against one iperf3 server.
pub async fn run(args: &Args) -> anyhow::Result<Report> {
    ensure!(
        args.duration > 0 && args.streams > 0,
        "duration and streams must be > 0"
    );
    let server = iperf::Server::start().await?;
    let mut paths = Vec::new();
    let raw = iperf::run_client(server.addr(), args.duration, args.streams).await?;
    paths.push(PathResult::new(report::RAW, None, raw, None));
    for (name, mode) in [
        (report::RELAY_COPY, ForwardMode::Copy),
        (report::RELAY_SPLICE, ForwardMode::Splice),
    ] {
        paths.push(measure_relay(name, mode, server.addr(), args).await?);
    }
    for (name, splice) in [
        (report::HAPROXY_AUTO, haproxy::Splice::Auto),
        (report::HAPROXY_ALWAYS, haproxy::Splice::Always),
    ] {
        paths.push(measure_haproxy(name, splice, server.addr(), args).await?);
    }
    Ok(Report::new(args.duration, args.streams, paths))
}

/// iperf3 through an in-process [`Relay`]; CPU is this process's, whose only work is the relay.
async fn measure_relay(
    name: &str,
    mode: ForwardMode,
    target: SocketAddr,
    args: &Args,
) -> anyhow::Result<PathResult> {
    let relay = Relay::bind(sys::free_loopback_addr()?, target, mode).await?;
    let (addr, counters) = (relay.local_addr()?, relay.counters());
    let serving = tokio::spawn(relay.serve());
    let cpu_before = sys::cpu_seconds(None)?;
    let measured = iperf::run_client(addr, args.duration, args.streams).await;
    let cpu = sys::cpu_seconds(None)? - cpu_before;
    serving.abort();
    let measured = measured?;
    ensure!(
        counters.up() >= measured.bytes,
        "{name}: relay counted {} bytes up, iperf3 received {}",
        counters.up(),
        measured.bytes
    );
    Ok(PathResult::new(
        name,
        Some("portunus relay (in-process)"),
        measured,
        Some(cpu),
    ))
}

/// iperf3 through HAProxy; CPU is the HAProxy child's, from /proc/<pid>/stat.
async fn measure_haproxy(
    name: &str,
    splice: haproxy::Splice,
    target: SocketAddr,
    args: &Args,
) -> anyhow::Result<PathResult> {
    let haproxy = Haproxy::start(target, splice).await?;
    let cpu_before = haproxy.cpu_seconds()?;
    let measured = iperf::run_client(haproxy.addr(), args.duration, args.streams).await;
    let cpu = haproxy.cpu_seconds()? - cpu_before;
    haproxy.stop().await?;
    let forwarder = Some("haproxy (child process)");
    Ok(PathResult::new(name, forwarder, measured?, Some(cpu)))
}
