use super::*;

fn request(code: i32, rest: &[u8]) -> Vec<u8> {
    let mut b = code.to_be_bytes().to_vec();
    b.extend_from_slice(rest);
    b
}

fn auth() -> TargetAuth {
    TargetAuth::new("app", Secret("s3cret".into()))
}

#[test]
fn trust_is_done_at_once() {
    assert_eq!(
        auth().on_message(b'R', &request(0, b"")).unwrap(),
        Next::Done
    );
}

#[test]
fn cleartext_sends_the_password() {
    let next = auth().on_message(b'R', &request(3, b"")).unwrap();
    assert_eq!(next, Next::Send(message(b'p', b"s3cret\0")));
}

#[test]
fn md5_hashes_password_user_and_salt_as_postgres_does() {
    // md5(md5("s3cret" || "app") || salt), computed with PostgreSQL's own formula by hand:
    let inner = format!("{:x}", md5::compute("s3cretapp"));
    let mut outer = inner.into_bytes();
    outer.extend_from_slice(&[1, 2, 3, 4]);
    let expected = format!("md5{:x}\0", md5::compute(outer));
    let next = auth().on_message(b'R', &request(5, &[1, 2, 3, 4])).unwrap();
    assert_eq!(next, Next::Send(message(b'p', expected.as_bytes())));
    assert_eq!(expected.len(), 3 + 32 + 1);
}

#[test]
fn sasl_starts_scram_sha_256_and_refuses_other_mechanisms() {
    let mut a = auth();
    let Next::Send(m) = a
        .on_message(b'R', &request(10, b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"))
        .unwrap()
    else {
        panic!("no answer")
    };
    assert_eq!(m[0], b'p');
    assert!(m[5..].starts_with(b"SCRAM-SHA-256\0"));
    assert!(String::from_utf8_lossy(&m).contains("n,,n=,r="));
    let e = auth()
        .on_message(b'R', &request(10, b"SCRAM-SHA-256-PLUS\0\0"))
        .unwrap_err();
    assert!(e.to_string().contains("SCRAM-SHA-256-PLUS"), "{e}");
}

#[test]
fn a_sasl_continue_before_the_start_is_unexpected() {
    assert!(auth().on_message(b'R', &request(11, b"r=x")).is_err());
    assert!(auth().on_message(b'R', &request(12, b"v=x")).is_err());
}

#[test]
fn errors_and_other_methods_are_errors_with_words() {
    let e = auth()
        .on_message(
            b'E',
            &super::super::wire::fatal("28P01", "password authentication failed")[5..],
        )
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("28P01 password authentication failed"),
        "{e}"
    );
    assert!(matches!(
        auth().on_message(b'R', &request(7, b"")),
        Err(AuthError::Unsupported(_))
    ));
    assert!(matches!(
        auth().on_message(b'Z', b"I"),
        Err(AuthError::Unexpected('Z'))
    ));
}

#[test]
fn truncated_requests_are_errors_not_panics() {
    for body in [&b""[..], b"\0\0", b"\0\0\0\x05\x01", b"\0\0\0\x0aSCRAM"] {
        assert!(auth().on_message(b'R', body).is_err(), "{body:?}");
    }
}

#[test]
fn the_password_never_shows_in_debug() {
    let s = format!("{:?}", Secret("s3cret".into()));
    assert!(!s.contains("s3cret"));
}
