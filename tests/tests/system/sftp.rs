//! What several system test modules share for SFTP.

use portunus_proxy::testing::openssh::Askpass;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// `sftp -b` with the commands `batch` (written to a file in `dir`) as `login` through the
/// bastion's SSH port `port`, the password given by `askpass`: whether it succeeded, and what
/// it printed (stdout and stderr).
pub(crate) async fn sftp_batch(
    askpass: &Askpass,
    port: u16,
    (login, password): (&str, &str),
    batch: &str,
    dir: &Path,
) -> (bool, String) {
    let file = dir.join("batch");
    std::fs::write(&file, batch).expect("write the batch file");
    let mut cmd = tokio::process::Command::new("sftp");
    cmd.args([
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
    ])
    .args(["-o", "PubkeyAuthentication=no", "-F", "/dev/null"])
    // Before `-b`, which asks for batch mode (no password prompt): ssh takes the first.
    .args(["-o", "BatchMode=no", "-b"])
    .arg(&file)
    .args(["-P", &port.to_string(), &format!("{login}@127.0.0.1")]);
    askpass.env(&mut cmd, password);
    let out = tokio::time::timeout(Duration::from_secs(20), cmd.stdin(Stdio::null()).output())
        .await
        .expect("sftp in time")
        .expect("run sftp");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
