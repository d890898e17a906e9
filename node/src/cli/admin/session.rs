//! `portunus admin session list|events|verify`: session audit through the API (an Admin or Auditor
//! key): who reached what, from where, through which node; and what each session did.

use super::{params, print_json, show_list, Api};
use clap::Subcommand;
use serde_json::Value;

/// `portunus admin session ...`
#[derive(Subcommand, Debug)]
pub enum SessionCmd {
    /// List sessions, newest first.
    List {
        #[arg(long)]
        user: Option<String>,
        /// Host or database name.
        #[arg(long)]
        asset: Option<String>,
        /// SSH, MySQL, PostgreSQL, SQLServer, Oracle.
        #[arg(long)]
        protocol: Option<String>,
        /// Open or Closed.
        #[arg(long)]
        state: Option<String>,
    },
    /// A closed session's audit events: command lines, file operations, tunnels, database
    /// statements.
    Events {
        session_id: u64,
        /// Only one kind: command, file, tunnel, statement or refused.
        #[arg(long = "type")]
        kind: Option<String>,
    },
    /// Check the session trail: the node walks the hash chain of closed sessions, and this
    /// command lists every closed session and recomputes each record's hash itself; for each
    /// session named, its events are chained again and compared with its closing record.
    /// Fails when anything was changed or removed.
    Verify {
        /// Sessions whose events to check as well.
        sessions: Vec<u64>,
        /// A head (hex) noted earlier, e.g. from a previous `verify`: it must still be in the
        /// trail, so records before it were not rewritten since.
        #[arg(long)]
        head: Option<String>,
    },
}

pub(super) async fn session(api: &Api, cmd: SessionCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        SessionCmd::List {
            user,
            asset,
            protocol,
            state,
        } => {
            let p = params(&[
                ("UserName", user.as_deref()),
                ("AssetName", asset.as_deref()),
                ("Protocol", protocol.as_deref()),
                ("State", state.as_deref()),
            ]);
            let mut items = api.all("ListSessions", "Sessions", &p).await?;
            for i in &mut items {
                let at = i["StartTime"].as_u64().unwrap_or(0);
                i["Started"] = portunus_ops::client::utc_text(at).into();
            }
            let columns = [
                ("ID", "SessionId"),
                ("USER", "UserName"),
                ("ASSET", "AssetName"),
                ("ACCOUNT", "AccountName"),
                ("PROTOCOL", "Protocol"),
                ("NODE", "NodeId"),
                ("CLIENT", "ClientAddress"),
                ("STARTED", "Started"),
                ("STATE", "State"),
                ("END", "EndReason"),
            ];
            show_list(items, &columns, json)
        }
        SessionCmd::Verify { sessions, head } => {
            super::session_verify::verify(api, sessions, head, json).await
        }
        SessionCmd::Events { session_id, kind } => {
            let id = session_id.to_string();
            let p = params(&[("SessionId", Some(&id)), ("EventType", kind.as_deref())]);
            let (items, note) = api.all_noted("ListSessionEvents", "Events", &p).await?;
            if json {
                // The list alone on stdout; why it may not be whole on stderr.
                if let Some(note) = &note {
                    eprintln!("note: session {session_id}: {note}");
                }
                return print_json(&Value::Array(items));
            }
            if items.is_empty() && note.is_none() {
                say!("no events for session {session_id}");
            }
            for e in &items {
                say!("{}", event_line(e));
            }
            if let Some(note) = &note {
                say!("note: {note}");
            }
            Ok(())
        }
    }
}

/// One event in a line.
fn event_line(e: &Value) -> String {
    let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
    match e["type"].as_str() {
        Some("statement") => {
            let result = match s("result").as_str() {
                "ok" => format!("ok, {} affected, {} rows", e["affected_rows"], e["rows"]),
                "error" if e["sqlstate"].is_string() => {
                    format!("error {}: {}", s("sqlstate"), s("error"))
                }
                "error" => format!("error {}: {}", e["error_code"], s("error")),
                other => format!("{other}: {}", s("error")),
            };
            let params = match e["params"].as_array() {
                Some(p) => format!(
                    " [{}]",
                    p.iter()
                        .map(|v| v.as_str().unwrap_or_default())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None => String::new(),
            };
            format!(
                "{} {} as {}: {}{params} -> {result} ({:.1} ms)",
                s("type"),
                s("kind"),
                s("account"),
                s("text"),
                e["duration_ms"].as_f64().unwrap_or(0.0)
            )
        }
        Some("command") => format!("command ({}): {}", s("input"), s("line")),
        Some("file") => format!("file {} {} ({} bytes)", s("op"), s("path"), e["bytes"]),
        Some("refused") => format!("refused {} {}: {}", s("action"), s("target"), s("reason")),
        _ => e.to_string(),
    }
}
