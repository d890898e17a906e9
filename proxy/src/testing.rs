//! Fakes for tests (feature `test-util`): an in-memory [`SessionGate`] with users, O&M tokens
//! and targets, and an [`AuditSink`] that keeps everything, both observable by the test.

pub mod mariadb;
pub mod openssh;
pub mod postgres;

/// A test certificate authority and a server certificate it signed for `127.0.0.1` and
/// `localhost`, all PEM.
pub struct TestCerts {
    pub ca: String,
    pub cert: String,
    pub key: String,
}

impl TestCerts {
    /// Made by the `openssl` command (a P-256 CA of a name of its own, and a server
    /// certificate it signed).
    pub fn new() -> TestCerts {
        let dir = tempfile::tempdir().expect("tempdir");
        let run = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("run openssl");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        // Each CA its own name: a CA of the same name would be taken for the issuer.
        let unique = dir.path().file_name().expect("a name").to_string_lossy();
        let ca_name = format!("/CN=Portunus test CA {}", unique.trim_start_matches('.'));
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        run(&[
            &["req", "-x509"],
            &ec[..],
            &["-keyout", "ca.key", "-out", "ca.pem", "-subj", &ca_name],
        ]
        .concat());
        run(&[
            &["req"][..],
            &ec[..],
            &[
                "-keyout",
                "key.pem",
                "-out",
                "req.csr",
                "-subj",
                "/CN=database",
            ],
        ]
        .concat());
        std::fs::write(
            dir.path().join("ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .expect("write the extensions");
        run(&[
            "x509",
            "-req",
            "-in",
            "req.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext",
            "-out",
            "cert.pem",
        ]);
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).expect("a PEM file");
        TestCerts {
            ca: read("ca.pem"),
            cert: read("cert.pem"),
            key: read("key.pem"),
        }
    }
}

impl Default for TestCerts {
    fn default() -> Self {
        Self::new()
    }
}

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use crate::gate::{
    Admission, AuditEvent, AuditSink, AuthAttempt, BoxFuture, Permit, Principal, Purpose, Refusal,
    RefusalKind, SessionGate, SessionOutcome, Target, TargetSpec,
};

/// Waits until `cond` holds, polling; panics after `timeout`.
pub async fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An in-memory gate.
#[derive(Default)]
pub struct FakeGate {
    /// user -> password.
    pub passwords: Mutex<HashMap<String, String>>,
    /// user -> authorized public key (OpenSSH form, comment ignored).
    pub public_keys: Mutex<HashMap<String, String>>,
    /// token -> the permit it opens, or why it is refused.
    pub tokens: Mutex<HashMap<String, Result<Permit, Refusal>>>,
    /// Targets, with one permit template per (asset, account) name.
    pub targets: Mutex<Vec<(Target, Vec<Permit>)>>,
    /// Sessions opened (ids) and closed (with outcome).
    pub opened: Mutex<Vec<u64>>,
    pub closed: Arc<Mutex<Vec<(u64, SessionOutcome)>>>,
    /// Host keys trusted on first use.
    pub trusted: Mutex<Vec<String>>,
    /// Every password (or token) the gate was asked to check, in order.
    pub password_attempts: Mutex<Vec<String>>,
    terminations: Mutex<HashMap<u64, Arc<Notify>>>,
    next_id: AtomicU64,
}

impl FakeGate {
    pub fn new() -> Arc<Self> {
        let gate = Self::default();
        gate.next_id.store(100, Ordering::SeqCst);
        Arc::new(gate)
    }

    /// A fresh session id, counted as opened.
    pub fn new_session(&self) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        lock(&self.opened).push(id);
        id
    }

    /// Admits `permit`'s session as the node's gate would: its close is recorded here.
    pub fn admit(&self, permit: Permit) -> Admission {
        let (closed, id) = (Arc::clone(&self.closed), permit.session_id);
        Admission::new(
            permit,
            Box::new(move |outcome| Box::pin(async move { lock(&closed).push((id, outcome)) })),
        )
    }

    pub fn add_user(&self, user: &str, password: &str) {
        lock(&self.passwords).insert(user.into(), password.into());
    }

    pub fn add_token(&self, token: &str, permit: Result<Permit, Refusal>) {
        lock(&self.tokens).insert(token.into(), permit);
    }

    pub fn add_target(&self, target: Target, permits: Vec<Permit>) {
        lock(&self.targets).push((target, permits));
    }

    /// Closes recorded for `session_id`.
    pub fn closes_of(&self, session_id: u64) -> Vec<SessionOutcome> {
        lock(&self.closed)
            .iter()
            .filter(|(id, _)| *id == session_id)
            .map(|(_, o)| o.clone())
            .collect()
    }

    pub fn closed_count(&self) -> usize {
        lock(&self.closed).len()
    }

    pub fn opened_ids(&self) -> Vec<u64> {
        lock(&self.opened).clone()
    }

    /// Terminates a session as an administrator would.
    pub fn terminate(&self, session_id: u64) {
        let notify = Arc::clone(lock(&self.terminations).entry(session_id).or_default());
        notify.notify_one();
    }

    fn principal(user: &str, token: Option<Admission>) -> Principal {
        Principal {
            second_factor_pending: false,
            user_id: 1,
            user_name: user.into(),
            token,
            server_proof: None,
        }
    }

    fn refuse(kind: RefusalKind, message: &str) -> Refusal {
        Refusal {
            kind,
            message: message.into(),
        }
    }

    fn find(&self, spec: &TargetSpec) -> Option<Permit> {
        let targets = lock(&self.targets);
        targets
            .iter()
            .flat_map(|(_, permits)| permits.iter())
            .find_map(|p| {
                let hit = match spec {
                    TargetSpec::Named { asset, account } => {
                        p.asset_name == *asset && p.account_name == *account
                    }
                    TargetSpec::Ids {
                        asset_id,
                        account_id,
                    } => {
                        p.asset_id == *asset_id
                            && targets.iter().any(|(t, _)| {
                                t.asset_id == *asset_id
                                    && t.accounts
                                        .iter()
                                        .any(|(id, n)| id == account_id && *n == p.account_name)
                            })
                    }
                    TargetSpec::Address { host, port } => p.address == *host && p.port == *port,
                };
                hit.then(|| p.clone())
            })
    }
}

impl SessionGate for FakeGate {
    fn authenticate(&self, attempt: AuthAttempt) -> BoxFuture<'_, Result<Principal, Refusal>> {
        Box::pin(async move {
            match attempt {
                AuthAttempt::Password { user, password, .. } => {
                    lock(&self.password_attempts).push(password.0.clone());
                    if let Some(token) = lock(&self.tokens).get(&password.0).cloned() {
                        let mut permit = token?;
                        permit.session_id = self.new_session();
                        return Ok(Self::principal(&user, Some(self.admit(permit))));
                    }
                    match lock(&self.passwords).get(&user) {
                        Some(p) if *p == password.0 => Ok(Self::principal(&user, None)),
                        _ => Err(Self::refuse(
                            RefusalKind::BadCredentials,
                            "wrong user name or password",
                        )),
                    }
                }
                AuthAttempt::MySqlNative {
                    user,
                    scramble,
                    answer,
                    ..
                } => {
                    let matched = lock(&self.tokens).iter().find_map(|(token, permit)| {
                        let ours =
                            portunus_db::mysql::auth::native_password(token.as_bytes(), &scramble);
                        (ours == answer).then(|| permit.clone())
                    });
                    match matched {
                        Some(permit) => {
                            let mut permit = permit?;
                            permit.session_id = self.new_session();
                            Ok(Self::principal(&user, Some(self.admit(permit))))
                        }
                        None => Err(Self::refuse(
                            RefusalKind::BadCredentials,
                            "wrong user name or token",
                        )),
                    }
                }
                AuthAttempt::PgScram { user, proof, .. } => {
                    let matched = lock(&self.tokens).iter().find_map(|(token, permit)| {
                        let v = crate::db::token_verifier(&user, token);
                        proof
                            .matches(&v)
                            .then(|| (permit.clone(), proof.server_final(&v)))
                    });
                    match matched {
                        Some((permit, server_final)) => {
                            let mut permit = permit?;
                            permit.session_id = self.new_session();
                            let mut p = Self::principal(&user, Some(self.admit(permit)));
                            p.server_proof = Some(server_final);
                            Ok(p)
                        }
                        None => Err(Self::refuse(
                            RefusalKind::BadCredentials,
                            "wrong user name or token",
                        )),
                    }
                }
                AuthAttempt::PublicKey {
                    user, public_key, ..
                } => {
                    let known = lock(&self.public_keys)
                        .get(&user)
                        .cloned()
                        .unwrap_or_default();
                    let body = |k: &str| k.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
                    if !known.is_empty() && body(&known) == body(&public_key) {
                        Ok(Self::principal(&user, None))
                    } else {
                        Err(Self::refuse(RefusalKind::BadCredentials, "unknown key"))
                    }
                }
            }
        })
    }

    fn targets<'a>(
        &'a self,
        _principal: &'a Principal,
    ) -> BoxFuture<'a, Result<Vec<Target>, Refusal>> {
        Box::pin(async move { Ok(lock(&self.targets).iter().map(|(t, _)| t.clone()).collect()) })
    }

    fn open<'a>(
        &'a self,
        _principal: &'a Principal,
        target: TargetSpec,
        _purpose: Purpose,
        _client: SocketAddr,
    ) -> BoxFuture<'a, Result<Admission, Refusal>> {
        Box::pin(async move {
            let mut permit = self.find(&target).ok_or_else(|| {
                Self::refuse(
                    RefusalKind::NotAuthorized,
                    "you are not authorized for this target",
                )
            })?;
            permit.session_id = self.new_session();
            Ok(self.admit(permit))
        })
    }

    fn trust_host_key<'a>(
        &'a self,
        _permit: &'a Permit,
        fingerprint: &'a str,
    ) -> BoxFuture<'a, Result<(), Refusal>> {
        Box::pin(async move {
            lock(&self.trusted).push(fingerprint.to_owned());
            Ok(())
        })
    }

    fn terminated(&self, session_id: u64) -> BoxFuture<'static, String> {
        let notify = Arc::clone(lock(&self.terminations).entry(session_id).or_default());
        Box::pin(async move {
            notify.notified().await;
            crate::gate::TERMINATED_BY_ADMIN.to_string()
        })
    }
}

/// A part of a recording, as the audit sink received it.
#[derive(Clone, Debug)]
pub struct RecordingPart {
    pub session_id: u64,
    pub index: u32,
    pub bytes: Vec<u8>,
    pub last: bool,
}

/// An audit sink that keeps everything.
#[derive(Default)]
pub struct MemoryAudit {
    pub events: Mutex<Vec<AuditEvent>>,
    /// Recording parts, in the order received.
    pub parts: Mutex<Vec<RecordingPart>>,
    /// The sessions being recorded, for live viewers.
    pub live: Arc<crate::live::LiveSessions>,
}

impl MemoryAudit {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    pub fn events(&self) -> Vec<AuditEvent> {
        lock(&self.events).clone()
    }

    /// The finished recordings (their last part received), each its parts put together, in
    /// the order they finished.
    pub fn recordings(&self) -> Vec<(u64, Vec<u8>)> {
        let parts = lock(&self.parts);
        parts
            .iter()
            .filter(|p| p.last)
            .map(|end| {
                let whole = parts
                    .iter()
                    .filter(|p| p.session_id == end.session_id)
                    .flat_map(|p| p.bytes.iter().copied())
                    .collect();
                (end.session_id, whole)
            })
            .collect()
    }

    /// The parts received of a session's recording, in the order received.
    pub fn parts_of(&self, session_id: u64) -> Vec<RecordingPart> {
        lock(&self.parts)
            .iter()
            .filter(|p| p.session_id == session_id)
            .cloned()
            .collect()
    }
}

impl AuditSink for MemoryAudit {
    fn event(&self, event: AuditEvent) {
        lock(&self.events).push(event);
    }

    fn recording_part(
        &self,
        session_id: u64,
        index: u32,
        part: Vec<u8>,
        last: bool,
    ) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            lock(&self.parts).push(RecordingPart {
                session_id,
                index,
                bytes: part,
                last,
            })
        })
    }

    fn live(&self) -> &Arc<crate::live::LiveSessions> {
        &self.live
    }
}
