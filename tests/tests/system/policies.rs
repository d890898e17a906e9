//! Control policies across a cluster of real processes: the official Python SDK writes a policy
//! through node 1 (`ops/tests/sdk_policies.py`), and the OpenSSH client through node 2 and
//! node 3 meets it on a real sshd target — command control in a shell and in an exec, SFTP
//! upload and mkdir refused while download works, source addresses and logon hours refusing
//! the login — with the refusals in the session's audit events.

use portunus_proxy::testing::openssh::{Askpass, Sshd};
use portunus_tests::{sshd_host, wait_until, NodeProc, ProcCluster};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const START: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(20);
const PASSWORD: &str = "policy-Passw0rd-7";
const LOGIN: &str = "alice@root@web-01";

/// Runs one step of `ops/tests/sdk_policies.py` against `api`.
/// `uname FLAG` on this machine (the target sshd runs here too): what a command that ran
/// would have printed.
fn local_uname(flag: &str) -> String {
    let out = std::process::Command::new("uname")
        .arg(flag)
        .output()
        .unwrap();
    assert!(out.status.success(), "uname {flag}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn sdk(api: std::net::SocketAddr, step: &str, env: &[(&str, &str)]) {
    portunus_tests::sdk::run_step(api, "sdk_policies.py", "PORTUNUS_POLICY_STEP", step, env);
}

/// `ssh LOGIN COMMAND` through `port`: (exit code, stdout, stderr).
async fn exec(askpass: &Askpass, port: u16, command: &str) -> (Option<i32>, String, String) {
    let mut ssh = askpass.ssh(port, LOGIN, PASSWORD);
    ssh.arg(command);
    let out = tokio::time::timeout(WAIT, ssh.output())
        .await
        .expect("ssh in time")
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// Reads `from` until what was read contains `marker`; returns everything read.
async fn read_until(from: &mut (impl AsyncReadExt + Unpin), seen: &mut String, marker: &str) {
    tokio::time::timeout(WAIT, async {
        let mut buf = vec![0; 16 * 1024];
        while !seen.contains(marker) {
            let n = from.read(&mut buf).await.unwrap();
            assert!(n > 0, "the shell ended before {marker:?}: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {marker:?} in time: {seen}"));
}

/// Reads `from` until the shell's prompt (`# `) shows after the last `marker` read: the moment a
/// user types again. After an interrupt the shell discards what reaches it before it is back
/// at its prompt (a run that typed as soon as the `^C` echo showed lost the next line's first
/// key), so the next line waits for the prompt, as a person at the terminal does.
async fn read_prompt_after(
    from: &mut (impl AsyncReadExt + Unpin),
    seen: &mut String,
    marker: &str,
) {
    tokio::time::timeout(WAIT, async {
        let mut buf = vec![0; 16 * 1024];
        loop {
            let after = seen.rfind(marker).map(|i| &seen[i + marker.len()..]);
            if after.is_some_and(|a| a.contains("# ")) {
                return;
            }
            let n = from.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "the shell ended before its prompt after {marker:?}: {seen}"
            );
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no prompt after {marker:?} in time: {seen}"));
}

/// An interactive shell through `port`: each line typed after the output of the one before.
async fn shell(askpass: &Askpass, port: u16, dir: &str) -> String {
    let mut ssh = askpass.ssh(port, LOGIN, PASSWORD);
    ssh.arg("-tt").stdin(Stdio::piped());
    let mut child = ssh.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = String::new();
    // A refused line never runs: its marker is the notice naming the command refused.
    let steps: [(String, String); 6] = [
        ("echo ready-$((1+1))".into(), "ready-2".into()),
        (
            format!("rm -rf {dir}; echo ran-$((0+9))"),
            format!("\"rm -rf {dir}\" (matches"),
        ),
        (
            format!("ls -d {dir} && echo still-$((2+1))"),
            "still-3".into(),
        ),
        (
            format!("true; sudo r''m -fr {dir} || echo ran-$((0+9))"),
            format!("\"rm -fr {dir}\" (matches"),
        ),
        ("echo next-$((3+1))".into(), "next-4".into()),
        (
            format!("ls -d {dir} && echo kept-$((4+1))"),
            "kept-5".into(),
        ),
    ];
    for (line, marker) in &steps {
        stdin
            .write_all(format!("{line}\r").as_bytes())
            .await
            .unwrap();
        read_until(&mut stdout, &mut seen, marker).await;
    }
    stdin.write_all(b"exit\r").await.unwrap();
    let _ = tokio::time::timeout(WAIT, child.wait()).await;
    seen
}

/// An interactive shell (`ssh -tt`) through a node, at its prompt, with everything it showed.
struct Shell {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::process::ChildStdout,
    seen: String,
}

impl Shell {
    /// Opens a shell through `port`, runs `echo {marker}` and waits for the prompt after it:
    /// as a person types, at the prompt. A line typed while the shell is still between commands
    /// is echoed by the terminal, and an interrupt then may find the shell before its line
    /// editor is ready (no `^C` echo, the line flushed).
    async fn at_prompt(askpass: &Askpass, port: u16, marker: &str) -> Shell {
        let mut ssh = askpass.ssh(port, LOGIN, PASSWORD);
        ssh.arg("-tt").stdin(Stdio::piped());
        let mut child = ssh.spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut shell = Shell {
            child,
            stdin,
            stdout,
            seen: String::new(),
        };
        // Typed with a quote in it, so that the echo of the line is not the output.
        let (head, tail) = marker.split_at(1);
        shell.type_line(&format!("echo {head}''{tail}")).await;
        shell.until(marker).await;
        shell.prompt_after(marker).await;
        shell
    }

    async fn type_line(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\r").as_bytes())
            .await
            .unwrap();
    }

    async fn until(&mut self, marker: &str) {
        read_until(&mut self.stdout, &mut self.seen, marker).await;
    }

    async fn prompt_after(&mut self, marker: &str) {
        read_prompt_after(&mut self.stdout, &mut self.seen, marker).await;
    }

    /// Runs `echo {marker}` again (the shell goes on), exits; everything it showed.
    async fn goes_on_and_exits(mut self, marker: &str) -> String {
        let (head, tail) = marker.split_at(1);
        self.type_line(&format!("echo {head}''{tail}")).await;
        self.until(marker).await;
        self.type_line("exit").await;
        let _ = tokio::time::timeout(WAIT, self.child.wait()).await;
        self.seen
    }
}

/// A shell through `port` types `uname -o`; an administrator rejects it through `api`. What
/// the shell showed.
async fn shell_rejects_uname(askpass: &Askpass, port: u16, api: std::net::SocketAddr) -> String {
    let mut shell = Shell::at_prompt(askpass, port, "up-6").await;
    shell.type_line("uname -o").await;
    shell.until("waiting for the decision").await;
    tokio::task::spawn_blocking(move || {
        sdk(
            api,
            "decide",
            &[
                ("PORTUNUS_COMMAND", "uname -o"),
                ("PORTUNUS_DECISION", "reject"),
            ],
        )
    })
    .await
    .unwrap();
    shell.until("rejected by").await;
    shell.prompt_after("rejected by").await;
    shell.goes_on_and_exits("after-8").await
}

/// A shell through `port` types `uname -a` and nobody decides: after the cluster's wait the
/// line is dropped with the reason, and the shell goes on. What the shell showed.
async fn shell_times_out_uname(askpass: &Askpass, port: u16) -> String {
    let mut shell = Shell::at_prompt(askpass, port, "up-14").await;
    shell.type_line("uname -a").await;
    shell.until("waiting for the decision").await;
    shell.until("no decision within").await;
    shell.prompt_after("no decision within").await;
    shell.goes_on_and_exits("after-16").await
}

/// A shell through `port` types `uname -r`, then Ctrl-C while it waits for approval: the
/// request is withdrawn (checked through `api`: not waiting, cannot be accepted) and the shell
/// goes on. What the shell showed.
async fn shell_withdraws_uname(askpass: &Askpass, port: u16, api: std::net::SocketAddr) -> String {
    let mut shell = Shell::at_prompt(askpass, port, "up-10").await;
    shell.type_line("uname -r").await;
    shell.until("waiting for the decision").await;
    let id: String = shell
        .seen
        .rsplit_once("(request ")
        .map(|(_, rest)| rest.chars().take_while(char::is_ascii_digit).collect())
        .unwrap_or_default();
    assert!(!id.is_empty(), "no request id shown: {}", shell.seen);
    shell.stdin.write_all(b"\x03").await.unwrap();
    shell.until("the engineer pressed Ctrl-C").await;
    // The held line is cleared on the target with a Ctrl-C of the bastion's, whose echo says
    // the target's terminal has handled it (and flushed what was typed before it).
    shell.until("^C").await;
    shell.prompt_after("^C").await;
    tokio::task::spawn_blocking(move || {
        sdk(api, "withdrawn", &[("PORTUNUS_COMMAND_ID", id.as_str())])
    })
    .await
    .unwrap();
    shell.goes_on_and_exits("after-9").await
}

/// `sftp -b` with `batch` as alice through `port`: whether it succeeded, and what it printed.
async fn sftp(askpass: &Askpass, port: u16, batch: &str, dir: &Path) -> (bool, String) {
    crate::sftp::sftp_batch(askpass, port, (LOGIN, PASSWORD), batch, dir).await
}

/// Every `"type":"refused"` event of alice's closed sessions, as JSON text.
fn refused_events(n: &NodeProc) -> Vec<String> {
    let list: serde_json::Value =
        serde_json::from_str(&n.admin_ok(&["--json", "session", "list", "--user", "alice"]))
            .unwrap();
    let mut ids = Vec::new();
    collect_ids(&list, &mut ids);
    let mut out = Vec::new();
    for id in ids {
        let events = n.admin(&["--json", "session", "events", &id, "--type", "refused"]);
        if events.ok {
            out.push(events.stdout);
        }
    }
    out
}

fn collect_ids(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("SessionId", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => collect_ids(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_ids(x, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_written_on_one_node_controls_commands_sftp_addresses_and_hours_on_others() {
    let sshd = Sshd::start().await;
    let c = ProcCluster::with_admin(3, START).unwrap();
    let n1 = &c.nodes[0];
    let host = sshd_host(
        n1,
        c.dir.path(),
        sshd.port,
        &sshd.client_key,
        ("alice", PASSWORD),
        "web-01",
    );
    sdk(
        n1.api,
        "create",
        &[("PORTUNUS_USER", "alice"), ("PORTUNUS_HOST_ID", &host)],
    );
    let askpass = Askpass::new();
    let (p2, p3) = (c.nodes[1].ssh.port(), c.nodes[2].ssh.port());
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("target");
    std::fs::create_dir_all(target.join("keep")).unwrap();
    std::fs::write(target.join("keep/readme.txt"), "hello from the target\n").unwrap();
    let dir = target.to_str().unwrap().to_string();

    // Policies apply to sessions opened after the change: wait until nodes 2 and 3 have it.
    for port in [p2, p3] {
        eventually("the policy on nodes 2 and 3", || async {
            let (_, _, err) = exec(&askpass, port, "date").await;
            err.contains("matches \"/^dat[e]\\b/\"")
                .then_some(())
                .ok_or(err)
        })
        .await;
    }
    let shown = shell(&askpass, p2, &dir).await;
    assert!(target.join("keep").exists(), "the refused rm ran: {shown}");
    assert!(
        shown.contains("(matches \"rm -rf\")") && shown.contains("\"prod-guard\""),
        "{shown}"
    );
    assert_eq!(
        shown.matches("is not allowed by control policy").count(),
        2,
        "the quoted, sudo'ed form after `true;` is refused too: {shown}"
    );
    assert!(!shown.contains("ran-9"), "a refused line ran: {shown}");

    // Execs: refused before the target runs anything; allowed ones run.
    let touched = target.join("touched");
    let (code, _, err) = exec(&askpass, p3, &format!("touch {}", touched.display())).await;
    assert_ne!(code, Some(0));
    assert!(
        err.contains("not allowed by control policy \"prod-guard\""),
        "{err}"
    );
    assert!(!touched.exists());
    let (code, _, err) = exec(&askpass, p3, "echo $(date)").await;
    assert!(err.contains("matches \"/^dat[e]\\b/\""), "{code:?} {err}");
    assert_ne!(code, Some(0));
    let (code, out, err) = exec(&askpass, p3, &format!("cat {dir}/keep/readme.txt")).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("hello from the target"), "{out}");

    // Command approval: `uname` waits until an administrator decides, through node 1.
    let mut held = askpass.ssh(p3, LOGIN, PASSWORD);
    held.arg("uname -s");
    let held = held.spawn().unwrap();
    let api = n1.api;
    tokio::task::spawn_blocking(move || {
        sdk(
            api,
            "decide",
            &[
                ("PORTUNUS_COMMAND", "uname -s"),
                ("PORTUNUS_DECISION", "accept"),
            ],
        )
    })
    .await
    .unwrap();
    let out = tokio::time::timeout(WAIT, held.wait_with_output())
        .await
        .expect("the held exec ends")
        .unwrap();
    let (said, err) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success() && said.contains("Linux"),
        "{said} {err}"
    );
    assert!(
        err.contains("needs an administrator's approval (request"),
        "{err}"
    );
    assert!(err.contains("accepted by PTNtestadminkey"), "{err}");
    let rejected = shell_rejects_uname(&askpass, p2, api).await;
    assert!(
        rejected.contains("was not run: request") && rejected.contains("rejected by"),
        "{rejected}"
    );
    assert!(
        !rejected.lines().any(|l| l.trim() == "GNU/Linux"),
        "the rejected command ran: {rejected}"
    );
    let withdrawn = shell_withdraws_uname(&askpass, p3, api).await;
    assert!(
        withdrawn.contains("was not run: request") && withdrawn.contains("withdrawn"),
        "{withdrawn}"
    );
    // Nobody decides: after the cluster's wait (10 s here) the line is dropped, on node 2.
    n1.admin_ok(&[
        "call",
        "ModifyInstanceSettings",
        "CommandApprovalWaitSeconds=10",
    ]);
    let timed_out = shell_times_out_uname(&askpass, p2).await;
    assert!(
        timed_out.contains("was not run") && timed_out.contains("no decision within"),
        "{timed_out}"
    );
    let kernel = local_uname("-s");
    assert!(
        !timed_out
            .lines()
            .any(|l| l.trim_start().starts_with(&format!("{kernel} "))),
        "the command nobody approved ran: {timed_out}"
    );
    let release = local_uname("-r");
    assert!(
        !withdrawn.lines().any(|l| l.trim() == release),
        "the withdrawn command ran: {withdrawn}"
    );

    // SFTP: downloads work; uploads and mkdir never reach the target.
    let local = work.path().join("local.txt");
    std::fs::write(&local, "upload me\n").unwrap();
    let got = work.path().join("got.txt");
    let (ok, text) = sftp(
        &askpass,
        p2,
        &format!("get {dir}/keep/readme.txt {}\n", got.display()),
        work.path(),
    )
    .await;
    assert!(ok, "{text}");
    assert_eq!(
        std::fs::read_to_string(&got).unwrap(),
        "hello from the target\n"
    );
    let (ok, text) = sftp(
        &askpass,
        p3,
        &format!("put {} {dir}/uploaded.txt\n", local.display()),
        work.path(),
    )
    .await;
    assert!(!ok, "{text}");
    assert!(text.contains("SFTP upload of"), "{text}");
    assert!(!target.join("uploaded.txt").exists());
    let (ok, text) = sftp(&askpass, p2, &format!("mkdir {dir}/made\n"), work.path()).await;
    assert!(!ok && !target.join("made").exists(), "{text}");

    // The refusals are in the sessions' audit events, readable from any node.
    wait_until("the refusals in the audit", WAIT, || {
        let events = refused_events(&c.nodes[2]).join("\n");
        events.contains(&format!("rm -rf {dir}"))
            && events.contains("sftp upload")
            && events.contains("sftp mkdir")
            && events.contains("\"exec\"")
    })
    .unwrap();

    // O&M approval: no logon without an approved request; an approved one-logon request
    // admits exactly one.
    sdk(n1.api, "approval", &[("PORTUNUS_SWITCH", "On")]);
    eventually("approval to apply on node 2", || async {
        let (_, _, err) = exec(&askpass, p2, "true").await;
        err.contains("O&M approval is required")
            .then_some(())
            .ok_or(err)
    })
    .await;
    // alice asks through node 1 with an AccessKey of her own, an administrator approves on
    // node 2, and the approved request admits one logon on node 3.
    let users = n1.admin_ok(&["user", "list"]);
    let alice_id = users
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.get(1) == Some(&"alice"))
        .map(|w| w[0].to_string())
        .unwrap_or_else(|| panic!("alice in {users}"));
    let key = c
        .cli(
            n1.cluster,
            &[
                "create-access-key",
                "--role",
                "operator",
                "--user-id",
                &alice_id,
            ],
        )
        .unwrap();
    let field = |name: &str| {
        key.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {name} in {key}"))
    };
    let (key_id, key_secret) = (field("access key id:"), field("access key secret:"));
    let instances: serde_json::Value =
        serde_json::from_str(&n1.admin_ok(&["call", "DescribeInstances"])).unwrap();
    let instance = instances["Instances"][0]["InstanceId"]
        .as_str()
        .unwrap_or_else(|| panic!("an instance id in {instances}"))
        .to_string();
    sdk(
        n1.api,
        "ask",
        &[
            ("PORTUNUS_HOST_ID", &host),
            ("PORTUNUS_INSTANCE_ID", &instance),
            ("PORTUNUS_AK_ID", &key_id),
            ("PORTUNUS_AK_SECRET", &key_secret),
        ],
    );
    let n2_api = c.nodes[1].api;
    eventually("the request approved on node 2", || async {
        portunus_tests::sdk::try_step(
            n2_api,
            "sdk_policies.py",
            "PORTUNUS_POLICY_STEP",
            "accept",
            &[("PORTUNUS_USER", "alice")],
        )
    })
    .await;
    eventually("the approved request on node 3", || async {
        let (code, out, err) = exec(&askpass, p3, "echo approved-$((6*7))").await;
        (code == Some(0) && out.contains("approved-42"))
            .then_some(())
            .ok_or(err)
    })
    .await;
    let (code, _, err) = exec(&askpass, p2, "true").await;
    assert!(
        code != Some(0) && err.contains("O&M approval is required"),
        "a one-logon request admitted two: {err}"
    );
    sdk(n1.api, "approval", &[("PORTUNUS_SWITCH", "Off")]);

    // Source addresses: only 10.9.9.9 may log on, so 127.0.0.1 is refused; then it may again.
    sdk(
        n1.api,
        "ipacl",
        &[("PORTUNUS_ACL", "white"), ("PORTUNUS_IPS", "10.9.9.9")],
    );
    eventually("the address list to apply on node 3", || async {
        let (_, _, err) = exec(&askpass, p3, "true").await;
        err.contains("source address 127.0.0.1")
            .then_some(())
            .ok_or(err)
    })
    .await;
    sdk(
        n1.api,
        "ipacl",
        &[
            ("PORTUNUS_ACL", "black"),
            ("PORTUNUS_IPS", "10.0.0.0/8,192.168.0.1"),
        ],
    );
    eventually("logons again on node 2", || async {
        let (code, _, err) = exec(&askpass, p2, "true").await;
        (code == Some(0)).then_some(()).ok_or(err)
    })
    .await;

    // Logon hours: only the hour twelve hours from now is allowed.
    let hour = (chrono_hour() + 12) % 24;
    sdk(n1.api, "hours", &[("PORTUNUS_HOURS", &hour.to_string())]);
    eventually("the hours to apply on node 2", || async {
        let (_, _, err) = exec(&askpass, p2, "true").await;
        err.contains("not allowed at this time")
            .then_some(())
            .ok_or(err)
    })
    .await;
    sdk(n1.api, "hours", &[("PORTUNUS_HOURS", "")]);
    eventually("logons again on node 3", || async {
        let (code, _, err) = exec(&askpass, p3, "true").await;
        (code == Some(0)).then_some(()).ok_or(err)
    })
    .await;

    // Protocol control: remote commands off (a shell still opens), then shells off too.
    let protocols = |shell: &'static str, exec: &'static str| {
        sdk(
            n1.api,
            "protocols",
            &[("PORTUNUS_SHELL", shell), ("PORTUNUS_EXEC", exec)],
        )
    };
    protocols("Enable", "Disable");
    eventually("remote commands refused on node 3", || async {
        let (code, _, err) = exec(&askpass, p3, "true").await;
        (code != Some(0)
            && err.contains(
                "running a remote command (exec) is not allowed by control policy \"prod-guard\"",
            ))
        .then_some(())
        .ok_or(err)
    })
    .await;
    let (code, shown) = shell_once(&askpass, p3, "echo shell''-still-open").await;
    assert!(
        code == Some(0) && shown.contains("shell-still-open"),
        "{code:?}: {shown}"
    );
    protocols("Disable", "Enable");
    eventually("shells refused on node 2", || async {
        let (code, shown) = shell_once(&askpass, p2, "echo no''-shell").await;
        (code != Some(0)
            && !shown.contains("no-shell")
            && shown.contains("an interactive shell (SSH channel) is not allowed"))
        .then_some(())
        .ok_or(shown)
    })
    .await;
    let (code, out, err) = exec(&askpass, p2, "echo exec-$((3*3))").await;
    assert!(
        code == Some(0) && out.contains("exec-9"),
        "{code:?} {out} {err}"
    );
    protocols("Enable", "Enable");

    // An allow list: what it lists runs, anything else is refused, on node 3.
    sdk(n1.api, "allowlist", &[("PORTUNUS_COMMANDS", "echo")]);
    eventually("the allow list on node 3", || async {
        let (code, _, err) = exec(&askpass, p3, "id").await;
        (code != Some(0) && err.contains("(not on the allowed list)"))
            .then_some(())
            .ok_or(err)
    })
    .await;
    let (code, out, err) = exec(&askpass, p3, "echo listed-$((2*3))").await;
    assert!(
        code == Some(0) && out.contains("listed-6"),
        "{code:?} {out} {err}"
    );

    // An account limited to SFTP through the command line: shells and commands refused on
    // node 2, SFTP still works.
    n1.admin_ok(&["host", "sftp-only", "web-01", "root", "true"]);
    eventually("the SFTP limit on node 2", || async {
        let (code, shown) = shell_once(&askpass, p2, "echo no''-shell").await;
        (code != Some(0) && shown.contains("root@web-01 is limited to SFTP"))
            .then_some(())
            .ok_or(shown)
    })
    .await;
    let (code, _, err) = exec(&askpass, p2, "echo x").await;
    assert!(
        code != Some(0) && err.contains("root@web-01 is limited to SFTP"),
        "{err}"
    );
    let (ok, said) = sftp(
        &askpass,
        p2,
        &format!(
            "get {dir}/keep/readme.txt {}\n",
            work.path().join("got.txt").display()
        ),
        work.path(),
    )
    .await;
    assert!(ok, "{said}");
    assert_eq!(
        std::fs::read_to_string(work.path().join("got.txt")).unwrap(),
        "hello from the target\n"
    );
}

/// A shell through `port` (`ssh -tt`) that types `line` and `exit`: its exit code and all it
/// printed (stdout and stderr together).
async fn shell_once(askpass: &Askpass, port: u16, line: &str) -> (Option<i32>, String) {
    let mut ssh = askpass.ssh(port, LOGIN, PASSWORD);
    ssh.arg("-tt")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = ssh.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // A refused shell closes the channel: the writes may find it gone.
    let _ = stdin.write_all(format!("{line}\nexit\n").as_bytes()).await;
    let out = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("ssh in time")
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

/// Retries `f` until it succeeds; panics with its last error after [`WAIT`].
async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match f().await {
            Ok(()) => return,
            Err(last) if tokio::time::Instant::now() >= deadline => {
                panic!("{what}: not within {WAIT:?}; last: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// The current hour of the day in UTC.
fn chrono_hour() -> u64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    (secs / 3600) % 24
}
