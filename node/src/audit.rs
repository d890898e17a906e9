//! The node's audit sink: typed audit events appended as JSON lines under the data directory
//! (`audit/events.jsonl`, this node's view), and, per session, replicated to a majority of the
//! cluster as blobs readable from every node: the recording (asciicast v2) as
//! `recording-<session id>.cast` and the session's events (command lines, file operations,
//! tunnel records) as `events-<session id>.jsonl`, stored when the session closes.

use portunus_proxy::gate::{AuditEvent, AuditSink, BoxFuture};
use serde_json::json;
use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;

/// A session's events kept for its blob stop growing past this size (a marker line says so;
/// the node's local events file keeps everything).
const MAX_SESSION_EVENTS: usize = 16 * 1024 * 1024;

/// The blob name of a session's recording.
pub fn recording_name(session_id: u64) -> String {
    format!("recording-{session_id}.cast")
}

/// The blob name of a session's audit events (JSON lines).
pub fn events_name(session_id: u64) -> String {
    format!("events-{session_id}.jsonl")
}

/// Writes audit events under `<data dir>/audit/` and replicates recordings.
pub(crate) struct FileAudit {
    replica: portunus_raft::Replica,
    events: Mutex<Option<std::fs::File>>,
    /// Events of open sessions, replicated as one blob when the session closes.
    pending: Mutex<HashMap<u64, Vec<u8>>>,
}

impl FileAudit {
    pub(crate) fn new(
        data_dir: &std::path::Path,
        replica: portunus_raft::Replica,
    ) -> std::io::Result<Self> {
        let dir = data_dir.join("audit");
        std::fs::create_dir_all(&dir)?;
        let events = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("events.jsonl"))?;
        Ok(FileAudit {
            replica,
            events: Mutex::new(Some(events)),
            pending: Mutex::new(HashMap::new()),
        })
    }

    /// Replicates the events of a closed session (if it had any) to a majority.
    pub(crate) async fn seal(&self, session_id: u64) {
        let lines = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&session_id);
        let Some(lines) = lines.filter(|l| !l.is_empty()) else {
            return;
        };
        match self.replica.put_blob(&events_name(session_id), lines).await {
            Ok(copies) => tracing::info!(session_id, copies, "session events stored"),
            Err(e) => tracing::error!(session_id, error = %e, "storing session events failed"),
        }
    }
}

fn session_of(event: &AuditEvent) -> u64 {
    match event {
        AuditEvent::Command { session_id, .. }
        | AuditEvent::FileOp { session_id, .. }
        | AuditEvent::Tunnel { session_id, .. } => *session_id,
    }
}

fn event_json(event: &AuditEvent) -> serde_json::Value {
    match event {
        AuditEvent::Command {
            session_id,
            at,
            line,
        } => {
            json!({"type": "command", "session_id": session_id, "at": at, "line": line})
        }
        AuditEvent::FileOp {
            session_id,
            op,
            path,
            target_path,
            bytes,
        } => json!({
            "type": "file", "session_id": session_id, "op": op, "path": path,
            "target_path": target_path, "bytes": bytes
        }),
        AuditEvent::Tunnel {
            session_id,
            host,
            port,
            bytes_up,
            bytes_down,
        } => json!({
            "type": "tunnel", "session_id": session_id, "host": host, "port": port,
            "bytes_up": bytes_up, "bytes_down": bytes_down
        }),
    }
}

impl AuditSink for FileAudit {
    fn event(&self, event: AuditEvent) {
        let mut line = event_json(&event).to_string();
        line.push('\n');
        {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            let kept = pending.entry(session_of(&event)).or_default();
            if kept.len() + line.len() <= MAX_SESSION_EVENTS {
                kept.extend_from_slice(line.as_bytes());
            } else if !kept.ends_with(b"\"truncated\"}\n") {
                kept.extend_from_slice(b"{\"type\":\"truncated\"}\n");
            }
        }
        let mut guard = self.events.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = guard.as_mut() {
            if let Err(e) = f.write_all(line.as_bytes()) {
                tracing::error!(error = %e, "writing an audit event failed");
            }
        }
    }

    fn recording(&self, session_id: u64, asciicast: Vec<u8>) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let name = recording_name(session_id);
            match self.replica.put_blob(&name, asciicast).await {
                Ok(copies) => tracing::info!(session_id, copies, "session recording stored"),
                Err(e) => {
                    tracing::error!(session_id, error = %e, "storing a session recording failed")
                }
            }
        })
    }
}
