//! The native PostgreSQL port: clients connect to the bastion directly (no SSH) and log in with
//! their bastion user name and an O&M token as password, by SCRAM-SHA-256, so the token itself
//! never crosses the network. The gateway does not know the target until the login is checked:
//! [`hello`] reads the client's startup and SCRAM proof and hands them to the caller, which
//! checks the proof against the verifiers of the user's tokens and, with a session admitted,
//! calls [`Started::serve`] to log in to the target with the hosted password and relay.
//!
//! TLS (SSLRequest) is the caller's: [`hello`] answers `S` when TLS is offered and gives the
//! stream back for the handshake, then the caller calls [`hello`] again on the TLS stream.

use super::io::{send, Side};
use super::{hosted_login, negotiate, relay, startup_refusal, target_startup, SessionError};
use super::{AuthError, LOGIN_TIMEOUT, MAX_REQUEST};
use crate::pg::scram::{token_salt, ClientProof, ServerExchange, TOKEN_ITERATIONS};
use crate::pg::wire::{self, message, Startup, WireError};
use crate::tls::Io;
use crate::{Login, StatementSink, TargetSocket};
use tokio::io::{AsyncRead, AsyncWrite};

/// The SASL mechanism the gateway offers.
const MECHANISM: &str = "SCRAM-SHA-256";

/// The longest SASL message read from a client before its login is checked.
const MAX_SASL: usize = 4096;

/// TLS on this connection, as far as [`hello`] is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tls {
    /// Whether the gateway can run a TLS handshake on this port.
    pub offered: bool,
    /// Whether a login without TLS is refused.
    pub required: bool,
    /// Whether the stream is already TLS.
    pub active: bool,
}

/// What a new connection asked.
pub enum Hello<C> {
    /// TLS, and the gateway said yes: the caller runs the handshake on the stream and calls
    /// [`hello`] again on the TLS stream.
    Tls(C),
    /// A CancelRequest for the backend `pid` with `key`.
    Cancel { pid: i32, key: Vec<u8> },
    /// A login whose proof the caller checks.
    Login(Started<C>),
}

/// A client whose SCRAM proof was read and not yet answered.
pub struct Started<C> {
    client: Side<C>,
    /// The bastion user name the client gave.
    pub user: String,
    /// The database the client named, if any (libpq names the user's own when none is given).
    database: Option<String>,
    version: i32,
    params: Vec<(String, String)>,
    /// The proof to check against the user's token verifiers.
    pub proof: ClientProof,
}

/// Reads a new connection's first messages, up to the client's SCRAM proof.
pub async fn hello<C>(client: C, tls: Tls) -> Result<Hello<C>, SessionError>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    match tokio::time::timeout(LOGIN_TIMEOUT, hello_inner(client, tls)).await {
        Ok(r) => r,
        Err(_) => Err(SessionError::LoginTimeout(LOGIN_TIMEOUT)),
    }
}

async fn hello_inner<C>(client: C, tls: Tls) -> Result<Hello<C>, SessionError>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let mut client = Side::new(client);
    let startup = loop {
        let Some(body) = client.read_startup().await? else {
            return Err(SessionError::Client("left before logging in".into()));
        };
        match Startup::parse(&body)? {
            Startup::Ssl if tls.offered && !tls.active => {
                // Bytes sent before the handshake would be read as if protected by it.
                if !client.buffered().is_empty() {
                    return Err(SessionError::Client(
                        "sent data after SSLRequest before the TLS handshake".into(),
                    ));
                }
                send(client.get_mut(), b"S").await?;
                return Ok(Hello::Tls(client.into_parts().0));
            }
            Startup::Ssl | Startup::GssEnc => send(client.get_mut(), b"N").await?,
            Startup::Cancel { pid, key } => return Ok(Hello::Cancel { pid, key }),
            s => break s,
        }
    };
    if tls.required && !tls.active {
        let words = "this bastion requires TLS on its PostgreSQL port: connect with sslmode=require (or verify-full)";
        return refuse(&mut client, "28000", words.into()).await;
    }
    if let Some(words) = startup_refusal(&startup) {
        return refuse(&mut client, "0A000", words).await;
    }
    let Startup::Startup { version, params } = startup else {
        return Err(WireError::Malformed("a startup packet").into());
    };
    let find = |name: &str| params.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    let Some(user) = find("user").cloned() else {
        let words = "no PostgreSQL user name specified in startup packet";
        return refuse(&mut client, "28000", words.into()).await;
    };
    let database = find("database").cloned();
    // AuthenticationSASL: the mechanisms, each NUL-terminated, then an empty one.
    let mut offer = 10i32.to_be_bytes().to_vec();
    offer.extend_from_slice(MECHANISM.as_bytes());
    offer.extend_from_slice(b"\0\0");
    send(client.get_mut(), &message(b'R', &offer)).await?;
    let first = sasl_message(&mut client, true).await?;
    let exchange = match ServerExchange::start(&first, &token_salt(&user), TOKEN_ITERATIONS) {
        Ok(e) => e,
        Err(e) => return refuse(&mut client, "28000", e.to_string()).await,
    };
    let mut cont = 11i32.to_be_bytes().to_vec();
    cont.extend_from_slice(exchange.server_first().as_bytes());
    send(client.get_mut(), &message(b'R', &cont)).await?;
    let last = sasl_message(&mut client, false).await?;
    let proof = match exchange.finish(&last) {
        Ok(p) => p,
        Err(e) => return refuse(&mut client, "28000", e.to_string()).await,
    };
    Ok(Hello::Login(Started {
        client,
        user,
        database,
        version,
        params,
        proof,
    }))
}

/// Tells the client why its login is refused (FATAL) and ends it.
async fn refuse<C, X>(client: &mut Side<C>, code: &str, words: String) -> Result<X, SessionError>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let _ = send(client.get_mut(), &wire::fatal(code, &words)).await;
    Err(SessionError::Client(words))
}

/// The client's SASLInitialResponse (its data) or SASLResponse.
async fn sasl_message<C>(client: &mut Side<C>, initial: bool) -> Result<Vec<u8>, SessionError>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let Some((tag, body)) = client.read_message(MAX_SASL).await? else {
        return Err(SessionError::Client("left during the login".into()));
    };
    if tag != b'p' {
        let words = "expected a SASL response (log in with a password: the O&M token)";
        let _ = send(client.get_mut(), &wire::fatal("08P01", words)).await;
        return Err(SessionError::Client(words.into()));
    }
    if !initial {
        return Ok(body);
    }
    let mut r = wire::Reader::new(&body);
    let mechanism = r.string("the SASL mechanism")?;
    if mechanism != MECHANISM {
        let words = format!("the SASL mechanism {mechanism} is not offered: use {MECHANISM}");
        let _ = send(client.get_mut(), &wire::fatal("28000", &words)).await;
        return Err(SessionError::Client(words));
    }
    let len = r.i32("the SASL data length")?;
    let len = usize::try_from(len).map_err(|_| WireError::Malformed("the SASL data length"))?;
    Ok(r.bytes(len, "the SASL data")?.to_vec())
}

impl<C: AsyncRead + AsyncWrite + Unpin> Started<C> {
    /// The client's connection (to duplicate its descriptor for a [`Passage`]).
    pub fn stream(&mut self) -> &mut C {
        self.client.get_mut()
    }

    /// Refuses the login with `message` (FATAL 28P01, as a wrong password).
    pub async fn refuse(mut self, message: &str) {
        let _ = send(self.client.get_mut(), &wire::fatal("28P01", message)).await;
    }

    /// The database the session uses: the one the client named, except when that is only
    /// libpq's default (the bastion user's own name) — then the token's schema, else the
    /// account's own database, as PostgreSQL would choose.
    fn database(&self, login: &Login) -> String {
        match &self.database {
            Some(d) if !d.is_empty() && *d != self.user => d.clone(),
            _ => (login.default_database.clone()).unwrap_or_else(|| login.account.clone()),
        }
    }

    /// Ends the client's login (`server_final` proves the bastion held the token's verifier),
    /// logs in to `target` with the hosted password and relays the session to its end.
    /// `on_key` receives the target's BackendKeyData (process id and secret key) and returns
    /// the key the client gets instead, which it will send to cancel a query (the gateway's
    /// own, so that a cancel reaching any node finds the session's).
    pub async fn serve<T>(
        mut self,
        target: T,
        socket: TargetSocket<'_>,
        login: &Login,
        server_final: &str,
        on_key: impl FnOnce(i32, Vec<u8>) -> (i32, Vec<u8>),
        sink: &dyn StatementSink,
    ) -> Result<(), SessionError>
    where
        T: Io,
    {
        let mut last = 12i32.to_be_bytes().to_vec();
        last.extend_from_slice(server_final.as_bytes());
        send(self.client.get_mut(), &message(b'R', &last)).await?;
        let Some(password) = login.password.clone() else {
            let words = format!(
                "The database account '{}' has no hosted password: on this port the bastion logs in for you, so use the SSH tunnel to type your own",
                login.account
            );
            let _ = send(self.client.get_mut(), &wire::fatal("28000", &words)).await;
            return Err(SessionError::Client(words));
        };
        let database = self.database(login);
        let (client, buffered) = self.client.into_parts();
        let (client_r, mut client_w) = tokio::io::split(client);
        let client_r = Side::with_buffered(client_r, buffered);
        let target = super::switch_to_tls(target, login, &mut client_w).await?;
        // A passage moves raw bytes: not those of a TLS connection.
        let passage = socket.passage.filter(|_| !target.is_tls());
        let (target_r, mut target_w) = tokio::io::split(target);
        let mut target_r = Side::new(target_r);
        let logged_in = async {
            negotiate(&mut client_w, self.version, &self.params).await?;
            let startup = target_startup(&self.params, &login.account, &database);
            send(&mut target_w, &startup).await?;
            hosted_login(
                &mut target_r,
                &mut target_w,
                &mut client_w,
                login,
                &password,
            )
            .await?;
            backend_start(&mut target_r, &mut client_w, on_key).await
        };
        match tokio::time::timeout(LOGIN_TIMEOUT, logged_in).await {
            Ok(r) => r?,
            Err(_) => {
                let words = "the database did not complete the login in time";
                let _ = send(&mut client_w, &wire::fatal("08006", words)).await;
                return Err(SessionError::LoginTimeout(LOGIN_TIMEOUT));
            }
        };
        let guard = relay::Guard::new(login, database);
        let target_r = relay::Answers::new(target_r, passage, socket.gather);
        relay::relay(client_r, client_w, target_r, target_w, &guard, true, sink).await
    }
}

/// Relays what the target sends after AuthenticationOk up to its first ReadyForQuery; its
/// BackendKeyData goes to `on_key`, and the client gets the key `on_key` returns instead.
async fn backend_start<TR, CW>(
    target: &mut Side<TR>,
    client_w: &mut CW,
    on_key: impl FnOnce(i32, Vec<u8>) -> (i32, Vec<u8>),
) -> Result<(), SessionError>
where
    TR: AsyncRead + Unpin,
    CW: AsyncWrite + Unpin,
{
    let mut on_key = Some(on_key);
    loop {
        let Some((tag, body)) = target.read_message(MAX_REQUEST).await? else {
            return Err(SessionError::TargetClosed);
        };
        match (tag, on_key.take_if(|_| tag == b'K')) {
            (b'K', Some(on_key)) => {
                let mut r = wire::Reader::new(&body);
                let pid = r.i32("the backend process id")?;
                let (pid, key) = on_key(pid, r.rest().to_vec());
                let mut ours = pid.to_be_bytes().to_vec();
                ours.extend_from_slice(&key);
                send(client_w, &message(b'K', &ours)).await?;
            }
            _ => send(client_w, &message(tag, &body)).await?,
        }
        match tag {
            b'Z' => return Ok(()),
            b'E' => return Err(AuthError::Refused(wire::Fields::parse(&body)?).into()),
            _ => {}
        }
    }
}
