use super::*;
use crate::mysql::wire::{err_payload, frame};

fn pk(seq: u8, payload: &[u8]) -> Vec<u8> {
    frame(payload, seq).0
}

fn ok(affected: u8, status: u16) -> Vec<u8> {
    let mut p = vec![0x00, affected, 0];
    p.extend_from_slice(&status.to_le_bytes());
    p.extend_from_slice(&[0, 0]);
    p
}

fn eof(status: u16) -> Vec<u8> {
    let mut p = vec![0xfe, 0, 0];
    p.extend_from_slice(&status.to_le_bytes());
    p
}

fn ok_terminator(status: u16) -> Vec<u8> {
    let mut p = ok(0, status);
    p[0] = 0xfe;
    p
}

fn coldef() -> Vec<u8> {
    let mut p = vec![3];
    p.extend_from_slice(b"def");
    p.extend_from_slice(&[0; 20]);
    p
}

fn row(text: &[u8]) -> Vec<u8> {
    let mut p = vec![text.len() as u8];
    p.extend_from_slice(text);
    p
}

/// A result set of `rows` rows, in either EOF mode.
fn result_set(rows: usize, deprecate_eof: bool, status: u16) -> Vec<u8> {
    let mut b = pk(1, &[2]);
    b.extend(pk(2, &coldef()));
    b.extend(pk(3, &coldef()));
    let mut seq = 4;
    if !deprecate_eof {
        b.extend(pk(seq, &eof(0)));
        seq += 1;
    }
    for i in 0..rows {
        b.extend(pk(seq, &row(format!("r{i}").as_bytes())));
        seq = seq.wrapping_add(1);
    }
    if deprecate_eof {
        b.extend(pk(seq, &ok_terminator(status)));
    } else {
        b.extend(pk(seq, &eof(status)));
    }
    b
}

/// Feeds `bytes` in pieces of `step`; returns the bytes consumed and the final progress.
fn feed_in(scan: &mut Scan, bytes: &[u8], step: usize) -> (usize, Progress) {
    let mut at = 0;
    while at < bytes.len() {
        let end = (at + step).min(bytes.len());
        let (n, p) = scan.feed(&bytes[at..end]).unwrap();
        if p != Progress::More {
            return (at + n, p);
        }
        assert_eq!(n, end - at, "an unfinished answer consumes all it is fed");
        at += n;
    }
    (at, Progress::More)
}

#[test]
fn an_ok_answer_ends_with_its_packet() {
    let mut s = Scan::new(Answer::Result, false);
    let mut bytes = pk(1, &ok(3, 2));
    let answer_len = bytes.len();
    bytes.extend(pk(1, &ok(9, 2)));
    assert_eq!(s.feed(&bytes).unwrap(), (answer_len, Progress::Done));
    assert_eq!(s.tally().affected, 3);
}

#[test]
fn result_sets_end_at_their_terminator_in_both_eof_modes_and_any_split() {
    for deprecate in [false, true] {
        for step in [1, 3, 7, 4096] {
            let mut bytes = result_set(5, deprecate, 2);
            let len = bytes.len();
            bytes.extend(pk(1, &ok(1, 2)));
            let mut s = Scan::new(Answer::Result, deprecate);
            assert_eq!(
                feed_in(&mut s, &bytes, step),
                (len, Progress::Done),
                "{deprecate} {step}"
            );
            assert_eq!(s.tally().rows, 5);
            assert_eq!(s.tally().error, None);
        }
    }
}

#[test]
fn more_results_are_followed_to_the_last() {
    for deprecate in [false, true] {
        let mut bytes = pk(1, &ok(2, 0x0008 | 2));
        bytes.extend(result_set(3, deprecate, 0x0008 | 2));
        bytes.extend(result_set(4, deprecate, 2));
        let mut s = Scan::new(Answer::Result, deprecate);
        assert_eq!(feed_in(&mut s, &bytes, 5), (bytes.len(), Progress::Done));
        assert_eq!(s.tally().rows, 7);
        assert_eq!(s.tally().affected, 2);
    }
}

/// Found by the `mysql_server` fuzz target: a target's affected-row counts summed over the
/// results of one answer overflowed (a panic with overflow checks, a wrong count without).
#[test]
fn affected_rows_a_target_claims_saturate_instead_of_overflowing() {
    let huge = |status: u16| {
        let mut p = vec![0x00, 0xfe];
        p.extend_from_slice(&u64::MAX.to_le_bytes());
        p.push(0);
        p.extend_from_slice(&status.to_le_bytes());
        p.extend_from_slice(&[0, 0]);
        p
    };
    let mut bytes = pk(1, &huge(0x0008 | 2));
    bytes.extend(pk(1, &huge(2)));
    let mut s = Scan::new(Answer::Result, true);
    assert_eq!(feed_in(&mut s, &bytes, 4096), (bytes.len(), Progress::Done));
    assert_eq!(s.tally().affected, u64::MAX);
}

#[test]
fn an_error_mid_rows_ends_the_answer_with_its_words() {
    let mut bytes = pk(1, &[1]);
    bytes.extend(pk(2, &coldef()));
    bytes.extend(pk(3, &eof(0)));
    bytes.extend(pk(4, &row(b"a")));
    bytes.extend(pk(
        5,
        &err_payload(1317, "70100", "Query execution was interrupted"),
    ));
    let mut s = Scan::new(Answer::Result, false);
    assert_eq!(s.feed(&bytes).unwrap(), (bytes.len(), Progress::Done));
    assert_eq!(s.tally().rows, 1);
    assert_eq!(
        s.tally().error,
        Some((1317, "Query execution was interrupted".to_string()))
    );
}

#[test]
fn a_prepare_answer_gives_the_statement_id_and_skips_its_definitions() {
    for deprecate in [false, true] {
        let mut first = vec![0x00];
        first.extend_from_slice(&42u32.to_le_bytes());
        first.extend_from_slice(&1u16.to_le_bytes());
        first.extend_from_slice(&2u16.to_le_bytes());
        first.extend_from_slice(&[0, 0, 0]);
        let mut bytes = pk(1, &first);
        let mut seq = 2;
        for _ in 0..2 {
            bytes.extend(pk(seq, &coldef()));
            seq += 1;
        }
        if !deprecate {
            bytes.extend(pk(seq, &eof(2)));
            seq += 1;
        }
        bytes.extend(pk(seq, &coldef()));
        seq += 1;
        if !deprecate {
            bytes.extend(pk(seq, &eof(2)));
        }
        let len = bytes.len();
        bytes.extend(pk(1, &ok(0, 2)));
        let mut s = Scan::new(Answer::Prepare, deprecate);
        assert_eq!(feed_in(&mut s, &bytes, 2), (len, Progress::Done));
        assert_eq!(s.tally().prepared, Some((42, 2)));
    }
}

#[test]
fn a_local_infile_request_pauses_the_answer_until_the_file_is_sent() {
    let mut req = vec![0xfb];
    req.extend_from_slice(b"/etc/passwd");
    let bytes = pk(1, &req);
    let mut s = Scan::new(Answer::Result, true);
    assert_eq!(
        s.feed(&bytes).unwrap(),
        (bytes.len(), Progress::LocalInfile("/etc/passwd".into()))
    );
    s.resume();
    let done = pk(4, &ok(12, 2));
    assert_eq!(s.feed(&done).unwrap(), (done.len(), Progress::Done));
    assert_eq!(s.tally().affected, 12);
}

#[test]
fn a_row_longer_than_one_packet_is_one_row_even_if_it_continues_with_0xfe() {
    let mut big = vec![0xfc];
    big.resize(MAX_PAYLOAD, b'x');
    let mut tail = vec![0xfe];
    tail.extend_from_slice(&[0; 4]);
    let mut bytes = pk(1, &[1]);
    bytes.extend(pk(2, &coldef()));
    bytes.extend(pk(3, &eof(0)));
    let mut payload = big.clone();
    payload.extend_from_slice(&tail);
    bytes.extend(frame(&payload, 4).0);
    bytes.extend(pk(6, &eof(2)));
    let mut s = Scan::new(Answer::Result, false);
    assert_eq!(
        feed_in(&mut s, &bytes, 65536),
        (bytes.len(), Progress::Done)
    );
    assert_eq!(s.tally().rows, 1);
}

#[test]
fn malformed_answers_are_errors_and_random_bytes_never_panic() {
    let mut s = Scan::new(Answer::Result, false);
    assert!(
        s.feed(&pk(1, &[0])).is_err(),
        "an OK with nothing after it is truncated"
    );
    let mut s = Scan::new(Answer::Result, false);
    assert!(s.feed(&pk(1, &[])).is_err());
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..2000 {
        let mut bytes = Vec::new();
        for _ in 0..(seed % 200) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            bytes.push(seed as u8);
        }
        for answer in [
            Answer::Result,
            Answer::Prepare,
            Answer::FieldList,
            Answer::Fetch,
        ] {
            let _ = Scan::new(answer, seed.is_multiple_of(2)).feed(&bytes);
        }
    }
}
