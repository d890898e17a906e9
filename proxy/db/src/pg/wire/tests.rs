use super::*;

#[test]
fn a_startup_packet_round_trips_and_names_its_parameters() {
    let s = Startup::Startup {
        version: PROTOCOL_3,
        params: vec![
            ("user".into(), "app".into()),
            ("database".into(), "shop".into()),
        ],
    };
    let bytes = s.build();
    assert_eq!(
        bytes.len(),
        u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize
    );
    let back = Startup::parse(&bytes[4..]).unwrap();
    assert_eq!(back, s);
    assert_eq!(back.param("database"), Some("shop"));
    assert_eq!(back.param("options"), None);
}

#[test]
fn ssl_gss_and_cancel_requests_are_told_apart() {
    for s in [
        Startup::Ssl,
        Startup::GssEnc,
        Startup::Cancel {
            pid: 42,
            key: vec![1, 2, 3, 4],
        },
    ] {
        assert_eq!(Startup::parse(&s.build()[4..]).unwrap(), s);
    }
}

#[test]
fn truncated_startup_packets_are_errors_not_panics() {
    let bytes = Startup::Startup {
        version: PROTOCOL_3,
        params: vec![("user".into(), "app".into())],
    }
    .build();
    for cut in 4..bytes.len() - 1 {
        assert!(Startup::parse(&bytes[4..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn error_fields_round_trip_and_unknown_fields_are_skipped() {
    let e = error("42501", "no");
    let (tag, len) = header(&e).unwrap().unwrap();
    assert_eq!((tag, len), (b'E', e.len() - 5));
    let f = Fields::parse(&e[5..]).unwrap();
    assert_eq!(f, Fields::new("ERROR", "42501", "no"));
    let mut body = b"Xextra\0".to_vec();
    body.extend_from_slice(&e[5..]);
    assert_eq!(Fields::parse(&body).unwrap().code, "42501");
}

#[test]
fn garbage_error_bodies_are_errors_not_panics() {
    for body in [&b""[..], b"S", b"SERROR", b"CXX\0M"] {
        assert!(Fields::parse(body).is_err(), "{body:?}");
    }
}

#[test]
fn a_length_under_four_is_malformed_and_short_headers_wait() {
    assert_eq!(header(b"Z\0\0"), None);
    assert!(header(b"Z\0\0\0\x03").unwrap().is_err());
    assert_eq!(header(&ready(b'I')).unwrap().unwrap(), (b'Z', 1));
}

#[test]
fn reader_stops_at_the_end() {
    let mut r = Reader::new(b"ab");
    assert!(r.cstr("x").is_err());
    assert!(r.i32("x").is_err());
    assert_eq!(r.i16("x").unwrap(), 0x6162);
    assert!(r.u8("x").is_err());
}
