//! What the relay shows the audit: a shell's recording and command lines, an exec's command,
//! SFTP file operations. Fed by [`super::pipe`] with the bytes of each direction.
//!
//! A recording reaches the audit sink in parts ([`super::recorder::PART_BYTES`] each) while the
//! session runs: the target->client relay takes the completed parts with [`Taps::hand_off`] and
//! waits until they are stored before relaying more output, so a session holds at most its
//! current part and one being stored, and a slow store slows that session's output instead of
//! growing memory. The final part goes with [`Taps::finish`].

use std::sync::Arc;
use std::time::Instant;

use super::conn::Conn;
use super::echo::EchoCheck;
use super::lease::Lease;
use super::recorder::{LineEditor, Part, Recorder};
use super::session::{PtyReq, Start};
use super::sftp::{FileOp, SftpAudit};
use crate::gate::{AuditEvent, AuditSink, SessionGate};

/// The audit taps of one session channel.
pub(crate) struct Taps<A: AuditSink> {
    audit: Option<Arc<A>>,
    session_id: u64,
    started: Instant,
    recorder: Option<Recorder>,
    commands: Option<LineEditor>,
    echo: EchoCheck,
    sftp: Option<SftpAudit>,
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
        let mut taps = Self::none();
        taps.audit = Some(Arc::clone(&conn.shared.audit));
        taps.session_id = lease.session_id();
        let record = conn.shared.config.settings.record_sessions;
        match start {
            Start::Sftp => taps.sftp = Some(SftpAudit::default()),
            Start::Exec(cmd) => {
                let line = String::from_utf8_lossy(cmd).into_owned();
                taps.emit(AuditEvent::Command {
                    session_id: taps.session_id,
                    at: 0.0,
                    line,
                });
            }
            Start::Shell => taps.commands = Some(LineEditor::default()),
            Start::Gone => {}
        }
        if let (Some(p), true, false) = (pty, record, *start == Start::Sftp) {
            taps.recorder = Some(Recorder::new(p.cols, p.rows, &p.term));
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
            commands: None,
            echo: EchoCheck::default(),
            sftp: None,
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

    /// Bytes typed by the client.
    pub fn input(&mut self, data: &[u8]) {
        if let Some(sftp) = self.sftp.as_mut() {
            let ops = sftp.client(data);
            self.file_ops(ops);
        }
        if let Some(editor) = self.commands.as_mut() {
            let at = self.started.elapsed().as_secs_f64();
            let lines = editor.feed(data);
            let decided = self.echo.typed(at, lines);
            self.emit_commands(decided);
        }
    }

    fn emit_commands(&self, lines: Vec<(f64, String)>) {
        for (at, line) in lines {
            self.emit(AuditEvent::Command {
                session_id: self.session_id,
                at,
                line,
            });
        }
    }

    /// Bytes sent by the target (stdout and stderr).
    pub fn output(&mut self, data: &[u8]) {
        if self.commands.is_some() {
            self.echo.output(data);
        }
        if let Some(sftp) = self.sftp.as_mut() {
            let ops = sftp.server(data);
            self.file_ops(ops);
        }
        if let Some(rec) = self.recorder.as_mut() {
            rec.output(data);
        }
    }

    /// Extended data (stderr) from the target: recorded, never parsed as SFTP.
    pub fn stderr(&mut self, data: &[u8]) {
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
        let pending = self.echo.finish();
        self.emit_commands(pending);
        if let Some(mut sftp) = self.sftp.take() {
            self.file_ops(sftp.finish());
        }
        if let Some(rec) = self.recorder.take() {
            // Stored after the parts being stored, so this waits for them too.
            let _ = self.store(rec.finish(), true).await;
        }
    }
}
