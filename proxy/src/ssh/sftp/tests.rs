//! Unit tests of the SFTP observer with hand-built packets.

use super::*;

fn packet(kind: u8, id: Option<u32>, fields: &[&[u8]]) -> Vec<u8> {
    let mut body = vec![kind];
    if let Some(id) = id {
        body.extend_from_slice(&id.to_be_bytes());
    }
    for f in fields {
        body.extend_from_slice(f);
    }
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend(body);
    out
}

fn s(v: &[u8]) -> Vec<u8> {
    let mut out = (v.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(v);
    out
}

#[test]
fn upload_is_reported_at_close_with_its_size_even_when_split() {
    let mut a = SftpAudit::default();
    let open = packet(
        OPEN,
        Some(1),
        &[
            &s(b"/tmp/up.bin"),
            &(FLAG_WRITE | 8).to_be_bytes(),
            &0u32.to_be_bytes(),
        ],
    );
    assert!(a.client(&open[..5]).is_empty());
    assert!(a.client(&open[5..]).is_empty());
    a.server(&packet(HANDLE, Some(1), &[&s(b"h1")]));
    a.client(&packet(
        WRITE,
        Some(2),
        &[&s(b"h1"), &0u64.to_be_bytes(), &s(&[7u8; 1000])],
    ));
    a.client(&packet(
        WRITE,
        Some(3),
        &[&s(b"h1"), &1000u64.to_be_bytes(), &s(&[7u8; 24])],
    ));
    let ops = a.client(&packet(CLOSE, Some(4), &[&s(b"h1")]));
    assert_eq!(
        ops,
        vec![FileOp {
            op: "upload",
            path: "/tmp/up.bin".into(),
            target_path: None,
            bytes: 1024
        }]
    );
}

#[test]
fn download_counts_data_replies() {
    let mut a = SftpAudit::default();
    a.client(&packet(
        OPEN,
        Some(1),
        &[&s(b"/etc/hosts"), &1u32.to_be_bytes(), &0u32.to_be_bytes()],
    ));
    a.server(&packet(HANDLE, Some(1), &[&s(b"h")]));
    a.client(&packet(
        READ,
        Some(2),
        &[&s(b"h"), &0u64.to_be_bytes(), &4096u32.to_be_bytes()],
    ));
    a.server(&packet(DATA, Some(2), &[&s(&[1u8; 300])]));
    let ops = a.finish();
    assert_eq!(ops[0].op, "download");
    assert_eq!(ops[0].bytes, 300);
}

#[test]
fn rename_and_remove_are_reported_when_confirmed() {
    let mut a = SftpAudit::default();
    a.client(&packet(RENAME, Some(5), &[&s(b"/a"), &s(b"/b")]));
    a.client(&packet(REMOVE, Some(6), &[&s(b"/c")]));
    let ok =
        |id: u32, code: u32| packet(STATUS, Some(id), &[&code.to_be_bytes(), &s(b""), &s(b"")]);
    let ops = a.server(&[ok(5, 0), ok(6, 2)].concat());
    assert_eq!(
        ops,
        vec![FileOp {
            op: "rename",
            path: "/a".into(),
            target_path: Some("/b".into()),
            bytes: 0
        }]
    );
}
