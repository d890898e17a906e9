use super::*;

fn deny(patterns: &[&str]) -> CommandRules {
    let p: Vec<String> = patterns.iter().map(|s| s.to_string()).collect();
    CommandRules::new(false, &p).unwrap()
}

fn allow(patterns: &[&str]) -> CommandRules {
    let p: Vec<String> = patterns.iter().map(|s| s.to_string()).collect();
    CommandRules::new(true, &p).unwrap()
}

#[test]
fn a_deny_list_catches_the_forms_a_shell_runs() {
    let rules = deny(&["rm -rf", "reboot", "mkfs*", "/shutdown\\s+-h/"]);
    for refused in [
        "rm -rf /",
        "  rm -rf /tmp/x",
        "rm -fr /x",
        "rm -r -f x",
        "/bin/rm -rf x",
        "r\"m\" '-rf' /",
        "ls; rm -rf /",
        "true && rm -rf /",
        "cat x | reboot",
        "sudo rm -rf /",
        "sudo -u root rm -rf /",
        "env A=1 rm -rf /",
        "nohup reboot &",
        "bash -c 'rm -rf /'",
        "sh -lc \"echo hi; reboot\"",
        "eval reboot",
        "echo $(reboot)",
        "mkfs.ext4 /dev/sdb",
        "shutdown -h now",
        "timeout 5 reboot",
        "find / | xargs -n 1 rm -rf",
    ] {
        let r = rules.check(refused);
        assert!(r.is_err(), "{refused:?} passed");
    }
    for allowed in [
        "ls -l",
        "rm -f x",
        "rm -r x",
        "echo rm -rf /",
        "grep reboot /var/log/syslog",
        "shutdown -r now",
        "rmdir x",
        "",
    ] {
        assert_eq!(rules.check(allowed), Ok(()), "{allowed:?}");
    }
    let r = rules.check("ls && sudo rm -fr /srv").unwrap_err();
    assert_eq!(r.command, "rm -fr /srv");
    assert_eq!(r.pattern.as_deref(), Some("rm -rf"));
}

#[test]
fn an_allow_list_lets_only_listed_commands_run() {
    let rules = allow(&["ls", "cat /etc/*", "systemctl status"]);
    for allowed in [
        "ls -la /",
        "cat /etc/hosts",
        "systemctl status nginx",
        "sudo systemctl --no-pager status nginx",
        "ls | cat /etc/passwd",
    ] {
        assert_eq!(rules.check(allowed), Ok(()), "{allowed:?}");
    }
    for refused in [
        "rm x",
        "cat /root/secret",
        "systemctl restart nginx",
        "ls; id",
        "ls $(id)",
        "bash -c id",
    ] {
        let r = rules.check(refused);
        assert!(
            matches!(r, Err(Refused { pattern: None, .. })),
            "{refused:?}: {r:?}"
        );
    }
}

#[test]
fn bad_patterns_are_named() {
    let e = CommandRules::new(false, &["/[unclosed/".to_string()]).unwrap_err();
    assert!(e.contains("[unclosed"), "{e}");
    let e = CommandRules::new(false, &["ls; rm".to_string()]).unwrap_err();
    assert!(e.contains("one command"), "{e}");
    assert!(CommandRules::new(false, &["//".to_string()]).is_err());
}

#[test]
fn globs_match_whole_words() {
    assert!(glob("mkfs*", "mkfs.ext4"));
    assert!(glob("*", ""));
    assert!(glob("a?c", "abc"));
    assert!(!glob("a?c", "abbc"));
    assert!(!glob("rm", "rmdir"));
    assert!(glob("*.sh", "x.sh"));
}
