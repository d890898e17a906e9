//! The TOML configuration file: the same option names as the flags.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Contents of a `--config` file. Unknown keys are refused so that typos are not ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub node_id: Option<u64>,
    pub data_dir: Option<PathBuf>,
    pub ssh_listen: Option<String>,
    pub mysql_listen: Option<String>,
    pub postgres_listen: Option<String>,
    pub api_listen: Option<String>,
    pub metrics_listen: Option<String>,
    pub cluster_listen: Option<String>,
    pub cluster_advertise: Option<String>,
    pub peers: Option<String>,
    pub join: Option<String>,
    pub cluster_secret_file: Option<PathBuf>,
    pub seal_key_file: Option<PathBuf>,
    pub previous_seal_key_file: Option<String>,
    pub api_plaintext: Option<bool>,
    pub api_tls_cert: Option<PathBuf>,
    pub api_tls_key: Option<PathBuf>,
    pub database_tls_cert: Option<PathBuf>,
    pub database_tls_key: Option<PathBuf>,
    pub database_target_ca: Option<PathBuf>,
    pub database_splice: Option<bool>,
    pub proxy_protocol_from: Option<String>,
    pub audit_syslog: Option<String>,
    pub audit_syslog_ca: Option<PathBuf>,
    pub directory_ca: Option<PathBuf>,
    pub oidc_ca: Option<PathBuf>,
    pub witness: Option<bool>,
    pub drain_grace_secs: Option<u64>,
    pub snapshot_every: Option<u64>,
    pub log_format: Option<String>,
    pub log: Option<String>,
    /// The `[api]` table: limits of the API listener.
    pub api: Option<portunus_ops::ApiSettings>,
    /// The `[ssh]` table: SSH gateway settings.
    pub ssh: Option<portunus_proxy::ssh::SshSettings>,
}

impl FileConfig {
    /// Read and parse a file; errors name the file and the problem.
    pub fn load(path: &Path) -> Result<Self, super::ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| super::ConfigError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        toml::from_str(&text).map_err(|e| super::ConfigError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_refused_with_its_name() {
        let err = toml::from_str::<FileConfig>("node_id = 2\nssh_lisen = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("ssh_lisen"), "{err}");
    }

    #[test]
    fn wrong_type_is_refused() {
        assert!(toml::from_str::<FileConfig>("node_id = \"two\"").is_err());
    }
}
