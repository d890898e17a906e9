//! SSH proxies' host keys: trust on first use recorded in the replicated state (on the
//! domain's proxy), refused when the cluster requires pinned keys or another key is trusted.

use super::refusal::{from_replica, refusal};
use portunus_model::Command;
use portunus_proxy::gate::{Refusal, RefusalKind};
use portunus_proxy::route::{ProxyHop, Route};
use portunus_raft::{Replica, ReplicaError};

/// Trusts `fingerprint` for `hop` of `route`'s domain, or says why not (no secret was sent).
pub(crate) async fn trust(
    replica: &Replica,
    route: &Route,
    hop: &ProxyHop,
    fingerprint: &str,
) -> Result<(), Refusal> {
    let domain = &route.domain_name;
    let Some(domain_id) = route.domain_id else {
        let words = format!("{hop} is not a proxy of a network domain");
        return Err(refusal(RefusalKind::HostKeyMismatch, words));
    };
    let required = replica.view().read(|s| s.settings().require_host_key_pins);
    if required {
        tracing::warn!(%domain, proxy = %hop, presented = %fingerprint, "proxy host key not pinned, and pins are required");
        return Err(refusal(
            RefusalKind::HostKeyMismatch,
            format!(
                "{hop} of network domain {domain} has no pinned host key and this bastion \
                 requires one; no password was sent. An administrator checks the key on the \
                 proxy (it presented {fingerprint}) and pins it: ModifyNetworkDomain with \
                 Proxies.N.NodeType={} and Proxies.N.HostKeyFingerprint",
                hop.node_type
            ),
        ));
    }
    let cmd = Command::TrustProxyHostKey {
        domain_id,
        node_type: hop.node_type.clone(),
        address: hop.address.clone(),
        port: hop.port,
        fingerprint: fingerprint.to_string(),
    };
    match replica.propose(cmd).await {
        Ok(_) => Ok(()),
        Err(ReplicaError::Rejected(r)) => {
            tracing::warn!(%domain, proxy = %hop, presented = %fingerprint, reason = %r, "proxy host key refused");
            Err(refusal(
                RefusalKind::HostKeyMismatch,
                format!(
                    "{hop} of network domain {domain} presented {fingerprint}: {r}; no \
                     password was sent; ask an administrator"
                ),
            ))
        }
        Err(e) => Err(from_replica(&e)),
    }
}
