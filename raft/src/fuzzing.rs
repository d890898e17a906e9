//! Entry points that feed arbitrary bytes to the decoders of what crosses a node's boundary:
//! the cluster's messages (requests and answers, from another member over QUIC) and what the
//! store reads back from disk (log entries, snapshots, which a member also receives whole).
//! For the fuzz targets (`fuzz/`, `scripts/fuzz.sh`) and the randomized run with the unit
//! tests. Each may return errors, never panic, and never allocate in proportion to a length
//! field rather than to the bytes given.

use crate::codec;
use crate::network::{RpcRequest, RpcResponse};
use crate::TypeConfig;

/// A message from another member: a request, or an answer to one.
pub fn network(data: &[u8]) {
    let _ = codec::decode::<RpcRequest>(data);
    let _ = codec::decode::<RpcResponse>(data);
}

/// What the store reads back: a log entry, a snapshot (stored, or received whole).
pub fn stored(data: &[u8]) {
    let _ = codec::decode::<openraft::Entry<TypeConfig>>(data);
    crate::store::decode_snapshot(data);
}

#[cfg(test)]
mod tests {
    use crate::codec::encode;
    use crate::network::RpcRequest;
    use crate::NodeInfo;
    use portunus_db::fuzzing::mutations;

    fn seeds() -> Vec<Vec<u8>> {
        let info = NodeInfo {
            cluster_addr: "10.0.0.2:7070".into(),
            api_addr: "10.0.0.2:8443".into(),
            ssh_addr: "10.0.0.2:60022".into(),
        };
        let requests = [
            RpcRequest::Ping,
            RpcRequest::Status,
            RpcRequest::ReadIndex,
            RpcRequest::PutBlob {
                name: "events-1.jsonl".into(),
                data: b"{\"a\":1}\n".to_vec(),
            },
            RpcRequest::Join { node_id: 7, info },
            RpcRequest::PreVote {
                candidate: 3,
                last_log_id: Some(openraft::LogId::new(
                    openraft::CommittedLeaderId::new(4, 2),
                    99,
                )),
            },
            RpcRequest::Service {
                name: "mysql-thread".into(),
                body: vec![1, 2, 3],
            },
        ];
        let mut seeds: Vec<Vec<u8>> = requests
            .iter()
            .map(|r| encode(r).expect("encodes"))
            .collect();
        seeds.push(crate::store::empty_snapshot());
        seeds
    }

    /// What `scripts/fuzz.sh` found (`fuzz/corpus/store/crash-56b3435a...`): a stored entry
    /// whose bytes claim a persistent map of 2^56 entries, which the map's own decoder reserved
    /// at once (a capacity overflow, a panic). Now an error.
    #[test]
    fn a_stored_entry_claiming_a_huge_map_is_an_error() {
        let data = [
            0x38, 0, 0, 0, 0, 0, 0, 0, 0xfd, 0, 1, 0, 0, 0, 0, 0, 1, 0x10, 0x1f,
        ];
        super::stored(&data);
        assert!(crate::codec::decode::<openraft::Entry<crate::TypeConfig>>(&data).is_err());
    }

    #[test]
    fn the_cluster_and_store_decoders_survive_random_and_mutated_input() {
        for data in mutations(&seeds(), 0x0dd5_eed5_7a7e_1234, 20_000) {
            super::network(&data);
            super::stored(&data);
        }
    }
}
