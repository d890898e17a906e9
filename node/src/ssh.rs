//! Running the SSH gateway on this node: wait for the cluster's host key, then serve the
//! already bound listener with the node's gate and audit sink until the node stops.

use crate::audit::FileAudit;
use crate::gate::Gate;
use crate::running::NodeShared;
use portunus_proxy::ssh::{SshConfig, SshGateway, SshSettings};
use portunus_raft::Replica;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Everything the SSH task needs.
pub(crate) struct SshTask {
    pub(crate) replica: Replica,
    pub(crate) shared: Arc<NodeShared>,
    pub(crate) gate: Arc<Gate>,
    pub(crate) audit: Arc<FileAudit>,
    pub(crate) listener: TcpListener,
    pub(crate) settings: SshSettings,
    pub(crate) proxy_protocol_from: Vec<portunus_proxy_protocol::Cidr>,
    pub(crate) target_tls: Arc<portunus_proxy::db::tls::DatabaseTls>,
}

impl SshTask {
    pub(crate) async fn run(self, mut stop: watch::Receiver<bool>) {
        let key = tokio::select! {
            key = crate::host_key::cluster_host_key(&self.replica, &self.shared.sealer) => key,
            _ = stop.wait_for(|s| *s) => return,
        };
        let key = match key {
            Ok(k) => k,
            Err(e) => {
                tracing::error!(error = %e, "no SSH host key: the SSH gateway does not start");
                return;
            }
        };
        let listen = match self.listener.local_addr() {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "SSH listener lost");
                return;
            }
        };
        let mut config = SshConfig::new(listen, key);
        config.settings = self.settings;
        config.proxy_protocol_from = self.proxy_protocol_from;
        config.database_tls = self.target_tls;
        let gateway = SshGateway::from_listener(config, self.listener, self.gate, self.audit);
        *self
            .shared
            .terminals
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(gateway.terminals());
        *self
            .shared
            .ssh_gateway
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(gateway.handle());
        self.shared.ssh_serving.store(true, Ordering::SeqCst);
        tracing::info!(%listen, "SSH gateway serving");
        let shutdown = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = gateway.serve(shutdown).await {
            tracing::error!(error = %e, "SSH gateway failed");
        }
        self.shared.ssh_serving.store(false, Ordering::SeqCst);
    }
}
