//! Whose data directory this is: the cluster (a one-way tag derived from the cluster secret,
//! never the secret) and the node id, written to `<data dir>/identity.toml` the first time a
//! node runs there and checked at every later start, before any port is bound. A node started
//! with another cluster's secret, or as another node, on an existing data directory is refused
//! with words that say which, instead of running with state it cannot unseal.

use anyhow::Context;
use portunus_raft::tls::ClusterSecret;
use serde::{Deserialize, Serialize};
use std::path::Path;

const FILE: &str = "identity.toml";

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct Identity {
    /// HKDF of the cluster secret for this purpose, hex.
    cluster_tag: String,
    node_id: u64,
}

fn tag(secret: &ClusterSecret) -> String {
    hex::encode(&secret.derive("data directory identity")[..16])
}

/// Checks `data_dir` against this node's configuration; records it on first use.
pub(crate) fn check_or_record(
    data_dir: &Path,
    node_id: u64,
    secret: &ClusterSecret,
) -> anyhow::Result<()> {
    let path = data_dir.join(FILE);
    let mine = Identity {
        cluster_tag: tag(secret),
        node_id,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let found: Identity = toml::from_str(&text)
                .with_context(|| format!("{} is not a valid identity file", path.display()))?;
            if found.cluster_tag != mine.cluster_tag {
                anyhow::bail!(
                    "the data directory {} belongs to another cluster: the cluster secret given \
                     is not the one it was created with (wrong secret, or another cluster's data \
                     directory)",
                    data_dir.display()
                );
            }
            if found.node_id != node_id {
                anyhow::bail!(
                    "the data directory {} belongs to node {} of this cluster, not node {node_id}",
                    data_dir.display(),
                    found.node_id
                );
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let text = toml::to_string(&mine).context("encoding the identity file")?;
            // Durably: an identity file left empty by a power loss would stop the node.
            portunus_raft::durable::replace(&path, text.as_bytes(), 0o644)
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_once_then_checked() {
        let dir = tempfile::tempdir().unwrap();
        let a = ClusterSecret::new("first-cluster-secret-0123456789-ABCDEF").unwrap();
        let b = ClusterSecret::new("other-cluster-secret-0123456789-ABCDEF").unwrap();
        check_or_record(dir.path(), 2, &a).unwrap();
        check_or_record(dir.path(), 2, &a).unwrap();
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert!(!text.contains("first-cluster-secret"), "{text}");
        let e = check_or_record(dir.path(), 2, &b).unwrap_err().to_string();
        assert!(e.contains("another cluster"), "{e}");
        let e = check_or_record(dir.path(), 3, &a).unwrap_err().to_string();
        assert!(e.contains("belongs to node 2"), "{e}");
    }
}
