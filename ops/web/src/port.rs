//! What the web portal needs from the node beyond the replicated state (which it reaches
//! through `portunus_ops::Backend`): the checks an SSH login makes (password with its lockout
//! and rate limits, the second factor), and a terminal to a host account opened through the
//! SSH gateway's own path (authorization, concurrency slot, hosted credential, recording,
//! command audit, termination). The node implements [`WebGate`] over its gate and the `proxy`
//! crate, which this crate never names.

use portunus_ops::BoxFuture;
use std::fmt;
use std::net::SocketAddr;
use tokio::sync::mpsc;

/// A secret string (a password, a code) whose `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

/// A user whose own password matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordChecked {
    pub user_id: u64,
    pub user_name: String,
    /// A second factor is due before the login completes.
    pub second_factor: bool,
}

/// Why the node refused, in words for the user (they never tell whether a user exists).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct WebRefusal {
    pub kind: RefusalKind,
    pub message: String,
}

/// What kind of refusal, for the HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalKind {
    /// Wrong credentials, a lock, a rate limit: 401.
    Credentials,
    /// Not authorized for that asset or account: 403.
    NotAuthorized,
    /// No quorum, the node draining or starting: 503 (another node may serve).
    Unavailable,
    /// Anything else: 500.
    Internal,
}

/// A terminal the browser asks for.
#[derive(Clone, Debug)]
pub struct TerminalRequest {
    pub user_id: u64,
    pub user_name: String,
    pub host_id: u64,
    pub account_id: u64,
    pub cols: u32,
    pub rows: u32,
    /// The browser's address (the session records it).
    pub client: SocketAddr,
}

/// From the browser to the target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TermIn {
    /// Keys typed (or pasted).
    Data(Vec<u8>),
    /// The terminal's new size.
    Resize { cols: u32, rows: u32 },
}

/// From the target to the browser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TermOut {
    /// What the target printed.
    Data(Vec<u8>),
    /// The session ended, with the words to show (the target closed it, an administrator
    /// terminated it, the node is going away).
    Ended(String),
}

/// An open terminal: its session, and both directions. Dropping `input` ends the session.
#[derive(Debug)]
pub struct TerminalIo {
    pub session_id: u64,
    pub input: mpsc::Sender<TermIn>,
    pub output: mpsc::Receiver<TermOut>,
}

/// A web database console the browser asks for.
#[derive(Clone, Debug)]
pub struct SqlRequest {
    pub user_id: u64,
    pub user_name: String,
    pub database_id: u64,
    pub account_id: u64,
    /// The account's password as the engineer typed it: used only when the bastion hosts
    /// none for the account.
    pub password: Option<Secret>,
    /// The database (schema) to start in; the account's default when None.
    pub database: Option<String>,
    /// The browser's address (the session records it).
    pub client: SocketAddr,
}

/// One result of a statement, as the console's grid shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SqlGrid {
    pub columns: Vec<String>,
    /// The first rows (at most a thousand); `null` is SQL NULL.
    pub rows: Vec<Vec<Option<String>>>,
    /// How many rows the result had in all.
    pub total_rows: u64,
    pub affected: Option<u64>,
    /// What the database said of it (PostgreSQL's command tag, MySQL's info).
    pub tag: String,
}

/// A statement the database or the bastion's SQL rules refused, as the database said it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SqlError {
    pub code: String,
    pub sqlstate: Option<String>,
    pub message: String,
}

/// What a run of statements answered.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SqlAnswer {
    pub results: Vec<SqlGrid>,
    pub error: Option<SqlError>,
    pub notices: Vec<String>,
}

/// Runs statements in an open console, one at a time.
pub trait SqlRunner: Send + Sync {
    /// The answer, or the words saying why the session is over.
    fn run(&self, sql: String) -> BoxFuture<'_, Result<SqlAnswer, String>>;
    /// Resolves when the session has ended (the database closed it, an administrator ended
    /// it), with the words to show.
    fn ended(&self) -> BoxFuture<'_, String>;
}

/// An open web database console. Dropping it ends the session.
pub struct SqlConsole {
    pub session_id: u64,
    pub asset_name: String,
    pub account: String,
    /// `MySQL` or `PostgreSQL`.
    pub engine: &'static str,
    pub runner: Box<dyn SqlRunner>,
}

impl fmt::Debug for SqlConsole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlConsole")
            .field("session_id", &self.session_id)
            .field("asset_name", &self.asset_name)
            .field("account", &self.account)
            .finish()
    }
}

/// What the portal asks the node.
pub trait WebGate: Send + Sync + 'static {
    /// Checks a user's own password exactly as an SSH login does (rate limits per address and
    /// user, the password lockout, the user's lock and validity, whether a second factor is due).
    fn check_password<'a>(
        &'a self,
        user: &'a str,
        password: Secret,
        client: SocketAddr,
    ) -> BoxFuture<'a, Result<PasswordChecked, WebRefusal>>;
    /// Checks a second factor (a TOTP code, once cluster-wide, or a recovery code) of a user
    /// whose password matched.
    fn check_code<'a>(
        &'a self,
        user_id: u64,
        user_name: &'a str,
        code: Secret,
    ) -> BoxFuture<'a, Result<(), WebRefusal>>;
    /// A user an OpenID provider vouched for (the web pages' single sign-on): checked as a key
    /// login is (the user's lock and validity, whether a second factor is due).
    fn sso_login<'a>(
        &'a self,
        user: &'a str,
        client: SocketAddr,
    ) -> BoxFuture<'a, Result<PasswordChecked, WebRefusal>>;
    /// A single sign-on refused before it named a user (a bad answer of the provider, a
    /// forged or expired ID token): counted with the node's login failures.
    fn sso_refused(&self, why: &str, client: SocketAddr);
    /// Opens a shell on a host account through the gateway's path.
    fn open_terminal(
        &self,
        request: TerminalRequest,
    ) -> BoxFuture<'_, Result<TerminalIo, WebRefusal>>;
    /// Opens a web database console on a database account through the database gateway's
    /// path (authorization, slot, hosted credential, SQL rules, statement audit).
    fn open_sql(&self, request: SqlRequest) -> BoxFuture<'_, Result<SqlConsole, WebRefusal>>;
    /// The port of this node's SSH gateway (the O&M port shown in the token dialog).
    fn ssh_port(&self) -> Option<u16>;
    /// The port of this node's native door for databases of `engine` (MySQL, PostgreSQL), for
    /// local clients the portal launches; None when the node has none.
    fn database_port(&self, engine: portunus_model::DbEngine) -> Option<u16>;
    /// A session's recording (asciicast v2) as far as any member of the cluster holds it;
    /// None when none does (database sessions and tunnels are not recorded).
    fn recording(&self, session_id: u64) -> BoxFuture<'_, Option<Recording>>;
    /// The newest output of running session `session_id`, served by member `node_id`, from
    /// line `from` on (see [`LiveOutput`]); None when that member keeps none for it (the session
    /// ended, or is not recorded); an error when the member could not be asked.
    fn live(
        &self,
        session_id: u64,
        node_id: u64,
        from: u64,
    ) -> BoxFuture<'_, Result<Option<LiveOutput>, WebRefusal>>;
    /// This node's view of the cluster: its members (kind, addresses), the leader, the log
    /// indexes each member holds as the leader knows them, as the node's `/v1/status` reports it.
    fn cluster_status(&self) -> serde_json::Value;
}

/// A session's recording put back together from its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recording {
    /// Asciicast v2 text: the header line, then one line per event.
    pub cast: Vec<u8>,
    /// The session ended and every part was found; otherwise the session is still open, or
    /// its node died before it ended, and `cast` is what was stored.
    pub complete: bool,
}

/// Lines of a running session's terminal output, for a live viewer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveOutput {
    /// The recording's header line (asciicast v2: the terminal's size and type at the start).
    pub header: String,
    /// The number of the first line in `lines`, counted from the session's start; the viewer
    /// asks next for `first + lines.len()`.
    pub first: u64,
    /// Asciicast event lines: output (`"o"`) and resizes (`"r"`).
    pub lines: Vec<String>,
    /// Output between the line asked for and `first` is no longer kept.
    pub skipped: bool,
    /// The terminal's newest size (`COLSxROWS`), when it was resized since the start.
    pub size: Option<String>,
}
