//! Configuration of the replicated state: identity, addresses, timing.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What `portunus-raft` needs to run one member of a cluster.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaftConfig {
    /// This node's id, unique and never reused within a cluster.
    pub node_id: u64,
    /// Directory holding the RocksDB store.
    pub data_dir: PathBuf,
    /// Interval between leader heartbeats, milliseconds.
    pub heartbeat_ms: u64,
    /// Lower bound of the randomized election timeout, milliseconds.
    pub election_min_ms: u64,
    /// Upper bound of the randomized election timeout, milliseconds.
    pub election_max_ms: u64,
    /// Build a snapshot after at least this many log entries since the last one; more when
    /// the state is large (see [`SNAPSHOT_BYTES_PER_ENTRY`]).
    pub snapshot_every: u64,
    /// Log entries kept behind the latest snapshot for slow followers.
    pub keep_behind_snapshot: u64,
    /// Purge the log in batches of at least this many entries.
    pub purge_batch: u64,
}

/// A snapshot costs time in proportion to the state's size, so the log between two snapshots
/// grows with it: one entry for every this many bytes of the last snapshot, and never fewer
/// than [`RaftConfig::snapshot_every`]. A 200 MB state is snapshotted every ~50,000 entries
/// instead of every 5,000, keeping the share of time spent snapshotting the same at any size,
/// while a restart replays at most that many entries after loading the snapshot.
pub const SNAPSHOT_BYTES_PER_ENTRY: u64 = 4_096;

/// Bytes of a snapshot sent to a member in one InstallSnapshot request (openraft's default is
/// 3 MiB: 50 round trips for a 150 MB state).
pub const SNAPSHOT_CHUNK_BYTES: u64 = 16 * 1024 * 1024;

impl RaftConfig {
    /// How many log entries after the last snapshot the next one is due, for a last snapshot
    /// of `snapshot_bytes`.
    pub fn snapshot_due_after(&self, snapshot_bytes: u64) -> u64 {
        self.snapshot_every
            .max(snapshot_bytes / SNAPSHOT_BYTES_PER_ENTRY)
    }

    /// Defaults suited to a LAN: a new leader within half a second of the old one's death.
    ///
    /// With openraft 0.9 a follower that heard from a leader starts an election only after the
    /// leader's lease (`election_max_ms`) and its own election timeout (drawn once from
    /// `election_min_ms..election_max_ms`) have passed without a heartbeat: 300-400 ms here,
    /// checked every 1.5 heartbeats (75 ms). Members end their sessions 1.5 s after their last
    /// lease renewal (when a limit is set), so an election must end well within that.
    pub fn new(node_id: u64, data_dir: PathBuf) -> Self {
        RaftConfig {
            node_id,
            data_dir,
            heartbeat_ms: 50,
            election_min_ms: 100,
            election_max_ms: 200,
            snapshot_every: 5_000,
            keep_behind_snapshot: 1_000,
            purge_batch: 256,
        }
    }

    pub(crate) fn openraft(&self) -> Result<openraft::Config, openraft::ConfigError> {
        openraft::Config {
            cluster_name: "portunus".into(),
            heartbeat_interval: self.heartbeat_ms,
            election_timeout_min: self.election_min_ms,
            election_timeout_max: self.election_max_ms,
            install_snapshot_timeout: 10_000,
            // Triggered by the replica itself (`snapshot_when_due`), at an interval that grows
            // with the state.
            snapshot_policy: openraft::SnapshotPolicy::Never,
            max_in_snapshot_log_to_keep: self.keep_behind_snapshot,
            purge_batch_size: self.purge_batch,
            max_payload_entries: 512,
            // The replica's own timer campaigns, after a pre-vote (`replica::election`).
            enable_elect: false,
            // A large state's snapshot (100s of MB) goes in fewer round trips; a chunk stays
            // well under the transport's largest message (`network::MAX_MESSAGE`, 64 MiB).
            snapshot_max_chunk_size: SNAPSHOT_CHUNK_BYTES,
            ..Default::default()
        }
        .validate()
    }
}
