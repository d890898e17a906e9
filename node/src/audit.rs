//! The node's audit sink: typed audit events appended as JSON lines under the data directory
//! (`audit/events.jsonl`, this node's view), and, per session, replicated to a majority of the
//! cluster as blobs readable from every node: the recording (asciicast v2) in parts stored while
//! the session runs, `recording-<session id>.<part>.cast` (part 0 holds the header line; the
//! parts put together in order are the recording), then, when the session ends, an end marker
//! `recording-<session id>.end.json` (`{"parts": N}`) stored after the final part, so that a
//! recording cut short (its node died mid-session) tells from a complete one; and the session's
//! events (command lines, file operations, tunnel records, SQL statements) the same way, as JSON
//! lines in parts `events-<session id>.<part>.jsonl`: each part holds the events added since the
//! previous one, stored while the session runs (every few seconds when events were added, see
//! [`FileAudit::flush_open`]) and, the last one, when the session closes, followed by the end
//! marker `events-<session id>.end.json`. Each event's bytes are stored once, so the statements
//! of a session whose node dies mid-session are readable up to the last few seconds at no more
//! cost than storing them at the end. [`read_recording`] and [`read_events`] put the parts back
//! together. (Sessions stored before events came in parts have one blob,
//! `events-<session id>.jsonl`, which [`read_events`] still reads.)
//!
//! The events of a session are hash-chained as they are kept (`portunus_model::EventsDigest`,
//! over each line's exact bytes); [`FileAudit::seal`] gives the digest to the session's closing
//! command, so the replicated record says what its events blob must hold.

use portunus_model::EventsDigest;
use portunus_proxy::gate::{AuditEvent, AuditSink, BoxFuture, CommandInput};
use serde_json::json;
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A session's events kept for its blob stop growing past this size (a marker line says so;
/// the node's local events file keeps everything).
const MAX_SESSION_EVENTS: usize = 16 * 1024 * 1024;

/// The line that marks where a session's kept events were cut.
const TRUNCATED: &str = "{\"type\":\"truncated\"}\n";

/// The blob name of a part of a session's recording.
pub fn recording_part_name(session_id: u64, index: u32) -> String {
    format!("recording-{session_id}.{index}.cast")
}

/// The blob name of the end marker of a session's recording: `{"parts": N}`, stored after its
/// final part.
pub fn recording_end_name(session_id: u64) -> String {
    format!("recording-{session_id}.end.json")
}

/// What [`read_recording`] or [`read_events`] found of a session's recording or events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartsRead {
    /// The parts found and written out, from 0 up to the first missing one.
    pub parts: u32,
    /// The part count stated by the end marker; None without one: the session is still open,
    /// or the node that served it died before it ended.
    pub expected: Option<u32>,
}

impl PartsRead {
    /// Whether the recording or the events are whole: the session ended, and every part is
    /// there.
    pub fn complete(&self) -> bool {
        self.expected == Some(self.parts)
    }

    /// Whether nothing was found: no part and no end marker.
    pub fn nothing(&self) -> bool {
        self.parts == 0 && self.expected.is_none()
    }

    /// Why what was read is not whole, in words naming it `what` (plural: "the events of
    /// session 7"); None when it is whole.
    pub fn incomplete(&self, what: &str) -> Option<String> {
        match self.expected {
            _ if self.complete() => None,
            None => Some(format!(
                "{what} have no end marker: the session is still open, or the node that served \
                 it stopped before it ended ({} parts read)",
                self.parts
            )),
            Some(n) => Some(format!(
                "{what} are incomplete: {} of their {n} parts read, no member holds part {}",
                self.parts, self.parts
            )),
        }
    }
}

/// Reads the parts `part(0)`, `part(1)`, ... with `get` (blob name -> contents, None when no
/// member holds it), writing them to `out` in order, one at a time, up to the first missing one
/// or the count the end marker `end` states.
async fn read_parts<G, F, W>(
    end: String,
    part: impl Fn(u32) -> String,
    get: &mut G,
    out: &mut W,
) -> std::io::Result<PartsRead>
where
    G: FnMut(String) -> F,
    F: std::future::Future<Output = Option<Vec<u8>>>,
    W: Write,
{
    let expected = get(end)
        .await
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["parts"].as_u64())
        .and_then(|n| u32::try_from(n).ok());
    let mut parts = 0;
    while expected.is_none_or(|n| parts < n) {
        let Some(bytes) = get(part(parts)).await else {
            break;
        };
        out.write_all(&bytes)?;
        parts += 1;
    }
    out.flush()?;
    Ok(PartsRead { parts, expected })
}

/// Puts a session's recording (asciicast v2) back together from its blobs, fetched with `get`
/// (blob name -> contents, None when no member holds it), writing the parts to `out` in order,
/// one at a time, up to the first missing one. Whatever it finds is a valid asciicast prefix;
/// the answer tells whether it is the whole recording.
pub async fn read_recording<G, F, W>(
    session_id: u64,
    mut get: G,
    out: &mut W,
) -> std::io::Result<PartsRead>
where
    G: FnMut(String) -> F,
    F: std::future::Future<Output = Option<Vec<u8>>>,
    W: Write,
{
    let part = |i| recording_part_name(session_id, i);
    read_parts(recording_end_name(session_id), part, &mut get, out).await
}

/// The blob name of a part of a session's audit events (JSON lines): the parts put together in
/// order are the events.
pub fn events_part_name(session_id: u64, index: u32) -> String {
    format!("events-{session_id}.{index}.jsonl")
}

/// The blob name of the end marker of a session's events: `{"parts": N}`, stored after its
/// final part.
pub fn events_end_name(session_id: u64) -> String {
    format!("events-{session_id}.end.json")
}

/// The one blob that held a session's events (JSON lines) before they were stored in parts;
/// written whole when such a session closed.
pub fn single_events_name(session_id: u64) -> String {
    format!("events-{session_id}.jsonl")
}

/// Puts a session's audit events (JSON lines) back together from its blobs, as
/// [`read_recording`] does a recording: whole lines, up to the first missing part. A session
/// whose events are in one blob (stored before parts) reads as one complete part.
pub async fn read_events<G, F, W>(
    session_id: u64,
    mut get: G,
    out: &mut W,
) -> std::io::Result<PartsRead>
where
    G: FnMut(String) -> F,
    F: std::future::Future<Output = Option<Vec<u8>>>,
    W: Write,
{
    let part = |i| events_part_name(session_id, i);
    let read = read_parts(events_end_name(session_id), part, &mut get, out).await?;
    if read.nothing() {
        if let Some(bytes) = get(single_events_name(session_id)).await {
            out.write_all(&bytes)?;
            out.flush()?;
            return Ok(PartsRead {
                parts: 1,
                expected: Some(1),
            });
        }
    }
    Ok(read)
}

/// How often the events of open sessions are looked at for storing.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_secs(2);

/// An open session's new events are stored as a part at most every [`FLUSH_EVERY`], and,
/// unless this long passed, only once they are [`PART_SIZE`] bytes or an eighth of the events
/// kept so far (so that a long, slow session does not leave thousands of tiny parts to read
/// back, while a short one's events are soon stored).
const FLUSH_AT_LEAST_EVERY: Duration = Duration::from_secs(30);

/// New events of an open session this large are stored as a part at the next look.
const PART_SIZE: usize = 256 * 1024;

/// Writes audit events under `<data dir>/audit/` and replicates recordings.
pub(crate) struct FileAudit {
    replica: portunus_raft::Replica,
    /// Lines for this node's `audit/events.jsonl`, written by a thread of their own so that no
    /// statement or command waits for the disk.
    events: std::sync::mpsc::Sender<String>,
    /// Events of open sessions, replicated while they run and when they close.
    pending: Mutex<HashMap<u64, Pending>>,
    /// Sessions whose events were sealed lately (locked after `pending` when both are).
    sealed: Mutex<Sealed>,
    /// Held while a session's events blob is stored, so that an open session's partial blob
    /// never lands after its complete one.
    storing: tokio::sync::Mutex<()>,
    /// The running recorded sessions of this node, for live viewers (`crate::live`).
    live: Arc<portunus_proxy::live::LiveSessions>,
}

/// The sessions whose events were sealed lately, so that an event coming after its session's
/// end (a connection's record racing the close) does not start the session's events again:
/// stored, it would replace the session's first part.
#[derive(Default)]
struct Sealed {
    ids: std::collections::HashSet<u64>,
    order: std::collections::VecDeque<u64>,
}

impl Sealed {
    /// Sessions remembered (the oldest are forgotten first).
    const KEEP: usize = 16_384;

    fn insert(&mut self, session_id: u64) {
        if self.ids.insert(session_id) {
            self.order.push_back(session_id);
        }
        while self.order.len() > Self::KEEP {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
    }

    fn contains(&self, session_id: u64) -> bool {
        self.ids.contains(&session_id)
    }
}

/// The kept events of an open session and their chain.
struct Pending {
    /// The lines not yet stored in a part.
    lines: Vec<u8>,
    /// The bytes kept in all, stored or not (for [`MAX_SESSION_EVENTS`]).
    kept: usize,
    /// Whether the [`TRUNCATED`] line was kept.
    truncated: bool,
    digest: EventsDigest,
    /// The parts stored (the index of the next one), and when the last one was.
    parts: u32,
    stored_at: Instant,
    /// The length of the next part (the first bytes of `lines`) once it was tried: a failed
    /// store may have left copies on some members, so it is tried again with the same bytes
    /// under the same name, never with more.
    trying: Option<usize>,
}

impl Pending {
    fn new(session_id: u64) -> Self {
        Pending {
            lines: Vec::new(),
            kept: 0,
            truncated: false,
            digest: EventsDigest::start(session_id),
            parts: 0,
            stored_at: Instant::now(),
            trying: None,
        }
    }

    /// The next part, if it should be stored now: its index and a copy of its lines. They stay
    /// kept until [`Pending::stored`] says the part was stored; a part whose store failed is
    /// due again at the next look, with the same bytes under the same index.
    fn due(&mut self, now: Instant) -> Option<(u32, Vec<u8>)> {
        if let Some(len) = self.trying {
            return Some((self.parts, self.lines[..len].to_vec()));
        }
        let added = self.lines.len();
        let since = now.duration_since(self.stored_at);
        let due = added > 0
            && since >= FLUSH_EVERY
            && (added >= PART_SIZE || added * 8 >= self.kept || since >= FLUSH_AT_LEAST_EVERY);
        if !due {
            return None;
        }
        self.trying = Some(added);
        Some((self.parts, self.lines.clone()))
    }

    /// The part [`Pending::due`] gave was stored at `now`.
    fn stored(&mut self, now: Instant) {
        let len = self.trying.take().unwrap_or(0);
        self.lines.drain(..len);
        self.parts += 1;
        self.stored_at = now;
    }

    /// What is left to store when the session closes: the part being tried (if any, as it
    /// was), then the rest as one more part; and the part count for the end marker.
    fn last_parts(self) -> (Vec<(u32, Vec<u8>)>, u32) {
        let mut parts = self.parts;
        let mut rest = self.lines;
        let mut out = Vec::new();
        if let Some(len) = self.trying {
            let tail = rest.split_off(len);
            out.push((parts, rest));
            parts += 1;
            rest = tail;
        }
        if !rest.is_empty() {
            out.push((parts, rest));
            parts += 1;
        }
        (out, parts)
    }

    /// Keeps one event line (without its newline) and links it into the chain, unless the
    /// session's kept events reached [`MAX_SESSION_EVENTS`]: then the [`TRUNCATED`] line says
    /// so, once, and no later line is kept (a smaller one would fit, but the events must stay
    /// a prefix of what happened, cut where the marker says).
    fn keep(&mut self, line: &str) {
        if self.truncated {
            return;
        }
        if self.kept + line.len() < MAX_SESSION_EVENTS {
            self.push(line);
        } else if !self.truncated {
            self.truncated = true;
            self.push(TRUNCATED.trim_end());
        }
    }

    fn push(&mut self, line: &str) {
        self.lines.extend_from_slice(line.as_bytes());
        self.lines.push(b'\n');
        self.kept += line.len() + 1;
        self.digest.push(line.as_bytes());
    }
}

impl FileAudit {
    pub(crate) fn new(
        data_dir: &std::path::Path,
        replica: portunus_raft::Replica,
    ) -> std::io::Result<Self> {
        let dir = data_dir.join("audit");
        portunus_raft::durable::create_dir_all(&dir)?;
        let path = dir.join("events.jsonl");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)?;
        drop_a_cut_last_line(&mut file)?;
        portunus_raft::durable::sync_dir(&dir)?;
        let (events, lines) = std::sync::mpsc::channel::<String>();
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || write_lines(file, lines))?;
        Ok(FileAudit {
            replica,
            events,
            pending: Mutex::new(HashMap::new()),
            sealed: Mutex::default(),
            storing: tokio::sync::Mutex::new(()),
            live: Arc::default(),
        })
    }

    /// Stores the new events of open sessions as their next parts (see [`Pending::due`]).
    /// Called every [`FLUSH_EVERY`] by [`FileAudit::run`].
    pub(crate) async fn flush_open(&self) {
        let _storing = self.storing.lock().await;
        let now = Instant::now();
        let due: Vec<(u64, (u32, Vec<u8>))> = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending
                .iter_mut()
                .filter_map(|(id, p)| Some((*id, p.due(now)?)))
                .collect()
        };
        for (session_id, (index, lines)) in due {
            let name = events_part_name(session_id, index);
            match self.replica.put_blob(&name, lines).await {
                Ok(_) => {
                    let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                    // Only `seal` removes a session, and it waits for `storing`.
                    if let Some(p) = pending.get_mut(&session_id) {
                        p.stored(now);
                    }
                }
                Err(e) => tracing::warn!(
                    session_id, index, error = %e,
                    "storing an open session's events failed (tried again at the next look)"
                ),
            }
        }
    }

    /// Writes a line to this node's events file only (not to a session's replicated events):
    /// sessions opened and closed here, administrative acts this node's API served. The audit
    /// export sends them with the rest.
    pub(crate) fn note(&self, event: serde_json::Value) {
        let mut line = event.to_string();
        line.push('\n');
        if self.events.send(line).is_err() {
            tracing::error!("the audit writer has stopped: an event was not written locally");
        }
    }

    /// Stores open sessions' events every [`FLUSH_EVERY`] until `stop`.
    pub(crate) async fn run(
        self: std::sync::Arc<Self>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => self.flush_open().await,
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        return;
                    }
                }
            }
        }
    }

    /// Replicates the last events of a closed session (if it had any) to a majority as its
    /// final part, then its end marker; returns the digest of its event chain, for the closing
    /// record (whether or not storing succeeded: a lost part must show as missing, not as a
    /// session without events).
    pub(crate) async fn seal(&self, session_id: u64) -> EventsDigest {
        let _storing = self.storing.lock().await;
        let pending = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            // Under the same lock as `event` looks at both (pending, then sealed).
            self.sealed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(session_id);
            pending.remove(&session_id)
        }
        .unwrap_or_else(|| Pending::new(session_id));
        let digest = pending.digest;
        if digest.count == 0 {
            return digest;
        }
        // Counted in the end marker even when storing one fails: it then reads as missing.
        let (last, parts) = pending.last_parts();
        for (index, lines) in last {
            let name = events_part_name(session_id, index);
            if let Err(e) = self.replica.put_blob(&name, lines).await {
                tracing::error!(session_id, index, error = %e, "storing session events failed");
            }
        }
        let end = json!({ "parts": parts }).to_string().into_bytes();
        match self
            .replica
            .put_blob(&events_end_name(session_id), end)
            .await
        {
            Ok(copies) => tracing::info!(session_id, parts, copies, "session events stored"),
            Err(e) => tracing::error!(session_id, error = %e, "storing session events failed"),
        }
        digest
    }
}

/// Drops a last line that a crash cut short, so that the next event starts a line of its own.
/// Such a line was never fsynced whole (the writer fsyncs whole batches of whole lines), so no
/// promise covered it, and the exporter never kept a position inside it (it keeps only
/// positions up to what was fsynced); dropping it leaves every line of the file whole.
fn drop_a_cut_last_line(file: &mut std::fs::File) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata()?.len();
    let mut end = len;
    let mut chunk = vec![0u8; 64 << 10];
    // The length the file keeps: just past its last newline (0 when it has none).
    let keep = loop {
        if end == 0 {
            break 0;
        }
        let start = end.saturating_sub(chunk.len() as u64);
        let part = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(part)?;
        if let Some(i) = part.iter().rposition(|b| *b == b'\n') {
            break start + i as u64 + 1;
        }
        end = start;
    };
    if keep < len {
        tracing::warn!(
            bytes = len - keep,
            "the audit events file ended inside a line (a crash cut it before it was fsynced \
             whole): the cut line is dropped"
        );
        file.set_len(keep)?;
        file.sync_data()?;
    }
    Ok(())
}

/// How long the events file's writer rests after each batch, letting lines gather: waking it
/// for every statement cost two context switches per statement on the answer path's cores.
const WRITE_BATCH_EVERY: Duration = Duration::from_millis(20);

/// Appends lines to the node's events file in batches (what arrived while it last wrote and
/// rested), flushing and fsyncing each (off the sessions' path: a power loss loses at most the
/// batch being written); returns when the sink is dropped.
fn write_lines(file: std::fs::File, lines: std::sync::mpsc::Receiver<String>) {
    let mut out = std::io::BufWriter::with_capacity(64 << 10, file);
    while let Ok(line) = lines.recv() {
        let mut written = out.write_all(line.as_bytes());
        while let (Ok(()), Ok(more)) = (&written, lines.try_recv()) {
            written = out.write_all(more.as_bytes());
        }
        let synced = written
            .and_then(|()| out.flush())
            .and_then(|()| out.get_ref().sync_data());
        if let Err(e) = synced {
            tracing::error!(error = %e, "writing audit events failed");
        }
        std::thread::sleep(WRITE_BATCH_EVERY);
    }
}

fn session_of(event: &AuditEvent) -> u64 {
    match event {
        AuditEvent::Command { session_id, .. }
        | AuditEvent::FileOp { session_id, .. }
        | AuditEvent::Statement { session_id, .. }
        | AuditEvent::Tunnel { session_id, .. }
        | AuditEvent::Refused { session_id, .. } => *session_id,
    }
}

/// An event as its audit line: keys sorted, as `serde_json::Value` prints them.
fn event_line(event: &AuditEvent) -> String {
    let value = match event {
        AuditEvent::Command {
            session_id,
            at,
            line,
            input,
        } => {
            let mut event =
                json!({"type": "command", "session_id": session_id, "at": at, "line": line});
            let how = match input {
                CommandInput::Exec => "exec",
                CommandInput::Echoed => "echoed",
                CommandInput::WithoutEcho => "without_echo",
                CommandInput::AtPasswordPrompt { prompt } => {
                    event["prompt"] = json!(prompt);
                    "at_password_prompt"
                }
            };
            event["input"] = json!(how);
            event
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
        AuditEvent::Statement {
            session_id,
            account,
            statement,
        } => return statement_line(*session_id, account, statement),
        AuditEvent::Refused {
            session_id,
            at,
            action,
            target,
            reason,
        } => json!({
            "type": "refused", "session_id": session_id, "at": at, "action": action,
            "target": target, "reason": reason
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
    };
    value.to_string()
}

/// A database statement as an audit line: what ran, as which account, how it ended, how long
/// it took. Serialized straight from this struct (a statement is the most frequent event: the
/// answer path pays for it), with its fields in the sorted order a `serde_json::Value` prints
/// them in, so that the line is the same bytes as any other event's parsed and printed again.
#[derive(serde::Serialize)]
struct StatementLine<'a> {
    account: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    affected_rows: Option<u64>,
    duration_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<u16>,
    kind: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    params: &'a [String],
    result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rows: Option<u64>,
    session_id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    sqlstate: Option<&'a str>,
    text: &'a str,
    #[serde(rename = "type")]
    type_: &'static str,
}

fn statement_line(session_id: u64, account: &str, s: &portunus_proxy::db::Statement) -> String {
    use portunus_proxy::db::Outcome;
    let mut line = StatementLine {
        account,
        affected_rows: None,
        duration_ms: s.duration.as_secs_f64() * 1000.0,
        error: None,
        error_code: None,
        kind: s.kind,
        params: &s.params,
        result: "ok",
        rows: None,
        session_id,
        sqlstate: None,
        text: &s.text,
        type_: "statement",
    };
    match &s.outcome {
        Outcome::Ok { affected, rows } => {
            line.affected_rows = Some(*affected);
            line.rows = Some(*rows);
        }
        Outcome::Error { code, message } => {
            line.result = "error";
            line.error_code = Some(*code);
            line.error = Some(message);
        }
        Outcome::SqlError { sqlstate, message } => {
            line.result = "error";
            line.sqlstate = Some(sqlstate);
            line.error = Some(message);
        }
        Outcome::Refused { reason } => {
            line.result = "refused";
            line.error = Some(reason);
        }
        Outcome::Cut => line.result = "cut",
    }
    // Strings, numbers and a list of strings: nothing here can fail to serialize.
    serde_json::to_string(&line).unwrap_or_else(|e| {
        json!({"type": "statement", "session_id": session_id, "error": e.to_string()}).to_string()
    })
}

impl AuditSink for FileAudit {
    fn event(&self, event: AuditEvent) {
        // Keys sorted (serde_json's map), so a reader that parses a line and prints it again
        // gets the same bytes, and can recompute the chain.
        let mut line = event_line(&event);
        {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            let session_id = session_of(&event);
            if let Some(kept) = pending.get_mut(&session_id) {
                kept.keep(&line);
            } else if self
                .sealed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(session_id)
            {
                tracing::warn!(
                    session_id,
                    "an audit event came after its session's events were stored: it is kept in \
                     this node's events file only"
                );
            } else {
                let mut kept = Pending::new(session_id);
                kept.keep(&line);
                pending.insert(session_id, kept);
            }
        }
        line.push('\n');
        if self.events.send(line).is_err() {
            tracing::error!("the audit writer has stopped: an event was not written locally");
        }
    }

    fn recording_part(
        &self,
        session_id: u64,
        index: u32,
        part: Vec<u8>,
        last: bool,
    ) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let name = recording_part_name(session_id, index);
            let bytes = part.len();
            match self.replica.put_blob(&name, part).await {
                Ok(copies) => {
                    tracing::debug!(session_id, index, bytes, copies, "recording part stored")
                }
                Err(e) => tracing::error!(
                    session_id, index, error = %e, "storing a session recording part failed"
                ),
            }
            if !last {
                return;
            }
            let end = json!({ "parts": index + 1 }).to_string().into_bytes();
            match self
                .replica
                .put_blob(&recording_end_name(session_id), end)
                .await
            {
                Ok(copies) => {
                    tracing::info!(
                        session_id,
                        parts = index + 1,
                        copies,
                        "session recording stored"
                    )
                }
                Err(e) => {
                    tracing::error!(session_id, error = %e, "storing a session recording failed")
                }
            }
        })
    }

    fn live(&self) -> &Arc<portunus_proxy::live::LiveSessions> {
        &self.live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(blobs: &HashMap<String, Vec<u8>>, id: u64) -> (String, PartsRead) {
        let mut out = Vec::new();
        let read = read_recording(
            id,
            |name| async move { blobs.get(&name).cloned() },
            &mut out,
        )
        .await
        .unwrap();
        (String::from_utf8(out).unwrap(), read)
    }

    #[tokio::test]
    async fn recordings_are_put_back_together_complete_or_not() {
        let mut blobs = HashMap::new();
        blobs.insert(recording_part_name(7, 0), b"{\"version\":2}\n".to_vec());
        blobs.insert(recording_part_name(7, 1), b"[0.1,\"o\",\"a\"]\n".to_vec());
        let (text, r) = read(&blobs, 7).await;
        assert_eq!(text, "{\"version\":2}\n[0.1,\"o\",\"a\"]\n");
        assert_eq!(
            r,
            PartsRead {
                parts: 2,
                expected: None
            }
        );
        assert!(!r.complete(), "no end marker: cut short or still running");

        blobs.insert(recording_part_name(7, 2), Vec::new());
        blobs.insert(recording_end_name(7), b"{\"parts\":3}".to_vec());
        let (text, r) = read(&blobs, 7).await;
        assert!(r.complete(), "{r:?}");
        assert!(text.ends_with("\"a\"]\n"));

        blobs.remove(&recording_part_name(7, 1));
        let (text, r) = read(&blobs, 7).await;
        assert_eq!(text, "{\"version\":2}\n", "up to the first missing part");
        assert_eq!(
            r,
            PartsRead {
                parts: 1,
                expected: Some(3)
            }
        );
        assert!(!r.complete());

        let (text, r) = read(&blobs, 8).await;
        assert_eq!((text.as_str(), r.parts, r.expected), ("", 0, None));
    }

    #[tokio::test]
    async fn events_are_read_from_their_parts_or_their_single_blob() {
        let mut blobs = HashMap::new();
        let read = |blobs: &HashMap<String, Vec<u8>>, id| {
            let blobs = blobs.clone();
            async move {
                let mut out = Vec::new();
                let get = |name: String| {
                    let b = blobs.get(&name).cloned();
                    async move { b }
                };
                let r = read_events(id, get, &mut out).await.unwrap();
                (String::from_utf8(out).unwrap(), r)
            }
        };
        blobs.insert(events_part_name(3, 0), b"{\"a\":1}\n".to_vec());
        let (text, r) = read(&blobs, 3).await;
        assert_eq!(text, "{\"a\":1}\n");
        assert_eq!(
            r,
            PartsRead {
                parts: 1,
                expected: None
            }
        );
        assert!(r
            .incomplete("events")
            .unwrap()
            .contains("have no end marker"));

        blobs.insert(events_part_name(3, 1), b"{\"b\":2}\n{\"c\":3}\n".to_vec());
        blobs.insert(events_end_name(3), b"{\"parts\":2}".to_vec());
        // A single blob of the same session is not read when parts are there.
        blobs.insert(single_events_name(3), b"{\"old\":0}\n".to_vec());
        let (text, r) = read(&blobs, 3).await;
        assert_eq!(text, "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n");
        assert!(r.complete() && r.incomplete("events").is_none(), "{r:?}");

        blobs.remove(&events_part_name(3, 0));
        let (text, r) = read(&blobs, 3).await;
        assert_eq!((text.as_str(), r.parts, r.expected), ("", 0, Some(2)));
        let why = r.incomplete("the events").unwrap();
        assert!(
            why.contains("0 of their 2 parts read, no member holds part 0"),
            "{why}"
        );

        // Stored before parts: one blob, read as one complete part.
        blobs.insert(single_events_name(4), b"{\"d\":4}\n".to_vec());
        let (text, r) = read(&blobs, 4).await;
        assert_eq!(text, "{\"d\":4}\n");
        assert!(r.complete(), "{r:?}");

        let (text, r) = read(&blobs, 5).await;
        assert_eq!((text.as_str(), r.parts, r.expected), ("", 0, None));
    }

    #[test]
    fn an_open_sessions_events_are_stored_once_each_in_parts() {
        let start = Instant::now();
        let mut p = Pending::new(9);
        p.stored_at = start;
        let mut all = String::new();
        let mut stored: Vec<Vec<u8>> = Vec::new();
        let mut keep = |p: &mut Pending, line: String| {
            all.push_str(&line);
            all.push('\n');
            p.keep(&line);
        };
        keep(&mut p, "{\"n\":0}".into());
        assert_eq!(
            p.due(start + FLUSH_EVERY / 2),
            None,
            "not before FLUSH_EVERY"
        );
        let mut now = start + FLUSH_EVERY;
        let (index, part) = p.due(now).expect("due");
        assert_eq!((index, part.as_slice()), (0, b"{\"n\":0}\n".as_slice()));
        // Events added while the part is stored stay for the next one.
        keep(&mut p, "{\"n\":1}".into());
        p.stored(now);
        stored.push(part);
        assert_eq!(p.due(now + FLUSH_EVERY / 2), None);
        now += FLUSH_EVERY;
        let (index, failed) = p.due(now).expect("due");
        assert_eq!((index, failed.as_slice()), (1, b"{\"n\":1}\n".as_slice()));
        // Storing it failed (some members may hold it): the next look tries the same bytes
        // under the same index; what came since waits for the part after it.
        keep(&mut p, "{\"n\":2}".into());
        let (index, again) = p.due(now + Duration::from_millis(1)).expect("due again");
        assert_eq!((index, &again), (1, &failed));
        now += FLUSH_EVERY;
        p.stored(now);
        stored.push(again);
        now += FLUSH_EVERY;
        let (index, part) = p.due(now).expect("the rest");
        assert_eq!((index, part.as_slice()), (2, b"{\"n\":2}\n".as_slice()));
        p.stored(now);
        stored.push(part);
        // A long session: small additions wait for an eighth, or 30 seconds.
        for n in 3..200 {
            keep(
                &mut p,
                format!("{{\"n\":{n},\"pad\":\"{}\"}}", "x".repeat(100)),
            );
            now += FLUSH_EVERY;
            if let Some((index, part)) = p.due(now) {
                assert_eq!(index as usize, stored.len());
                let waited = now.duration_since(p.stored_at);
                assert!(
                    part.len() * 8 >= p.kept || waited >= FLUSH_AT_LEAST_EVERY,
                    "{} of {} after {waited:?}",
                    part.len(),
                    p.kept
                );
                p.stored(now);
                stored.push(part);
            }
        }
        assert!(stored.len() < 40, "{} parts", stored.len());
        let quiet = now;
        keep(&mut p, "{\"n\":200}".into());
        assert_eq!(p.due(quiet + FLUSH_EVERY), None, "a small addition waits");
        let (_, part) = p.due(quiet + FLUSH_AT_LEAST_EVERY).expect("at most 30 s");
        p.stored(quiet + FLUSH_AT_LEAST_EVERY);
        stored.push(part);
        keep(&mut p, "{\"n\":201}".into());
        let rest = p.lines.clone();
        // Every event stored once, in order: the parts and what is left are the events.
        let joined: Vec<u8> = stored.concat().into_iter().chain(rest).collect();
        assert_eq!(String::from_utf8(joined).unwrap(), all);
        assert_eq!(p.digest.count, 202);
        assert_eq!(p.kept, all.len());
    }

    #[test]
    fn a_closing_session_stores_the_part_being_tried_as_it_was_then_the_rest() {
        let later = Instant::now() + FLUSH_AT_LEAST_EVERY;
        let mut p = Pending::new(4);
        p.keep("{\"a\":1}");
        let (index, tried) = p.due(later).expect("due");
        assert_eq!(index, 0);
        p.keep("{\"b\":2}");
        let (last, parts) = p.last_parts();
        assert_eq!(
            last,
            vec![(0, tried), (1, b"{\"b\":2}\n".to_vec())],
            "the tried part unchanged, then the rest"
        );
        assert_eq!(parts, 2);

        let mut p = Pending::new(5);
        p.keep("{\"c\":3}");
        let (_, _) = p.due(later).expect("due");
        p.stored(later);
        p.keep("{\"d\":4}");
        assert_eq!(p.last_parts(), (vec![(1, b"{\"d\":4}\n".to_vec())], 2));

        let mut p = Pending::new(6);
        p.keep("{\"e\":5}");
        let (_, _) = p.due(later).expect("due");
        p.stored(later);
        assert_eq!(
            p.last_parts(),
            (Vec::new(), 1),
            "nothing left: the end marker only"
        );
    }

    #[test]
    fn sealed_sessions_are_remembered_up_to_a_bound() {
        let mut sealed = Sealed::default();
        for id in 0..(Sealed::KEEP as u64 + 10) {
            sealed.insert(id);
        }
        sealed.insert(20);
        assert!(sealed.contains(20) && sealed.contains(Sealed::KEEP as u64 + 9));
        assert!(
            !sealed.contains(0) && !sealed.contains(9),
            "the oldest are forgotten"
        );
        assert_eq!(sealed.ids.len(), Sealed::KEEP);
        assert_eq!(sealed.order.len(), Sealed::KEEP);
    }

    #[test]
    fn a_sessions_kept_events_stop_at_the_cap_with_one_marker() {
        let mut p = Pending::new(1);
        let line = "y".repeat(1 << 20);
        let mut last = Vec::new();
        for _ in 0..20 {
            p.keep(&line);
            // Stored parts leave `lines`; the cap counts them still.
            if let Some((_, part)) = p.due(Instant::now() + FLUSH_AT_LEAST_EVERY) {
                last = part;
                p.stored(Instant::now());
            }
        }
        assert_eq!(last, TRUNCATED.as_bytes(), "the marker, alone in its part");
        p.keep("{\"after\":1}");
        assert!(
            p.truncated && p.lines.is_empty(),
            "nothing after the marker"
        );
        assert_eq!(p.kept, 15 * ((1 << 20) + 1) + TRUNCATED.len());
        assert_eq!(p.digest.count, 16);
    }

    #[test]
    fn a_last_line_cut_by_a_crash_is_dropped_before_new_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        // A whole line longer than the chunks the file is read back in, then a cut one.
        let long = format!("{{\"long\":\"{}\"}}\n", "x".repeat(150_000));
        for (before, after) in [
            (String::new(), String::new()),
            ("{\"a\":1}\n".into(), "{\"a\":1}\n".into()),
            ("{\"a\":1}\n{\"b\"".into(), "{\"a\":1}\n".into()),
            ("{\"b\"".into(), String::new()),
            (
                format!("{long}{{\"b\":\"{}", "y".repeat(100_000)),
                long.clone(),
            ),
        ] {
            std::fs::write(&path, &before).unwrap();
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .read(true)
                .open(&path)
                .unwrap();
            drop_a_cut_last_line(&mut f).unwrap();
            f.write_all(b"{\"c\":3}\n").unwrap();
            let text = std::fs::read_to_string(&path).unwrap();
            assert_eq!(text, format!("{after}{{\"c\":3}}\n"), "{}", before.len());
        }
    }

    #[test]
    fn statement_lines_print_as_their_parsed_values_do() {
        use portunus_proxy::db::{Outcome, Statement};
        let outcomes = [
            Outcome::Ok {
                affected: 3,
                rows: 0,
            },
            Outcome::Error {
                code: 1146,
                message: "Table 'x' doesn't exist".into(),
            },
            Outcome::SqlError {
                sqlstate: "42P01".into(),
                message: "relation \"x\" does not exist".into(),
            },
            Outcome::Refused {
                reason: "rule 'no-drop': DROP".into(),
            },
            Outcome::Cut,
        ];
        for (i, outcome) in outcomes.into_iter().enumerate() {
            let statement = Statement {
                kind: "execute",
                text: "SELECT \"a\" FROM t WHERE id = ?\n".into(),
                params: if i % 2 == 0 {
                    vec!["'é'".into(), "NULL".into()]
                } else {
                    Vec::new()
                },
                outcome: outcome.clone(),
                duration: std::time::Duration::from_micros(1500 + i as u64),
            };
            let line = statement_line(42, "app", &statement);
            let value: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(value.to_string(), line, "{outcome:?}");
            assert_eq!(value["type"], "statement");
            assert_eq!(value["session_id"], 42);
            assert_eq!(value["account"], "app");
            assert_eq!(value["text"], statement.text.as_str());
            assert_eq!(value.get("params").is_some(), i % 2 == 0, "{line}");
            let result = match outcome {
                Outcome::Ok { .. } => "ok",
                Outcome::Refused { .. } => "refused",
                Outcome::Cut => "cut",
                _ => "error",
            };
            assert_eq!(value["result"], result, "{line}");
        }
    }
}
