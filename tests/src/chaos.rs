//! Randomized fault runs: a fault scheduler driven by a seed, over a [`ProcCluster`] made with
//! a relay, and the bookkeeping the checks need (when each node was faulted, which sessions
//! ran when). What clients do and what is checked lives in the test (`tests/tests/system/
//! chaos.rs`); the register check is [`crate::history::check_registers`].

use crate::{wait_until, ProcCluster};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

/// A small deterministic generator (SplitMix64): the same seed gives the same run of choices.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A duration between `lo` and `hi` milliseconds.
    pub fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo + 1))
    }

    /// True with probability `percent` in 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A generator for another thread, derived from this one.
    pub fn fork(&mut self) -> Rng {
        Rng(self.next_u64())
    }
}

/// The faults a run injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// SIGKILL, then a restart from the same data directory.
    Kill,
    /// SIGSTOP, then SIGCONT: a long pause (a stalled VM, a stop-the-world).
    Pause,
    /// Cut off from every other node, both directions, then healed.
    Isolate,
    /// Hears nothing from the other nodes while they still hear it, then healed.
    Deafen,
    /// A third of its datagrams to and from the other nodes lost, then healed.
    Lossy,
    /// Removed from the membership (the leader too), its data wiped, then joined again as a
    /// new member through another node.
    Rejoin,
    /// Its data directory's disk throttled to 10-100 reads and writes a second, then freed.
    SlowDisk,
    /// Its data directory's disk filled to the last block and the node restarted on it (a
    /// crash or an upgrade while the disk is full), then the disk emptied again; a node that
    /// exited meanwhile is started again, as its supervisor would.
    FullDisk,
    /// Its disk dies under it (the filesystem shut down: every later write fails, and what was
    /// not fsynced is lost as in a power cut); the node must stop by itself, saying why. The
    /// disk is then mounted again (the journal replayed) and the node started.
    FailingDisk,
}

impl FaultKind {
    /// The kind as the table of runs names it.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Kill => "kill",
            FaultKind::Pause => "pause",
            FaultKind::Isolate => "isolate",
            FaultKind::Deafen => "deafen",
            FaultKind::Lossy => "lossy",
            FaultKind::Rejoin => "rejoin",
            FaultKind::SlowDisk => "slow disk",
            FaultKind::FullDisk => "full disk",
            FaultKind::FailingDisk => "failing disk",
        }
    }

    pub const ALL: [FaultKind; 9] = [
        FaultKind::Kill,
        FaultKind::Pause,
        FaultKind::Isolate,
        FaultKind::Deafen,
        FaultKind::Lossy,
        FaultKind::Rejoin,
        FaultKind::SlowDisk,
        FaultKind::FullDisk,
        FaultKind::FailingDisk,
    ];
}

/// One fault injected: on which node, whether it was the leader then, and when (microseconds
/// of the run's history clock) it began and was undone (the restart for a kill).
#[derive(Clone, Debug)]
pub struct Fault {
    pub kind: FaultKind,
    pub node: u64,
    pub was_leader: bool,
    pub from: u64,
    pub until: u64,
    /// What the node did under a disk fault that the run must check: `Exited` with the end
    /// of its output when the process ended during the fault.
    pub outcome: DiskOutcome,
}

/// How a node came through a fault of its disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiskOutcome {
    /// Not a disk fault, or the node kept running through it.
    Ran,
    /// The process ended during the fault; the last lines it printed.
    Exited(String),
    /// A failing disk under a node that had not stopped by itself after [`DEAD_DISK`].
    RanOnADeadDisk,
}

/// How long a node whose disk died may run on before the run counts it as not noticing.
pub const DEAD_DISK: Duration = Duration::from_secs(5);

/// What a node that exited said last: the error line `portunus: ...` its `main` prints (other
/// tasks may log after it while the process ends), else its last five lines.
fn last_words(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    match lines.iter().rev().find(|l| l.starts_with("portunus: ")) {
        Some(line) => line.to_string(),
        None => lines[lines.len().saturating_sub(5)..].join("\n"),
    }
}

/// Inject faults into `c` (made [`ProcCluster::with_relay`] and [`ProcCluster::on_disks`], every
/// node running) one at a
/// time until `end`: a fault on a node chosen by `rng` (the leader half of the time) for
/// 0.5-4 s (a rejoin: until the node is a voter again), then 0.3-2 s of calm. `now` is the history's clock. Every node runs and hears the
/// others when this returns.
pub fn inject_faults(
    c: &mut ProcCluster,
    rng: &mut Rng,
    end: Instant,
    now: &dyn Fn() -> u64,
) -> Result<Vec<Fault>> {
    let mut done = Vec::new();
    let ids: Vec<u64> = c.nodes.iter().map(|n| n.id).collect();
    while Instant::now() < end {
        std::thread::sleep(rng.millis(300, 2000));
        let leader = ids.iter().find_map(|id| c.nodes[*id as usize - 1].leader());
        let node = match leader {
            Some(l) if rng.chance(50) => l,
            _ => ids[rng.below(ids.len() as u64) as usize],
        };
        let kind = FaultKind::ALL[rng.below(FaultKind::ALL.len() as u64) as usize];
        let hold = rng.millis(500, 4000);
        let from = now();
        let mut outcome = DiskOutcome::Ran;
        match kind {
            FaultKind::Kill => {
                c.node(node).kill();
                std::thread::sleep(hold);
                c.spawn(node, &[])?;
            }
            FaultKind::Pause => {
                signal(c, node, "STOP")?;
                std::thread::sleep(hold);
                signal(c, node, "CONT")?;
            }
            FaultKind::Isolate => {
                c.relay().isolate(node);
                std::thread::sleep(hold);
                c.relay().heal(node);
            }
            FaultKind::Deafen => {
                c.relay().deafen(node);
                std::thread::sleep(hold);
                c.relay().heal(node);
            }
            FaultKind::Lossy => {
                c.relay().lose(node, 33);
                std::thread::sleep(hold);
                c.relay().heal(node);
            }
            FaultKind::Rejoin => rejoin(c, node)?,
            FaultKind::SlowDisk => {
                let iops = 10 + rng.below(91) as u32;
                let pid = c
                    .node(node)
                    .pid()
                    .with_context(|| format!("node {node} is not running"))?;
                let mut slow = c.disk(node)?.throttle(pid, iops)?;
                std::thread::sleep(hold);
                slow.undo()?;
                outcome = restart_if_exited(c, node)?;
            }
            FaultKind::FullDisk => {
                c.disk(node)?.fill()?;
                c.node(node).kill();
                c.spawn(node, &[])?;
                std::thread::sleep(hold);
                c.disk(node)?.unfill()?;
                // A write refused just before the room came back stops the node a moment later.
                std::thread::sleep(Duration::from_secs(1));
                outcome = restart_if_exited(c, node)?;
            }
            FaultKind::FailingDisk => {
                crate::power::shut_down(&[c.disk(node)?.mount.as_path()])?;
                let stopped = wait_until(
                    "the node on a dead disk to stop",
                    DEAD_DISK.max(hold),
                    || !c.node(node).is_running(),
                );
                outcome = match stopped {
                    Ok(()) => exited(c, node),
                    Err(_) => DiskOutcome::RanOnADeadDisk,
                };
                c.node(node).kill();
                c.disk_mut(node)?.remount()?;
                c.spawn(node, &[])?;
            }
        }
        done.push(Fault {
            kind,
            node,
            was_leader: leader == Some(node),
            from,
            until: now(),
            outcome,
        });
    }
    Ok(done)
}

/// Whether node `node` has exited, with what it printed last.
fn exited(c: &mut ProcCluster, node: u64) -> DiskOutcome {
    let n = c.node(node);
    if n.is_running() {
        DiskOutcome::Ran
    } else {
        DiskOutcome::Exited(last_words(&n.output()))
    }
}

/// Whether node `node` has exited, as [`exited`]; one that has is started again, so the run
/// goes on with three nodes (the exit itself is judged from the outcome).
fn restart_if_exited(c: &mut ProcCluster, node: u64) -> Result<DiskOutcome> {
    let outcome = exited(c, node);
    if outcome != DiskOutcome::Ran {
        c.spawn(node, &[])?;
    }
    Ok(outcome)
}

/// How long a removal or a join may take before the run fails.
const MEMBERSHIP: Duration = Duration::from_secs(60);

/// Remove `node` from the membership through another node, stop it, wipe its data and start
/// it joining through another node; back when it is a voter again.
fn rejoin(c: &mut ProcCluster, node: u64) -> Result<()> {
    let other = c
        .nodes
        .iter()
        .find(|n| n.id != node)
        .map(|n| (n.id, n.cluster, n.advertise))
        .context("a cluster of one node")?;
    let count = c.nodes.len();
    let members = |c: &ProcCluster| -> Option<(usize, usize)> {
        let s = c.nodes[other.0 as usize - 1].status().ok()?;
        let nodes = s["nodes"].as_array()?;
        let voters = nodes.iter().filter(|m| m["voter"] == true).count();
        Some((nodes.len(), voters))
    };
    wait_until("the removal to be accepted", MEMBERSHIP, || {
        c.cli(other.1, &["remove-node", &node.to_string()]).is_ok()
    })?;
    wait_until("the node to leave the membership", MEMBERSHIP, || {
        members(c).is_some_and(|(n, _)| n == count - 1)
    })?;
    c.node(node).kill();
    let dir = c.node(node).data_dir.clone();
    std::fs::remove_dir_all(&dir).with_context(|| format!("wiping {}", dir.display()))?;
    c.spawn_joining(node, &other.2.to_string())?;
    wait_until("the node to join again as a voter", MEMBERSHIP, || {
        members(c) == Some((count, count))
    })
    .with_context(|| format!("node {node} log:\n{}", c.nodes[node as usize - 1].output()))?;
    Ok(())
}

fn signal(c: &mut ProcCluster, node: u64, sig: &str) -> Result<()> {
    let pid = c
        .node(node)
        .pid()
        .ok_or_else(|| anyhow::anyhow!("node {node} is not running"))?;
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()?
        .success();
    anyhow::ensure!(ok, "kill -{sig} {pid} failed");
    Ok(())
}

/// Faults of each kind, as `kill 3, pause 1, ...` (kinds never injected left out).
pub fn fault_counts(faults: &[Fault]) -> String {
    let mut counts: BTreeMap<FaultKind, usize> = BTreeMap::new();
    for f in faults {
        *counts.entry(f.kind).or_default() += 1;
    }
    counts
        .iter()
        .map(|(k, n)| format!("{} {n}", k.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether node `node` was under a fault at some time in `from..=until` (microseconds), give or
/// take `slack` on each side (a fault's effects start as it is injected and may last a moment
/// after it is undone).
pub fn faulted(faults: &[Fault], node: u64, from: u64, until: u64, slack: u64) -> bool {
    faults
        .iter()
        .any(|f| f.node == node && f.from <= until.saturating_add(slack) && from <= f.until + slack)
}

/// The largest number of the intervals (`from..=until`, microseconds) that share an instant.
pub fn most_at_once(intervals: &[(u64, u64)]) -> usize {
    let mut edges: Vec<(u64, i32)> = Vec::new();
    for (a, b) in intervals {
        edges.push((*a, 1));
        edges.push((*b, -1));
    }
    // At one instant, starts before ends: touching intervals share that instant.
    edges.sort_by_key(|(t, d)| (*t, -d));
    let (mut now, mut most) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        most = most.max(now);
    }
    most as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_repeats_for_a_seed_and_differs_between_seeds() {
        let run = |seed| {
            let mut r = Rng::new(seed);
            (0..8).map(|_| r.below(1000)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let mut r = Rng::new(1);
        assert!((0..1000).all(|_| r.millis(300, 2000) <= Duration::from_millis(2000)));
    }

    #[test]
    fn an_exited_nodes_last_words_are_its_error_line() {
        let out = "started\nportunus: the replicated log stopped (disk)\nINFO a\nINFO b\nINFO c\n";
        assert_eq!(
            last_words(out),
            "portunus: the replicated log stopped (disk)"
        );
        assert_eq!(last_words("a\nb\nc\nd\ne\nf\n"), "b\nc\nd\ne\nf");
    }

    #[test]
    fn overlaps_and_fault_windows_are_counted() {
        assert_eq!(most_at_once(&[]), 0);
        assert_eq!(most_at_once(&[(0, 10), (11, 20), (21, 30)]), 1);
        assert_eq!(
            most_at_once(&[(0, 10), (10, 20)]),
            2,
            "touching intervals overlap"
        );
        assert_eq!(most_at_once(&[(0, 100), (5, 10), (8, 50), (60, 70)]), 3);
        let f = [Fault {
            kind: FaultKind::Pause,
            node: 2,
            was_leader: false,
            from: 1000,
            until: 2000,
            outcome: DiskOutcome::Ran,
        }];
        assert!(faulted(&f, 2, 1500, 1600, 0));
        assert!(!faulted(&f, 1, 1500, 1600, 0));
        assert!(!faulted(&f, 2, 2500, 3000, 0));
        assert!(faulted(&f, 2, 2500, 3000, 600));
        assert!(!faulted(&f, 2, 0, 900, 0));
    }
}
