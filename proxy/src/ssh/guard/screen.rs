//! The line a terminal shows where its cursor is: enough of a terminal to follow a shell's
//! line editor (printing, `\r`, backspace, erasing, cursor moves, inserting and deleting
//! characters) and whether a full-screen program has switched to the alternate screen.

/// At most this many characters of a line are kept.
const MAX_CHARS: usize = 4096;

#[derive(Default)]
pub(super) struct ScreenLine {
    chars: Vec<char>,
    cursor: usize,
    esc: Esc,
    /// The parameters of the control sequence being read.
    params: String,
    alternate: bool,
    utf8: Vec<u8>,
}

#[derive(Default, PartialEq, Eq)]
enum Esc {
    #[default]
    None,
    Start,
    Csi,
    Osc,
    OscEscape,
}

impl ScreenLine {
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    pub fn text(&self) -> String {
        self.chars.iter().collect()
    }

    /// The line from column `from` on.
    pub fn text_from(&self, from: usize) -> String {
        self.chars.get(from..).unwrap_or_default().iter().collect()
    }

    /// A full-screen program (editor, pager) is showing.
    pub fn alternate(&self) -> bool {
        self.alternate
    }

    pub fn feed(&mut self, data: &[u8]) {
        for &b in data {
            if self.esc != Esc::None || b < 0x80 {
                self.utf8.clear();
                self.byte(b);
                continue;
            }
            self.utf8.push(b);
            match std::str::from_utf8(&self.utf8) {
                Ok(s) => {
                    let c = s.chars().next().unwrap_or('\u{fffd}');
                    self.utf8.clear();
                    self.print(c);
                }
                Err(e) if e.error_len().is_some() || self.utf8.len() >= 4 => self.utf8.clear(),
                Err(_) => {}
            }
        }
    }

    fn byte(&mut self, b: u8) {
        match (&self.esc, b) {
            (Esc::None, 0x1b) => self.esc = Esc::Start,
            (Esc::None, b'\n') => {
                self.chars.clear();
                self.cursor = 0;
            }
            (Esc::None, b'\r') => self.cursor = 0,
            (Esc::None, 0x08) => self.cursor = self.cursor.saturating_sub(1),
            (Esc::None, b) if b >= 0x20 && b != 0x7f => self.print(char::from(b)),
            (Esc::None, _) => {}
            (Esc::Start, b'[') => {
                self.esc = Esc::Csi;
                self.params.clear();
            }
            (Esc::Start, b']') => self.esc = Esc::Osc,
            (Esc::Start, _) => self.esc = Esc::None,
            (Esc::Csi, 0x40..=0x7e) => {
                self.esc = Esc::None;
                self.csi(b);
            }
            (Esc::Csi, b) => {
                if self.params.len() < 32 {
                    self.params.push(char::from(b));
                }
            }
            (Esc::Osc, 0x07) => self.esc = Esc::None,
            (Esc::Osc, 0x1b) => self.esc = Esc::OscEscape,
            (Esc::Osc, _) => {}
            (Esc::OscEscape, _) => self.esc = Esc::None,
        }
    }

    fn print(&mut self, c: char) {
        if self.cursor < self.chars.len() {
            self.chars[self.cursor] = c;
        } else if self.chars.len() < MAX_CHARS {
            self.chars.resize(self.cursor, ' ');
            self.chars.push(c);
        } else {
            return;
        }
        self.cursor += 1;
    }

    /// A control sequence ended with `fin`.
    fn csi(&mut self, fin: u8) {
        let private = self.params.starts_with('?');
        let n = |default: usize| -> usize {
            self.params
                .trim_start_matches('?')
                .split(';')
                .next()
                .and_then(|p| p.parse().ok())
                .filter(|n| *n > 0)
                .unwrap_or(default)
                .min(MAX_CHARS)
        };
        match fin {
            b'h' | b'l' if private => {
                let alt = self
                    .params
                    .trim_start_matches('?')
                    .split(';')
                    .any(|p| matches!(p, "1049" | "1047" | "47"));
                if alt {
                    self.alternate = fin == b'h';
                }
            }
            b'K' => match self.params.as_str() {
                "" | "0" => self.chars.truncate(self.cursor),
                "1" => {
                    let end = (self.cursor + 1).min(self.chars.len());
                    self.chars[..end].fill(' ');
                }
                _ => self.chars.clear(),
            },
            b'C' => self.cursor = (self.cursor + n(1)).min(MAX_CHARS),
            b'D' => self.cursor = self.cursor.saturating_sub(n(1)),
            b'G' => self.cursor = n(1) - 1,
            b'P' => {
                let end = (self.cursor + n(1)).min(self.chars.len());
                if self.cursor < end {
                    self.chars.drain(self.cursor..end);
                }
            }
            b'@' if self.cursor <= self.chars.len() => {
                let count = n(1).min(MAX_CHARS - self.chars.len().min(MAX_CHARS));
                for _ in 0..count {
                    self.chars.insert(self.cursor, ' ');
                }
            }
            b'J' if self.params == "2" => {
                self.chars.clear();
                self.cursor = 0;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(bytes: &[u8]) -> String {
        let mut s = ScreenLine::default();
        s.feed(bytes);
        s.text()
    }

    #[test]
    fn follows_a_line_editor() {
        assert_eq!(shown(b"$ ls\x08\x08rm"), "$ rm");
        assert_eq!(shown(b"$ echo hi\r\n$ "), "$ ");
        assert_eq!(shown(b"$ abc\x1b[2D\x1b[K"), "$ a");
        assert_eq!(shown(b"$ abc\x1b[2D\x1b[1P"), "$ ac");
        assert_eq!(shown(b"$ ac\x08\x1b[1@b"), "$ abc");
        assert_eq!(shown(b"\x1b]0;title\x07$ x"), "$ x");
        assert_eq!(shown("$ é\u{1b}[1Dè".as_bytes()), "$ è");
        let mut s = ScreenLine::default();
        s.feed(b"\x1b[?1049h");
        assert!(s.alternate());
        s.feed(b"\x1b[?1049l");
        assert!(!s.alternate());
    }
}
