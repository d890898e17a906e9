//! A `session` channel: gathers the client's pty/env requests, resolves the target (named in
//! the login, the token's, or picked from the menu), logs in to it and hands over to
//! [`super::pipe`]. Every request is answered, or OpenSSH waits forever.

use std::sync::Arc;
use std::time::Duration;

use russh::server::Msg;
use russh::{Channel, ChannelMsg, Pty};

use super::conn::Conn;
use super::error::SshError;
use super::lease::Lease;
use super::taps::Taps;
use super::{approval, menu, pipe, upstream};
use crate::gate::{AuditEvent, AuditSink, Permit, Purpose, Refusal, RefusalKind, SessionGate};
use crate::gate::{TargetSpec, Verdict};

/// The client's terminal, as asked with `pty-req` and updated by `window-change`.
#[derive(Clone, Debug)]
pub(crate) struct PtyReq {
    pub term: String,
    pub cols: u32,
    pub rows: u32,
    pub pix_width: u32,
    pub pix_height: u32,
    pub modes: Vec<(Pty, u32)>,
}

/// What the client asked for before starting.
#[derive(Debug, Default)]
pub(crate) struct Setup {
    pub pty: Option<PtyReq>,
    pub env: Vec<(String, String)>,
}

/// What the channel runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Start {
    Shell,
    Exec(Vec<u8>),
    Sftp,
    /// Not a start: the client closed the channel first.
    Gone,
}

/// Runs one session channel to its end.
pub(crate) async fn run<G: SessionGate, A: AuditSink>(
    conn: Arc<Conn<G, A>>,
    mut channel: Channel<Msg>,
) {
    let id = channel.id();
    let mut setup = Setup::default();
    let Some(start) = gather(&conn, &mut channel, &mut setup).await else {
        return;
    };
    if let Err(err) = serve(&conn, channel, setup, start).await {
        tracing::info!(error = %err, "ssh: session channel ended with an error");
        let words = format!("portunus: {}\r\n", err.user_message());
        let h = &conn.handle;
        let _ = h.extended_data(id, 1, words.into_bytes()).await;
        let _ = h.exit_status_request(id, 1).await;
        let _ = h.eof(id).await;
        let _ = h.close(id).await;
    }
}

/// Answers requests until the client asks for a shell, a command or SFTP.
async fn gather<G: SessionGate, A: AuditSink>(
    conn: &Conn<G, A>,
    channel: &mut Channel<Msg>,
    setup: &mut Setup,
) -> Option<Start> {
    let (id, h) = (channel.id(), &conn.handle);
    loop {
        let msg = tokio::select! {
            msg = channel.wait() => msg?,
            () = conn.closed.cancelled() => return None,
        };
        let (want_reply, ok, start) = classify(msg, setup);
        if want_reply {
            let _ = if ok {
                h.channel_success(id).await
            } else {
                h.channel_failure(id).await
            };
        }
        match start {
            Some(Start::Gone) => return None,
            Some(start) => return Some(start),
            None => {}
        }
    }
}

/// What a request asks: (wants a reply, granted, starts something).
fn classify(msg: ChannelMsg, setup: &mut Setup) -> (bool, bool, Option<Start>) {
    match msg {
        ChannelMsg::RequestPty {
            want_reply,
            term,
            col_width,
            row_height,
            pix_width,
            pix_height,
            terminal_modes,
        } => {
            setup.pty = Some(PtyReq {
                term,
                cols: col_width,
                rows: row_height,
                pix_width,
                pix_height,
                modes: terminal_modes,
            });
            (want_reply, true, None)
        }
        ChannelMsg::SetEnv {
            want_reply,
            variable_name,
            variable_value,
        } => {
            setup.env.push((variable_name, variable_value));
            (want_reply, true, None)
        }
        ChannelMsg::WindowChange {
            col_width,
            row_height,
            pix_width,
            pix_height,
        } => {
            if let Some(pty) = setup.pty.as_mut() {
                (pty.cols, pty.rows, pty.pix_width, pty.pix_height) =
                    (col_width, row_height, pix_width, pix_height);
            }
            (false, true, None)
        }
        ChannelMsg::RequestShell { want_reply } => (want_reply, true, Some(Start::Shell)),
        ChannelMsg::Exec {
            want_reply,
            command,
        } => (want_reply, true, Some(Start::Exec(command))),
        ChannelMsg::RequestSubsystem { want_reply, name } => {
            let sftp = name == "sftp";
            (want_reply, sftp, sftp.then_some(Start::Sftp))
        }
        ChannelMsg::RequestX11 { want_reply, .. } | ChannelMsg::AgentForward { want_reply } => {
            (want_reply, false, None)
        }
        ChannelMsg::Eof | ChannelMsg::Close => (false, false, Some(Start::Gone)),
        _ => (false, true, None),
    }
}

/// Resolves the target, logs in there, starts the same thing and relays.
async fn serve<G: SessionGate, A: AuditSink>(
    conn: &Arc<Conn<G, A>>,
    mut channel: Channel<Msg>,
    mut setup: Setup,
    start: Start,
) -> Result<(), SshError> {
    let lease = resolve(conn, &mut channel, &mut setup, &start).await?;
    let permit = lease.permit();
    if permit.sftp_only && start != Start::Sftp {
        return Err(Refusal {
            kind: RefusalKind::NotAuthorized,
            message: format!(
                "{}@{} is limited to SFTP",
                permit.account_name, permit.asset_name
            ),
        }
        .into());
    }
    if let Some(refused) = policy_refusal(permit, &start) {
        conn.shared.audit.event(AuditEvent::Refused {
            session_id: permit.session_id,
            at: 0.0,
            action: refused.0.into(),
            target: refused.1,
            reason: refused.2.message.clone(),
        });
        return Err(refused.2.into());
    }
    if let Start::Exec(cmd) = &start {
        let line = String::from_utf8_lossy(cmd).into_owned();
        if permit.controls.exec_verdict(&line) == Verdict::NeedsApproval {
            let notices = approval::Notices {
                channel: channel.id(),
                on_stdout: false,
            };
            // The client's keys reach the channel only once it starts: a Ctrl-C here ends the
            // client itself, which `wait` sees as the engineer leaving.
            let withdrawn = std::future::pending();
            if let Err(refused) = approval::wait(conn, &lease, notices, &line, withdrawn).await {
                conn.shared.audit.event(AuditEvent::Refused {
                    session_id: permit.session_id,
                    at: 0.0,
                    action: "exec".into(),
                    target: line,
                    reason: refused.message.clone(),
                });
                return Err(refused.into());
            }
        }
    }
    if matches!(start, Start::Shell | Start::Exec(_)) {
        conn.may_record(&lease)?;
    }
    let shared = &conn.shared;
    let timeout = Duration::from_secs(shared.config.settings.target_connect_timeout_secs.max(1));
    let target = upstream::connect(
        Arc::clone(&shared.client_config),
        Arc::clone(&shared.gate),
        permit,
        timeout,
    )
    .await
    .inspect_err(|_| lease.mark_error())?;
    let mut tchan = upstream::open_session(&target).await?;
    if let Some(p) = &setup.pty {
        tchan
            .request_pty(
                false,
                &p.term,
                p.cols,
                p.rows,
                p.pix_width,
                p.pix_height,
                &p.modes,
            )
            .await?;
    }
    for (name, value) in &setup.env {
        tchan.set_env(false, name.as_str(), value.as_str()).await?;
    }
    request_start(&mut tchan, &start).await?;
    let taps = Taps::new(conn, &lease, &start, setup.pty.as_ref());
    pipe::run(conn, channel, tchan, &lease, taps).await;
    let _ = target
        .disconnect(russh::Disconnect::ByApplication, "", "en")
        .await;
    Ok(())
}

/// What the session's control policy refuses of `start`: the action, what it was tried on,
/// and the refusal.
fn policy_refusal(permit: &Permit, start: &Start) -> Option<(&'static str, String, Refusal)> {
    let c = &permit.controls;
    match start {
        Start::Shell => c.shell_refusal().map(|r| ("shell", String::new(), r)),
        Start::Exec(cmd) => {
            let line = String::from_utf8_lossy(cmd).into_owned();
            match c.exec_verdict(&line) {
                Verdict::Refused(r) => Some(("exec", line, r)),
                Verdict::Run | Verdict::NeedsApproval => None,
            }
        }
        Start::Sftp => c.sftp_refusal().map(|r| ("sftp", String::new(), r)),
        Start::Gone => None,
    }
}

/// Asks the target for the same start and waits for its answer.
pub(crate) async fn request_start(
    tchan: &mut Channel<russh::client::Msg>,
    start: &Start,
) -> Result<(), SshError> {
    let what = match start {
        Start::Shell => {
            tchan.request_shell(true).await?;
            "shell"
        }
        Start::Exec(cmd) => {
            tchan.exec(true, cmd.clone()).await?;
            "exec"
        }
        Start::Sftp => {
            tchan.request_subsystem(true, "sftp").await?;
            "subsystem"
        }
        Start::Gone => return Err(SshError::Client("channel closed")),
    };
    wait_reply(tchan, what).await
}

/// Waits for the target's answer to the start request.
async fn wait_reply(
    tchan: &mut Channel<russh::client::Msg>,
    what: &'static str,
) -> Result<(), SshError> {
    loop {
        match tchan.wait().await {
            Some(ChannelMsg::Success) => return Ok(()),
            Some(ChannelMsg::Failure) | Some(ChannelMsg::Close) | None => {
                return Err(SshError::TargetRequest(what))
            }
            Some(_) => {}
        }
    }
}

/// Which session this channel runs under.
async fn resolve<G: SessionGate, A: AuditSink>(
    conn: &Arc<Conn<G, A>>,
    channel: &mut Channel<Msg>,
    setup: &mut Setup,
    start: &Start,
) -> Result<Arc<Lease<G>>, SshError> {
    let purpose = if *start == Start::Sftp {
        Purpose::Sftp
    } else {
        Purpose::Shell
    };
    if let Some(t) = &conn.target {
        let spec = TargetSpec::Named {
            asset: t.asset.clone(),
            account: t.account.clone(),
        };
        return Ok(conn.open_lease(spec, purpose).await?);
    }
    if let Some(lease) = &conn.token_lease {
        return Ok(Arc::clone(lease));
    }
    if *start == Start::Shell && setup.pty.is_some() {
        let spec = menu::choose(conn, channel, setup).await?;
        return Ok(conn.open_lease(spec, purpose).await?);
    }
    Err(Refusal {
        kind: RefusalKind::NotAuthorized,
        message: "name the target in the login: ssh user@account@asset@bastion".into(),
    }
    .into())
}
