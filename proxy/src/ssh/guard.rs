//! Command control in a shell: each command line is checked at Enter, before the target's
//! shell gets the Enter, against the session's control policy. Sans I/O: fed the bytes of both
//! directions, it says what to forward.
//!
//! With a PTY the target's line editor holds the line and echoes it; the line checked is both
//! the one rebuilt from the keystrokes and the one the target's terminal line shows after the
//! prompt (so a line recalled from history or completed with Tab is seen as it will run). A
//! refused line's Enter is replaced by Ctrl-C, which makes the shell drop the line (and any
//! `\` continuation before it); keystrokes after it in the same chunk (a pasted script) are
//! dropped too. Until the target's terminal has taken the Ctrl-C (it echoes `^C`) the guard is
//! [`LineGuard::settling`]: the terminal flushes its input queue when it takes the interrupt,
//! and keys that reached it before then are lost, so the caller holds what the engineer types
//! next until the echo (or a short while). Lines continued with `\`, or ending in `|`, `&&`, `||`, are checked with the
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
use crate::gate::{Controls, Refusal, Verdict};
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
    /// A line held for approval: its Enter (and, without a PTY, the line) waits for
    /// [`LineGuard::decided`]; the keystrokes after it in the chunk were dropped.
    pub held: Option<String>,
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
    /// The Enter of a line waiting for approval.
    awaiting: Option<u8>,
    /// Ctrl-C went to the target for a refused line and its echo `^C` has not been shown yet;
    /// whether the last byte shown was the `^`.
    interrupted: Option<bool>,
    /// The echo `^C` was shown and the shell has not drawn anything since (its prompt): keys
    /// that reach it while it handles the interrupt can still be discarded by it.
    redraw_pending: bool,
}

impl LineGuard {
    /// A guard for a shell; None when the session has no command control.
    pub fn new(controls: &Controls, pty: bool) -> Option<Self> {
        if !controls.checks_commands() {
            return None;
        }
        Some(Self {
            controls: controls.clone(),
            pty,
            typed: LineEditor::default(),
            screen: ScreenLine::default(),
            prompt_len: None,
            secret: false,
            pending: String::new(),
            held: Vec::new(),
            awaiting: None,
            interrupted: None,
            redraw_pending: false,
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
        let mut after_echo = data;
        if let Some(caret) = self.interrupted.as_mut() {
            let mut echoed = None;
            for (i, &b) in data.iter().enumerate() {
                if *caret && b == b'C' {
                    echoed = Some(i);
                    break;
                }
                *caret = b == b'^';
            }
            let Some(i) = echoed else {
                return;
            };
            self.interrupted = None;
            self.redraw_pending = true;
            after_echo = &data[i + 1..];
        }
        // The shell is back once it draws something other than line breaks (its prompt, or
        // the terminal modes its line editor sets first).
        if self.redraw_pending && after_echo.iter().any(|b| !b.is_ascii_whitespace()) {
            self.redraw_pending = false;
        }
    }

    /// Whether the target has not yet shown that it took the Ctrl-C of a refused line and is
    /// back at its prompt: keys sent meanwhile may be flushed with the terminal's input queue,
    /// or discarded by the shell while it handles the interrupt (bash lost the first key of a
    /// line typed at the `^C` echo, before its prompt came back).
    pub fn settling(&self) -> bool {
        self.interrupted.is_some() || self.redraw_pending
    }

    /// Stop waiting for the echo and the prompt (a terminal without `echoctl` shows no echo).
    pub fn settled(&mut self) {
        self.interrupted = None;
        self.redraw_pending = false;
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
            match self.enter(line) {
                Entered::Run => {}
                Entered::Refused(line, why) => {
                    if self.pty {
                        out.forward.push(0x03);
                        self.interrupted = Some(false);
                    }
                    self.held.clear();
                    out.refused = Some((line, why));
                    return out;
                }
                Entered::Held(line) => {
                    self.awaiting = Some(b);
                    out.held = Some(line);
                    return out;
                }
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
            Entered::Refused(line, why) => out.refused = Some((line, why)),
            Entered::Run => out.forward.append(&mut self.held),
            Entered::Held(line) => {
                out.held = Some(line);
                return out;
            }
        }
        self.held.clear();
        out
    }

    /// The decision on the held line: what to send the target now (its Enter when accepted;
    /// Ctrl-C with a PTY, nothing without, when not).
    pub fn decided(&mut self, accepted: bool) -> Vec<u8> {
        let enter = self.awaiting.take();
        let mut out = Vec::new();
        if accepted {
            out.append(&mut self.held);
            out.extend(enter);
        } else {
            self.held.clear();
            self.pending.clear();
            if self.pty {
                out.push(0x03);
                self.interrupted = Some(false);
            }
        }
        out
    }

    /// Enter on a line: what happens to it.
    fn enter(&mut self, typed: String) -> Entered {
        let prompt = self.prompt_len.take();
        let secret = std::mem::take(&mut self.secret);
        if secret || self.screen.alternate() {
            self.pending.clear();
            return Entered::Run;
        }
        let shown = match (self.pty, prompt) {
            (true, Some(p)) => self.screen.text_from(p),
            _ => String::new(),
        };
        let whole = format!("{}{typed}", self.pending);
        let mut lines = vec![whole.clone()];
        if !shown.trim().is_empty() && shown.trim() != typed.trim() {
            lines.push(format!("{}{}", self.pending, shown.trim()));
        }
        // A refusal of either form wins; then a hold.
        let verdicts: Vec<(String, Verdict)> = lines
            .into_iter()
            .map(|l| {
                let v = self.controls.verdict(&l);
                (l, v)
            })
            .collect();
        for (line, v) in &verdicts {
            if let Verdict::Refused(why) = v {
                self.pending.clear();
                return Entered::Refused(line.clone(), why.clone());
            }
        }
        let continues = continued(&whole);
        let held = verdicts.iter().find(|(_, v)| *v == Verdict::NeedsApproval);
        if let (Some((line, _)), None) = (held, &continues) {
            // A continued line is held as a whole, when it ends.
            self.pending.clear();
            return Entered::Held(line.clone());
        }
        self.pending = continues.unwrap_or_default();
        Entered::Run
    }
}

/// What becomes of a line at Enter.
enum Entered {
    Run,
    Refused(String, Refusal),
    Held(String),
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
