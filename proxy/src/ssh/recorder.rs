//! Session recording as asciicast v2 (a JSON header line, then `[time, "o", text]` output,
//! `[time, "i", text]` input and `[time, "r", "COLSxROWS"]` resize events), and command lines
//! rebuilt from the keystrokes.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::live::LiveFeed;

/// A recording is handed to the audit sink in parts of about this size (whole lines: a part ends
/// with the line that reaches it), so that a session keeps only its current part in memory.
pub(crate) const PART_BYTES: usize = 1024 * 1024;

/// Recordings stop growing past this size (a marker line says so).
const MAX_RECORDING: usize = 1024 * 1024 * 1024;

/// The terminal size written in the header of a session without a PTY.
pub(crate) const DEFAULT_SIZE: (u32, u32) = (80, 24);

/// A command line is kept up to this many bytes; the rest is dropped and the line is audited
/// with [`TRUNCATED`] at its end, so that a line without a newline cannot grow the node.
pub(crate) const MAX_LINE: usize = 16 * 1024;

/// Appended to a command line cut at [`MAX_LINE`].
pub(crate) const TRUNCATED: &str = " [line truncated]";

/// A finished part of a recording: whole asciicast lines, numbered from 0 (the part with the
/// header line).
#[derive(Debug)]
pub(crate) struct Part {
    pub index: u32,
    pub bytes: Vec<u8>,
}

/// An asciicast v2 recording, kept in memory one part at a time.
pub(crate) struct Recorder {
    start: Instant,
    /// The current part.
    out: Vec<u8>,
    /// Its index.
    index: u32,
    /// Parts completed and not yet taken with [`Recorder::take_ready`].
    ready: Vec<Part>,
    /// Bytes recorded so far, all parts included.
    total: usize,
    part_bytes: usize,
    max_bytes: usize,
    /// Trailing bytes of an incomplete UTF-8 sequence, kept for the next chunk: of the output
    /// and of the input.
    partial: Vec<u8>,
    partial_in: Vec<u8>,
    full: bool,
    /// The header line, for a live feed opened after it was written.
    header: String,
    /// Where viewers of the running session get its output (see [`crate::live`]).
    live: Option<LiveFeed>,
}

impl Recorder {
    /// A recorder for a terminal of this size; `term` is None for a session without a PTY.
    pub fn new(cols: u32, rows: u32, term: Option<&str>) -> Self {
        Self::with_limits(cols, rows, term, PART_BYTES, MAX_RECORDING)
    }

    /// A recorder with other part and total sizes (tests).
    pub fn with_limits(
        cols: u32,
        rows: u32,
        term: Option<&str>,
        part_bytes: usize,
        max_bytes: usize,
    ) -> Self {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let env = match term {
            Some(term) => json!({ "TERM": term }),
            None => json!({}),
        };
        // A client without a terminal of its own (`ssh -tt` from a script) asks for a 0x0 pty,
        // which programs on the target take as 80x24: a player given 0 (or 1) shows nothing.
        let known = |n: u32, default: u32| if n == 0 { default } else { n };
        let header = json!({
            "version": 2, "width": known(cols, 80), "height": known(rows, 24), "timestamp": timestamp,
            "env": env,
        });
        let mut rec = Self {
            start: Instant::now(),
            out: Vec::new(),
            index: 0,
            ready: Vec::new(),
            total: 0,
            part_bytes: part_bytes.max(1),
            max_bytes,
            partial: Vec::new(),
            partial_in: Vec::new(),
            full: false,
            header: header.to_string(),
            live: None,
        };
        rec.push_line(&rec.header.clone());
        rec
    }

    /// The header line the recording starts with.
    pub fn header(&self) -> &str {
        &self.header
    }

    /// Shows the session's output and resizes to live viewers from now on.
    pub fn watch(&mut self, feed: LiveFeed) {
        self.live = Some(feed);
    }

    /// Seconds since the start.
    pub fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Terminal output.
    pub fn output(&mut self, data: &[u8]) {
        if let Some(text) = whole_chars(&mut self.partial, data) {
            self.event("o", &text);
        }
    }

    /// What the client typed (or piped). With `masked` (typed at a password prompt), every
    /// printable character is recorded as `*`; control characters (Enter, backspace) stay.
    pub fn input(&mut self, data: &[u8], masked: bool) {
        let Some(text) = whole_chars(&mut self.partial_in, data) else {
            return;
        };
        if masked {
            let hidden: String = text
                .chars()
                .map(|c| if c.is_control() { c } else { '*' })
                .collect();
            self.event("i", &hidden);
        } else {
            self.event("i", &text);
        }
    }

    /// A terminal resize.
    pub fn resize(&mut self, cols: u32, rows: u32) {
        self.event("r", &format!("{cols}x{rows}"));
    }

    fn event(&mut self, kind: &str, text: &str) {
        let shown = kind != "i" && self.live.is_some();
        if self.full && !shown {
            return;
        }
        let line = json!([(self.elapsed() * 1e6).round() / 1e6, kind, text]).to_string();
        if shown {
            if let Some(live) = &self.live {
                live.push(line.clone(), (kind == "r").then_some(text));
            }
        }
        if self.full {
            return;
        }
        if self.total + line.len() + 1 > self.max_bytes {
            self.full = true;
            let marker = json!([self.elapsed(), "o", "\r\n[recording truncated]\r\n"]).to_string();
            self.push_line(&marker);
            return;
        }
        self.push_line(&line);
    }

    /// Appends a line to the current part; a part that reached its size is set aside.
    fn push_line(&mut self, line: &str) {
        self.out.extend_from_slice(line.as_bytes());
        self.out.push(b'\n');
        self.total += line.len() + 1;
        if self.out.len() >= self.part_bytes {
            let bytes = std::mem::take(&mut self.out);
            self.ready.push(Part {
                index: self.index,
                bytes,
            });
            self.index += 1;
        }
    }

    /// The parts completed since the last call, in order.
    pub fn take_ready(&mut self) -> Vec<Part> {
        std::mem::take(&mut self.ready)
    }

    /// The parts not taken yet, the last one (possibly empty) being the final part.
    pub fn finish(mut self) -> Vec<Part> {
        if !self.partial.is_empty() {
            let text = String::from_utf8_lossy(&std::mem::take(&mut self.partial)).into_owned();
            self.event("o", &text);
        }
        if !self.partial_in.is_empty() {
            let text = String::from_utf8_lossy(&std::mem::take(&mut self.partial_in)).into_owned();
            self.event("i", &text);
        }
        let mut parts = std::mem::take(&mut self.ready);
        parts.push(Part {
            index: self.index,
            bytes: self.out,
        });
        parts
    }
}

/// Appends `data` to `partial` and takes the text made of whole UTF-8 sequences (invalid bytes
/// replaced), keeping an incomplete trailing sequence for the next chunk; None if empty.
fn whole_chars(partial: &mut Vec<u8>, data: &[u8]) -> Option<String> {
    partial.extend_from_slice(data);
    let cut = utf8_boundary(partial);
    let rest = partial.split_off(cut);
    let text = String::from_utf8_lossy(partial).into_owned();
    *partial = rest;
    (!text.is_empty()).then_some(text)
}

/// The length of the longest prefix of `b` that does not end inside a UTF-8 sequence.
fn utf8_boundary(b: &[u8]) -> usize {
    let start = b.len().saturating_sub(3);
    for i in (start..b.len()).rev() {
        let byte = b[i];
        if byte & 0xC0 == 0x80 {
            continue; // continuation byte
        }
        let need = match byte {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        return if b.len() - i >= need { b.len() } else { i };
    }
    b.len()
}

/// Rebuilds command lines from keystrokes: printable characters, backspace, Ctrl-U, Ctrl-W,
/// Ctrl-C; escape sequences (arrows) and tab are ignored; Enter ends a line. A line keeps at
/// most [`MAX_LINE`] bytes: what is typed beyond is dropped, and the line ends with
/// [`TRUNCATED`].
#[derive(Default)]
pub(crate) struct LineEditor {
    line: String,
    escape: Escape,
    utf8: Vec<u8>,
    /// Bytes were dropped from the current line.
    cut: bool,
}

#[derive(Default, PartialEq, Eq)]
enum Escape {
    #[default]
    None,
    Start,
    Csi,
}

impl LineEditor {
    /// Feeds keystrokes; returns the lines completed by Enter (empty lines skipped).
    #[cfg(test)]
    pub fn feed(&mut self, data: &[u8]) -> Vec<String> {
        data.iter()
            .filter_map(|&b| self.feed_byte(b))
            .filter(|line| !line.is_empty())
            .collect()
    }

    /// True before the first keystroke of a line (nothing kept, no escape sequence begun).
    pub fn at_start(&self) -> bool {
        self.line.is_empty() && !self.cut && self.utf8.is_empty() && self.escape == Escape::None
    }

    /// Feeds one keystroke byte; returns the line it completed (trimmed, maybe empty) at Enter.
    pub fn feed_byte(&mut self, b: u8) -> Option<String> {
        match (&self.escape, b) {
            (Escape::Start, b'[' | b'O') => self.escape = Escape::Csi,
            (Escape::Start, _) => self.escape = Escape::None,
            (Escape::Csi, 0x40..=0x7e) => self.escape = Escape::None,
            (Escape::Csi, _) => {}
            (Escape::None, 0x1b) => self.escape = Escape::Start,
            (Escape::None, b'\r' | b'\n') => {
                let mut line = std::mem::take(&mut self.line).trim().to_owned();
                if std::mem::take(&mut self.cut) {
                    line.push_str(TRUNCATED);
                }
                self.utf8.clear();
                return Some(line);
            }
            (Escape::None, 0x7f | 0x08) => {
                self.line.pop();
            }
            (Escape::None, 0x15 | 0x03) => {
                self.line.clear();
                self.cut = false;
            }
            (Escape::None, 0x17) => {
                let kept = self.line.trim_end().rfind(' ').map(|i| i + 1).unwrap_or(0);
                self.line.truncate(kept);
            }
            (Escape::None, b) if b >= 0x20 => self.push_byte(b),
            _ => {}
        }
        None
    }

    fn push_byte(&mut self, b: u8) {
        if self.line.len() + self.utf8.len() >= MAX_LINE {
            self.cut = true;
            self.utf8.clear();
            return;
        }
        self.utf8.push(b);
        match std::str::from_utf8(&self.utf8) {
            Ok(s) => {
                self.line.push_str(s);
                self.utf8.clear();
            }
            Err(e) if e.error_len().is_some() || self.utf8.len() >= 4 => self.utf8.clear(),
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebuilds_lines_with_editing() {
        let mut ed = LineEditor::default();
        assert!(ed.feed(b"lss\x7f -la").is_empty());
        assert_eq!(ed.feed(b"\r"), vec!["ls -la"]);
        assert_eq!(ed.feed(b"rm -rf /\x15echo ok\x1b[A\r\r"), vec!["echo ok"]);
        assert_eq!(ed.feed(b"cat foo bar\x17baz\n"), vec!["cat foo baz"]);
        assert_eq!(ed.feed("echo héllo\r".as_bytes()), vec!["echo héllo"]);
    }

    #[test]
    fn an_endless_line_is_capped_and_audited_truncated() {
        let mut ed = LineEditor::default();
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..64 {
            assert!(ed.feed(&chunk).is_empty());
            assert!(ed.line.len() <= MAX_LINE, "{} bytes kept", ed.line.len());
        }
        let lines = ed.feed(b"\r");
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert!(line.ends_with(TRUNCATED), "{}", &line[line.len() - 40..]);
        assert_eq!(line.len(), MAX_LINE + TRUNCATED.len());
        assert!(line[..MAX_LINE].bytes().all(|b| b == b'a'));
        // The next line starts afresh, and a cut in the middle of a UTF-8 sequence keeps
        // whole characters only.
        assert!(ed.at_start());
        assert_eq!(ed.feed(b"ls\r"), vec!["ls"]);
        let mut long = vec![b'x'; MAX_LINE - 1];
        long.extend_from_slice("é\r".as_bytes());
        let line = ed.feed(&long).remove(0);
        assert!(line.ends_with(TRUNCATED) && !line.contains('\u{fffd}'));
        assert_eq!(line.len(), MAX_LINE - 1 + TRUNCATED.len());
    }

    fn whole(parts: Vec<Part>) -> String {
        String::from_utf8(parts.into_iter().flat_map(|p| p.bytes).collect()).unwrap()
    }

    #[test]
    fn a_client_without_a_terminal_size_is_recorded_at_80x24() {
        let text = whole(Recorder::new(0, 0, None).finish());
        let header: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(
            (&header["width"], &header["height"]),
            (&80.into(), &24.into())
        );
        let text = whole(Recorder::new(132, 0, None).finish());
        let header: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(
            (&header["width"], &header["height"]),
            (&132.into(), &24.into())
        );
    }

    #[test]
    fn live_viewers_see_output_and_resizes_but_not_input_even_past_the_recording_limit() {
        let live = std::sync::Arc::new(crate::live::LiveSessions::default());
        let mut rec = Recorder::with_limits(80, 24, Some("xterm"), 64, 200);
        rec.watch(live.open(5, rec.header()));
        rec.input(b"secret typed", false);
        rec.output(b"hello");
        rec.resize(100, 30);
        for _ in 0..10 {
            rec.output(b"more output past the limit");
        }
        let c = live.read(5, 0).expect("the session is live");
        assert_eq!(c.header, rec.header());
        assert_eq!(c.size.as_deref(), Some("100x30"));
        let kinds: Vec<(String, String)> = c
            .lines
            .iter()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (v[1].as_str().unwrap().into(), v[2].as_str().unwrap().into())
            })
            .collect();
        assert_eq!(kinds[0], ("o".into(), "hello".into()));
        assert_eq!(kinds[1], ("r".into(), "100x30".into()));
        assert_eq!(kinds.len(), 12, "{kinds:?}");
        assert!(kinds.iter().all(|(k, t)| k != "i" && !t.contains("secret")));
        let recorded = whole(rec.finish());
        assert!(recorded.contains("[recording truncated]"), "{recorded}");
        assert!(live.read(5, 0).is_none(), "the feed ends with the recorder");
    }

    #[test]
    fn records_asciicast_v2() {
        let mut rec = Recorder::new(80, 24, Some("xterm"));
        rec.output("h\u{e9}".as_bytes()[..2].as_ref());
        rec.output(&"h\u{e9}".as_bytes()[2..]);
        rec.resize(100, 30);
        assert!(rec.take_ready().is_empty(), "one small part");
        let text = whole(rec.finish());
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["version"], 2);
        assert_eq!(lines[0]["width"], 80);
        assert_eq!(lines[1][1], "o");
        assert_eq!(lines[1][2], "h");
        assert_eq!(lines[2][2], "\u{e9}");
        assert_eq!(lines[3][1], "r");
        assert_eq!(lines[3][2], "100x30");
    }

    #[test]
    fn records_input_masked_at_a_password_prompt_and_sessions_without_a_pty() {
        let mut rec = Recorder::new(DEFAULT_SIZE.0, DEFAULT_SIZE.1, None);
        rec.output(b"Password: ");
        rec.input(b"s3cret\r", true);
        rec.input("ls \u{e9}".as_bytes(), false);
        let text = whole(rec.finish());
        assert!(!text.contains("s3cret"), "{text}");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["width"], 80);
        assert_eq!(lines[0]["height"], 24);
        assert_eq!(
            lines[0]["env"],
            serde_json::json!({}),
            "no TERM without a PTY"
        );
        assert_eq!(
            (&lines[1][1], &lines[1][2]),
            (&"o".into(), &"Password: ".into())
        );
        assert_eq!(
            (&lines[2][1], &lines[2][2]),
            (&"i".into(), &"******\r".into())
        );
        assert_eq!(
            (&lines[3][1], &lines[3][2]),
            (&"i".into(), &"ls \u{e9}".into())
        );
    }

    #[test]
    fn splits_into_parts_of_whole_lines() {
        let mut rec = Recorder::with_limits(80, 24, Some("xterm"), 200, usize::MAX);
        let mut parts = Vec::new();
        let mut expected = String::new();
        for i in 0..100 {
            // "é" split across chunks at every third step: the halves meet in one event.
            let chunk = format!("line {i} \u{e9}\r\n");
            let bytes = chunk.as_bytes();
            if i % 3 == 0 {
                let cut = bytes.len() - 3; // inside "é"
                rec.output(&bytes[..cut]);
                parts.extend(rec.take_ready());
                rec.output(&bytes[cut..]);
            } else {
                rec.output(bytes);
            }
            parts.extend(rec.take_ready());
            expected.push_str(&chunk);
        }
        rec.resize(100, 30);
        parts.extend(rec.finish());
        assert!(parts.len() > 3, "{} parts", parts.len());
        for (i, part) in parts.iter().enumerate() {
            assert_eq!(part.index as usize, i, "in order");
            let text = std::str::from_utf8(&part.bytes).expect("each part is UTF-8");
            if i + 1 < parts.len() {
                assert!(part.bytes.len() >= 200, "part {i} reached the size");
            }
            assert!(text.is_empty() || text.ends_with('\n'), "whole lines");
            for (n, line) in text.lines().enumerate() {
                let v: serde_json::Value = serde_json::from_str(line).expect("a whole JSON line");
                assert_eq!(
                    v.get("version").is_some(),
                    i == 0 && n == 0,
                    "header in part 0 only"
                );
            }
        }
        let text = whole(parts);
        let mut output = String::new();
        for line in text.lines().skip(1) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if v[1] == "o" {
                output.push_str(v[2].as_str().unwrap());
            }
        }
        assert_eq!(output, expected, "no \u{fffd}: UTF-8 sequences reassembled");
        let last = text.lines().last().unwrap();
        assert!(last.contains("\"r\",\"100x30\""), "{last}");
    }

    #[test]
    fn stops_at_the_cap_with_a_marker() {
        let mut rec = Recorder::with_limits(80, 24, Some("xterm"), 100, 1000);
        let mut parts = Vec::new();
        for _ in 0..100 {
            rec.output(b"0123456789012345678901234567890123456789");
            parts.extend(rec.take_ready());
        }
        parts.extend(rec.finish());
        let text = whole(parts);
        assert!(text.len() <= 1000 + 100, "{}", text.len());
        let last = text.lines().last().unwrap();
        assert!(last.contains("[recording truncated]"), "{last}");
        assert_eq!(text.matches("truncated").count(), 1);
    }
}
