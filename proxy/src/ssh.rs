//! The SSH gateway: an SSH server (russh) in front of the targets, deciding nothing itself —
//! the [`SessionGate`] authenticates and authorizes, the [`AuditSink`] gets what was seen.
//!
//! # Logins
//!
//! - `ssh alice@bastion -p 60022` with the user's password, public key or an O&M token.
//!   With a PTY and no target, an interactive menu lists the authorized assets and accounts.
//! - `ssh alice@root@web-01@bastion -p 60022` names the target: the SSH user name is split on
//!   `@` from the left — the first part is the bastion user, the second the asset account, the
//!   rest (which may contain `@`) the asset. `alice@root` alone is refused.
//! - `ssh -N -L 3306:db.internal:3306 alice@bastion -p 60022` with an O&M token as password:
//!   tunnels (`direct-tcpip`) to the token's target; other addresses are refused with a reason.
//!
//! Password, public key and keyboard-interactive (prompting `Password:`) are offered. A refusal's
//! words (for example "token expired") reach the user as keyboard-interactive instructions,
//! which OpenSSH prints, or as a channel-open failure reason for tunnels.
//!
//! # Sessions
//!
//! Every gate session is held by a lease (`ssh::lease`) that gives it back with [`SessionGate::close`]
//! exactly once, whatever the end. Shell, exec and SFTP run through the bastion's own SSH login
//! to the target (`upstream`), relayed by `pipe`; shells are recorded as asciicast v2 and
//! their command lines audited, SFTP operations become [`crate::gate::AuditEvent::FileOp`].

mod approval;
mod config;
mod conn;
mod echo;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod guard;
mod handler;
mod lease;
mod login;
mod menu;
mod pipe;
mod ratelimit;
mod recorder;
mod session;
mod sftp;
mod taps;
pub mod terminal;
mod tunnel;
mod upstream;
pub mod verify;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use crate::preauth::PreAuthStats;
pub use config::{SshConfig, SshSettings};
pub use error::SshError;
pub use login::{Login, NamedTarget};
pub use ratelimit::{Attempt, AuthLimiter, Limited};
pub use terminal::{Terminal, TerminalInput, TerminalOutput, Terminals};

use crate::gate::{AuditSink, SessionGate};
use crate::preauth::{self, PreAuth};
use handler::ConnHandler;

/// What every connection of a gateway shares.
pub(crate) struct Shared<G: SessionGate, A: AuditSink> {
    pub config: SshConfig,
    pub server_config: Arc<russh::server::Config>,
    pub client_config: Arc<russh::client::Config>,
    pub gate: Arc<G>,
    pub audit: Arc<A>,
    pub limiter: Arc<AuthLimiter>,
    pub preauth: Arc<PreAuth>,
}

/// Live-connection bookkeeping, drain and shutdown signals.
#[derive(Debug)]
struct GatewayState {
    live: AtomicUsize,
    preauth: Arc<PreAuth>,
    idle: Notify,
    drain: CancellationToken,
    stop: CancellationToken,
}

/// Controls a running gateway from outside.
#[derive(Clone, Debug)]
pub struct GatewayHandle {
    state: Arc<GatewayState>,
}

impl GatewayHandle {
    /// Connections currently open (authenticated or not).
    pub fn live_sessions(&self) -> usize {
        self.state.live.load(Ordering::SeqCst)
    }

    /// Stops accepting new connections; live ones continue. [`SshGateway::serve`] returns when
    /// the last one ends.
    pub fn drain(&self) {
        self.state.drain.cancel();
    }

    /// Connections not logged in yet, and what the pre-login caps cut off.
    pub fn preauth(&self) -> PreAuthStats {
        self.state.preauth.stats()
    }

    pub fn is_draining(&self) -> bool {
        self.state.drain.is_cancelled()
    }

    /// Stops accepting and disconnects every live connection.
    pub fn shutdown(&self) {
        self.state.drain.cancel();
        self.state.stop.cancel();
    }

    /// Resolves once no connection is live.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.state.idle.notified();
            if self.live_sessions() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Counts a live connection while it exists.
struct LiveGuard(Arc<GatewayState>);

impl LiveGuard {
    fn new(state: &Arc<GatewayState>) -> Self {
        state.live.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(state))
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        if self.0.live.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// A bound SSH gateway; nothing is accepted until [`SshGateway::serve`] runs.
pub struct SshGateway<G: SessionGate, A: AuditSink> {
    shared: Arc<Shared<G, A>>,
    listener: TcpListener,
    state: Arc<GatewayState>,
}

impl<G: SessionGate, A: AuditSink> SshGateway<G, A> {
    /// Binds `config.listen`.
    pub async fn bind(config: SshConfig, gate: Arc<G>, audit: Arc<A>) -> io::Result<Self> {
        let listener = TcpListener::bind(config.listen).await?;
        Ok(Self::from_listener(config, listener, gate, audit))
    }

    /// Serves on an already bound listener.
    pub fn from_listener(
        config: SshConfig,
        listener: TcpListener,
        gate: Arc<G>,
        audit: Arc<A>,
    ) -> Self {
        let s = &config.settings;
        let limiter = Arc::new(AuthLimiter::new(
            s.auth_failures_per_ip,
            s.auth_failures_per_user,
            Duration::from_secs(s.auth_failure_window_secs),
        ));
        let preauth = Arc::new(PreAuth::new(
            s.max_unauthenticated,
            s.max_unauthenticated_per_ip,
        ));
        let state = Arc::new(GatewayState {
            live: AtomicUsize::new(0),
            preauth: Arc::clone(&preauth),
            idle: Notify::new(),
            drain: CancellationToken::new(),
            stop: CancellationToken::new(),
        });
        let shared = Shared {
            server_config: config.russh(),
            client_config: config.russh_client(),
            config,
            gate,
            audit,
            limiter,
            preauth,
        };
        Self {
            shared: Arc::new(shared),
            listener,
            state,
        }
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Opens terminals through this gateway's path (the web portal's terminal); they end
    /// with the gateway's shutdown.
    pub fn terminals(&self) -> Terminals<G, A> {
        Terminals::new(Arc::clone(&self.shared), self.state.stop.clone())
    }

    /// A handle to drain, shut down or count connections.
    pub fn handle(&self) -> GatewayHandle {
        GatewayHandle {
            state: Arc::clone(&self.state),
        }
    }

    /// Accepts connections until drained or `shutdown` resolves, then waits for the live
    /// connections: all of them after a drain, at most a few seconds after a shutdown (which
    /// disconnects them).
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        let handle = self.handle();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        let guard = LiveGuard::new(&self.state);
                        let span = tracing::info_span!(
                            "ssh_session",
                            client = tracing::field::Empty,
                            user = tracing::field::Empty,
                            session = tracing::field::Empty,
                        );
                        let conn = accept_conn(Arc::clone(&self.shared), Arc::clone(&self.state), tcp, peer, guard);
                        tokio::spawn(tracing::Instrument::instrument(conn, span));
                    }
                    Err(err) if is_transient(&err) => continue,
                    Err(err) => return Err(err),
                },
                () = self.state.drain.cancelled() => break,
                () = &mut shutdown => {
                    handle.shutdown();
                    break;
                }
            }
        }
        drop(self.listener);
        tracing::info!(
            live = handle.live_sessions(),
            "ssh: no longer accepting connections"
        );
        tokio::select! {
            () = handle.wait_idle() => {}
            () = &mut shutdown, if !handle.state.stop.is_cancelled() => handle.shutdown(),
        }
        if handle.state.stop.is_cancelled() {
            let _ = tokio::time::timeout(Duration::from_secs(5), handle.wait_idle()).await;
        }
        Ok(())
    }
}

/// Serves `listener` until `shutdown` resolves (see [`SshGateway::serve`]).
pub async fn serve<G: SessionGate, A: AuditSink>(
    config: SshConfig,
    listener: TcpListener,
    gate: Arc<G>,
    audit: Arc<A>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    SshGateway::from_listener(config, listener, gate, audit)
        .serve(shutdown)
        .await
}

fn is_transient(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    ) || err.raw_os_error() == Some(libc::EMFILE)
        || err.raw_os_error() == Some(libc::ENFILE)
}

/// Finds out who the client is (the PROXY header of a trusted load balancer, else the peer),
/// takes a place among the connections not logged in yet, and runs the connection.
async fn accept_conn<G: SessionGate, A: AuditSink>(
    shared: Arc<Shared<G, A>>,
    state: Arc<GatewayState>,
    mut tcp: TcpStream,
    peer: SocketAddr,
    live: LiveGuard,
) {
    let client = if shared
        .config
        .proxy_protocol_from
        .iter()
        .any(|c| c.contains(peer.ip()))
    {
        let within = Duration::from_secs(shared.config.settings.login_grace_secs.max(1));
        match crate::proxy_protocol::read_header(&mut tcp, peer, within).await {
            Ok(client) => client,
            Err(err) => {
                tracing::warn!(balancer = %peer, error = %err, "ssh: connection from a trusted load balancer refused");
                return;
            }
        }
    } else {
        peer
    };
    tracing::Span::current().record("client", tracing::field::display(client));
    let slot = match shared.preauth.admit(client.ip()) {
        Ok(slot) => slot,
        Err(why) => {
            tracing::info!(%client, cap = ?why, "ssh: connection refused: too many connections waiting to log in");
            return;
        }
    };
    run_conn(shared, state, tcp, client, slot, live).await;
}

/// Runs one client connection to its end. A connection that has not logged in within the
/// login grace time is disconnected.
async fn run_conn<G: SessionGate, A: AuditSink>(
    shared: Arc<Shared<G, A>>,
    state: Arc<GatewayState>,
    tcp: TcpStream,
    peer: SocketAddr,
    slot: preauth::PreAuthSlot,
    _live: LiveGuard,
) {
    let _ = tcp.set_nodelay(true);
    let logged_in = CancellationToken::new();
    let grace = Duration::from_secs(shared.config.settings.login_grace_secs.max(1));
    let handler = ConnHandler::new(Arc::clone(&shared), peer, slot, logged_in.clone());
    let config = Arc::clone(&shared.server_config);
    let session =
        match tokio::time::timeout(grace, russh::server::run_stream(config, tcp, handler)).await {
            Ok(Ok(session)) => session,
            Ok(Err(err)) => {
                tracing::debug!(%peer, error = %err, "ssh: handshake failed");
                return;
            }
            Err(_) => {
                shared
                    .preauth
                    .counters
                    .grace_expired
                    .fetch_add(1, Ordering::Relaxed);
                tracing::info!(%peer, "ssh: no login within the grace time; disconnected");
                return;
            }
        };
    let handle = session.handle();
    tokio::pin!(session);
    let grace = tokio::time::sleep(grace);
    tokio::pin!(grace);
    let mut waiting_login = true;
    loop {
        tokio::select! {
            result = &mut session => {
                if let Err(err) = result {
                    tracing::debug!(%peer, error = %err, "ssh: connection ended with an error");
                }
                return;
            }
            () = &mut grace, if waiting_login => {
                waiting_login = false;
                if !logged_in.is_cancelled() {
                    shared.preauth.counters.grace_expired.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(%peer, "ssh: no login within the grace time; disconnected");
                    let _ = handle.disconnect(russh::Disconnect::ByApplication, "login grace time exceeded".into(), "en".into()).await;
                    let _ = tokio::time::timeout(Duration::from_secs(2), &mut session).await;
                    return;
                }
            }
            () = state.stop.cancelled() => {
                let _ = handle.disconnect(russh::Disconnect::ByApplication, "the bastion is shutting down".into(), "en".into()).await;
                let _ = tokio::time::timeout(Duration::from_secs(2), &mut session).await;
                return;
            }
        }
    }
}
