//! TLS for the API: the operator's certificate and key when given, otherwise a self-signed
//! certificate generated on first start and kept (key mode 0600) in the data directory.

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Build the API's TLS server configuration.
pub fn server_config(
    data_dir: &Path,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let mut config = certified(data_dir, cert, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The TLS server configuration of the native database ports: their own certificate when
/// given, else the API's (the operator's, or the self-signed one).
pub fn database_config(
    config: &crate::config::NodeConfig,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let (cert, key) = match (&config.database_tls_cert, &config.database_tls_key) {
        (Some(c), Some(k)) => (Some(c.as_path()), Some(k.as_path())),
        (None, None) => (
            config.api_tls_cert.as_deref(),
            config.api_tls_key.as_deref(),
        ),
        _ => anyhow::bail!("--database-tls-cert and --database-tls-key must be given together"),
    };
    Ok(Arc::new(certified(&config.data_dir, cert, key)?))
}

/// A TLS client configuration trusting the certificates of the PEM bundle `pem` (`source`
/// names it in errors).
pub(crate) fn client_trusting(
    pem: &[u8],
    source: &str,
) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    // A system bundle may hold certificates rustls cannot use: they are skipped.
    for cert in CertificateDer::pem_slice_iter(pem).flatten() {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(format!("{source}: no usable certificate"));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(tls))
}

/// The client for OpenID providers (single sign-on of the web pages), trusting the configured
/// CA bundle (a bad one stops the node) or else the system's (None when it has no usable
/// certificate: a single sign-on then says why).
pub(crate) fn oidc_client(
    config: &crate::config::NodeConfig,
) -> anyhow::Result<Option<Arc<rustls::ClientConfig>>> {
    match &config.oidc_ca {
        Some(path) => {
            let pem = std::fs::read(path).with_context(|| {
                format!("reading the OpenID provider CA bundle {}", path.display())
            })?;
            Ok(Some(
                client_trusting(&pem, &path.display().to_string()).map_err(anyhow::Error::msg)?,
            ))
        }
        None => {
            let system = crate::config::DEFAULT_TARGET_CA;
            let pem = std::fs::read(system).unwrap_or_default();
            Ok(client_trusting(&pem, system).ok())
        }
    }
}

/// The directory client, trusting the configured CA bundle (a bad one stops the node) or else
/// the system's (None when it has no usable certificate: directory logins then fail, saying
/// why).
pub(crate) fn directory_client(
    config: &crate::config::NodeConfig,
) -> anyhow::Result<Option<crate::directory::Directory>> {
    match &config.directory_ca {
        Some(path) => {
            let pem = std::fs::read(path)
                .with_context(|| format!("reading the directory CA bundle {}", path.display()))?;
            let d = crate::directory::Directory::new(&pem, &path.display().to_string())
                .map_err(anyhow::Error::msg)?;
            Ok(Some(d))
        }
        None => {
            let system = crate::config::DEFAULT_TARGET_CA;
            let pem = std::fs::read(system).unwrap_or_default();
            match crate::directory::Directory::new(&pem, system) {
                Ok(d) => Ok(Some(d)),
                Err(why) => {
                    tracing::info!(%why, "LDAP and AD servers cannot be checked on this node");
                    Ok(None)
                }
            }
        }
    }
}

/// The client configurations for TLS to database targets, with the CA bundle configured (a
/// bad one stops the node) or else the system's (used as far as it is usable).
pub fn database_target_config(
    config: &crate::config::NodeConfig,
) -> anyhow::Result<portunus_proxy::db::tls::DatabaseTls> {
    use portunus_proxy::db::tls::DatabaseTls;
    let (ca, lenient) = match &config.database_target_ca {
        Some(path) => (
            Some((
                std::fs::read(path).with_context(|| {
                    format!("reading the database CA bundle {}", path.display())
                })?,
                path.display().to_string(),
            )),
            false,
        ),
        None => {
            let system = crate::config::DEFAULT_TARGET_CA;
            let pem = std::fs::read(system).ok();
            (pem.map(|pem| (pem, system.to_string())), true)
        }
    };
    let ca = ca
        .as_ref()
        .map(|(pem, name)| (pem.as_slice(), name.as_str()));
    let tls = DatabaseTls::new(ca, lenient).map_err(anyhow::Error::msg)?;
    if let Some(why) = tls.verify_unavailable() {
        tracing::info!(%why, "database targets' certificates cannot be verified on this node");
    }
    Ok(tls)
}

fn certified(
    data_dir: &Path,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> anyhow::Result<rustls::ServerConfig> {
    let (cert_path, key_path) = match (cert, key) {
        (Some(c), Some(k)) => (c.to_path_buf(), k.to_path_buf()),
        (None, None) => ensure_self_signed(data_dir)?,
        _ => anyhow::bail!("a TLS certificate and its key must be given together (--api-tls-cert and --api-tls-key)"),
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .with_context(|| format!("reading certificate {}", cert_path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing certificate {}", cert_path.display()))?;
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .with_context(|| format!("reading private key {}", key_path.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .with_context(|| {
            format!(
                "the certificate {} and its key do not match",
                cert_path.display()
            )
        })
}

fn ensure_self_signed(data_dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let cert_path = data_dir.join("api-tls-cert.pem");
    let key_path = data_dir.join("api-tls-key.pem");
    if cert_path.exists() && key_path.exists() {
        return Ok((cert_path, key_path));
    }
    let key = rcgen::KeyPair::generate()?;
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let mut params = rcgen::CertificateParams::new(names)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Portunus API");
    let cert = params.self_signed(&key)?;
    // The certificate first, both durably: the key's presence says the pair is complete.
    portunus_raft::durable::replace(&cert_path, cert.pem().as_bytes(), 0o644)?;
    crate::secret_file::write_private(&key_path, key.serialize_pem().as_bytes())?;
    Ok((cert_path, key_path))
}
