//! SFTP and scp through the gateway to a real sshd, with FileOp audit events.

use std::process::Stdio;

use crate::env::{key_credential, permit, Gateway, Sshd, WAIT};
use portunus_proxy::gate::{AuditEvent, Target, TargetProtocol};
use portunus_proxy::testing::{wait_until, FakeGate};
use tokio::process::Command;

async fn setup(sftp_only: bool) -> (Gateway, Sshd) {
    let sshd = Sshd::start().await;
    let gate = FakeGate::new();
    gate.add_user("alice", "alice-pw");
    let target = Target {
        asset_id: 1,
        asset_name: "files".into(),
        address: "127.0.0.1".into(),
        port: sshd.port,
        protocol: TargetProtocol::Ssh,
        accounts: vec![(7, "root".into())],
    };
    let mut p = permit("files", "root", sshd.port, key_credential(&sshd));
    p.sftp_only = sftp_only;
    gate.add_target(target, vec![p]);
    (Gateway::start(gate).await, sshd)
}

fn file_ops(gw: &Gateway) -> Vec<(String, String, Option<String>, u64)> {
    gw.audit
        .events()
        .into_iter()
        .filter_map(|e| match e {
            AuditEvent::FileOp {
                op,
                path,
                target_path,
                bytes,
                ..
            } => Some((op, path, target_path, bytes)),
            _ => None,
        })
        .collect()
}

/// Common options; the first value of an option wins, so `pubkey` decides here.
fn client_opts(gw: &Gateway, cmd: &mut Command, pubkey: bool) {
    let pubkey = format!("PubkeyAuthentication={}", if pubkey { "yes" } else { "no" });
    cmd.args([
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
    ])
    .args([
        "-o",
        &pubkey,
        "-o",
        "NumberOfPasswordPrompts=1",
        "-F",
        "/dev/null",
    ]);
    gw.askpass_env(cmd, "alice-pw");
    cmd.kill_on_drop(true)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_upload_download_rename_remove_are_audited() {
    let (gw, _sshd) = setup(false).await;
    let work = tempfile::tempdir().expect("tempdir");
    let remote = tempfile::tempdir().expect("remote dir");
    let local = work.path().join("up.bin");
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(&local, &payload).expect("write local");
    let r = remote.path().display();
    let back = work.path().join("back.bin");
    let batch = work.path().join("batch");
    std::fs::write(
        &batch,
        format!(
            "put {} {r}/up.bin\nget {r}/up.bin {}\nrename {r}/up.bin {r}/moved.bin\nmkdir {r}/d\nrmdir {r}/d\nrm {r}/moved.bin\n",
            local.display(),
            back.display()
        ),
    )
    .expect("write batch");
    // `sftp -b` runs in batch mode (no password prompts): log in with a key, which the gate
    // checks as an AuthAttempt::PublicKey.
    let (key_path, _, public) = crate::env::keygen(work.path(), "alice_key");
    gw.gate
        .public_keys
        .lock()
        .expect("lock")
        .insert("alice".into(), public);
    let mut sftp = Command::new("sftp");
    client_opts(&gw, &mut sftp, true);
    sftp.args(["-o", "IdentitiesOnly=yes", "-i"])
        .arg(&key_path)
        .arg("-b")
        .arg(&batch)
        .args([
            "-P",
            &gw.addr.port().to_string(),
            "alice@root@files@127.0.0.1",
        ]);
    let out = tokio::time::timeout(WAIT, sftp.output())
        .await
        .expect("in time")
        .expect("sftp");
    assert!(
        out.status.success(),
        "sftp failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&back).expect("downloaded"), payload);
    let session = gw.gate.opened_ids()[0];
    wait_until(WAIT, "session close", || {
        gw.gate.closes_of(session).len() == 1
    })
    .await;
    let ops = file_ops(&gw);
    let up = format!("{r}/up.bin");
    let moved = format!("{r}/moved.bin");
    let n = payload.len() as u64;
    assert!(
        ops.contains(&("upload".into(), up.clone(), None, n)),
        "{ops:?}"
    );
    assert!(
        ops.contains(&("download".into(), up.clone(), None, n)),
        "{ops:?}"
    );
    assert!(
        ops.contains(&("rename".into(), up, Some(moved.clone()), 0)),
        "{ops:?}"
    );
    assert!(
        ops.contains(&("mkdir".into(), format!("{r}/d"), None, 0)),
        "{ops:?}"
    );
    assert!(
        ops.contains(&("rmdir".into(), format!("{r}/d"), None, 0)),
        "{ops:?}"
    );
    assert!(ops.contains(&("remove".into(), moved, None, 0)), "{ops:?}");
    assert!(gw.gate.closes_of(session)[0].bytes_up >= n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scp_upload_works_on_an_sftp_only_account_and_shell_is_refused() {
    let (gw, _sshd) = setup(true).await;
    let work = tempfile::tempdir().expect("tempdir");
    let remote = tempfile::tempdir().expect("remote dir");
    let local = work.path().join("f.txt");
    std::fs::write(&local, b"hello scp\n").expect("write");
    let dest = remote.path().join("f.txt");
    let mut scp = Command::new("scp");
    client_opts(&gw, &mut scp, false);
    scp.args(["-P", &gw.addr.port().to_string()])
        .arg(&local)
        .arg(format!("alice@root@files@127.0.0.1:{}", dest.display()));
    let out = tokio::time::timeout(WAIT, scp.output())
        .await
        .expect("in time")
        .expect("scp");
    assert!(
        out.status.success(),
        "scp failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&dest).expect("uploaded"), b"hello scp\n");
    let dest = dest.display().to_string();
    wait_until(WAIT, "upload event", || {
        file_ops(&gw).contains(&("upload".into(), dest.clone(), None, 10))
    })
    .await;

    let mut ssh = gw.ssh("alice@root@files", "alice-pw");
    ssh.arg("true");
    let out = ssh.output().await.expect("ssh");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("limited to SFTP"));
    wait_until(WAIT, "both sessions closed", || gw.gate.closed_count() == 2).await;
}
