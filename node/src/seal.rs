//! Hosted secrets at rest: AES-256-GCM under the cluster's sealing key, a key of its own kept in
//! a file outside the data directory (`--seal-key-file`), never derived from the cluster secret,
//! so neither a copy of the data directory nor the operator credential of `portunus cluster`
//! opens a hosted password. The replicated state only ever holds [`Sealed`] ciphertext.
//!
//! Each sealed value names the key that sealed it (an 8-byte id, a one-way function of the key),
//! so that a rotation needs no downtime: a node given a new key and the old one as previous
//! opens values under either and seals with the new one; a re-seal then brings every stored
//! value under the new key and the old one can go.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::hkdf;
use base64::Engine;
use portunus_model::Sealed;
use std::fmt;

#[cfg(test)]
mod tests;

/// The format of values sealed by a key derived from the cluster secret (before sealing keys).
const FORMAT_CLUSTER_DERIVED: u8 = 1;
/// The format of values sealed under a sealing key: format, key id, nonce, ciphertext and tag.
const FORMAT: u8 = 2;
const KEY_ID_LEN: usize = 8;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;
/// A sealing key is this many random bytes...
pub const KEY_LEN: usize = 32;
/// ...of which at least this many differ (32 random bytes have about 30 distinct values).
const MIN_DISTINCT_BYTES: usize = 16;
/// How errors tell an operator to make a key.
pub const GENERATE: &str = "generate one with `openssl rand -base64 32 > FILE; chmod 600 FILE`";

/// The sealing purposes, one per kind of hosted secret (bound as associated data).
pub use portunus_model::seal_purpose as purpose;

/// A sealing key file's contents are not a usable key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "a sealing key is {KEY_LEN} random bytes written in base64; this is not base64; {GENERATE}"
    )]
    NotBase64,
    #[error("a sealing key is {KEY_LEN} random bytes written in base64; this holds {0} bytes; {GENERATE}")]
    Length(usize),
    #[error("the sealing key is too weak: its bytes repeat a few values (at least {MIN_DISTINCT_BYTES} different ones are needed); {GENERATE}")]
    Weak,
}

/// Sealing a secret or opening a sealed one failed. The words never include the secret.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("this node holds no sealing key (witnesses never open secrets)")]
    NoKey,
    #[error(
        "the value was sealed under sealing key {key_id}, which this node was not given \
         (start it with that key as --seal-key-file or --previous-seal-key-file)"
    )]
    UnknownKey { key_id: String },
    #[error(
        "the value was sealed with a key derived from the cluster secret by an earlier \
         version; such values do not open under a sealing key (the state format changed \
         before the first release: set the secret again)"
    )]
    ClusterDerived,
    #[error("a sealed value failed authentication: it was altered, or moved from another field")]
    Open,
    #[error("a sealed value is malformed")]
    Malformed,
    #[error("sealing failed")]
    Seal,
}

/// One sealing key and its id. `Debug` prints the id only.
pub struct SealKey {
    id: [u8; KEY_ID_LEN],
    key: LessSafeKey,
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealKey({})", self.id())
    }
}

fn derive(raw: &[u8], label: &str) -> [u8; 32] {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"portunus seal key v1").extract(raw);
    let mut out = [0u8; 32];
    prk.expand(&[label.as_bytes()], hkdf::HKDF_SHA256)
        .and_then(|okm| okm.fill(&mut out))
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    out
}

impl SealKey {
    /// A key from the contents of a key file: base64 of [`KEY_LEN`] random bytes (surrounding
    /// whitespace ignored). Weak keys are refused.
    pub fn parse(text: &[u8]) -> Result<Self, KeyError> {
        let text = std::str::from_utf8(text).map_err(|_| KeyError::NotBase64)?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| KeyError::NotBase64)?;
        if raw.len() != KEY_LEN {
            return Err(KeyError::Length(raw.len()));
        }
        let distinct = raw.iter().collect::<std::collections::BTreeSet<_>>().len();
        if distinct < MIN_DISTINCT_BYTES {
            return Err(KeyError::Weak);
        }
        let key = UnboundKey::new(&AES_256_GCM, &derive(&raw, "aes-256-gcm"))
            .expect("32 bytes is an AES-256 key");
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&derive(&raw, "key id")[..KEY_ID_LEN]);
        Ok(SealKey {
            id,
            key: LessSafeKey::new(key),
        })
    }

    /// The contents of a new key file: base64 of fresh random bytes and a newline.
    pub fn generate_text() -> Result<String, SealError> {
        let mut raw = [0u8; KEY_LEN];
        aws_lc_rs::rand::fill(&mut raw).map_err(|_| SealError::Seal)?;
        Ok(format!(
            "{}\n",
            base64::engine::general_purpose::STANDARD.encode(raw)
        ))
    }

    /// The key's id (hex), which sealed values carry; it reveals nothing of the key.
    pub fn id(&self) -> String {
        hex::encode(self.id)
    }
}

fn aad(id: &[u8], purpose: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(1 + id.len() + purpose.len());
    aad.push(FORMAT);
    aad.extend_from_slice(id);
    aad.extend_from_slice(purpose.as_bytes());
    aad
}

/// The keys a sealer holds.
#[derive(Debug)]
struct Keys {
    current: Option<SealKey>,
    previous: Vec<SealKey>,
}

impl Keys {
    /// The key a value was sealed under, if held.
    fn key_of(&self, sealed: &Sealed) -> Result<&SealKey, SealError> {
        let bytes = &sealed.0;
        match bytes.first() {
            Some(&FORMAT) if bytes.len() >= HEADER_LEN => {}
            Some(&FORMAT_CLUSTER_DERIVED) => return Err(SealError::ClusterDerived),
            _ => return Err(SealError::Malformed),
        }
        let id = &bytes[1..1 + KEY_ID_LEN];
        if self.current.is_none() {
            return Err(SealError::NoKey);
        }
        self.current
            .iter()
            .chain(&self.previous)
            .find(|k| k.id == id)
            .ok_or_else(|| SealError::UnknownKey {
                key_id: hex::encode(id),
            })
    }
}

/// Seals with the current key; opens with the current key or a previous one. The keys can be
/// replaced while the node runs ([`Sealer::replace`], on SIGHUP).
#[derive(Debug)]
pub struct Sealer {
    keys: std::sync::RwLock<Keys>,
}

impl Sealer {
    /// A sealer that seals with `current` and also opens values sealed under `previous`.
    pub fn new(current: SealKey, previous: Vec<SealKey>) -> Self {
        Self::of(Keys {
            current: Some(current),
            previous,
        })
    }

    /// A sealer without keys (a witness): every seal and open fails with [`SealError::NoKey`].
    pub fn absent() -> Self {
        Self::of(Keys {
            current: None,
            previous: Vec::new(),
        })
    }

    fn of(keys: Keys) -> Self {
        Sealer {
            keys: std::sync::RwLock::new(keys),
        }
    }

    fn keys(&self) -> std::sync::RwLockReadGuard<'_, Keys> {
        self.keys.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The id of the key new values are sealed under.
    pub fn current_id(&self) -> Option<String> {
        self.keys().current.as_ref().map(SealKey::id)
    }

    /// The ids of the previous keys this sealer still opens values with.
    pub fn previous_ids(&self) -> Vec<String> {
        self.keys().previous.iter().map(SealKey::id).collect()
    }

    /// Whether this sealer holds the key `sealed` was sealed under (without opening it).
    pub fn holds_key_of(&self, sealed: &Sealed) -> Result<(), SealError> {
        self.keys().key_of(sealed).map(|_| ())
    }

    /// Takes the keys of `other` from now on (a reload); refused when `other` has none, so a
    /// node that holds keys never ends up without.
    pub fn replace(&self, other: Sealer) -> Result<(), SealError> {
        let keys = other.keys.into_inner().unwrap_or_else(|p| p.into_inner());
        if keys.current.is_none() {
            return Err(SealError::NoKey);
        }
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
        Ok(())
    }

    /// Encrypt `plain` under the current key; `purpose` is bound as associated data so a
    /// sealed value cannot be moved to another field.
    pub fn seal(&self, purpose: &str, plain: &[u8]) -> Result<Sealed, SealError> {
        let keys = self.keys();
        let key = keys.current.as_ref().ok_or(SealError::NoKey)?;
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| SealError::Seal)?;
        let mut buf = plain.to_vec();
        key.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(&key.id, purpose).as_slice()),
                &mut buf,
            )
            .map_err(|_| SealError::Seal)?;
        let mut out = Vec::with_capacity(HEADER_LEN + buf.len());
        out.push(FORMAT);
        out.extend_from_slice(&key.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(Sealed(out))
    }

    /// Decrypt a value sealed for `purpose`.
    pub fn open(&self, purpose: &str, sealed: &Sealed) -> Result<Vec<u8>, SealError> {
        let keys = self.keys();
        let key = keys.key_of(sealed)?;
        let bytes = &sealed.0;
        let nonce: [u8; NONCE_LEN] = bytes[1 + KEY_ID_LEN..HEADER_LEN]
            .try_into()
            .map_err(|_| SealError::Malformed)?;
        let mut buf = bytes[HEADER_LEN..].to_vec();
        let plain = key
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(&key.id, purpose).as_slice()),
                &mut buf,
            )
            .map_err(|_| SealError::Open)?;
        Ok(plain.to_vec())
    }

    /// The same secret sealed under the current key, or None when it already is.
    pub fn reseal(&self, purpose: &str, sealed: &Sealed) -> Result<Option<Sealed>, SealError> {
        let current = self.keys().current.as_ref().map(|k| k.id);
        let current = current.ok_or(SealError::NoKey)?;
        if sealed.0.first() == Some(&FORMAT)
            && sealed.0.get(1..1 + KEY_ID_LEN) == Some(&current[..])
        {
            return Ok(None);
        }
        let plain = self.open(purpose, sealed)?;
        self.seal(purpose, &plain).map(Some)
    }
}
