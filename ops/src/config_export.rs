//! The configuration backup document: what `CreateExportConfigJob` stores and
//! `GetExportConfigJob` hands out, and what `portunus cluster import-config` reads back.

use portunus_model::Configuration;
use serde::{Deserialize, Serialize};

/// The `Format` every document carries, so that another JSON file is recognised as not one.
pub const FORMAT: &str = "portunus-configuration";

/// One configuration export.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigDocument {
    pub format: String,
    /// The instance it was taken from.
    pub instance_id: String,
    /// When, in unix milliseconds.
    pub created_at: u64,
    /// The sealing key its new secrets were sealed under (every secret in it is sealed; a
    /// restore needs the same sealing key file).
    pub seal_key_id: Option<String>,
    pub configuration: Configuration,
}

impl ConfigDocument {
    /// Reads a document, naming what is wrong with one that is not.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let doc: ConfigDocument = serde_json::from_slice(bytes).map_err(|e| {
            format!("not a Portunus configuration export (GetExportConfigJob's download): {e}")
        })?;
        if doc.format != FORMAT {
            return Err(format!(
                "its Format is {:?}, not {FORMAT:?}: not a Portunus configuration export",
                doc.format
            ));
        }
        Ok(doc)
    }

    /// A one-line summary: where it comes from and what it holds.
    pub fn summary(&self) -> String {
        let counts: Vec<String> = self
            .configuration
            .counts()
            .into_iter()
            .map(|(what, n)| format!("{n} {what}"))
            .collect();
        format!(
            "the configuration of {} (state format {}): {}",
            self.instance_id,
            self.configuration.format,
            counts.join(", ")
        )
    }
}
