use super::*;

fn key() -> SealKey {
    SealKey::parse(SealKey::generate_text().unwrap().as_bytes()).unwrap()
}

#[test]
fn round_trip_and_purpose_binding() {
    let s = Sealer::new(key(), vec![]);
    let sealed = s.seal("host account password", b"hunter2").unwrap();
    assert!(!sealed.0.windows(7).any(|w| w == b"hunter2"));
    assert_eq!(
        s.open("host account password", &sealed).unwrap(),
        b"hunter2"
    );
    assert!(matches!(
        s.open("database password", &sealed),
        Err(SealError::Open)
    ));
}

#[test]
fn another_key_names_the_missing_key_and_tampering_is_refused() {
    let a = key();
    let a_id = a.id();
    let s = Sealer::new(a, vec![]);
    let mut sealed = s.seal("p", b"x").unwrap();
    let err = Sealer::new(key(), vec![]).open("p", &sealed).unwrap_err();
    assert!(
        matches!(&err, SealError::UnknownKey { key_id } if *key_id == a_id),
        "{err}"
    );
    assert!(
        err.to_string().contains("--previous-seal-key-file"),
        "{err}"
    );
    let last = sealed.0.len() - 1;
    sealed.0[last] ^= 1;
    assert!(matches!(s.open("p", &sealed), Err(SealError::Open)));
    assert!(matches!(
        s.open("p", &Sealed(vec![1, 2, 3])),
        Err(SealError::ClusterDerived)
    ));
    assert!(matches!(
        Sealer::absent().open("p", &sealed),
        Err(SealError::NoKey)
    ));
}

#[test]
fn rotation_opens_old_values_and_reseals_them_under_the_new_key() {
    let text_old = SealKey::generate_text().unwrap();
    let old = Sealer::new(SealKey::parse(text_old.as_bytes()).unwrap(), vec![]);
    let sealed = old.seal("p", b"secret").unwrap();
    let new_key = key();
    let new_id = new_key.id();
    let rotated = Sealer::new(new_key, vec![SealKey::parse(text_old.as_bytes()).unwrap()]);
    assert_eq!(rotated.open("p", &sealed).unwrap(), b"secret");
    let again = rotated
        .reseal("p", &sealed)
        .unwrap()
        .expect("under the old key");
    assert_eq!(hex::encode(&again.0[1..9]), new_id);
    assert!(rotated.reseal("p", &again).unwrap().is_none());
    assert!(matches!(
        old.open("p", &again),
        Err(SealError::UnknownKey { .. })
    ));
}

#[test]
fn key_files_must_hold_32_random_bytes_in_base64() {
    let e = SealKey::parse(b"not base64 at all!")
        .unwrap_err()
        .to_string();
    assert!(e.contains("base64") && e.contains("openssl rand"), "{e}");
    let short = base64::engine::general_purpose::STANDARD.encode([7u8; 16]);
    let e = SealKey::parse(short.as_bytes()).unwrap_err().to_string();
    assert!(e.contains("16 bytes"), "{e}");
    let weak = base64::engine::general_purpose::STANDARD.encode([1u8, 2, 3, 4].repeat(8));
    assert!(matches!(
        SealKey::parse(weak.as_bytes()),
        Err(KeyError::Weak)
    ));
    let text = SealKey::generate_text().unwrap();
    let (a, b) = (
        SealKey::parse(text.as_bytes()).unwrap(),
        SealKey::parse(format!("  {}  ", text.trim()).as_bytes()).unwrap(),
    );
    assert_eq!(a.id(), b.id());
    assert!(!format!("{a:?}").contains(text.trim()));
}
