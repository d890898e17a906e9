//! Terminals opened from elsewhere than an SSH client (the web portal's terminal): a shell on a
//! host account reached through the same path as an SSH shell — the gate's admission (slot and
//! authorization, taken by the caller), the bastion's own login with the hosted credential
//! ([`super::upstream`]), the recording and the command audit ([`super::taps`]), the lease that
//! watches for termination and idleness and gives the session back ([`super::lease`]). Only the
//! client side differs: the terminal's bytes come and go through channels instead of an SSH
//! channel. The session's control policy applies as in an SSH shell: command lines are checked
//! at Enter ([`super::guard`], through the taps) and a line held for approval waits for an
//! administrator's decision ([`super::approval`]), the engineer told in the terminal.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use russh::ChannelMsg;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::approval;
use super::error::SshError;
use super::lease::Lease;
use super::ratelimit::AuthLimiter;
use super::session::{request_start, PtyReq, Start};
use super::taps::{notice, Passed, Taps};
use super::upstream::{self, TargetHandle};
use super::Shared;
use crate::gate::{Admission, AssetKind, AuditSink, Refusal, RefusalKind, SessionGate};

/// The target's side of a terminal's channel.
type Target = russh::ChannelWriteHalf<russh::client::Msg>;

/// Words shown when the node stops while a terminal runs.
const NODE_STOPPING: &str = "session ended: this bastion node is shutting down; open the \
     terminal again (another node may serve you)";

/// What the terminal's user did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TerminalInput {
    /// Keys typed or pasted.
    Data(Vec<u8>),
    /// The terminal's new size.
    Resize { cols: u32, rows: u32 },
}

/// What the target did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TerminalOutput {
    /// What the shell printed (stdout and stderr).
    Data(Vec<u8>),
    /// The session ended, with the words for the user. Nothing follows.
    Ended(String),
}

/// A running terminal. Dropping `input` ends its session.
#[derive(Debug)]
pub struct Terminal {
    pub session_id: u64,
    pub input: mpsc::Sender<TerminalInput>,
    pub output: mpsc::Receiver<TerminalOutput>,
}

/// Opens terminals with a gateway's gate, audit sink, SSH client settings and login limits.
pub struct Terminals<G: SessionGate, A: AuditSink> {
    shared: Arc<Shared<G, A>>,
    stop: CancellationToken,
}

impl<G: SessionGate, A: AuditSink> Clone for Terminals<G, A> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            stop: self.stop.clone(),
        }
    }
}

impl<G: SessionGate, A: AuditSink> Terminals<G, A> {
    pub(crate) fn new(shared: Arc<Shared<G, A>>, stop: CancellationToken) -> Self {
        Self { shared, stop }
    }

    /// The gateway's login attempt limits (per address and per user), for logins made
    /// elsewhere that must count with the SSH ones.
    pub fn limiter(&self) -> Arc<AuthLimiter> {
        Arc::clone(&self.shared.limiter)
    }

    /// Runs a shell under `admission` (a host account's session the gate admitted) in a
    /// `cols`x`rows` terminal. The session is given back when the shell ends, the user goes
    /// (drops the input) or the session is terminated.
    pub async fn open(
        &self,
        admission: Admission,
        cols: u32,
        rows: u32,
    ) -> Result<Terminal, SshError> {
        let lease = Lease::new(admission, Arc::clone(&self.shared.gate));
        let permit = lease.permit();
        let refused = |message: String| {
            lease.mark_error();
            SshError::Refused(Refusal {
                kind: RefusalKind::NotAuthorized,
                message,
            })
        };
        if permit.kind != AssetKind::Host {
            let name = &permit.asset_name;
            return Err(refused(format!(
                "{name} is a database: reach it with an O&M token"
            )));
        }
        if permit.sftp_only {
            let (account, asset) = (&permit.account_name, &permit.asset_name);
            return Err(refused(format!("{account}@{asset} is limited to SFTP")));
        }
        let settings = &self.shared.config.settings;
        let timeout = Duration::from_secs(settings.target_connect_timeout_secs.max(1));
        let client = Arc::clone(&self.shared.client_config);
        let gate = Arc::clone(&self.shared.gate);
        let target = upstream::connect(client, gate, permit, timeout)
            .await
            .inspect_err(|_| lease.mark_error())?;
        let mut channel = upstream::open_session(&target).await?;
        let pty = PtyReq {
            term: "xterm-256color".into(),
            cols,
            rows,
            pix_width: 0,
            pix_height: 0,
            modes: Vec::new(),
        };
        channel
            .request_pty(false, &pty.term, cols, rows, 0, 0, &[])
            .await?;
        request_start(&mut channel, &Start::Shell).await?;
        let audit = &self.shared.audit;
        let record = settings.record_sessions;
        let taps = Taps::of_session(audit, &lease, record, &Start::Shell, Some(&pty));
        let (input, input_rx) = mpsc::channel(64);
        let (output_tx, output) = mpsc::channel(64);
        let session_id = lease.session_id();
        let relay = Relay {
            gate: Arc::clone(&self.shared.gate),
            lease,
            taps,
            output: output_tx,
            stop: self.stop.clone(),
            queued: VecDeque::new(),
        };
        tokio::spawn(relay.run(target, channel, input_rx));
        Ok(Terminal {
            session_id,
            input,
            output,
        })
    }
}

/// One terminal's relay, owning its session's lease and audit taps.
struct Relay<G: SessionGate, A: AuditSink> {
    gate: Arc<G>,
    lease: Arc<Lease<G>>,
    taps: Taps<A>,
    output: mpsc::Sender<TerminalOutput>,
    stop: CancellationToken,
    /// Input that arrived while a command waited for approval, handled after the decision.
    queued: VecDeque<TerminalInput>,
}

/// Waits until the recording parts handed off are stored (backpressure, as in `pipe`).
async fn recorded(stored: Option<tokio::sync::oneshot::Receiver<()>>) {
    if let Some(stored) = stored {
        let _ = stored.await;
    }
}

impl<G: SessionGate, A: AuditSink> Relay<G, A> {
    async fn run(
        mut self,
        target: TargetHandle<G>,
        channel: russh::Channel<russh::client::Msg>,
        mut input: mpsc::Receiver<TerminalInput>,
    ) {
        let (mut from, to) = channel.split();
        let mut exit = None;
        let words = loop {
            if let Some(queued) = self.queued.pop_front() {
                match self.input(&to, Some(queued), &mut input).await {
                    Some(end) => break end,
                    None => continue,
                }
            }
            tokio::select! {
                typed = input.recv() => if let Some(end) = self.input(&to, typed, &mut input).await {
                    break end;
                },
                shown = from.wait() => match shown {
                    Some(ChannelMsg::Data { data }) => {
                        if !self.show(&data, false).await {
                            break None;
                        }
                    }
                    Some(ChannelMsg::ExtendedData { data, .. }) => {
                        if !self.show(&data, true).await {
                            break None;
                        }
                    }
                    Some(ChannelMsg::ExitStatus { exit_status }) => exit = Some(exit_status),
                    Some(ChannelMsg::Close) | None => break Some(match exit {
                        Some(code) => format!("session closed (exit status {code})"),
                        None => "session closed".to_string(),
                    }),
                    Some(_) => {}
                },
                () = self.lease.terminated() => break Some(self.lease.termination_reason()),
                () = self.stop.cancelled() => break Some(NODE_STOPPING.to_string()),
            }
        };
        if let Some(words) = words {
            let _ = self.output.send(TerminalOutput::Ended(words)).await;
        }
        let _ = to.close().await;
        self.taps.finish().await;
        let _ = target
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }

    /// One input from the browser; Some when the relay ends (with the words for the user).
    async fn input(
        &mut self,
        to: &Target,
        typed: Option<TerminalInput>,
        input: &mut mpsc::Receiver<TerminalInput>,
    ) -> Option<Option<String>> {
        match typed {
            Some(TerminalInput::Data(data)) => {
                if self.typed(to, &data, input).await.is_err() {
                    return Some(Some("session ended: the host closed the connection".into()));
                }
            }
            Some(TerminalInput::Resize { cols, rows }) => {
                self.taps.resize(cols, rows);
                let _ = to.window_change(cols, rows, 0, 0).await;
            }
            None => return Some(None),
        }
        None
    }

    /// Keys typed: what the session's command control lets through reaches the target (a line
    /// it holds for approval waits for the decision, which Ctrl-C withdraws), recorded and
    /// audited as in an SSH shell.
    async fn typed(
        &mut self,
        to: &Target,
        data: &[u8],
        input: &mut mpsc::Receiver<TerminalInput>,
    ) -> Result<(), russh::Error> {
        let guarded = self.taps.guard(data);
        self.taps.input(&guarded.forward);
        let stored = self.taps.hand_off();
        self.lease.add_up(guarded.forward.len());
        let held = guarded.held.clone();
        let mut sent = self.forward(to, guarded).await;
        recorded(stored).await;
        if let (Some(line), Ok(())) = (held, &sent) {
            let output = self.output.clone();
            let say = |words: String| {
                let output = output.clone();
                async move {
                    let shown = notice(&words).into_bytes();
                    let _ = output.send(TerminalOutput::Data(shown)).await;
                }
            };
            let queued = &mut self.queued;
            let withdrawn = async move {
                loop {
                    match input.recv().await {
                        Some(TerminalInput::Data(d)) if approval::interrupts(&d) => {
                            return approval::CTRL_C.to_string();
                        }
                        Some(other) => {
                            queued.push_back(other);
                            if queued.len() >= approval::MAX_QUEUED {
                                return approval::TOO_MUCH.to_string();
                            }
                        }
                        None => return "the engineer left".to_string(),
                    }
                }
            };
            let refused = approval::decide(&*self.gate, &self.lease, &line, say, withdrawn)
                .await
                .err();
            let decided = self.taps.decided(&line, refused.as_ref());
            self.taps.input(&decided.forward);
            sent = self.forward(to, decided).await;
        }
        sent
    }

    /// Sends what command control let through, and shows why a line was refused.
    async fn forward(&mut self, to: &Target, passed: Passed) -> Result<(), russh::Error> {
        if !passed.forward.is_empty() {
            to.data_bytes(passed.forward).await?;
        }
        for r in passed.refused {
            let shown = notice(&r.reason).into_bytes();
            let _ = self.output.send(TerminalOutput::Data(shown)).await;
        }
        Ok(())
    }

    /// Records and passes on what the shell printed; false when the user is gone.
    async fn show(&mut self, data: &[u8], stderr: bool) -> bool {
        let filtered = match stderr {
            true => None,
            false => self.taps.filter_down(data),
        };
        let data = filtered.as_deref().unwrap_or(data);
        if stderr {
            self.taps.stderr(data);
        } else {
            self.taps.output(data);
        }
        let stored = self.taps.hand_off();
        self.lease.add_down(data.len());
        let sent = self.output.send(TerminalOutput::Data(data.to_vec())).await;
        recorded(stored).await;
        sent.is_ok()
    }
}
