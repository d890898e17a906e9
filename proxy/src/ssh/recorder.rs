//! Shell recording as asciicast v2 (a JSON header line, then `[time, "o", text]` output and
//! `[time, "r", "COLSxROWS"]` resize events), and command lines rebuilt from the keystrokes.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

/// Recordings stop growing past this size (a marker line says so).
const MAX_RECORDING: usize = 64 * 1024 * 1024;

/// An asciicast v2 recording in memory.
pub(crate) struct Recorder {
    start: Instant,
    out: Vec<u8>,
    /// Trailing bytes of an incomplete UTF-8 sequence, kept for the next chunk.
    partial: Vec<u8>,
    full: bool,
}

impl Recorder {
    pub fn new(cols: u32, rows: u32, term: &str) -> Self {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let header = json!({
            "version": 2, "width": cols.max(1), "height": rows.max(1), "timestamp": timestamp,
            "env": { "TERM": term },
        });
        let mut out = header.to_string().into_bytes();
        out.push(b'\n');
        Self {
            start: Instant::now(),
            out,
            partial: Vec::new(),
            full: false,
        }
    }

    /// Seconds since the start.
    pub fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Terminal output.
    pub fn output(&mut self, data: &[u8]) {
        self.partial.extend_from_slice(data);
        let cut = utf8_boundary(&self.partial);
        let rest = self.partial.split_off(cut);
        let text = String::from_utf8_lossy(&self.partial).into_owned();
        self.partial = rest;
        if !text.is_empty() {
            self.event("o", &text);
        }
    }

    /// A terminal resize.
    pub fn resize(&mut self, cols: u32, rows: u32) {
        self.event("r", &format!("{cols}x{rows}"));
    }

    fn event(&mut self, kind: &str, text: &str) {
        if self.full {
            return;
        }
        let line = json!([(self.elapsed() * 1e6).round() / 1e6, kind, text]).to_string();
        if self.out.len() + line.len() > MAX_RECORDING {
            self.full = true;
            let marker = json!([self.elapsed(), "o", "\r\n[recording truncated]\r\n"]).to_string();
            self.out.extend_from_slice(marker.as_bytes());
            self.out.push(b'\n');
            return;
        }
        self.out.extend_from_slice(line.as_bytes());
        self.out.push(b'\n');
    }

    /// The recording so far.
    pub fn finish(mut self) -> Vec<u8> {
        if !self.partial.is_empty() {
            let text = String::from_utf8_lossy(&std::mem::take(&mut self.partial)).into_owned();
            self.event("o", &text);
        }
        self.out
    }
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
/// Ctrl-C; escape sequences (arrows) and tab are ignored; Enter ends a line.
#[derive(Default)]
pub(crate) struct LineEditor {
    line: String,
    escape: Escape,
    utf8: Vec<u8>,
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
    pub fn feed(&mut self, data: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for &b in data {
            match (&self.escape, b) {
                (Escape::Start, b'[' | b'O') => self.escape = Escape::Csi,
                (Escape::Start, _) => self.escape = Escape::None,
                (Escape::Csi, 0x40..=0x7e) => self.escape = Escape::None,
                (Escape::Csi, _) => {}
                (Escape::None, 0x1b) => self.escape = Escape::Start,
                (Escape::None, b'\r' | b'\n') => {
                    let line = std::mem::take(&mut self.line);
                    if !line.trim().is_empty() {
                        lines.push(line.trim().to_owned());
                    }
                }
                (Escape::None, 0x7f | 0x08) => {
                    self.line.pop();
                }
                (Escape::None, 0x15 | 0x03) => self.line.clear(),
                (Escape::None, 0x17) => {
                    let kept = self.line.trim_end().rfind(' ').map(|i| i + 1).unwrap_or(0);
                    self.line.truncate(kept);
                }
                (Escape::None, b) if b >= 0x20 => self.push_byte(b),
                _ => {}
            }
        }
        lines
    }

    fn push_byte(&mut self, b: u8) {
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
    fn records_asciicast_v2() {
        let mut rec = Recorder::new(80, 24, "xterm");
        rec.output("h\u{e9}".as_bytes()[..2].as_ref());
        rec.output(&"h\u{e9}".as_bytes()[2..]);
        rec.resize(100, 30);
        let text = String::from_utf8(rec.finish()).unwrap();
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
}
