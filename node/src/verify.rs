//! `VerifyHostAccount` on this node: the host account's target and hosted credential from the
//! replicated state, checked by the SSH gateway's verifier, the outcome in an administrator's
//! words. A key that does not match the pin is logged as a warning.

use crate::running::NodeShared;
use portunus_model::{EntityKind, Protocol, Rejection, State};
use portunus_ops::{BackendError, HostAccountCheck};
use portunus_proxy::ssh::verify::{verify, VerifyOutcome, VerifyTarget};
use std::time::Duration;

/// Longest wait for the host's answer (connection and login).
const TIMEOUT: Duration = Duration::from_secs(10);

fn target(
    s: &State,
    shared: &NodeShared,
    account_id: u64,
) -> Result<(String, VerifyTarget), BackendError> {
    let acc = s
        .host_account(account_id)
        .ok_or_else(|| Rejection::not_found(EntityKind::HostAccount, account_id))?;
    let host = s
        .host(acc.host_id)
        .ok_or_else(|| Rejection::not_found(EntityKind::Host, acc.host_id))?;
    if acc.protocol != Protocol::Ssh {
        return Err(
            Rejection::invalid("HostAccountId", "only SSH accounts can be verified").into(),
        );
    }
    let target = VerifyTarget {
        address: host.active_address().to_string(),
        port: crate::gate::permit::host_port(host),
        account_name: acc.name.clone(),
        credential: crate::gate::permit::host_credential(s, &shared.sealer, acc),
        pinned: s.host_key_fingerprint(host.id).map(str::to_string),
        route: crate::gate::permit::route(s, &shared.sealer, host.network_domain_id),
    };
    Ok((host.name.clone(), target))
}

/// Checks one host account.
pub(crate) async fn host_account(
    replica: &portunus_raft::Replica,
    shared: &NodeShared,
    account_id: u64,
) -> Result<HostAccountCheck, BackendError> {
    let found = replica
        .read_linearizable(|s| target(s, shared, account_id))
        .await
        .map_err(|e| BackendError::Unavailable(e.to_string()))?;
    let (host, target) = found?;
    let account = target.account_name.clone();
    let pinned = target.pinned.clone();
    let report = verify(target, TIMEOUT).await;
    let seen = report.seen_fingerprint.clone();
    let seen_text = seen.as_deref().unwrap_or("no key");
    let pinned_text = pinned.as_deref().unwrap_or("none");
    let (result, message) = match report.outcome {
        VerifyOutcome::Ok => (
            "OK",
            format!("{host} presented the pinned key ({seen_text}) and accepted the hosted credential of {account}"),
        ),
        VerifyOutcome::Unreachable(why) => ("Unreachable", format!("{host} is unreachable: {why}")),
        VerifyOutcome::HostKeyMismatch => {
            tracing::warn!(%host, pinned = %pinned_text, seen = %seen_text, "verify: target host key mismatch");
            (
                "HostKeyMismatch",
                format!(
                    "{host} presented {seen_text}, not the pinned {pinned_text}; no credential was \
                     sent (if its key changed legitimately, pin the new one: portunus admin host \
                     fingerprint {host} --set ...)"
                ),
            )
        }
        VerifyOutcome::HostKeyNotPinned => (
            "HostKeyNotPinned",
            format!(
                "no host key is pinned for {host}, which presented {seen_text}; no credential \
                 was sent: check the key out of band, pin it (portunus admin host fingerprint \
                 {host} --set ...) and verify again"
            ),
        ),
        VerifyOutcome::NoCredential => (
            "NoCredential",
            format!("{account} on {host} has no hosted password or key this node can open"),
        ),
        VerifyOutcome::CredentialUnusable(why) => (
            "CredentialUnusable",
            format!("the hosted private key of {account} cannot be used: {why}"),
        ),
        VerifyOutcome::AuthRefused => (
            "AuthRefused",
            format!("{host} presented the pinned key but refused the hosted credential of {account}"),
        ),
    };
    Ok(HostAccountCheck {
        result,
        message,
        pinned_fingerprint: pinned,
        seen_fingerprint: seen,
    })
}

/// Checks each proxy of a network domain from this node (`GetNetworkDomain` with
/// `CheckProxyState`): reachable, its protocol, the domain's login; an SSH proxy only when its
/// key is trusted already (no password goes to an unknown key).
pub(crate) async fn network_proxies(
    replica: &portunus_raft::Replica,
    shared: &NodeShared,
    domain_id: u64,
) -> Result<Vec<portunus_ops::ProxyCheck>, BackendError> {
    let route = replica
        .read_linearizable(|s| {
            s.network_domain(domain_id)
                .map(|d| crate::gate::permit::route(s, &shared.sealer, Some(d.id)))
        })
        .await
        .map_err(|e| BackendError::Unavailable(e.to_string()))?
        .ok_or_else(|| Rejection::not_found(EntityKind::NetworkDomain, domain_id))?;
    // A check trusts no new SSH proxy key (a read may not change what is trusted): an
    // unpinned proxy is reported with the key it presented.
    let keys = portunus_proxy::route::PinnedOnly;
    let mut out = Vec::new();
    for hop in &route.proxies {
        let checked = portunus_proxy::route::check_proxy(&route, hop, TIMEOUT, &keys).await;
        if let Err(f) = &checked {
            tracing::info!(domain = %route.domain_name, proxy = %hop, fault = %f, "network domain proxy check failed");
        }
        out.push(portunus_ops::ProxyCheck {
            node_type: hop.node_type.clone(),
            fault: checked.err().map(|f| (f.code, f.message)),
        });
    }
    Ok(out)
}
