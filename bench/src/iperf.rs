//! iperf3 as the traffic source and sink: a server child process and JSON-reporting clients.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

use crate::sys;

const IPERF3: &str = "/usr/bin/iperf3";

/// A running `iperf3 -s`, killed when dropped.
pub(crate) struct Server {
    addr: SocketAddr,
    _child: Child,
}

impl Server {
    /// Starts an iperf3 server on a free loopback port and waits until it listens.
    pub(crate) async fn start() -> anyhow::Result<Self> {
        let addr = sys::free_loopback_addr()?;
        let child = Command::new(IPERF3)
            .args(["-s", "-B", "127.0.0.1", "-p", &addr.port().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("spawn iperf3 -s")?;
        sys::wait_listening(addr.port(), Duration::from_secs(10)).await?;
        Ok(Self {
            addr,
            _child: child,
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// What one iperf3 client run measured at the receiver.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Measured {
    pub(crate) bits_per_second: f64,
    pub(crate) bytes: u64,
}

/// Runs `iperf3 -c` against `target` for `duration` with `streams` parallel streams.
///
/// Retries a few times while the server is still busy with the previous test.
pub(crate) async fn run_client(
    target: SocketAddr,
    duration: u64,
    streams: u32,
) -> anyhow::Result<Measured> {
    let mut last_error = String::new();
    for _ in 0..5 {
        let out = Command::new(IPERF3)
            .args([
                "-c",
                &target.ip().to_string(),
                "-p",
                &target.port().to_string(),
            ])
            .args([
                "-t",
                &duration.to_string(),
                "-P",
                &streams.to_string(),
                "-J",
            ])
            .kill_on_drop(true)
            .output()
            .await
            .context("run iperf3 -c")?;
        let json: serde_json::Value = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("iperf3 output is not JSON: {out:?}"))?;
        if let Some(err) = json.get("error").and_then(|e| e.as_str()) {
            last_error = err.to_owned();
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        let received = &json["end"]["sum_received"];
        return Ok(Measured {
            bits_per_second: received["bits_per_second"]
                .as_f64()
                .context("no end.sum_received.bits_per_second")?,
            bytes: received["bytes"]
                .as_u64()
                .context("no end.sum_received.bytes")?,
        });
    }
    bail!("iperf3 -c {target} failed: {last_error}")
}
