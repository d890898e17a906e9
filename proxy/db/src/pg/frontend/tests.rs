use super::*;

fn cstr(s: &str) -> Vec<u8> {
    let mut b = s.as_bytes().to_vec();
    b.push(0);
    b
}

fn bind_body() -> Vec<u8> {
    let mut b = cstr("");
    b.extend(cstr("s1"));
    b.extend(3i16.to_be_bytes());
    b.extend(0i16.to_be_bytes());
    b.extend(1i16.to_be_bytes());
    b.extend(0i16.to_be_bytes());
    b.extend(3i16.to_be_bytes());
    b.extend(6i32.to_be_bytes());
    b.extend(b"it's a");
    b.extend(4i32.to_be_bytes());
    b.extend(7i32.to_be_bytes());
    b.extend((-1i32).to_be_bytes());
    b
}

#[test]
fn parse_keeps_name_text_and_types() {
    let mut b = cstr("s1");
    b.extend(cstr("SELECT $1"));
    b.extend(1i16.to_be_bytes());
    b.extend(23i32.to_be_bytes());
    assert_eq!(
        decode(b'P', &b).unwrap(),
        Message::Parse {
            name: "s1".into(),
            text: "SELECT $1".into(),
            types: vec![23]
        }
    );
}

#[test]
fn bind_reads_formats_per_parameter_and_nulls() {
    let Message::Bind {
        statement, params, ..
    } = decode(b'B', &bind_body()).unwrap()
    else {
        panic!("not a bind")
    };
    assert_eq!(statement, "s1");
    let shown: Vec<String> = params
        .iter()
        .zip([25, 23, 0])
        .map(|(p, oid)| render(p, oid))
        .collect();
    assert_eq!(shown, ["'it''s a'", "7", "NULL"]);
}

#[test]
fn rendering_follows_the_type() {
    let text = |v: &str| Param {
        binary: false,
        value: Some(v.as_bytes().to_vec()),
    };
    assert_eq!(render(&text("42"), 20), "42");
    assert_eq!(render(&text("42"), 0), "'42'");
    let bin = Param {
        binary: true,
        value: Some(vec![0xde, 0xad]),
    };
    assert_eq!(render(&bin, 17), "'\\xdead'");
    assert_eq!(render(&bin, 21), "-8531");
}

#[test]
fn truncated_and_garbage_messages_are_errors_not_panics() {
    let b = bind_body();
    for cut in 0..b.len() {
        assert!(decode(b'B', &b[..cut]).is_err(), "bind cut at {cut}");
    }
    assert!(decode(b'Q', b"SELECT 1").is_err(), "no NUL");
    let mut negative = cstr("");
    negative.extend(cstr(""));
    negative.extend((-1i16).to_be_bytes());
    assert!(decode(b'B', &negative).is_err());
    assert!(decode(b'C', b"").is_err());
    assert_eq!(decode(b'?', b"junk").unwrap(), Message::Other(b'?'));
}
