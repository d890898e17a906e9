//! O&M tokens (GenerateAssetOperationToken): bound to a user, an asset and an account.

use crate::common::{AssetRef, Protocol};
use crate::ids::{HostAccountId, TokenHash, TokenId, UserId};
use crate::sealed::Sealed;
use serde::{Deserialize, Serialize};

/// The account an O&M token logs on with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenAccount {
    /// An account hosted in the bastion (host or database account id).
    Hosted(HostAccountId),
    /// A custom account whose credentials the user supplied when applying for the token.
    Custom {
        name: String,
        password: Option<Sealed>,
    },
}

/// An O&M token as stored: only its hash, never the token itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    pub id: TokenId,
    pub hash: TokenHash,
    pub user_id: UserId,
    pub asset: AssetRef,
    pub account: TokenAccount,
    pub protocol: Protocol,
    pub created_at_ms: u64,
    pub expire_at_ms: u64,
    pub has_count_limit: bool,
    /// Uses left when `has_count_limit`; meaningless otherwise.
    pub count_left: u32,
    pub renew_count: u32,
    pub max_renew_count: u32,
    pub revoked: bool,
    /// Successful spends so far.
    pub uses: u32,
    /// Who issued the token (the API caller), when it came through the API.
    pub issued_by: Option<TokenIssuer>,
    /// The database selected when the client names none (`DatabaseSchema`).
    pub database_schema: Option<String>,
    /// SHA1(SHA1(token)), for MySQL clients logging in to the gateway's native port with
    /// `mysql_native_password` (which never sends the token itself). Only on MySQL tokens.
    pub mysql_native: Option<[u8; 20]>,
    /// The SCRAM-SHA-256 verifier of the token, for PostgreSQL clients logging in to the
    /// gateway's native port (the token never crosses the network). Only on PostgreSQL tokens.
    pub pg_scram: Option<ScramVerifier>,
}

/// What checks a SCRAM-SHA-256 login without the password (RFC 5802's StoredKey and
/// ServerKey); the salt and iteration count are fixed by the gateway per user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramVerifier {
    pub stored_key: [u8; 32],
    pub server_key: [u8; 32],
}

/// Who issued a token: the AccessKey that signed the request and the user it acts as.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenIssuer {
    pub access_key_id: String,
    pub user_id: Option<UserId>,
}

impl Token {
    /// The API view of the token's limits.
    pub fn receipt(&self) -> TokenReceipt {
        TokenReceipt {
            token_id: self.id,
            expire_at_ms: self.expire_at_ms,
            has_count_limit: self.has_count_limit,
            count_left: self.count_left,
            renew_count: self.renew_count,
            max_renew_count: self.max_renew_count,
        }
    }
}

/// Request to issue a token; the caller generated the token and sends only its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewToken {
    pub token_hash: TokenHash,
    pub user_id: UserId,
    pub asset: AssetRef,
    pub account: TokenAccount,
    pub protocol: Protocol,
    /// Validity in seconds; `None` takes the cluster default.
    pub validity_secs: Option<u64>,
    /// Number of uses; `None` takes the cluster default, `Some(0)` means unlimited.
    pub use_count: Option<u32>,
    /// Who issues it (recorded on the token).
    pub issued_by: Option<TokenIssuer>,
    /// See [`Token::database_schema`].
    pub database_schema: Option<String>,
    /// See [`Token::mysql_native`].
    pub mysql_native: Option<[u8; 20]>,
    /// See [`Token::pg_scram`].
    pub pg_scram: Option<ScramVerifier>,
}

/// What the API returns about a token (CountLeft, ExpireTime, HasCountLimit, ...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenReceipt {
    pub token_id: TokenId,
    pub expire_at_ms: u64,
    pub has_count_limit: bool,
    pub count_left: u32,
    pub renew_count: u32,
    pub max_renew_count: u32,
}
