//! The SSH host key every node presents: generated once for the cluster by whichever node gets
//! there first, kept sealed in the replicated state, so an engineer behind a load balancer never
//! sees a changed host key.

use crate::seal::{purpose, Sealer};
use portunus_model::Command;
use portunus_raft::Replica;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::ssh_key::LineEnding;
use russh::keys::PrivateKey;
use std::time::Duration;

fn generate(sealer: &Sealer) -> anyhow::Result<portunus_model::Sealed> {
    let mut seed = [0u8; 32];
    aws_lc_rs::rand::fill(&mut seed).map_err(|_| anyhow::anyhow!("no system randomness"))?;
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    let text = key.to_openssh(LineEnding::LF)?;
    Ok(sealer.seal(purpose::SSH_HOST_KEY, text.as_bytes())?)
}

/// The cluster's SSH host key, creating it if the cluster has none yet.
pub(crate) async fn cluster_host_key(
    replica: &Replica,
    sealer: &Sealer,
) -> anyhow::Result<PrivateKey> {
    loop {
        if let Some(sealed) = replica.view().read(|s| s.ssh_host_key().cloned()) {
            let text = sealer.open(purpose::SSH_HOST_KEY, &sealed)?;
            let text = String::from_utf8(text)?;
            return Ok(russh::keys::decode_secret_key(&text, None)?);
        }
        let set = Command::SetSshHostKey {
            key: generate(sealer)?,
            only_if_absent: true,
        };
        if let Err(e) = replica.propose(set).await {
            tracing::debug!(error = %e, "storing the SSH host key; will retry");
            tokio::time::sleep(Duration::from_millis(300)).await;
            continue;
        }
        // Another node may have won the race: wait until the stored key is applied here.
        let _ = replica.read_linearizable(|_| ()).await;
    }
}
