//! Helpers for whole-system tests: real `portunus` processes on loopback ports chosen at run
//! time, in temporary directories, killed with SIGKILL or stopped with SIGTERM, and waited on by
//! condition rather than by fixed sleeps. [`relay`] puts a fault-injecting UDP relay between the
//! nodes (partitions); [`power`] puts their data directories on disks whose power a test can
//! cut; [`sdk`] obtains O&M tokens through the official API SDK; [`writes`] writes through the
//! API during faults and checks what was acknowledged; [`chaos`] injects seeded random faults
//! and [`history`] checks what clients saw meanwhile.

pub mod chaos;
pub mod history;
pub mod power;
pub mod relay;
pub mod sdk;
pub mod writes;

use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `portunus` binary under test: `$PORTUNUS_BIN`, else beside the test executable.
pub fn portunus_bin() -> PathBuf {
    if let Ok(p) = std::env::var("PORTUNUS_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile directory");
    dir.join("portunus")
}

/// A free TCP port on loopback (see [`portunus_test_ports`]).
pub fn free_tcp() -> SocketAddr {
    portunus_test_ports::free_addr()
}

/// A free UDP port on loopback (see [`portunus_test_ports`]).
pub fn free_udp() -> SocketAddr {
    portunus_test_ports::free_addr()
}

/// Poll `f` every 20 ms until it returns true, failing after `within`.
pub fn wait_until(what: &str, within: Duration, mut f: impl FnMut() -> bool) -> Result<()> {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if f() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("timed out after {within:?} waiting for {what}")
}

/// A minimal HTTP/1.1 GET; returns the status code and body.
pub fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let code = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("no HTTP status line")?;
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

/// The sum of every sample of metric `name` in a Prometheus text exposition.
pub fn metric_sum(exposition: &str, name: &str) -> Option<f64> {
    let mut found = None;
    for line in exposition.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let series_name = series.split('{').next().unwrap_or_default();
        if series_name == name {
            if let Ok(v) = value.trim().parse::<f64>() {
                found = Some(found.unwrap_or(0.0) + v);
            }
        }
    }
    found
}

/// The id in the `created <what> <id>` line `portunus admin ... create` prints.
pub fn created(out: &str) -> String {
    out.split_whitespace()
        .last()
        .filter(|id| id.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no id in {out}"))
        .to_string()
}

/// What a `portunus admin` run printed, and whether it succeeded.
#[derive(Clone, Debug)]
pub struct AdminOutput {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
    /// How long the command ran.
    pub took: Duration,
}

impl AdminOutput {
    /// Its standard output when it succeeded, else an error with its error output.
    pub fn into_result(self) -> Result<String> {
        if self.ok {
            Ok(self.stdout)
        } else {
            bail!("portunus admin failed: {}", self.stderr.trim())
        }
    }
}

/// How long one `portunus admin` run may take before it is killed (the client's own timeout
/// for one API call is 30 s).
pub const ADMIN_BOUND: Duration = Duration::from_secs(60);

/// `portunus admin ARGS...` against the API at `api` (plain HTTP) with the Admin key of
/// [`sdk::admin_key_env`] (clusters started with it in [`ProcCluster::env`]). Killed when it runs
/// longer than [`ADMIN_BOUND`] (reported as a failure).
pub fn admin_cli(api: SocketAddr, args: &[&str]) -> AdminOutput {
    admin_within(api, args, ADMIN_BOUND)
}

/// [`admin_cli`] killed after `bound` instead (then reported as a failure): a paused node
/// accepts connections and never answers, and a client of a fault run must not wait long for
/// it.
pub fn admin_within(api: SocketAddr, args: &[&str], bound: Duration) -> AdminOutput {
    let started = Instant::now();
    let run = || -> Result<AdminOutput> {
        let mut child = Command::new(portunus_bin())
            .arg("admin")
            .args(["--endpoint", &format!("http://{api}")])
            .args(args)
            .env("PORTUNUS_ACCESS_KEY_ID", sdk::ADMIN_KEY_ID)
            .env("PORTUNUS_ACCESS_KEY_SECRET", sdk::ADMIN_KEY_SECRET)
            .env_remove("PORTUNUS_DATA_DIR")
            .env_remove("PORTUNUS_ENDPOINT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let out = read_all(child.stdout.take().context("the child's stdout")?);
        let err = read_all(child.stderr.take().context("the child's stderr")?);
        let status = loop {
            if let Some(s) = child.try_wait()? {
                break Some(s);
            }
            if started.elapsed() > bound {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let stdout = out.join().expect("stdout reader")?;
        let mut stderr = err.join().expect("stderr reader")?;
        if status.is_none() {
            stderr.push_str(&format!("\n(killed: still running after {bound:?})"));
        }
        Ok(AdminOutput {
            ok: status.is_some_and(|s| s.success()),
            stdout,
            stderr,
            took: started.elapsed(),
        })
    };
    run().unwrap_or_else(|e| AdminOutput {
        ok: false,
        stdout: String::new(),
        stderr: format!("running portunus admin: {e:#}"),
        took: started.elapsed(),
    })
}

/// Read `r` to its end on a thread of its own.
fn read_all(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<std::io::Result<String>> {
    std::thread::spawn(move || {
        let mut s = String::new();
        r.read_to_string(&mut s)?;
        Ok(s)
    })
}

/// One node process and its addresses.
pub struct NodeProc {
    pub id: u64,
    pub data_dir: PathBuf,
    pub api: SocketAddr,
    /// Where `/metrics` and `/v1/status` are served (`--metrics-listen`).
    pub metrics: SocketAddr,
    pub ssh: SocketAddr,
    /// The native MySQL gateway (`--mysql-listen`).
    pub mysql: SocketAddr,
    /// The native PostgreSQL gateway (`--postgres-listen`).
    pub postgres: SocketAddr,
    pub cluster: SocketAddr,
    /// Address the other nodes use to reach this one (the relay's front when there is one).
    pub advertise: SocketAddr,
    /// Started with `--witness` (no API, no SSH).
    pub witness: bool,
    pub log: PathBuf,
    child: Option<Child>,
    starts: u32,
}

impl NodeProc {
    /// The node's `/v1/status` as JSON.
    pub fn status(&self) -> Result<serde_json::Value> {
        let (code, body) = http_get(self.metrics, "/v1/status")?;
        if code != 200 {
            bail!("status answered {code}");
        }
        Ok(serde_json::from_str(&body)?)
    }

    /// Whether the process has been spawned at least once (it may have been killed since).
    pub fn spawned(&self) -> bool {
        self.starts > 0
    }

    /// Whether `/readyz` answers 200.
    pub fn ready(&self) -> bool {
        matches!(http_get(self.api, "/readyz"), Ok((200, _)))
    }

    /// The leader this node knows of.
    pub fn leader(&self) -> Option<u64> {
        self.status().ok()?.get("leader")?.as_u64()
    }

    /// Everything the node printed (stdout and stderr) in its latest run.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The sum of every sample of metric `name` (all its label sets) in the node's `/metrics`;
    /// None when the node does not answer or has no such metric.
    pub fn metric(&self, name: &str) -> Option<f64> {
        let (code, body) = http_get(self.metrics, "/metrics").ok()?;
        if code != 200 {
            return None;
        }
        metric_sum(&body, name)
    }

    /// `portunus admin ARGS...` against this node's API with the test clusters' Admin key (see
    /// [`admin_cli`]).
    pub fn admin(&self, args: &[&str]) -> AdminOutput {
        admin_cli(self.api, args)
    }

    /// `portunus admin ARGS...` that must succeed; its standard output.
    pub fn admin_ok(&self, args: &[&str]) -> String {
        let out = self.admin(args);
        assert!(
            out.ok,
            "portunus admin {args:?} through node {}: {out:?}",
            self.id
        );
        out.stdout
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// How the process ended, once it has (None while it runs or when it was never started).
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// SIGKILL the process and reap it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM the process and wait for its exit status.
    pub fn terminate(&mut self, within: Duration) -> Result<std::process::ExitStatus> {
        let mut c = self.child.take().context("not running")?;
        Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status()?;
        let end = Instant::now() + within;
        loop {
            if let Some(s) = c.try_wait()? {
                return Ok(s);
            }
            if Instant::now() > end {
                let _ = c.kill();
                let out = self.output();
                let tail: Vec<&str> = out.lines().rev().take(20).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                bail!(
                    "node {} did not exit within {within:?} of SIGTERM; its last lines:\n{}",
                    self.id,
                    tail.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The sealing key of process test clusters (a test fixture).
pub const SEAL_KEY: &str = "EDI3/V9jrUtF2nUev0ebL6Wk2/ZlWz6S1PXUQcKLiC0=\n";

/// A set of node processes sharing a cluster secret.
pub struct ProcCluster {
    pub dir: tempfile::TempDir,
    pub nodes: Vec<NodeProc>,
    pub secret: String,
    /// The sealing key file every engine started from now on is given (through
    /// PORTUNUS_SEAL_KEY_FILE; witnesses get none), outside every data directory.
    pub seal_key_file: PathBuf,
    /// The `--peers` list given to nodes started with [`ProcCluster::spawn`] (None: single node).
    pub peers: Option<String>,
    /// Extra environment variables for every node started from now on.
    pub env: Vec<(String, String)>,
    /// The relay between the nodes, when made with [`ProcCluster::with_relay`].
    pub relay: Option<relay::Relay>,
    /// Start nodes under this umask (through `sh -c 'umask ..; exec ..'`) instead of the
    /// test's own.
    pub umask: Option<u32>,
    /// The nodes' disks, when made with [`ProcCluster::on_disks`] (dropped after the nodes are
    /// killed, as fields drop in order).
    pub disks: Option<power::Disks>,
}

/// Why a disk operation failed on a cluster without disks.
const NO_DISKS: &str = "the nodes have no disks of their own (ProcCluster::on_disks)";

impl ProcCluster {
    /// Lay out `n` nodes (ids 1..=n) with fresh ports; nothing is started.
    pub fn new(n: u64) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let seal_key_file = dir.path().join("seal-key");
        std::fs::write(&seal_key_file, SEAL_KEY)?;
        let nodes: Vec<NodeProc> = (1..=n)
            .map(|id| (id, free_udp()))
            .map(|(id, cluster)| NodeProc {
                id,
                data_dir: dir.path().join(format!("node{id}")),
                api: free_tcp(),
                metrics: free_tcp(),
                ssh: free_tcp(),
                mysql: free_tcp(),
                postgres: free_tcp(),
                cluster,
                advertise: cluster,
                witness: false,
                log: dir.path().join(format!("node{id}.log")),
                child: None,
                starts: 0,
            })
            .collect();
        let mut c = ProcCluster {
            dir,
            secret: "process-test-cluster-secret-0123456789".into(),
            seal_key_file,
            peers: None,
            env: Vec::new(),
            relay: None,
            umask: None,
            nodes,
            disks: None,
        };
        let all: Vec<u64> = (1..=n).collect();
        if n > 1 {
            c.initial_voters(&all);
        }
        Ok(c)
    }

    /// Like [`ProcCluster::new`], with every node reached through a [`relay::Relay`] so that
    /// tests can partition nodes away and heal them.
    pub fn with_relay(n: u64) -> Result<Self> {
        let mut c = Self::new(n)?;
        let reals = c.nodes.iter().map(|n| (n.id, n.cluster)).collect();
        let relay = relay::Relay::new(&reals)?;
        for n in &mut c.nodes {
            n.advertise = relay.front(n.id);
        }
        c.relay = Some(relay);
        if n > 1 {
            let all: Vec<u64> = (1..=n).collect();
            c.initial_voters(&all);
        }
        Ok(c)
    }

    /// Put every node's data directory on an ext4 disk of its own (`mib` MiB, a loop device)
    /// that [`ProcCluster::power_cut`] can cut; before any node starts.
    pub fn on_disks(&mut self, mib: u64) -> Result<()> {
        self.disks = Some(power::Disks::under(&mut self.nodes, mib)?);
        Ok(())
    }

    /// Cut the power of nodes `ids` at one instant (see [`power::Disks::cut`]): whatever they
    /// had not made durable is gone; the nodes are left stopped, their disks mounted again.
    pub fn power_cut(&mut self, ids: &[u64]) -> Result<()> {
        let disks = self.disks.as_mut().context(NO_DISKS)?;
        disks.cut(&mut self.nodes, ids)
    }

    /// Node `id`'s disk (an error when the cluster was not made [`ProcCluster::on_disks`]).
    pub fn disk(&self, id: u64) -> Result<&power::Disk> {
        Ok(self.disks.as_ref().context(NO_DISKS)?.disk(id))
    }

    /// Node `id`'s disk, to remount.
    pub fn disk_mut(&mut self, id: u64) -> Result<&mut power::Disk> {
        Ok(self.disks.as_mut().context(NO_DISKS)?.disk_mut(id))
    }

    /// The relay (panics when the cluster has none).
    pub fn relay(&self) -> &relay::Relay {
        self.relay.as_ref().expect("cluster made with_relay")
    }

    /// Wait until the leader (`leader`, a running node, or the one it hands over to) has
    /// replicated its whole log, as it stood at the first answer, to every running node: a
    /// restarted node is then really back in the quorum. (The target is fixed at the first
    /// answer: entries the cluster keeps appending meanwhile, such as lease renewals, would
    /// otherwise make it move on every look.)
    pub fn wait_replicated(&self, leader: u64, within: Duration) -> Result<()> {
        let mut asked = leader;
        let mut via = self.nodes[leader as usize - 1].advertise;
        let running: Vec<u64> = self
            .nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| n.id)
            .collect();
        let mut seen = String::from("no status answered");
        let mut target: Option<u64> = None;
        wait_until(
            "the leader to replicate to every running node",
            within,
            || {
                let s = match self.cli_status(via) {
                    Ok(s) => s,
                    Err(e) => {
                        seen = format!("status failed: {e:#}");
                        (asked, via) = (leader, self.nodes[leader as usize - 1].advertise);
                        return false;
                    }
                };
                seen = s.to_string();
                // Leadership moved meanwhile (a member joining can start an election): only
                // a leader reports what it replicated, so ask the running leader this node
                // names (else the first one again, as after a failed status), afresh.
                if s["role"] != "leader" {
                    let named = s["leader"].as_u64().filter(|l| running.contains(l));
                    asked = named.unwrap_or(leader);
                    via = self.nodes[asked as usize - 1].advertise;
                    target = None;
                    return false;
                }
                let Some(last) = s["last_log_index"].as_u64() else {
                    return false;
                };
                let last = *target.get_or_insert(last);
                let members = s["nodes"].as_array().cloned().unwrap_or_default();
                running.iter().filter(|id| **id != asked).all(|id| {
                    members
                        .iter()
                        .any(|m| m["id"] == *id && m["matched_index"].as_u64() >= Some(last))
                })
            },
        )
        .map_err(|e| {
            let logs: Vec<String> = self
                .nodes
                .iter()
                .filter(|n| n.child.is_some())
                .map(|n| n.output())
                .collect();
            e.context(format!(
                "the leader's last status: {seen}\nnode logs:\n{}",
                logs.join("\n----\n")
            ))
        })
    }

    /// `portunus cluster --via ADDR ARGS...` with the cluster's secret; its standard output.
    pub fn cli(&self, via: SocketAddr, args: &[&str]) -> Result<String> {
        let out = Command::new(portunus_bin())
            .args(["cluster", "--via", &via.to_string()])
            .args(args)
            .env("PORTUNUS_CLUSTER_SECRET", &self.secret)
            .env("PORTUNUS_SEAL_KEY_FILE", &self.seal_key_file)
            .output()?;
        if !out.status.success() {
            bail!(
                "portunus cluster {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `portunus cluster --via ADDR status`, parsed.
    pub fn cli_status(&self, via: SocketAddr) -> Result<serde_json::Value> {
        Ok(serde_json::from_str(&self.cli(via, &["status"])?)?)
    }

    /// Node `id`.
    pub fn node(&mut self, id: u64) -> &mut NodeProc {
        &mut self.nodes[id as usize - 1]
    }

    /// Make only nodes `ids` the initial voters; the others can join later.
    pub fn initial_voters(&mut self, ids: &[u64]) {
        let list: Vec<String> = ids
            .iter()
            .map(|id| format!("{}={}", id, self.nodes[*id as usize - 1].advertise))
            .collect();
        self.peers = Some(list.join(","));
    }

    /// Start node `id` with `--peers` (a single node when the cluster has one node), plus
    /// `extra` arguments.
    pub fn spawn(&mut self, id: u64, extra: &[&str]) -> Result<()> {
        let peers = self.peers.clone();
        self.spawn_with(id, peers, extra)
    }

    /// Start node `id` so that it joins the cluster through `via` (a cluster address).
    pub fn spawn_joining(&mut self, id: u64, via: &str) -> Result<()> {
        self.spawn_with(id, None, &["--join", via])
    }

    /// Start node `id` joining through `via`, with `extra` arguments (`--witness`, say).
    pub fn spawn_joining_as(&mut self, id: u64, via: &str, extra: &[&str]) -> Result<()> {
        let mut args = vec!["--join", via];
        args.extend_from_slice(extra);
        self.spawn_with(id, None, &args)
    }

    fn spawn_with(&mut self, id: u64, peers: Option<String>, extra: &[&str]) -> Result<()> {
        let secret = self.secret.clone();
        let seal_key_file = self.seal_key_file.clone();
        let env = self.env.clone();
        let umask = self.umask;
        let n = self.node(id);
        n.starts += 1;
        n.witness = extra.contains(&"--witness");
        // The run before keeps its output beside (`node<id>.run<k>.log`), for diagnosing
        // what led to a restart; `output()` reads the latest run's.
        if n.starts > 1 && n.log.exists() {
            let earlier = n.log.with_extension(format!("run{}.log", n.starts - 1));
            std::fs::rename(&n.log, earlier)?;
        }
        let log = std::fs::File::create(&n.log)?;
        let mut cmd = match umask {
            Some(mask) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!("umask {mask:03o}; exec \"$0\" \"$@\""))
                    .arg(portunus_bin());
                sh
            }
            None => Command::new(portunus_bin()),
        };
        if !n.witness {
            cmd.env("PORTUNUS_SEAL_KEY_FILE", seal_key_file);
        }
        cmd.arg("up")
            .args(["--node-id", &id.to_string()])
            .arg("--data-dir")
            .arg(&n.data_dir)
            .args(["--cluster-listen", &n.cluster.to_string()])
            .args(["--cluster-advertise", &n.advertise.to_string()])
            .args(["--api-listen", &n.api.to_string()])
            .args(["--metrics-listen", &n.metrics.to_string()])
            .args(["--ssh-listen", &n.ssh.to_string()])
            .args(["--mysql-listen", &n.mysql.to_string()])
            .args(["--postgres-listen", &n.postgres.to_string()])
            .arg("--api-plaintext")
            .args(["--drain-grace-secs", "5"])
            .args(extra)
            .env("PORTUNUS_CLUSTER_SECRET", secret)
            .env("PORTUNUS_LOG", "info,openraft=warn")
            .envs(env)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if let Some(p) = peers {
            cmd.args(["--peers", &p]);
        }

        n.child = Some(
            cmd.spawn()
                .with_context(|| format!("spawning {}", portunus_bin().display()))?,
        );
        Ok(())
    }

    /// Start every node.
    /// `n` nodes started with the test Admin key ([`sdk::admin_key_env`]), stable, the key
    /// usable through each.
    pub fn with_admin(n: u64, within: Duration) -> Result<Self> {
        Self::with_admin_env(n, within, &[])
    }

    /// Like [`ProcCluster::with_admin`], every node also given the environment `extra`.
    pub fn with_admin_env(n: u64, within: Duration, extra: &[(&str, &str)]) -> Result<Self> {
        let mut c = ProcCluster::new(n)?;
        c.env = sdk::admin_key_env();
        c.env
            .extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        c.start_with_admin(within)?;
        Ok(c)
    }

    /// `n` nodes behind the fault relay, started with the test clusters' Admin key and a limit
    /// of `limit` sessions in total, once every node applies it (leases fence sessions only
    /// under a limit). When the environment variable `log_knob` is set, its value becomes the
    /// nodes' `PORTUNUS_LOG` (a replay may ask for openraft's election lines).
    pub fn relayed_with_session_limit(
        n: u64,
        log_knob: &str,
        limit: u32,
        within: Duration,
    ) -> Result<Self> {
        let mut c = Self::with_relay(n)?;
        c.env = sdk::admin_key_env();
        if let Ok(filter) = std::env::var(log_knob) {
            c.env.push(("PORTUNUS_LOG".into(), filter));
        }
        c.start_with_admin(within)?;
        let limit_arg = limit.to_string();
        c.cli(
            c.nodes[0].cluster,
            &["settings", "--max-sessions-total", &limit_arg],
        )?;
        for n in &c.nodes {
            wait_until("the session limit on every node", within, || {
                n.metric("portunus_concurrency_slots_limit") == Some(f64::from(limit))
            })?;
        }
        Ok(c)
    }

    /// Start every node; return once they agree on a leader, it replicates to all, and the
    /// Admin key works through every node.
    pub fn start_with_admin(&mut self, within: Duration) -> Result<()> {
        self.spawn_all()?;
        let leader = self.wait_stable(within)?;
        self.wait_replicated(leader, within)?;
        for node in &self.nodes {
            let mut last = None;
            wait_until("the Admin key to work through every node", within, || {
                let out = node.admin(&["user", "list"]);
                let ok = out.ok;
                last = Some(out);
                ok
            })
            .with_context(|| format!("node {}: {last:?}", node.id))?;
        }
        Ok(())
    }

    pub fn spawn_all(&mut self) -> Result<()> {
        for id in 1..=self.nodes.len() as u64 {
            self.spawn(id, &[])?;
        }
        Ok(())
    }

    /// Wait until every running engine is ready and they agree on one leader (which may be a
    /// running witness); returns it.
    pub fn wait_stable(&mut self, within: Duration) -> Result<u64> {
        let mut leader = None;
        let alive: Vec<usize> = (0..self.nodes.len())
            .filter(|i| self.nodes[*i].child.is_some())
            .collect();
        let running: Vec<usize> = alive
            .iter()
            .copied()
            .filter(|i| !self.nodes[*i].witness)
            .collect();
        let nodes = &self.nodes;
        wait_until("a ready cluster with one leader", within, || {
            let leaders: Vec<Option<u64>> = running.iter().map(|i| nodes[*i].leader()).collect();
            let agreed = leaders.first().copied().flatten();
            let leader_running = agreed.is_some_and(|l| alive.contains(&(l as usize - 1)));
            let ok = leader_running
                && leaders.iter().all(|l| *l == agreed)
                && running.iter().all(|i| nodes[*i].ready());
            if ok {
                leader = agreed;
            }
            ok
        })
        .map_err(|e| {
            let logs: Vec<String> = alive.iter().map(|i| nodes[*i].output()).collect();
            e.context(format!("node logs:\n{}", logs.join("\n----\n")))
        })?;
        Ok(leader.expect("set when stable"))
    }
}

/// Through node `n`'s admin command line: a user `user` with `password`, a host `host` at the
/// real sshd on `127.0.0.1:sshd_port` with the hosted account `root` (the private key
/// `root_key`, written under `dir`), and the grant of `root@host` to the user. Returns the
/// host's id.
pub fn sshd_host(
    n: &NodeProc,
    dir: &std::path::Path,
    sshd_port: u16,
    root_key: &str,
    (user, password): (&str, &str),
    host: &str,
) -> String {
    n.admin_ok(&["user", "create", user, "--password", password]);
    let id = created(&n.admin_ok(&["host", "create", host, "--address", "127.0.0.1"]));
    n.admin_ok(&[
        "call",
        "ModifyHostsPort",
        &format!("HostIds=[{id}]"),
        "ProtocolName=SSH",
        &format!("Port={sshd_port}"),
    ]);
    let key = dir.join(format!("{host}-root-key"));
    std::fs::write(&key, root_key).expect("write the target's key");
    let key = key.to_str().expect("a UTF-8 path");
    n.admin_ok(&[
        "host",
        "add-account",
        host,
        "root",
        "--private-key-file",
        key,
    ]);
    n.admin_ok(&["grant", "host", user, host, "--account", "root"]);
    id
}

/// A CA (`ca.pem`, `ca.key`) and a server certificate for 127.0.0.1 signed by it
/// (`server.pem`, `server.key`), written to `dir` with the openssl command, for TLS servers the
/// tests start (rsyslog, slapd). Returns the CA's path.
pub fn loopback_tls_files(dir: &Path) -> PathBuf {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (Debian package openssl)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let ca = [
        &["req", "-x509"][..],
        &ec,
        &["-keyout", "ca.key", "-out", "ca.pem"],
    ];
    run(&[&ca.concat()[..], &["-days", "2", "-subj", "/CN=test CA"]].concat());
    let csr = [
        &["req"][..],
        &ec,
        &["-keyout", "server.key", "-out", "server.csr"],
    ];
    run(&[&csr.concat()[..], &["-subj", "/CN=127.0.0.1"]].concat());
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write san.ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    dir.join("ca.pem")
}
