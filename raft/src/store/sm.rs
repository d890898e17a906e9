//! The state machine: the pure Portunus [`State`] in memory, made durable by snapshots stored in
//! RocksDB. On restart the latest snapshot is loaded and openraft re-applies the committed log
//! entries that follow it, so nothing acknowledged is lost.

use super::{io_err, CF_SNAPSHOT};
use crate::{codec, NodeId, NodeInfo, TypeConfig};
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    Entry, EntryPayload, ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftSnapshotBuilder,
    SnapshotMeta, StorageError, StoredMembership,
};
use portunus_model::{Response, State, STATE_FORMAT_VERSION};
use rocksdb::DB;
use serde::{Deserialize, Serialize};
use std::io::Cursor;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, TryLockError};
use tokio::sync::watch;

const KEY_SNAPSHOT: &[u8] = b"current";

type SResult<T> = Result<T, StorageError<NodeId>>;

/// The applied state as of one log position.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Applied {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, NodeInfo>,
    state: State,
}

/// A stored snapshot: its metadata and the encoded [`Applied`].
#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, NodeInfo>,
    data: Vec<u8>,
}

/// Decodes what a stored or received snapshot holds, as [`StateMachineStore::load`] and
/// `install_snapshot` do (for the fuzzing entry points).
pub(crate) fn decode_snapshot(bytes: &[u8]) {
    if let Ok(stored) = codec::decode::<StoredSnapshot>(bytes) {
        let _ = codec::decode_versioned::<Applied>(STATE_FORMAT_VERSION, &stored.data);
    }
    let _ = codec::decode_versioned::<Applied>(STATE_FORMAT_VERSION, bytes);
}

/// An encoded empty applied state (a seed for the fuzzing entry points).
#[cfg(test)]
pub(crate) fn empty_snapshot() -> Vec<u8> {
    codec::encode_versioned(STATE_FORMAT_VERSION, &Applied::default()).expect("encodes")
}

/// Read access to the applied state, shared with the rest of the node.
#[derive(Clone)]
pub struct StateView {
    inner: Arc<RwLock<Applied>>,
    applied_rx: watch::Receiver<u64>,
    snapshot_bytes: Arc<AtomicU64>,
    snapshot_building: Arc<AtomicUsize>,
    committed: Arc<AtomicU64>,
}

impl StateView {
    /// Run `f` on the applied state. Keep `f` short: it holds a read lock.
    pub fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        let guard = self.inner.read().unwrap_or_else(|p| p.into_inner());
        f(&guard.state)
    }

    /// Index of the last applied log entry (0 before any).
    pub fn applied_index(&self) -> u64 {
        *self.applied_rx.borrow()
    }

    /// Index of the last log entry this node knows committed (0 before any). It leads
    /// [`Self::applied_index`] by the entries committed but not yet applied.
    pub fn committed_index(&self) -> u64 {
        self.committed.load(Ordering::Relaxed)
    }

    /// Size of the latest stored snapshot, in bytes (0 before the first).
    pub fn snapshot_bytes(&self) -> u64 {
        self.snapshot_bytes.load(Ordering::Relaxed)
    }

    /// Whether this node is building a snapshot of its state now (cloning, encoding and
    /// writing it: seconds of a core for a large state, on a thread at a lower priority).
    pub fn snapshot_building(&self) -> bool {
        self.snapshot_building.load(Ordering::Relaxed) > 0
    }

    /// A receiver that changes whenever an entry is applied or a snapshot installed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.applied_rx.clone()
    }
}

/// Where the latest snapshot is kept: a file of its own in the data directory, written beside
/// and renamed over (`crate::durable::replace`). Snapshots used to be a RocksDB value in the
/// database the log lives in: a snapshot of hundreds of MB then went through the shared
/// write-ahead log, and every log append (every follower's answer to its leader) waited behind
/// it for seconds, long enough for the leader to lose its majority. A node whose data
/// directory predates the file reads the value once, until its first new snapshot deletes it.
struct SnapshotFile {
    path: std::path::PathBuf,
    db: Arc<DB>,
    /// A snapshot is being cloned from the applied state (it holds the read lock meanwhile).
    cloning: std::sync::atomic::AtomicBool,
}

impl SnapshotFile {
    fn read(&self) -> SResult<Option<StoredSnapshot>> {
        let subject = || ErrorSubject::Snapshot(None);
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let cf = self.db.cf_handle(CF_SNAPSHOT).expect("created at open");
                match self
                    .db
                    .get_cf(cf, KEY_SNAPSHOT)
                    .map_err(|e| io_err(subject(), ErrorVerb::Read, e))?
                {
                    Some(b) => b,
                    None => return Ok(None),
                }
            }
            Err(e) => return Err(io_err(subject(), ErrorVerb::Read, e)),
        };
        codec::decode(&bytes)
            .map(Some)
            .map_err(|e| io_err(subject(), ErrorVerb::Read, e))
    }

    fn write(&self, size: &AtomicU64, snap: &StoredSnapshot) -> SResult<()> {
        let subject = || ErrorSubject::Snapshot(Some(snap.meta.signature()));
        let bytes = codec::encode(snap).map_err(|e| io_err(subject(), ErrorVerb::Write, e))?;
        crate::durable::replace(&self.path, &bytes, 0o600)
            .map_err(|e| io_err(subject(), ErrorVerb::Write, e))?;
        // The value an older node kept in the database is stale now.
        let cf = self.db.cf_handle(CF_SNAPSHOT).expect("created at open");
        self.db
            .delete_cf(cf, KEY_SNAPSHOT)
            .map_err(|e| io_err(subject(), ErrorVerb::Delete, e))?;
        size.store(snap.data.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// The snapshot file's name in the data directory.
pub const SNAPSHOT_FILE: &str = "snapshot.bin";

/// The state machine half of the store.
pub struct StateMachineStore {
    file: Arc<SnapshotFile>,
    inner: Arc<RwLock<Applied>>,
    applied_tx: Arc<watch::Sender<u64>>,
    snapshot_seq: u64,
    snapshot_bytes: Arc<AtomicU64>,
    /// Builds under way ([`RaftSnapshotBuilder::build_snapshot`]; openraft runs one at a
    /// time, a count keeps the flag right if that changes).
    snapshot_building: Arc<AtomicUsize>,
    committed: Arc<AtomicU64>,
}

/// Counts a build under way until it ends, however it ends.
struct Building(Arc<AtomicUsize>);

impl Building {
    fn start(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Building(count.clone())
    }
}

impl Drop for Building {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl StateMachineStore {
    /// Load the latest snapshot from `dir` (its file, or the database `db` of an older node).
    /// `committed` is the commit index the log store keeps; the state machine only passes it
    /// on to its views.
    pub(crate) fn load(
        dir: &std::path::Path,
        db: Arc<DB>,
        committed: Arc<AtomicU64>,
    ) -> Result<Self, String> {
        let file = SnapshotFile {
            path: dir.join(SNAPSHOT_FILE),
            db,
            cloning: false.into(),
        };
        let mut size = 0;
        let applied = match file.read().map_err(|e| e.to_string())? {
            Some(stored) => {
                size = stored.data.len() as u64;
                codec::decode_versioned(STATE_FORMAT_VERSION, &stored.data)
                    .map_err(|e| e.to_string())?
            }
            None => Applied::default(),
        };
        let index = applied.last_applied.map(|l| l.index).unwrap_or(0);
        let (applied_tx, _) = watch::channel(index);
        Ok(StateMachineStore {
            file: Arc::new(file),
            inner: Arc::new(RwLock::new(applied)),
            applied_tx: Arc::new(applied_tx),
            snapshot_seq: 0,
            snapshot_bytes: Arc::new(AtomicU64::new(size)),
            snapshot_building: Arc::default(),
            committed,
        })
    }

    /// A read handle on the applied state.
    pub fn view(&self) -> StateView {
        StateView {
            inner: self.inner.clone(),
            applied_rx: self.applied_tx.subscribe(),
            snapshot_bytes: self.snapshot_bytes.clone(),
            snapshot_building: self.snapshot_building.clone(),
            committed: self.committed.clone(),
        }
    }

    fn publish(&self, index: Option<LogId<NodeId>>) {
        self.applied_tx
            .send_replace(index.map(|l| l.index).unwrap_or(0));
    }
}

impl StateMachineStore {
    /// The write lock on the applied state. While a snapshot is being cloned (which holds the
    /// read lock for a while at large states) it is waited for without blocking the async
    /// worker: a worker blocked on the lock, and the readers queued behind a waiting writer,
    /// stalled the rest of the node. Otherwise, after a few tries, it is waited for as a
    /// blocking lock does, queued before any new reader, so that short reads that keep
    /// overlapping cannot hold the applies back forever.
    async fn write_lock(&self) -> std::sync::RwLockWriteGuard<'_, Applied> {
        let mut tries = 0;
        loop {
            if let Some(g) = self.try_write_lock() {
                return g;
            }
            tries += 1;
            if tries > 3 && !self.file.cloning.load(Ordering::SeqCst) {
                return self.inner.write().unwrap_or_else(|p| p.into_inner());
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    fn try_write_lock(&self) -> Option<std::sync::RwLockWriteGuard<'_, Applied>> {
        match self.inner.try_write() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }
}

/// Runs `work` on a thread of its own at a lower CPU priority (nice 10). Snapshots of a large
/// state (100,000s of users, hosts and sessions: hundreds of MB) take seconds to clone, encode,
/// decode and sync; on an async worker they stalled heartbeats and the QUIC transport on a
/// 2-core node long enough for its leader to lose its majority (the large-state benchmark's
/// fill, at 384,000 sessions), and at the workers' priority they still took their share of
/// the CPU from them. Snapshots are rare (every 5,000 entries or more, see
/// `config::SNAPSHOT_BYTES_PER_ENTRY`), so a thread each is cheap.
async fn blocking<T: Send + 'static>(
    verb: ErrorVerb,
    work: impl FnOnce() -> SResult<T> + Send + 'static,
) -> SResult<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("snapshot".into())
        .spawn(move || {
            lower_priority();
            let _ = tx.send(work());
        });
    let gone = |e: &dyn std::fmt::Display| {
        io_err(
            ErrorSubject::Snapshot(None),
            verb,
            std::io::Error::other(e.to_string()),
        )
    };
    spawned.map_err(|e| gone(&e))?;
    rx.await.map_err(|e| gone(&e))?
}

/// Lowers the calling thread's CPU priority to nice 10 (on Linux the nice value is per thread).
/// Best effort: a failure leaves the thread as it was.
#[allow(unsafe_code)]
fn lower_priority() {
    // SAFETY: gettid and setpriority take and return plain integers and touch no memory.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(&mut self) -> SResult<Snapshot<TypeConfig>> {
        self.snapshot_seq += 1;
        let seq = self.snapshot_seq;
        let _building = Building::start(&self.snapshot_building);
        let (inner, file, size) = (
            self.inner.clone(),
            self.file.clone(),
            self.snapshot_bytes.clone(),
        );
        let stored = blocking(ErrorVerb::Write, move || {
            // Cloned under the read lock (applies wait for it, see `apply`), encoded after.
            let started = std::time::Instant::now();
            file.cloning.store(true, Ordering::SeqCst);
            let applied = inner.read().unwrap_or_else(|p| p.into_inner()).clone();
            file.cloning.store(false, Ordering::SeqCst);
            let cloned = started.elapsed();
            let data = codec::encode_versioned(STATE_FORMAT_VERSION, &applied)
                .map_err(|e| io_err(ErrorSubject::Snapshot(None), ErrorVerb::Write, e))?;
            let encoded = started.elapsed();
            let (last_applied, membership) = (applied.last_applied, applied.membership.clone());
            drop(applied);
            let snapshot_id = match last_applied {
                Some(l) => format!("{}-{}-{seq}", l.leader_id, l.index),
                None => format!("empty-{seq}"),
            };
            let meta = SnapshotMeta {
                last_log_id: last_applied,
                last_membership: membership,
                snapshot_id,
            };
            let stored = StoredSnapshot { meta, data };
            file.write(&size, &stored)?;
            tracing::info!(
                snapshot = %stored.meta.snapshot_id,
                bytes = stored.data.len(),
                clone_ms = cloned.as_millis() as u64,
                encode_ms = (encoded - cloned).as_millis() as u64,
                write_ms = (started.elapsed() - encoded).as_millis() as u64,
                "snapshot built"
            );
            Ok(stored)
        })
        .await?;
        Ok(Snapshot {
            meta: stored.meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = StateMachineStore;

    async fn applied_state(
        &mut self,
    ) -> SResult<(Option<LogId<NodeId>>, StoredMembership<NodeId, NodeInfo>)> {
        let g = self.inner.read().unwrap_or_else(|p| p.into_inner());
        Ok((g.last_applied, g.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> SResult<Vec<Response>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut out = Vec::new();
        let last = {
            let mut g = self.write_lock().await;
            for entry in entries {
                g.last_applied = Some(entry.log_id);
                let resp = match entry.payload {
                    EntryPayload::Blank => Response::Done,
                    EntryPayload::Normal(req) => g.state.apply(&req),
                    EntryPayload::Membership(m) => {
                        g.membership = StoredMembership::new(Some(entry.log_id), m);
                        Response::Done
                    }
                };
                out.push(resp);
            }
            g.last_applied
        };
        self.publish(last);
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        StateMachineStore {
            file: self.file.clone(),
            inner: self.inner.clone(),
            applied_tx: self.applied_tx.clone(),
            snapshot_seq: self.snapshot_seq + 1_000_000,
            snapshot_bytes: self.snapshot_bytes.clone(),
            snapshot_building: self.snapshot_building.clone(),
            committed: self.committed.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> SResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, NodeInfo>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> SResult<()> {
        let data = snapshot.into_inner();
        let meta = meta.clone();
        let (file, size) = (self.file.clone(), self.snapshot_bytes.clone());
        let applied = blocking(ErrorVerb::Read, move || {
            let subject = || ErrorSubject::Snapshot(Some(meta.signature()));
            let started = std::time::Instant::now();
            let applied: Applied = codec::decode_versioned(STATE_FORMAT_VERSION, &data)
                .map_err(|e| io_err(subject(), ErrorVerb::Read, e))?;
            let decoded = started.elapsed();
            let (id, bytes) = (meta.snapshot_id.clone(), data.len());
            file.write(&size, &StoredSnapshot { meta, data })?;
            tracing::info!(
                snapshot = %id,
                bytes,
                decode_ms = decoded.as_millis() as u64,
                write_ms = (started.elapsed() - decoded).as_millis() as u64,
                "snapshot installed"
            );
            Ok(applied)
        })
        .await?;
        let last = applied.last_applied;
        let old = std::mem::replace(&mut *self.write_lock().await, applied);
        // Freed outside the lock, on a blocking thread (a large state takes a while).
        tokio::task::spawn_blocking(move || drop(old));
        self.publish(last);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> SResult<Option<Snapshot<TypeConfig>>> {
        let file = self.file.clone();
        let stored = blocking(ErrorVerb::Read, move || file.read()).await?;
        Ok(stored.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_building_flag_is_up_while_a_snapshot_is_built_and_down_after() {
        let dir = tempfile::tempdir().unwrap();
        let (_log, mut sm) = crate::store::open(dir.path()).unwrap();
        let view = sm.view();
        assert!(!view.snapshot_building());
        let mut builder = sm.get_snapshot_builder().await;
        // Held (by a thread of its own), the state cannot be cloned: the build waits inside.
        let inner = sm.inner.clone();
        let (locked, is_locked) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let _held = inner.write().unwrap();
            locked.send(()).unwrap();
            let _ = released.recv();
        });
        is_locked.recv().unwrap();
        let build = tokio::spawn(async move { builder.build_snapshot().await.map(|s| s.meta) });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !view.snapshot_building() {
            assert!(
                std::time::Instant::now() < deadline,
                "the flag never went up"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        release.send(()).unwrap();
        holder.join().unwrap();
        let meta = build.await.unwrap().unwrap();
        assert!(meta.snapshot_id.starts_with("empty-"), "{meta:?}");
        assert!(!view.snapshot_building(), "down once built");
    }
}
