//! The Raft log and vote in RocksDB. Every vote is fsynced before the call returns; every
//! appended batch is fsynced before its flush callback reports success.
//!
//! `append` writes the entries to RocksDB (memtable and WAL, no fsync) and returns at once, as
//! openraft's storage-v2 contract asks; a flusher thread syncs the WAL and then completes the
//! callback. The fsync thus never blocks an async worker thread (on a 2-core machine a 4 ms
//! fsync inline in the Raft core stalled the QUIC transport and every other task on that
//! worker), and every callback queued during one sync is completed by the next single sync.
//! openraft 0.9's core still waits for each append's callback before it goes on, so on the
//! leader entries are flushed one at a time: concurrent proposals are grouped above, into one
//! entry, by `crate::Batcher`.
//!
//! The committed log id (`save_committed`, which the core awaits on every commit) is written
//! without an fsync of its own: it becomes durable with the next WAL sync (the next append or
//! vote), and survives a process crash anyway (the WAL write is in the page cache). Losing the
//! latest value in a power cut only means re-applying fewer entries on restart until the leader
//! sends the commit index again, which openraft allows (persisting it is optional). The index
//! is also kept in memory for the `portunus_raft_commit_index` gauge.

use super::{io_err, synced, CF_LOG, CF_META};
use crate::{codec, NodeId, TypeConfig};
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    Entry, ErrorSubject, ErrorVerb, LogId, LogState, OptionalSend, RaftLogReader, StorageError,
    Vote,
};
use rocksdb::{Direction, IteratorMode, WriteBatch, DB};
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Weak};

const KEY_VOTE: &[u8] = b"vote";
const KEY_COMMITTED: &[u8] = b"committed";
const KEY_PURGED: &[u8] = b"last_purged";

type SResult<T> = Result<T, StorageError<NodeId>>;

/// The log store. Cheap to clone: clones share the database, the flusher and the commit index.
#[derive(Clone)]
pub struct LogStore {
    db: Arc<DB>,
    flusher: mpsc::Sender<LogFlushed<TypeConfig>>,
    committed: Arc<AtomicU64>,
}

/// Sync the WAL for every flush callback queued since the last sync, then complete them in the
/// order their entries were written. Ends when every [`LogStore`] clone is gone; holds the
/// database only while syncing, so closing the store is never delayed by this thread.
fn run_flusher(db: Weak<DB>, rx: mpsc::Receiver<LogFlushed<TypeConfig>>) {
    while let Ok(first) = rx.recv() {
        let mut waiting = vec![first];
        waiting.extend(rx.try_iter());
        let synced = match db.upgrade() {
            Some(db) => db.flush_wal(true).map_err(|e| e.to_string()),
            None => Err("the log store is closed".to_string()),
        };
        for callback in waiting {
            callback.log_io_completed(synced.clone().map_err(std::io::Error::other));
        }
    }
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

impl LogStore {
    /// A log store on `db`; `committed` receives the index of every committed log id saved.
    pub(crate) fn new(db: Arc<DB>, committed: Arc<AtomicU64>) -> Self {
        let (flusher, rx) = mpsc::channel();
        let weak = Arc::downgrade(&db);
        std::thread::Builder::new()
            .name("raft-log-flush".into())
            .spawn(move || run_flusher(weak, rx))
            .expect("spawn the log flusher thread");
        let store = LogStore {
            db,
            flusher,
            committed,
        };
        if let Ok(Some(c)) = store.get_meta::<Option<LogId<NodeId>>>(KEY_COMMITTED) {
            store
                .committed
                .store(c.map_or(0, |l| l.index), Ordering::Relaxed);
        }
        store
    }

    /// Called once at start, before the Raft core reads the vote: a node that led when it
    /// stopped keeps its vote for itself in that term but no longer as a leader's, so it starts
    /// as a follower and leads again only after winning an election in a later term. openraft
    /// would otherwise resume leading the same term at once; but a leader counts its followers'
    /// acknowledgements before its own flush, so a leader whose disk lost unflushed entries
    /// (a power cut, a dying disk) can come back without entries the cluster committed in its
    /// term, and would give their log ids to other entries: the members' states would differ.
    /// Answers whether the vote was changed.
    pub(crate) fn resign_leadership(&self, me: NodeId) -> SResult<bool> {
        match self.get_meta::<Vote<NodeId>>(KEY_VOTE)? {
            Some(v) if v.is_committed() && v.leader_id().voted_for() == Some(me) => {
                self.put_meta(KEY_VOTE, &Vote::new(v.leader_id().term, me))?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("column family created at open")
    }

    fn get_meta<T: serde::de::DeserializeOwned>(&self, key: &[u8]) -> SResult<Option<T>> {
        let raw = self
            .db
            .get_cf(self.cf(CF_META), key)
            .map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Read, e))?;
        raw.map(|b| codec::decode(&b))
            .transpose()
            .map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Read, e))
    }

    fn put_meta<T: serde::Serialize>(&self, key: &[u8], value: &T) -> SResult<()> {
        let bytes =
            codec::encode(value).map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Write, e))?;
        self.db
            .put_cf_opt(self.cf(CF_META), key, bytes, &synced())
            .map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Write, e))
    }

    fn decode_entry(bytes: &[u8]) -> SResult<Entry<TypeConfig>> {
        codec::decode(bytes).map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))
    }

    fn last_entry_log_id(&self) -> SResult<Option<LogId<NodeId>>> {
        let mut it = self.db.iterator_cf(self.cf(CF_LOG), IteratorMode::End);
        match it.next() {
            None => Ok(None),
            Some(Err(e)) => Err(io_err(ErrorSubject::Logs, ErrorVerb::Read, e)),
            Some(Ok((_, v))) => Ok(Some(Self::decode_entry(&v)?.log_id)),
        }
    }

    fn delete_from(&self, start: u64, end: u64) -> SResult<()> {
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(self.cf(CF_LOG), index_key(start), index_key(end));
        self.db
            .write_opt(batch, &synced())
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Delete, e))
    }
}

impl LogStore {
    /// The entries in `range`, in order, stopping after the first entry that brings their
    /// encoded size to `budget` bytes or more (at least one entry when the range holds any).
    fn read_entries<RB: RangeBounds<u64>>(
        &self,
        range: RB,
        budget: usize,
    ) -> SResult<Vec<Entry<TypeConfig>>> {
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s + 1,
            Bound::Unbounded => 0,
        };
        let mode = IteratorMode::From(&index_key(start), Direction::Forward);
        let mut out = Vec::new();
        let mut bytes = 0;
        for item in self.db.iterator_cf(self.cf(CF_LOG), mode) {
            let (k, v) = item.map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))?;
            let index = u64::from_be_bytes(k.as_ref().try_into().unwrap_or_default());
            if !range.contains(&index) {
                break;
            }
            out.push(Self::decode_entry(&v)?);
            bytes += v.len();
            if bytes >= budget {
                break;
            }
        }
        Ok(out)
    }
}

/// At most about this many bytes of log entries go to a follower in one AppendEntries (the
/// entry that crosses it is the last). openraft 0.9 gives every AppendEntries one heartbeat
/// interval (50 ms) to be answered, fsync on the follower included, and sends the same range
/// again when it is not: a follower behind by hundreds of large entries (batched proposals,
/// 512 of them per request) never got an answer back in time, and caught up at a crawl or not
/// at all. 256 KiB is sent and synced well within the interval; small entries still go up to
/// `max_payload_entries` at a time.
pub const REPLICATION_BUDGET: usize = 256 * 1024;

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> SResult<Vec<Entry<TypeConfig>>> {
        self.read_entries(range, usize::MAX)
    }

    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> SResult<Vec<Entry<TypeConfig>>> {
        self.read_entries(start..end, REPLICATION_BUDGET)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> SResult<LogState<TypeConfig>> {
        let last_purged_log_id: Option<LogId<NodeId>> = self.get_meta(KEY_PURGED)?;
        let last_log_id = self.last_entry_log_id()?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> SResult<()> {
        self.put_meta(KEY_VOTE, vote)
    }

    async fn read_vote(&mut self) -> SResult<Option<Vote<NodeId>>> {
        self.get_meta(KEY_VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> SResult<()> {
        let bytes = codec::encode(&committed)
            .map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Write, e))?;
        // Not synced on its own: see the module documentation.
        self.db
            .put_cf(self.cf(CF_META), KEY_COMMITTED, bytes)
            .map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Write, e))?;
        self.committed
            .fetch_max(committed.map_or(0, |l| l.index), Ordering::Relaxed);
        Ok(())
    }

    async fn read_committed(&mut self) -> SResult<Option<LogId<NodeId>>> {
        Ok(self
            .get_meta::<Option<LogId<NodeId>>>(KEY_COMMITTED)?
            .flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> SResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = WriteBatch::default();
        for entry in entries {
            let bytes = codec::encode(&entry)
                .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Write, e))?;
            batch.put_cf(self.cf(CF_LOG), index_key(entry.log_id.index), bytes);
        }
        // Written (readable, in the WAL) now; durable once the flusher has synced the WAL.
        let mut unsynced = rocksdb::WriteOptions::default();
        unsynced.set_sync(false);
        self.db
            .write_opt(batch, &unsynced)
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Write, e))?;
        if let Err(mpsc::SendError(callback)) = self.flusher.send(callback) {
            // The flusher only ends with the last sender: unreachable, but never lose an ack.
            let synced = self.db.flush_wal(true).map_err(std::io::Error::other);
            callback.log_io_completed(synced);
        }
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> SResult<()> {
        self.delete_from(log_id.index, u64::MAX)
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> SResult<()> {
        self.put_meta(KEY_PURGED, &log_id)?;
        self.delete_from(0, log_id.index + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, EntryPayload};
    use portunus_model::{Command, Request};

    /// An entry at `index` whose encoding is about `size` bytes.
    fn entry(index: u64, size: usize) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(Request {
                now_ms: 0,
                command: Command::CreateUserGroup {
                    name: format!("group-{index}"),
                    comment: "x".repeat(size),
                },
                id: None,
            }),
        }
    }

    fn store_with(entries: &[Entry<TypeConfig>]) -> (tempfile::TempDir, LogStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let (log, _sm) = crate::store::open(dir.path()).expect("open the store");
        let mut batch = WriteBatch::default();
        for e in entries {
            let bytes = codec::encode(e).expect("encode");
            batch.put_cf(log.cf(CF_LOG), index_key(e.log_id.index), bytes);
        }
        log.db.write(batch).expect("write");
        (dir, log)
    }

    #[tokio::test]
    async fn replication_reads_stop_at_the_byte_budget_but_plain_reads_do_not() {
        let big = REPLICATION_BUDGET / 3;
        let entries: Vec<_> = (1..=10).map(|i| entry(i, big)).collect();
        let (_dir, mut log) = store_with(&entries);
        let limited = log.limited_get_log_entries(1, 11).await.expect("read");
        let indexes: Vec<u64> = limited.iter().map(|e| e.log_id.index).collect();
        assert_eq!(
            indexes,
            vec![1, 2, 3],
            "the third entry crosses the budget and is the last sent"
        );
        let from_five = log.limited_get_log_entries(5, 6).await.expect("read");
        assert_eq!(
            from_five.len(),
            1,
            "a range of one large entry still sends it"
        );
        let all = log.try_get_log_entries(1..11).await.expect("read");
        assert_eq!(
            all.len(),
            10,
            "reads other than replication are not limited"
        );
    }

    #[tokio::test]
    async fn a_node_that_led_starts_again_without_its_leadership() {
        let (_dir, mut store) = store_with(&[]);
        // Another node's committed vote, and this node's own uncommitted one: left alone.
        store.save_vote(&Vote::new_committed(3, 2)).await.unwrap();
        assert!(!store.resign_leadership(1).unwrap());
        assert_eq!(
            store.read_vote().await.unwrap(),
            Some(Vote::new_committed(3, 2))
        );
        store.save_vote(&Vote::new(4, 1)).await.unwrap();
        assert!(!store.resign_leadership(1).unwrap());
        assert_eq!(store.read_vote().await.unwrap(), Some(Vote::new(4, 1)));
        // Its own committed vote (it led term 5): kept as its vote in term 5, not a leader's.
        store.save_vote(&Vote::new_committed(5, 1)).await.unwrap();
        assert!(store.resign_leadership(1).unwrap());
        let vote = store.read_vote().await.unwrap().unwrap();
        assert_eq!(vote, Vote::new(5, 1));
        assert!(!vote.is_committed());
    }

    #[tokio::test]
    async fn small_entries_are_sent_as_the_range_asks() {
        let entries: Vec<_> = (1..=600).map(|i| entry(i, 100)).collect();
        let (_dir, mut log) = store_with(&entries);
        let limited = log.limited_get_log_entries(1, 513).await.expect("read");
        assert_eq!(limited.len(), 512);
        assert_eq!(limited.last().map(|e| e.log_id.index), Some(512));
    }
}
