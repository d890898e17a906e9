//! Cluster credentials: every node derives the same cluster CA key from the shared cluster
//! secret and signs a fresh leaf certificate for itself at start. Node-to-node QUIC uses TLS 1.3
//! with mutual authentication against that CA, so a process without the secret can neither
//! join, nor read, nor inject traffic.

use aws_lc_rs::hkdf;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, PKCS_ED25519,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::fmt;
use std::sync::Arc;

/// Server name every node presents and checks; the CA, not the name, is what authenticates.
pub const CLUSTER_SERVER_NAME: &str = "portunus-cluster";
const ALPN: &[u8] = b"portunus-raft/1";
/// A cluster secret is at least this long (base64 of 32 random bytes is 44)...
const MIN_SECRET_LEN: usize = 32;
/// ...and holds at least this many distinct bytes (hex of random bytes has 16, base64 about 30),
/// so that "aaaa..." or a short word repeated is refused.
const MIN_DISTINCT_BYTES: usize = 12;
/// How the error tells an operator to make a good secret.
const GENERATE: &str = "generate one with `openssl rand -base64 32`";

/// The secret shared by all nodes of a cluster. `Debug` never prints it.
#[derive(Clone)]
pub struct ClusterSecret(Vec<u8>);

impl fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterSecret(<secret>)")
    }
}

/// The cluster credentials could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(
        "the cluster secret is too short: at least {MIN_SECRET_LEN} bytes are needed; {GENERATE}"
    )]
    SecretTooShort,
    #[error("the cluster secret is too weak: it repeats a few characters (at least {MIN_DISTINCT_BYTES} different ones are needed); {GENERATE}")]
    SecretTooWeak,
    #[error("cannot build cluster certificates: {0}")]
    Build(String),
}

fn build_err(e: impl fmt::Display) -> TlsError {
    TlsError::Build(e.to_string())
}

impl ClusterSecret {
    /// Wrap a secret, refusing ones too short to be safe.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, TlsError> {
        let mut bytes: Vec<u8> = bytes.into();
        while bytes.last().is_some_and(|b| b.is_ascii_whitespace()) {
            bytes.pop();
        }
        if bytes.len() < MIN_SECRET_LEN {
            return Err(TlsError::SecretTooShort);
        }
        let distinct = bytes
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        if distinct < MIN_DISTINCT_BYTES {
            return Err(TlsError::SecretTooWeak);
        }
        Ok(ClusterSecret(bytes))
    }

    /// Derive a 32-byte key for one purpose (`label`), with HKDF-SHA256.
    pub fn derive(&self, label: &str) -> [u8; 32] {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"portunus cluster v1").extract(&self.0);
        let mut out = [0u8; 32];
        let info = [label.as_bytes()];
        prk.expand(&info, hkdf::HKDF_SHA256)
            .and_then(|okm| okm.fill(&mut out))
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        out
    }
}

/// The QUIC endpoint settings of member `node_id`. Its stateless-reset key and the key its
/// connection ids are made with are derived from the cluster secret and the member's id, so
/// that the same member restarted (a new process on the same address) recognizes a packet of a
/// connection its previous process held and answers it with a stateless reset the peer
/// accepts (RFC 9000, 10.3): the peer drops the dead connection at its next packet instead of
/// waiting out a call's timeout on it. With random keys (quinn's default) the new process
/// drops such packets as bearing ids it never made, and the peer keeps sending into the void
/// until its idle timeout; a renewal or a forwarded write then fails only when its own time
/// runs out (fault run seed 6616: a member's lease lapsed while the leader restarted and was
/// cut off right after).
pub(crate) fn endpoint_config(secret: &ClusterSecret, node_id: u64) -> quinn::EndpointConfig {
    let reset = secret.derive(&format!("quic stateless reset key of member {node_id}"));
    let reset = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &reset);
    let ids = secret.derive(&format!("quic connection id key of member {node_id}"));
    let ids = u64::from_le_bytes(ids[..8].try_into().expect("8 of 32 bytes"));
    let mut config = quinn::EndpointConfig::new(Arc::new(reset));
    config.cid_generator(move || Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(ids)));
    config
}

/// This node's TLS material: the cluster CA and a leaf certificate signed by it.
pub struct ClusterTls {
    ca: CertificateDer<'static>,
    leaf: CertificateDer<'static>,
    leaf_key: PrivatePkcs8KeyDer<'static>,
}

fn ed25519_pkcs8(seed: &[u8; 32]) -> Vec<u8> {
    // PKCS#8 v1 wrapping of an Ed25519 private key seed (RFC 8410).
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(seed);
    der
}

impl ClusterTls {
    /// Derive the CA from the secret and sign a new leaf for this process.
    pub fn new(secret: &ClusterSecret) -> Result<Self, TlsError> {
        let ca_der = PrivatePkcs8KeyDer::from(ed25519_pkcs8(&secret.derive("cluster ca key")));
        let ca_key =
            KeyPair::from_pkcs8_der_and_sign_algo(&ca_der, &PKCS_ED25519).map_err(build_err)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(build_err)?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Portunus cluster CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).map_err(build_err)?;

        let leaf_key = KeyPair::generate().map_err(build_err)?;
        let mut leaf_params =
            CertificateParams::new(vec![CLUSTER_SERVER_NAME.to_string()]).map_err(build_err)?;
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "Portunus node");
        leaf_params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let leaf = leaf_params
            .signed_by(&leaf_key, &ca, &ca_key)
            .map_err(build_err)?;
        Ok(ClusterTls {
            ca: ca.der().clone(),
            leaf: leaf.der().clone(),
            leaf_key: PrivatePkcs8KeyDer::from(leaf_key.serialize_der()),
        })
    }

    fn roots(&self) -> Result<Arc<rustls::RootCertStore>, TlsError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.clone()).map_err(build_err)?;
        Ok(Arc::new(roots))
    }

    fn chain(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        (
            vec![self.leaf.clone()],
            PrivateKeyDer::Pkcs8(self.leaf_key.clone_key()),
        )
    }

    /// QUIC server configuration requiring a client certificate from the cluster CA.
    pub fn server_config(&self) -> Result<quinn::ServerConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            self.roots()?,
            provider.clone(),
        )
        .build()
        .map_err(build_err)?;
        let (chain, key) = self.chain();
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(build_err)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(build_err)?;
        tls.alpn_protocols = vec![ALPN.to_vec()];
        let quic = QuicServerConfig::try_from(tls).map_err(build_err)?;
        let mut config = quinn::ServerConfig::with_crypto(Arc::new(quic));
        config.transport_config(transport());
        Ok(config)
    }

    /// QUIC client configuration presenting this node's certificate.
    pub fn client_config(&self) -> Result<quinn::ClientConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let (chain, key) = self.chain();
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(build_err)?
            .with_root_certificates(self.roots()?)
            .with_client_auth_cert(chain, key)
            .map_err(build_err)?;
        tls.alpn_protocols = vec![ALPN.to_vec()];
        let quic = QuicClientConfig::try_from(tls).map_err(build_err)?;
        let mut config = quinn::ClientConfig::new(Arc::new(quic));
        config.transport_config(transport());
        Ok(config)
    }
}

/// The round trip a connection assumes before it has measured one. QUIC's default (333 ms, for
/// paths it knows nothing of) makes a handshake whose first packet is lost wait a whole second
/// before sending it again: over a lossy link every new connection to a peer took 1 s, longer
/// than a member's renewals may fail before its session lease lapses. Cluster links are
/// LAN-like (the election timeout is 150-300 ms); a longer real round trip only makes the
/// handshake's first packets go out twice.
const INITIAL_RTT: std::time::Duration = std::time::Duration::from_millis(30);

fn transport() -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.initial_rtt(INITIAL_RTT);
    t.keep_alive_interval(Some(std::time::Duration::from_millis(500)));
    t.max_idle_timeout(Some(
        std::time::Duration::from_secs(5)
            .try_into()
            .expect("5 s is a valid idle timeout"),
    ));
    Arc::new(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_SECRET: &str = "a-long-enough-cluster-secret-0123456789";

    #[test]
    fn short_secret_refused_and_debug_hides_it() {
        assert!(matches!(
            ClusterSecret::new("short"),
            Err(TlsError::SecretTooShort)
        ));
        assert!(matches!(
            ClusterSecret::new("0123456789abcdef0123456789abcde"),
            Err(TlsError::SecretTooShort)
        ));
        assert!(matches!(
            ClusterSecret::new("ab".repeat(40)),
            Err(TlsError::SecretTooWeak)
        ));
        assert!(matches!(
            ClusterSecret::new("password".repeat(5)),
            Err(TlsError::SecretTooWeak)
        ));
        let err = ClusterSecret::new("x".repeat(64)).unwrap_err().to_string();
        assert!(err.contains("openssl rand -base64 32"), "{err}");
        // Hex and base64 of 32 random bytes pass.
        ClusterSecret::new("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
            .unwrap();
        ClusterSecret::new("q83vEjRWeJq8rN7wEjRWeJq83vASNFZ4mrze8BI0Vng=").unwrap();
        let s = ClusterSecret::new(TEST_SECRET).unwrap();
        assert!(!format!("{s:?}").contains("long-enough"));
    }

    #[test]
    fn same_secret_same_ca_different_leaves() {
        let s = ClusterSecret::new(TEST_SECRET).unwrap();
        let a = ClusterTls::new(&s).unwrap();
        let b = ClusterTls::new(&s).unwrap();
        assert_eq!(a.ca, b.ca, "the CA is derived from the secret alone");
        assert_ne!(a.leaf, b.leaf, "each process signs its own leaf");
        let other =
            ClusterTls::new(&ClusterSecret::new("another-cluster-secret-0123456789-XYZ").unwrap())
                .unwrap();
        assert_ne!(a.ca, other.ca);
    }
}
