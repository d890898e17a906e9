//! The async driver of one MySQL session: the login on both sides, then each client request
//! relayed, its answer forwarded as it comes (scanned, not decoded), and the statement audited.
//!
//! With a hosted password the gateway greets the client itself, accepts whatever password the
//! client sends (the engineer already proved who he is to the bastion) and logs in to the target
//! with the hosted password ([`super::auth`]). Without one, the target's greeting and the whole
//! authentication exchange are relayed unchanged (the engineer types the database password),
//! with only the capabilities trimmed to what the gateway follows. Either way the client must
//! log in as the session's database account.

mod io;
pub mod native;

use super::auth::{AuthError, Next, TargetAuth};
use super::command::{
    Answer, Request, Statements, COM_INIT_DB, COM_QUERY, COM_QUIT, COM_STMT_PREPARE,
};
use super::handshake::{
    Greeting, Response, CLIENT_DEPRECATE_EOF, CLIENT_SSL, PASSED_CAPABILITIES,
    REQUIRED_CAPABILITIES,
};
use super::scan::{Progress, Scan};
use super::wire::{err_payload, WireError};
use crate::gather::{batched, Gather};
use crate::passage::Passage;
use crate::sql::rules::Rules;
use crate::tls::{Io, Target};
use crate::{Login, Outcome, Statement, StatementSink};
use io::Side;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite};

/// The longest client request the gateway reads (the target's own limit is usually lower).
pub const MAX_REQUEST: usize = 64 << 20;

/// How long both logins together may take: a target that never greets (it is not a MySQL
/// server) or a client that never answers does not hold a session open.
pub const LOGIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Why a session ended other than by the client's `COM_QUIT` or hang-up.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Wire(#[from] WireError),
    #[error("{0}")]
    Greeting(#[from] super::handshake::GreetingError),
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
    let mut client = Side::new(client);
    let mut target = Side::gathered(Target::Plain(target), gather);
    let logged_in =
        tokio::time::timeout(LOGIN_TIMEOUT, login_both(&mut client, &mut target, login));
    let (caps, database) = match logged_in.await {
        Ok(Ok(done)) => done,
        Err(_) => {
            let words = "the database did not complete the login in time (is it a MySQL server?)";
            refuse(&mut client, 0, 1429, "HY000", words).await;
            return Err(SessionError::LoginTimeout(LOGIN_TIMEOUT));
        }
        Ok(Err(e)) => {
            tracing::info!(error = %e, account = %login.account, "mysql: login failed");
            return Err(e);
        }
    };
    let mut guard = Guard {
        rules: Rules::new(&login.rules, login.allow_unreadable),
        database,
        threads: None,
    };
    let deprecate_eof = caps & CLIENT_DEPRECATE_EOF != 0;
    let mut answers = Answers::Read;
    relay(
        &mut client,
        &mut target,
        &mut answers,
        deprecate_eof,
        &mut guard,
        sink,
    )
    .await
}

/// How the target's answers reach the client: read and written here, or through a
/// [`Passage`] that moves them outside the session (this side then only scans a copy).
enum Answers<'p> {
    Read,
    Passed {
        passage: Box<dyn Passage + 'p>,
        /// The copy of what the passage holds and has not delivered yet.
        copy: Vec<u8>,
    },
}

impl<'p> Answers<'p> {
    /// The passage, when the session can use it: the target's connection stayed plain (a
    /// passage moves raw bytes) and nothing of it is buffered here.
    fn after_login<'t, T: Io + 't>(
        passage: Option<Box<dyn Passage + 'p>>,
        target: &mut Side<Target<'t, T>>,
    ) -> Answers<'p> {
        match passage {
            Some(passage) if !target.io_mut().is_tls() && target.buffered().is_empty() => {
                Answers::Passed {
                    passage,
                    copy: Vec::new(),
                }
            }
            _ => Answers::Read,
        }
    }
}

/// The session's SQL rules and its current database (for unqualified table names).
struct Guard<'a> {
    rules: Rules,
    database: Option<String>,
    /// On the native port: the gateway's connection ids the client knows, as the target's.
    threads: Option<&'a dyn Threads>,
}

/// The connection ids of the native port's sessions: the client was greeted with the gateway's
/// id, not the target's thread id, so a `KILL` naming one is translated (or refused) before it
/// reaches a database.
pub trait Threads: Send + Sync {
    /// This session's connection to the target is the target's thread `thread`.
    fn connected(&self, thread: u32);
    /// The target's thread id of the session the client knows as `id`, if this client may
    /// kill it there; else the MySQL error (code, words). The session may be another node's,
    /// so the answer may take a round trip: the session awaits it before sending the `KILL`.
    fn thread(&self, id: u64) -> ThreadLookup<'_>;
}

/// The answer of [`Threads::thread`].
pub type ThreadLookup<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64, (u16, String)>> + Send + 'a>>;

/// A `KILL [QUERY | CONNECTION] <id>` statement: whether it kills only the query, and the id.
pub fn parse_kill(sql: &str) -> Option<(bool, u64)> {
    let sql = sql.trim().trim_end_matches(';').trim_end();
    let mut words = sql.split_ascii_whitespace();
    if !words.next()?.eq_ignore_ascii_case("kill") {
        return None;
    }
    let mut word = words.next()?;
    let mut query = false;
    if word.eq_ignore_ascii_case("query") {
        query = true;
        word = words.next()?;
    } else if word.eq_ignore_ascii_case("connection") {
        word = words.next()?;
    }
    let id = word.parse().ok()?;
    words.next().is_none().then_some((query, id))
}

/// `COM_PROCESS_KILL`: the protocol's own kill, of a connection id.
const COM_PROCESS_KILL: u8 = 0x0c;

/// What a client on the native port reads when it sends a `KILL` the gateway cannot translate.
const KILL_FORMS: &str = "the bastion passes KILL only as KILL [QUERY | CONNECTION] <connection id> alone in a request (the id your client was greeted with)";

/// Whether any statement of `sql` is a `KILL` (an unreadable text that mentions the word
/// counts as one).
fn kills(sql: &str) -> bool {
    match crate::sql::split(sql) {
        Ok(statements) => statements
            .iter()
            .any(|s| crate::sql::shape(s).is_ok_and(|shape| shape.verb == "KILL")),
        Err(_) => sql.to_ascii_uppercase().contains("KILL"),
    }
}

impl Guard<'_> {
    /// The request as it goes to the target: a kill of a connection id the client knows (the
    /// statement `KILL [QUERY | CONNECTION] <id>`, or `COM_PROCESS_KILL`) turned into the
    /// target's thread id, or the error to answer instead (also for a `KILL` in any other
    /// form, which the gateway cannot translate); None when the request goes unchanged.
    async fn translate(
        &self,
        request: &Request,
        payload: &[u8],
    ) -> Option<Result<Vec<u8>, (u16, String)>> {
        let threads = self.threads?;
        match request.command {
            COM_PROCESS_KILL => {
                let id = payload.get(1..5)?;
                let id = u32::from_le_bytes([id[0], id[1], id[2], id[3]]);
                Some(threads.thread(u64::from(id)).await.map(|thread| {
                    let mut payload = vec![COM_PROCESS_KILL];
                    payload.extend_from_slice(&(thread as u32).to_le_bytes());
                    payload
                }))
            }
            COM_QUERY => match parse_kill(&request.text) {
                Some((query, id)) => Some(threads.thread(id).await.map(|thread| {
                    let what = if query { "QUERY" } else { "CONNECTION" };
                    let mut payload = vec![COM_QUERY];
                    payload.extend_from_slice(format!("KILL {what} {thread}").as_bytes());
                    payload
                })),
                None if kills(&request.text) => Some(Err((1227, KILL_FORMS.to_string()))),
                None => None,
            },
            COM_STMT_PREPARE if kills(&request.text) => Some(Err((1227, KILL_FORMS.to_string()))),
            _ => None,
        }
    }

    /// Why the request may not run, if it may not.
    fn check(&self, request: &Request) -> Option<String> {
        let sql = match request.command {
            COM_QUERY | COM_STMT_PREPARE => request.text.as_str(),
            _ => return None,
        };
        let blocked = self.rules.check(sql, self.database.as_deref()).err()?;
        Some(format!("rule '{}': {}", blocked.rule, blocked.reason))
    }

    /// Follows the current database through `USE` and `COM_INIT_DB` that succeeded.
    fn follow(&mut self, request: &Request) {
        let db = match request.command {
            COM_INIT_DB => Some(request.text.trim().to_string()),
            COM_QUERY => {
                let t = request.text.trim().trim_end_matches(';').trim();
                let word = t.get(..4).filter(|w| w.eq_ignore_ascii_case("use "));
                word.map(|_| t[4..].trim().trim_matches('`').to_string())
            }
            _ => None,
        };
        if let Some(db) = db.filter(|d| !d.is_empty()) {
            self.database = Some(db);
        }
    }
}

/// Both logins; the capabilities in force afterwards and the database selected.
async fn login_both<'a, C, T>(
    client: &mut Side<C>,
    target: &mut Side<Target<'a, T>>,
    login: &Login,
) -> Result<(u32, Option<String>), SessionError>
where
    C: AsyncRead + AsyncWrite + Unpin,
    T: Io + 'a,
{
    let Some((_, greeting)) = target.read_packet(MAX_REQUEST).await? else {
        return Err(SessionError::TargetClosed);
    };
    let greeting = match Greeting::parse(&greeting) {
        Ok(g) => g,
        Err(e) => {
            refuse(client, 0, 1429, "HY000", &e.to_string()).await;
            return Err(e.into());
        }
    };
    if greeting.capabilities & REQUIRED_CAPABILITIES != REQUIRED_CAPABILITIES {
        let why = "the database does not speak protocol 4.1 with secure authentication";
        refuse(client, 0, 1429, "HY000", why).await;
        return Err(SessionError::Client(why.into()));
    }
    let offered = greeting.capabilities & PASSED_CAPABILITIES;
    let ours = Greeting {
        capabilities: offered,
        scramble: match &login.password {
            Some(_) => scramble(),
            None => greeting.scramble.clone(),
        },
        auth_plugin: match &login.password {
            Some(_) => b"mysql_native_password".to_vec(),
            None => greeting.auth_plugin.clone(),
        },
        ..greeting.clone()
    };
    client.write_packet(&ours.build(), 0).await?;
    let Some((seq, answer)) = client.read_packet(MAX_REQUEST).await? else {
        return Err(SessionError::Client("left during the login".into()));
    };
    if Response::is_ssl_request(&answer) {
        let why = "asked for TLS, which this port does not offer (the SSH tunnel encrypts it)";
        refuse(client, seq.wrapping_add(1), 1045, "08004", "TLS is not offered here: connect without SSL (--ssl-mode=DISABLED); the SSH tunnel encrypts the connection").await;
        return Err(SessionError::Client(why.into()));
    }
    let mut response = Response::parse(&answer)?;
    if !response.user.is_empty() && response.user != login.account.as_bytes() {
        let message = format!(
            "Access denied: this session is for the database account '{}', not '{}'",
            login.account,
            String::from_utf8_lossy(&response.user)
        );
        refuse(client, seq.wrapping_add(1), 1045, "28000", &message).await;
        return Err(SessionError::Client(message));
    }
    let caps = response.capabilities & offered | REQUIRED_CAPABILITIES;
    response.capabilities = caps;
    response.user = login.account.as_bytes().to_vec();
    if response.database.is_none() {
        response.database = login
            .default_database
            .as_ref()
            .map(|d| d.as_bytes().to_vec());
    }
    let database = (response.database.as_ref()).map(|d| String::from_utf8_lossy(d).into_owned());
    // The login to the target starts at sequence 1, or 2 after a switch to TLS.
    let first = match first_after_tls(target, &greeting, &mut response, login).await {
        Ok(first) => first,
        Err(e) => {
            refuse(client, seq.wrapping_add(1), 1045, "28000", &e.to_string()).await;
            return Err(e);
        }
    };
    match &login.password {
        Some(password) => {
            let mut auth = TargetAuth::new(
                password.clone(),
                &greeting.auth_plugin,
                &greeting.scramble,
                first == 2,
            );
            response.auth = match auth.response() {
                Ok(a) => a,
                Err(e) => {
                    refuse(
                        client,
                        seq.wrapping_add(1),
                        1045,
                        "28000",
                        &target_login_words(&login.account, &e),
                    )
                    .await;
                    return Err(e.into());
                }
            };
            response.auth_plugin = Some(auth.plugin().to_vec());
            hosted_login(
                client,
                target,
                &mut auth,
                (response, first),
                seq.wrapping_add(1),
                &login.account,
            )
            .await?;
        }
        None => relay_login(client, target, response, first - 1).await?,
    }
    Ok((caps, database))
}

/// Switches to TLS as [`switch_to_tls`] does; the sequence number the login to the target
/// starts at (2 after the SSL request, else 1), with `CLIENT_SSL` set in `response` if so.
async fn first_after_tls<'a, T: Io + 'a>(
    target: &mut Side<Target<'a, T>>,
    greeting: &Greeting,
    response: &mut Response,
    login: &Login,
) -> Result<u8, SessionError> {
    if switch_to_tls(target, greeting, response, login).await? {
        response.capabilities |= CLIENT_SSL;
        return Ok(2);
    }
    Ok(1)
}

/// Switches the connection to the target to TLS when the session uses TLS and the target
/// offers it (after its greeting, before the login); whether it did. A target that offers no
/// TLS when it is required is an error.
async fn switch_to_tls<'a, T: Io + 'a>(
    target: &mut Side<Target<'a, T>>,
    greeting: &Greeting,
    response: &Response,
    login: &Login,
) -> Result<bool, SessionError> {
    let Some(tls) = &login.tls else {
        return Ok(false);
    };
    if greeting.capabilities & CLIENT_SSL == 0 {
        return match tls.required {
            true => Err(SessionError::TargetTls(crate::tls::NOT_OFFERED.into())),
            false => Ok(false),
        };
    }
    if !target.buffered().is_empty() {
        let why = "the database sent data before the switch to TLS";
        return Err(SessionError::TargetTls(why.into()));
    }
    target.write_packet(&response.ssl_request(), 1).await?;
    let switched = target.io_mut().switch(&*tls.connector).await;
    switched.map_err(|e| SessionError::TargetTls(format!("the handshake failed: {e}")))?;
    Ok(true)
}

/// The target login with the hosted password, then the client's OK (sequence `client_seq`).
async fn hosted_login<C, T>(
    client: &mut Side<C>,
    target: &mut Side<T>,
    auth: &mut TargetAuth,
    (response, first): (Response, u8),
    client_seq: u8,
    account: &str,
) -> Result<(), SessionError>
where
    C: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mut seq = target.write_packet(&response.build(), first).await?;
    loop {
        let Some((s, p)) = target.read_packet(MAX_REQUEST).await? else {
            return Err(SessionError::TargetClosed);
        };
        match auth.on_packet(&p) {
            Ok(Next::Send(data)) => seq = target.write_packet(&data, s.wrapping_add(1)).await?,
            Ok(Next::Read) => {}
            Ok(Next::Done(ok)) => {
                client.write_packet(&ok, client_seq).await?;
                let _ = seq;
                return Ok(());
            }
            Err(e) => {
                refuse(
                    client,
                    client_seq,
                    1045,
                    "28000",
                    &target_login_words(account, &e),
                )
                .await;
                return Err(e.into());
            }
        }
    }
}

/// What the engineer reads when the bastion's login to the target fails.
fn target_login_words(account: &str, e: &AuthError) -> String {
    format!("Access denied: the bastion could not log in to the database as '{account}' with the hosted credential: {e}")
}

/// The client's own login relayed: the login, then every packet of the exchange either way
/// until the target's OK or ERR, which is relayed too. The target's sequence numbers run
/// `shift` ahead of the client's (1 after a switch to TLS, which the client did not see).
async fn relay_login<C, T>(
    client: &mut Side<C>,
    target: &mut Side<T>,
    response: Response,
    shift: u8,
) -> Result<(), SessionError>
where
    C: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    target.write_packet(&response.build(), 1 + shift).await?;
    loop {
        let Some((s, p)) = target.read_packet(MAX_REQUEST).await? else {
            return Err(SessionError::TargetClosed);
        };
        client.write_packet(&p, s.wrapping_sub(shift)).await?;
        match p.first() {
            Some(0x00) => return Ok(()),
            Some(0xff) => {
                let (code, message) = super::wire::parse_err(&p);
                return Err(AuthError::Refused { code, message }.into());
            }
            // caching_sha2's "fast path succeeded": the OK follows from the target.
            Some(0x01) if p.as_slice() == [1, 3] => continue,
            _ => {}
        }
        let Some((s, p)) = client.read_packet(MAX_REQUEST).await? else {
            return Err(SessionError::Client("left during the login".into()));
        };
        target.write_packet(&p, s.wrapping_add(shift)).await?;
    }
}

/// The command phase.
async fn relay<C, T>(
    client: &mut Side<C>,
    target: &mut Side<T>,
    answers: &mut Answers<'_>,
    deprecate_eof: bool,
    guard: &mut Guard<'_>,
    sink: &dyn StatementSink,
) -> Result<(), SessionError>
where
    C: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mut statements = Statements::default();
    loop {
        let Some((seq, payload)) = client.read_packet(MAX_REQUEST).await? else {
            return Ok(());
        };
        let started = Instant::now();
        let request = match statements.decode(&payload) {
            Ok(r) => r,
            Err(e) => {
                let message = format!("the bastion could not read this command: {e}");
                refuse(client, seq.wrapping_add(1), 1835, "08S01", &message).await;
                return Err(e.into());
            }
        };
        if request.command == COM_QUIT {
            target.write_packet(&payload, seq).await?;
            return Ok(());
        }
        if let Some(reason) = request.refusal {
            refuse(client, seq.wrapping_add(1), 1227, "42000", reason).await;
            audit(
                sink,
                &request,
                Outcome::Refused {
                    reason: reason.into(),
                },
                started,
            );
            continue;
        }
        if let Some(reason) = guard.check(&request) {
            let words = format!("Statement blocked by the bastion's SQL {reason}");
            refuse(client, seq.wrapping_add(1), 1227, "42000", &words).await;
            audit(sink, &request, Outcome::Refused { reason }, started);
            continue;
        }
        match guard.translate(&request, &payload).await {
            None => target.write_packet(&payload, seq).await?,
            Some(Ok(translated)) => target.write_packet(&translated, seq).await?,
            Some(Err((code, words))) => {
                refuse(client, seq.wrapping_add(1), code, "HY000", &words).await;
                audit(sink, &request, Outcome::Refused { reason: words }, started);
                continue;
            }
        };
        if request.answer == Answer::None {
            continue;
        }
        let mut scan = Scan::new(request.answer, deprecate_eof);
        let outcome = match forward_answer(client, target, answers, &mut scan).await {
            Ok(()) => {
                let t = scan.tally();
                match &t.error {
                    Some((code, message)) => Outcome::Error {
                        code: *code,
                        message: message.clone(),
                    },
                    None => Outcome::Ok {
                        affected: t.affected,
                        rows: t.rows,
                    },
                }
            }
            Err(e) => {
                audit(sink, &request, Outcome::Cut, started);
                return Err(e);
            }
        };
        if request.answer == Answer::Prepare {
            statements.prepared(scan.tally().prepared);
        }
        if matches!(outcome, Outcome::Ok { .. }) {
            guard.follow(&request);
        }
        audit(sink, &request, outcome, started);
    }
}

/// Forwards the target's answer to the client as it comes, up to its end.
async fn forward_answer<C, T>(
    client: &mut Side<C>,
    target: &mut Side<T>,
    answers: &mut Answers<'_>,
    scan: &mut Scan,
) -> Result<(), SessionError>
where
    C: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mut answered = 0;
    loop {
        let progress = match answers {
            Answers::Read => {
                if target.buffered().is_empty() && target.fill_answer(answered).await? == 0 {
                    return Err(SessionError::TargetClosed);
                }
                let (n, progress) = scan.feed(target.buffered())?;
                client.write_raw(&target.buffered()[..n]).await?;
                target.consume(n);
                answered += n;
                progress
            }
            Answers::Passed { passage, copy } => {
                if copy.is_empty() {
                    let batching = target.batching();
                    if batched!(batching, answered, passage.fill(copy))? == 0 {
                        return Err(SessionError::TargetClosed);
                    }
                }
                let (n, progress) = scan.feed(copy)?;
                passage.pass(n).await?;
                copy.drain(..n);
                answered += n;
                progress
            }
        };
        match progress {
            Progress::More => {}
            Progress::Done => {
                target.batching().off()?;
                return Ok(());
            }
            Progress::LocalInfile(_) => {
                target.batching().off()?;
                answered = 0;
                // The client's file, packet by packet, up to its empty packet.
                loop {
                    let Some((s, p)) = client.read_packet(MAX_REQUEST).await? else {
                        return Err(SessionError::Client(
                            "left while sending a local file".into(),
                        ));
                    };
                    target.write_packet(&p, s).await?;
                    if p.is_empty() {
                        break;
                    }
                }
                scan.resume();
            }
        }
    }
}

fn audit(sink: &dyn StatementSink, request: &Request, outcome: Outcome, started: Instant) {
    let Some(kind) = request.kind else { return };
    sink.statement(Statement {
        kind,
        text: request.text.clone(),
        params: request.params.clone(),
        outcome,
        duration: started.elapsed(),
    });
}

/// Sends the client an ERR packet; a client already gone is no further error. Codes are the
/// server's own (1045 access denied, 1429 "unable to connect to foreign data source" for a
/// database the gateway cannot use): clients read codes of their own range (2000-2999) as a
/// malformed packet instead of showing the words.
async fn refuse<C>(client: &mut Side<C>, seq: u8, code: u16, state: &str, message: &str)
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let _ = client
        .write_packet(&err_payload(code, state, message), seq)
        .await;
}

/// A fresh 20-byte scramble of printable characters, as servers send.
fn scramble() -> Vec<u8> {
    let mut b = [0u8; 20];
    if aws_lc_rs::rand::fill(&mut b).is_err() {
        // The scramble only salts a password the gateway does not check; any value serves.
        b = [b'x'; 20];
    }
    b.iter().map(|x| 33 + x % 94).collect()
}
