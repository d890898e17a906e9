//! Reading the sealing keys again while the node runs (SIGHUP): `--seal-key-file` and
//! `--previous-seal-key-file` as given at start. The new keys replace the old ones only when
//! every file reads as a good key and they open every secret stored in the replicated state
//! (checked by key id, without opening anything); otherwise the node keeps its keys and says
//! why. Messages name files and key ids, never key material.

use crate::config::{NodeConfig, Role};
use portunus_raft::Replica;

/// What a successful reload did, in words for the log.
pub(crate) struct Reloaded {
    pub current: String,
    pub previous: Vec<String>,
}

/// Re-reads the key files and, if they hold good keys that open every stored secret, makes
/// them the node's keys.
pub(crate) fn reload_seal_keys(config: &NodeConfig, replica: &Replica) -> Result<Reloaded, String> {
    if config.role == Role::Witness {
        return Err("a witness holds no sealing key".into());
    }
    let files = config.seal_keys.describe();
    let fresh = config
        .seal_keys
        .load()
        .map_err(|e| format!("{e} (read from {files})"))?;
    let unopenable = replica.view().read(|s| {
        s.sealed_values()
            .into_iter()
            .find_map(|(_, sealed)| fresh.holds_key_of(sealed).err())
    });
    if let Some(e) = unopenable {
        return Err(format!(
            "the keys in {files} do not open every stored secret: {e}"
        ));
    }
    let reloaded = Reloaded {
        current: fresh.current_id().unwrap_or_default(),
        previous: fresh.previous_ids(),
    };
    config.sealer.replace(fresh).map_err(|e| e.to_string())?;
    Ok(reloaded)
}
