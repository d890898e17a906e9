use super::*;
use crate::commands::CommandRules;

fn guard(pty: bool, deny: &[&str]) -> LineGuard {
    let patterns: Vec<String> = deny.iter().map(|s| s.to_string()).collect();
    let controls = Controls {
        policy: Some("prod".into()),
        commands: Some(CommandRules::new(false, &patterns).unwrap()),
        ..Controls::default()
    };
    LineGuard::new(&controls, pty).unwrap()
}

fn refused_line(g: &Guarded) -> Option<&str> {
    g.refused.as_ref().map(|(l, _)| l.as_str())
}

#[test]
fn no_command_control_means_no_guard() {
    assert!(LineGuard::new(&Controls::default(), true).is_none());
}

#[test]
fn a_refused_line_gets_ctrl_c_instead_of_enter_and_the_rest_of_a_paste_is_dropped() {
    let mut g = guard(true, &["rm -rf", "reboot"]);
    g.output(b"$ ");
    let out = g.input(b"ls\rrm -rf /\rreboot\r");
    assert_eq!(out.forward, b"ls\rrm -rf /\x03");
    assert_eq!(refused_line(&out), Some("rm -rf /"));
    let (_, why) = out.refused.unwrap();
    assert!(
        why.message.contains("control policy \"prod\""),
        "{}",
        why.message
    );
    // Typed one key at a time, with the echo coming back.
    g.output(b"^C\r\n$ ");
    for b in b"sudo rm -fr /srv" {
        let out = g.input(&[*b]);
        assert_eq!(out.forward, [*b]);
        g.output(&[*b]);
    }
    let out = g.input(b"\r");
    assert_eq!(out.forward, b"\x03");
    assert_eq!(refused_line(&out), Some("sudo rm -fr /srv"));
    g.output(b"^C\r\n$ ");
    let out = g.input(b"ls -l\r");
    assert_eq!(out.forward, b"ls -l\r");
    assert!(out.refused.is_none());
}

#[test]
fn the_line_the_target_shows_is_checked_too() {
    let mut g = guard(true, &["rm -rf"]);
    g.output(b"user@host:~$ ");
    // Up arrow: the shell draws the line from its history.
    let out = g.input(b"\x1b[A");
    assert_eq!(out.forward, b"\x1b[A");
    g.output(b"rm -rf /tmp/x");
    let out = g.input(b"\r");
    assert_eq!(out.forward, b"\x03");
    assert_eq!(refused_line(&out), Some("rm -rf /tmp/x"));
    // Tab completion: typed `rm -r`, Tab, `f x`; the shell shows `rm -rf x`.
    g.output(b"^C\r\nuser@host:~$ ");
    let _ = g.input(b"rm -r");
    g.output(b"rm -r");
    let _ = g.input(b"\t");
    g.output(b"f");
    let _ = g.input(b" x");
    g.output(b" x");
    let out = g.input(b"\r");
    assert!(out.refused.is_some());
}

#[test]
fn continued_lines_are_checked_with_the_lines_before() {
    let mut g = guard(true, &["rm -rf"]);
    g.output(b"$ ");
    let out = g.input(b"rm \\\r");
    assert_eq!(out.forward, b"rm \\\r");
    g.output(b"rm \\\r\n> ");
    let out = g.input(b"-rf /\r");
    assert_eq!(out.forward, b"-rf /\x03");
    assert!(out.refused.is_some());
    g.output(b"^C\r\n$ ");
    let _ = g.input(b"ls &&\r");
    g.output(b"ls &&\r\n> ");
    let out = g.input(b"rm -rf /\r");
    assert!(out.refused.is_some());
    g.output(b"\r\n$ ");
    let out = g.input(b"echo 'a\r");
    assert!(out.refused.is_none());
    g.output(b"echo 'a\r\n> ");
    let out = g.input(b"b'; rm -rf /\r");
    assert!(
        out.refused.is_some(),
        "a quote closed on the next line ends the string"
    );
}

#[test]
fn password_prompts_and_full_screen_programs_are_not_checked() {
    let mut g = guard(true, &["rm -rf"]);
    g.output(b"[sudo] password for alice: ");
    let out = g.input(b"rm -rf\r");
    assert_eq!(out.forward, b"rm -rf\r");
    g.output(b"\r\n$ vi notes\r\n\x1b[?1049h");
    let out = g.input(b"irm -rf /\r");
    assert_eq!(out.forward, b"irm -rf /\r");
    g.output(b"\x1b[?1049l$ ");
    let out = g.input(b"rm -rf /\r");
    assert!(out.refused.is_some());
}

#[test]
fn without_a_pty_lines_are_held_until_checked() {
    let mut g = guard(false, &["rm -rf"]);
    let out = g.input(b"echo one\nrm -rf /\necho two\n");
    assert_eq!(out.forward, b"echo one\n");
    assert_eq!(refused_line(&out), Some("rm -rf /"));
    let out = g.input(b"echo th");
    assert!(out.forward.is_empty());
    let out = g.input(b"ree\n");
    assert_eq!(out.forward, b"echo three\n");
    let _ = g.input(b"rm -rf /");
    let out = g.eof();
    assert!(out.forward.is_empty());
    assert!(out.refused.is_some());
    let _ = g.input(b"ls");
    assert_eq!(g.eof().forward, b"ls");
}

fn approving(pty: bool, allow_only: bool, list: &[&str], approval: &[&str]) -> LineGuard {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let controls = Controls {
        policy: Some("prod".into()),
        commands: Some(CommandRules::new(allow_only, &strings(list)).unwrap()),
        approval: Some(CommandRules::new(false, &strings(approval)).unwrap()),
        ..Controls::default()
    };
    LineGuard::new(&controls, pty).unwrap()
}

#[test]
fn a_line_on_the_approval_list_waits_for_the_decision() {
    let mut g = approving(true, false, &["rm -rf"], &["systemctl restart", "rm"]);
    g.output(b"$ ");
    let out = g.input(b"systemctl restart nginx\rls\r");
    assert_eq!(out.forward, b"systemctl restart nginx");
    assert_eq!(out.held.as_deref(), Some("systemctl restart nginx"));
    assert_eq!(g.decided(true), b"\r");
    g.output(b"\r\n$ ");
    // Refused beats approval: `rm -rf` is on both lists.
    let out = g.input(b"rm -rf /x\r");
    assert!(out.refused.is_some() && out.held.is_none());
    g.output(b"^C\r\n$ ");
    let out = g.input(b"rm /x\r");
    assert_eq!(out.held.as_deref(), Some("rm /x"));
    assert_eq!(g.decided(false), b"\x03");
    g.output(b"^C\r\n$ ");
    assert_eq!(g.input(b"ls\r").forward, b"ls\r");
}

#[test]
fn with_an_allow_list_listed_lines_run_and_approvable_ones_wait() {
    let mut g = approving(false, true, &["ls"], &["ls", "reboot"]);
    let out = g.input(b"ls -l\nreboot\n");
    assert_eq!(out.forward, b"ls -l\n");
    assert_eq!(out.held.as_deref(), Some("reboot"));
    assert_eq!(g.decided(true), b"reboot\n");
    let out = g.input(b"id\n");
    assert!(out.refused.is_some());
}

#[test]
fn after_a_refusal_the_guard_settles_once_the_target_echoes_the_interrupt_and_redraws() {
    let mut g = guard(true, &["rm -rf"]);
    g.output(b"$ ");
    assert!(!g.settling());
    let out = g.input(b"rm -rf /\r");
    assert_eq!(out.forward, b"rm -rf /\x03");
    assert!(g.settling(), "the interrupt is not taken yet");
    // Output from before the interrupt (the echo of the line, a late prompt) does not count.
    g.output(b"rm -rf /");
    g.output(b"\r\n$ ");
    assert!(g.settling());
    g.output(b"^C");
    assert!(
        g.settling(),
        "the echo alone: the shell is still handling the interrupt"
    );
    g.output(b"\r\n");
    assert!(g.settling(), "a line break is not the prompt yet");
    g.output(b"$ ");
    assert!(!g.settling());
    // The echo split across two chunks, then the new prompt.
    g.input(b"rm -rf /tmp\r");
    g.output(b"\x1b[?2004l^");
    assert!(g.settling());
    g.output(b"C\r\nroot@vm:~# ");
    assert!(!g.settling());
    // The echo and the prompt in separate chunks.
    g.input(b"rm -rf /srv\r");
    g.output(b"^C");
    assert!(g.settling());
    g.output(b"\x1b[?2004hroot@vm:~# ");
    assert!(!g.settling());
    // A terminal that echoes nothing: the caller gives up waiting.
    g.input(b"rm -rf /var\r");
    g.settled();
    assert!(!g.settling());
    // Without a PTY nothing is interrupted.
    let mut g = guard(false, &["rm -rf"]);
    g.input(b"rm -rf /\n");
    assert!(!g.settling());
}
