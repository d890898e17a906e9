//! The node's implementation of the API's `Backend` port: the replicated state through this
//! node's Raft member, and the cluster's sealing keys.

use crate::running::NodeShared;
use portunus_model::{Command, Response, Sealed, State};
use portunus_ops::{Backend, BackendError, BoxFuture};
use portunus_raft::{Replica, ReplicaError};
use std::sync::Arc;

pub(crate) struct NodeBackend {
    pub(crate) replica: Replica,
    pub(crate) metrics: Arc<portunus_ops::Metrics>,
    pub(crate) shared: Arc<NodeShared>,
    /// Where administrative acts this node's API served are noted for the audit export.
    pub(crate) audit: Option<Arc<crate::audit::FileAudit>>,
}

/// How long a follower waits to apply an admin audit entry itself before it asks the leader.
const NOTE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Why a node cannot check directory servers.
pub(crate) const NO_DIRECTORY_CA: &str =
    "this node has no CA bundle to check LDAP/AD servers' certificates with (--directory-ca)";

/// Notes an administrative act the trail took as entry `seq` for this node's audit export,
/// once this node has applied it (a forwarded call's leader answered before this follower
/// applied the entry). Runs beside the call, not before its answer: the export is this node's
/// copy of the replicated trail, which holds the entry already, and waiting for it cost a
/// follower a ReadIndex round trip per call. A follower waits for its own applies (it learns
/// the commit with the leader's next message); only if that takes long does it ask the leader.
fn note_admin(replica: &Replica, audit: &Option<Arc<crate::audit::FileAudit>>, seq: u64) {
    let Some(audit) = audit.clone() else {
        return;
    };
    let replica = replica.clone();
    tokio::spawn(async move {
        let line = |s: &State| {
            s.admin_audit().entry(seq).map(|e| {
                serde_json::json!({
                    "type": "admin", "seq": e.seq, "at": e.at_ms,
                    "access_key_id": e.record.access_key_id,
                    "role": format!("{:?}", e.record.role),
                    "user_id": e.record.user_id, "source": e.record.source,
                    "action": e.record.action, "params": e.record.params,
                    "result": e.record.result,
                })
            })
        };
        let view = replica.view();
        let mut applied = view.subscribe();
        let waited = tokio::time::timeout(NOTE_WAIT, async {
            loop {
                if let Some(found) = view.read(line) {
                    return Some(found);
                }
                if view.read(|s| s.admin_audit().last_seq()) >= seq {
                    return None;
                }
                if applied.changed().await.is_err() {
                    return None;
                }
            }
        })
        .await;
        let entry = match waited {
            Ok(found) => Ok(found),
            Err(_) => replica.read_linearizable(line).await,
        };
        match entry {
            Ok(Some(line)) => audit.note(line),
            Ok(None) => tracing::warn!(seq, "an admin audit entry was pruned before it was noted"),
            Err(e) => {
                tracing::warn!(seq, error = %e, "an admin audit entry was not noted for the audit export")
            }
        }
    });
}

fn backend_error(e: ReplicaError) -> BackendError {
    match e {
        ReplicaError::Rejected(r) => BackendError::Rejected(r),
        ReplicaError::NoQuorum(m) => BackendError::Unavailable(format!("no quorum: {m}")),
        ReplicaError::Timeout(ms) => {
            BackendError::Unavailable(format!("no answer from the cluster within {ms} ms"))
        }
        ReplicaError::ShuttingDown => {
            BackendError::Unavailable("this node is shutting down".into())
        }
        other => BackendError::Internal(other.to_string()),
    }
}

impl Backend for NodeBackend {
    fn propose(&self, command: Command) -> BoxFuture<'_, Result<Response, BackendError>> {
        // An API call's first change rides in an `ApiCall` with its nonce and audit entry.
        let change = match &command {
            Command::ApiCall {
                change: Some(c), ..
            } => c.as_ref(),
            c => c,
        };
        let token_op = match change {
            Command::IssueToken(_) => Some("issue"),
            Command::RenewToken { .. } => Some("renew"),
            Command::RevokeToken { .. } => Some("revoke"),
            _ => None,
        };
        let admin = matches!(command, Command::RecordAdminAudit(_));
        Box::pin(async move {
            let r = crate::metered::propose(&self.replica, &self.metrics, command).await;
            let (applied, audit_seq) = match &r {
                Ok(Response::ApiCalled { change, audit_seq }) => {
                    (!matches!(**change, Response::Rejected(_)), *audit_seq)
                }
                Ok(Response::Created { id }) if admin => (true, Some(*id)),
                Ok(_) => (true, None),
                Err(_) => (false, None),
            };
            if let Some(op) = token_op {
                crate::metered::token_op(&self.metrics, op, applied);
            }
            if let Some(seq) = audit_seq {
                note_admin(&self.replica, &self.audit, seq);
            }
            r.map_err(backend_error)
        })
    }

    fn verify_directory(
        &self,
        ad: bool,
        settings: portunus_model::DirectorySettings,
        service_password: Option<String>,
    ) -> BoxFuture<'_, Result<String, String>> {
        use crate::directory::DirectoryKind;
        Box::pin(async move {
            let Some(directory) = &self.shared.directory else {
                return Err(NO_DIRECTORY_CA.to_string());
            };
            let kind = if ad {
                DirectoryKind::Ad
            } else {
                DirectoryKind::Ldap
            };
            directory
                .verify(kind, &settings, service_password.as_deref())
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn read_directory(
        &self,
        ad: bool,
        settings: portunus_model::DirectorySettings,
        service_password: Option<String>,
    ) -> BoxFuture<'_, Result<Vec<portunus_model::DirectoryEntry>, String>> {
        use portunus_model::UserSource;
        let source = if ad { UserSource::Ad } else { UserSource::Ldap };
        Box::pin(async move {
            crate::directory_sync::read(
                &self.shared,
                source,
                &settings,
                service_password.as_deref(),
            )
            .await
        })
    }

    fn store_usage(&self) -> BoxFuture<'_, Result<Vec<portunus_ops::NodeStore>, BackendError>> {
        Box::pin(async move { Ok(crate::store_usage::all_members(&self.replica).await) })
    }

    fn barrier(&self) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            self.replica
                .read_linearizable(|_| ())
                .await
                .map_err(backend_error)
        })
    }

    fn read(&self, f: &mut dyn FnMut(&State)) {
        self.replica.view().read(|s| f(s))
    }

    fn seal(&self, purpose: &str, plain: &[u8]) -> Result<Sealed, BackendError> {
        self.shared
            .sealer
            .seal(purpose, plain)
            .map_err(|e| BackendError::Internal(e.to_string()))
    }

    fn unseal(&self, purpose: &str, sealed: &Sealed) -> Result<Vec<u8>, BackendError> {
        self.shared
            .sealer
            .open(purpose, sealed)
            .map_err(|e| BackendError::Internal(e.to_string()))
    }

    fn reseal(&self, purpose: &str, sealed: &Sealed) -> Result<Option<Sealed>, BackendError> {
        self.shared
            .sealer
            .reseal(purpose, sealed)
            .map_err(|e| BackendError::Internal(e.to_string()))
    }

    fn seal_key_id(&self) -> Option<String> {
        self.shared.sealer.current_id()
    }

    fn verify_host_account(
        &self,
        account_id: u64,
    ) -> BoxFuture<'_, Result<portunus_ops::HostAccountCheck, BackendError>> {
        Box::pin(crate::verify::host_account(
            &self.replica,
            &self.shared,
            account_id,
        ))
    }

    fn check_network_proxies(
        &self,
        domain_id: u64,
    ) -> BoxFuture<'_, Result<Vec<portunus_ops::ProxyCheck>, BackendError>> {
        Box::pin(crate::verify::network_proxies(
            &self.replica,
            &self.shared,
            domain_id,
        ))
    }

    fn hash_password(&self, password: &str) -> String {
        crate::bootstrap::hash_password(password)
    }

    fn put_export(&self, name: &str, document: Vec<u8>) -> BoxFuture<'_, Result<(), BackendError>> {
        let name = name.to_string();
        Box::pin(async move {
            self.replica
                .put_blob(&name, document)
                .await
                .map(|_| ())
                .map_err(backend_error)
        })
    }

    fn get_export(&self, name: &str) -> BoxFuture<'_, Option<Vec<u8>>> {
        let name = name.to_string();
        Box::pin(async move { self.replica.get_blob(&name).await })
    }

    fn session_events(&self, session_id: u64) -> BoxFuture<'_, Option<portunus_ops::StoredEvents>> {
        Box::pin(async move {
            let replica = &self.replica;
            let get = |name: String| async move { replica.get_blob(&name).await };
            let mut lines = Vec::new();
            // Writing to a Vec cannot fail.
            let read = crate::audit::read_events(session_id, get, &mut lines)
                .await
                .ok()?;
            if read.nothing() {
                return None;
            }
            Some(portunus_ops::StoredEvents {
                lines,
                parts: read.parts,
                expected: read.expected,
            })
        })
    }

    fn instance_id(&self) -> String {
        // Named by the first node moments after the cluster's first start (see
        // `bootstrap::register`); until then no `InstanceId` a caller gives matches.
        match self
            .replica
            .view()
            .read(|s| s.instance_id().map(str::to_string))
        {
            Some(id) => id,
            None => String::from("<instance not yet named>"),
        }
    }
}

/// A new random instance id (what the API calls `InstanceId`), in the format of the
/// Bastionhost's own: a prefix and 12 hex digits. Nothing secret goes into it.
pub(crate) fn random_instance_id() -> anyhow::Result<String> {
    let mut raw = [0u8; 6];
    aws_lc_rs::rand::fill(&mut raw).map_err(|_| anyhow::anyhow!("no system randomness"))?;
    Ok(format!("portunus-{}", hex::encode(raw)))
}
