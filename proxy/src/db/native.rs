//! The native MySQL port: MySQL clients connect to the bastion directly (no SSH), log in with
//! their user name and an O&M token as password, and reach the database the token is for. The
//! token is checked through the gate from the client's `mysql_native_password` answer (the
//! client never sends it in clear); the session is admitted, recorded and closed like a tunnel
//! session.

use super::{login_of, Counted, Statements};
use crate::gate::{AuditSink, AuthAttempt, EndKind, SessionGate, SessionOutcome, TargetProtocol};
use portunus_db::mysql::session::native;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Serves the native MySQL port until `stop` is cancelled.
pub async fn serve_mysql<G: SessionGate, A: AuditSink>(
    listener: TcpListener,
    gate: Arc<G>,
    audit: Arc<A>,
    connect_timeout: Duration,
    stop: CancellationToken,
) {
    let ids = Arc::new(AtomicU32::new(1));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = stop.cancelled() => return,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "mysql: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (gate, audit, stop) = (gate.clone(), audit.clone(), stop.clone());
        let id = ids.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            tokio::select! {
                () = connection(stream, peer, id, gate, audit, connect_timeout) => {}
                () = stop.cancelled() => {}
            }
        });
    }
}

async fn connection<G: SessionGate, A: AuditSink>(
    stream: TcpStream,
    peer: SocketAddr,
    connection_id: u32,
    gate: Arc<G>,
    audit: Arc<A>,
    connect_timeout: Duration,
) {
    let greeted = match native::greet(stream, connection_id).await {
        Ok(g) => g,
        Err(e) => {
            tracing::info!(%peer, error = %e, "mysql: login not completed");
            return;
        }
    };
    let attempt = AuthAttempt::MySqlNative {
        user: greeted.user.clone(),
        scramble: greeted.scramble.clone(),
        answer: greeted.answer.clone(),
        client: peer,
    };
    let mut principal = match gate.authenticate(attempt).await {
        Ok(p) => p,
        Err(refusal) => {
            tracing::info!(%peer, user = %greeted.user, kind = ?refusal.kind, "mysql: login refused");
            let words = format!(
                "Access denied for user '{}': {}",
                greeted.user, refusal.message
            );
            greeted.refuse(&words).await;
            return;
        }
    };
    let Some(admission) = principal.token.take() else {
        greeted
            .refuse("log in with an O&M token as the password")
            .await;
        return;
    };
    let permit = admission.permit().clone();
    if permit.protocol != TargetProtocol::MySql {
        greeted
            .refuse(&format!(
                "this O&M token is for {}, not a MySQL database",
                permit.asset_name
            ))
            .await;
        return;
    }
    let target = match tokio::time::timeout(
        connect_timeout,
        TcpStream::connect((permit.address.as_str(), permit.port)),
    )
    .await
    {
        Ok(Ok(t)) => t,
        _ => {
            greeted
                .refuse(&format!(
                    "the database {} is unreachable from the bastion",
                    permit.asset_name
                ))
                .await;
            admission.close(SessionOutcome {
                bytes_up: 0,
                bytes_down: 0,
                end: EndKind::Error,
            });
            return;
        }
    };
    let _ = target.set_nodelay(true);
    let session_id = permit.session_id;
    let (up, down) = (AtomicU64::new(0), AtomicU64::new(0));
    let login = login_of(&permit, permit.default_database.clone());
    let sink = Statements {
        audit,
        session_id,
        account: permit.account_name.clone(),
    };
    let ended = {
        let client = Counted {
            inner: target,
            on_read: |n: usize| {
                down.fetch_add(n as u64, Ordering::Relaxed);
            },
            on_write: |n: usize| {
                up.fetch_add(n as u64, Ordering::Relaxed);
            },
        };
        tokio::select! {
            r = greeted.serve(client, &login, &sink) => match r {
                Ok(()) => EndKind::Normal,
                Err(e) => {
                    tracing::info!(session_id, error = %e, "mysql: session ended");
                    EndKind::Error
                }
            },
            words = gate.terminated(session_id) => {
                tracing::info!(session_id, reason = %words, "mysql: session terminated");
                EndKind::Terminated
            }
        }
    };
    admission.close(SessionOutcome {
        bytes_up: up.load(Ordering::Relaxed),
        bytes_down: down.load(Ordering::Relaxed),
        end: ended,
    });
}
