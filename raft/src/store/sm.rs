//! The state machine: the pure Portunus [`State`] in memory, made durable by snapshots stored in
//! RocksDB. On restart the latest snapshot is loaded and openraft re-applies the committed log
//! entries that follow it, so nothing acknowledged is lost.

use super::{io_err, synced, CF_SNAPSHOT};
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
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

    /// A receiver that changes whenever an entry is applied or a snapshot installed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.applied_rx.clone()
    }
}

/// The state machine half of the store.
pub struct StateMachineStore {
    db: Arc<DB>,
    inner: Arc<RwLock<Applied>>,
    applied_tx: Arc<watch::Sender<u64>>,
    snapshot_seq: u64,
    snapshot_bytes: Arc<AtomicU64>,
    committed: Arc<AtomicU64>,
}

impl StateMachineStore {
    /// Load the latest snapshot from `db`. `committed` is the commit index the log store keeps;
    /// the state machine only passes it on to its views.
    pub(crate) fn load(db: Arc<DB>, committed: Arc<AtomicU64>) -> Result<Self, codec::CodecError> {
        let cf = db
            .cf_handle(CF_SNAPSHOT)
            .expect("column family created at open");
        let mut size = 0;
        let applied = match db.get_cf(cf, KEY_SNAPSHOT) {
            Ok(Some(raw)) => {
                let stored: StoredSnapshot = codec::decode(&raw)?;
                size = stored.data.len() as u64;
                codec::decode_versioned(STATE_FORMAT_VERSION, &stored.data)?
            }
            _ => Applied::default(),
        };
        let index = applied.last_applied.map(|l| l.index).unwrap_or(0);
        let (applied_tx, _) = watch::channel(index);
        Ok(StateMachineStore {
            db,
            inner: Arc::new(RwLock::new(applied)),
            applied_tx: Arc::new(applied_tx),
            snapshot_seq: 0,
            snapshot_bytes: Arc::new(AtomicU64::new(size)),
            committed,
        })
    }

    /// A read handle on the applied state.
    pub fn view(&self) -> StateView {
        StateView {
            inner: self.inner.clone(),
            applied_rx: self.applied_tx.subscribe(),
            snapshot_bytes: self.snapshot_bytes.clone(),
            committed: self.committed.clone(),
        }
    }

    fn read_stored(&self) -> SResult<Option<StoredSnapshot>> {
        let cf = self.db.cf_handle(CF_SNAPSHOT).expect("created at open");
        let raw = self
            .db
            .get_cf(cf, KEY_SNAPSHOT)
            .map_err(|e| io_err(ErrorSubject::Snapshot(None), ErrorVerb::Read, e))?;
        raw.map(|b| codec::decode(&b))
            .transpose()
            .map_err(|e| io_err(ErrorSubject::Snapshot(None), ErrorVerb::Read, e))
    }

    fn write_stored(&self, snap: &StoredSnapshot) -> SResult<()> {
        let cf = self.db.cf_handle(CF_SNAPSHOT).expect("created at open");
        let subject = || ErrorSubject::Snapshot(Some(snap.meta.signature()));
        let bytes = codec::encode(snap).map_err(|e| io_err(subject(), ErrorVerb::Write, e))?;
        self.db
            .put_cf_opt(cf, KEY_SNAPSHOT, bytes, &synced())
            .map_err(|e| io_err(subject(), ErrorVerb::Write, e))?;
        self.snapshot_bytes
            .store(snap.data.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn publish(&self, index: Option<LogId<NodeId>>) {
        self.applied_tx
            .send_replace(index.map(|l| l.index).unwrap_or(0));
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(&mut self) -> SResult<Snapshot<TypeConfig>> {
        let applied = self.inner.read().unwrap_or_else(|p| p.into_inner()).clone();
        let data = codec::encode_versioned(STATE_FORMAT_VERSION, &applied)
            .map_err(|e| io_err(ErrorSubject::Snapshot(None), ErrorVerb::Write, e))?;
        self.snapshot_seq += 1;
        let snapshot_id = match applied.last_applied {
            Some(l) => format!("{}-{}-{}", l.leader_id, l.index, self.snapshot_seq),
            None => format!("empty-{}", self.snapshot_seq),
        };
        let meta = SnapshotMeta {
            last_log_id: applied.last_applied,
            last_membership: applied.membership.clone(),
            snapshot_id,
        };
        let stored = StoredSnapshot { meta, data };
        self.write_stored(&stored)?;
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
            let mut g = self.inner.write().unwrap_or_else(|p| p.into_inner());
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
            db: self.db.clone(),
            inner: self.inner.clone(),
            applied_tx: self.applied_tx.clone(),
            snapshot_seq: self.snapshot_seq + 1_000_000,
            snapshot_bytes: self.snapshot_bytes.clone(),
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
        let subject = || ErrorSubject::Snapshot(Some(meta.signature()));
        let applied: Applied = codec::decode_versioned(STATE_FORMAT_VERSION, &data)
            .map_err(|e| io_err(subject(), ErrorVerb::Read, e))?;
        self.write_stored(&StoredSnapshot {
            meta: meta.clone(),
            data,
        })?;
        let last = applied.last_applied;
        *self.inner.write().unwrap_or_else(|p| p.into_inner()) = applied;
        self.publish(last);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> SResult<Option<Snapshot<TypeConfig>>> {
        Ok(self.read_stored()?.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}
