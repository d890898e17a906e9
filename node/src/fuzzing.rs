//! Entry points that feed arbitrary bytes to what a node reads from its operator: the
//! configuration file, parsed and resolved with the flags' defaults. For the fuzz targets
//! (`fuzz/`, `scripts/fuzz.sh`) and the randomized run with the unit tests. Each may return
//! errors, never panic.

use crate::config::{FileConfig, NodeConfig, UpArgs};

/// A configuration file: parsed, and when it parses, resolved into a node's configuration.
/// No path the input names is read or written: its paths are dropped, and its data directory
/// is replaced by a scratch directory of this process (where a single node's first resolution
/// writes a cluster secret).
pub fn config_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mut file) = toml::from_str::<FileConfig>(text) else {
        return;
    };
    file.data_dir = None;
    file.cluster_secret_file = None;
    file.seal_key_file = None;
    file.previous_seal_key_file = None;
    file.api_tls_cert = None;
    file.api_tls_key = None;
    file.database_tls_cert = None;
    file.database_tls_key = None;
    file.database_target_ca = None;
    file.audit_syslog_ca = None;
    file.directory_ca = None;
    file.oidc_ca = None;
    let args = UpArgs {
        data_dir: Some(scratch_dir()),
        ..Default::default()
    };
    let _ = NodeConfig::resolve_with(args, file);
}

/// A data directory for this process's resolutions.
pub fn scratch_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("portunus-fuzz-config-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use portunus_db::fuzzing::mutations;

    fn seeds() -> Vec<Vec<u8>> {
        vec![
            b"node_id = 2\npeers = \"1=10.0.0.1:7070,2=10.0.0.2:7070\"\nssh_listen = \"0.0.0.0:60022\"\nmysql_listen = \"off\"\nsnapshot_every = 500\n".to_vec(),
            b"api_listen = \"127.0.0.1:8443\"\nmetrics_listen = \"api\"\nproxy_protocol_from = \"10.0.0.0/8, 192.168.1.7\"\nlog_format = \"json\"\n[api]\nmax_body_bytes = 4096\n".to_vec(),
            b"witness = true\njoin = \"10.0.0.1:7070\"\ncluster_advertise = \"10.0.0.3:7070\"\n[ssh]\nmax_unauthenticated = 10\nlogin_grace_secs = 5\n".to_vec(),
            b"audit_syslog = \"tcp+tls://logs.example:6514\"\ndrain_grace_secs = 30\n".to_vec(),
        ]
    }

    #[test]
    fn the_configuration_file_survives_random_and_mutated_input() {
        for data in mutations(&seeds(), 0xc0f1_9f11_e5ee_d001, 4_000) {
            super::config_file(&data);
        }
        let _ = std::fs::remove_dir_all(super::scratch_dir());
    }
}
