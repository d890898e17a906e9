//! Command control in a shell: each command line is checked at Enter, before the target's
//! shell gets the Enter, against the session's control policy. Sans I/O: fed the bytes of both
//! directions, it says what to forward.
//!
//! With a PTY the target's line editor holds the line and echoes it; the line checked is both
//! the one rebuilt from the keystrokes and the one the target's terminal line shows after the
//! prompt (so a line recalled from history or completed with Tab is seen as it will run). A
//! refused line's Enter is replaced by Ctrl-C, which makes the shell drop the line (and any
//! `\` continuation before it); keystrokes after it in the same chunk (a pasted script) are
//! dropped too. Lines continued with `\`, or ending in `|`, `&&`, `||`, are checked with the
//! lines before them. Lines typed at a password prompt and in full-screen programs (the
//! alternate screen: editors, pagers) are not commands and are not checked.
//!
//! Without a PTY the shell reads the bytes as they come, so a line is held until its end and
//! forwarded only once checked.
//!
//! What a line-based check cannot see: commands a script or alias runs, and commands typed
//! into programs that are not the login shell (their lines are checked like shell lines).

mod screen;

use super::echo::is_password_prompt;
use super::recorder::LineEditor;
use crate::gate::{Controls, Refusal};
use screen::ScreenLine;

/// The longest line held without a PTY; a longer one is refused.
const MAX_HELD: usize = 256 * 1024;

/// What to do with a chunk of keystrokes.
#[derive(Debug, Default)]
pub(crate) struct Guarded {
    /// The bytes to send to the target.
    pub forward: Vec<u8>,
    /// A refused line and why.
    pub refused: Option<(String, Refusal)>,
}

/// Follows one shell channel for command control.
pub(crate) struct LineGuard {
    controls: Controls,
    pty: bool,
    typed: LineEditor,
    screen: ScreenLine,
    /// Characters of the screen line before the current line's first keystroke.
    prompt_len: Option<usize>,
    /// The current line began at a password prompt.
    secret: bool,
    /// Earlier lines of a command continued on this one.
    pending: String,
    /// Without a PTY: the current line's bytes, not forwarded yet.
    held: Vec<u8>,
}

impl LineGuard {
    /// A guard for a shell; None when the session has no command control.
    pub fn new(controls: &Controls, pty: bool) -> Option<Self> {
        controls.commands.as_ref()?;
        Some(Self {
            controls: controls.clone(),
            pty,
            typed: LineEditor::default(),
            screen: ScreenLine::default(),
            prompt_len: None,
            secret: false,
            pending: String::new(),
            held: Vec::new(),
        })
    }

    /// Whether the shell has a PTY (its notices then go with its output, as a terminal shows
    /// both streams together).
    pub fn pty(&self) -> bool {
        self.pty
    }

    /// Output of the target (what the engineer's terminal shows).
    pub fn output(&mut self, data: &[u8]) {
        self.screen.feed(data);
    }

    /// Keystrokes (or piped input) of the engineer.
    pub fn input(&mut self, data: &[u8]) -> Guarded {
        let mut out = Guarded::default();
        for &b in data {
            if self.typed.at_start() && self.prompt_len.is_none() {
                self.prompt_len = Some(self.screen.len());
                self.secret = is_password_prompt(&self.screen.text());
            }
            let enter = matches!(b, b'\r' | b'\n');
            let line = self.typed.feed_byte(b);
            if !self.pty && !enter {
                self.held.push(b);
                if self.held.len() > MAX_HELD {
                    let refusal = self.controls.refusal("a command line this long");
                    out.refused = Some(("(a line longer than 256 KiB)".into(), refusal));
                    self.held.clear();
                    return out;
                }
                continue;
            }
            let Some(line) = line.filter(|_| enter) else {
                out.forward.push(b);
                continue;
            };
            if let Some(refused) = self.enter(line) {
                if self.pty {
                    out.forward.push(0x03);
                }
                self.held.clear();
                out.refused = Some(refused);
                return out;
            }
            out.forward.append(&mut self.held);
            out.forward.push(b);
        }
        out
    }

    /// The client sent EOF: a shell without a PTY runs the last line even without its end.
    pub fn eof(&mut self) -> Guarded {
        let mut out = Guarded::default();
        if self.held.is_empty() {
            return out;
        }
        let line = String::from_utf8_lossy(&self.held).into_owned();
        match self.enter(line) {
            Some(refused) => out.refused = Some(refused),
            None => out.forward.append(&mut self.held),
        }
        self.held.clear();
        out
    }

    /// Enter on a line: None when it may run (or continues), the refusal otherwise.
    fn enter(&mut self, typed: String) -> Option<(String, Refusal)> {
        let prompt = self.prompt_len.take();
        let secret = std::mem::take(&mut self.secret);
        if secret || self.screen.alternate() {
            self.pending.clear();
            return None;
        }
        let shown = match (self.pty, prompt) {
            (true, Some(p)) => self.screen.text_from(p),
            _ => String::new(),
        };
        let whole = format!("{}{typed}", self.pending);
        let whole_shown = format!("{}{}", self.pending, shown.trim());
        let check = |line: &str| {
            self.controls
                .command_refusal(line)
                .map(|r| (line.to_string(), r))
        };
        let refused = check(&whole).or_else(|| {
            (!shown.trim().is_empty() && shown.trim() != typed.trim())
                .then(|| check(&whole_shown))
                .flatten()
        });
        if refused.is_some() {
            self.pending.clear();
            return refused;
        }
        self.pending = continued(&whole).unwrap_or_default();
        None
    }
}

/// The text a continued line carries into the next one: a line ending in `\` joins the next
/// without a break, one ending in a pipe or `&&`/`||` (or inside quotes) with a newline.
fn continued(line: &str) -> Option<String> {
    let t = line.trim_end();
    let backslashes = t.len() - t.trim_end_matches('\\').len();
    if backslashes % 2 == 1 {
        return Some(t[..t.len() - 1].to_string());
    }
    let open_quote = {
        let (mut single, mut double, mut escaped) = (false, false, false);
        for c in t.chars() {
            match c {
                _ if escaped => escaped = false,
                '\\' if !single => escaped = true,
                '\'' if !double => single = !single,
                '"' if !single => double = !double,
                _ => {}
            }
        }
        single || double
    };
    (open_quote || t.ends_with('|') || t.ends_with("&&")).then(|| format!("{t}\n"))
}

#[cfg(test)]
mod tests;
