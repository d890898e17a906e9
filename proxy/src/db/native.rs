//! The native database ports: MySQL and PostgreSQL clients connect to the bastion directly (no
//! SSH), log in with their user name and an O&M token as password, and reach the database the
//! token is for. The token never crosses the network: MySQL clients answer a
//! `mysql_native_password` challenge, PostgreSQL clients prove it by SCRAM-SHA-256, and the
//! gate checks the answer against what each token keeps. TLS is offered (MySQL SSL, PostgreSQL
//! SSLRequest) when the node has a certificate for these ports, and may be required. The
//! session is admitted, audited and closed like a tunnel session.

use super::{login_of, Counted, Statements};
use crate::gate::{
    Admission, AuditSink, AuthAttempt, EndKind, GateKeys, Principal, SessionGate, SessionOutcome,
    TargetProtocol,
};
use crate::preauth::{PreAuth, PreAuthRefusal, PreAuthSlot};
use crate::route::{self, Route, Upstream};
use portunus_db::mysql::session::native as my;
use portunus_db::passage::Passage;
use portunus_db::pg::session::native as pg;
use portunus_db::TargetSocket;
use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

mod mysql_threads;
use mysql_threads::SessionThread;
pub use mysql_threads::{KillRefusal, MySqlThreads, ThreadOwner, ThreadRouter};

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
    /// Whether answers move from the database to the client by splice(2) where both
    /// connections are plain TCP ([`crate::forward::db_passage`]); else they are copied.
    pub splice: bool,
    /// Places of the connections that have not logged in yet, both ports together.
    pub preauth: Arc<PreAuth>,
    /// How long a connection may take to log in.
    pub login_grace: Duration,
    /// Load balancers whose connections start with a PROXY v2 header naming the client.
    pub proxy_from: Arc<Vec<portunus_proxy_protocol::Cidr>>,
    /// This node's PostgreSQL sessions by their clients' cancel keys.
    pub cancels: Arc<Cancels>,
    /// This node's MySQL sessions by the connection ids their clients were greeted with.
    pub threads: Arc<MySqlThreads>,
    /// Passes cancel requests for other nodes' sessions to them; None: such requests are
    /// ignored.
    pub cancel_router: Option<Arc<dyn CancelRouter>>,
    /// Asks other nodes for the database thread of their MySQL sessions a `KILL` names; None:
    /// such a `KILL` is refused.
    pub thread_router: Option<Arc<dyn ThreadRouter>>,
}

impl<G, A> Clone for NativePort<G, A> {
    fn clone(&self) -> Self {
        NativePort {
            gate: self.gate.clone(),
            audit: self.audit.clone(),
            connect_timeout: self.connect_timeout,
            tls: self.tls.clone(),
            target_tls: self.target_tls.clone(),
            splice: self.splice,
            preauth: self.preauth.clone(),
            login_grace: self.login_grace,
            proxy_from: self.proxy_from.clone(),
            cancels: self.cancels.clone(),
            threads: self.threads.clone(),
            cancel_router: self.cancel_router.clone(),
            thread_router: self.thread_router.clone(),
        }
    }
}

/// Serves the native MySQL port until `stop` is cancelled.
pub async fn serve_mysql<G: SessionGate, A: AuditSink>(
    listener: TcpListener,
    port: NativePort<G, A>,
    stop: CancellationToken,
) {
    let waiting = Waiting::of(&port);
    accept_loop(
        "mysql",
        listener,
        waiting,
        stop,
        move |stream, peer, place| {
            let thread = port.threads.allocate(port.thread_router.clone());
            mysql_connection(stream, peer, thread, port.clone(), place)
        },
    )
    .await
}

/// Serves the native PostgreSQL port until `stop` is cancelled.
pub async fn serve_postgres<G: SessionGate, A: AuditSink>(
    listener: TcpListener,
    port: NativePort<G, A>,
    stop: CancellationToken,
) {
    let waiting = Waiting::of(&port);
    accept_loop(
        "postgres",
        listener,
        waiting,
        stop,
        move |stream, peer, place| pg_connection(stream, peer, port.clone(), place),
    )
    .await
}

/// How long a trusted load balancer may take to send its PROXY header.
const PROXY_HEADER_WITHIN: Duration = Duration::from_secs(10);

/// What the accept loop needs to hold connections that have not logged in.
struct Waiting {
    proxy_from: Arc<Vec<portunus_proxy_protocol::Cidr>>,
    preauth: Arc<PreAuth>,
    grace: Duration,
}

impl Waiting {
    fn of<G, A>(port: &NativePort<G, A>) -> Waiting {
        Waiting {
            proxy_from: port.proxy_from.clone(),
            preauth: port.preauth.clone(),
            grace: port.login_grace.max(Duration::from_secs(1)),
        }
    }
}

/// A connection's place among those that have not logged in: given back, and the login grace
/// time stopped, once its login was checked.
struct Place {
    slot: Option<PreAuthSlot>,
    logged_in: CancellationToken,
}

impl Place {
    /// The login was checked (whatever the answer): the place is free, no grace time runs.
    fn checked(&mut self) {
        self.slot.take();
        self.logged_in.cancel();
    }
}

/// What a client reads when the connection is refused before a word: MySQL servers send an ERR
/// packet in place of the greeting, PostgreSQL clients take an ErrorResponse at any time.
fn too_many(what: &str, why: PreAuthRefusal) -> Vec<u8> {
    let words = match why {
        PreAuthRefusal::PerAddress => {
            "Too many connections from your address are waiting to log in to the bastion"
        }
        PreAuthRefusal::Total => "Too many connections are waiting to log in to the bastion",
    };
    match what {
        "mysql" => {
            portunus_db::mysql::wire::frame(
                &portunus_db::mysql::wire::err_payload(1040, "08004", words),
                0,
            )
            .0
        }
        _ => portunus_db::pg::wire::fatal("53300", words),
    }
}

async fn accept_loop<F, Fut>(
    what: &'static str,
    listener: TcpListener,
    waiting: Waiting,
    stop: CancellationToken,
    serve: F,
) where
    F: Fn(TcpStream, SocketAddr, Place) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Waiting {
        proxy_from,
        preauth,
        grace,
    } = waiting;
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
        let (serve, stop, preauth) = (serve.clone(), stop.clone(), preauth.clone());
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
            let slot = match preauth.admit(client.ip()) {
                Ok(slot) => slot,
                Err(why) => {
                    tracing::info!(%client, cap = ?why, "{what}: connection refused: too many connections waiting to log in");
                    let _ = stream.write_all(&too_many(what, why)).await;
                    return;
                }
            };
            let logged_in = CancellationToken::new();
            let place = Place {
                slot: Some(slot),
                logged_in: logged_in.clone(),
            };
            let grace_over = async {
                tokio::time::sleep(grace).await;
                if logged_in.is_cancelled() {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                () = serve(stream, client, place) => {}
                () = grace_over => {
                    preauth.counters.grace_expired.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(%client, "{what}: no login within the grace time; disconnected");
                }
                () = stop.cancelled() => {}
            }
        });
    }
}

async fn mysql_connection<G: SessionGate, A: AuditSink>(
    stream: TcpStream,
    peer: SocketAddr,
    thread: SessionThread,
    port: NativePort<G, A>,
    place: Place,
) {
    let tls = my::Tls {
        offered: port.tls.is_some(),
        required: port.gate.database_tls_required(),
    };
    match my::greet(stream, thread.id, tls).await {
        Ok(my::Greet::Login(greeted)) => mysql_login(*greeted, peer, thread, port, place).await,
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
                Ok(greeted) => mysql_login(greeted, peer, thread, port, place).await,
                Err(e) => tracing::info!(%peer, error = %e, "mysql: login not completed"),
            }
        }
        Err(e) => tracing::info!(%peer, error = %e, "mysql: login not completed"),
    }
}

async fn mysql_login<C, G, A>(
    mut greeted: my::Greeted<C>,
    peer: SocketAddr,
    mut thread: SessionThread,
    port: NativePort<G, A>,
    mut place: Place,
) where
    C: AsyncRead + AsyncWrite + Unpin + PlainClient,
    G: SessionGate,
    A: AuditSink,
{
    let attempt = AuthAttempt::MySqlNative {
        user: greeted.user.clone(),
        scramble: greeted.scramble.clone(),
        answer: greeted.answer.clone(),
        client: peer,
    };
    let admitted = admitted(&*port.gate, attempt, TargetProtocol::MySql).await;
    place.checked();
    let (admission, _) = match admitted {
        Ok(a) => a,
        Err(words) => {
            tracing::info!(%peer, user = %greeted.user, %words, "mysql: login refused");
            let words = format!("Access denied for user '{}': {words}", greeted.user);
            greeted.refuse(&words).await;
            return;
        }
    };
    let permit = admission.permit().clone();
    let target = match connect(&*port.gate, port.connect_timeout, &permit).await {
        Ok(target) => target,
        Err(words) => {
            greeted.refuse(&words).await;
            admission.close(failed());
            return;
        }
    };
    let login = login_of(&permit, permit.default_database.clone(), &port.target_tls);
    let sink = statements(&port, &admission);
    let bytes = Bytes::default();
    let client = duplicate(greeted.stream(), &port);
    let socket = TargetSocket {
        passage: passage(client, &target, &port, &bytes.spliced),
        gather: super::gather(&target),
    };
    thread.admit(&permit);
    let target = counted(target, &bytes.up, &bytes.down);
    let session = greeted.serve(target, socket, &login, &thread, &sink);
    run_session("mysql", &*port.gate, admission, session, &bytes).await;
}

async fn pg_connection<G: SessionGate, A: AuditSink>(
    stream: TcpStream,
    peer: SocketAddr,
    port: NativePort<G, A>,
    place: Place,
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
                Ok(pg::Hello::Login(started)) => return pg_login(started, peer, port, place).await,
                Ok(pg::Hello::Cancel { pid, key }) => Ok(pg::Hello::Cancel { pid, key }),
                Ok(pg::Hello::Tls(_)) => return,
                Err(e) => Err(e),
            }
        }
        other => other,
    };
    match hello {
        Ok(pg::Hello::Login(started)) => pg_login(started, peer, port, place).await,
        Ok(pg::Hello::Cancel { pid, key }) => {
            let router = port.cancel_router.as_deref();
            port.cancels.cancel(pid, key, router).await
        }
        Ok(pg::Hello::Tls(_)) => {}
        Err(e) => tracing::info!(%peer, error = %e, "postgres: login not completed"),
    }
}

async fn pg_login<C, G, A>(
    mut started: pg::Started<C>,
    peer: SocketAddr,
    port: NativePort<G, A>,
    mut place: Place,
) where
    C: AsyncRead + AsyncWrite + Unpin + PlainClient,
    G: SessionGate,
    A: AuditSink,
{
    let attempt = AuthAttempt::PgScram {
        user: started.user.clone(),
        proof: started.proof.clone(),
        client: peer,
    };
    let admitted = admitted(&*port.gate, attempt, TargetProtocol::PostgreSql).await;
    place.checked();
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
    let target = match connect(&*port.gate, port.connect_timeout, &permit).await {
        Ok(target) => target,
        Err(words) => {
            started.refuse(&words).await;
            admission.close(failed());
            return;
        }
    };
    let login = login_of(&permit, permit.default_database.clone(), &port.target_tls);
    let sink = statements(&port, &admission);
    let bytes = Bytes::default();
    let client = duplicate(started.stream(), &port);
    let passage = passage(client, &target, &port, &bytes.spliced);
    let target_at = (
        permit.address.clone(),
        permit.port,
        target.route_with_seen_key(&permit.route),
    );
    // Forgotten when the session ends, however it ends (also when a stopping node drops it).
    let registered = Registered {
        cancels: port.cancels.clone(),
        key: std::sync::Mutex::new(None),
    };
    let on_key = |pid: i32, key: Vec<u8>| {
        let ours = registered.cancels.register(pid, key, target_at.clone());
        if let Ok(mut r) = registered.key.lock() {
            *r = Some(ours.clone());
        }
        ours
    };
    let socket = TargetSocket {
        passage,
        gather: super::gather(&target),
    };
    let session = started.serve(
        counted(target, &bytes.up, &bytes.down),
        socket,
        &login,
        &server_final,
        on_key,
        &sink,
    );
    run_session("postgres", &*port.gate, admission, session, &bytes).await;
}

/// A session's client key in [`Cancels`], forgotten when dropped.
struct Registered {
    cancels: Arc<Cancels>,
    key: std::sync::Mutex<Option<BackendKey>>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Some((pid, key)) = self.key.lock().ok().and_then(|mut k| k.take()) {
            self.cancels.forget(pid, &key);
        }
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
            spliced: 0,
            end: EndKind::Normal,
        });
        return Err(words);
    }
    Ok((admission, principal.server_proof.take()))
}

/// Connects to the permit's database (through its network domain's proxies, if any); the
/// words to refuse the client with when it cannot.
pub(super) async fn connect<G: SessionGate>(
    gate: &G,
    timeout: Duration,
    permit: &crate::gate::Permit,
) -> Result<Upstream, String> {
    let keys = GateKeys(gate);
    let (host, at) = (permit.address.as_str(), permit.port);
    match route::dial(&permit.route, host, at, timeout, &keys).await {
        Ok(target) => {
            target.set_nodelay();
            Ok(target)
        }
        Err(e) if permit.route.is_direct() => {
            tracing::info!(asset = %permit.asset_name, error = %e, "database: target unreachable");
            Err(format!(
                "the database {} is unreachable from the bastion",
                permit.asset_name
            ))
        }
        Err(e) => Err(format!("the database {}: {e}", permit.asset_name)),
    }
}

pub(super) fn failed() -> SessionOutcome {
    SessionOutcome {
        bytes_up: 0,
        bytes_down: 0,
        spliced: 0,
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
pub(super) fn counted<'a>(
    target: Upstream,
    up: &'a AtomicU64,
    down: &'a AtomicU64,
) -> Counted<Upstream, impl Fn(usize) + Unpin + 'a, impl Fn(usize) + Unpin + 'a> {
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

/// A session's byte counts as they grow.
#[derive(Default)]
pub(super) struct Bytes {
    /// Written to the database.
    pub(super) up: AtomicU64,
    /// Read from the database by the session (the login; every answer when copied).
    pub(super) down: AtomicU64,
    /// Moved from the database to the client by splice(2).
    pub(super) spliced: AtomicU64,
}

/// A client connection whose descriptor a passage can splice to when it is plain TCP.
trait PlainClient {
    /// The connection's socket when nothing (TLS) stands between it and the client's bytes.
    fn plain(&self) -> Option<BorrowedFd<'_>>;
}

impl PlainClient for TcpStream {
    fn plain(&self) -> Option<BorrowedFd<'_>> {
        Some(self.as_fd())
    }
}

impl<T> PlainClient for tokio_rustls::server::TlsStream<T> {
    fn plain(&self) -> Option<BorrowedFd<'_>> {
        None
    }
}

/// A duplicate of a plain client connection's descriptor, for a passage, taken once the login
/// was admitted; None when splice is off or the client speaks TLS (or the descriptor cannot be
/// duplicated: the session then copies).
fn duplicate<C: PlainClient, G, A>(client: &C, port: &NativePort<G, A>) -> Option<OwnedFd> {
    if !port.splice {
        return None;
    }
    client.plain()?.try_clone_to_owned().ok()
}

/// The passage answers take from a plain TCP target to a plain client (`client`: its
/// duplicated descriptor); None when either leg is not plain TCP or splice cannot be used.
fn passage<'a, G, A>(
    client: Option<OwnedFd>,
    target: &Upstream,
    port: &NativePort<G, A>,
    spliced: &'a AtomicU64,
) -> Option<Box<dyn Passage + 'a>> {
    let (Some(client), Upstream::Tcp(target), true) = (client, target, port.splice) else {
        return None;
    };
    let target = target.as_fd().try_clone_to_owned().ok()?;
    match crate::forward::db_passage(target, client, spliced) {
        Ok(passage) => Some(passage),
        Err(e) => {
            tracing::debug!(error = %e, "database answers copied: no splice passage");
            None
        }
    }
}

/// Runs an admitted session to its end (or until the gate ends it) and gives it back; how it
/// ended.
pub(super) async fn run_session<G, E>(
    what: &str,
    gate: &G,
    admission: Admission,
    session: impl Future<Output = Result<(), E>>,
    bytes: &Bytes,
) -> EndKind
where
    G: SessionGate,
    E: std::fmt::Display,
{
    let session_id = admission.session_id();
    // The watch for the session's end runs as a task of its own: in this select it would be
    // polled at every wakeup of the session (each statement and each answer).
    let (said, words) = tokio::sync::oneshot::channel();
    let watch = gate.terminated(session_id);
    let watch = tokio::spawn(async move {
        let _ = said.send(watch.await);
    });
    let ended = tokio::select! {
        biased;
        r = session => match r {
            Ok(()) => EndKind::Normal,
            Err(e) => {
                tracing::info!(session_id, error = %e, "{what}: session ended");
                EndKind::Error
            }
        },
        Ok(words) = words => {
            tracing::info!(session_id, reason = %words, "{what}: session terminated");
            EndKind::Terminated
        }
    };
    watch.abort();
    let spliced = bytes.spliced.load(Ordering::Relaxed);
    admission.close(SessionOutcome {
        bytes_up: bytes.up.load(Ordering::Relaxed),
        bytes_down: bytes.down.load(Ordering::Relaxed) + spliced,
        spliced,
        end: ended,
    });
    ended
}

/// The PostgreSQL sessions of this node by the BackendKeyData their clients were given, so
/// that a client's CancelRequest (which arrives on a new connection, unauthenticated, with
/// only that key) reaches the right database, whichever node it reaches.
///
/// Each client gets the gateway's own key, not the database's: a process id that names the
/// serving node (its id in bits 20-29, a per-node counter below) and a random secret. A node
/// that receives a cancel for a key it does not hold passes it to the node the process id
/// names (through the cluster's own connections, [`CancelRouter`]); the serving node passes it
/// to the database with the database's key. An unknown key is ignored, as PostgreSQL ignores
/// it. Node ids above 1023 share process-id space with lower ones (their cancels may go to
/// another node, which ignores them).
pub struct Cancels {
    ids: NodeIds,
    by_key: std::sync::Mutex<std::collections::HashMap<BackendKey, Backend>>,
}

/// A backend's process id and secret key.
type BackendKey = (i32, Vec<u8>);

/// Where a client's key leads: the database and its own key for the backend.
struct Backend {
    host: String,
    port: u16,
    /// The way the session's own leg went (an SSH proxy's key as seen then).
    route: Route,
    pid: i32,
    key: Vec<u8>,
}

/// Bits of a client's process id (or connection id) below the node id.
const NODE_SHIFT: u32 = 20;

/// Ids the native ports give clients (PostgreSQL process ids, MySQL connection ids): the
/// node's id (at most [`NodeIds::MAX_NODE`]) in bits 20-29, a counter below.
pub struct NodeIds {
    node: u32,
    next: AtomicU32,
}

impl NodeIds {
    /// The largest node id the ids can carry (nodes refuse larger ids at start).
    pub const MAX_NODE: u64 = 1023;

    pub fn new(node_id: u64) -> NodeIds {
        NodeIds {
            node: (node_id % (Self::MAX_NODE + 1)) as u32,
            next: AtomicU32::new(1),
        }
    }

    /// A fresh id (a counter wrapping after about a million).
    pub fn next(&self) -> u32 {
        let serial = self.next.fetch_add(1, Ordering::Relaxed) & ((1 << NODE_SHIFT) - 1);
        self.node << NODE_SHIFT | serial.max(1)
    }

    /// The node (modulo 1024) an id names.
    pub fn node_of(id: u64) -> u64 {
        (id >> NODE_SHIFT) & 1023
    }

    fn is_mine(&self, id: u64) -> bool {
        Self::node_of(id) == u64::from(self.node)
    }
}

/// Passes a cancel request to another node (the cluster's connections).
pub trait CancelRouter: Send + Sync + 'static {
    /// Asks node `node_id` to cancel the query of the client key (`pid`, `key`); whether that
    /// node held the key.
    fn forward(&self, node_id: u64, pid: i32, key: Vec<u8>) -> crate::gate::BoxFuture<'_, bool>;
}

impl Cancels {
    pub fn new(node_id: u64) -> Cancels {
        Cancels {
            ids: NodeIds::new(node_id),
            by_key: Default::default(),
        }
    }

    /// Keeps the database's key (`pid`, `key`) of a backend at `target`; the key the client
    /// gets for it.
    fn register(&self, pid: i32, key: Vec<u8>, target: (String, u16, Route)) -> BackendKey {
        let ours = self.ids.next() as i32;
        let mut secret = [0u8; 4];
        if aws_lc_rs::rand::fill(&mut secret).is_err() {
            // Without randomness the key is guessable: the client gets the database's own.
            return (pid, key);
        }
        let backend = Backend {
            host: target.0,
            port: target.1,
            route: target.2,
            pid,
            key,
        };
        if let Ok(mut m) = self.by_key.lock() {
            m.insert((ours, secret.to_vec()), backend);
        }
        (ours, secret.to_vec())
    }

    fn forget(&self, pid: i32, key: &[u8]) {
        if let Ok(mut m) = self.by_key.lock() {
            m.remove(&(pid, key.to_vec()));
        }
    }

    /// Passes a CancelRequest carrying a client key of this node's sessions to the database,
    /// with the database's own key; whether the key was this node's.
    pub async fn cancel_here(&self, pid: i32, key: Vec<u8>) -> bool {
        let backend = match self.by_key.lock() {
            Ok(m) => m.get(&(pid, key)).map(|b| {
                (
                    b.host.clone(),
                    b.port,
                    b.route.clone(),
                    b.pid,
                    b.key.clone(),
                )
            }),
            Err(_) => None,
        };
        let Some((host, port, route, pid, key)) = backend else {
            return false;
        };
        let request = portunus_db::pg::wire::Startup::Cancel { pid, key }.build();
        // Five seconds for each leg tried (each proxy of the route), then for the request.
        let timeout = Duration::from_secs(5);
        let sent = match route::dial(&route, &host, port, timeout, &route::PinnedOnly).await {
            Ok(mut s) => {
                let write = tokio::io::AsyncWriteExt::write_all(&mut s, &request);
                matches!(tokio::time::timeout(timeout, write).await, Ok(Ok(())))
            }
            Err(e) => {
                tracing::info!(pid, error = %e, "postgres: no leg to the database for a cancel");
                false
            }
        };
        match sent {
            true => tracing::info!(pid, "postgres: cancel request passed on"),
            false => tracing::info!(pid, "postgres: cancel request could not reach the database"),
        }
        true
    }

    /// A cancel request from a client: to the database when the key is this node's, else to
    /// the node the key names.
    async fn cancel(&self, pid: i32, key: Vec<u8>, router: Option<&dyn CancelRouter>) {
        if self.cancel_here(pid, key.clone()).await {
            return;
        }
        let node = NodeIds::node_of(pid as u32 as u64);
        match router {
            Some(router) if !self.ids.is_mine(pid as u32 as u64) => {
                let held = router.forward(node, pid, key).await;
                tracing::info!(
                    pid,
                    node,
                    held,
                    "postgres: cancel request passed to the serving node"
                );
            }
            _ => tracing::info!(pid, "postgres: cancel request for no session"),
        }
    }
}
