//! Durable storage on RocksDB: the Raft log and vote ([`LogStore`]) and the state machine with
//! its snapshots ([`StateMachineStore`]), sharing one database with three column families.

mod log;
mod sm;

pub use log::LogStore;
pub(crate) use sm::decode_snapshot;
#[cfg(test)]
pub(crate) use sm::empty_snapshot;
pub use sm::{StateMachineStore, StateView, SNAPSHOT_FILE};

use crate::StoreOpenError;
use openraft::{ErrorSubject, ErrorVerb, StorageError, StorageIOError};
use rocksdb::{ColumnFamilyDescriptor, Options, DB};
use std::path::Path;
use std::sync::Arc;

pub(crate) const CF_LOG: &str = "log";
pub(crate) const CF_META: &str = "meta";
pub(crate) const CF_SNAPSHOT: &str = "snapshot";

/// Open (or create) the store under `dir` and return its two halves.
pub fn open(dir: &Path) -> Result<(LogStore, StateMachineStore), StoreOpenError> {
    crate::durable::create_dir_all(dir).map_err(|e| StoreOpenError::Open {
        path: dir.display().to_string(),
        reason: e.to_string(),
    })?;
    let cfs = [CF_LOG, CF_META, CF_SNAPSHOT]
        .into_iter()
        .map(|name| ColumnFamilyDescriptor::new(name, cf_options(name)));
    let db = DB::open_cf_descriptors(&db_options(), dir.join("raft"), cfs).map_err(|e| {
        StoreOpenError::Open {
            path: dir.display().to_string(),
            reason: e.to_string(),
        }
    })?;
    // RocksDB fsyncs what it writes inside `raft/`, not the name `raft` in `dir`.
    crate::durable::sync_dir(dir).map_err(|e| StoreOpenError::Open {
        path: dir.display().to_string(),
        reason: e.to_string(),
    })?;
    let db = Arc::new(db);
    // The commit index, written by the log store and read through the state machine's view.
    let committed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sm = StateMachineStore::load(dir, db.clone(), committed.clone()).map_err(|reason| {
        StoreOpenError::Corrupt {
            path: dir.display().to_string(),
            reason,
        }
    })?;
    Ok((LogStore::new(db, committed), sm))
}

/// Memtable size of the log column family (appends arrive here at the write rate).
const LOG_WRITE_BUFFER: usize = 8 << 20;
/// Memtable size of the small column families (vote, commit index, snapshots).
const SMALL_WRITE_BUFFER: usize = 2 << 20;

/// Database options sized for a small, append-mostly store. RocksDB's defaults (64 MiB
/// memtables, whose size also sets how much each write-ahead log file preallocates, a 4 MiB
/// manifest preallocation and up to 1000 kept info logs) made an empty data dir take 75 MiB on
/// disk; these keep a fresh node, engine or witness, near 13 MiB (mostly the preallocated log).
fn db_options() -> Options {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    opts.set_write_buffer_size(SMALL_WRITE_BUFFER);
    opts.set_db_write_buffer_size(LOG_WRITE_BUFFER + 2 * SMALL_WRITE_BUFFER);
    opts.set_max_total_wal_size(4 * LOG_WRITE_BUFFER as u64);
    opts.set_manifest_preallocation_size(256 << 10);
    opts.set_keep_log_file_num(4);
    opts.set_max_log_file_size(4 << 20);
    opts
}

fn cf_options(name: &str) -> Options {
    let mut opts = Options::default();
    opts.set_write_buffer_size(if name == CF_LOG {
        LOG_WRITE_BUFFER
    } else {
        SMALL_WRITE_BUFFER
    });
    opts
}

/// Write options that make a write durable before it returns.
pub(crate) fn synced() -> rocksdb::WriteOptions {
    let mut w = rocksdb::WriteOptions::default();
    w.set_sync(true);
    w
}

pub(crate) fn io_err(
    subject: ErrorSubject<u64>,
    verb: ErrorVerb,
    e: impl std::error::Error + 'static,
) -> StorageError<u64> {
    StorageIOError::new(subject, verb, openraft::AnyError::new(&e)).into()
}
