//! The state of one authenticated connection, shared by its channel tasks: who logged in, the
//! target named in the login, the token's session and the tunnel sessions opened so far.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::lease::Lease;
use super::login::NamedTarget;
use super::Shared;
use crate::gate::{AuditSink, Principal, Purpose, Refusal, RefusalKind, SessionGate, TargetSpec};

/// Tunnel sessions by requested (host, port).
type Tunnels<G> = HashMap<(String, u16), Arc<Lease<G>>>;

/// One authenticated connection.
pub(crate) struct Conn<G: SessionGate, A: AuditSink> {
    pub shared: Arc<Shared<G, A>>,
    pub client: SocketAddr,
    pub principal: Principal,
    pub target: Option<NamedTarget>,
    /// The token's session, opened by the gate at login.
    pub token_lease: Option<Arc<Lease<G>>>,
    /// The token's session has had its recorded shell or command.
    token_recorded: AtomicBool,
    /// Tunnel sessions by requested host and port, one per distinct target.
    tunnels: tokio::sync::Mutex<Tunnels<G>>,
    /// Cancelled when the connection ends: every channel task stops.
    pub closed: CancellationToken,
    pub handle: russh::server::Handle,
}

impl<G: SessionGate, A: AuditSink> Conn<G, A> {
    pub fn new(
        shared: Arc<Shared<G, A>>,
        client: SocketAddr,
        mut principal: Principal,
        target: Option<NamedTarget>,
        closed: CancellationToken,
        handle: russh::server::Handle,
    ) -> Self {
        let token_lease = principal
            .token
            .take()
            .map(|admission| Lease::new(admission, Arc::clone(&shared.gate)));
        Self {
            shared,
            client,
            principal,
            target,
            token_lease,
            token_recorded: AtomicBool::new(false),
            tunnels: tokio::sync::Mutex::new(HashMap::new()),
            closed,
            handle,
        }
    }

    /// The session a `-L` tunnel to `host:port` runs under: the token's when it matches, else
    /// one opened with the gate (once per distinct target on this connection). Refused unless
    /// the permit is for a database (see [`crate::gate::Permit::tunnel_refusal`]).
    pub async fn tunnel_lease(&self, host: &str, port: u16) -> Result<Arc<Lease<G>>, Refusal> {
        if let Some(lease) = &self.token_lease {
            let p = lease.permit();
            let spec = TargetSpec::Address {
                host: host.into(),
                port,
            };
            if p.admits(&spec) {
                // A token for a host account opens a recorded shell, never a raw tunnel.
                return match p.tunnel_refusal() {
                    None => Ok(Arc::clone(lease)),
                    Some(refusal) => Err(refusal),
                };
            }
            return Err(Refusal {
                kind: RefusalKind::NotAuthorized,
                message: format!(
                    "this O&M token is for {}:{} only, not {host}:{port}",
                    p.address, p.port
                ),
            });
        }
        let mut tunnels = self.tunnels.lock().await;
        if let Some(lease) = tunnels.get(&(host.to_owned(), port)) {
            return Ok(Arc::clone(lease));
        }
        let spec = TargetSpec::Address {
            host: host.into(),
            port,
        };
        let purpose = Purpose::Tunnel {
            host: host.into(),
            port,
        };
        let admission = self
            .shared
            .gate
            .open(&self.principal, spec, purpose, self.client)
            .await?;
        // Decided on what the gate says the target is, whatever the port: the session the gate
        // opened for a host is given back at once (the lease drops).
        let refusal = admission.permit().tunnel_refusal();
        let lease = Lease::new(admission, Arc::clone(&self.shared.gate));
        if let Some(refusal) = refusal {
            lease.mark_error();
            return Err(refusal);
        }
        tunnels.insert((host.to_owned(), port), Arc::clone(&lease));
        Ok(lease)
    }

    /// Whether a recorded channel (shell or exec) may run under `lease`. A session has one
    /// recording, so the token's session, which every channel of a token login shares, allows
    /// one: a second would write the same recording parts over the first one's.
    pub fn may_record(&self, lease: &Arc<Lease<G>>) -> Result<(), Refusal> {
        let Some(token) = self.token_lease.as_ref().filter(|t| Arc::ptr_eq(t, lease)) else {
            return Ok(());
        };
        if self.token_recorded.swap(true, Ordering::SeqCst) {
            return Err(Refusal {
                kind: RefusalKind::NotAuthorized,
                message: format!(
                    "this O&M token's session on {}@{} already ran its shell or command; \
                     log in again for another",
                    token.permit().account_name,
                    token.permit().asset_name
                ),
            });
        }
        Ok(())
    }

    /// The session a shell, command or SFTP channel runs under, for an explicit target.
    pub async fn open_lease(
        &self,
        spec: TargetSpec,
        purpose: Purpose,
    ) -> Result<Arc<Lease<G>>, Refusal> {
        if let Some(lease) = &self.token_lease {
            let p = lease.permit();
            return if p.admits(&spec) {
                Ok(Arc::clone(lease))
            } else {
                Err(Refusal {
                    kind: RefusalKind::NotAuthorized,
                    message: format!(
                        "this O&M token is for {}@{} only",
                        p.account_name, p.asset_name
                    ),
                })
            };
        }
        let admission = self
            .shared
            .gate
            .open(&self.principal, spec, purpose, self.client)
            .await?;
        Ok(Lease::new(admission, Arc::clone(&self.shared.gate)))
    }
}
