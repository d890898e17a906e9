//! The bastion's own SSH login to a target: connect to the permitted address, check the
//! target's host key against the trusted fingerprint (trust on first use through the gate),
//! log in with the hosted credential and open a session channel.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Msg};
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::Channel;

use super::error::SshError;
use crate::gate::{GateKeys, Permit, Refusal, RefusalKind, SessionGate, TargetCredential};
use crate::route;

/// A logged-in connection to a target.
pub(crate) type TargetHandle<G> = client::Handle<HostKeyCheck<G>>;

/// Checks the target's host key; remembers why it refused one.
pub(crate) struct HostKeyCheck<G: SessionGate> {
    gate: Arc<G>,
    permit: Permit,
    refusal: Arc<Mutex<Option<Refusal>>>,
}

impl<G: SessionGate> client::Handler for HostKeyCheck<G> {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            self.refuse(
                RefusalKind::HostKeyMismatch,
                "the target offered a host certificate; a plain host key is required".into(),
            );
            return Ok(false);
        };
        let seen = key.fingerprint(HashAlg::Sha256).to_string();
        match &self.permit.host_key_fingerprint {
            Some(trusted) if *trusted == seen => Ok(true),
            Some(trusted) => {
                tracing::warn!(asset = %self.permit.asset_name, %trusted, %seen, "ssh: target host key mismatch");
                self.refuse(
                    RefusalKind::HostKeyMismatch,
                    format!(
                        "the host key of {} changed ({seen}), it is not the pinned one; \
                         no credential was sent; ask an administrator",
                        self.permit.asset_name
                    ),
                );
                Ok(false)
            }
            None => match self.gate.trust_host_key(&self.permit, &seen).await {
                Ok(()) => Ok(true),
                Err(refusal) => {
                    self.set(refusal);
                    Ok(false)
                }
            },
        }
    }
}

impl<G: SessionGate> HostKeyCheck<G> {
    fn refuse(&self, kind: RefusalKind, message: String) {
        self.set(Refusal { kind, message });
    }

    fn set(&self, refusal: Refusal) {
        *self.refusal.lock().unwrap_or_else(|e| e.into_inner()) = Some(refusal);
    }
}

/// Connects and logs in to the permit's target.
pub(crate) async fn connect<G: SessionGate>(
    config: Arc<client::Config>,
    gate: Arc<G>,
    permit: &Permit,
    timeout: Duration,
) -> Result<TargetHandle<G>, SshError> {
    let refusal = Arc::new(Mutex::new(None));
    let proxy_keys = Arc::clone(&gate);
    let check = HostKeyCheck {
        gate,
        permit: permit.clone(),
        refusal: Arc::clone(&refusal),
    };
    // The leg first (each proxy tried has `timeout`, so a hung Master leaves time for the
    // Slave), then the target's SSH handshake within `timeout`.
    let keys = GateKeys(&*proxy_keys);
    let (address, port) = (permit.address.as_str(), permit.port);
    let up = route::dial(&permit.route, address, port, timeout, &keys)
        .await
        .map_err(|e| unreachable(permit, e))?;
    up.set_nodelay();
    let connecting = async {
        client::connect_stream(config, up, check)
            .await
            .map_err(
                |err| match refusal.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    Some(refusal) => SshError::Refused(refusal),
                    None => SshError::Ssh(err),
                },
            )
    };
    let mut handle = tokio::time::timeout(timeout, connecting)
        .await
        .map_err(|_| SshError::Io(std::io::ErrorKind::TimedOut.into()))??;
    login(&mut handle, permit).await?;
    Ok(handle)
}

/// A failed dial as the gateway's error: a direct leg's as an i/o error (the engineer reads
/// "the target is unreachable"), a proxied one in its own words (which proxy said what).
fn unreachable(permit: &Permit, e: route::DialError) -> SshError {
    tracing::info!(asset = %permit.asset_name, error = %e, "ssh: target unreachable");
    if permit.route.is_direct() {
        let kind = if e.timed_out {
            std::io::ErrorKind::TimedOut
        } else {
            std::io::ErrorKind::ConnectionRefused
        };
        SshError::Io(std::io::Error::new(kind, e.message))
    } else {
        SshError::Unreachable(e.message)
    }
}

async fn login<G: SessionGate>(
    handle: &mut TargetHandle<G>,
    permit: &Permit,
) -> Result<(), SshError> {
    let user = permit.account_name.clone();
    let result = match &permit.credential {
        TargetCredential::Password(secret) => {
            handle.authenticate_password(user, secret.0.clone()).await?
        }
        TargetCredential::PrivateKey(secret) => {
            let key = russh::keys::decode_secret_key(&secret.0, None)
                .map_err(|e| SshError::Credential(e.to_string()))?;
            let hash = handle.best_supported_rsa_hash().await?.flatten();
            handle
                .authenticate_publickey(user, PrivateKeyWithHashAlg::new(Arc::new(key), hash))
                .await?
        }
        TargetCredential::None => handle.authenticate_none(user).await?,
    };
    if result.success() {
        Ok(())
    } else {
        Err(SshError::TargetAuth {
            account: permit.account_name.clone(),
        })
    }
}

/// Opens a session channel on a logged-in target.
pub(crate) async fn open_session<G: SessionGate>(
    handle: &TargetHandle<G>,
) -> Result<Channel<Msg>, SshError> {
    Ok(handle.channel_open_session().await?)
}
