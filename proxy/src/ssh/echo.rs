//! Command lines are audited only once the target has echoed them: what is typed while the
//! terminal does not echo (a password prompt, say) is reported as hidden input, never in clear.
//!
//! The text the target prints from the first keystroke of a line until the first keystroke of
//! the next one is kept (escape sequences removed, backspaces applied, bounded); a completed
//! line is decided when the next line starts or the session ends: if that text contains the
//! line, it was echoed and is reported as typed.

/// What is reported for a line the target did not echo.
pub(crate) const HIDDEN: &str = "<hidden input>";
const MAX_WINDOW: usize = 256 * 1024;

#[derive(Default, PartialEq, Eq)]
enum Esc {
    #[default]
    None,
    Start,
    Csi,
    Osc,
}

/// Decides which typed lines may be audited in clear.
#[derive(Default)]
pub(crate) struct EchoCheck {
    window: String,
    esc: Esc,
    typing: bool,
    pending: Vec<(f64, String)>,
}

impl EchoCheck {
    /// Target output.
    pub fn output(&mut self, data: &[u8]) {
        if !self.typing && self.pending.is_empty() {
            return;
        }
        for ch in String::from_utf8_lossy(data).chars() {
            self.push(ch);
        }
        if self.window.len() > MAX_WINDOW {
            let cut = self.window.len() - MAX_WINDOW / 2;
            let cut = (cut..self.window.len())
                .find(|i| self.window.is_char_boundary(*i))
                .unwrap_or(0);
            self.window.drain(..cut);
        }
    }

    fn push(&mut self, ch: char) {
        match (&self.esc, ch) {
            (Esc::Start, '[') => self.esc = Esc::Csi,
            (Esc::Start, ']') => self.esc = Esc::Osc,
            (Esc::Start, _) => self.esc = Esc::None,
            (Esc::Csi, c) if ('\u{40}'..='\u{7e}').contains(&c) => self.esc = Esc::None,
            (Esc::Csi, _) => {}
            (Esc::Osc, '\u{7}') => self.esc = Esc::None,
            (Esc::Osc, _) => {}
            (Esc::None, '\u{1b}') => self.esc = Esc::Start,
            (Esc::None, '\u{8}') => {
                self.window.pop();
            }
            (Esc::None, c) if c >= ' ' => self.window.push(c),
            (Esc::None, _) => {}
        }
    }

    /// Keystrokes arrived at `at`, completing `lines`; returns the lines decided now.
    pub fn typed(&mut self, at: f64, lines: Vec<String>) -> Vec<(f64, String)> {
        let mut decided = Vec::new();
        if !self.typing {
            decided = self.decide();
            self.typing = true;
        }
        if !lines.is_empty() {
            self.pending.extend(lines.into_iter().map(|l| (at, l)));
            self.typing = false;
        }
        decided
    }

    /// The session ended: decide what is still pending.
    pub fn finish(&mut self) -> Vec<(f64, String)> {
        self.decide()
    }

    fn decide(&mut self) -> Vec<(f64, String)> {
        let window = std::mem::take(&mut self.window);
        self.pending
            .drain(..)
            .map(|(at, line)| {
                let shown = if window.contains(&line) {
                    line
                } else {
                    HIDDEN.to_string()
                };
                (at, shown)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoed_lines_are_kept_and_a_password_is_hidden() {
        let mut e = EchoCheck::default();
        assert!(e.typed(0.0, vec![]).is_empty());
        e.output(b"s\x1b[1mu\x1b[0mdo ls");
        e.typed(0.1, vec!["sudo ls".into()]);
        e.output(b"\r\n[sudo] password for root: ");
        let decided = e.typed(0.5, vec![]);
        assert_eq!(decided, vec![(0.1, "sudo ls".to_string())]);
        e.typed(0.9, vec!["hunter2".into()]);
        e.output(b"\r\nfile-a file-b\r\n");
        assert_eq!(e.finish(), vec![(0.9, HIDDEN.to_string())]);
    }

    #[test]
    fn a_line_pasted_at_once_is_judged_by_the_echo_that_follows() {
        let mut e = EchoCheck::default();
        e.typed(0.0, vec!["echo hi; exit 3".into()]);
        e.output(b"root@vm:~# echo hi; exit 3\r\nhi\r\n");
        assert_eq!(e.finish(), vec![(0.0, "echo hi; exit 3".to_string())]);
    }

    #[test]
    fn backspaces_in_the_echo_are_applied() {
        let mut e = EchoCheck::default();
        e.typed(0.0, vec![]);
        e.output(b"ecx\x08 \x08ho ok");
        e.typed(0.2, vec!["echo ok".into()]);
        assert_eq!(e.finish(), vec![(0.2, "echo ok".to_string())]);
    }
}
