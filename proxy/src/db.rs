//! Database sessions: a connection to a MySQL or PostgreSQL database asset is not relayed as
//! bytes but spoken by the gateway (`portunus-db`), so that the hosted credential is injected
//! at the target login and every statement is audited under the engineer's session. Databases
//! of other engines are relayed as plain bytes.

pub mod console;
pub mod native;
pub mod tls;

pub use portunus_db::mysql::auth::native_password_matches;
pub use portunus_db::pg::scram::{token_verifier, ClientProof, Verifier as ScramVerifier};
pub use portunus_db::sql::rules::{Matcher, RuleSpec};
pub use portunus_db::{Outcome, Statement};

use crate::gate::{AuditEvent, AuditSink, Permit, TargetCredential, TargetProtocol};
use crate::route::Upstream;
use portunus_db::gather::Gather;
use std::io;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Whether the gateway speaks this permit's protocol (otherwise the bytes are relayed).
pub fn spoken(permit: &Permit) -> bool {
    matches!(
        permit.protocol,
        TargetProtocol::MySql | TargetProtocol::PostgreSql
    )
}

/// Batched reads of large answers from a TCP target (None through an SSH proxy, or if the
/// descriptor cannot be duplicated: each read then wakes the session as bytes come).
pub(crate) fn gather(target: &Upstream) -> Option<Box<dyn Gather>> {
    let Upstream::Tcp(tcp) = target else {
        return None;
    };
    crate::forward::db_gather(tcp.as_fd().try_clone_to_owned().ok()?)
}

/// Why a database session ended early, whichever protocol it spoke.
#[derive(Debug, thiserror::Error)]
pub enum DbSessionError {
    #[error("mysql: {0}")]
    MySql(#[from] portunus_db::mysql::session::SessionError),
    #[error("postgres: {0}")]
    Postgres(#[from] portunus_db::pg::session::SessionError),
}

/// Runs the session in the permit's protocol (one that [`spoken`] accepts).
pub async fn run<C, T, A>(
    client: C,
    target: T,
    gather: Option<Box<dyn Gather>>,
    permit: &Permit,
    audit: Arc<A>,
    tls: &tls::DatabaseTls,
) -> Result<(), DbSessionError>
where
    C: AsyncRead + AsyncWrite + Unpin,
    T: portunus_db::tls::Io,
    A: AuditSink,
{
    match permit.protocol {
        TargetProtocol::PostgreSql => {
            Ok(run_postgres(client, target, gather, permit, audit, tls).await?)
        }
        _ => Ok(run_mysql(client, target, gather, permit, audit, tls).await?),
    }
}

/// The target login of a session under `permit`.
pub fn login_of(
    permit: &Permit,
    default_database: Option<String>,
    tls: &tls::DatabaseTls,
) -> portunus_db::Login {
    portunus_db::Login {
        tls: tls.for_target(permit.database_tls, &permit.address),
        account: permit.account_name.clone(),
        password: match &permit.credential {
            TargetCredential::Password(p) => Some(portunus_db::Secret(p.0.clone())),
            _ => None,
        },
        default_database,
        rules: permit.sql_rules.clone(),
        allow_unreadable: permit.sql_allow_unreadable,
    }
}

/// Hands a session's statements to the audit sink.
pub struct Statements<A: AuditSink> {
    pub audit: Arc<A>,
    pub session_id: u64,
    pub account: String,
}

impl<A: AuditSink> portunus_db::StatementSink for Statements<A> {
    fn statement(&self, statement: Statement) {
        self.audit.event(AuditEvent::Statement {
            session_id: self.session_id,
            account: self.account.clone(),
            statement,
        });
    }
}

/// Runs a MySQL session between `client` and the connected `target` to its end.
pub async fn run_mysql<C, T, A>(
    client: C,
    target: T,
    gather: Option<Box<dyn Gather>>,
    permit: &Permit,
    audit: Arc<A>,
    tls: &tls::DatabaseTls,
) -> Result<(), portunus_db::mysql::session::SessionError>
where
    C: AsyncRead + AsyncWrite + Unpin,
    T: portunus_db::tls::Io,
    A: AuditSink,
{
    let login = login_of(permit, permit.default_database.clone(), tls);
    let sink = Statements {
        audit,
        session_id: permit.session_id,
        account: permit.account_name.clone(),
    };
    portunus_db::mysql::session::run(client, target, gather, &login, &sink).await
}

/// Runs a PostgreSQL session between `client` and the connected `target` to its end.
pub async fn run_postgres<C, T, A>(
    client: C,
    target: T,
    gather: Option<Box<dyn Gather>>,
    permit: &Permit,
    audit: Arc<A>,
    tls: &tls::DatabaseTls,
) -> Result<(), portunus_db::pg::session::SessionError>
where
    C: AsyncRead + AsyncWrite + Unpin,
    T: portunus_db::tls::Io,
    A: AuditSink,
{
    let login = login_of(permit, permit.default_database.clone(), tls);
    let sink = Statements {
        audit,
        session_id: permit.session_id,
        account: permit.account_name.clone(),
    };
    portunus_db::pg::session::run(client, target, gather, &login, &sink).await
}

/// A stream that counts what is read from it and written to it.
pub struct Counted<S, R: Fn(usize), W: Fn(usize)> {
    pub inner: S,
    pub on_read: R,
    pub on_write: W,
}

impl<S: AsyncRead + Unpin, R: Fn(usize) + Unpin, W: Fn(usize) + Unpin> AsyncRead
    for Counted<S, R, W>
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            (this.on_read)(buf.filled().len() - before);
        }
        r
    }
}

impl<S: AsyncWrite + Unpin, R: Fn(usize) + Unpin, W: Fn(usize) + Unpin> AsyncWrite
    for Counted<S, R, W>
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            (this.on_write)(n);
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
