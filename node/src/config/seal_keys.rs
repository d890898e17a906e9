//! Loading the sealing keys of `portunus up`: `--seal-key-file` (generated beside the data
//! directory on a single node's first start when not given) and `--previous-seal-key-file`.
//! Witnesses never hold one.

use super::{ConfigError, Role};
use crate::seal::{SealKey, Sealer, GENERATE};
use std::path::{Path, PathBuf};

/// Where a node keeps its sealing key when `--seal-key-file` is not given: beside the data
/// directory (`portunus-data.seal-key` for `portunus-data`), not inside it, so that a copy of
/// the data directory does not carry the key that opens its secrets.
pub fn default_seal_key_path(data_dir: &Path) -> Option<PathBuf> {
    let name = data_dir.file_name()?.to_str()?;
    Some(data_dir.with_file_name(format!("{name}.seal-key")))
}

fn err(text: String) -> ConfigError {
    ConfigError::SealKey(text)
}

fn read_key(option: &str, path: &Path) -> Result<SealKey, ConfigError> {
    let bytes = std::fs::read(path)
        .map_err(|e| err(format!("{option} {}: cannot read it: {e}", path.display())))?;
    SealKey::parse(&bytes).map_err(|e| err(format!("{option} {}: {e}", path.display())))
}

/// Whether the data directory has been used by a node before.
fn used_before(data_dir: &Path) -> bool {
    data_dir.join("identity.toml").exists()
}

/// The default key of a single node: read, or generated on the data directory's first use.
fn default_key(data_dir: &Path, single: bool) -> Result<SealKey, ConfigError> {
    let Some(path) = default_seal_key_path(data_dir).filter(|_| single) else {
        return Err(err(format!(
            "a cluster of several nodes needs the same sealing key on every node except \
             witnesses: give --seal-key-file; {GENERATE}"
        )));
    };
    if !path.exists() {
        if used_before(data_dir) {
            return Err(err(format!(
                "{} is missing and the data directory {} was used before: its secrets were \
                 sealed under a key that is not there (give it with --seal-key-file)",
                path.display(),
                data_dir.display()
            )));
        }
        let text = SealKey::generate_text().map_err(|e| err(e.to_string()))?;
        crate::secret_file::write_private(&path, text.as_bytes()).map_err(|e| {
            err(format!(
                "cannot write {} (give --seal-key-file to keep the key elsewhere): {e}",
                path.display()
            ))
        })?;
    }
    read_key("sealing key file", &path)
}

/// Where the sealing keys come from, kept to read them again (SIGHUP).
#[derive(Clone, Debug, Default)]
pub struct SealKeySource {
    file: Option<PathBuf>,
    previous: Option<String>,
    data_dir: PathBuf,
    single: bool,
    witness: bool,
}

impl SealKeySource {
    /// Reads the key files again, as at start (a missing default key is never made anew,
    /// since the data directory was used by then).
    pub fn load(&self) -> Result<Sealer, ConfigError> {
        let role = if self.witness {
            Role::Witness
        } else {
            Role::Engine
        };
        load(
            self.file.clone(),
            self.previous.clone(),
            &self.data_dir,
            self.single,
            role,
        )
    }

    /// The files read, for messages: the current key's, then the previous ones.
    pub fn describe(&self) -> String {
        let current = match self
            .file
            .clone()
            .or_else(|| default_seal_key_path(&self.data_dir))
        {
            Some(f) => f.display().to_string(),
            None => "(none)".into(),
        };
        match &self.previous {
            Some(p) => format!("--seal-key-file {current}, --previous-seal-key-file {p}"),
            None => format!("--seal-key-file {current}"),
        }
    }
}

/// The sealer `portunus up` starts with, and where its keys come from.
pub(super) fn load_at_start(
    file: Option<PathBuf>,
    previous: Option<String>,
    data_dir: &Path,
    single: bool,
    role: Role,
) -> Result<(Sealer, SealKeySource), ConfigError> {
    let source = SealKeySource {
        file,
        previous,
        data_dir: data_dir.to_path_buf(),
        single,
        witness: role == Role::Witness,
    };
    Ok((source.load()?, source))
}

/// The sealer of the keys given.
fn load(
    file: Option<PathBuf>,
    previous: Option<String>,
    data_dir: &Path,
    single: bool,
    role: Role,
) -> Result<Sealer, ConfigError> {
    if role == Role::Witness {
        if file.is_some() || previous.is_some() {
            return Err(err(
                "a witness never opens secrets and must not hold the sealing key: drop \
                 --seal-key-file and --previous-seal-key-file"
                    .into(),
            ));
        }
        return Ok(Sealer::absent());
    }
    let current = match &file {
        Some(path) => read_key("--seal-key-file", path)?,
        None => default_key(data_dir, single)?,
    };
    let mut old = Vec::new();
    for path in previous.iter().flat_map(|p| p.split(',')).map(str::trim) {
        if !path.is_empty() {
            old.push(read_key("--previous-seal-key-file", Path::new(path))?);
        }
    }
    Ok(Sealer::new(current, old))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_node_generates_its_key_beside_the_data_dir_once() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("portunus-data");
        let a = load(None, None, &data, true, Role::Engine).unwrap();
        let path = dir.path().join("portunus-data.seal-key");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = load(None, None, &data, true, Role::Engine).unwrap();
        assert_eq!(a.current_id(), b.current_id());
        assert!(!data.exists(), "nothing is written inside the data dir");
    }

    #[test]
    fn missing_or_bad_keys_are_refused_with_the_option_named() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("d");
        let e = load(None, None, &data, false, Role::Engine)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--seal-key-file") && e.contains("openssl"),
            "{e}"
        );
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("identity.toml"), "").unwrap();
        let e = load(None, None, &data, true, Role::Engine)
            .unwrap_err()
            .to_string();
        assert!(e.contains("used before"), "{e}");
        let weak = dir.path().join("weak");
        std::fs::write(&weak, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n").unwrap();
        let e = load(Some(weak.clone()), None, &data, true, Role::Engine)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--seal-key-file") && e.contains("weak"), "{e}");
        let good = dir.path().join("good");
        std::fs::write(&good, SealKey::generate_text().unwrap()).unwrap();
        let e = load(
            Some(good.clone()),
            Some(weak.display().to_string()),
            &data,
            true,
            Role::Engine,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("--previous-seal-key-file"), "{e}");
        let e = load(Some(good), None, &data, false, Role::Witness)
            .unwrap_err()
            .to_string();
        assert!(e.contains("witness"), "{e}");
        assert!(load(None, None, &data, false, Role::Witness)
            .unwrap()
            .current_id()
            .is_none());
    }
}
