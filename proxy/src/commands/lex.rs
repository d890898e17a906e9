//! A shell command line cut into the simple commands a shell would run: quotes removed,
//! `;`, `&&`, `||`, `|`, `&`, newlines, subshells, `$(...)` and backquotes separating them,
//! redirections and leading `NAME=value` assignments left out. Lenient: an unclosed quote or
//! parenthesis ends with the line, as the text seen so far.

/// One simple command: its words, the program first.
pub(crate) type Simple = Vec<String>;

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

/// After a `$` whose next characters are `((`: the arithmetic expansion `$((...))` as text, with
/// the characters to take from `chars` for it, when it is plainly a number's computation: only
/// digits, spaces, operators and parentheses inside (no name, no `$`, no quote, no backquote,
/// none of which a shell could run a command through), and closed by `))` matching the two
/// it opened with. An arithmetic expansion computes a number: it is part of a word, not a
/// command. Anything else is left to be read as a command substitution, so that what a shell
/// might run is checked.
fn arithmetic(chars: &Chars<'_>) -> Option<(String, usize)> {
    let mut look = chars.clone();
    if look.next() != Some('(') || look.next() != Some('(') {
        return None;
    }
    let mut text = String::from("$((");
    let mut depth = 2usize;
    let mut taken = 2;
    while let Some(c) = look.next() {
        taken += 1;
        text.push(c);
        match c {
            '(' => depth += 1,
            ')' if depth == 2 => {
                // Only `))` closes it; `$((...) ...)` is a command substitution of a subshell.
                if look.next() != Some(')') {
                    return None;
                }
                taken += 1;
                text.push(')');
                return Some((text, taken));
            }
            ')' => depth -= 1,
            c if c.is_ascii_digit() || c.is_whitespace() || "+-*/%<>=!&|^~?:,".contains(c) => {}
            _ => return None,
        }
    }
    None
}

/// After a `$`: when an [`arithmetic`] expansion follows, takes it from `chars` into the
/// current word and says so.
fn take_arithmetic(chars: &mut Chars<'_>, lexer: &mut Lexer) -> bool {
    let Some((text, taken)) = arithmetic(chars) else {
        return false;
    };
    for _ in 0..taken {
        chars.next();
    }
    lexer.word.push_str(&text);
    true
}

/// Cuts `line` into simple commands (empty ones dropped).
pub(crate) fn simple_commands(line: &str) -> Vec<Simple> {
    let mut lexer = Lexer::default();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\n') | None => {}
                Some(n) => lexer.push(n),
            },
            '\'' => {
                lexer.quoted = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    lexer.push(q);
                }
            }
            '"' => {
                lexer.quoted = true;
                // Command substitutions inside double quotes still run: their text is
                // commands of their own (`depth` of them open).
                let mut depth = 0usize;
                while let Some(q) = chars.next() {
                    match q {
                        '"' if depth == 0 => break,
                        '\\' if matches!(chars.peek(), Some('"' | '\\' | '$' | '`')) => {
                            if let Some(n) = chars.next() {
                                lexer.push(n);
                            }
                        }
                        '$' if take_arithmetic(&mut chars, &mut lexer) => {}
                        '`' | '$' if q == '`' || chars.peek() == Some(&'(') => {
                            if q == '$' {
                                chars.next();
                            }
                            if q == '`' && depth > 0 {
                                depth -= 1;
                            } else {
                                depth += 1;
                            }
                            lexer.substitution();
                        }
                        ')' if depth > 0 => {
                            depth -= 1;
                            lexer.substitution();
                        }
                        ';' | '&' | '|' | '\n' if depth > 0 => lexer.split(),
                        c if c.is_whitespace() && depth > 0 => lexer.end_word(),
                        q => lexer.push(q),
                    }
                }
            }
            '$' if take_arithmetic(&mut chars, &mut lexer) => {}
            '$' if chars.peek() == Some(&'(') => {
                chars.next();
                lexer.split();
            }
            // `2>&1`, `&>file`: part of a redirection, not a separator.
            '&' if lexer.word.ends_with(['<', '>']) || chars.peek() == Some(&'>') => {
                lexer.push('&')
            }
            ';' | '&' | '|' | '\n' | '`' | '(' | ')' => lexer.split(),
            '{' | '}' if lexer.word.is_empty() && !lexer.quoted => lexer.split(),
            c if c.is_whitespace() => lexer.end_word(),
            c => lexer.push(c),
        }
    }
    lexer.split();
    lexer.commands
}

#[derive(Default)]
struct Lexer {
    word: String,
    /// The current word had quotes (so `''` is a word, and `{` inside one is text).
    quoted: bool,
    words: Vec<String>,
    commands: Vec<Simple>,
}

impl Lexer {
    fn push(&mut self, c: char) {
        self.word.push(c);
    }

    fn end_word(&mut self) {
        if self.word.is_empty() && !self.quoted {
            return;
        }
        self.words.push(std::mem::take(&mut self.word));
        self.quoted = false;
    }

    /// A command substitution begins or ends: the commands around it are cut there, and an
    /// empty quoted word just before it is no word.
    fn substitution(&mut self) {
        if self.word.is_empty() {
            self.quoted = false;
        }
        self.split();
    }

    fn split(&mut self) {
        self.end_word();
        let words = std::mem::take(&mut self.words);
        let cleaned = clean(words);
        if !cleaned.is_empty() {
            self.commands.push(cleaned);
        }
    }
}

/// Leaves out redirections and leading assignments.
fn clean(words: Vec<String>) -> Simple {
    let mut out = Vec::new();
    let mut skip_target = false;
    for w in words {
        if skip_target {
            skip_target = false;
            continue;
        }
        if let Some(rest) = redirection(&w) {
            // `>` alone takes the next word as its target; `>file` carries it.
            skip_target = rest.is_empty();
            continue;
        }
        if out.is_empty() && is_assignment(&w) {
            continue;
        }
        out.push(w);
    }
    out
}

/// For a redirection word (`>`, `2>>`, `<file`, `&>x`, `2>&1`), what follows the operator.
fn redirection(w: &str) -> Option<&str> {
    let rest = w.trim_start_matches(|c: char| c.is_ascii_digit());
    let rest = rest.strip_prefix('&').unwrap_or(rest);
    if !rest.starts_with(['<', '>']) {
        return None;
    }
    let rest = rest.trim_start_matches(['<', '>']);
    Some(rest.strip_prefix('&').unwrap_or(rest))
}

fn is_assignment(w: &str) -> bool {
    match w.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmds(line: &str) -> Vec<String> {
        simple_commands(line).iter().map(|c| c.join(" ")).collect()
    }

    #[test]
    fn separators_quotes_and_substitutions_make_simple_commands() {
        assert_eq!(cmds("ls -l; rm -rf /tmp/x"), ["ls -l", "rm -rf /tmp/x"]);
        assert_eq!(
            cmds("true && rm -rf / || echo no"),
            ["true", "rm -rf /", "echo no"]
        );
        assert_eq!(cmds("cat f | grep x &"), ["cat f", "grep x"]);
        assert_eq!(cmds("  r\"m\" '-rf' /"), ["rm -rf /"]);
        assert_eq!(
            cmds("echo $(rm -rf /) `reboot`"),
            ["echo", "rm -rf /", "reboot"]
        );
        assert_eq!(cmds("echo \"$(shutdown now)\""), ["echo", "shutdown now"]);
        // An arithmetic expansion is part of a word; one that runs a command is not.
        assert_eq!(
            cmds("echo n-$((2*3)) \"$(( (1+2) * 3 ))\""),
            ["echo n-$((2*3)) $(( (1+2) * 3 ))"]
        );
        assert!(cmds("echo $(( $(id -u) + 1 ))").contains(&"id -u".to_string()));
        assert!(cmds("echo $((1+`reboot`))").contains(&"reboot".to_string()));
        // What a shell runs as a command stays a command: a subshell inside `$(`, a quote, a
        // name (a variable's value may hold a command substitution).
        assert!(cmds("echo $((reboot) )").contains(&"reboot".to_string()));
        assert!(cmds("echo $((1) ); reboot").contains(&"reboot".to_string()));
        assert!(cmds("echo $(( ${x#\"))\"} )); reboot; echo \"x\"").contains(&"reboot".to_string()));
        assert_eq!(cmds("echo $((x+1))"), ["echo", "x+1"]);
        assert_eq!(cmds("(cd /; rm x) { reboot; }"), ["cd /", "rm x", "reboot"]);
        assert_eq!(cmds("rm \\\n -rf /"), ["rm -rf /"]);
        assert_eq!(cmds("A=1 B=2 rm -f x >/dev/null 2>&1"), ["rm -f x"]);
        assert_eq!(cmds("rm -f x > out < in"), ["rm -f x"]);
        assert_eq!(cmds("echo 'unclosed; rm"), ["echo unclosed; rm"]);
        assert_eq!(cmds("echo '' x"), ["echo  x"]);
        assert!(cmds(" ;; & ").is_empty());
    }
}
