//! What the relay shows the audit: the recording of every shell and exec, with or without a
//! PTY (output and input; input typed at a password prompt masked), a shell's command lines,
//! an exec's command, SFTP file operations. Fed by [`super::pipe`] with the bytes of each
//! direction.
//!
//! A recording reaches the audit sink in parts ([`super::recorder::PART_BYTES`] each) while the
//! session runs: the relay direction that completed a part (output or input) takes it with
//! [`Taps::hand_off`] and waits until it is stored before relaying more, so a session holds at
//! most its current part and those being stored, and a slow store slows that session instead of
//! growing memory. The final part goes with [`Taps::finish`].

use std::sync::Arc;
use std::time::Instant;

use super::conn::Conn;
use super::echo::{Decided, InputAudit};
use super::guard::LineGuard;
use super::lease::Lease;
use super::recorder::{Part, Recorder, DEFAULT_SIZE};
use super::session::{PtyReq, Start};
use super::sftp::{FileOp, RefusedOp, SftpAudit, SftpFilter};
use crate::gate::{AuditEvent, AuditSink, CommandInput, SessionGate};

/// The audit taps of one session channel.
pub(crate) struct Taps<A: AuditSink> {
    audit: Option<Arc<A>>,
    session_id: u64,
    started: Instant,
    recorder: Option<Recorder>,
    /// Command lines and the password-prompt position (shells and execs).
    lines: Option<InputAudit>,
    sftp: Option<SftpAudit>,
    /// Command control of a shell whose policy has it.
    guard: Option<LineGuard>,
    /// SFTP operation control, when the policy refuses some.
    sftp_filter: Option<SftpFilter>,
    /// The recording parts being stored (a task, so that they are stored in order even if the
    /// relay that waits for them is dropped).
    storing: Option<tokio::task::JoinHandle<()>>,
}

impl<A: AuditSink> Taps<A> {
    pub fn new<G: SessionGate>(
        conn: &Conn<G, A>,
        lease: &Lease<G>,
        start: &Start,
        pty: Option<&PtyReq>,
    ) -> Self {
        let record = conn.shared.config.settings.record_sessions;
        Self::of_session(&conn.shared.audit, lease, record, start, pty)
    }

    /// The taps of `lease`'s session running `start` (with `record`, its recording), under its
    /// control policy.
    pub fn of_session<G: SessionGate>(
        audit: &Arc<A>,
        lease: &Lease<G>,
        record: bool,
        start: &Start,
        pty: Option<&PtyReq>,
    ) -> Self {
        let mut taps = Self::none();
        taps.audit = Some(Arc::clone(audit));
        taps.session_id = lease.session_id();
        match start {
            Start::Sftp => {
                taps.sftp = Some(SftpAudit::default());
                taps.sftp_filter = SftpFilter::new(&lease.permit().controls);
            }
            Start::Exec(cmd) => {
                let line = String::from_utf8_lossy(cmd).into_owned();
                taps.emit(AuditEvent::Command {
                    session_id: taps.session_id,
                    at: 0.0,
                    line,
                    input: CommandInput::Exec,
                });
                taps.lines = Some(InputAudit::exec());
            }
            Start::Shell => {
                taps.lines = Some(InputAudit::shell());
                taps.guard = LineGuard::new(&lease.permit().controls, pty.is_some());
            }
            Start::Gone => {}
        }
        if record && matches!(start, Start::Shell | Start::Exec(_)) {
            let mut recorder = match pty {
                Some(p) => Recorder::new(p.cols, p.rows, Some(&p.term)),
                None => Recorder::new(DEFAULT_SIZE.0, DEFAULT_SIZE.1, None),
            };
            recorder.watch(audit.live().open(taps.session_id, recorder.header()));
            taps.recorder = Some(recorder);
        }
        taps
    }

    /// Taps that see nothing.
    pub fn none() -> Self {
        Self {
            audit: None,
            session_id: 0,
            started: Instant::now(),
            recorder: None,
            lines: None,
            sftp: None,
            guard: None,
            sftp_filter: None,
            storing: None,
        }
    }

    fn emit(&self, event: AuditEvent) {
        if let Some(audit) = &self.audit {
            audit.event(event);
        }
    }

    fn file_ops(&self, ops: Vec<FileOp>) {
        for op in ops {
            let FileOp {
                op,
                path,
                target_path,
                bytes,
            } = op;
            let session_id = self.session_id;
            self.emit(AuditEvent::FileOp {
                session_id,
                op: op.into(),
                path,
                target_path,
                bytes,
            });
        }
    }

    /// What of the client's bytes reaches the target under the session's control policy
    /// (command control of a shell, operation control of SFTP); refusals are audited, and a
    /// refused command's notice recorded (the caller shows the notices to the engineer).
    pub fn guard(&mut self, data: &[u8]) -> Passed {
        let mut passed = Passed::default();
        if let Some(g) = self.guard.as_mut() {
            passed.on_stdout = g.pty();
            let g = g.input(data);
            passed.forward = g.forward;
            passed.refused.extend(g.refused.map(command_refusal));
            passed.held = g.held;
        } else if let Some(f) = self.sftp_filter.as_mut() {
            match f.client(data) {
                Ok((forward, refused)) => (passed.forward, passed.refused) = (forward, refused),
                Err(_) => passed.broken = true,
            }
        } else {
            passed.forward = data.to_vec();
        }
        self.note_refusals(&passed.refused);
        passed
    }

    /// Whether the target's shell has not shown its prompt since the Ctrl-C of a refused line
    /// (see [`LineGuard::settling`]).
    pub fn settling(&self) -> bool {
        self.guard.as_ref().is_some_and(LineGuard::settling)
    }

    /// Stop waiting for the target's prompt.
    pub fn settled(&mut self) {
        if let Some(g) = self.guard.as_mut() {
            g.settled();
        }
    }

    /// The client's EOF, under command control (a held last line is checked).
    pub fn guard_eof(&mut self) -> Passed {
        let mut passed = Passed::default();
        if let Some(g) = self.guard.as_mut() {
            passed.on_stdout = g.pty();
            let g = g.eof();
            passed.forward = g.forward;
            passed.refused.extend(g.refused.map(command_refusal));
            passed.held = g.held;
        }
        self.note_refusals(&passed.refused);
        passed
    }

    /// The decision on a held command line (see [`Passed::held`]): what goes to the target
    /// now; a refusal is audited like any other.
    pub fn decided(&mut self, line: &str, refused: Option<&crate::gate::Refusal>) -> Passed {
        let mut passed = Passed::default();
        if let Some(g) = self.guard.as_mut() {
            passed.on_stdout = g.pty();
            passed.forward = g.decided(refused.is_none());
        }
        if let Some(r) = refused {
            passed
                .refused
                .push(command_refusal((line.to_string(), r.clone())));
        }
        self.note_refusals(&passed.refused);
        passed
    }

    /// The target's bytes as the client gets them: None when unchanged (answers to refused
    /// SFTP operations are replaced).
    pub fn filter_down(&mut self, data: &[u8]) -> Option<Vec<u8>> {
        self.sftp_filter.as_mut().map(|f| f.server(data))
    }

    fn note_refusals(&mut self, refused: &[RefusedOp]) {
        for r in refused {
            self.emit(AuditEvent::Refused {
                session_id: self.session_id,
                at: self.started.elapsed().as_secs_f64(),
                action: r.action.clone(),
                target: r.path.clone(),
                reason: r.reason.clone(),
            });
            if let Some(rec) = self.recorder.as_mut() {
                rec.output(notice(&r.reason).as_bytes());
            }
        }
    }

    /// Bytes typed (or piped) by the client, as they reach the target.
    pub fn input(&mut self, data: &[u8]) {
        if let Some(sftp) = self.sftp.as_mut() {
            let ops = sftp.client(data);
            self.file_ops(ops);
        }
        let mut secret = false;
        if let Some(lines) = self.lines.as_mut() {
            let at = self.started.elapsed().as_secs_f64();
            let decided;
            (decided, secret) = lines.typed(at, data);
            self.emit_commands(decided);
        }
        if let Some(rec) = self.recorder.as_mut() {
            rec.input(data, secret);
        }
    }

    fn emit_commands(&self, lines: Vec<Decided>) {
        for Decided { at, line, input } in lines {
            self.emit(AuditEvent::Command {
                session_id: self.session_id,
                at,
                line,
                input,
            });
        }
    }

    /// Bytes sent by the target (stdout).
    pub fn output(&mut self, data: &[u8]) {
        if let Some(sftp) = self.sftp.as_mut() {
            let ops = sftp.server(data);
            self.file_ops(ops);
        }
        self.shown(data);
    }

    /// Extended data (stderr) from the target: shown like stdout, never parsed as SFTP.
    pub fn stderr(&mut self, data: &[u8]) {
        self.shown(data);
    }

    /// What the engineer's terminal shows: recorded, and followed for the command audit and
    /// command control.
    fn shown(&mut self, data: &[u8]) {
        if let Some(g) = self.guard.as_mut() {
            g.output(data);
        }
        if let Some(lines) = self.lines.as_mut() {
            let decided = lines.output(data);
            self.emit_commands(decided);
        }
        if let Some(rec) = self.recorder.as_mut() {
            rec.output(data);
        }
    }

    /// The client's terminal was resized.
    pub fn resize(&mut self, cols: u32, rows: u32) {
        if let Some(rec) = self.recorder.as_mut() {
            rec.resize(cols, rows);
        }
    }

    /// Starts storing the recording parts completed so far (after those already being stored);
    /// the receiver resolves once they are stored. None when no part is ready. Called under the
    /// taps' lock, the receiver awaited outside it.
    pub fn hand_off(&mut self) -> Option<tokio::sync::oneshot::Receiver<()>> {
        let parts = self.recorder.as_mut()?.take_ready();
        if parts.is_empty() {
            return None;
        }
        Some(self.store(parts, false))
    }

    /// Stores `parts` in a task that first waits for the parts being stored; with `ends`, the
    /// last of them is the recording's final part.
    fn store(&mut self, parts: Vec<Part>, ends: bool) -> tokio::sync::oneshot::Receiver<()> {
        let (done, stored) = tokio::sync::oneshot::channel();
        let Some(audit) = self.audit.clone() else {
            let _ = done.send(());
            return stored;
        };
        let session_id = self.session_id;
        let before = self.storing.take();
        self.storing = Some(tokio::spawn(async move {
            if let Some(before) = before {
                let _ = before.await;
            }
            let count = parts.len();
            for (i, Part { index, bytes }) in parts.into_iter().enumerate() {
                let last = ends && i + 1 == count;
                audit.recording_part(session_id, index, bytes, last).await;
            }
            let _ = done.send(());
        }));
        stored
    }

    /// Hands what was gathered to the audit sink, the recording's final part included, and
    /// waits until the recording is stored.
    pub async fn finish(mut self) {
        if let Some(mut lines) = self.lines.take() {
            self.emit_commands(lines.finish());
        }
        if let Some(mut sftp) = self.sftp.take() {
            self.file_ops(sftp.finish());
        }
        if let Some(rec) = self.recorder.take() {
            // Stored after the parts being stored, so this waits for them too.
            let _ = self.store(rec.finish(), true).await;
        }
    }
}

/// What the engineer is shown when a command line is refused.
pub(crate) fn notice(message: &str) -> String {
    format!("\r\nportunus: {message}\r\n")
}

/// What of a chunk goes on to the target, and what was refused.
#[derive(Debug, Default)]
pub(crate) struct Passed {
    pub forward: Vec<u8>,
    pub refused: Vec<RefusedOp>,
    /// The SFTP stream can no longer be checked: the session must end.
    pub broken: bool,
    /// Notices go on the channel's output (a PTY shell) rather than its error stream.
    pub on_stdout: bool,
    /// A command line held for an administrator's approval (its Enter not sent yet).
    pub held: Option<String>,
}

fn command_refusal((line, refusal): (String, crate::gate::Refusal)) -> RefusedOp {
    RefusedOp {
        action: "command".into(),
        path: line,
        reason: refusal.message,
    }
}
