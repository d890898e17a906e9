//! The native MySQL port: the gateway greets the client itself (it does not know the target
//! until the client has logged in), reads the login — the user name and the
//! `mysql_native_password` answer made from an O&M token — and hands them to the caller to
//! check. With a session admitted, [`Greeted::serve`] logs in to the target with the hosted
//! password and relays as on a tunnel.
//!
//! The gateway offers the client only capabilities whose wire format does not depend on the
//! target it will reach (no `CLIENT_DEPRECATE_EOF`, no session tracking), so the target login
//! takes the client's capabilities as they are.

use super::io::Side;
use super::Answers;
use super::{first_after_tls, hosted_login, refuse, relay, scramble, target_login_words};
use super::{Guard, SessionError, Threads};
use super::{LOGIN_TIMEOUT, MAX_REQUEST};
use crate::mysql::auth::TargetAuth;
use crate::mysql::handshake::{
    Greeting, Response, CLIENT_DEPRECATE_EOF, CLIENT_SSL, PASSED_CAPABILITIES,
    REQUIRED_CAPABILITIES,
};
use crate::sql::rules::Rules;
use crate::tls::{Io, Target};
use crate::{Login, StatementSink, TargetSocket};
use tokio::io::{AsyncRead, AsyncWrite};

/// Capabilities offered on the native port.
pub const NATIVE_CAPABILITIES: u32 = PASSED_CAPABILITIES & !CLIENT_DEPRECATE_EOF & !(1 << 23);

/// The version the gateway greets with.
const SERVER_VERSION: &[u8] = b"5.7.99-Portunus";

/// A client greeted on the native port, its login read and not yet answered.
pub struct Greeted<C> {
    client: Side<C>,
    /// The user name the client gave.
    pub user: String,
    /// The scramble the gateway sent.
    pub scramble: Vec<u8>,
    /// The client's `mysql_native_password` answer.
    pub answer: Vec<u8>,
    response: Response,
    /// Sequence number of the gateway's next packet to the client.
    seq: u8,
}

/// TLS on the native port, as far as [`greet`] is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tls {
    /// Whether the gateway can run a TLS handshake (it then offers `CLIENT_SSL`).
    pub offered: bool,
    /// Whether a login without TLS is refused.
    pub required: bool,
}

/// What a greeted client answered.
pub enum Greet<C> {
    /// It asked for TLS: the caller runs the handshake on `stream` and calls [`resume`].
    /// Clients start the handshake right after their SSL request, without an answer, so its
    /// first bytes may have been read with the request: `stream` gives them back first.
    Tls { stream: Rewound<C>, resume: Resume },
    /// Its login, to check.
    Login(Box<Greeted<C>>),
}

/// Where a login stands while the client's TLS handshake runs.
pub struct Resume {
    scramble: Vec<u8>,
    /// Sequence number of the client's next packet.
    seq: u8,
}

/// Greets a client and reads its login, switching it to `mysql_native_password` if it chose
/// another method. Fails (after telling the client) on malformed logins, and on logins without
/// TLS when TLS is required.
pub async fn greet<C>(client: C, connection_id: u32, tls: Tls) -> Result<Greet<C>, SessionError>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    match tokio::time::timeout(LOGIN_TIMEOUT, greet_inner(client, connection_id, tls)).await {
        Ok(r) => r,
        Err(_) => Err(SessionError::LoginTimeout(LOGIN_TIMEOUT)),
    }
}

/// Reads the login a client sends over TLS after [`Greet::Tls`].
pub async fn resume<C>(client: C, resume: Resume) -> Result<Greeted<C>, SessionError>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let mut client = Side::new(client);
    let login = async {
        let Some((seq, answer)) = client.read_packet(MAX_REQUEST).await? else {
            return Err(SessionError::Client("left during the TLS login".into()));
        };
        if seq != resume.seq {
            return Err(SessionError::Client(format!(
                "sent its login as packet {seq}, expected {}",
                resume.seq
            )));
        }
        read_login(&mut client, resume.scramble, seq, answer).await
    };
    let (response, seq, scramble) = match tokio::time::timeout(LOGIN_TIMEOUT, login).await {
        Ok(r) => r?,
        Err(_) => return Err(SessionError::LoginTimeout(LOGIN_TIMEOUT)),
    };
    Ok(greeted(client, response, seq, scramble))
}

async fn greet_inner<C>(client: C, connection_id: u32, tls: Tls) -> Result<Greet<C>, SessionError>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let mut client = Side::new(client);
    let scramble = scramble();
    let ssl = if tls.offered { CLIENT_SSL } else { 0 };
    let greeting = Greeting {
        server_version: SERVER_VERSION.to_vec(),
        connection_id,
        scramble: scramble.clone(),
        capabilities: NATIVE_CAPABILITIES | ssl,
        charset: 45, // utf8mb4_general_ci
        status: 2,   // autocommit
        auth_plugin: b"mysql_native_password".to_vec(),
    };
    client.write_packet(&greeting.build(), 0).await?;
    let Some((seq, answer)) = client.read_packet(MAX_REQUEST).await? else {
        return Err(SessionError::Client("left before logging in".into()));
    };
    if Response::is_ssl_request(&answer) {
        if !tls.offered {
            let words =
                "TLS is not offered on this port: connect without SSL, or through the SSH tunnel";
            refuse(&mut client, seq.wrapping_add(1), 1045, "08004", words).await;
            return Err(SessionError::Client("asked for TLS".into()));
        }
        // What followed the SSL request is the start of the TLS handshake: it goes to the TLS
        // layer, which takes only TLS records (never plain text as if it were protected).
        let (stream, early) = client.into_parts();
        let stream = Rewound {
            early,
            at: 0,
            inner: stream,
        };
        let resume = Resume {
            scramble,
            seq: seq.wrapping_add(1),
        };
        return Ok(Greet::Tls { stream, resume });
    }
    if tls.required {
        let words = "this bastion requires TLS on its MySQL port: connect with --ssl-mode=REQUIRED (or VERIFY_CA)";
        refuse(&mut client, seq.wrapping_add(1), 1045, "08004", words).await;
        return Err(SessionError::Client("did not use TLS".into()));
    }
    let (response, seq, scramble) = read_login(&mut client, scramble, seq, answer).await?;
    Ok(Greet::Login(Box::new(greeted(
        client, response, seq, scramble,
    ))))
}

/// The client's login from its HandshakeResponse (`answer`, packet `seq`), with its answer to
/// an AuthSwitchRequest when it chose another method than `mysql_native_password`; and the
/// sequence number of the gateway's next packet.
async fn read_login<C>(
    client: &mut Side<C>,
    scramble: Vec<u8>,
    seq: u8,
    answer: Vec<u8>,
) -> Result<(Response, u8, Vec<u8>), SessionError>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let mut response = Response::parse(&answer)?;
    let mut seq = seq.wrapping_add(1);
    let native = response
        .auth_plugin
        .as_deref()
        .is_none_or(|p| p == b"mysql_native_password");
    if !native {
        // AuthSwitchRequest: 0xfe, the method, the scramble (NUL-terminated).
        let mut switch = vec![0xfe];
        switch.extend_from_slice(b"mysql_native_password\0");
        switch.extend_from_slice(&scramble);
        switch.push(0);
        client.write_packet(&switch, seq).await?;
        let Some((s, again)) = client.read_packet(MAX_REQUEST).await? else {
            return Err(SessionError::Client("left during the login".into()));
        };
        response.auth = again;
        seq = s.wrapping_add(1);
    }
    Ok((response, seq, scramble))
}

fn greeted<C>(client: Side<C>, response: Response, seq: u8, scramble: Vec<u8>) -> Greeted<C> {
    Greeted {
        client,
        user: String::from_utf8_lossy(&response.user).into_owned(),
        scramble,
        answer: response.auth.clone(),
        response,
        seq,
    }
}

impl<C: AsyncRead + AsyncWrite + Unpin> Greeted<C> {
    /// The client's connection (to duplicate its descriptor for a [`Passage`]).
    pub fn stream(&mut self) -> &mut C {
        self.client.io_mut()
    }

    /// Refuses the login with `message` (ERR 1045, as a wrong password).
    pub async fn refuse(mut self, message: &str) {
        refuse(&mut self.client, self.seq, 1045, "28000", message).await;
    }

    /// Logs in to `target` as `login` says (a hosted password is required here: the client
    /// never typed the database's) and relays the session to its end. `threads` learns the
    /// target's thread id and translates the `KILL`s the client sends.
    pub async fn serve<T>(
        mut self,
        target: T,
        socket: TargetSocket<'_>,
        login: &Login,
        threads: &dyn Threads,
        sink: &dyn StatementSink,
    ) -> Result<(), SessionError>
    where
        T: Io,
    {
        let Some(password) = login.password.clone() else {
            let words = format!(
                "The database account '{}' has no hosted password: on this port the bastion logs in for you, so use the SSH tunnel to type your own",
                login.account
            );
            refuse(&mut self.client, self.seq, 1045, "28000", &words).await;
            return Err(SessionError::Client(words));
        };
        let mut target = Side::gathered(Target::Plain(target), socket.gather);
        let logged_in = self.log_in(&mut target, login, password);
        let (database, thread) = match tokio::time::timeout(LOGIN_TIMEOUT, logged_in).await {
            Ok(done) => done?,
            Err(_) => {
                let words = "the database did not complete the login in time";
                refuse(&mut self.client, self.seq, 1429, "HY000", words).await;
                return Err(SessionError::LoginTimeout(LOGIN_TIMEOUT));
            }
        };
        threads.connected(thread);
        let mut guard = Guard {
            rules: Rules::new(&login.rules, login.allow_unreadable),
            database,
            threads: Some(threads),
        };
        let mut answers = Answers::after_login(socket.passage, &mut target);
        relay(
            &mut self.client,
            &mut target,
            &mut answers,
            false,
            &mut guard,
            sink,
        )
        .await
    }

    /// The target's greeting, TLS when it offers it, and the hosted login; the database
    /// selected and the target's thread id.
    async fn log_in<'a, T: Io + 'a>(
        &mut self,
        target: &mut Side<Target<'a, T>>,
        login: &Login,
        password: crate::Secret,
    ) -> Result<(Option<String>, u32), SessionError> {
        let Some((_, greeting)) = target.read_packet(MAX_REQUEST).await? else {
            return Err(SessionError::TargetClosed);
        };
        let greeting = match Greeting::parse(&greeting) {
            Ok(g) => g,
            Err(e) => {
                refuse(&mut self.client, self.seq, 1429, "HY000", &e.to_string()).await;
                return Err(e.into());
            }
        };
        let caps = self.response.capabilities & NATIVE_CAPABILITIES;
        let missing = caps & !greeting.capabilities & !1;
        if greeting.capabilities & REQUIRED_CAPABILITIES != REQUIRED_CAPABILITIES {
            let words = "the database does not speak protocol 4.1 with secure authentication";
            refuse(&mut self.client, self.seq, 1429, "HY000", words).await;
            return Err(SessionError::Client(words.into()));
        }
        let mut response = self.response.clone();
        response.capabilities = caps & greeting.capabilities | REQUIRED_CAPABILITIES;
        if missing != 0 {
            tracing::debug!(
                missing = format!("{missing:#x}"),
                "mysql: the target lacks capabilities the client took"
            );
        }
        response.user = login.account.as_bytes().to_vec();
        if response.database.is_none() {
            response.database = login
                .default_database
                .as_ref()
                .map(|d| d.as_bytes().to_vec());
        }
        let database = response
            .database
            .as_ref()
            .map(|d| String::from_utf8_lossy(d).into_owned());
        let first = match first_after_tls(target, &greeting, &mut response, login).await {
            Ok(first) => first,
            Err(e) => {
                refuse(&mut self.client, self.seq, 1045, "28000", &e.to_string()).await;
                return Err(e);
            }
        };
        let tls = first == 2;
        let mut auth = TargetAuth::new(password, &greeting.auth_plugin, &greeting.scramble, tls);
        response.auth = match auth.response() {
            Ok(a) => a,
            Err(e) => {
                let words = target_login_words(&login.account, &e);
                refuse(&mut self.client, self.seq, 1045, "28000", &words).await;
                return Err(e.into());
            }
        };
        response.auth_plugin = Some(auth.plugin().to_vec());
        let account = login.account.clone();
        hosted_login(
            &mut self.client,
            target,
            &mut auth,
            (response, first),
            self.seq,
            &account,
        )
        .await?;
        Ok((database, greeting.connection_id))
    }
}

/// A stream some of whose first bytes were read already: they are read again first.
pub struct Rewound<C> {
    early: Vec<u8>,
    at: usize,
    inner: C,
}

impl<C: AsyncRead + Unpin> AsyncRead for Rewound<C> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.at < this.early.len() {
            let n = (this.early.len() - this.at).min(buf.remaining());
            buf.put_slice(&this.early[this.at..this.at + n]);
            this.at += n;
            return std::task::Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<C: AsyncWrite + Unpin> AsyncWrite for Rewound<C> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
