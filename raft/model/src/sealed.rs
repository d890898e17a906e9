//! Opaque ciphertext of a credential sealed outside the model, the purposes a sealed value is
//! bound to, and where each sealed value lives in the state ([`SealedAt`]), so that a re-seal
//! after a key rotation can name every one of them.

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

/// The sealing purposes, one per kind of hosted secret, bound as associated data so that a
/// sealed value cannot be moved to another field. One home for the node and the API.
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
    pub const TOTP_SECRET: &str = "user totp secret";
    pub const OIDC_CLIENT_SECRET: &str = "oidc client secret";
}

/// Where a sealed value is kept in the state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SealedAt {
    HostAccountPassword(u64),
    HostAccountPrivateKey(u64),
    SharedKey(u64),
    DatabaseAccountPassword(u64),
    TokenAccountPassword(u64),
    SshHostKey,
    AccessKeySecret(String),
    LdapBindPassword,
    AdBindPassword,
    /// The password of proxy number `index` of a network domain.
    NetworkProxyPassword {
        domain: u64,
        index: u32,
    },
    /// The TOTP secret of a user.
    TotpSecret(u64),
    /// The client secret of the OpenID Connect registration.
    OidcClientSecret,
}

impl SealedAt {
    /// The purpose the value at this place is sealed for.
    pub fn purpose(&self) -> &'static str {
        match self {
            SealedAt::HostAccountPassword(_) => purpose::HOST_PASSWORD,
            SealedAt::HostAccountPrivateKey(_) => purpose::HOST_PRIVATE_KEY,
            SealedAt::SharedKey(_) => purpose::SHARED_KEY,
            SealedAt::DatabaseAccountPassword(_) => purpose::DATABASE_PASSWORD,
            SealedAt::TokenAccountPassword(_) => purpose::TOKEN_ACCOUNT_PASSWORD,
            SealedAt::SshHostKey => purpose::SSH_HOST_KEY,
            SealedAt::AccessKeySecret(_) => purpose::ACCESS_KEY_SECRET,
            SealedAt::LdapBindPassword | SealedAt::AdBindPassword => {
                purpose::DIRECTORY_BIND_PASSWORD
            }
            SealedAt::NetworkProxyPassword { .. } => purpose::NETWORK_PROXY_PASSWORD,
            SealedAt::TotpSecret(_) => purpose::TOTP_SECRET,
            SealedAt::OidcClientSecret => purpose::OIDC_CLIENT_SECRET,
        }
    }
}

/// One value sealed again: replaced only while the state still holds `old` there, so that a
/// value changed meanwhile is never overwritten with an older secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resealed {
    pub at: SealedAt,
    pub old: Sealed,
    pub new: Sealed,
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
