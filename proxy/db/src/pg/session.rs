//! The async driver of one PostgreSQL session: the login on both sides, then the client's
//! messages relayed to the target (checked against the SQL rules) while the target's replies
//! flow back as they come, each statement audited when its reply ends.
//!
//! The client is refused TLS (`N` to SSLRequest and GSSENCRequest: the SSH tunnel encrypts)
//! and replication connections, and must log in as the session's database account. With a
//! hosted password the gateway tells the client `AuthenticationOk` itself (the engineer proved
//! who he is to the bastion; no password is asked) and answers the target's password request
//! ([`super::auth`]). Without one, the authentication exchange is relayed unchanged.

mod io;
pub mod native;
mod pending;
mod relay;

use super::auth::{AuthError, Next, Request, TargetAuth};
use super::wire::{self, message, Startup, WireError, PROTOCOL_3};
use crate::gather::Gather;
use crate::tls::{Io, Target};
use crate::{Login, StatementSink};
use io::{send, Side};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

/// The longest client message the gateway reads (PostgreSQL's own limit is 1 GiB).
pub const MAX_REQUEST: usize = 64 << 20;

/// How long both logins together may take.
pub const LOGIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Why a session ended other than by the client's Terminate or hang-up.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Wire(#[from] WireError),
    #[error("{0}")]
    Auth(#[from] AuthError),
    #[error("the client {0}")]
    Client(String),
    #[error("the database closed the connection")]
    TargetClosed,
    #[error("the login did not complete within {0:?}")]
    LoginTimeout(std::time::Duration),
    #[error("TLS to the database: {0}")]
    TargetTls(String),
}

/// Switches the connection to the target to TLS first thing (an SSLRequest) when the session
/// uses TLS; a target that answers `N` is used in the clear unless TLS is required. On an
/// error the client is told why.
async fn switch_to_tls<'a, T, CW>(
    target: T,
    login: &Login,
    client_w: &mut CW,
) -> Result<Target<'a, T>, SessionError>
where
    T: Io + 'a,
    CW: AsyncWrite + Unpin,
{
    let mut target = Target::Plain(target);
    let Some(tls) = &login.tls else {
        return Ok(target);
    };
    let switched = async {
        send(&mut target, &Startup::Ssl.build()).await?;
        let mut answer = [0u8; 1];
        // Exactly one byte: whatever follows an `S` belongs to the TLS handshake.
        target.read_exact(&mut answer).await?;
        match answer[0] {
            b'S' => {
                let done = target.switch(&*tls.connector).await;
                done.map_err(|e| SessionError::TargetTls(format!("the handshake failed: {e}")))
            }
            b'N' if tls.required => Err(SessionError::TargetTls(crate::tls::NOT_OFFERED.into())),
            b'N' => Ok(()),
            _ => Err(SessionError::TargetTls(
                "the database answered the TLS request with neither S nor N".into(),
            )),
        }
    };
    let outcome = match tokio::time::timeout(LOGIN_TIMEOUT, switched).await {
        Ok(r) => r,
        Err(_) => Err(SessionError::LoginTimeout(LOGIN_TIMEOUT)),
    };
    if let Err(e) = outcome {
        let words = match &e {
            SessionError::LoginTimeout(_) => {
                "the database did not answer the TLS request in time (is it a PostgreSQL server?)"
                    .to_string()
            }
            e => e.to_string(),
        };
        let _ = send(client_w, &wire::fatal("08006", &words)).await;
        return Err(e);
    }
    Ok(target)
}

/// Runs a session between `client` and `target` until either side ends it.
pub async fn run<C, T>(
    client: C,
    target: T,
    gather: Option<Box<dyn Gather>>,
    login: &Login,
    sink: &dyn StatementSink,
) -> Result<(), SessionError>
where
    C: AsyncRead + AsyncWrite + Unpin,
    T: Io,
{
    let (client_r, mut client_w) = tokio::io::split(client);
    let target = switch_to_tls(target, login, &mut client_w).await?;
    let (target_r, mut target_w) = tokio::io::split(target);
    let (mut client_r, mut target_r) = (Side::new(client_r), Side::new(target_r));
    let logged_in = tokio::time::timeout(
        LOGIN_TIMEOUT,
        login_both(
            &mut client_r,
            &mut client_w,
            &mut target_r,
            &mut target_w,
            login,
        ),
    );
    let database = match logged_in.await {
        Ok(Ok(Some(database))) => database,
        Ok(Ok(None)) => return Ok(()),
        Err(_) => {
            let words =
                "the database did not complete the login in time (is it a PostgreSQL server?)";
            let _ = send(&mut client_w, &wire::fatal("08006", words)).await;
            return Err(SessionError::LoginTimeout(LOGIN_TIMEOUT));
        }
        Ok(Err(e)) => {
            tracing::info!(error = %e, account = %login.account, "postgres: login failed");
            return Err(e);
        }
    };
    let guard = relay::Guard::new(login, database);
    let target_r = relay::Answers::new(target_r, None, gather);
    relay::relay(client_r, client_w, target_r, target_w, &guard, false, sink).await
}

/// Both logins; the database the session uses, or None when the client only cancelled a
/// query (its cancel request was passed on).
async fn login_both<CR, CW, TR, TW>(
    client: &mut Side<CR>,
    client_w: &mut CW,
    target: &mut Side<TR>,
    target_w: &mut TW,
    login: &Login,
) -> Result<Option<String>, SessionError>
where
    CR: AsyncRead + Unpin,
    CW: AsyncWrite + Unpin,
    TR: AsyncRead + Unpin,
    TW: AsyncWrite + Unpin,
{
    let startup = loop {
        let Some(body) = client.read_startup().await? else {
            return Err(SessionError::Client("left before logging in".into()));
        };
        match Startup::parse(&body)? {
            // No TLS here: the SSH tunnel encrypts; the client goes on in the clear.
            Startup::Ssl | Startup::GssEnc => send(client_w, b"N").await?,
            cancel @ Startup::Cancel { .. } => {
                send(target_w, &cancel.build()).await?;
                return Ok(None);
            }
            s => break s,
        }
    };
    let Startup::Startup { version, params } = &startup else {
        return Err(WireError::Malformed("a startup packet").into());
    };
    if let Some(words) = startup_refusal(&startup) {
        return refuse(client_w, "0A000", words).await;
    }
    match startup.param("user") {
        Some(u) if u == login.account => {}
        Some(u) => {
            let words = format!(
                "Access denied: this session is for the database account '{}', not '{u}'",
                login.account
            );
            return refuse(client_w, "28000", words).await;
        }
        None => {
            let words = "no PostgreSQL user name specified in startup packet".to_string();
            return refuse(client_w, "28000", words).await;
        }
    }
    let database = (startup.param("database").map(str::to_string))
        .or_else(|| login.default_database.clone())
        .unwrap_or_else(|| login.account.clone());
    negotiate(client_w, *version, params).await?;
    send(target_w, &target_startup(params, &login.account, &database)).await?;
    match &login.password {
        Some(password) => hosted_login(target, target_w, client_w, login, password).await?,
        None => relay_login(client, client_w, target, target_w).await?,
    }
    Ok(Some(database))
}

/// Why a startup packet is refused on either port (SQLSTATE 0A000), if it is.
fn startup_refusal(startup: &Startup) -> Option<String> {
    let Startup::Startup { version, .. } = startup else {
        return Some("expected a startup packet".into());
    };
    if version >> 16 != 3 {
        return Some(format!(
            "unsupported frontend protocol {}.{}: the bastion speaks 3.0",
            version >> 16,
            version & 0xffff
        ));
    }
    let replication = startup.param("replication").unwrap_or("false");
    if !matches!(replication, "false" | "off" | "0" | "no") {
        return Some("replication connections are not relayed by the bastion".into());
    }
    None
}

/// The bastion speaks 3.0: a newer minor version and protocol options (`_pq_.`) are declined
/// with NegotiateProtocolVersion.
async fn negotiate<W: AsyncWrite + Unpin>(
    client_w: &mut W,
    version: i32,
    params: &[(String, String)],
) -> std::io::Result<()> {
    if version == PROTOCOL_3 {
        return Ok(());
    }
    let options: Vec<&String> = params
        .iter()
        .map(|(n, _)| n)
        .filter(|n| n.starts_with("_pq_."))
        .collect();
    let mut body = 0i32.to_be_bytes().to_vec();
    body.extend_from_slice(&(options.len() as i32).to_be_bytes());
    for o in &options {
        body.extend_from_slice(o.as_bytes());
        body.push(0);
    }
    send(client_w, &message(b'v', &body)).await
}

/// The target's startup packet: the client's parameters, as `account` on `database`.
fn target_startup(params: &[(String, String)], account: &str, database: &str) -> Vec<u8> {
    let mut forwarded = vec![
        ("user".to_string(), account.to_string()),
        ("database".to_string(), database.to_string()),
    ];
    forwarded.extend(
        params
            .iter()
            .filter(|(n, _)| !n.starts_with("_pq_.") && n != "database" && n != "user")
            .cloned(),
    );
    Startup::Startup {
        version: PROTOCOL_3,
        params: forwarded,
    }
    .build()
}

/// The target login with the hosted password; the client is told AuthenticationOk when it
/// succeeds and why not (FATAL) when it fails.
async fn hosted_login<TR, TW, CW>(
    target: &mut Side<TR>,
    target_w: &mut TW,
    client_w: &mut CW,
    login: &Login,
    password: &crate::Secret,
) -> Result<(), SessionError>
where
    TR: AsyncRead + Unpin,
    TW: AsyncWrite + Unpin,
    CW: AsyncWrite + Unpin,
{
    let mut auth = TargetAuth::new(&login.account, password.clone());
    if let Err(e) = target_auth(target, target_w, &mut auth).await {
        let words = format!("Access denied: the bastion could not log in to the database as '{}' with the hosted credential: {e}", login.account);
        let _ = send(client_w, &wire::fatal("28000", &words)).await;
        return Err(e);
    }
    Ok(send(client_w, &wire::auth_ok()).await?)
}

/// The target login with the hosted password, up to its AuthenticationOk.
async fn target_auth<TR, TW>(
    target: &mut Side<TR>,
    target_w: &mut TW,
    auth: &mut TargetAuth,
) -> Result<(), SessionError>
where
    TR: AsyncRead + Unpin,
    TW: AsyncWrite + Unpin,
{
    loop {
        let Some((tag, body)) = target.read_message(MAX_REQUEST).await? else {
            return Err(SessionError::TargetClosed);
        };
        // A newer server's answer to protocol options: nothing to do at 3.0.
        if tag == b'v' {
            continue;
        }
        match auth.on_message(tag, &body)? {
            Next::Send(bytes) => send(target_w, &bytes).await?,
            Next::Read => {}
            Next::Done => return Ok(()),
        }
    }
}

/// The client's own login relayed: each request of the target to the client, each answer
/// back, up to the target's AuthenticationOk (relayed too) or error.
async fn relay_login<CR, CW, TR, TW>(
    client: &mut Side<CR>,
    client_w: &mut CW,
    target: &mut Side<TR>,
    target_w: &mut TW,
) -> Result<(), SessionError>
where
    CR: AsyncRead + Unpin,
    CW: AsyncWrite + Unpin,
    TR: AsyncRead + Unpin,
    TW: AsyncWrite + Unpin,
{
    loop {
        let Some((tag, body)) = target.read_message(MAX_REQUEST).await? else {
            return Err(SessionError::TargetClosed);
        };
        send(client_w, &message(tag, &body)).await?;
        let answer_wanted = match tag {
            b'R' => match Request::parse(&body)? {
                Request::Ok => return Ok(()),
                Request::SaslFinal(_) => false,
                _ => true,
            },
            b'E' => {
                let fields = wire::Fields::parse(&body)?;
                return Err(AuthError::Refused(fields).into());
            }
            _ => false,
        };
        if answer_wanted {
            let Some((tag, body)) = client.read_message(MAX_REQUEST).await? else {
                return Err(SessionError::Client("left during the login".into()));
            };
            send(target_w, &message(tag, &body)).await?;
        }
    }
}

/// Tells the client why its login is refused (a FATAL error), and ends the session.
async fn refuse<W: AsyncWrite + Unpin, X>(
    client_w: &mut W,
    code: &str,
    words: String,
) -> Result<X, SessionError> {
    let _ = send(client_w, &wire::fatal(code, &words)).await;
    Err(SessionError::Client(words))
}
