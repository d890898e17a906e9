//! Two-factor authentication across a cluster of real processes: the official Python SDK sets
//! and reads the two-factor settings (sms refused) and creates a user; the user's own AccessKey
//! (an operator key from the cluster tool) enrolls its authenticator through the admin command
//! line and confirms it with a first code; then the OpenSSH client
//! logs in through one node's SSH port with its password and a code, and the same code is
//! refused through another node (a code is accepted once, cluster-wide); a recovery code works
//! once, on whichever node.

use portunus_ops::totp;
use portunus_tests::sdk::{ADMIN_KEY_ID, ADMIN_KEY_SECRET};
use portunus_tests::ProcCluster;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const START: Duration = Duration::from_secs(30);
const PASSWORD: &str = "mfa-Corr3ct-Horse-9";

fn now_step() -> u64 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    totp::step_of(ms)
}

/// An SSH_ASKPASS script: the password at a password prompt, `$PORTUNUS_TEST_CODE` at the
/// "Verification code" prompt.
fn askpass(dir: &Path) -> PathBuf {
    let script = dir.join("askpass-2fa.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\ncase \"$1\" in\n  *Verification*) printf '%s\\n' \"$PORTUNUS_TEST_CODE\" ;;\n  \
         *) printf '%s\\n' \"$PORTUNUS_TEST_PASSWORD\" ;;\nesac\n",
    )
    .unwrap();
    Command::new("chmod")
        .arg("700")
        .arg(&script)
        .status()
        .unwrap();
    script
}

/// `ssh USER@node true` with the password and `code`; Ok when the gateway spoke after the
/// login, Err with the client's standard error when the login was refused.
fn ssh(askpass: &Path, port: u16, user: &str, code: &str) -> Result<(), String> {
    let out = Command::new("ssh")
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args(["-o", "PubkeyAuthentication=no", "-o", "ConnectTimeout=10"])
        .args([
            "-F",
            "/dev/null",
            "-p",
            &port.to_string(),
            "-l",
            user,
            "127.0.0.1",
            "true",
        ])
        .env("SSH_ASKPASS", askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0")
        .env("PORTUNUS_TEST_PASSWORD", PASSWORD)
        .env("PORTUNUS_TEST_CODE", code)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    if err.contains("portunus: ") {
        Ok(())
    } else {
        Err(err)
    }
}

/// The contents of every file under `dir`.
fn files_under(dir: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push(bytes);
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// `portunus admin ARGS...` against `api` with the AccessKey `(id, secret)`: (success,
/// standard output, standard error).
fn as_key(
    key: &(String, String),
    api: std::net::SocketAddr,
    args: &[&str],
) -> (bool, String, String) {
    let out = Command::new(portunus_tests::portunus_bin())
        .arg("admin")
        .args(["--endpoint", &format!("http://{api}")])
        .args(args)
        .env("PORTUNUS_ACCESS_KEY_ID", &key.0)
        .env("PORTUNUS_ACCESS_KEY_SECRET", &key.1)
        .env_remove("PORTUNUS_DATA_DIR")
        .env_remove("PORTUNUS_ENDPOINT")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn the_sdk_sets_two_factor_and_a_code_used_on_one_node_is_refused_on_another() {
    let c = ProcCluster::with_admin(3, START).unwrap();
    let endpoints: Vec<String> = c.nodes.iter().map(|n| n.api.to_string()).collect();
    let out_file = c.dir.path().join("mfa-user.json");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops/tests/sdk_two_factor.py");
    let run = Command::new("python3")
        .arg(script)
        .env("PORTUNUS_API_ENDPOINTS", endpoints.join(","))
        .env("PORTUNUS_AK_ID", ADMIN_KEY_ID)
        .env("PORTUNUS_AK_SECRET", ADMIN_KEY_SECRET)
        .env("PORTUNUS_2FA_PASSWORD", PASSWORD)
        .env("PORTUNUS_2FA_OUT", &out_file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success() && stdout.contains("sdk_two_factor: OK"),
        "SDK script failed: {stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let user: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    let name = user["UserName"].as_str().unwrap().to_string();
    let askpass = askpass(c.dir.path());
    let (n1, n2, n3) = (
        c.nodes[0].ssh.port(),
        c.nodes[1].ssh.port(),
        c.nodes[2].ssh.port(),
    );

    // Two-factor is on and the user has no authenticator: refused, saying so.
    let refused = ssh(&askpass, n1, &name, "000000").unwrap_err();
    assert!(
        refused.contains("no authenticator is enrolled"),
        "{refused}"
    );

    // The user's own AccessKey (an operator key made with the cluster tool) enrolls through one
    // node's API and confirms through another's; it cannot enroll anyone else.
    let uid = user["UserId"].as_str().unwrap().to_string();
    let made = c
        .cli(
            c.nodes[0].cluster,
            &["create-access-key", "--role", "operator", "--user-id", &uid],
        )
        .unwrap();
    let key = |label: &str| {
        made.lines()
            .find_map(|l| l.strip_prefix(label))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {label} in {made}"))
    };
    let user_key = (key("access key id:"), key("access key secret:"));
    let as_user = |node: usize, args: &[&str]| as_key(&user_key, c.nodes[node].api, args);
    let other = as_user(1, &["user", "totp", "enroll", "1"]);
    assert!(!other.0 && other.2.contains("Forbidden"), "{other:?}");
    let (ok, enrolled, err) = as_user(1, &["user", "totp", "enroll"]);
    assert!(ok, "{err}");
    let field = |label: &str| {
        enrolled
            .lines()
            .find_map(|l| l.strip_prefix(label))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {label} in {enrolled}"))
    };
    let secret = totp::base32_decode(&field("secret:")).unwrap();
    assert!(field("uri:").starts_with("otpauth://totp/Portunus:"));
    let recovery: Vec<String> = enrolled
        .lines()
        .skip_while(|l| !l.starts_with("recovery codes"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.trim().to_string())
        .collect();
    assert_eq!(recovery.len(), 10, "{enrolled}");
    let pending = ssh(&askpass, n1, &name, "000000").unwrap_err();
    assert!(
        pending.contains("no authenticator is enrolled"),
        "pending asks nothing yet: {pending}"
    );
    let wrong = as_user(2, &["user", "totp", "confirm", "000000"]);
    assert!(
        !wrong.0 && wrong.2.contains("InvalidParameter"),
        "{wrong:?}"
    );
    let first = now_step();
    let first_code = totp::code_at(&secret, first);
    let confirmed = as_user(2, &["user", "totp", "confirm", &first_code]);
    assert!(confirmed.0, "{confirmed:?}");

    // A later code logs in through node 1; the same code through node 2 is refused.
    let code = totp::code_at(&secret, first + 1);
    ssh(&askpass, n1, &name, &code).expect("password and a fresh code log in");
    let replayed = ssh(&askpass, n2, &name, &code).unwrap_err();
    assert!(
        replayed.contains("wrong or already used verification code"),
        "a code used on node 1 worked on node 2: {replayed}"
    );

    // A recovery code works once, whichever node sees it again.
    ssh(&askpass, n2, &name, &recovery[0]).expect("a recovery code logs in");
    let again = ssh(&askpass, n3, &name, &recovery[0]).unwrap_err();
    assert!(again.contains("wrong or already used"), "{again}");

    // The secret, the codes and the recovery codes are in no node's log; the secret is not in
    // the clear in any data directory (which does hold the user's name: the scan reads it); the
    // admin trail names the enrolment and the confirmation, with the code redacted.
    let secret_text = field("secret:");
    for n in &c.nodes {
        let log = n.output();
        for (what, text) in [
            ("the secret", secret_text.as_str()),
            ("a code", code.as_str()),
            ("a recovery code", recovery[0].as_str()),
        ] {
            assert!(!log.contains(text), "{what} in node {}'s log", n.id);
        }
        let (mut has_name, mut has_secret) = (false, false);
        for bytes in files_under(&n.data_dir) {
            has_name |= contains(&bytes, name.as_bytes());
            has_secret |= contains(&bytes, &secret) || contains(&bytes, secret_text.as_bytes());
        }
        assert!(
            has_name,
            "node {}'s data directory holds the user's name",
            n.id
        );
        assert!(
            !has_secret,
            "node {}'s data directory holds the secret in the clear",
            n.id
        );
    }
    let trail = c.nodes[0].admin_ok(&["--json", "audit", "list", "--action", "ConfirmUserTotp"]);
    assert!(
        trail.contains("ConfirmUserTotp") && trail.contains("<redacted>"),
        "{trail}"
    );
    assert!(
        !trail.contains(&first_code),
        "the confirmation's code is in the trail: {trail}"
    );

    // An administrator's reset: the user has no authenticator again.
    c.nodes[0].admin_ok(&["user", "totp", "reset", &name]);
    let reset = ssh(&askpass, n3, &name, &recovery[1]).unwrap_err();
    assert!(reset.contains("no authenticator is enrolled"), "{reset}");
}
