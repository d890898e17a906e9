//! The `api-writes` benchmark: signed Bastionhost API writes on a 3-node cluster of real
//! `portunus` processes against puts on a 3-member cluster of real `etcd` processes (Debian's
//! etcd 3.4), the system a user would weigh a replicated store against, in the same run on the
//! same machine.
//!
//! Portunus: every call is a `CreateUserGroup` of a new group, signed (ACS3-HMAC-SHA256, a fresh
//! nonce) as the official SDK signs it, over plain HTTP/1.1 (`--api-plaintext`), so that each
//! one is authenticated, records its nonce cluster-wide, creates the group and leaves its admin
//! audit entry, all in one Raft log entry with fsync. etcd: every call is a `KV/Put` of a new key over
//! gRPC (HTTP/2 without TLS, its own client protocol), the value as large as the parameters of
//! the Portunus call. Each client keeps one connection open to member `i % 3` and has one call
//! in flight. A fresh cluster of each kind serves each number of clients, Portunus first.
//! CPU seconds of the server processes are read from /proc around each point.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use portunus_ops::client::{new_nonce, sign_request, Credentials};
use serde::Serialize;
use tokio::net::TcpStream;

use crate::plot::Series;
use crate::portunus::Cluster;
use crate::stats::Latency;
use crate::suite::{Goal, Outcome};
use crate::sys::{cpu_seconds, free_loopback_addr, wait_listening};

const ETCD: &str = "/usr/bin/etcd";
const START: Duration = Duration::from_secs(60);
/// A call that takes longer than this counts as failed.
const CALL: Duration = Duration::from_secs(10);
/// AccessKeys the Portunus clients share (one key holds at most 25,000 live nonces).
const KEYS: usize = 16;

/// Options of `portunus-bench api-writes`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Seconds each (system, clients) point lasts.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Concurrent clients, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [16usize, 64, 256])]
    pub clients: Vec<usize>,
    /// Directory for api-writes.json, api-writes.md and api-writes.png.
    #[arg(long, default_value = "bench/results")]
    pub out: PathBuf,
    /// An environment variable for the Portunus nodes, NAME=VALUE (repeatable), to try a
    /// setting (e.g. TOKIO_WORKER_THREADS=1); the results say which were set.
    #[arg(long = "node-env", value_parser = crate::portunus::name_value)]
    pub node_env: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub system: String,
    pub clients: usize,
    pub ok: usize,
    pub failed: usize,
    pub per_second: f64,
    pub latency: Latency,
    /// CPU seconds of the server processes (all three members) per 1,000 successful writes.
    pub server_cpu_s_per_1k: f64,
    /// CPU seconds of the clients (this process) per 1,000 successful writes.
    pub client_cpu_s_per_1k: f64,
    /// Cores the servers and the clients kept busy together over the point (of the machine's
    /// own): near the core count, the rate is bound by CPU, not by waiting.
    pub cores_busy: f64,
    /// The first failure seen, if any.
    pub first_error: Option<String>,
    /// Where a Portunus write's time went, from the nodes' own metrics (None for etcd).
    pub inside: Option<Inside>,
}

/// Means over one point from the members' Prometheus histograms, the leader apart from the
/// followers: time inside the API handler (signature, nonce, the write, the answer) and, of
/// it, the replicated write (`Replica::propose`: batching, forwarding to the leader, commit,
/// apply); and log entries appended per 1,000 writes (the leader's last log index).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Inside {
    pub api_ms_leader: f64,
    pub api_ms_followers: f64,
    pub propose_ms_leader: f64,
    pub propose_ms_followers: f64,
    pub entries_per_1k: f64,
}

/// The sums and counts of one member's histograms, and where its log ends.
#[derive(Debug, Clone, Copy, Default)]
struct Scrape {
    api: (f64, f64),
    propose: (f64, f64),
    last_log_index: f64,
    leader: bool,
}

impl Scrape {
    fn of(addr: SocketAddr) -> anyhow::Result<Scrape> {
        let (status, body) = portunus_tests::http_get(addr, "/metrics")?;
        anyhow::ensure!(status == 200, "/metrics of {addr} answered {status}");
        let total = |name: &str| -> f64 {
            body.lines()
                .filter(|l| {
                    l.strip_prefix(name)
                        .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
                })
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        Ok(Scrape {
            api: (
                total("portunus_api_request_seconds_sum"),
                total("portunus_api_request_seconds_count"),
            ),
            propose: (
                total("portunus_raft_commit_seconds_sum"),
                total("portunus_raft_commit_seconds_count"),
            ),
            last_log_index: total("portunus_raft_last_log_index"),
            leader: total("portunus_raft_is_leader") > 0.0,
        })
    }
}

/// [`Inside`] from scrapes of every member before and after a point with `ok` writes; None
/// when no member led at both ends or leadership moved meanwhile (the leader's figures would
/// mix two members).
fn inside(before: &[Scrape], after: &[Scrape], ok: usize) -> Option<Inside> {
    if before.iter().zip(after).any(|(b, a)| b.leader != a.leader) {
        return None;
    }
    let mean_ms = |pick: &dyn Fn(&Scrape) -> (f64, f64), leader: bool| {
        let (mut sum, mut count) = (0.0, 0.0);
        for (b, a) in before.iter().zip(after) {
            if a.leader == leader {
                sum += pick(a).0 - pick(b).0;
                count += pick(a).1 - pick(b).1;
            }
        }
        if count > 0.0 {
            sum * 1000.0 / count
        } else {
            0.0
        }
    };
    let (b, a) = before.iter().zip(after).find(|(_, a)| a.leader)?;
    Some(Inside {
        api_ms_leader: mean_ms(&|s| s.api, true),
        api_ms_followers: mean_ms(&|s| s.api, false),
        propose_ms_leader: mean_ms(&|s| s.propose, true),
        propose_ms_followers: mean_ms(&|s| s.propose, false),
        entries_per_1k: if ok == 0 {
            0.0
        } else {
            (a.last_log_index - b.last_log_index) * 1000.0 / ok as f64
        },
    })
}

/// What one client saw.
#[derive(Default)]
struct Tally {
    ok: Vec<Duration>,
    failed: usize,
    first_error: Option<String>,
}

impl Tally {
    fn fail(&mut self, why: String) {
        self.failed += 1;
        self.first_error.get_or_insert(why);
    }

    fn merge(&mut self, other: Tally) {
        self.ok.extend(other.ok);
        self.failed += other.failed;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// Runs the benchmark.
pub async fn run(args: &Args) -> anyhow::Result<Outcome> {
    anyhow::ensure!(
        Path::new(ETCD).exists(),
        "{ETCD} is missing: install Debian's etcd-server (scripts/bench.sh does)"
    );
    let value_bytes = params_bytes();
    let mut rows = Vec::new();
    for &clients in &args.clients {
        rows.push(portunus_point(clients, args.duration, &args.node_env).await?);
        rows.push(etcd_point(clients, args.duration, value_bytes).await?);
        for r in &rows[rows.len() - 2..] {
            println!(
                "{} clients={} ok={} failed={} {:.0}/s p50 {:.2} ms p99 {:.2} ms",
                r.system,
                r.clients,
                r.ok,
                r.failed,
                r.per_second,
                r.latency.p50_ms,
                r.latency.p99_ms
            );
        }
    }
    std::fs::create_dir_all(&args.out)?;
    let png = args.out.join("api-writes.png");
    let series: Vec<Series> = ["portunus", "etcd"]
        .iter()
        .map(|s| Series {
            name: (*s).to_string(),
            points: rows
                .iter()
                .filter(|r| r.system == *s && r.ok > 0)
                .map(|r| (r.clients, r.latency))
                .collect(),
        })
        .collect();
    let plotted = crate::plot::latency_vs_clients(
        &png,
        "Signed API writes (Portunus) and puts (etcd): latency vs clients",
        &series,
    )
    .is_ok();
    Ok(outcome(args, rows, value_bytes, plotted))
}

/// The parameters a Portunus client sends per call (the query string of a typical group name),
/// which is the size of the value each etcd put carries.
fn params_bytes() -> usize {
    format!("UserGroupName={}", group_name(99, 99_999)).len()
}

fn group_name(client: usize, n: u64) -> String {
    format!("bench-writer-{client:03}-group-{n:07}")
}

async fn portunus_point(
    clients: usize,
    secs: u64,
    env: &[(String, String)],
) -> anyhow::Result<Row> {
    let cluster = Cluster::start_with_env(3, &crate::portunus::env_refs(env)).await?;
    let via = cluster.procs.nodes[0].cluster;
    let mut keys = Vec::new();
    for _ in 0..KEYS.min(clients) {
        let procs = &cluster.procs;
        let out = tokio::task::block_in_place(|| {
            procs.cli(
                via,
                &["create-access-key", "--role", "admin", "--comment", "bench"],
            )
        })?;
        let field = |name: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
                .with_context(|| format!("no {name} in {out}"))
        };
        keys.push(Credentials {
            access_key_id: field("access key id:")?,
            access_key_secret: field("access key secret:")?,
        });
    }
    let addrs = cluster.api_addrs();
    let pids: Vec<u32> = (1..=3)
        .map(|id| cluster.pid(id))
        .collect::<anyhow::Result<_>>()?;
    // Every key works on every node before the clock starts.
    for k in &keys {
        for a in &addrs {
            let mut c = H1::connect(*a).await?;
            let name = format!("warm-{}-{a}", k.access_key_id);
            c.create_group(k, &name).await.map_err(anyhow::Error::msg)?;
        }
    }
    let mut writers = Vec::new();
    for i in 0..clients {
        writers.push(ApiClient {
            conn: H1::connect(addrs[i % addrs.len()]).await?,
            key: keys[i % keys.len()].clone(),
        });
    }
    let metrics = cluster.metrics_addrs();
    let scrape =
        || -> anyhow::Result<Vec<Scrape>> { metrics.iter().map(|a| Scrape::of(*a)).collect() };
    let before = tokio::task::block_in_place(scrape)?;
    let (tally, elapsed, cpu) = timed(writers, secs, &pids).await?;
    let after = tokio::task::block_in_place(scrape)?;
    drop(cluster);
    let mut row = row("portunus", clients, tally, elapsed, cpu);
    row.inside = inside(&before, &after, row.ok);
    Ok(row)
}

async fn etcd_point(clients: usize, secs: u64, value_bytes: usize) -> anyhow::Result<Row> {
    let etcd = Etcd::start().await?;
    let value = Bytes::from(vec![b'v'; value_bytes]);
    let mut writers = Vec::new();
    for i in 0..clients {
        writers.push(EtcdClient {
            conn: H2::connect(etcd.clients[i % etcd.clients.len()]).await?,
            value: value.clone(),
        });
    }
    let pids: Vec<u32> = etcd.children.iter().map(Child::id).collect();
    let (tally, elapsed, cpu) = timed(writers, secs, &pids).await?;
    drop(etcd);
    Ok(row("etcd", clients, tally, elapsed, cpu))
}

/// One client of a timed run: what one write is, and how it connects again after an error.
trait Writer: Send + 'static {
    /// The `n`th write of client `i`.
    fn write(&mut self, i: usize, n: u64) -> impl Future<Output = Result<(), String>> + Send;
    fn reconnect(&mut self) -> impl Future<Output = ()> + Send;
}

/// A Portunus API client: `CreateUserGroup` signed with its AccessKey.
struct ApiClient {
    conn: H1,
    key: Credentials,
}

impl Writer for ApiClient {
    async fn write(&mut self, i: usize, n: u64) -> Result<(), String> {
        self.conn.create_group(&self.key, &group_name(i, n)).await
    }

    async fn reconnect(&mut self) {
        if let Ok(c) = H1::connect(self.conn.addr).await {
            self.conn = c;
        }
    }
}

/// An etcd client: `KV/Put` of a fresh key.
struct EtcdClient {
    conn: H2,
    value: Bytes,
}

impl Writer for EtcdClient {
    async fn write(&mut self, i: usize, n: u64) -> Result<(), String> {
        let key = group_name(i, n);
        self.conn.put(key.as_bytes(), &self.value).await
    }

    async fn reconnect(&mut self) {
        if let Ok(c) = H2::connect(self.conn.addr).await {
            self.conn = c;
        }
    }
}

/// Every client writes in a loop for `secs` seconds: what was answered and how fast, the
/// seconds taken, and the CPU seconds the server processes `pids` used meanwhile.
async fn timed<W: Writer>(
    clients: Vec<W>,
    secs: u64,
    pids: &[u32],
) -> anyhow::Result<(Tally, f64, Cpu)> {
    let server0 = cpu_of(pids)?;
    let client0 = cpu_seconds(None)?;
    let started = Instant::now();
    let end = started + Duration::from_secs(secs);
    let mut set = tokio::task::JoinSet::new();
    for (i, mut client) in clients.into_iter().enumerate() {
        set.spawn(async move {
            let mut t = Tally::default();
            let mut n = 0u64;
            while Instant::now() < end {
                n += 1;
                let at = Instant::now();
                match client.write(i, n).await {
                    Ok(()) => t.ok.push(at.elapsed()),
                    Err(e) => {
                        t.fail(e);
                        client.reconnect().await;
                    }
                }
            }
            t
        });
    }
    let tally = join(&mut set).await;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = Cpu {
        server: cpu_of(pids)? - server0,
        client: cpu_seconds(None)? - client0,
    };
    Ok((tally, elapsed, cpu))
}

/// CPU seconds spent over a point by the server processes and by the clients.
#[derive(Debug, Clone, Copy)]
struct Cpu {
    server: f64,
    client: f64,
}

async fn join(set: &mut tokio::task::JoinSet<Tally>) -> Tally {
    let mut all = Tally::default();
    while let Some(r) = set.join_next().await {
        match r {
            Ok(t) => all.merge(t),
            Err(e) => all.fail(format!("a client task ended: {e}")),
        }
    }
    all
}

fn row(system: &str, clients: usize, t: Tally, elapsed: f64, cpu: Cpu) -> Row {
    let ok = t.ok.len();
    let per_1k = |s: f64| if ok == 0 { 0.0 } else { s * 1000.0 / ok as f64 };
    Row {
        system: system.into(),
        clients,
        ok,
        failed: t.failed,
        per_second: ok as f64 / elapsed,
        latency: Latency::of(&t.ok),
        server_cpu_s_per_1k: per_1k(cpu.server),
        client_cpu_s_per_1k: per_1k(cpu.client),
        cores_busy: (cpu.server + cpu.client) / elapsed,
        first_error: t.first_error,
        inside: None,
    }
}

fn cpu_of(pids: &[u32]) -> anyhow::Result<f64> {
    pids.iter().map(|p| cpu_seconds(Some(*p))).sum()
}

/// One HTTP/1.1 keep-alive connection to a node's API.
struct H1 {
    addr: SocketAddr,
    send: http1::SendRequest<Full<Bytes>>,
}

impl H1 {
    async fn connect(addr: SocketAddr) -> anyhow::Result<H1> {
        let tcp = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        tcp.set_nodelay(true)?;
        let (send, conn) = http1::handshake(TokioIo::new(tcp)).await?;
        tokio::spawn(conn);
        Ok(H1 { addr, send })
    }

    /// `CreateUserGroup` named `name`, signed with `key`: Ok on a 200 answer.
    async fn create_group(&mut self, key: &Credentials, name: &str) -> Result<(), String> {
        let host = self.addr.to_string();
        let signed = sign_request(
            key,
            &host,
            "CreateUserGroup",
            &[("UserGroupName", name)],
            unix_ms(),
            &new_nonce(),
        )
        .map_err(|e| format!("signing: {e}"))?;
        let mut req = Request::post(format!("/?{}", signed.query));
        for (k, v) in &signed.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = req
            .header("content-length", "0")
            .body(Full::new(Bytes::new()))
            .map_err(|e| format!("request: {e}"))?;
        let call = async {
            self.send
                .ready()
                .await
                .map_err(|e| format!("connection: {e}"))?;
            let resp = self
                .send
                .send_request(req)
                .await
                .map_err(|e| format!("sending: {e}"))?;
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .to_bytes();
            if status == 200 {
                Ok(())
            } else {
                let text: String = String::from_utf8_lossy(&body).chars().take(300).collect();
                Err(format!("HTTP {status}: {text}"))
            }
        };
        tokio::time::timeout(CALL, call)
            .await
            .map_err(|_| format!("no answer within {CALL:?}"))?
    }
}

/// One HTTP/2 (gRPC, no TLS) connection to an etcd member.
struct H2 {
    addr: SocketAddr,
    send: http2::SendRequest<Full<Bytes>>,
}

impl H2 {
    async fn connect(addr: SocketAddr) -> anyhow::Result<H2> {
        let tcp = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        tcp.set_nodelay(true)?;
        let (send, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(tcp)).await?;
        tokio::spawn(conn);
        Ok(H2 { addr, send })
    }

    /// `etcdserverpb.KV/Put` of `key` = `value`: Ok when the status is 0.
    async fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        let mut msg = Vec::with_capacity(key.len() + value.len() + 8);
        protobuf_bytes(&mut msg, 1, key);
        protobuf_bytes(&mut msg, 2, value);
        let mut body = Vec::with_capacity(msg.len() + 5);
        body.push(0);
        body.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        body.extend_from_slice(&msg);
        let req = Request::post(format!("http://{}/etcdserverpb.KV/Put", self.addr))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("request: {e}"))?;
        let call = async {
            self.send
                .ready()
                .await
                .map_err(|e| format!("connection: {e}"))?;
            let resp = self
                .send
                .send_request(req)
                .await
                .map_err(|e| format!("sending: {e}"))?;
            let status = resp.status().as_u16();
            let head = resp.headers().clone();
            let collected = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?;
            let trailers = collected.trailers().cloned().unwrap_or_default();
            let field = |name: &str| {
                trailers
                    .get(name)
                    .or_else(|| head.get(name))
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            match (status, field("grpc-status").as_deref()) {
                (200, Some("0")) => Ok(()),
                (s, g) => Err(format!(
                    "HTTP {s}, grpc-status {g:?}: {}",
                    field("grpc-message").unwrap_or_default()
                )),
            }
        };
        tokio::time::timeout(CALL, call)
            .await
            .map_err(|_| format!("no answer within {CALL:?}"))?
    }
}

/// Appends protobuf field `field` (wire type 2: length-delimited) holding `bytes`.
fn protobuf_bytes(out: &mut Vec<u8>, field: u8, bytes: &[u8]) {
    out.push((field << 3) | 2);
    let mut n = bytes.len();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    }
    out.extend_from_slice(bytes);
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A 3-member etcd cluster on loopback, in a temporary directory; killed when dropped.
struct Etcd {
    children: Vec<Child>,
    clients: Vec<SocketAddr>,
    dir: tempfile::TempDir,
}

impl Etcd {
    async fn start() -> anyhow::Result<Etcd> {
        let dir = tempfile::tempdir()?;
        let mut members = Vec::new();
        for i in 1..=3 {
            members.push((
                format!("m{i}"),
                free_loopback_addr()?,
                free_loopback_addr()?,
            ));
        }
        let initial: Vec<String> = members
            .iter()
            .map(|(name, _, peer)| format!("{name}=http://{peer}"))
            .collect();
        let initial = initial.join(",");
        let mut etcd = Etcd {
            children: Vec::new(),
            clients: members.iter().map(|m| m.1).collect(),
            dir,
        };
        for (name, client, peer) in &members {
            let data = etcd.dir.path().join(name);
            let log = std::fs::File::create(etcd.dir.path().join(format!("{name}.log")))?;
            let child = Command::new(ETCD)
                .args(["--name", name])
                .arg("--data-dir")
                .arg(&data)
                .args(["--listen-client-urls", &format!("http://{client}")])
                .args(["--advertise-client-urls", &format!("http://{client}")])
                .args(["--listen-peer-urls", &format!("http://{peer}")])
                .args(["--initial-advertise-peer-urls", &format!("http://{peer}")])
                .args(["--initial-cluster", &initial])
                .args(["--initial-cluster-state", "new"])
                .args(["--initial-cluster-token", "portunus-bench"])
                .args(["--logger", "zap", "--log-level", "warn"])
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .with_context(|| format!("start {ETCD}"))?;
            etcd.children.push(child);
        }
        for c in &etcd.clients {
            wait_listening(c.port(), START).await?;
        }
        // A put through every member: the cluster has a leader and every member forwards.
        let deadline = Instant::now() + START;
        for c in etcd.clients.clone() {
            loop {
                let r = match H2::connect(c).await {
                    Ok(mut h) => h.put(b"bench-ready", b"1").await,
                    Err(e) => Err(e.to_string()),
                };
                match r {
                    Ok(()) => break,
                    Err(e) if Instant::now() > deadline => {
                        let logs = etcd.logs();
                        bail!("etcd member {c} never took a put: {e}\n{logs}")
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
        Ok(etcd)
    }

    fn logs(&self) -> String {
        (1..=3)
            .map(|i| {
                let p = self.dir.path().join(format!("m{i}.log"));
                std::fs::read_to_string(&p).unwrap_or_else(|e| format!("{}: {e}", p.display()))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn outcome(args: &Args, rows: Vec<Row>, value_bytes: usize, plotted: bool) -> Outcome {
    let mut md = format!(
        "Portunus: signed `CreateUserGroup` calls (ACS3-HMAC-SHA256, a fresh nonce each; the \
         nonce, the group and the admin audit entry replicated through Raft with fsync, in one log \
         entry) on 3 `portunus` processes over HTTP/1.1 keep-alive, {KEYS} Admin AccessKeys shared by the \
         clients. etcd {}: `KV/Put` of a new key with a {value_bytes}-byte value (the size of \
         the Portunus call's parameters) on 3 `etcd` processes over gRPC (HTTP/2, no TLS). \
         Client i keeps one connection to member i % 3 and one call in flight; {} s per point; \
         a fresh cluster per point, Portunus first. Server CPU: user + system seconds of the \
         three server processes per 1,000 successful writes; client CPU: the same of the \
         clients (the bench's own process); cores busy: both together per second of the point. \
         Clients and servers share the machine's {} cores.{}\n\n\
         | System | Clients | OK | Failed | Writes/s | p50 ms | p99 ms | Server CPU-s per 1k | Client CPU-s per 1k | Cores busy |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        etcd_version(),
        args.duration,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        crate::portunus::env_note(&args.node_env)
    );
    for r in &rows {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |\n",
            r.system,
            r.clients,
            r.ok,
            r.failed,
            r.per_second,
            r.latency.p50_ms,
            r.latency.p99_ms,
            r.server_cpu_s_per_1k,
            r.client_cpu_s_per_1k,
            r.cores_busy
        ));
    }
    for r in rows.iter().filter(|r| r.first_error.is_some()) {
        md.push_str(&format!(
            "\nFirst failure of {} at {} clients: {}\n",
            r.system,
            r.clients,
            r.first_error.as_deref().unwrap_or_default()
        ));
    }
    if plotted {
        md.push_str("\n![latency vs clients](api-writes.png)\n");
    }
    md.push_str(
        "\nWhere a Portunus write's time went, from the members' own metrics over each point \
         (means; the leader apart from the two followers): inside the API handler, and of it \
         the replicated write (batching with the node's other waiting writes, forwarding to the \
         leader, commit, apply); the rest of the client's latency is outside the handler \
         (connection, scheduling, the client). Log entries: appended per 1,000 writes.\n\n\
         | Clients | client p50 ms | API ms leader / followers | replicated write ms leader / followers | log entries per 1k writes |\n\
         |---:|---:|---:|---:|---:|\n",
    );
    for r in rows.iter().filter(|r| r.system == "portunus") {
        if r.inside.is_none() {
            md.push_str(&format!(
                "| {} | {:.2} | not measured: leadership changed during the point, or no member led | | |\n",
                r.clients, r.latency.p50_ms
            ));
        }
        if let Some(i) = r.inside {
            md.push_str(&format!(
                "| {} | {:.2} | {:.2} / {:.2} | {:.2} / {:.2} | {:.0} |\n",
                r.clients,
                r.latency.p50_ms,
                i.api_ms_leader,
                i.api_ms_followers,
                i.propose_ms_leader,
                i.propose_ms_followers,
                i.entries_per_1k
            ));
        }
    }
    let find = |s: &str, c: usize| rows.iter().find(|r| r.system == s && r.clients == c);
    let mut goals = Vec::new();
    md.push_str("\n| Clients | Portunus/etcd writes/s | Portunus/etcd p99 |\n|---:|---:|---:|\n");
    for &c in &args.clients {
        let (Some(p), Some(e)) = (find("portunus", c), find("etcd", c)) else {
            continue;
        };
        let ratio = if e.per_second > 0.0 {
            p.per_second / e.per_second
        } else {
            0.0
        };
        md.push_str(&format!(
            "| {c} | {ratio:.2}x | {:.2}x |\n",
            if e.latency.p99_ms > 0.0 {
                p.latency.p99_ms / e.latency.p99_ms
            } else {
                0.0
            }
        ));
        goals.push(Goal::new(
            "api-writes",
            &format!("signed API writes/s >= 2x etcd puts/s ({c} clients)"),
            format!(
                "{:.0}/s vs {:.0}/s ({ratio:.2}x, ratio of writes per second)",
                p.per_second, e.per_second
            ),
            ratio >= 2.0,
        ));
        if c == 64 {
            goals.push(Goal::new(
                "api-writes",
                "signed API write p99 <= 50 ms at 64 clients",
                format!("p99 {:.1} ms", p.latency.p99_ms),
                p.ok > 0 && p.latency.p99_ms <= 50.0,
            ));
        }
    }
    let failed: usize = rows
        .iter()
        .filter(|r| r.system == "portunus")
        .map(|r| r.failed)
        .sum();
    goals.push(Goal::new(
        "api-writes",
        "no failed signed API writes under load",
        format!("{failed} failed"),
        failed == 0,
    ));
    Outcome {
        name: "api-writes",
        markdown: md,
        json: serde_json::json!({ "value_bytes": value_bytes, "rows": rows }),
        goals,
    }
}

fn etcd_version() -> String {
    Command::new(ETCD)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout).lines().find_map(|l| {
                l.strip_prefix("etcd Version:")
                    .map(|v| v.trim().to_string())
            })
        })
        .unwrap_or_else(|| "(version unknown)".into())
}

#[cfg(test)]
mod tests {
    use super::{inside, protobuf_bytes, Scrape};

    fn member(api: (f64, f64), propose: (f64, f64), last: f64, leader: bool) -> Scrape {
        Scrape {
            api,
            propose,
            last_log_index: last,
            leader,
        }
    }

    #[test]
    fn the_leaders_figures_come_from_one_member_or_none() {
        let before = [
            member((1.0, 100.0), (0.5, 100.0), 1000.0, true),
            member((0.0, 0.0), (0.0, 0.0), 990.0, false),
        ];
        let after = [
            member((3.0, 600.0), (2.5, 600.0), 1400.0, true),
            member((4.0, 1000.0), (3.0, 1000.0), 1400.0, false),
        ];
        let i = inside(&before, &after, 1500).unwrap();
        assert_eq!(i.api_ms_leader, 4.0); // 2 s over 500 calls
        assert_eq!(i.propose_ms_leader, 4.0);
        assert_eq!(i.api_ms_followers, 4.0);
        assert_eq!(i.propose_ms_followers, 3.0);
        assert!(
            (i.entries_per_1k - 266.67).abs() < 0.01,
            "{}",
            i.entries_per_1k
        );
        // The other member led by the end: not measured.
        let moved = [
            member((3.0, 600.0), (2.5, 600.0), 1400.0, false),
            member((4.0, 1000.0), (3.0, 1000.0), 1400.0, true),
        ];
        assert!(inside(&before, &moved, 1500).is_none());
    }

    #[test]
    fn protobuf_fields_carry_varint_lengths() {
        let mut out = Vec::new();
        protobuf_bytes(&mut out, 1, b"k");
        protobuf_bytes(&mut out, 2, &[7u8; 300]);
        assert_eq!(&out[..3], &[0x0a, 1, b'k']);
        // 300 = 0b10_0101100: low 7 bits with the continuation bit, then 2.
        assert_eq!(&out[3..6], &[0x12, 0xac, 0x02]);
        assert_eq!(out.len(), 6 + 300);
    }
}
