//! Command control: whether a shell command line may run under a control policy's list.
//!
//! A line is cut into the simple commands a shell would run ([`lex`]); each is also looked at
//! through the wrappers that run another command (`sudo`, `env`, `nohup`, `xargs`, `sh -c`,
//! `eval`, ...), so `sudo rm -rf /`, `r'm' -rf /`, `true; rm -rf /` and `bash -c 'rm -rf /'` are
//! all `rm -rf /` to the check.
//!
//! A pattern is either `/regex/` (matched anywhere in a simple command, its words joined by
//! single spaces, the program by its file name), or words: the first names the program (its
//! file name, or the whole path when the pattern has a `/`; `*` and `?` glob), options must all
//! be present in any order and grouping (`-rf` is met by `-r -f` or `-fr`; letters are
//! case-sensitive, so `-R` is not `-r`), other words must be among the arguments (globs
//! allowed). So `rm -rf` catches `rm -fr /x` and `/bin/rm -r -f x`, and `systemctl restart`
//! catches `systemctl --now restart nginx`.
//!
//! Deny list: a line is refused when any layer of any simple command matches a pattern. Allow
//! list: every simple command must match a pattern at some layer (wrappers are transparent: a
//! list with `systemctl status` allows `sudo systemctl status nginx`).

mod lex;

use regex::Regex;

/// A compiled pattern list.
#[derive(Clone, Debug)]
pub struct CommandRules {
    allow_only: bool,
    patterns: Vec<(String, Pattern)>,
}

#[derive(Clone, Debug)]
enum Pattern {
    Regex(Regex),
    Words {
        program: String,
        flags: Vec<char>,
        long: Vec<String>,
        args: Vec<String>,
    },
}

/// Why a line may not run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The simple command refused, as the check saw it.
    pub command: String,
    /// The deny-list pattern it matched; None when an allow list has none for it.
    pub pattern: Option<String>,
}

impl CommandRules {
    /// Compiles a list; the error names the pattern that is not valid.
    pub fn new(allow_only: bool, patterns: &[String]) -> Result<Self, String> {
        let patterns = patterns
            .iter()
            .map(|p| Pattern::parse(p).map(|c| (p.clone(), c)))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            allow_only,
            patterns,
        })
    }

    /// Whether only listed commands may run.
    pub fn allow_only(&self) -> bool {
        self.allow_only
    }

    /// An allow list with nothing on it: every command is refused.
    pub fn refuse_all() -> Self {
        Self {
            allow_only: true,
            patterns: Vec::new(),
        }
    }

    /// Whether `line` may run; the first refused simple command otherwise.
    pub fn check(&self, line: &str) -> Result<(), Refused> {
        for simple in lex::simple_commands(line) {
            let layers = layers(simple);
            let shown = |l: &[String]| l.join(" ");
            let matched = layers
                .iter()
                .find_map(|l| self.patterns.iter().find(|(_, p)| p.matches(l)));
            match (self.allow_only, matched) {
                (false, Some((text, _))) => {
                    return Err(Refused {
                        command: shown(layers.last().map_or(&[][..], |l| l)),
                        pattern: Some(text.clone()),
                    })
                }
                (true, None) => {
                    return Err(Refused {
                        command: shown(layers.last().map_or(&[][..], |l| l)),
                        pattern: None,
                    })
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// A simple command and what its wrappers run, outermost first; `sh -c` and `eval` strings
/// are cut into commands of their own (all their layers follow).
fn layers(simple: Vec<String>) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut current = simple;
    for _ in 0..8 {
        let next = unwrap(&current);
        out.push(std::mem::take(&mut current));
        match next {
            Unwrapped::Command(c) if !c.is_empty() => current = c,
            Unwrapped::Script(s) => {
                for inner in lex::simple_commands(&s) {
                    out.extend(layers(inner));
                }
                break;
            }
            _ => break,
        }
    }
    out
}

enum Unwrapped {
    None,
    Command(Vec<String>),
    Script(String),
}

/// What a wrapper runs.
fn unwrap(words: &[String]) -> Unwrapped {
    let Some(program) = words.first().map(|p| base(p)) else {
        return Unwrapped::None;
    };
    let rest = &words[1..];
    // Options that take a value, per wrapper.
    let valued: &[&str] = match program {
        "sudo" | "doas" => &["-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T"],
        "nice" => &["-n"],
        "env" => &["-u", "-C", "-S"],
        "xargs" => &["-n", "-P", "-L", "-I", "-d", "-E", "-s", "-a"],
        "timeout" => &["-s", "-k"],
        "stdbuf" | "ionice" | "chrt" | "taskset" | "time" | "nohup" | "command" | "builtin"
        | "exec" | "setsid" => &[],
        "sh" | "bash" | "dash" | "zsh" | "ksh" => {
            return match rest.iter().position(|w| {
                w == "-c" || (w.starts_with('-') && !w.starts_with("--") && w.contains('c'))
            }) {
                Some(i) => rest
                    .get(i + 1)
                    .map_or(Unwrapped::None, |s| Unwrapped::Script(s.clone())),
                None => Unwrapped::None,
            };
        }
        "eval" => return Unwrapped::Script(rest.join(" ")),
        _ => return Unwrapped::None,
    };
    let mut i = 0;
    while let Some(w) = rest.get(i) {
        if w == "--" {
            i += 1;
            break;
        }
        if w.starts_with('-') && w.len() > 1 {
            i += if valued.contains(&w.as_str()) { 2 } else { 1 };
            continue;
        }
        if program == "env" && w.contains('=') {
            i += 1;
            continue;
        }
        break;
    }
    if program == "timeout" {
        i += 1; // the duration
    }
    Unwrapped::Command(rest.get(i..).unwrap_or_default().to_vec())
}

/// A program's file name.
fn base(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

impl Pattern {
    fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if let Some(re) = t.strip_prefix('/').and_then(|r| r.strip_suffix('/')) {
            if re.is_empty() {
                return Err(format!("{text:?}: an empty regular expression"));
            }
            return Regex::new(re)
                .map(Pattern::Regex)
                .map_err(|e| format!("{text:?} is not a valid regular expression: {e}"));
        }
        let mut words = lex::simple_commands(t).into_iter();
        let (Some(words), None) = (words.next(), words.next()) else {
            return Err(format!("{text:?}: a pattern is one command (or /regex/)"));
        };
        let mut it = words.into_iter();
        let program = it.next().unwrap_or_default();
        let (mut flags, mut long, mut args) = (Vec::new(), Vec::new(), Vec::new());
        for w in it {
            if let Some(l) = w.strip_prefix("--").filter(|l| !l.is_empty()) {
                long.push(l.to_string());
            } else if let Some(f) = w.strip_prefix('-').filter(|f| !f.is_empty()) {
                flags.extend(f.chars());
            } else {
                args.push(w);
            }
        }
        Ok(Pattern::Words {
            program,
            flags,
            long,
            args,
        })
    }

    fn matches(&self, words: &[String]) -> bool {
        let Some(first) = words.first() else {
            return false;
        };
        match self {
            Pattern::Regex(re) => {
                let mut text = base(first).to_string();
                for w in &words[1..] {
                    text.push(' ');
                    text.push_str(w);
                }
                re.is_match(&text)
            }
            Pattern::Words {
                program,
                flags,
                long,
                args,
            } => {
                let name = if program.contains('/') {
                    first
                } else {
                    base(first)
                };
                if !glob(program, name) {
                    return false;
                }
                let rest = &words[1..];
                let has_flag = |f: &char| {
                    rest.iter()
                        .any(|w| !w.starts_with("--") && w.starts_with('-') && w[1..].contains(*f))
                };
                let has_long = |l: &String| {
                    rest.iter().any(|w| {
                        w.strip_prefix("--")
                            .is_some_and(|x| x == l || x.starts_with(&format!("{l}=")))
                    })
                };
                flags.iter().all(has_flag)
                    && long.iter().all(has_long)
                    && args.iter().all(|a| rest.iter().any(|w| glob(a, w)))
            }
        }
    }
}

/// `*` and `?` globbing of a whole word.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests;
