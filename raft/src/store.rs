//! Durable storage on RocksDB: the Raft log and vote ([`LogStore`]) and the state machine with
//! its snapshots ([`StateMachineStore`]), sharing one database with three column families.

mod log;
mod sm;

pub use log::LogStore;
pub use sm::{StateMachineStore, StateView};

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
    std::fs::create_dir_all(dir).map_err(|e| StoreOpenError::Open {
        path: dir.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    let cfs = [CF_LOG, CF_META, CF_SNAPSHOT]
        .into_iter()
        .map(|name| ColumnFamilyDescriptor::new(name, Options::default()));
    let db = DB::open_cf_descriptors(&opts, dir.join("raft"), cfs).map_err(|e| {
        StoreOpenError::Open {
            path: dir.display().to_string(),
            reason: e.to_string(),
        }
    })?;
    let db = Arc::new(db);
    // The commit index, written by the log store and read through the state machine's view.
    let committed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sm = StateMachineStore::load(db.clone(), committed.clone()).map_err(|e| {
        StoreOpenError::Corrupt {
            path: dir.display().to_string(),
            reason: e.to_string(),
        }
    })?;
    Ok((LogStore::new(db, committed), sm))
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
