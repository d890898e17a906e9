use super::super::wire::{error, message, ready};
use super::*;

fn answer() -> Vec<u8> {
    let mut a = message(b'T', b"\0\x01col\0");
    for _ in 0..3 {
        a.extend(message(b'D', b"\0\x01\0\0\0\x01x"));
    }
    a.extend(message(b'C', b"SELECT 3\0"));
    a.extend(message(b'N', b"SNOTICE\0Mhello\0\0"));
    a.extend(error("42P01", "relation \"nothing\" does not exist"));
    a.extend(ready(b'T'));
    a
}

fn replies(scan: &mut Scan, data: &[u8], step: usize) -> Vec<(Reply, u64)> {
    let mut out = Vec::new();
    let mut buffered = Vec::new();
    for chunk in data.chunks(step) {
        buffered.extend_from_slice(chunk);
        loop {
            let (n, reply) = scan.feed(&buffered).unwrap();
            buffered.drain(..n);
            match reply {
                Some(r) => out.push((r, scan.take_rows())),
                None => break,
            }
        }
        assert!(buffered.is_empty());
    }
    out
}

#[test]
fn replies_come_in_order_with_rows_counted_whatever_the_chunking() {
    let data = answer();
    let expected = vec![
        (Reply::RowDescription, 0),
        (Reply::Complete("SELECT 3".into()), 3),
        (Reply::Aside, 0),
        (
            Reply::Error(Fields::new(
                "ERROR",
                "42P01",
                "relation \"nothing\" does not exist",
            )),
            0,
        ),
        (Reply::Ready(b'T'), 0),
    ];
    for step in [1, 2, 3, 7, 64, data.len()] {
        assert_eq!(
            replies(&mut Scan::new(), &data, step),
            expected,
            "step {step}"
        );
    }
}

#[test]
fn a_reply_ends_exactly_at_its_message() {
    let data = answer();
    let mut scan = Scan::new();
    let (n, r) = scan.feed(&data).unwrap();
    assert_eq!(r, Some(Reply::RowDescription));
    assert_eq!(n, message(b'T', b"\0\x01col\0").len());
}

#[test]
fn copy_data_is_skipped_and_copy_markers_are_replies() {
    let mut data = message(b'H', b"\0\0\0");
    data.extend(message(b'd', b"1\tbolt\n"));
    data.extend(message(b'c', b""));
    data.extend(message(b'C', b"COPY 1\0"));
    let got: Vec<Reply> = replies(&mut Scan::new(), &data, 4)
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    assert_eq!(
        got,
        [
            Reply::CopyOut,
            Reply::CopyDone,
            Reply::Complete("COPY 1".into())
        ]
    );
}

#[test]
fn a_bad_length_is_an_error_and_garbage_errors_still_read() {
    assert!(Scan::new().feed(b"Z\0\0\0\x02").is_err());
    let garbage = message(b'E', b"Sno terminator");
    let (_, r) = Scan::new().feed(&garbage).unwrap();
    assert!(matches!(r, Some(Reply::Error(f)) if f.code == "XX000"));
}

#[test]
fn tags_give_rows_changed_and_returned() {
    assert_eq!(counts("INSERT 0 3", false), (3, 0));
    assert_eq!(counts("UPDATE 1", false), (1, 0));
    assert_eq!(counts("DELETE 0", false), (0, 0));
    assert_eq!(counts("SELECT 2", false), (0, 2));
    assert_eq!(counts("COPY 4", false), (4, 0));
    assert_eq!(counts("COPY 4", true), (0, 4));
    assert_eq!(counts("CREATE TABLE", false), (0, 0));
    assert_eq!(counts("", false), (0, 0));
}
