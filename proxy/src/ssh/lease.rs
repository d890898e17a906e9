//! A session lease: the data path's hold on one admitted session. It counts bytes, watches for
//! the session's end (termination, withdrawn access, idle timeout) and gives the session back
//! through its [`Admission`] exactly once, when the last holder drops it — after a clean end,
//! an error, a disconnect or a panic.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use tokio_util::sync::CancellationToken;

use crate::gate::{Admission, EndKind, Permit, SessionGate, SessionOutcome};

/// One gate session held by the data path. Share it as `Arc<Lease<G>>`.
pub struct Lease<G: SessionGate> {
    /// Taken only when the lease is dropped.
    admission: Option<Admission>,
    permit: Permit,
    _gate: std::marker::PhantomData<fn() -> G>,
    counts: Arc<Counts>,
    terminated: CancellationToken,
    /// Why the session was ended, set just before `terminated` is cancelled.
    reason: Arc<OnceLock<String>>,
    dropped: CancellationToken,
}

/// The reason in `cell`, or the administrator's words when none was given.
pub fn termination_words(cell: &OnceLock<String>) -> String {
    cell.get()
        .cloned()
        .unwrap_or_else(|| crate::gate::TERMINATED_BY_ADMIN.to_string())
}

const END_NORMAL: u8 = 0;
const END_TERMINATED: u8 = 1;
const END_ERROR: u8 = 2;
const END_IDLE: u8 = 3;

/// Bytes each way and how the session ended, shared with the lease's watcher.
#[derive(Debug, Default)]
struct Counts {
    up: AtomicU64,
    down: AtomicU64,
    end: AtomicU8,
}

impl Counts {
    fn moved(&self) -> u64 {
        self.up
            .load(Ordering::Relaxed)
            .wrapping_add(self.down.load(Ordering::Relaxed))
    }
}

/// Resolves once `counts` has not moved for `limit` (never with no limit).
async fn idle_for(counts: &Counts, limit: Option<std::time::Duration>) {
    let Some(limit) = limit else {
        return std::future::pending().await;
    };
    let step = (limit / 4).clamp(
        std::time::Duration::from_millis(100),
        std::time::Duration::from_secs(5),
    );
    let (mut seen, mut since) = (counts.moved(), tokio::time::Instant::now());
    loop {
        tokio::time::sleep(step).await;
        let now = counts.moved();
        if now != seen {
            (seen, since) = (now, tokio::time::Instant::now());
        } else if since.elapsed() >= limit {
            return;
        }
    }
}

impl<G: SessionGate> Lease<G> {
    /// Takes over an admitted session and starts watching for its end.
    pub fn new(admission: Admission, gate: Arc<G>) -> Arc<Self> {
        let permit = admission.permit().clone();
        let watch = gate.terminated(permit.session_id);
        let idle = gate.idle_timeout();
        let lease = Arc::new(Self {
            admission: Some(admission),
            permit,
            _gate: std::marker::PhantomData,
            counts: Arc::default(),
            terminated: CancellationToken::new(),
            reason: Arc::default(),
            dropped: CancellationToken::new(),
        });
        let (terminated, dropped) = (lease.terminated.clone(), lease.dropped.clone());
        let reason = Arc::clone(&lease.reason);
        let counts = Arc::clone(&lease.counts);
        tokio::spawn(async move {
            tokio::select! {
                why = watch => {
                    let _ = reason.set(why);
                    terminated.cancel();
                }
                () = idle_for(&counts, idle) => {
                    let minutes = idle.map(|d| d.as_secs().div_ceil(60)).unwrap_or(0);
                    let _ = reason.set(format!(
                        "session ended: idle for {minutes} minute(s) (the bastion's idle timeout)"
                    ));
                    counts.end.store(END_IDLE, Ordering::Relaxed);
                    terminated.cancel();
                }
                () = dropped.cancelled() => {}
            }
        });
        lease
    }

    /// The permit this lease holds.
    pub fn permit(&self) -> &Permit {
        &self.permit
    }

    pub fn session_id(&self) -> u64 {
        self.permit.session_id
    }

    /// Counts bytes sent client -> target.
    pub fn add_up(&self, n: usize) {
        self.counts.up.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Counts bytes sent target -> client.
    pub fn add_down(&self, n: usize) {
        self.counts.down.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Marks the session as ended by an error (unless it was terminated).
    pub fn mark_error(&self) {
        let _ = self.counts.end.compare_exchange(
            END_NORMAL,
            END_ERROR,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// Resolves when an administrator terminates the session.
    pub fn terminated(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.terminated.cancelled()
    }

    /// Why the session was ended (once [`Self::terminated`] resolved).
    pub fn termination_reason(&self) -> String {
        termination_words(&self.reason)
    }

    /// The cell holding the termination reason, for tasks that cannot borrow the lease.
    pub fn reason_cell(&self) -> Arc<OnceLock<String>> {
        Arc::clone(&self.reason)
    }

    /// A token cancelled on termination, for tasks that cannot borrow the lease.
    pub fn termination_token(&self) -> CancellationToken {
        self.terminated.clone()
    }

    fn outcome(&self) -> SessionOutcome {
        let c = &self.counts;
        let end = match c.end.load(Ordering::Relaxed) {
            END_IDLE => EndKind::Idle,
            _ if self.terminated.is_cancelled() => EndKind::Terminated,
            END_TERMINATED => EndKind::Terminated,
            END_ERROR => EndKind::Error,
            _ => EndKind::Normal,
        };
        SessionOutcome {
            bytes_up: c.up.load(Ordering::Relaxed),
            bytes_down: c.down.load(Ordering::Relaxed),
            spliced: 0,
            end,
        }
    }
}

impl<G: SessionGate> Drop for Lease<G> {
    fn drop(&mut self) {
        self.dropped.cancel();
        let outcome = self.outcome();
        tracing::debug!(
            session_id = self.permit.session_id,
            ?outcome,
            "ssh: session given back"
        );
        if let Some(admission) = self.admission.take() {
            admission.close(outcome);
        }
    }
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::gate::TargetProtocol;
    use crate::testing::{wait_until, FakeGate};

    fn permit(session_id: u64) -> Permit {
        Permit {
            session_id,
            user_name: "alice".into(),
            asset_id: 1,
            asset_name: "a".into(),
            account_id: Some(1),
            kind: crate::gate::AssetKind::Database,
            address: "127.0.0.1".into(),
            port: 1,
            protocol: TargetProtocol::Other,
            account_name: "root".into(),
            credential: crate::gate::TargetCredential::None,
            sftp_only: false,
            host_key_fingerprint: None,
            sql_rules: Vec::new(),
            sql_allow_unreadable: false,
            default_database: None,
            database_tls: Default::default(),
            controls: Default::default(),
            route: Default::default(),
        }
    }

    #[tokio::test]
    async fn closes_once_when_the_last_holder_panics() {
        let gate = FakeGate::new();
        let lease = Lease::new(gate.admit(permit(7)), Arc::clone(&gate));
        lease.add_up(5);
        let held = Arc::clone(&lease);
        let task = tokio::spawn(async move {
            held.add_down(3);
            panic!("task failure");
        });
        assert!(task.await.is_err());
        assert!(gate.closes_of(7).is_empty(), "still held");
        lease.mark_error();
        drop(lease);
        wait_until(Duration::from_secs(5), "close", || gate.closed_count() == 1).await;
        let outcome = &gate.closes_of(7)[0];
        assert_eq!(
            (outcome.bytes_up, outcome.bytes_down, outcome.end),
            (5, 3, EndKind::Error)
        );
    }

    #[tokio::test]
    async fn termination_is_observed_and_reported() {
        let gate = FakeGate::new();
        let lease = Lease::new(gate.admit(permit(9)), Arc::clone(&gate));
        gate.terminate(9);
        tokio::time::timeout(Duration::from_secs(5), lease.terminated())
            .await
            .expect("terminated");
        drop(lease);
        wait_until(Duration::from_secs(5), "close", || gate.closed_count() == 1).await;
        assert_eq!(gate.closes_of(9)[0].end, EndKind::Terminated);
    }

    #[tokio::test]
    async fn an_admission_dropped_unused_gives_its_session_back_once() {
        let gate = FakeGate::new();
        let admission = gate.admit(permit(11));
        drop(admission);
        wait_until(Duration::from_secs(5), "close", || gate.closed_count() == 1).await;
        assert_eq!(gate.closes_of(11)[0].end, EndKind::Error);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(gate.closed_count(), 1, "given back once");
    }
}
