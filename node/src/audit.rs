//! The node's audit sink: typed audit events appended as JSON lines under the data directory,
//! and session recordings (asciicast v2) replicated to a majority of the cluster as blobs named
//! `recording-<session id>.cast`, readable from every node.

use portunus_proxy::gate::{AuditEvent, AuditSink, BoxFuture};
use serde_json::json;
use std::io::Write;
use std::sync::Mutex;

/// The blob name of a session's recording.
pub fn recording_name(session_id: u64) -> String {
    format!("recording-{session_id}.cast")
}

/// Writes audit events under `<data dir>/audit/` and replicates recordings.
pub(crate) struct FileAudit {
    replica: portunus_raft::Replica,
    events: Mutex<Option<std::fs::File>>,
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
        })
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
