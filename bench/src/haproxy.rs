//! HAProxy as the reference L4 forwarder, in TCP mode with one of its splice settings.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio::process::{Child, Command};

use crate::sys;

const HAPROXY: &str = "/usr/sbin/haproxy";

/// How HAProxy is told to splice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Splice {
    /// No splice option: HAProxy's default in TCP mode (as `deploy/haproxy.cfg`), copying
    /// through its buffers.
    Off,
    /// `option splice-auto`: HAProxy decides per connection when splicing is worth it.
    Auto,
    /// `option splice-request` + `option splice-response`: always splice.
    Always,
}

impl Splice {
    fn options(self) -> &'static str {
        match self {
            Self::Off => "",
            Self::Auto => "    option splice-auto\n",
            Self::Always => "    option splice-request\n    option splice-response\n",
        }
    }
}

/// A running `haproxy -db` child with its temporary config, killed when dropped.
pub(crate) struct Haproxy {
    addr: SocketAddr,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    /// Starts HAProxy forwarding a free loopback port to `target`, waiting until it listens.
    pub(crate) async fn start(target: SocketAddr, splice: Splice) -> anyhow::Result<Self> {
        let addr = sys::free_loopback_addr()?;
        let dir = tempfile::tempdir().context("tempdir for haproxy.cfg")?;
        let config = dir.path().join("haproxy.cfg");
        std::fs::write(&config, config_text(addr, target, splice)).context("write haproxy.cfg")?;
        let child = Command::new(HAPROXY)
            .arg("-f")
            .arg(&config)
            .arg("-db")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("spawn haproxy")?;
        sys::wait_listening(addr.port(), Duration::from_secs(10)).await?;
        Ok(Self {
            addr,
            child,
            _dir: dir,
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// HAProxy's process id.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// CPU seconds HAProxy has used so far (all threads).
    pub(crate) fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let pid = self.child.id().context("haproxy already exited")?;
        sys::cpu_seconds(Some(pid))
    }

    /// Kills HAProxy and reaps it.
    pub(crate) async fn stop(mut self) -> anyhow::Result<()> {
        self.child.kill().await.context("kill haproxy")
    }
}

fn config_text(listen: SocketAddr, target: SocketAddr, splice: Splice) -> String {
    format!(
        "global\n    maxconn 256\n\n\
         defaults\n    mode tcp\n{}    timeout connect 5s\n    \
         timeout client 1m\n    timeout server 1m\n\n\
         frontend bench\n    bind {listen}\n    default_backend iperf\n\n\
         backend iperf\n    server iperf {target}\n",
        splice.options()
    )
}
