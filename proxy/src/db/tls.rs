//! TLS to database targets: the client configurations the gateway uses when a MySQL or
//! PostgreSQL target offers TLS, and the connector `portunus-db` calls to switch a session's
//! target connection to it.
//!
//! Modes (cluster setting `database_target_tls`): `off` never asks for TLS; `prefer` (the
//! default) switches to TLS whenever the target offers it, without checking its certificate —
//! what the `mysql` client's default `PREFERRED` and libpq's `prefer` do, since database servers
//! mostly present self-signed certificates; `require` refuses a target that does not offer TLS
//! (certificate still unchecked); `verify` requires TLS and checks the certificate chain and the
//! asset's address against the node's CA bundle (`--database-target-ca`).

use portunus_db::tls::{BoxIo, Connector, Handshake, TargetTls};
use std::sync::Arc;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{self, CryptoProvider};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{self, ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio_rustls::TlsConnector;

/// How sessions treat TLS to their database (see the module's documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TargetTlsMode {
    Off,
    #[default]
    Prefer,
    Require,
    Verify,
}

/// The node's client configurations for database targets.
pub struct DatabaseTls {
    /// Certificates not checked (`prefer`, `require`).
    unchecked: Arc<ClientConfig>,
    /// Checked against the CA bundle (`verify`); why not, when there is no bundle.
    checked: Result<Arc<ClientConfig>, String>,
}

impl std::fmt::Debug for DatabaseTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseTls")
            .field("verify_available", &self.checked.is_ok())
            .finish()
    }
}

impl Default for DatabaseTls {
    /// Without a CA bundle (`verify` sessions are refused).
    fn default() -> Self {
        DatabaseTls::new(None, false).expect("the default TLS client configuration builds")
    }
}

impl DatabaseTls {
    /// Configurations checking certificates against the PEM bundle `ca` (`source` names it in
    /// errors); without one, `verify` sessions are refused with the reason. A bundle the node
    /// was not told to use (the system's, by default) is `lenient`: certificates rustls cannot
    /// use are skipped, and a bundle without any leaves `verify` unavailable instead of failing.
    pub fn new(ca: Option<(&[u8], &str)>, lenient: bool) -> Result<DatabaseTls, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let unchecked = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unchecked(provider.clone())))
            .with_no_client_auth();
        let checked = match ca {
            None => Err("no CA bundle is configured on this node (--database-target-ca)".into()),
            Some((pem, source)) => match roots(pem, source, lenient) {
                Ok(roots) => {
                    let config = ClientConfig::builder_with_provider(provider)
                        .with_safe_default_protocol_versions()
                        .map_err(|e| e.to_string())?
                        .with_root_certificates(roots)
                        .with_no_client_auth();
                    Ok(Arc::new(config))
                }
                Err(why) if lenient => Err(why),
                Err(why) => return Err(why),
            },
        };
        Ok(DatabaseTls {
            unchecked: Arc::new(unchecked),
            checked,
        })
    }

    /// Why `verify` sessions cannot be made on this node, if they cannot.
    pub fn verify_unavailable(&self) -> Option<&str> {
        self.checked.as_ref().err().map(String::as_str)
    }

    /// What a session to the database at `address` does about TLS under `mode`. When the
    /// session cannot be made as configured (`verify` without a CA bundle, an address TLS
    /// cannot name), its handshake fails with the reason, which the client is told.
    pub fn for_target(&self, mode: TargetTlsMode, address: &str) -> Option<TargetTls> {
        let (config, required) = match mode {
            TargetTlsMode::Off => return None,
            TargetTlsMode::Prefer => (Ok(self.unchecked.clone()), false),
            TargetTlsMode::Require => (Ok(self.unchecked.clone()), true),
            TargetTlsMode::Verify => (self.checked.clone(), true),
        };
        let name = ServerName::try_from(address.to_string()).map_err(|_| {
            format!(
                "the database address '{address}' is not a host name or IP address TLS can check"
            )
        });
        let connector: Arc<dyn Connector> = match (config, name) {
            (Ok(config), Ok(name)) => Arc::new(Rustls { config, name }),
            (Err(why), _) | (_, Err(why)) => Arc::new(Unavailable(why)),
        };
        Some(TargetTls {
            connector,
            required,
        })
    }
}

/// A handshake that cannot be made, and why.
struct Unavailable(String);

impl Connector for Unavailable {
    fn connect<'a>(&self, _io: BoxIo<'a>) -> Handshake<'a> {
        let why = self.0.clone();
        Box::pin(async move { Err(std::io::Error::other(why)) })
    }
}

/// The trust anchors of a PEM bundle; strict: every certificate must be usable.
fn roots(pem: &[u8], source: &str, lenient: bool) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let added = match cert {
            Ok(cert) => roots
                .add(cert)
                .map_err(|e| format!("{source}: a certificate is not usable: {e}")),
            Err(e) => Err(format!("{source}: {e}")),
        };
        if let (Err(why), false) = (added, lenient) {
            return Err(why);
        }
    }
    if roots.is_empty() {
        return Err(format!("{source}: no certificate in the CA bundle"));
    }
    Ok(roots)
}

struct Rustls {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl Connector for Rustls {
    fn connect<'a>(&self, io: BoxIo<'a>) -> Handshake<'a> {
        let connector = TlsConnector::from(self.config.clone());
        let name = self.name.clone();
        Box::pin(async move {
            let stream = connector.connect(name, io).await?;
            Ok(Box::new(stream) as BoxIo<'a>)
        })
    }
}

/// Accepts any certificate (the handshake's signatures are still checked, so the session key
/// belongs to whoever holds the presented certificate's key).
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestCerts;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls::pki_types::PrivateKeyDer;

    /// A TLS server on one end of a pipe presenting `certs`' server certificate, and the
    /// gateway's handshake under `mode` on the other; the handshake's outcome as text.
    async fn handshake(tls: &DatabaseTls, mode: TargetTlsMode, certs: &TestCerts) -> String {
        let chain = vec![CertificateDer::from_pem_slice(certs.cert.as_bytes()).unwrap()];
        let key = PrivateKeyDer::from_pem_slice(certs.key.as_bytes()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let (ours, theirs) = tokio::io::duplex(64 << 10);
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let served = tokio::spawn(async move {
            let mut s = acceptor.accept(theirs).await.ok()?;
            let mut b = [0u8; 4];
            s.read_exact(&mut b).await.ok()?;
            s.write_all(b"pong").await.ok()?;
            s.flush().await.ok()?;
            Some(b)
        });
        let target = tls.for_target(mode, "127.0.0.1").expect("TLS in this mode");
        let mut io = match target.connector.connect(Box::new(ours)).await {
            Ok(io) => io,
            Err(e) => return format!("refused: {e}"),
        };
        io.write_all(b"ping").await.unwrap();
        io.flush().await.unwrap();
        let mut b = [0u8; 4];
        io.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"pong");
        assert_eq!(served.await.unwrap(), Some(*b"ping"));
        "ok".into()
    }

    #[tokio::test]
    async fn verify_checks_the_chain_and_prefer_does_not() {
        let certs = TestCerts::new();
        let other = TestCerts::new();
        let trusting = DatabaseTls::new(Some((certs.ca.as_bytes(), "ca.pem")), false).unwrap();
        let stranger = DatabaseTls::new(Some((other.ca.as_bytes(), "other.pem")), false).unwrap();
        let none = DatabaseTls::default();
        assert_eq!(
            handshake(&trusting, TargetTlsMode::Verify, &certs).await,
            "ok"
        );
        let refused = handshake(&stranger, TargetTlsMode::Verify, &certs).await;
        assert!(refused.contains("UnknownIssuer"), "{refused}");
        let refused = handshake(&none, TargetTlsMode::Verify, &certs).await;
        assert!(refused.contains("no CA bundle"), "{refused}");
        assert_eq!(handshake(&none, TargetTlsMode::Prefer, &certs).await, "ok");
        assert_eq!(
            handshake(&stranger, TargetTlsMode::Require, &certs).await,
            "ok"
        );
        assert!(none.for_target(TargetTlsMode::Off, "127.0.0.1").is_none());
        let required = |m| none.for_target(m, "db").map(|t| t.required);
        assert_eq!(required(TargetTlsMode::Prefer), Some(false));
        assert_eq!(required(TargetTlsMode::Require), Some(true));
        assert_eq!(required(TargetTlsMode::Verify), Some(true));
    }

    #[test]
    fn a_bundle_without_certificates_is_refused_with_its_name() {
        let e = DatabaseTls::new(Some((b"not a pem", "/etc/x.pem")), false).unwrap_err();
        assert!(e.contains("/etc/x.pem"), "{e}");
        // The system's bundle, not asked for: verify is unavailable, the node starts.
        let tls = DatabaseTls::new(Some((b"not a pem", "/etc/x.pem")), true).unwrap();
        let verify = tls.checked.clone().map(|_| ()).unwrap_err();
        assert!(verify.contains("/etc/x.pem"), "{verify}");
    }
}
