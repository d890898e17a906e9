//! One API call's writes in as few log entries as possible.
//!
//! A signed call used to cost three commits in a row: its nonce (`RecordNonce`), its change,
//! then its admin audit entry (`RecordAdminAudit`). [`Folding`] stands in for the backend
//! while the handler runs and sends the call's first proposal as one `Command::ApiCall`
//! carrying the nonce, the change and the audit entry (answered "OK"), which the state machine
//! applies in that order. So a call that changes one thing costs one commit.
//!
//! What stays exact:
//! - Replay: the nonce is recorded with the first change, in the same entry, and a refused
//!   nonce refuses the entry whole. Until the nonce's fate is known no other proposal of the
//!   call is sent, and after a refusal none is. Before any other effect outside the replicated
//!   state (checking a directory, a host, a proxy; storing an export) the nonce is recorded on
//!   its own. A call that proposes nothing records its nonce when it ends, and its answer is
//!   not given if the nonce is refused.
//! - The audit trail: the folded entry is appended only if the change applied. When the change
//!   is refused, or the call makes no proposal, the entry is recorded at the end with the
//!   call's answer (without a proposal, together with the nonce). A call whose first change
//!   applied and which then answered an error (a later step refused) leaves a second entry
//!   with that answer.

use super::auth::{self, SeenNonce};
use super::error::ApiError;
use super::nonce::NonceCache;
use super::trail;
use crate::backend::{BoxFuture, HostAccountCheck, NodeStore, ProxyCheck, StoredEvents};
use crate::{Backend, BackendError};
use portunus_model::{
    AdminAuditRecord, Command, DirectorySettings, NonceRecord, Response, Sealed, State,
};
use std::sync::Arc;
use tokio::sync::Mutex;

/// The backend a handler sees during one call.
pub struct Folding {
    inner: Arc<dyn Backend>,
    fold: Mutex<Fold>,
}

struct Fold {
    /// The call's nonce, until it is sent.
    nonce: Option<NonceRecord>,
    /// The call's audit entry (for calls that change state); its result is set when sent.
    audit: Option<AdminAuditRecord>,
    /// Proposals sent for the call so far.
    proposals: u32,
    /// The audit entry is in the trail, folded with a change that applied.
    audited: bool,
    /// Why no further proposal may be sent: the nonce was refused, or the entry carrying it
    /// had no answer (it may or may not have been applied).
    stopped: Option<BackendError>,
}

/// How a call's writes ended, when that overrides the handler's answer.
pub enum Stopped {
    /// The nonce was refused (a replay, a key deleted meanwhile, a full nonce table).
    Refused(ApiError),
    /// The entry carrying the nonce had no answer.
    Failed(BackendError),
}

impl Folding {
    pub fn new(
        inner: Arc<dyn Backend>,
        nonce: Option<NonceRecord>,
        audit: Option<AdminAuditRecord>,
    ) -> Arc<Self> {
        Arc::new(Folding {
            inner,
            fold: Mutex::new(Fold {
                nonce,
                audit,
                proposals: 0,
                audited: false,
                stopped: None,
            }),
        })
    }

    /// Sends `command` as an `ApiCall` with whatever of the nonce and audit entry `fold` still
    /// holds, keeping `fold` locked meanwhile so no other proposal of the call overtakes it.
    async fn send_folded(
        &self,
        fold: &mut Fold,
        change: Option<Command>,
    ) -> Result<Response, BackendError> {
        let with_change = change.is_some();
        let audit = match (&fold.audit, with_change) {
            (Some(a), true) => Some(AdminAuditRecord {
                result: "OK".into(),
                ..a.clone()
            }),
            _ => None,
        };
        let command = Command::ApiCall {
            nonce: fold.nonce.take(),
            audit,
            change: change.map(Box::new),
        };
        match self.inner.propose(command).await {
            Ok(Response::ApiCalled { change, audit_seq }) => {
                fold.audited |= audit_seq.is_some();
                match *change {
                    Response::Rejected(r) => Err(BackendError::Rejected(r)),
                    answer => Ok(answer),
                }
            }
            Ok(Response::Rejected(r)) | Err(BackendError::Rejected(r)) => {
                fold.stopped = Some(BackendError::Rejected(r.clone()));
                Err(BackendError::Rejected(r))
            }
            Ok(other) => {
                let e = BackendError::Internal(format!("an API call was answered with {other:?}"));
                fold.stopped = Some(e.clone());
                Err(e)
            }
            Err(e) => {
                fold.stopped = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Records the nonce on its own if it is still unsent: called before an effect outside
    /// the replicated state.
    async fn settle_nonce(&self) -> Result<(), BackendError> {
        let mut fold = self.fold.lock().await;
        if let Some(e) = &fold.stopped {
            return Err(e.clone());
        }
        if fold.nonce.is_some() {
            self.send_folded(&mut fold, None).await?;
        }
        Ok(())
    }

    /// Ends the call whose handler answered `result`: records what is left (the nonce, the
    /// audit entry) and says when the answer must be replaced.
    pub async fn finish(
        &self,
        result: &Result<serde_json::Map<String, serde_json::Value>, ApiError>,
    ) -> Result<(), Stopped> {
        let mut fold = self.fold.lock().await;
        let code = match result {
            Ok(_) => "OK",
            Err(e) => e.code(),
        };
        let stopped = |e: BackendError| match e {
            BackendError::Rejected(r) => Stopped::Refused(auth::nonce_refused(r)),
            other => Stopped::Failed(other),
        };
        if let Some(e) = fold.stopped.clone() {
            // Only the nonce's entry stops a call, so nothing of the call was applied.
            return Err(stopped(e));
        }
        let audit = fold.audit.take().map(|a| AdminAuditRecord {
            result: code.to_string(),
            ..a
        });
        if fold.nonce.is_some() {
            // No proposal was sent: the nonce and the entry together.
            let command = Command::ApiCall {
                nonce: fold.nonce.take(),
                audit,
                change: None,
            };
            return match self.inner.propose(command).await {
                Ok(Response::ApiCalled { .. }) => Ok(()),
                Ok(Response::Rejected(r)) | Err(BackendError::Rejected(r)) => {
                    Err(Stopped::Refused(auth::nonce_refused(r)))
                }
                Ok(other) => Err(Stopped::Failed(BackendError::Internal(format!(
                    "an API call was answered with {other:?}"
                )))),
                Err(e) => Err(Stopped::Failed(e)),
            };
        }
        if let Some(record) = audit {
            if !fold.audited || code != "OK" {
                trail::append(self.inner.as_ref(), record).await;
            }
        }
        Ok(())
    }
}

/// Forgets this node's copy of a nonce whose entry had no answer, so that the identical
/// request may be retried (the replicated record still refuses it if the entry did commit).
pub fn forget_unanswered(nonces: &NonceCache, seen: &SeenNonce, stopped: &Stopped) {
    if let Stopped::Failed(BackendError::Unavailable(_)) = stopped {
        auth::forget(nonces, seen);
    }
}

impl From<Stopped> for ApiError {
    fn from(s: Stopped) -> Self {
        match s {
            Stopped::Refused(e) => e,
            Stopped::Failed(e) => e.into(),
        }
    }
}

impl Backend for Folding {
    fn propose(&self, command: Command) -> BoxFuture<'_, Result<Response, BackendError>> {
        Box::pin(async move {
            let mut fold = self.fold.lock().await;
            if let Some(e) = &fold.stopped {
                return Err(e.clone());
            }
            fold.proposals += 1;
            let first = fold.proposals == 1;
            if fold.nonce.is_some() || (first && fold.audit.is_some()) {
                return self.send_folded(&mut fold, Some(command)).await;
            }
            drop(fold);
            self.inner.propose(command).await
        })
    }

    fn barrier(&self) -> BoxFuture<'_, Result<(), BackendError>> {
        self.inner.barrier()
    }

    fn read(&self, f: &mut dyn FnMut(&State)) {
        self.inner.read(f)
    }

    fn seal(&self, purpose: &str, plain: &[u8]) -> Result<Sealed, BackendError> {
        self.inner.seal(purpose, plain)
    }

    fn unseal(&self, purpose: &str, sealed: &Sealed) -> Result<Vec<u8>, BackendError> {
        self.inner.unseal(purpose, sealed)
    }

    fn reseal(&self, purpose: &str, sealed: &Sealed) -> Result<Option<Sealed>, BackendError> {
        self.inner.reseal(purpose, sealed)
    }

    fn seal_key_id(&self) -> Option<String> {
        self.inner.seal_key_id()
    }

    fn hash_password(&self, password: &str) -> String {
        self.inner.hash_password(password)
    }

    fn session_events(&self, session_id: u64) -> BoxFuture<'_, Option<StoredEvents>> {
        self.inner.session_events(session_id)
    }

    fn instance_id(&self) -> String {
        self.inner.instance_id()
    }

    fn store_usage(&self) -> BoxFuture<'_, Result<Vec<NodeStore>, BackendError>> {
        self.inner.store_usage()
    }

    fn put_export(&self, name: &str, document: Vec<u8>) -> BoxFuture<'_, Result<(), BackendError>> {
        let name = name.to_string();
        Box::pin(async move {
            self.settle_nonce().await?;
            self.inner.put_export(&name, document).await
        })
    }

    fn get_export(&self, name: &str) -> BoxFuture<'_, Option<Vec<u8>>> {
        self.inner.get_export(name)
    }

    fn verify_directory(
        &self,
        ad: bool,
        settings: DirectorySettings,
        service_password: Option<String>,
    ) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move {
            if let Err(e) = self.settle_nonce().await {
                return Err(ApiError::from(e).to_string());
            }
            self.inner
                .verify_directory(ad, settings, service_password)
                .await
        })
    }

    fn read_directory(
        &self,
        ad: bool,
        settings: DirectorySettings,
        service_password: Option<String>,
    ) -> BoxFuture<'_, Result<Vec<portunus_model::DirectoryEntry>, String>> {
        Box::pin(async move {
            if let Err(e) = self.settle_nonce().await {
                return Err(ApiError::from(e).to_string());
            }
            self.inner
                .read_directory(ad, settings, service_password)
                .await
        })
    }

    fn check_network_proxies(
        &self,
        domain_id: u64,
    ) -> BoxFuture<'_, Result<Vec<ProxyCheck>, BackendError>> {
        Box::pin(async move {
            self.settle_nonce().await?;
            self.inner.check_network_proxies(domain_id).await
        })
    }

    fn verify_host_account(
        &self,
        account_id: u64,
    ) -> BoxFuture<'_, Result<HostAccountCheck, BackendError>> {
        Box::pin(async move {
            self.settle_nonce().await?;
            self.inner.verify_host_account(account_id).await
        })
    }
}
