//! The ports through which the data path asks the rest of the node for decisions and hands it
//! what it observed. `proxy` never sees the replicated state: it asks a [`SessionGate`] ("who is
//! this?", "may this principal open that target?", "the session ended") and reports to an
//! [`AuditSink`]. The node implements both over the replicated state.

mod controls;

pub use controls::{Controls, SftpOps, Verdict};

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

/// A boxed future, for the port methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A secret string whose `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

/// The protocol a session speaks to its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetProtocol {
    Ssh,
    MySql,
    PostgreSql,
    Other,
}

/// What kind of asset a permit opens: it decides what a session may do there. A host is
/// reached through the gateway's recorded shell, exec and SFTP only, never through a raw
/// `-L` tunnel (that would be an unrecorded login past every control); a database is reached
/// through a tunnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssetKind {
    Host,
    Database,
}

/// What the engineer wants to do with a target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// An interactive shell or a command (`exec`).
    Shell,
    /// The SFTP subsystem (also what `scp` uses).
    Sftp,
    /// A `-L` tunnel to this address and port.
    Tunnel { host: String, port: u16 },
    /// Statements typed in the web database console (databases only).
    Query,
}

/// Which target is meant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetSpec {
    /// By names, as typed in a login like `alice@root@web-01`, or picked from the menu.
    Named { asset: String, account: String },
    /// By ids, as picked from the menu.
    Ids { asset_id: u64, account_id: u64 },
    /// Whatever authorized asset listens at this address and port (for `-L` tunnels).
    Address { host: String, port: u16 },
}

/// A login attempt as the SSH layer saw it.
#[derive(Clone, Debug)]
pub enum AuthAttempt {
    /// A password: an O&M token, or the user's own password.
    Password {
        user: String,
        password: Secret,
        client: SocketAddr,
    },
    /// A MySQL client's `mysql_native_password` answer to the gateway's `scramble` on the
    /// native MySQL port: only an O&M token of a MySQL database can match it (the gate checks
    /// it against the tokens' stored SHA1(SHA1(token))).
    MySqlNative {
        user: String,
        scramble: Vec<u8>,
        /// Useless once the scramble is spent, so not a secret to guard.
        answer: Vec<u8>,
        client: SocketAddr,
    },
    /// A PostgreSQL client's SCRAM-SHA-256 proof on the native PostgreSQL port: only an O&M
    /// token of a PostgreSQL database can match it (the gate checks it against the tokens'
    /// stored verifiers and answers with the server's proof).
    PgScram {
        user: String,
        /// Useless once the exchange is over, so not a secret to guard.
        proof: crate::db::ClientProof,
        client: SocketAddr,
    },
    /// A public key the client proved it holds, in OpenSSH `authorized_keys` form.
    PublicKey {
        user: String,
        public_key: String,
        client: SocketAddr,
    },
}

impl AuthAttempt {
    /// Where the login comes from (after a trusted PROXY header).
    pub fn client(&self) -> SocketAddr {
        match self {
            AuthAttempt::Password { client, .. }
            | AuthAttempt::MySqlNative { client, .. }
            | AuthAttempt::PgScram { client, .. }
            | AuthAttempt::PublicKey { client, .. } => *client,
        }
    }
}

/// Someone the gate authenticated. Only a gate implementation constructs one.
#[derive(Debug)]
pub struct Principal {
    pub user_id: u64,
    pub user_name: String,
    /// Set when the login was an O&M token: the session was opened (slot taken, use spent) at
    /// login, and the principal may reach only what this admission admits. Dropping the
    /// principal before the connection takes it (a client gone before its login completed)
    /// gives the session back.
    pub token: Option<Admission>,
    /// After a SCRAM login ([`AuthAttempt::PgScram`]): the server-final message proving to the
    /// client that the bastion held the token's verifier.
    pub server_proof: Option<String>,
    /// The user's own credentials matched, and a second factor must follow
    /// ([`SessionGate::second_factor`] clears it): until then the login is not complete, and
    /// the gateway serves nothing to this principal.
    pub second_factor_pending: bool,
}

/// The credential the bastion injects into the target login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetCredential {
    Password(Secret),
    /// An OpenSSH private key (PEM/OpenSSH text).
    PrivateKey(Secret),
    /// None hosted: the engineer authenticates to the target himself (database tunnels).
    None,
}

/// What an admitted session may reach and how: the target's address, the account and the
/// credential to inject. Only an [`Admission`] carries one to the data path.
#[derive(Clone, Debug)]
pub struct Permit {
    pub session_id: u64,
    pub user_name: String,
    pub asset_id: u64,
    pub asset_name: String,
    /// The hosted account's id; None for a custom account carried by an O&M token.
    pub account_id: Option<u64>,
    /// Whether the asset is a host or a database.
    pub kind: AssetKind,
    pub address: String,
    pub port: u16,
    pub protocol: TargetProtocol,
    pub account_name: String,
    pub credential: TargetCredential,
    pub sftp_only: bool,
    /// The trusted host key fingerprint of the target (`SHA256:...`), None until first use.
    pub host_key_fingerprint: Option<String>,
    /// The database gateway's SQL rules for this session (databases only).
    pub sql_rules: Vec<portunus_db::sql::rules::RuleSpec>,
    /// Whether statements the gateway cannot read pass when rules apply.
    pub sql_allow_unreadable: bool,
    /// The database to select when the client names none (an O&M token's schema).
    pub default_database: Option<String>,
    /// TLS to the database.
    pub database_tls: crate::db::tls::TargetTlsMode,
    /// What the governing control policy lets the session do.
    pub controls: Controls,
    /// Straight to the address, or through the asset's network domain's proxies.
    pub route: crate::route::Route,
}

impl Permit {
    /// Does this permit cover `spec`? The one matcher deciding whether a session serves a
    /// target asked for by address (a `-L` tunnel: the asset's address or name, and its port),
    /// by names (`user@account@asset`) or by ids (the menu).
    pub fn admits(&self, spec: &TargetSpec) -> bool {
        match spec {
            TargetSpec::Address { host, port } => {
                (self.address.eq_ignore_ascii_case(host)
                    || self.asset_name.eq_ignore_ascii_case(host))
                    && self.port == *port
            }
            TargetSpec::Named { asset, account } => {
                self.asset_name == *asset && self.account_name == *account
            }
            TargetSpec::Ids {
                asset_id,
                account_id,
            } => self.asset_id == *asset_id && self.account_id == Some(*account_id),
        }
    }

    /// Why a `-L` tunnel may not run under this permit, in words for the engineer; None when
    /// it may. Only databases are reached through tunnels: a tunnel to a host's SSH or RDP
    /// port would be a login that is neither recorded nor audited, past "SFTP only" and every
    /// other control of the gateway.
    pub fn tunnel_refusal(&self) -> Option<Refusal> {
        match self.kind {
            AssetKind::Database => self.controls.tunnel_refusal(),
            AssetKind::Host => Some(host_tunnel_refusal(&self.asset_name)),
        }
    }
}

/// The refusal of a `-L` tunnel to the host `asset`.
pub fn host_tunnel_refusal(asset: &str) -> Refusal {
    Refusal {
        kind: RefusalKind::NotAuthorized,
        message: format!(
            "{asset} is a host: tunnels through the bastion reach databases only; \
             log in to it through the bastion (ssh user@account@{asset}@bastion) for a recorded session"
        ),
    }
}

/// A target listed in the menu.
#[derive(Clone, Debug)]
pub struct Target {
    pub asset_id: u64,
    pub asset_name: String,
    pub address: String,
    pub port: u16,
    pub protocol: TargetProtocol,
    pub accounts: Vec<(u64, String)>,
}

/// Why a login or a session was refused, in words for the engineer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub kind: RefusalKind,
    pub message: String,
}

/// Refusal categories, for metrics and audit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalKind {
    BadCredentials,
    TokenExpired,
    TokenUsedUp,
    TokenRevoked,
    UserLocked,
    NotAuthorized,
    ConcurrencyLimit,
    NoQuorum,
    RateLimited,
    Draining,
    HostKeyMismatch,
    /// A second factor is required and cannot be asked for (none enrolled, or a client that
    /// cannot answer a keyboard-interactive prompt).
    SecondFactorRequired,
    Internal,
}

/// How a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndKind {
    Normal,
    Terminated,
    Error,
    /// Nothing crossed the session for the idle timeout.
    Idle,
}

/// What the data path reports when it gives a session back.
#[derive(Clone, Debug)]
pub struct SessionOutcome {
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// Of `bytes_down`, those moved by splice(2) without a copy through the bastion's memory.
    pub spliced: u64,
    pub end: EndKind,
}

/// The decisions the data path needs. Implemented by the node over the replicated state.
pub trait SessionGate: Send + Sync + 'static {
    /// Authenticate a login. A token password opens its session right away.
    fn authenticate(&self, attempt: AuthAttempt) -> BoxFuture<'_, Result<Principal, Refusal>>;
    /// Checks the second factor of a principal whose credentials matched
    /// ([`Principal::second_factor_pending`]): a TOTP code, or a recovery code. On success the
    /// mark is cleared; a wrong code is a [`RefusalKind::BadCredentials`].
    fn second_factor<'a>(
        &'a self,
        principal: &'a mut Principal,
        code: Secret,
    ) -> BoxFuture<'a, Result<(), Refusal>> {
        let _ = (principal, code);
        Box::pin(async {
            Err(Refusal {
                kind: RefusalKind::Internal,
                message: "this gate checks no second factor".into(),
            })
        })
    }
    /// The targets a principal may reach, for the menu.
    fn targets<'a>(
        &'a self,
        principal: &'a Principal,
    ) -> BoxFuture<'a, Result<Vec<Target>, Refusal>>;
    /// Open a session to a target: checks authorization and takes a concurrency slot. A token
    /// principal's only session is the one its login opened ([`Principal::token`]).
    fn open<'a>(
        &'a self,
        principal: &'a Principal,
        target: TargetSpec,
        purpose: Purpose,
        client: SocketAddr,
    ) -> BoxFuture<'a, Result<Admission, Refusal>>;
    /// Record a target's host key on first use; refuses a key different from the trusted one.
    fn trust_host_key<'a>(
        &'a self,
        permit: &'a Permit,
        fingerprint: &'a str,
    ) -> BoxFuture<'a, Result<(), Refusal>>;
    /// Record an SSH proxy's host key on first use (on the proxy of the route's domain);
    /// refuses a key different from the trusted one, and any unpinned key when pins are
    /// required. The default refuses: a gate without a place to keep keys trusts none.
    fn trust_proxy_key<'a>(
        &'a self,
        route: &'a crate::route::Route,
        hop: &'a crate::route::ProxyHop,
        fingerprint: &'a str,
    ) -> BoxFuture<'a, Result<(), Refusal>> {
        let _ = route;
        let words = format!("{hop} presented {fingerprint}, and this gate keeps no proxy keys");
        Box::pin(async move {
            Err(Refusal {
                kind: RefusalKind::HostKeyMismatch,
                message: words,
            })
        })
    }
    /// Resolves when this session must end — an administrator asked for it, or the node may no
    /// longer hold it — with the words to show the engineer.
    fn terminated(&self, session_id: u64) -> BoxFuture<'static, String>;
    /// How long a session may pass no byte in either direction before it is ended; None =
    /// forever. Read when a session opens.
    fn idle_timeout(&self) -> Option<std::time::Duration> {
        None
    }
    /// Withdraws request `id` of session `session_id` (the engineer gave up waiting): no
    /// administrator can decide it any more. Refused when it is no longer waiting (decided in
    /// the meantime).
    fn withdraw_approval(&self, session_id: u64, id: u64) -> BoxFuture<'_, Result<(), Refusal>> {
        let _ = (session_id, id);
        Box::pin(async { Ok(()) })
    }
    /// Holds `command` of session `session_id` for an administrator's approval: the request's
    /// id, which administrators see.
    fn ask_approval<'a>(
        &'a self,
        session_id: u64,
        command: &'a str,
    ) -> BoxFuture<'a, Result<u64, Refusal>> {
        let _ = (session_id, command);
        Box::pin(async {
            Err(Refusal {
                kind: RefusalKind::Internal,
                message: "this bastion holds no commands for approval".into(),
            })
        })
    }
    /// Resolves with the decision on approval request `id` (or why there was none).
    fn approval_decision(&self, id: u64) -> BoxFuture<'static, Decision> {
        let _ = id;
        Box::pin(async {
            Decision::Undecided {
                why: "this bastion holds no commands for approval".into(),
            }
        })
    }
    /// Whether the native database ports refuse logins without TLS. Read per connection.
    fn database_tls_required(&self) -> bool {
        false
    }
}

/// A gate as the keeper of SSH proxies' host keys, for [`crate::route::dial`].
pub struct GateKeys<'a, G: ?Sized>(pub &'a G);

impl<G: SessionGate + ?Sized> crate::route::ProxyKeys for GateKeys<'_, G> {
    fn trust<'a>(
        &'a self,
        route: &'a crate::route::Route,
        hop: &'a crate::route::ProxyHop,
        fingerprint: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            (self.0.trust_proxy_key(route, hop, fingerprint).await).map_err(|r| r.message)
        })
    }
}

/// An administrator's decision on a held command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Accepted {
        by: String,
    },
    Rejected {
        by: String,
    },
    /// No decision came (its deadline passed, or the request was lost).
    Undecided {
        why: String,
    },
}

/// Gives an admitted session back: given what the session did, the work that records it.
pub type Closer = Box<dyn FnOnce(SessionOutcome) -> BoxFuture<'static, ()> + Send + Sync>;

/// An admitted session: the only proof the data path accepts to connect to a target. A
/// [`SessionGate`] makes it when it admits a session (its slot taken, its token use spent). It
/// is not `Clone` — there is one per session — and it gives the session back exactly once:
/// through [`Admission::close`] with what the session did, or, dropped on any other path (an
/// error before the target was reached, a client gone before its login completed), as an error
/// with nothing relayed. So no path can leave a slot held by a session nobody runs.
pub struct Admission {
    permit: Permit,
    closer: Option<Closer>,
}

impl Admission {
    /// For gate implementations: `closer` runs once, when the session ends.
    pub fn new(permit: Permit, closer: Closer) -> Self {
        Self {
            permit,
            closer: Some(closer),
        }
    }

    pub fn permit(&self) -> &Permit {
        &self.permit
    }

    pub fn session_id(&self) -> u64 {
        self.permit.session_id
    }

    /// Does this session serve `spec`? (See [`Permit::admits`].)
    pub fn admits(&self, spec: &TargetSpec) -> bool {
        self.permit.admits(spec)
    }

    /// Gives the session back with what it did.
    pub fn close(mut self, outcome: SessionOutcome) {
        self.give_back(outcome);
    }

    fn give_back(&mut self, outcome: SessionOutcome) {
        let Some(closer) = self.closer.take() else {
            return;
        };
        let work = closer(outcome);
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(work);
            }
            Err(_) => {
                // No runtime (process teardown): run it on a throwaway one.
                std::thread::spawn(move || {
                    if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        rt.block_on(work);
                    }
                });
            }
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.give_back(SessionOutcome {
            bytes_up: 0,
            bytes_down: 0,
            spliced: 0,
            end: EndKind::Error,
        });
    }
}

impl fmt::Debug for Admission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admission")
            .field("session_id", &self.permit.session_id)
            .field("asset", &self.permit.asset_name)
            .finish()
    }
}

/// What an engineer is told when an administrator terminates the session.
pub const TERMINATED_BY_ADMIN: &str = "session terminated by an administrator";

/// One thing worth auditing, as a typed event.
#[derive(Clone, Debug)]
pub enum AuditEvent {
    /// A command line typed in a shell session (or an exec's command), with its time offset
    /// in seconds and how it came.
    Command {
        session_id: u64,
        at: f64,
        line: String,
        input: CommandInput,
    },
    /// An SFTP operation.
    FileOp {
        session_id: u64,
        op: String,
        path: String,
        target_path: Option<String>,
        bytes: u64,
    },
    /// A database statement of a session the gateway speaks the protocol of.
    Statement {
        session_id: u64,
        /// The database account the session is logged in as.
        account: String,
        statement: portunus_db::Statement,
    },
    /// Something the session's control policy refused: a command line, an exec, a channel
    /// kind, an SFTP operation, a tunnel.
    Refused {
        session_id: u64,
        /// Seconds since the session began.
        at: f64,
        /// What was attempted: `command`, `exec`, `shell`, `sftp`, `sftp upload`, ...
        action: String,
        /// The command line, path or address it was attempted on.
        target: String,
        /// The words the engineer was shown.
        reason: String,
    },
    /// A tunnel connection inside a session.
    Tunnel {
        session_id: u64,
        host: String,
        port: u16,
        bytes_up: u64,
        bytes_down: u64,
    },
}

/// How a command line reached the target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandInput {
    /// The command of an `exec` request.
    Exec,
    /// Typed in a shell, and shown back by the target's echo.
    Echoed,
    /// Typed in a shell while the terminal did not echo it (after `stty -echo`, or in a shell
    /// without a PTY): audited as the shell received it.
    WithoutEcho,
    /// Typed right after a password prompt (given here): the line is masked.
    AtPasswordPrompt { prompt: String },
}

/// Where recordings and audit events go. Implemented by the node.
pub trait AuditSink: Send + Sync + 'static {
    /// Record an event.
    fn event(&self, event: AuditEvent);
    /// Store a part of a session's recording (asciicast v2 text) while the session runs. Parts
    /// are numbered from 0 and handed over in order, one at a time; each is made of whole lines
    /// (part 0 starts with the header line), so their concatenation is the recording. `last`
    /// marks the final part, handed over when the session ends (it may be empty); a recording
    /// whose last part never came was cut short. The session's output waits for this future,
    /// so a slow store slows the session instead of piling the recording up in memory.
    fn recording_part(
        &self,
        session_id: u64,
        index: u32,
        part: Vec<u8>,
        last: bool,
    ) -> BoxFuture<'_, ()>;
    /// The node's running sessions that administrators can watch (the recorder of each
    /// recorded session feeds its output there).
    fn live(&self) -> &std::sync::Arc<crate::live::LiveSessions>;
}
