//! The storage each member uses (`GetInstanceStoreInfo`): bytes under its data directory by
//! part, and the size and free space of the filesystem holding it. Every member answers for
//! itself over the cluster's authenticated connections, so one API call reports them all.

use portunus_ops::NodeStore;
use portunus_raft::Replica;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The name of the service other members call.
const SERVICE: &str = "store-usage";

/// How long one member may take to answer.
const ASK_WITHIN: Duration = Duration::from_secs(5);

/// Answers other members' questions about this node's storage.
pub(crate) fn serve(replica: &Replica, data_dir: PathBuf) {
    let node_id = replica.id();
    replica.serve_calls(
        SERVICE,
        Arc::new(move |_body: Vec<u8>| {
            let dir = data_dir.clone();
            Box::pin(async move {
                let store = tokio::task::spawn_blocking(move || measure(node_id, &dir))
                    .await
                    .map_err(|e| e.to_string())?;
                serde_json::to_vec(&store).map_err(|e| e.to_string())
            })
        }),
    );
}

/// Every member's storage; a member that does not answer is listed with the reason.
pub(crate) async fn all_members(replica: &Replica) -> Vec<NodeStore> {
    let ids: Vec<u64> = replica.status().nodes.iter().map(|n| n.id).collect();
    let asks = ids.into_iter().map(|id| async move {
        let answer = replica
            .call_member(id, SERVICE, Vec::new(), ASK_WITHIN)
            .await;
        match answer.map(|b| serde_json::from_slice::<NodeStore>(&b)) {
            Ok(Ok(store)) => store,
            Ok(Err(e)) => unanswered(id, format!("unreadable answer: {e}")),
            Err(e) => unanswered(id, e.to_string()),
        }
    });
    futures::future::join_all(asks).await
}

fn unanswered(node_id: u64, error: String) -> NodeStore {
    NodeStore {
        node_id,
        error: Some(error),
        ..Default::default()
    }
}

/// Measures the data directory `dir` of member `node_id`.
pub(crate) fn measure(node_id: u64, dir: &Path) -> NodeStore {
    // The replicated state: the log database and the latest snapshot beside it.
    let snapshot =
        std::fs::metadata(dir.join(portunus_raft::store::SNAPSHOT_FILE)).map_or(0, |m| m.len());
    let raft_bytes = tree_bytes(&dir.join("raft")) + snapshot;
    let blob_bytes = tree_bytes(&dir.join("blobs"));
    let audit_bytes = tree_bytes(&dir.join("audit"));
    let used_bytes = tree_bytes(dir);
    let (capacity_bytes, free_bytes, error) = match filesystem(dir) {
        Ok((size, free)) => (size, free, None),
        Err(e) => (0, 0, Some(format!("statvfs {}: {e}", dir.display()))),
    };
    NodeStore {
        node_id,
        used_bytes,
        raft_bytes,
        blob_bytes,
        audit_bytes,
        capacity_bytes,
        free_bytes,
        error,
    }
}

/// Bytes of the regular files under `dir` (0 when it does not exist). Files that vanish
/// while the walk runs (RocksDB compactions) are skipped.
fn tree_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.metadata() {
                Ok(m) if m.is_dir() => pending.push(entry.path()),
                Ok(m) if m.is_file() => total += m.len(),
                _ => {}
            }
        }
    }
    total
}

/// (size, free bytes available to this process) of the filesystem holding `dir`.
fn filesystem(dir: &Path) -> std::io::Result<(u64, u64)> {
    let st = rustix::fs::statvfs(dir)?;
    Ok((
        st.f_blocks.saturating_mul(st.f_frsize),
        st.f_bavail.saturating_mul(st.f_frsize),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_each_part_and_the_filesystem() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("blobs/ab")).unwrap();
        std::fs::write(dir.path().join("blobs/ab/one"), vec![0u8; 3000]).unwrap();
        std::fs::create_dir_all(dir.path().join("audit")).unwrap();
        std::fs::write(dir.path().join("audit/events.jsonl"), vec![0u8; 700]).unwrap();
        std::fs::write(dir.path().join("identity.toml"), vec![0u8; 11]).unwrap();
        let s = measure(4, dir.path());
        assert_eq!(s.node_id, 4);
        assert_eq!(s.blob_bytes, 3000);
        assert_eq!(s.audit_bytes, 700);
        assert_eq!(s.raft_bytes, 0);
        assert_eq!(s.used_bytes, 3711);
        assert!(
            s.capacity_bytes >= s.free_bytes && s.capacity_bytes > 0,
            "{s:?}"
        );
        assert_eq!(s.error, None);
    }
}
