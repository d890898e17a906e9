use super::*;

fn clear(at: f64, line: &str, input: CommandInput) -> Decided {
    Decided {
        at,
        line: line.into(),
        input,
    }
}

fn hidden(at: f64, prompt: &str) -> Decided {
    Decided {
        at,
        line: HIDDEN.into(),
        input: CommandInput::AtPasswordPrompt {
            prompt: prompt.into(),
        },
    }
}

/// Types `line` one key at a time as a person does, the target echoing each key when `echo`;
/// returns what was decided and whether any key counted as secret.
fn type_line(a: &mut InputAudit, at: f64, line: &str, echo: bool) -> (Vec<Decided>, bool) {
    let (mut decided, mut secret) = (Vec::new(), false);
    for b in line.bytes().chain([b'\r']) {
        let (d, s) = a.typed(at, &[b]);
        decided.extend(d);
        secret |= s;
        let shown: &[u8] = if b == b'\r' { b"\r\n" } else { &[b] };
        if echo {
            decided.extend(a.output(shown));
        } else if b == b'\r' {
            // A program reading without echo prints the newline itself.
            decided.extend(a.output(b"\n"));
        }
    }
    (decided, secret)
}

#[test]
fn a_short_secret_at_a_sudo_prompt_is_masked_even_if_the_shell_prompt_contains_it() {
    let mut a = InputAudit::shell();
    a.output(b"\x1b[1m[root@vm ~]#\x1b[0m ");
    let (d, secret) = type_line(&mut a, 0.1, "sudo ls", true);
    assert_eq!(d, vec![clear(0.1, "sudo ls", CommandInput::Echoed)]);
    assert!(!secret);
    a.output(b"[sudo] password for root: ");
    let (d, secret) = type_line(&mut a, 0.5, "root@vm", false);
    assert!(d.is_empty(), "{d:?}");
    assert!(secret, "the keystrokes are masked in the recording too");
    a.output(b"file-a file-b\r\n[root@vm ~]# ");
    let (d, secret) = type_line(&mut a, 0.9, "exit", true);
    assert_eq!(
        d,
        vec![
            hidden(0.5, "[sudo] password for root:"),
            clear(0.9, "exit", CommandInput::Echoed)
        ]
    );
    assert!(!secret);
    assert!(a.finish().is_empty());
}

#[test]
fn a_command_typed_after_stty_minus_echo_is_audited_in_clear() {
    let mut a = InputAudit::shell();
    a.output(b"root@vm:~# ");
    type_line(&mut a, 0.1, "stty -echo", true);
    a.output(b"root@vm:~# ");
    let (_, secret) = type_line(&mut a, 0.2, "cat /etc/shadow", false);
    assert!(!secret);
    a.output(b"root:*:19000:0:99999:7:::\r\nroot@vm:~# ");
    assert_eq!(
        a.finish(),
        vec![clear(0.2, "cat /etc/shadow", CommandInput::WithoutEcho)]
    );
}

#[test]
fn read_minus_s_with_a_password_prompt_is_masked() {
    let mut a = InputAudit::shell();
    a.output(b"$ ");
    type_line(
        &mut a,
        0.1,
        "read -s -p 'Password: ' pw; echo; echo done",
        true,
    );
    a.output(b"Password: ");
    let (_, secret) = type_line(&mut a, 0.3, "hunter2", false);
    assert!(secret);
    a.output(b"done\r\n$ ");
    assert_eq!(a.finish(), vec![hidden(0.3, "Password:")]);
}

#[test]
fn a_shell_without_a_pty_is_audited_in_clear() {
    // No PTY: no prompt, no echo; every line is what the shell received.
    let mut a = InputAudit::shell();
    let (d, secret) = a.typed(0.0, b"whoami\nuname -a\n");
    assert!(d.is_empty() && !secret);
    assert!(a.output(b"root\nLinux vm 6.1\n").is_empty());
    let (d, secret) = a.typed(0.5, b"echo 'Password: '\n");
    assert!(!secret);
    assert_eq!(
        d,
        vec![
            clear(0.0, "whoami", CommandInput::WithoutEcho),
            clear(0.0, "uname -a", CommandInput::WithoutEcho),
        ]
    );
    a.output(b"Password: \n");
    assert_eq!(
        a.finish(),
        vec![clear(0.5, "echo 'Password: '", CommandInput::WithoutEcho)]
    );
}

#[test]
fn a_line_pasted_at_once_is_judged_by_the_echo_that_follows() {
    let mut a = InputAudit::shell();
    a.output(b"root@vm:~# ");
    let (d, _) = a.typed(0.0, b"echo hi; exit 3\r");
    assert!(d.is_empty());
    let d = a.output(b"echo hi; exit 3\r\nhi\r\n");
    assert_eq!(d, vec![clear(0.0, "echo hi; exit 3", CommandInput::Echoed)]);
    assert!(a.finish().is_empty());
}

#[test]
fn pasted_lines_wait_for_their_own_echo() {
    let mut a = InputAudit::shell();
    a.output(b"$ ");
    assert!(a.typed(0.0, b"ls\rpwd\r").0.is_empty());
    let d = a.output(b"ls\r\na b\r\n$ pwd\r\n/root\r\n$ ");
    assert_eq!(
        d,
        vec![
            clear(0.0, "ls", CommandInput::Echoed),
            clear(0.0, "pwd", CommandInput::Echoed),
        ]
    );
}

#[test]
fn backspaces_in_the_echo_are_applied() {
    let mut a = InputAudit::shell();
    a.typed(0.0, b"e");
    a.output(b"ecx\x08 \x08ho ok");
    a.typed(0.2, b"cho ok\r");
    let d = a.output(b"\r\nok\r\n");
    assert_eq!(d, vec![clear(0.2, "echo ok", CommandInput::Echoed)]);
}

#[test]
fn an_exec_masks_what_is_typed_at_a_password_prompt() {
    let mut a = InputAudit::exec();
    assert!(!a.typed(0.0, b"data\n").1);
    a.output(b"[sudo] password for alice: ");
    assert!(a.typed(0.1, b"s3cret\n").1);
    a.output(b"\nok\n");
    assert!(!a.typed(0.2, b"more\n").1);
    assert!(
        a.finish().is_empty(),
        "an exec's input is not command lines"
    );
}

#[test]
fn endless_output_and_input_stay_bounded() {
    let mut a = InputAudit::shell();
    a.output(b"$ ");
    a.typed(0.0, b"x");
    a.output(b"x");
    let chunk = vec![b'y'; 1 << 20];
    for _ in 0..32 {
        a.output(&chunk);
        a.typed(0.0, &chunk);
        assert!(a.prompt.len() <= 8 * MAX_PROMPT + 4, "{}", a.prompt.len());
        assert!(a.current.len() <= MAX_WINDOW, "{}", a.current.len());
    }
    a.output(b"Password: ");
    assert!(a.typed(0.0, b"\r").0.is_empty());
    let d = a.output(b"\r\n");
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].line.ends_with(crate::ssh::recorder::TRUNCATED));
    assert_eq!(
        d[0].line.len(),
        crate::ssh::recorder::MAX_LINE + crate::ssh::recorder::TRUNCATED.len()
    );
    assert_eq!(
        d[0].input,
        CommandInput::Echoed,
        "judged on the start of the echo"
    );
}
