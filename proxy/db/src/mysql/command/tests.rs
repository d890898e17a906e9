use super::*;

fn execute(id: u32, body: &[u8]) -> Vec<u8> {
    let mut p = vec![COM_STMT_EXECUTE];
    p.extend_from_slice(&id.to_le_bytes());
    p.push(0);
    p.extend_from_slice(&1u32.to_le_bytes());
    p.extend_from_slice(body);
    p
}

#[test]
fn a_query_is_audited_as_sent() {
    let mut s = Statements::default();
    let r = s.decode(b"\x03SELECT 1").unwrap();
    assert_eq!(r.kind, Some("query"));
    assert_eq!(r.text, "SELECT 1");
    assert_eq!(r.answer, Answer::Result);
    assert_eq!(r.refusal, None);
    assert!(s.decode(&[]).is_err());
}

#[test]
fn an_execute_shows_the_prepared_text_and_its_bound_values() {
    let mut s = Statements::default();
    let r = s
        .decode(b"\x16SELECT * FROM t WHERE a = ? AND b = ? AND c = ? AND d = ?")
        .unwrap();
    assert_eq!(r.answer, Answer::Prepare);
    s.prepared(Some((7, 4)));
    // null bitmap: param 3 (index 2) is NULL; new types: LONGLONG, VAR_STRING, LONG, TINY unsigned.
    let mut body = vec![0b0000_0100, 1, 0x08, 0, 0xfd, 0, 0x03, 0, 0x01, 0x80];
    body.extend_from_slice(&(-5i64).to_le_bytes());
    body.extend_from_slice(&[4, b'O', b'\'', b'K', b'!']);
    body.push(200);
    let r = s.decode(&execute(7, &body)).unwrap();
    assert_eq!(r.kind, Some("execute"));
    assert_eq!(
        r.text,
        "SELECT * FROM t WHERE a = ? AND b = ? AND c = ? AND d = ?"
    );
    assert_eq!(r.params, vec!["-5", "'O''K!'", "NULL", "200"]);
    // A second execute may reuse the types; MariaDB's id -1 means the last prepared.
    let mut body = vec![0, 0];
    body.extend_from_slice(&9i64.to_le_bytes());
    body.extend_from_slice(&[1, b'x']);
    body.extend_from_slice(&1u32.to_le_bytes());
    body.push(1);
    let r = s.decode(&execute(u32::MAX, &body)).unwrap();
    assert_eq!(r.params, vec!["9", "'x'", "1", "1"]);
}

#[test]
fn long_data_closed_and_unknown_statements_are_said_so() {
    let mut s = Statements::default();
    s.decode(b"\x16INSERT INTO f VALUES (?)").unwrap();
    s.prepared(Some((3, 1)));
    let mut long = vec![COM_STMT_SEND_LONG_DATA];
    long.extend_from_slice(&3u32.to_le_bytes());
    long.extend_from_slice(&0u16.to_le_bytes());
    long.extend_from_slice(b"chunk");
    assert_eq!(s.decode(&long).unwrap().answer, Answer::None);
    let r = s.decode(&execute(3, &[0, 1, 0xfc, 0])).unwrap();
    assert_eq!(r.params, vec!["<long data>"]);
    let mut close = vec![COM_STMT_CLOSE];
    close.extend_from_slice(&3u32.to_le_bytes());
    s.decode(&close).unwrap();
    let r = s.decode(&execute(3, &[])).unwrap();
    assert!(r.text.contains("not prepared"), "{}", r.text);
}

#[test]
fn a_failed_prepare_leaves_nothing_and_change_user_and_replication_are_refused() {
    let mut s = Statements::default();
    s.decode(b"\x16SELEC oops").unwrap();
    s.prepared(None);
    assert!(s.by_id.is_empty());
    let r = s
        .decode(&[COM_CHANGE_USER, b'r', b'o', b'o', b't', 0])
        .unwrap();
    assert!(r.refusal.unwrap().contains("database user"));
    assert!(s.decode(&[0x12, 0, 0]).unwrap().refusal.is_some());
    assert!(s.decode(&[0x99]).unwrap().refusal.is_some());
}

#[test]
fn truncated_executes_are_errors_not_panics() {
    let mut s = Statements::default();
    s.decode(b"\x16SELECT ?, ?").unwrap();
    s.prepared(Some((1, 2)));
    let mut body = vec![0, 1, 0x08, 0, 0xfd, 0];
    body.extend_from_slice(&1i64.to_le_bytes());
    body.extend_from_slice(&[200, b'x']);
    let full = execute(1, &body);
    for n in 0..full.len() {
        let _ = s.decode(&full[..n]);
    }
    assert!(s.decode(&full).is_err());
    // An execute that reuses types never bound is an error too.
    let mut fresh = Statements::default();
    fresh.decode(b"\x16SELECT ?").unwrap();
    fresh.prepared(Some((2, 1)));
    assert!(fresh.decode(&execute(2, &[0, 0, 1])).is_err());
}

#[test]
fn kill_statements_are_recognised_with_their_id() {
    use crate::mysql::session::parse_kill;
    assert_eq!(parse_kill("KILL QUERY 42"), Some((true, 42)));
    assert_eq!(parse_kill("  kill query\t7 ; "), Some((true, 7)));
    assert_eq!(parse_kill("KILL CONNECTION 9"), Some((false, 9)));
    assert_eq!(parse_kill("kill 3"), Some((false, 3)));
    assert_eq!(parse_kill("KILL QUERY ID 3"), None);
    assert_eq!(parse_kill("KILL QUERY 3 4"), None);
    assert_eq!(parse_kill("KILLQUERY 3"), None);
    assert_eq!(parse_kill("SELECT 1"), None);
    assert_eq!(parse_kill("KILL USER app"), None);
}
