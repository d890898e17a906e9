//! The node's implementation of the web portal's port ([`portunus_web::WebGate`]): a browser
//! login is checked by the same gate as an SSH login (the gateway's rate limits per address and
//! user, the password and its lockout, the user's lock and validity, the second factor once
//! cluster-wide), and a web terminal is opened through the SSH gateway's path: the gate admits
//! the session (authorization, slot), `proxy`'s terminals log in with the hosted credential,
//! record and audit it. This module only translates between the two crates' words.

use crate::audit::FileAudit;
use crate::gate::Gate;
use crate::running::NodeShared;
use portunus_proxy::db::console::{Console, ConsoleRequest, Consoles};
use portunus_proxy::gate::{Principal, Purpose, Refusal, RefusalKind, SessionGate, TargetSpec};
use portunus_proxy::ssh::{Limited, SshError, Terminal, TerminalInput, TerminalOutput, Terminals};
use portunus_web::{
    PasswordChecked, RefusalKind as Kind, Secret, SqlAnswer, SqlConsole, SqlError, SqlGrid,
    SqlRequest, SqlRunner, TermIn, TermOut, TerminalIo, TerminalRequest, WebGate, WebRefusal,
};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::mpsc;

/// What the web portal asks this node.
pub(crate) struct NodeWeb {
    pub(crate) gate: Arc<Gate>,
    pub(crate) shared: Arc<NodeShared>,
    pub(crate) ssh_port: Option<u16>,
    /// The native database ports (MySQL, PostgreSQL), for the portal's local client links.
    pub(crate) mysql_port: Option<u16>,
    pub(crate) postgres_port: Option<u16>,
    /// For recordings (blobs held by the cluster's members).
    pub(crate) replica: portunus_raft::Replica,
    /// This node's `/v1/status` report, for the console's overview.
    pub(crate) probe: Arc<dyn portunus_ops::NodeProbe>,
    /// This node's running recorded sessions (none without an SSH gateway).
    pub(crate) live: Option<Arc<portunus_proxy::live::LiveSessions>>,
    /// Web database consoles (none without an SSH gateway, which keeps the audit).
    pub(crate) consoles: Option<Consoles<Gate, FileAudit>>,
}

fn refused(kind: Kind, message: impl Into<String>) -> WebRefusal {
    WebRefusal {
        kind,
        message: message.into(),
    }
}

/// The gate's refusal in the portal's words (the same words an SSH client is shown).
fn from_refusal(r: Refusal) -> WebRefusal {
    use RefusalKind as R;
    let kind = match r.kind {
        R::BadCredentials
        | R::TokenExpired
        | R::TokenUsedUp
        | R::TokenRevoked
        | R::UserLocked
        | R::RateLimited
        | R::SecondFactorRequired => Kind::Credentials,
        R::NotAuthorized | R::HostKeyMismatch => Kind::NotAuthorized,
        R::ConcurrencyLimit | R::NoQuorum | R::Draining => Kind::Unavailable,
        R::Internal => Kind::Internal,
    };
    refused(kind, r.message)
}

fn from_ssh(e: SshError) -> WebRefusal {
    match e {
        SshError::Refused(r) => from_refusal(r),
        other => refused(Kind::Internal, other.user_message()),
    }
}

impl NodeWeb {
    fn terminals(&self) -> Result<Terminals<Gate, FileAudit>, WebRefusal> {
        let held = self.shared.terminals.lock();
        let held = held.unwrap_or_else(|p| p.into_inner());
        held.clone().ok_or_else(|| {
            refused(
                Kind::Unavailable,
                "This bastion node is still starting; try again in a moment.",
            )
        })
    }

    async fn password(
        &self,
        user: &str,
        password: Secret,
        client: SocketAddr,
    ) -> Result<PasswordChecked, WebRefusal> {
        let limiter = self.terminals()?.limiter();
        let attempt = limiter.begin(client.ip(), user).map_err(|which| {
            tracing::warn!(%user, %client, limit = ?which, "web: login attempt refused: rate limited");
            let words = match which {
                Limited::Address => "too many failed logins from your address; try again later",
                Limited::User => "too many failed logins for this user; try again later",
            };
            refused(Kind::Credentials, words)
        })?;
        if user.is_empty() || user.contains('@') {
            attempt.failed();
            return Err(from_refusal(crate::gate::bad_credentials()));
        }
        match self.gate.login_password(user, password.0).await {
            Ok(p) => Ok(PasswordChecked {
                user_id: p.user_id,
                user_name: p.user_name,
                second_factor: p.second_factor_pending,
            }),
            Err(r) => {
                if r.kind == RefusalKind::BadCredentials {
                    attempt.failed();
                }
                self.gate.refused(&r);
                tracing::info!(%user, %client, kind = ?r.kind, "web: login refused");
                Err(from_refusal(r))
            }
        }
    }

    async fn terminal(&self, req: TerminalRequest) -> Result<TerminalIo, WebRefusal> {
        let terminals = self.terminals()?;
        let principal = Principal {
            user_id: req.user_id,
            user_name: req.user_name,
            token: None,
            server_proof: None,
            second_factor_pending: false,
        };
        let spec = TargetSpec::Ids {
            asset_id: req.host_id,
            account_id: req.account_id,
        };
        let admission = self
            .gate
            .open(&principal, spec, Purpose::Shell, req.client)
            .await
            .map_err(from_refusal)?;
        let terminal = terminals
            .open(admission, req.cols, req.rows)
            .await
            .map_err(from_ssh)?;
        let session_id = terminal.session_id;
        let (input, from_page) = mpsc::channel(64);
        let (to_page, output) = mpsc::channel(64);
        tokio::spawn(bridge(terminal, from_page, to_page));
        Ok(TerminalIo {
            session_id,
            input,
            output,
        })
    }
}

impl NodeWeb {
    async fn sql(&self, req: SqlRequest) -> Result<SqlConsole, WebRefusal> {
        let consoles = self.consoles.as_ref().ok_or_else(|| {
            refused(
                Kind::Unavailable,
                "This bastion node serves no database sessions (it runs no gateway).",
            )
        })?;
        let request = ConsoleRequest {
            principal: Principal {
                user_id: req.user_id,
                user_name: req.user_name,
                token: None,
                server_proof: None,
                second_factor_pending: false,
            },
            database_id: req.database_id,
            account_id: req.account_id,
            password: req
                .password
                .map(|p| portunus_proxy::db::console::Secret(p.0)),
            database: req.database,
            client: req.client,
        };
        let console = consoles.open(request).await.map_err(from_refusal)?;
        Ok(SqlConsole {
            session_id: console.session_id,
            asset_name: console.asset_name.clone(),
            account: console.account.clone(),
            engine: match console.engine {
                portunus_proxy::gate::TargetProtocol::PostgreSql => "PostgreSQL",
                _ => "MySQL",
            },
            runner: Box::new(Runner(console)),
        })
    }
}

/// A console's statements, answered in the portal's words.
struct Runner(Console);

impl SqlRunner for Runner {
    fn run(&self, sql: String) -> portunus_ops::BoxFuture<'_, Result<SqlAnswer, String>> {
        Box::pin(async move {
            let answer = self.0.run(sql).await?;
            Ok(SqlAnswer {
                results: (answer.results.into_iter())
                    .map(|g| SqlGrid {
                        columns: g.columns,
                        rows: g.rows,
                        total_rows: g.total_rows,
                        affected: g.affected,
                        tag: g.tag,
                    })
                    .collect(),
                error: answer.error.map(|e| SqlError {
                    code: e.code,
                    sqlstate: e.sqlstate,
                    message: e.message,
                }),
                notices: answer.notices,
            })
        })
    }

    fn ended(&self) -> portunus_ops::BoxFuture<'_, String> {
        Box::pin(self.0.ended())
    }
}

/// Carries a terminal's traffic between the portal's channels and the gateway's. Ends when the
/// page goes (dropping the gateway's input ends the session) or the session ends.
async fn bridge(
    mut t: Terminal,
    mut from_page: mpsc::Receiver<TermIn>,
    to_page: mpsc::Sender<TermOut>,
) {
    loop {
        tokio::select! {
            typed = from_page.recv() => {
                let Some(typed) = typed else { return };
                let input = match typed {
                    TermIn::Data(d) => TerminalInput::Data(d),
                    TermIn::Resize { cols, rows } => TerminalInput::Resize { cols, rows },
                };
                // Refused once the session ended: its words are on their way out.
                let _ = t.input.send(input).await;
            }
            shown = t.output.recv() => {
                let out = match shown {
                    Some(TerminalOutput::Data(d)) => TermOut::Data(d),
                    Some(TerminalOutput::Ended(words)) => TermOut::Ended(words),
                    None => return,
                };
                if to_page.send(out).await.is_err() {
                    return;
                }
            }
        }
    }
}

impl WebGate for NodeWeb {
    fn check_password<'a>(
        &'a self,
        user: &'a str,
        password: Secret,
        client: SocketAddr,
    ) -> portunus_ops::BoxFuture<'a, Result<PasswordChecked, WebRefusal>> {
        Box::pin(self.password(user, password, client))
    }

    fn check_code<'a>(
        &'a self,
        user_id: u64,
        user_name: &'a str,
        code: Secret,
    ) -> portunus_ops::BoxFuture<'a, Result<(), WebRefusal>> {
        Box::pin(async move {
            let mut principal = Principal {
                user_id,
                user_name: user_name.to_string(),
                token: None,
                server_proof: None,
                second_factor_pending: true,
            };
            let code = portunus_proxy::gate::Secret(code.0);
            self.gate
                .second_factor(&mut principal, code)
                .await
                .map_err(from_refusal)
        })
    }

    fn sso_login<'a>(
        &'a self,
        user: &'a str,
        client: SocketAddr,
    ) -> portunus_ops::BoxFuture<'a, Result<PasswordChecked, WebRefusal>> {
        Box::pin(async move {
            match self.gate.login_sso(user) {
                Ok(p) => Ok(PasswordChecked {
                    user_id: p.user_id,
                    user_name: p.user_name,
                    second_factor: p.second_factor_pending,
                }),
                Err(r) => {
                    // Counted with the login failures by the caller (`sso_refused`).
                    tracing::info!(%user, %client, kind = ?r.kind, "web: single sign-on refused");
                    Err(from_refusal(r))
                }
            }
        })
    }

    fn sso_refused(&self, _why: &str, _client: SocketAddr) {
        self.gate.refused(&crate::gate::bad_credentials());
    }

    fn open_terminal(
        &self,
        request: TerminalRequest,
    ) -> portunus_ops::BoxFuture<'_, Result<TerminalIo, WebRefusal>> {
        Box::pin(self.terminal(request))
    }

    fn open_sql(
        &self,
        request: SqlRequest,
    ) -> portunus_ops::BoxFuture<'_, Result<SqlConsole, WebRefusal>> {
        Box::pin(self.sql(request))
    }

    fn ssh_port(&self) -> Option<u16> {
        self.ssh_port
    }

    fn database_port(&self, engine: portunus_model::DbEngine) -> Option<u16> {
        match engine {
            portunus_model::DbEngine::MySql => self.mysql_port,
            portunus_model::DbEngine::PostgreSql => self.postgres_port,
            _ => None,
        }
    }

    fn recording(
        &self,
        session_id: u64,
    ) -> portunus_ops::BoxFuture<'_, Option<portunus_web::Recording>> {
        Box::pin(async move {
            let get = |name: String| async move { self.replica.get_blob(&name).await };
            let mut cast = Vec::new();
            let read = crate::audit::read_recording(session_id, get, &mut cast)
                .await
                .ok()?;
            (read.parts > 0).then(|| portunus_web::Recording {
                cast,
                complete: read.complete(),
            })
        })
    }

    fn live(
        &self,
        session_id: u64,
        node_id: u64,
        from: u64,
    ) -> portunus_ops::BoxFuture<'_, Result<Option<portunus_web::LiveOutput>, WebRefusal>> {
        Box::pin(async move {
            let chunk = crate::live::read(
                &self.replica,
                self.live.as_deref(),
                node_id,
                session_id,
                from,
            )
            .await
            .map_err(|e| {
                refused(
                    Kind::Unavailable,
                    format!("node {node_id}, which serves the session, did not answer: {e}"),
                )
            })?;
            Ok(chunk.map(|c| portunus_web::LiveOutput {
                header: c.header,
                first: c.first,
                lines: c.lines,
                skipped: c.skipped,
                size: c.size,
            }))
        })
    }

    fn cluster_status(&self) -> serde_json::Value {
        self.probe.cluster_status()
    }
}
