//! Opaque ciphertext of a credential sealed with the cluster key outside the model.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Ciphertext of a secret (password, private key, API secret). The model stores and replicates it
/// but never opens it; `Debug` prints `<sealed>` so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Sealed(pub Vec<u8>);

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<sealed>")
    }
}

#[cfg(test)]
mod tests {
    use super::Sealed;

    #[test]
    fn debug_hides_bytes() {
        let s = Sealed(vec![0x41, 0x42, 0x43]);
        assert_eq!(format!("{s:?}"), "<sealed>");
        assert_eq!(format!("{:?}", Some(s)), "Some(<sealed>)");
    }
}
