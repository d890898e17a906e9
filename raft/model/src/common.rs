//! Small shared value types: protocols, asset references, sources and validity windows.

use crate::ids::{DatabaseId, HostId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A time window in unix milliseconds; `None` bounds are open. `start` is inclusive, `end`
/// exclusive.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Validity {
    pub start_ms: Option<u64>,
    pub end_ms: Option<u64>,
}

impl Validity {
    /// A window with no bounds.
    pub const ALWAYS: Validity = Validity {
        start_ms: None,
        end_ms: None,
    };

    /// A window `[start_ms, end_ms)`.
    pub fn between(start_ms: u64, end_ms: u64) -> Self {
        Validity {
            start_ms: Some(start_ms),
            end_ms: Some(end_ms),
        }
    }

    /// Whether `now_ms` lies inside the window.
    pub fn contains(&self, now_ms: u64) -> bool {
        self.start_ms.is_none_or(|s| now_ms >= s) && self.end_ms.is_none_or(|e| now_ms < e)
    }

    /// Whether the start precedes the end when both are given.
    pub fn is_well_formed(&self) -> bool {
        match (self.start_ms, self.end_ms) {
            (Some(s), Some(e)) => s < e,
            _ => true,
        }
    }
}

/// An O&M protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Protocol {
    Ssh,
    Rdp,
    MySql,
    PostgreSql,
    SqlServer,
    Oracle,
}

impl Protocol {
    /// The Bastionhost API spelling (`SSH`, `RDP`, `MySQL`, ...).
    pub fn api_name(self) -> &'static str {
        match self {
            Protocol::Ssh => "SSH",
            Protocol::Rdp => "RDP",
            Protocol::MySql => "MySQL",
            Protocol::PostgreSql => "PostgreSQL",
            Protocol::SqlServer => "SQLServer",
            Protocol::Oracle => "Oracle",
        }
    }

    /// Whether the protocol reaches hosts (as opposed to databases).
    pub fn is_host_protocol(self) -> bool {
        matches!(self, Protocol::Ssh | Protocol::Rdp)
    }

    /// The default service port of the protocol.
    pub fn default_port(self) -> u16 {
        match self {
            Protocol::Ssh => 22,
            Protocol::Rdp => 3389,
            Protocol::MySql => 3306,
            Protocol::PostgreSql => 5432,
            Protocol::SqlServer => 1433,
            Protocol::Oracle => 1521,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.api_name())
    }
}

/// The type of an asset (`AssetType` in the API).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AssetType {
    Host,
    Database,
}

/// A reference to one asset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AssetRef {
    Host(HostId),
    Database(DatabaseId),
}

impl AssetRef {
    /// The type of the referenced asset.
    pub fn asset_type(self) -> AssetType {
        match self {
            AssetRef::Host(_) => AssetType::Host,
            AssetRef::Database(_) => AssetType::Database,
        }
    }

    /// The numeric id of the referenced asset.
    pub fn id(self) -> u64 {
        match self {
            AssetRef::Host(id) | AssetRef::Database(id) => id,
        }
    }
}

/// Where an asset was imported from.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum AssetSource {
    #[default]
    Local,
    Ecs,
    Rds,
    PolarDb,
    Other,
}

#[cfg(test)]
mod tests {
    use super::Validity;

    #[test]
    fn validity_is_half_open() {
        let v = Validity::between(10, 20);
        assert!(!v.contains(9));
        assert!(v.contains(10));
        assert!(v.contains(19));
        assert!(!v.contains(20));
        assert!(Validity::ALWAYS.contains(0));
        assert!(!Validity::between(5, 5).is_well_formed());
    }
}
