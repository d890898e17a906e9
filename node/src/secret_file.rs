//! Files that hold secrets: created with mode 0600 before any byte is written.

use std::path::Path;

/// Create (or replace) `path` readable by its owner only, and write `contents` durably (the
/// file and its name: see [`portunus_raft::durable::replace`]).
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    portunus_raft::durable::replace(path, contents, 0o600)
}
