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
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (value, used) = bincode::serde::decode_from_slice(bytes, bincode::config::standard())
        .map_err(|e| CodecError(e.to_string()))?;
    if used != bytes.len() {
        return Err(CodecError(format!(
            "{} trailing bytes after value",
            bytes.len() - used
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
    fn version_tag_is_checked() {
        let bytes = encode_versioned(2, &5u32).unwrap();
        assert_eq!(decode_versioned::<u32>(2, &bytes).unwrap(), 5);
        let err = decode_versioned::<u32>(3, &bytes).unwrap_err();
        assert!(err.to_string().contains("version 2"));
    }
}
