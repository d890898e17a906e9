//! Small operating-system helpers: free ports, listening checks, process CPU time.

use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// A loopback address whose port was free a moment ago (bound to port 0, then released).
pub(crate) fn free_loopback_addr() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("bind port 0")?;
    Ok(listener.local_addr()?)
}

/// Waits until some process listens on TCP `port` (per /proc/net/tcp*), or `timeout` passes.
pub(crate) async fn wait_listening(port: u16, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while !is_listening(port)? {
        if Instant::now() > deadline {
            bail!("nothing listens on port {port} after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

fn is_listening(port: u16) -> anyhow::Result<bool> {
    const LISTEN: &str = "0A";
    let suffix = format!(":{port:04X}");
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        let found = text.lines().skip(1).any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3 && fields[1].ends_with(&suffix) && fields[3] == LISTEN
        });
        if found {
            return Ok(true);
        }
    }
    Ok(false)
}

/// User + system CPU seconds used so far by process `pid` (all its threads), or by this
/// process when `pid` is `None`. Read from /proc so no `unsafe` is needed.
pub(crate) fn cpu_seconds(pid: Option<u32>) -> anyhow::Result<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let after_comm = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<u64> {
        let field = fields.get(i).with_context(|| format!("{path}: short"))?;
        Ok(field.parse()?)
    };
    // Fields 14 (utime) and 15 (stime) of proc(5); field 3 is index 0 here.
    let total = ticks(11)? + ticks(12)?;
    Ok(total as f64 / clock_ticks_per_second())
}

/// Like [`cpu_seconds`], plus the CPU of the children `pid` has waited for (cutime, cstime):
/// for a forking server such as sshd, whose connections run in child processes.
pub(crate) fn cpu_seconds_with_children(pid: u32) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    let after_comm = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let mut total = 0u64;
    // utime, stime, cutime, cstime (fields 14-17 of proc(5)).
    for i in 11..15 {
        let field = fields.get(i).with_context(|| format!("{path}: short"))?;
        total += field.parse::<u64>()?;
    }
    Ok(total as f64 / clock_ticks_per_second())
}

/// Confines process `pid`, its threads and its descendants (those alive now; later ones inherit
/// it from their parent) to the CPUs `cpus` (a `taskset` list, `0` or `0-1`).
pub(crate) fn confine(pid: u32, cpus: &str) -> anyhow::Result<()> {
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let gone = || !std::path::Path::new(&format!("/proc/{p}")).exists();
        let status = Command::new("taskset")
            .args(["-a", "-p", "-c", cpus, &p.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .context("run taskset (Debian package util-linux)")?;
        if !status.success() {
            // A child that ended meanwhile (a database connection closing) needs no place.
            if gone() && p != pid {
                continue;
            }
            bail!("taskset -a -p -c {cpus} {p} failed: {status}");
        }
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            if gone() && p != pid {
                continue;
            }
            bail!("process {p} has no task list in /proc");
        };
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            todo.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
    }
    Ok(())
}

/// Every CPU of the machine as a `taskset` list, and the halves of it: the first for the
/// databases and load generators, the second for the process in the middle. None with fewer
/// than two CPUs.
pub(crate) fn cpu_halves() -> Option<(String, String, String)> {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    (n >= 2).then(|| {
        let half = n / 2;
        let list = |from: usize, to: usize| {
            if from == to {
                from.to_string()
            } else {
                format!("{from}-{to}")
            }
        };
        (list(0, n - 1), list(0, half - 1), list(half, n - 1))
    })
}

/// Whether process `pid` has no live child (all of its children exited and were reaped).
pub(crate) fn has_no_children(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .map(|c| c.trim().is_empty())
        .unwrap_or(true)
}

fn clock_ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Resident set size of process `pid` in bytes (VmRSS of /proc/<pid>/status).
pub(crate) fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS")?;
    Ok(kb * 1024)
}

/// Bytes allocated on disk under `dir` (what `du` counts: preallocated space included).
pub(crate) fn disk_bytes(dir: &std::path::Path) -> anyhow::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("read {dir:?}"))? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            disk_bytes(&entry.path())?
        } else {
            meta.blocks() * 512
        };
    }
    Ok(total)
}

/// An echo server on a free loopback port, serving until the process ends.
pub(crate) async fn echo_server() -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    Ok(addr)
}
