//! DEVELOPMENT FAKE, for tests and `examples/api_fake.rs` only: an in-memory [`Backend`] that
//! applies commands to a real `portunus_model::State` stamped with the wall clock, with no
//! replication, no encryption (sealing only tags the bytes with their purpose) and no real
//! password hashing. Never use it to serve real users.

use crate::backend::{HostAccountCheck, NodeStore, ProxyCheck, StoredEvents};
use crate::{Backend, BackendError, BoxFuture};
use portunus_model::{Command, Request, Response, Role, Sealed, State, UserId};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The fake backend.
pub struct FakeBackend {
    state: Mutex<State>,
    instance_id: String,
    /// When set, every call answers "no quorum".
    pub unavailable: std::sync::atomic::AtomicBool,
    /// Read barriers fail while proposals go through (a leader lost between the two).
    pub barrier_fails: std::sync::atomic::AtomicBool,
    /// Configuration exports by name.
    exports: Mutex<std::collections::BTreeMap<String, Vec<u8>>>,
    /// Commands proposed so far (each would be one log entry of a real cluster).
    pub proposals: std::sync::atomic::AtomicU64,
}

impl FakeBackend {
    /// An empty state.
    pub fn new(instance_id: &str) -> Self {
        FakeBackend {
            state: Mutex::new(State::default()),
            instance_id: instance_id.to_string(),
            unavailable: Default::default(),
            barrier_fails: Default::default(),
            exports: Default::default(),
            proposals: Default::default(),
        }
    }

    fn now_ms() -> u64 {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
    }

    fn apply(&self, command: Command) -> Response {
        let req = Request {
            now_ms: Self::now_ms(),
            command,
            id: None,
        };
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.apply(&req)
    }

    /// Creates an enabled AccessKey with this secret (sealed the fake way).
    pub fn add_access_key(&self, id: &str, secret: &str, role: Role, user_id: Option<UserId>) {
        let secret = Sealed(tag(crate::api::ACCESS_KEY_PURPOSE, secret.as_bytes()));
        let cmd = Command::CreateAccessKey {
            access_key_id: id.to_string(),
            secret,
            role,
            user_id,
            comment: "fake".into(),
        };
        let resp = self.apply(cmd);
        assert!(resp.rejection().is_none(), "fake access key: {resp:?}");
    }

    /// Applies a command directly (test setup).
    pub fn apply_now(&self, command: Command) -> Response {
        self.apply(command)
    }

    fn check(&self) -> Result<(), BackendError> {
        if self.unavailable.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(BackendError::Unavailable("fake partition".into()));
        }
        Ok(())
    }
}

fn tag(purpose: &str, plain: &[u8]) -> Vec<u8> {
    let mut out = format!("{purpose}\0").into_bytes();
    out.extend_from_slice(plain);
    out
}

impl Backend for FakeBackend {
    fn propose(&self, command: Command) -> BoxFuture<'_, Result<Response, BackendError>> {
        Box::pin(async move {
            self.check()?;
            self.proposals
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(self.apply(command))
        })
    }

    fn barrier(&self) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            if self.barrier_fails.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(BackendError::Unavailable("fake lost leader".into()));
            }
            self.check()
        })
    }

    fn read(&self, f: &mut dyn FnMut(&State)) {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&s)
    }

    fn seal(&self, purpose: &str, plain: &[u8]) -> Result<Sealed, BackendError> {
        Ok(Sealed(tag(purpose, plain)))
    }

    fn unseal(&self, purpose: &str, sealed: &Sealed) -> Result<Vec<u8>, BackendError> {
        let prefix = tag(purpose, b"");
        sealed
            .0
            .strip_prefix(prefix.as_slice())
            .map(<[u8]>::to_vec)
            .ok_or_else(|| BackendError::Internal("sealed for another purpose".into()))
    }

    fn reseal(&self, purpose: &str, sealed: &Sealed) -> Result<Option<Sealed>, BackendError> {
        self.unseal(purpose, sealed).map(|_| None)
    }

    fn seal_key_id(&self) -> Option<String> {
        Some("fake".into())
    }

    fn hash_password(&self, password: &str) -> String {
        format!("$fake${}", password.len())
    }

    fn session_events(&self, _session_id: u64) -> BoxFuture<'_, Option<StoredEvents>> {
        // The fake stores no session blobs.
        Box::pin(async { None })
    }

    fn instance_id(&self) -> String {
        self.instance_id.clone()
    }

    fn put_export(&self, name: &str, document: Vec<u8>) -> BoxFuture<'_, Result<(), BackendError>> {
        let stored = self.check().map(|()| {
            if let Ok(mut e) = self.exports.lock() {
                e.insert(name.to_string(), document);
            }
        });
        Box::pin(async move { stored })
    }

    fn get_export(&self, name: &str) -> BoxFuture<'_, Option<Vec<u8>>> {
        let found = self.exports.lock().ok().and_then(|e| e.get(name).cloned());
        Box::pin(async move { found })
    }

    fn store_usage(&self) -> BoxFuture<'_, Result<Vec<NodeStore>, BackendError>> {
        Box::pin(async {
            Ok(vec![NodeStore {
                error: Some("this backend keeps no data directory".into()),
                ..NodeStore::default()
            }])
        })
    }

    fn verify_directory(
        &self,
        _ad: bool,
        _settings: portunus_model::DirectorySettings,
        _service_password: Option<String>,
    ) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async { Err("this backend cannot reach directories".to_string()) })
    }

    fn read_directory(
        &self,
        _ad: bool,
        _settings: portunus_model::DirectorySettings,
        _service_password: Option<String>,
    ) -> BoxFuture<'_, Result<Vec<portunus_model::DirectoryEntry>, String>> {
        Box::pin(async { Err("this backend cannot reach directories".to_string()) })
    }

    fn check_network_proxies(
        &self,
        _domain_id: u64,
    ) -> BoxFuture<'_, Result<Vec<ProxyCheck>, BackendError>> {
        Box::pin(async {
            Err(BackendError::Internal(
                "this backend cannot reach proxies".into(),
            ))
        })
    }

    fn verify_host_account(
        &self,
        _account_id: u64,
    ) -> BoxFuture<'_, Result<HostAccountCheck, BackendError>> {
        // This backend has no network: every host is out of its reach, as an unreachable host
        // is for a real one.
        Box::pin(async {
            Ok(HostAccountCheck {
                result: "Unreachable",
                message: "this backend reaches no hosts".into(),
                pinned_fingerprint: None,
                seen_fingerprint: None,
            })
        })
    }
}
