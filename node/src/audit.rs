//! The node's audit sink: typed audit events appended as JSON lines, and session recordings
//! (asciicast v2) written under the data directory.

use portunus_proxy::gate::{AuditEvent, AuditSink, BoxFuture};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

/// Writes audit records under `<data dir>/audit/`.
pub(crate) struct FileAudit {
    dir: PathBuf,
    events: Mutex<Option<std::fs::File>>,
}

impl FileAudit {
    pub(crate) fn new(data_dir: &std::path::Path) -> std::io::Result<Self> {
        let dir = data_dir.join("audit");
        std::fs::create_dir_all(dir.join("recordings"))?;
        let events = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("events.jsonl"))?;
        Ok(FileAudit {
            dir,
            events: Mutex::new(Some(events)),
        })
    }

    /// Where the recording of `session_id` is stored.
    pub(crate) fn recording_path(&self, session_id: u64) -> PathBuf {
        self.dir
            .join("recordings")
            .join(format!("{session_id}.cast"))
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
        let path = self.recording_path(session_id);
        Box::pin(async move {
            if let Err(e) = tokio::fs::write(&path, asciicast).await {
                tracing::error!(session_id, error = %e, "storing a session recording failed");
            }
        })
    }
}
