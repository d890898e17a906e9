//! The portal's local client links end to end on Linux: `portunus sso --register` makes the
//! `portunus` binary the XDG handler of `portunus://` links; a link the portal issued
//! (`POST /web/api/launch`, what the page's "Open in local client" button calls) opened with
//! `xdg-open` on an X display (Xvfb) starts OpenSSH in the terminal emulator (tmux here, given
//! `-e PROGRAM ARGS...` as x-terminal-emulator is), logged in to the host account through the
//! bastion with the one-use token, which OpenSSH got from the launcher as its askpass (which
//! also put OpenSSH's question about the bastion's new host key to the terminal); the shell
//! runs a command; the session is alice's, on web-01 as root, through that token, now used up.
//!
//! Needs xdg-utils, Xvfb, tmux, OpenSSH (client and sshd).

use crate::fixture::*;
use portunus_model::{AssetRef, Protocol};
use portunus_node::testing::{three_nodes, wait_for};
use portunus_proxy::testing::openssh::{wait_listening, Sshd};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const PORTUNUS: &str = env!("CARGO_BIN_EXE_portunus");

/// An X server on a display it chose; killed on drop.
struct Xvfb {
    child: std::process::Child,
    display: String,
}

impl Xvfb {
    fn start() -> Xvfb {
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-nolisten",
                "tcp",
                "-screen",
                "0",
                "800x600x24",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb (scripts/test.sh installs xvfb)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let n: u32 = line.trim().parse().expect("Xvfb names its display");
        Xvfb {
            child,
            display: format!(":{n}"),
        }
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A command with the desktop's environment: the user's home and XDG directories, the display,
/// the terminal emulator, the tmux socket.
fn desktop(program: &str, home: &Path, display: &str) -> Command {
    let mut c = Command::new(program);
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("DISPLAY", display)
        .env("PORTUNUS_SSO_TERMINAL", home.join("terminal"))
        .env("SSO_TMUX", home.join("tmux.sock"));
    c
}

fn ok(c: &mut Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{c:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_portal_link_opens_openssh_through_the_registered_launcher() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let sshd = Sshd::start().await;
    let echo = echo_server().await;
    let setup = setup(&nodes[0], &sshd, echo).await;
    let node = &nodes[1];
    node.replica.read_linearizable(|_| ()).await.unwrap();
    let ssh_port = node.ssh_addr.unwrap().port();
    wait_listening(ssh_port).await;
    let view = node.replica.view().clone();
    let root = view
        .read(|s| {
            s.host_accounts_of(setup.web01)
                .find(|a| a.name == "root")
                .map(|a| a.id)
        })
        .unwrap();

    // The portal's answer to "Open in local client".
    let api = node.api_addr.unwrap();
    let (status, me, cookie) = login(api, "alice", ALICE_PASSWORD).await;
    assert_eq!(status, 200, "{me}");
    let (cookie, csrf) = (cookie.unwrap(), me["csrf"].as_str().unwrap().to_string());
    let ask = |client: &str| {
        json!({"host_id": setup.web01, "account_id": root, "client": client}).to_string()
    };
    let (status, refused) =
        http_with(api, "POST", "/web/api/launch", &cookie, &csrf, &ask("psql")).await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("psql does not open ssh"),
        "{refused}"
    );
    let (status, launch) =
        http_with(api, "POST", "/web/api/launch", &cookie, &csrf, &ask("ssh")).await;
    assert_eq!(status, 200, "{launch}");
    let url = launch["url"].as_str().unwrap().to_string();
    let prefix = format!(
        "portunus://launch?protocol=ssh&client=ssh&host=127.0.0.1&port={ssh_port}&user=alice&token="
    );
    assert!(url.starts_with(&prefix), "{url}");
    assert!(url.ends_with("&asset=web-01&account=root"), "{url}");
    let token_id = launch["token_id"].as_u64().unwrap();
    let token = view
        .read(|s| s.token(token_id).cloned())
        .expect("the token");
    assert_eq!(
        (
            token.user_id,
            token.asset,
            token.has_count_limit,
            token.count_left
        ),
        (setup.alice, AssetRef::Host(setup.web01), true, 1),
        "alice's one-use token for web-01"
    );
    assert!(
        token.expire_at_ms - token.created_at_ms <= 300_000,
        "good for five minutes at most"
    );

    // A desktop: an X display, the user's XDG directories, a terminal emulator.
    let xvfb = Xvfb::start();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let terminal = home.join("terminal");
    std::fs::write(
        &terminal,
        "#!/bin/sh\n# A terminal emulator: runs `-e PROGRAM ARGS...` in a detached tmux session.\n\
         [ \"$1\" = \"-e\" ] && shift\n\
         exec tmux -S \"$SSO_TMUX\" new-session -d -s sso -x 160 -y 40 \"$@\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&terminal, std::fs::Permissions::from_mode(0o755)).unwrap();

    let said = ok(desktop(PORTUNUS, &home, &xvfb.display).args(["sso", "--register"]));
    assert!(said.contains("portunus:// links now open with"), "{said}");
    let handler = ok(desktop("xdg-mime", &home, &xvfb.display).args([
        "query",
        "default",
        "x-scheme-handler/portunus",
    ]));
    assert_eq!(handler.trim(), "portunus-sso.desktop");
    let dry = ok(desktop(PORTUNUS, &home, &xvfb.display).args(["sso", "--dry-run", &url]));
    assert!(
        dry.contains("web-01 as root through 127.0.0.1")
            && !dry.contains(&url[prefix.len()..prefix.len() + 64]),
        "the dry run shows the command without the token: {dry}"
    );

    // The browser hands the link over.
    ok(desktop("xdg-open", &home, &xvfb.display).arg(&url));
    let tmux = |args: &[&str]| {
        let mut c = desktop("tmux", &home, &xvfb.display);
        c.arg("-S").arg(home.join("tmux.sock")).args(args);
        c.output().unwrap()
    };
    let screen =
        || String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", "sso"]).stdout).into_owned();
    // The shell on web-01 answers.
    let (mut trusted, mut sent, mut ran) = (false, false, false);
    for _ in 0..300 {
        let now = screen();
        if now.contains("sso-launch-ok") {
            ran = true;
            break;
        }
        // The bastion's key is new to this user: OpenSSH asks (through the launcher, on the
        // terminal) whether to trust it.
        if !trusted && now.contains("continue connecting") {
            tmux(&["send-keys", "-t", "sso", "yes", "Enter"]);
            trusted = true;
        }
        // Type once the login is through (the target's prompt shows).
        // (tmux trims the prompt's trailing space.)
        let prompt = now
            .lines()
            .any(|l| l.trim_end().ends_with('#') || l.trim_end().ends_with('$'));
        if !sent && prompt {
            tmux(&["send-keys", "-t", "sso", "echo sso''-launch-ok", "Enter"]);
            sent = true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ran,
        "the shell through the launcher ran the command; the terminal shows:\n{}",
        screen()
    );

    assert!(trusted, "OpenSSH asked about the bastion's key");
    let kept = std::fs::read_to_string(home.join(".config/portunus/known_hosts")).unwrap();
    assert!(
        kept.lines().count() == 1 && kept.contains(" ssh-ed25519 "),
        "the bastion's key is kept in the launcher's file: {kept}"
    );

    // alice's session on web-01 as root, through the link's token, which is used up.
    let session = view.read(|s| {
        s.open_sessions()
            .find(|x| x.token_id == Some(token_id))
            .map(|x| (x.user_id, x.asset, x.protocol))
    });
    assert_eq!(
        session,
        Some((setup.alice, AssetRef::Host(setup.web01), Protocol::Ssh))
    );
    let left = view.read(|s| s.token(token_id).map(|t| t.count_left));
    assert_eq!(left, Some(0), "the one use is spent");
    tmux(&["send-keys", "-t", "sso", "exit", "Enter"]);
    wait_for("the session to close", WAIT, || {
        view.read(|s| s.open_sessions().count()) == 0
    })
    .await;
    tmux(&["kill-server"]);
    drop(xvfb);
    for n in nodes {
        n.stop().await;
    }
}
