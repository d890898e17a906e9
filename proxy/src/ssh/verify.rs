//! Checking a host account the way a login would, without an engineer: connect, compare the
//! host key with the pinned fingerprint (never trusting a new one), then try the hosted
//! credential and say precisely why it failed. The credential is sent only to a host whose key
//! matches the pin.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKeyOrCertificate};

use crate::gate::TargetCredential;

/// What to check.
#[derive(Debug)]
pub struct VerifyTarget {
    pub address: String,
    pub port: u16,
    pub account_name: String,
    pub credential: TargetCredential,
    /// The pinned host key fingerprint (`SHA256:...`); None: not pinned.
    pub pinned: Option<String>,
    /// Straight, or through the host's network domain's proxies (an SSH proxy's key must be
    /// trusted already: a check trusts no new key).
    pub route: crate::route::Route,
}

/// How a check ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifyOutcome {
    /// The host presented the pinned key and accepted the hosted credential.
    Ok,
    /// No SSH connection could be made (the reason says how it failed).
    Unreachable(String),
    /// The host presented another key than the pinned one; no credential was sent.
    HostKeyMismatch,
    /// No fingerprint is pinned for the host; no credential was sent.
    HostKeyNotPinned,
    /// The account has no hosted credential to try.
    NoCredential,
    /// The hosted credential cannot be used (a private key that does not parse).
    CredentialUnusable(String),
    /// The host refused the hosted credential.
    AuthRefused,
}

/// The outcome and the fingerprint the host presented, if it got that far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    pub outcome: VerifyOutcome,
    pub seen_fingerprint: Option<String>,
}

struct Check {
    pinned: Option<String>,
    seen: Arc<Mutex<Option<String>>>,
}

impl client::Handler for Check {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            return Ok(false);
        };
        let seen = key.fingerprint(HashAlg::Sha256).to_string();
        let matches = self.pinned.as_deref() == Some(seen.as_str());
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(seen);
        Ok(matches)
    }
}

/// Checks `target` within `timeout` (connection and login together), with the algorithms the
/// gateway uses towards targets.
pub async fn verify(target: VerifyTarget, timeout: Duration) -> VerifyReport {
    let config = Arc::new(client::Config {
        preferred: super::config::preferred(),
        nodelay: true,
        ..Default::default()
    });
    let seen = Arc::new(Mutex::new(None));
    let outcome =
        match tokio::time::timeout(timeout, attempt(config, &target, &seen, timeout)).await {
            Ok(o) => o,
            Err(_) => {
                VerifyOutcome::Unreachable(format!("no SSH answer within {} s", timeout.as_secs()))
            }
        };
    let seen_fingerprint = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
    // A refused host key ends the connection with an error: tell which refusal it was.
    let outcome = match (&outcome, &seen_fingerprint, &target.pinned) {
        (VerifyOutcome::Unreachable(_), Some(_), None) => VerifyOutcome::HostKeyNotPinned,
        (VerifyOutcome::Unreachable(_), Some(s), Some(p)) if s != p => {
            VerifyOutcome::HostKeyMismatch
        }
        _ => outcome,
    };
    VerifyReport {
        outcome,
        seen_fingerprint,
    }
}

async fn attempt(
    config: Arc<client::Config>,
    target: &VerifyTarget,
    seen: &Arc<Mutex<Option<String>>>,
    timeout: Duration,
) -> VerifyOutcome {
    let (address, port) = (target.address.as_str(), target.port);
    // The caller bounds the whole check: each leg tried gets a share of it, so that a hung
    // Master proxy leaves time for the Slave and for the host.
    let legs = target.route.proxies.len().max(1) as u32 + 1;
    let timeout = timeout / legs;
    let keys = crate::route::PinnedOnly;
    let tcp = match crate::route::dial(&target.route, address, port, timeout, &keys).await {
        Ok(t) => t,
        Err(e) => return VerifyOutcome::Unreachable(e.message),
    };
    let check = Check {
        pinned: target.pinned.clone(),
        seen: Arc::clone(seen),
    };
    let mut handle = match client::connect_stream(config, tcp, check).await {
        Ok(h) => h,
        Err(e) => return VerifyOutcome::Unreachable(format!("SSH handshake failed: {e}")),
    };
    let user = target.account_name.clone();
    let result = match &target.credential {
        TargetCredential::Password(p) => handle.authenticate_password(user, p.0.clone()).await,
        TargetCredential::PrivateKey(k) => {
            let key = match russh::keys::decode_secret_key(&k.0, None) {
                Ok(k) => k,
                Err(e) => return VerifyOutcome::CredentialUnusable(e.to_string()),
            };
            let hash = handle
                .best_supported_rsa_hash()
                .await
                .ok()
                .flatten()
                .flatten();
            handle
                .authenticate_publickey(user, PrivateKeyWithHashAlg::new(Arc::new(key), hash))
                .await
        }
        TargetCredential::None => return VerifyOutcome::NoCredential,
    };
    let _ = handle
        .disconnect(russh::Disconnect::ByApplication, "", "en")
        .await;
    match result {
        Ok(r) if r.success() => VerifyOutcome::Ok,
        Ok(_) => VerifyOutcome::AuthRefused,
        Err(e) => VerifyOutcome::Unreachable(format!("SSH failed during login: {e}")),
    }
}
