//! Sealing key rotation (Portunus extension): ResealSecrets seals every stored secret again
//! under the sealing key this node seals with, through the replicated log so that every node
//! holds the same ciphertext; afterwards the previous key can be dropped from every node.

use crate::api::call::Call;
use crate::api::error::{ApiError, ApiResult};
use crate::api::table::{action, Action};
use portunus_model::{Command, Resealed, Response, Sealed, SealedAt};
use serde_json::{json, Map, Value};

pub static ACTIONS: &[Action] = &[action!(
    "ResealSecrets",
    Write,
    reseal,
    "Seals every stored secret (hosted passwords and keys, AccessKey secrets, the SSH host key) \
     again under the sealing key of the node that answers (Portunus extension). Run it after \
     every node was restarted with the new --seal-key-file and the old key as \
     --previous-seal-key-file; when it reports Remaining 0, the old key can be dropped. \
     Values changed meanwhile are left alone and counted as ChangedMeanwhile (run it again).",
    []
)];

/// Values proposed per log entry.
const PER_ENTRY: usize = 256;

fn place(at: &SealedAt) -> String {
    format!("{at:?}")
}

async fn reseal(c: &Call) -> ApiResult {
    let key_id = c
        .backend
        .seal_key_id()
        .ok_or_else(|| ApiError::invalid("ResealSecrets", "this node holds no sealing key"))?;
    let values: Vec<(SealedAt, Sealed)> = c
        .read(|s| {
            s.sealed_values()
                .into_iter()
                .map(|(at, v)| (at, v.clone()))
                .collect()
        })
        .await?;
    let (mut items, mut current, mut failed) = (Vec::new(), 0u64, Vec::<Value>::new());
    for (at, old) in values {
        match c.backend.reseal(at.purpose(), &old) {
            Ok(None) => current += 1,
            Ok(Some(new)) => items.push(Resealed { at, old, new }),
            Err(e) => failed.push(json!({ "Place": place(&at), "Error": e.to_string() })),
        }
    }
    let (mut replaced, mut changed) = (0u64, 0u64);
    for chunk in items.chunks(PER_ENTRY) {
        match c.propose(Command::Reseal(chunk.to_vec())).await? {
            Response::Resealed {
                replaced: r,
                changed_meanwhile: m,
            } => {
                replaced += r;
                changed += m;
            }
            _ => return Err(ApiError::Internal),
        }
    }
    let remaining = changed + failed.len() as u64;
    let mut m = Map::new();
    m.insert("KeyId".into(), key_id.into());
    m.insert("Resealed".into(), replaced.into());
    m.insert("AlreadyCurrent".into(), current.into());
    m.insert("ChangedMeanwhile".into(), changed.into());
    m.insert("Remaining".into(), remaining.into());
    m.insert("Failed".into(), failed.into());
    Ok(m)
}
