//! The web database console's sessions: statements typed in the browser take the gateway's
//! own path. The gate admits the session (authorization, control policy, concurrency slot),
//! the gateway's session runs on one end of an in-memory pipe with the hosted credential (or
//! the password the engineer typed, when none is hosted), applying the SQL rules and auditing
//! every statement under the engineer's session; [`portunus_db::console`]'s client speaks on the
//! other end. The session ends when the page drops the [`Console`], the database closes, or the
//! gate ends it (an administrator's termination).

use super::native::{connect, counted, failed, run_session, Bytes};
use super::{login_of, spoken, tls::DatabaseTls, Statements};
use crate::gate::{
    Admission, AuditSink, EndKind, Principal, Purpose, Refusal, RefusalKind, SessionGate,
    TargetCredential, TargetProtocol, TargetSpec, TERMINATED_BY_ADMIN,
};
use portunus_db::console::{mysql, pg, Answer, ConsoleError};
pub use portunus_db::Secret;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::DuplexStream;
use tokio::sync::{mpsc, oneshot, watch};

/// What opening a console needs of the node.
pub struct Consoles<G, A> {
    pub gate: Arc<G>,
    pub audit: Arc<A>,
    pub target_tls: Arc<DatabaseTls>,
    /// How long the database may take to accept the connection.
    pub connect_timeout: Duration,
}

impl<G, A> Clone for Consoles<G, A> {
    fn clone(&self) -> Self {
        Consoles {
            gate: self.gate.clone(),
            audit: self.audit.clone(),
            target_tls: self.target_tls.clone(),
            connect_timeout: self.connect_timeout,
        }
    }
}

/// A console the browser asks for.
#[derive(Debug)]
pub struct ConsoleRequest {
    pub principal: Principal,
    pub database_id: u64,
    pub account_id: u64,
    /// The account's password, typed by the engineer: used only when none is hosted.
    pub password: Option<Secret>,
    /// The database (schema) to start in; the account's default when None.
    pub database: Option<String>,
    /// The browser's address (the session records it).
    pub client: SocketAddr,
}

/// An open console: statements go in, answers come back, one at a time.
pub struct Console {
    pub session_id: u64,
    pub asset_name: String,
    pub account: String,
    pub engine: TargetProtocol,
    asks: Asks,
    /// The words saying how the session ended, once it has.
    ended: watch::Receiver<Option<String>>,
}

impl Console {
    /// Runs `sql`; an error when the session is over (its words say why).
    pub async fn run(&self, sql: String) -> Result<Answer, String> {
        let (tx, rx) = oneshot::channel();
        let gone = || "the session ended".to_string();
        self.asks.send((sql, tx)).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Resolves when the session has ended (the database closed it, an administrator ended
    /// it), with the words to show.
    pub async fn ended(&self) -> String {
        let mut ended = self.ended.clone();
        let words = (ended.wait_for(Option::is_some).await).map(|w| w.clone().unwrap_or_default());
        words.unwrap_or_else(|_| "the session ended".into())
    }
}

fn refusal(kind: RefusalKind, message: impl Into<String>) -> Refusal {
    Refusal {
        kind,
        message: message.into(),
    }
}

/// How the pipe between the console's client and the gateway's session is sized.
const PIPE: usize = 256 << 10;

impl<G: SessionGate, A: AuditSink> Consoles<G, A> {
    /// Opens a console: admitted by the gate, logged in to the database through the gateway.
    pub async fn open(&self, request: ConsoleRequest) -> Result<Console, Refusal> {
        let spec = TargetSpec::Ids {
            asset_id: request.database_id,
            account_id: request.account_id,
        };
        let admission = (self.gate)
            .open(&request.principal, spec, Purpose::Query, request.client)
            .await?;
        let permit = admission.permit().clone();
        if !spoken(&permit) {
            admission.close(failed());
            return Err(refusal(
                RefusalKind::NotAuthorized,
                format!(
                    "{} is reached through an SSH tunnel with its own client: the web console \
                     speaks MySQL and PostgreSQL",
                    permit.asset_name
                ),
            ));
        }
        let mut login = login_of(&permit, request.database.clone(), &self.target_tls);
        if !matches!(permit.credential, TargetCredential::Password(_)) {
            match request.password.filter(|p| !p.0.is_empty()) {
                Some(typed) => login.password = Some(typed),
                None => {
                    admission.close(failed());
                    return Err(refusal(
                        RefusalKind::BadCredentials,
                        format!(
                            "the password of {}@{} is not hosted by the bastion: type it to \
                             connect",
                            permit.account_name, permit.asset_name
                        ),
                    ));
                }
            }
        }
        let target = match connect(&*self.gate, self.connect_timeout, &permit).await {
            Ok(t) => t,
            Err(words) => {
                admission.close(failed());
                return Err(refusal(RefusalKind::Internal, words));
            }
        };
        let (ours, gateways) = tokio::io::duplex(PIPE);
        let session_id = admission.session_id();
        let (account, asset_name) = (permit.account_name.clone(), permit.asset_name.clone());
        let engine = permit.protocol;
        let sink = Statements {
            audit: self.audit.clone(),
            session_id,
            account: account.clone(),
        };
        let gate = self.gate.clone();
        let (said, ended) = watch::channel(None);
        tokio::spawn(async move {
            let end = serve(gate, admission, gateways, target, login, sink).await;
            let words = match end {
                EndKind::Terminated => TERMINATED_BY_ADMIN,
                EndKind::Error => "the session ended on an error (the node's log says which)",
                EndKind::Normal | EndKind::Idle => "the database closed the session",
            };
            let _ = said.send(Some(words.to_string()));
        });
        let database = request.database.as_deref();
        let asks = match engine {
            TargetProtocol::PostgreSql => {
                let client = pg::Client::login(ours, &account, database).await;
                answer(client.map_err(refused_login)?)
            }
            _ => {
                let client = mysql::Client::login(ours, &account, database).await;
                answer(client.map_err(refused_login)?)
            }
        };
        Ok(Console {
            session_id,
            asset_name,
            account,
            engine,
            asks,
            ended,
        })
    }
}

/// The gateway's session on its end of the pipe, run as every database session is (admitted,
/// watched for termination, closed with its byte counts).
async fn serve<G: SessionGate, A: AuditSink>(
    gate: Arc<G>,
    admission: Admission,
    pipe: DuplexStream,
    target: crate::route::Upstream,
    login: portunus_db::Login,
    sink: Statements<A>,
) -> EndKind {
    let bytes = Bytes::default();
    let gather = super::gather(&target);
    let target = counted(target, &bytes.up, &bytes.down);
    let protocol = admission.permit().protocol;
    let session = async {
        match protocol {
            TargetProtocol::PostgreSql => {
                let r = portunus_db::pg::session::run(pipe, target, gather, &login, &sink).await;
                r.map_err(super::DbSessionError::from)
            }
            _ => {
                let r = portunus_db::mysql::session::run(pipe, target, gather, &login, &sink).await;
                r.map_err(super::DbSessionError::from)
            }
        }
    };
    run_session("web console", &*gate, admission, session, &bytes).await
}

fn refused_login(e: ConsoleError) -> Refusal {
    // The gateway answered the login with the database's (or its own) refusal.
    let (kind, words) = match e {
        ConsoleError::Closed(words) => (RefusalKind::BadCredentials, words),
        other => (RefusalKind::Internal, other.to_string()),
    };
    refusal(kind, format!("the database login failed: {words}"))
}

type Query<'c> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Answer, ConsoleError>> + Send + 'c>>;

/// A logged-in console client of either protocol.
trait Queries: Send + 'static {
    fn query<'c>(&'c mut self, sql: &'c str) -> Query<'c>;
}

impl Queries for mysql::Client<DuplexStream> {
    fn query<'c>(&'c mut self, sql: &'c str) -> Query<'c> {
        Box::pin(mysql::Client::query(self, sql))
    }
}

impl Queries for pg::Client<DuplexStream> {
    fn query<'c>(&'c mut self, sql: &'c str) -> Query<'c> {
        Box::pin(pg::Client::query(self, sql))
    }
}

type Asks = mpsc::Sender<(String, oneshot::Sender<Result<Answer, String>>)>;

/// Serves the console's statements one at a time with `client` until the console is dropped
/// or the session ends.
fn answer(mut client: impl Queries) -> Asks {
    let (asks, mut asked) = mpsc::channel::<(String, oneshot::Sender<Result<Answer, String>>)>(1);
    tokio::spawn(async move {
        while let Some((sql, mut reply)) = asked.recv().await {
            // A console dropped while its statement runs (the page went away) ends the session
            // at once: dropping the client closes the gateway's side.
            let answered = tokio::select! {
                a = client.query(&sql) => a,
                () = reply.closed() => return,
            };
            if let Err(e) = &answered {
                tracing::info!(error = %e, "web console: the session cannot go on");
            }
            let over = answered.is_err();
            let _ = reply.send(answered.map_err(|e| e.to_string()));
            if over {
                return;
            }
        }
    });
    asks
}
