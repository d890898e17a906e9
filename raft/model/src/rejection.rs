//! Why a command was refused: typed, with a message naming the problem and an API error code.

use crate::ids::{EntityKind, NodeId, SessionId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which concurrency limit was hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LimitScope {
    /// `max_sessions_total`, the whole cluster.
    Total,
    /// `max_sessions_per_user`.
    User,
}

impl fmt::Display for LimitScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LimitScope::Total => "cluster",
            LimitScope::User => "per-user",
        })
    }
}

/// A refused command. A rejected command never changes the state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Rejection {
    #[error("the O&M token is unknown")]
    TokenUnknown,
    #[error("the O&M token has expired")]
    TokenExpired,
    #[error("the O&M token has no uses left")]
    TokenUsedUp,
    #[error("the O&M token has been revoked")]
    TokenRevoked,
    #[error("the O&M token was already renewed the maximum of {max} times")]
    TokenRenewLimit { max: u32 },
    #[error("the {scope} concurrent session limit of {limit} is reached")]
    ConcurrencyLimit { scope: LimitScope, limit: u32 },
    #[error("the user is locked")]
    UserLocked,
    #[error("the user is outside its validity period")]
    UserExpired,
    #[error("the user is not authorized for this asset and account")]
    NotAuthorized,
    #[error("{kind} {id} does not exist")]
    NotFound { kind: EntityKind, id: u64 },
    #[error("access key {access_key_id} does not exist")]
    AccessKeyNotFound { access_key_id: String },
    #[error("a {kind} named {name:?} already exists")]
    AlreadyExists { kind: EntityKind, name: String },
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter { name: String, reason: String },
    #[error("node {node_id} used epoch {given} but its current epoch is {current}")]
    StaleNodeEpoch {
        node_id: NodeId,
        given: u64,
        current: u64,
    },
    #[error("session {session_id} is already closed")]
    SessionClosed { session_id: SessionId },
    #[error("session {session_id} is not held by node {node_id}")]
    SessionNotOnNode {
        session_id: SessionId,
        node_id: NodeId,
    },
    #[error("the host key of host {host_id} does not match the trusted fingerprint")]
    HostKeyMismatch { host_id: u64 },
    #[error("the signature nonce has already been used")]
    NonceUsed,
    #[error(
        "too many signed API requests within the replay window: the cluster already remembers \
         {limit} signature nonces; retry later"
    )]
    NonceTableFull { limit: u32 },
    #[error(
        "too many signed API requests within the replay window with this AccessKey: it already \
         holds its share of {limit} signature nonces; retry later"
    )]
    NonceQuotaExceeded { limit: u32 },
    #[error("the user has no active TOTP authenticator")]
    TotpNotEnrolled,
    #[error(
        "the user's TOTP authenticator is already active; an administrator resets it \
         (ResetUserTotp) before a new enrolment"
    )]
    TotpAlreadyEnrolled,
    #[error("the verification code was already used")]
    TotpCodeUsed,
    #[error("the recovery code is not valid or was already used")]
    RecoveryCodeUnknown,
    #[error("too many wrong verification codes; try again later")]
    SecondFactorLocked,
    /// A control policy requires O&M approval for this asset and no approved request of the
    /// user covers it now.
    #[error(
        "O&M approval is required for this asset (control policy {policy:?}): submit an \
         approval request (CreateOperationTicket) and log on once it is approved, within its \
         validity period"
    )]
    ApprovalRequired { policy: String },
    #[error("the browser session is unknown or has ended")]
    WebSessionUnknown,
}

impl Rejection {
    /// Whether the same command may succeed if retried later unchanged (a slot may free up).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Rejection::ConcurrencyLimit { .. }
                | Rejection::NonceTableFull { .. }
                | Rejection::NonceQuotaExceeded { .. }
        )
    }

    /// Bastionhost-style error code.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::TokenUnknown => "Token.NotFound",
            Rejection::TokenExpired => "Token.Expired",
            Rejection::TokenUsedUp => "Token.CountExhausted",
            Rejection::TokenRevoked => "Token.Revoked",
            Rejection::TokenRenewLimit { .. } => "Token.RenewLimitExceeded",
            Rejection::ConcurrencyLimit { .. } => "Session.ConcurrencyLimit",
            Rejection::UserLocked => "User.Locked",
            Rejection::UserExpired => "User.Expired",
            Rejection::NotAuthorized => "Forbidden.NotAuthorized",
            Rejection::NotFound { .. } | Rejection::AccessKeyNotFound { .. } => "OBJECT_NOT_FOUND",
            Rejection::AlreadyExists { .. } => "OBJECT_AlREADY_EXISTS",
            Rejection::InvalidParameter { .. } => "InvalidParameter",
            Rejection::StaleNodeEpoch { .. } => "Node.StaleEpoch",
            Rejection::SessionClosed { .. } => "Session.Closed",
            Rejection::SessionNotOnNode { .. } => "Session.WrongNode",
            Rejection::HostKeyMismatch { .. } => "Host.KeyMismatch",
            Rejection::NonceUsed => "SignatureNonceUsed",
            Rejection::NonceTableFull { .. } | Rejection::NonceQuotaExceeded { .. } => "Throttling",
            Rejection::TotpNotEnrolled => "TwoFactor.NotEnrolled",
            Rejection::TotpAlreadyEnrolled => "TwoFactor.AlreadyEnrolled",
            Rejection::TotpCodeUsed => "TwoFactor.CodeUsed",
            Rejection::RecoveryCodeUnknown => "TwoFactor.RecoveryCodeInvalid",
            Rejection::SecondFactorLocked => "TwoFactor.Locked",
            Rejection::ApprovalRequired { .. } => "Operation.ApprovalRequired",
            Rejection::WebSessionUnknown => "WebSessionUnknown",
        }
    }

    /// The HTTP status the API should answer with.
    pub fn http_status(&self) -> u16 {
        match self {
            Rejection::NotFound { .. } | Rejection::AccessKeyNotFound { .. } => 404,
            Rejection::AlreadyExists { .. }
            | Rejection::SessionClosed { .. }
            | Rejection::TotpAlreadyEnrolled => 409,
            Rejection::TotpNotEnrolled => 400,
            Rejection::ConcurrencyLimit { .. }
            | Rejection::NonceTableFull { .. }
            | Rejection::NonceQuotaExceeded { .. } => 429,
            Rejection::InvalidParameter { .. }
            | Rejection::TokenRenewLimit { .. }
            | Rejection::NonceUsed => 400,
            Rejection::StaleNodeEpoch { .. } | Rejection::SessionNotOnNode { .. } => 409,
            _ => 403,
        }
    }

    /// Shorthand for [`Rejection::InvalidParameter`].
    pub fn invalid(name: &str, reason: impl Into<String>) -> Self {
        Rejection::InvalidParameter {
            name: name.to_string(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Rejection::NotFound`].
    pub fn not_found(kind: EntityKind, id: u64) -> Self {
        Rejection::NotFound { kind, id }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_codes_name_the_problem() {
        let r = Rejection::not_found(EntityKind::Host, 7);
        assert_eq!(r.to_string(), "host 7 does not exist");
        assert_eq!(r.code(), "OBJECT_NOT_FOUND");
        let c = Rejection::ConcurrencyLimit {
            scope: LimitScope::User,
            limit: 2,
        };
        assert!(c.is_retryable());
        assert!(c.to_string().contains("per-user"));
        assert!(!Rejection::TokenExpired.is_retryable());
    }
}
