//! Hosted secrets at rest: AES-256-GCM under a key derived from the cluster secret. The
//! replicated state only ever holds [`Sealed`] ciphertext.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use portunus_model::Sealed;
use portunus_raft::tls::ClusterSecret;

const FORMAT: u8 = 1;

/// Sealing a secret or opening a sealed one failed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("sealed value is malformed or was sealed under another cluster secret")]
    Open,
    #[error("sealing failed")]
    Seal,
}

/// Seals and opens secrets with the cluster key.
pub struct Sealer {
    key: LessSafeKey,
}

impl Sealer {
    /// Derive the sealing key from the cluster secret.
    pub fn new(secret: &ClusterSecret) -> Self {
        let raw = secret.derive("hosted secrets seal key");
        let key = UnboundKey::new(&AES_256_GCM, &raw).expect("32 bytes is an AES-256 key");
        Sealer {
            key: LessSafeKey::new(key),
        }
    }

    /// Encrypt `plain`; `purpose` is bound as associated data so a sealed value cannot be
    /// moved to another field.
    pub fn seal(&self, purpose: &str, plain: &[u8]) -> Result<Sealed, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| SealError::Seal)?;
        let mut buf = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(purpose.as_bytes()),
                &mut buf,
            )
            .map_err(|_| SealError::Seal)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
        out.push(FORMAT);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(Sealed(out))
    }

    /// Decrypt a value sealed for `purpose`.
    pub fn open(&self, purpose: &str, sealed: &Sealed) -> Result<Vec<u8>, SealError> {
        let bytes = &sealed.0;
        if bytes.len() < 1 + NONCE_LEN || bytes[0] != FORMAT {
            return Err(SealError::Open);
        }
        let nonce: [u8; NONCE_LEN] = bytes[1..1 + NONCE_LEN]
            .try_into()
            .map_err(|_| SealError::Open)?;
        let mut buf = bytes[1 + NONCE_LEN..].to_vec();
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(purpose.as_bytes()),
                &mut buf,
            )
            .map_err(|_| SealError::Open)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(s: &str) -> Sealer {
        Sealer::new(&ClusterSecret::new(s).unwrap())
    }

    #[test]
    fn round_trip_and_purpose_binding() {
        let s = sealer("cluster-secret-number-one-0123456789");
        let sealed = s.seal("host account password", b"hunter2").unwrap();
        assert!(!sealed.0.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(
            s.open("host account password", &sealed).unwrap(),
            b"hunter2"
        );
        assert!(s.open("database password", &sealed).is_err());
    }

    #[test]
    fn other_cluster_and_tampering_refused() {
        let s = sealer("cluster-secret-number-one-0123456789");
        let mut sealed = s.seal("p", b"x").unwrap();
        assert!(sealer("cluster-secret-number-two-0123456789")
            .open("p", &sealed)
            .is_err());
        let last = sealed.0.len() - 1;
        sealed.0[last] ^= 1;
        assert!(s.open("p", &sealed).is_err());
    }
}

/// The sealing purposes, one per kind of hosted secret (bound as associated data).
pub mod purpose {
    pub const HOST_PASSWORD: &str = "host account password";
    pub const HOST_PRIVATE_KEY: &str = "host account private key";
    pub const SHARED_KEY: &str = "shared private key";
    pub const DATABASE_PASSWORD: &str = "database account password";
    pub const TOKEN_ACCOUNT_PASSWORD: &str = "token custom account password";
    pub const SSH_HOST_KEY: &str = "ssh host key";
    pub const ACCESS_KEY_SECRET: &str = "access key secret";
    pub const DIRECTORY_BIND_PASSWORD: &str = "directory bind password";
    pub const NETWORK_PROXY_PASSWORD: &str = "network proxy password";
}
