//! The native database ports: MySQL and PostgreSQL clients connect to the bastion directly (no
//! SSH), log in with their user name and an O&M token as password, and reach the database the
//! token is for. The token never crosses the network: MySQL clients answer a
//! `mysql_native_password` challenge, PostgreSQL clients prove it by SCRAM-SHA-256, and the
//! gate checks the answer against what each token keeps. TLS is offered (MySQL SSL, PostgreSQL
//! SSLRequest) when the node has a certificate for these ports, and may be required. The
//! session is admitted, audited and closed like a tunnel session.

use super::{login_of, Counted, Statements};
use crate::gate::{
    Admission, AuditSink, AuthAttempt, EndKind, Principal, SessionGate, SessionOutcome,
    TargetProtocol,
};
use portunus_db::mysql::session::native as my;
use portunus_db::pg::session::native as pg;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// What both native ports need.
pub struct NativePort<G, A> {
    pub gate: Arc<G>,
    pub audit: Arc<A>,
    /// How long the target may take to accept the connection.
    pub connect_timeout: Duration,
    /// TLS offered to clients; None: not offered.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    /// TLS to the databases.
    pub target_tls: Arc<super::tls::DatabaseTls>,
    /// Load balancers whose connections start with a PROXY v2 header naming the client.
    pub proxy_from: Arc<Vec<portunus_proxy_protocol::Cidr>>,
}

impl<G, A> Clone for NativePort<G, A> {
    fn clone(&self) -> Self {
        NativePort {
            gate: self.gate.clone(),
            audit: self.audit.clone(),
            connect_timeout: self.connect_timeout,
            tls: self.tls.clone(),
            target_tls: self.target_tls.clone(),
            proxy_from: self.proxy_from.clone(),
        }
    }
}

/// Serves the native MySQL port until `stop` is cancelled.
pub async fn serve_mysql<G: SessionGate, A: AuditSink>(
    listener: TcpListener,
    port: NativePort<G, A>,
    stop: CancellationToken,
) {
    let ids = Arc::new(AtomicU32::new(1));
    let proxy_from = port.proxy_from.clone();
    accept_loop("mysql", listener, proxy_from, stop, move |stream, peer| {
        let id = ids.fetch_add(1, Ordering::Relaxed);
        mysql_connection(stream, peer, id, port.clone())
    })
    .await
}

/// Serves the native PostgreSQL port until `stop` is cancelled.
pub async fn serve_postgres<G: SessionGate, A: AuditSink>(
    listener: TcpListener,
    port: NativePort<G, A>,
    stop: CancellationToken,
) {
    let cancels = Arc::new(Cancels::default());
    let proxy_from = port.proxy_from.clone();
    accept_loop(
        "postgres",
        listener,
        proxy_from,
        stop,
        move |stream, peer| pg_connection(stream, peer, port.clone(), cancels.clone()),
    )
    .await
}

/// How long a trusted load balancer may take to send its PROXY header.
const PROXY_HEADER_WITHIN: Duration = Duration::from_secs(10);

async fn accept_loop<F, Fut>(
    what: &'static str,
    listener: TcpListener,
    proxy_from: Arc<Vec<portunus_proxy_protocol::Cidr>>,
    stop: CancellationToken,
    serve: F,
) where
    F: Fn(TcpStream, SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let serve = Arc::new(serve);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = stop.cancelled() => return,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "{what}: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (serve, stop) = (serve.clone(), stop.clone());
        let proxied = proxy_from.iter().any(|c| c.contains(peer.ip()));
        tokio::spawn(async move {
            let mut stream = stream;
            let client = match proxied {
                false => peer,
                true => {
                    let header = portunus_proxy_protocol::read_header(
                        &mut stream,
                        peer,
                        PROXY_HEADER_WITHIN,
                    );
                    match header.await {
                        Ok(client) => client,
                        Err(err) => {
                            tracing::warn!(balancer = %peer, error = %err, "{what}: connection from a trusted load balancer refused");
                            return;
                        }
                    }
                }
            };
            tokio::select! {
                () = serve(stream, client) => {}
                () = stop.cancelled() => {}
            }
        });
    }
}

async fn mysql_connection<G: SessionGate, A: AuditSink>(
    stream: TcpStream,
    peer: SocketAddr,
    connection_id: u32,
    port: NativePort<G, A>,
) {
    let tls = my::Tls {
        offered: port.tls.is_some(),
        required: port.gate.database_tls_required(),
    };
    match my::greet(stream, connection_id, tls).await {
        Ok(my::Greet::Login(greeted)) => mysql_login(*greeted, peer, port).await,
        Ok(my::Greet::Tls { stream, resume }) => {
            let Some(config) = port.tls.clone() else {
                return;
            };
            let stream = match TlsAcceptor::from(config).accept(stream).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::info!(%peer, error = %e, "mysql: TLS handshake failed");
                    return;
                }
            };
            match my::resume(stream, resume).await {
                Ok(greeted) => mysql_login(greeted, peer, port).await,
                Err(e) => tracing::info!(%peer, error = %e, "mysql: login not completed"),
            }
        }
        Err(e) => tracing::info!(%peer, error = %e, "mysql: login not completed"),
    }
}

async fn mysql_login<C, G, A>(greeted: my::Greeted<C>, peer: SocketAddr, port: NativePort<G, A>)
where
    C: AsyncRead + AsyncWrite + Unpin,
    G: SessionGate,
    A: AuditSink,
{
    let attempt = AuthAttempt::MySqlNative {
        user: greeted.user.clone(),
        scramble: greeted.scramble.clone(),
        answer: greeted.answer.clone(),
        client: peer,
    };
    let (admission, _) = match admitted(&*port.gate, attempt, TargetProtocol::MySql).await {
        Ok(a) => a,
        Err(words) => {
            tracing::info!(%peer, user = %greeted.user, %words, "mysql: login refused");
            let words = format!("Access denied for user '{}': {words}", greeted.user);
            greeted.refuse(&words).await;
            return;
        }
    };
    let permit = admission.permit().clone();
    let Some(target) = connect(&port, &permit).await else {
        let words = unreachable(&permit.asset_name);
        greeted.refuse(&words).await;
        admission.close(failed());
        return;
    };
    let login = login_of(&permit, permit.default_database.clone(), &port.target_tls);
    let sink = statements(&port, &admission);
    let (up, down) = (AtomicU64::new(0), AtomicU64::new(0));
    let session = greeted.serve(counted(target, &up, &down), &login, &sink);
    run_session("mysql", &*port.gate, admission, session, &up, &down).await;
}

async fn pg_connection<G: SessionGate, A: AuditSink>(
    stream: TcpStream,
    peer: SocketAddr,
    port: NativePort<G, A>,
    cancels: Arc<Cancels>,
) {
    let mut tls = pg::Tls {
        offered: port.tls.is_some(),
        required: port.gate.database_tls_required(),
        active: false,
    };
    let hello = match pg::hello(stream, tls).await {
        Ok(pg::Hello::Tls(stream)) => {
            let Some(config) = port.tls.clone() else {
                return;
            };
            let stream = match TlsAcceptor::from(config).accept(stream).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::info!(%peer, error = %e, "postgres: TLS handshake failed");
                    return;
                }
            };
            tls.active = true;
            match pg::hello(stream, tls).await {
                Ok(pg::Hello::Login(started)) => {
                    return pg_login(started, peer, port, cancels).await
                }
                Ok(pg::Hello::Cancel { pid, key }) => Ok(pg::Hello::Cancel { pid, key }),
                Ok(pg::Hello::Tls(_)) => return,
                Err(e) => Err(e),
            }
        }
        other => other,
    };
    match hello {
        Ok(pg::Hello::Login(started)) => pg_login(started, peer, port, cancels).await,
        Ok(pg::Hello::Cancel { pid, key }) => cancels.cancel(pid, key).await,
        Ok(pg::Hello::Tls(_)) => {}
        Err(e) => tracing::info!(%peer, error = %e, "postgres: login not completed"),
    }
}

async fn pg_login<C, G, A>(
    started: pg::Started<C>,
    peer: SocketAddr,
    port: NativePort<G, A>,
    cancels: Arc<Cancels>,
) where
    C: AsyncRead + AsyncWrite + Unpin,
    G: SessionGate,
    A: AuditSink,
{
    let attempt = AuthAttempt::PgScram {
        user: started.user.clone(),
        proof: started.proof.clone(),
        client: peer,
    };
    let admitted = admitted(&*port.gate, attempt, TargetProtocol::PostgreSql).await;
    let (admission, server_final) = match admitted {
        Ok((a, Some(proof))) => (a, proof),
        Ok((a, None)) => {
            started.refuse("the bastion could not prove itself").await;
            a.close(failed());
            return;
        }
        Err(words) => {
            tracing::info!(%peer, user = %started.user, %words, "postgres: login refused");
            let words = format!(
                "password authentication failed for user \"{}\": {words}",
                started.user
            );
            started.refuse(&words).await;
            return;
        }
    };
    let permit = admission.permit().clone();
    let Some(target) = connect(&port, &permit).await else {
        started.refuse(&unreachable(&permit.asset_name)).await;
        admission.close(failed());
        return;
    };
    let login = login_of(&permit, permit.default_database.clone(), &port.target_tls);
    let sink = statements(&port, &admission);
    let (up, down) = (AtomicU64::new(0), AtomicU64::new(0));
    let target_at = (permit.address.clone(), permit.port);
    let registered = std::sync::Mutex::new(None);
    let on_key = |pid: i32, key: Vec<u8>| {
        cancels.register(pid, key.clone(), target_at.clone());
        if let Ok(mut r) = registered.lock() {
            *r = Some((pid, key));
        }
    };
    let session = started.serve(
        counted(target, &up, &down),
        &login,
        &server_final,
        on_key,
        &sink,
    );
    run_session("postgres", &*port.gate, admission, session, &up, &down).await;
    if let Some((pid, key)) = registered.lock().ok().and_then(|mut r| r.take()) {
        cancels.forget(pid, &key);
    }
}

/// Authenticates and checks that the session is one of `protocol`: the admission and the
/// server's proof (SCRAM), or the words to refuse with.
async fn admitted<G: SessionGate>(
    gate: &G,
    attempt: AuthAttempt,
    protocol: TargetProtocol,
) -> Result<(Admission, Option<String>), String> {
    let mut principal: Principal = gate.authenticate(attempt).await.map_err(|r| r.message)?;
    let Some(admission) = principal.token.take() else {
        return Err("log in with an O&M token as the password".into());
    };
    let permit = admission.permit();
    if permit.protocol != protocol {
        let words = format!(
            "this O&M token is for {}, not a {} database",
            permit.asset_name,
            match protocol {
                TargetProtocol::MySql => "MySQL",
                _ => "PostgreSQL",
            }
        );
        admission.close(SessionOutcome {
            bytes_up: 0,
            bytes_down: 0,
            end: EndKind::Normal,
        });
        return Err(words);
    }
    Ok((admission, principal.server_proof.take()))
}

async fn connect<G, A>(port: &NativePort<G, A>, permit: &crate::gate::Permit) -> Option<TcpStream> {
    let connecting = TcpStream::connect((permit.address.as_str(), permit.port));
    let target = tokio::time::timeout(port.connect_timeout, connecting)
        .await
        .ok()?
        .ok()?;
    let _ = target.set_nodelay(true);
    Some(target)
}

fn unreachable(asset: &str) -> String {
    format!("the database {asset} is unreachable from the bastion")
}

fn failed() -> SessionOutcome {
    SessionOutcome {
        bytes_up: 0,
        bytes_down: 0,
        end: EndKind::Error,
    }
}

fn statements<G, A: AuditSink>(port: &NativePort<G, A>, admission: &Admission) -> Statements<A> {
    Statements {
        audit: port.audit.clone(),
        session_id: admission.session_id(),
        account: admission.permit().account_name.clone(),
    }
}

/// The target stream, counting bytes down (read from it) and up (written to it).
fn counted<'a>(
    target: TcpStream,
    up: &'a AtomicU64,
    down: &'a AtomicU64,
) -> Counted<TcpStream, impl Fn(usize) + Unpin + 'a, impl Fn(usize) + Unpin + 'a> {
    Counted {
        inner: target,
        on_read: move |n: usize| {
            down.fetch_add(n as u64, Ordering::Relaxed);
        },
        on_write: move |n: usize| {
            up.fetch_add(n as u64, Ordering::Relaxed);
        },
    }
}

/// Runs an admitted session to its end (or until the gate ends it) and gives it back.
async fn run_session<G, E>(
    what: &str,
    gate: &G,
    admission: Admission,
    session: impl Future<Output = Result<(), E>>,
    up: &AtomicU64,
    down: &AtomicU64,
) where
    G: SessionGate,
    E: std::fmt::Display,
{
    let session_id = admission.session_id();
    let ended = tokio::select! {
        r = session => match r {
            Ok(()) => EndKind::Normal,
            Err(e) => {
                tracing::info!(session_id, error = %e, "{what}: session ended");
                EndKind::Error
            }
        },
        words = gate.terminated(session_id) => {
            tracing::info!(session_id, reason = %words, "{what}: session terminated");
            EndKind::Terminated
        }
    };
    admission.close(SessionOutcome {
        bytes_up: up.load(Ordering::Relaxed),
        bytes_down: down.load(Ordering::Relaxed),
        end: ended,
    });
}

/// The PostgreSQL sessions of this port by their target's BackendKeyData, so that a client's
/// CancelRequest (which arrives on a new connection, unauthenticated, with only that key)
/// reaches the right database. The key is the target's own secret: only the client it was sent
/// to can name it.
#[derive(Default)]
struct Cancels {
    by_key: std::sync::Mutex<std::collections::HashMap<BackendKey, (String, u16)>>,
}

/// A backend's process id and secret key.
type BackendKey = (i32, Vec<u8>);

impl Cancels {
    fn register(&self, pid: i32, key: Vec<u8>, target: (String, u16)) {
        if let Ok(mut m) = self.by_key.lock() {
            m.insert((pid, key), target);
        }
    }

    fn forget(&self, pid: i32, key: &[u8]) {
        if let Ok(mut m) = self.by_key.lock() {
            m.remove(&(pid, key.to_vec()));
        }
    }

    /// Passes a CancelRequest on to the database whose backend has this key; an unknown key is
    /// ignored, as PostgreSQL ignores it.
    async fn cancel(&self, pid: i32, key: Vec<u8>) {
        let target = match self.by_key.lock() {
            Ok(m) => m.get(&(pid, key.clone())).cloned(),
            Err(_) => None,
        };
        let Some((host, port)) = target else {
            tracing::info!(pid, "postgres: cancel request for no session of this node");
            return;
        };
        let request = portunus_db::pg::wire::Startup::Cancel { pid, key }.build();
        let sent = async {
            let mut s = TcpStream::connect((host.as_str(), port)).await?;
            tokio::io::AsyncWriteExt::write_all(&mut s, &request).await
        };
        match tokio::time::timeout(Duration::from_secs(5), sent).await {
            Ok(Ok(())) => tracing::info!(pid, "postgres: cancel request passed on"),
            _ => tracing::info!(pid, "postgres: cancel request could not reach the database"),
        }
    }
}
