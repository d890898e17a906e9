//! The one place where Portunus encodes bytes that cross a process boundary (disk or network):
//! bincode 2 in its standard configuration, through serde. Swapping the format means editing
//! this file alone.

use serde::{de::DeserializeOwned, Serialize};

/// A value could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[error("codec error: {0}")]
pub struct CodecError(String);

/// Encode a value.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    bincode::serde::encode_to_vec(value, bincode::config::standard())
        .map_err(|e| CodecError(e.to_string()))
}

/// Decode a value, refusing trailing bytes.
///
/// bincode allocates a string or a byte buffer for the length it reads before it reads the
/// contents, so a forged or corrupted length would ask for any amount of memory (and abort the
/// process). Its limit on the bytes claimed stops that. Through serde a string or byte buffer
/// claims its length (as many bytes as it takes on the wire), a number its size in memory (at
/// most 16 bytes, for at least one on the wire), containers nothing: a value never claims more
/// than 16 times its encoding. The limit is a type parameter: the smallest of a few steps (each
/// 4 times the last) that admits 16 times the input's length is used, so a forged length can
/// ask for at most 64 times the input.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    use bincode::config::standard;
    let claims = bytes.len().saturating_mul(16);
    macro_rules! within {
        ($($shift:literal)*) => {
            $(
                if claims <= 1usize << $shift {
                    let limited = standard().with_limit::<{ 1usize << $shift }>();
                    return whole(bincode::serde::decode_from_slice(bytes, limited), bytes.len());
                }
            )*
        };
    }
    within!(16 18 20 22 24 26 28 30 32 34 36 38 40);
    whole(
        bincode::serde::decode_from_slice(bytes, standard()),
        bytes.len(),
    )
}

/// A decoded value that used all `len` bytes.
fn whole<T>(
    decoded: Result<(T, usize), bincode::error::DecodeError>,
    len: usize,
) -> Result<T, CodecError> {
    let (value, used) = decoded.map_err(|e| match e {
        bincode::error::DecodeError::LimitExceeded => {
            CodecError("a length in the input is larger than the input".into())
        }
        e => CodecError(e.to_string()),
    })?;
    if used != len {
        return Err(CodecError(format!(
            "{} trailing bytes after value",
            len - used
        )));
    }
    Ok(value)
}

/// Encode a value stored on disk, with a format version tag in front.
pub fn encode_versioned<T: Serialize>(version: u32, value: &T) -> Result<Vec<u8>, CodecError> {
    encode(&(version, value))
}

/// Decode a value stored on disk, checking its format version tag.
pub fn decode_versioned<T: DeserializeOwned>(version: u32, bytes: &[u8]) -> Result<T, CodecError> {
    let (found, value): (u32, T) = decode(bytes)?;
    if found != version {
        return Err(CodecError(format!(
            "stored format version {found}, this build reads {version}"
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_trailing_bytes() {
        let bytes = encode(&(7u64, "x".to_string())).unwrap();
        let back: (u64, String) = decode(&bytes).unwrap();
        assert_eq!(back, (7, "x".to_string()));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode::<(u64, String)>(&longer).is_err());
    }

    #[test]
    fn a_forged_length_is_refused_without_allocating_it() {
        // A string of 3 bytes whose length claims 2^62: decoded as a (u64, String).
        let mut forged = encode(&(7u64, "abc".to_string())).unwrap();
        forged.truncate(1);
        forged.extend_from_slice(&[0xfd]);
        forged.extend_from_slice(&(1u64 << 62).to_le_bytes());
        forged.extend_from_slice(b"abc");
        let err = decode::<(u64, String)>(&forged).unwrap_err();
        assert!(err.to_string().contains("larger than the input"), "{err}");
        // Values of every size step decode whole: strings, byte buffers, nested containers
        // (which through serde claim nothing).
        // Numbers claim their size in memory: eight bytes for a u64 of one byte on the wire.
        for len in [0usize, 3000, 4095, 65_536, 1 << 20] {
            let numbers = (vec![1u64; len], vec![0u128; len / 2], vec![true; len / 3]);
            let bytes = encode(&numbers).unwrap();
            type N = (Vec<u64>, Vec<u128>, Vec<bool>);
            let back: N = decode(&bytes).unwrap();
            assert!(back == numbers, "{} numbers", len);
        }
        for len in [0usize, 100, 5000, 70_000, 2_000_000] {
            let value = (
                "x".repeat(len),
                vec![0u8; len / 2],
                vec![vec![String::new(); 3]; len / 10],
                std::collections::BTreeMap::from([(1u64, vec![2u64; len / 7])]),
            );
            let bytes = encode(&value).unwrap();
            type V = (
                String,
                Vec<u8>,
                Vec<Vec<String>>,
                std::collections::BTreeMap<u64, Vec<u64>>,
            );
            let back: V = decode(&bytes).unwrap();
            assert!(back == value, "a value of {} bytes changed", bytes.len());
        }
    }

    #[test]
    fn version_tag_is_checked() {
        let bytes = encode_versioned(2, &5u32).unwrap();
        assert_eq!(decode_versioned::<u32>(2, &bytes).unwrap(), 5);
        let err = decode_versioned::<u32>(3, &bytes).unwrap_err();
        assert!(err.to_string().contains("version 2"));
    }
}
