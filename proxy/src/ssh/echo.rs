//! What the command audit shows of the lines typed in a session: what the shell received, in
//! clear, except what was typed at a password prompt.
//!
//! The decision is made by *position*, not by echo: the last line the target printed before the
//! first keystroke of a line (its prompt) is kept, and a line begun right after a password,
//! passphrase, PIN or one-time-code prompt ([`prompt::is_password_prompt`]) is masked, in the
//! audit and in the recording's input. A line typed with the echo off anywhere else (after
//! `stty -echo`, or in a shell without a PTY) is audited in clear and marked as typed without
//! echo: it is what the shell received. A line was echoed if an output line ending after its
//! Enter shows it (the target echoes in order, so the lines typed before it were not).
//!
//! Everything is a pure function of the bytes of both directions (no sockets, no clock: the
//! caller gives the times), and bounded whatever either side sends: the prompt keeps the last
//! [`MAX_PROMPT`] characters of the output line, the echo check its first [`MAX_WINDOW`]
//! bytes, a line [`super::recorder::MAX_LINE`] bytes, and at most [`MAX_PENDING`] lines wait
//! for their echo.

mod prompt;

use std::collections::VecDeque;

pub(crate) use prompt::is_password_prompt;

use super::recorder::LineEditor;
use crate::gate::CommandInput;

/// What is reported for a line typed at a password prompt.
pub(crate) const HIDDEN: &str = "<hidden input>";
/// The characters of the current output line kept as the prompt.
const MAX_PROMPT: usize = 256;
/// The bytes of output kept to judge a line's echo.
const MAX_WINDOW: usize = 64 * 1024;
/// Lines typed ahead and not yet decided, at most (older ones are decided at once).
const MAX_PENDING: usize = 16;

/// A command line as the audit reports it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Decided {
    pub at: f64,
    pub line: String,
    pub input: CommandInput,
}

#[derive(Default, PartialEq, Eq)]
enum Esc {
    #[default]
    None,
    Start,
    Csi,
    Osc,
}

/// One typed line: being typed (`text` None), or complete and waiting for its echo.
struct Typed {
    at: f64,
    text: Option<String>,
    /// The password prompt it was typed at.
    secret_prompt: Option<String>,
    /// The keystroke chunk that completed it.
    chunk: u64,
}

/// Follows both directions of a shell or exec session for the command audit.
pub(crate) struct InputAudit {
    /// Rebuilds command lines (shells only; an exec's input is not command lines).
    editor: Option<LineEditor>,
    esc: Esc,
    /// The end of the target's current output line: the prompt when something is typed.
    prompt: String,
    /// The start of the target's current output line, where an echo shows.
    current: String,
    /// Typed lines not decided yet, oldest first; the last may still be being typed.
    lines: VecDeque<Typed>,
    /// Keystroke chunks seen.
    chunks: u64,
}

impl InputAudit {
    /// For a shell: typed lines are audited.
    pub fn shell() -> Self {
        Self::new(Some(LineEditor::default()))
    }

    /// For an exec: only the position is followed (to mask input typed at a password prompt).
    pub fn exec() -> Self {
        Self::new(None)
    }

    fn new(editor: Option<LineEditor>) -> Self {
        Self {
            editor,
            esc: Esc::None,
            prompt: String::new(),
            current: String::new(),
            lines: VecDeque::new(),
            chunks: 0,
        }
    }

    /// Target output (stdout or stderr); returns the lines whose echo it showed.
    pub fn output(&mut self, data: &[u8]) -> Vec<Decided> {
        let mut decided = Vec::new();
        for ch in String::from_utf8_lossy(data).chars() {
            let Some(ch) = self.printed(ch) else { continue };
            self.show(ch);
            match ch {
                '\n' => {
                    decided.extend(self.echoed());
                    self.current.clear();
                }
                '\r' => {}
                '\u{8}' => {
                    self.current.pop();
                }
                c if self.current.len() < MAX_WINDOW => self.current.push(c),
                _ => {}
            }
        }
        decided
    }

    /// An output line ended: the first complete line it shows was echoed; it is decided with
    /// the lines typed before it (the target echoes in order, so theirs did not show).
    fn echoed(&mut self) -> Vec<Decided> {
        let current = &self.current;
        let shown = self
            .lines
            .iter()
            .take_while(|l| l.text.is_some())
            .position(|l| {
                l.text
                    .as_deref()
                    .is_some_and(|t| current.contains(probe(t)))
            });
        let Some(k) = shown else {
            return Vec::new();
        };
        let decided = self.lines.drain(..=k).enumerate();
        decided.map(|(i, l)| decide(l, i == k)).collect()
    }

    /// Follows the current output line (bounded, amortised: cut back when far too long).
    fn show(&mut self, ch: char) {
        match ch {
            '\n' | '\r' => self.prompt.clear(),
            '\u{8}' => {
                self.prompt.pop();
            }
            c => {
                self.prompt.push(c);
                if self.prompt.len() > 8 * MAX_PROMPT {
                    let keep = self.prompt.char_indices().rev().nth(MAX_PROMPT - 1);
                    let cut = keep.map(|(i, _)| i).unwrap_or(0);
                    self.prompt.drain(..cut);
                }
            }
        }
    }

    /// The character an output character shows, escape sequences removed.
    fn printed(&mut self, ch: char) -> Option<char> {
        match (&self.esc, ch) {
            (Esc::Start, '[') => self.esc = Esc::Csi,
            (Esc::Start, ']') => self.esc = Esc::Osc,
            (Esc::Start, _) => self.esc = Esc::None,
            (Esc::Csi, c) if ('\u{40}'..='\u{7e}').contains(&c) => self.esc = Esc::None,
            (Esc::Csi, _) => {}
            (Esc::Osc, '\u{7}') => self.esc = Esc::None,
            (Esc::Osc, _) => {}
            (Esc::None, '\u{1b}') => self.esc = Esc::Start,
            (Esc::None, c) if c >= ' ' || matches!(c, '\n' | '\r' | '\u{8}') => return Some(c),
            (Esc::None, _) => {}
        }
        None
    }

    /// Keystrokes arrived at `at`; returns the lines decided now, and whether any of these
    /// keystrokes was typed at a password prompt (to mask them in the recording).
    pub fn typed(&mut self, at: f64, data: &[u8]) -> (Vec<Decided>, bool) {
        let Some(mut editor) = self.editor.take() else {
            // An exec: whatever arrives while a password prompt shows is secret.
            return (Vec::new(), is_password_prompt(&self.prompt));
        };
        self.chunks += 1;
        let (mut decided, mut secret) = (Vec::new(), false);
        for &b in data {
            if editor.at_start() {
                decided.extend(self.start_line(at));
            }
            secret |= self.lines.back().is_some_and(|l| l.secret_prompt.is_some());
            if let Some(line) = editor.feed_byte(b) {
                decided.extend(self.end_line(at, line));
            }
        }
        self.editor = Some(editor);
        (decided, secret)
    }

    /// The first keystroke of a line (again, after Ctrl-C or erasing everything): its prompt is
    /// what the target shows now. Lines completed by earlier keystroke chunks whose echo did not
    /// show are decided (those pasted in this chunk wait for theirs).
    fn start_line(&mut self, at: f64) -> Vec<Decided> {
        let secret_prompt = is_password_prompt(&self.prompt).then(|| self.prompt.clone());
        if let Some(typing) = self.lines.back_mut().filter(|l| l.text.is_none()) {
            typing.secret_prompt = secret_prompt;
            return Vec::new();
        }
        let mut decided = Vec::new();
        while self.lines.front().is_some_and(|l| l.chunk < self.chunks) {
            decided.extend(self.lines.pop_front().map(|l| decide(l, false)));
        }
        self.lines.push_back(Typed {
            at,
            text: None,
            secret_prompt,
            chunk: self.chunks,
        });
        decided
    }

    /// Enter: the line being typed is complete (an empty one is forgotten). Returns the oldest
    /// line, decided, when too many wait.
    fn end_line(&mut self, at: f64, line: String) -> Option<Decided> {
        let typing = self.lines.back_mut().filter(|l| l.text.is_none())?;
        if line.is_empty() {
            self.lines.pop_back();
            return None;
        }
        typing.at = at;
        typing.text = Some(line);
        typing.chunk = self.chunks;
        if self.lines.len() > MAX_PENDING {
            return self.lines.pop_front().map(|l| decide(l, false));
        }
        None
    }

    /// The session ended: decide what is still pending.
    pub fn finish(&mut self) -> Vec<Decided> {
        let complete = self.lines.drain(..).filter(|l| l.text.is_some());
        complete.map(|l| decide(l, false)).collect()
    }
}

/// What of a line its echo must show: a truncated line's kept start.
fn probe(text: &str) -> &str {
    text.strip_suffix(super::recorder::TRUNCATED)
        .unwrap_or(text)
}

/// A complete line's audit: masked at a password prompt, else in clear, marked by its echo.
fn decide(typed: Typed, echoed: bool) -> Decided {
    let Typed {
        at,
        text,
        secret_prompt,
        ..
    } = typed;
    if let Some(prompt) = secret_prompt {
        return Decided {
            at,
            line: HIDDEN.to_string(),
            input: CommandInput::AtPasswordPrompt {
                prompt: prompt.trim().to_string(),
            },
        };
    }
    let input = if echoed {
        CommandInput::Echoed
    } else {
        CommandInput::WithoutEcho
    };
    Decided {
        at,
        line: text.unwrap_or_default(),
        input,
    }
}

#[cfg(test)]
mod tests;
