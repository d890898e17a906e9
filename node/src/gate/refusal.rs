//! Turning the state machine's rejections into words for the engineer, after the
//! troubleshooting table of the product documents. Nothing here tells an attacker whether a user
//! exists.

use portunus_model::{LimitScope, Rejection};
use portunus_proxy::gate::{Refusal, RefusalKind};
use portunus_raft::ReplicaError;

pub(crate) fn refusal(kind: RefusalKind, message: impl Into<String>) -> Refusal {
    Refusal {
        kind,
        message: message.into(),
    }
}

/// The one answer for every failed credential check.
pub(crate) fn bad_credentials() -> Refusal {
    refusal(
        RefusalKind::BadCredentials,
        "Permission denied: wrong user name, password or O&M token",
    )
}

pub(crate) fn from_rejection(r: &Rejection) -> Refusal {
    use RefusalKind as K;
    match r {
        Rejection::TokenUnknown => bad_credentials(),
        Rejection::TokenExpired => refusal(
            K::TokenExpired,
            "Token expired before use: the token's validity period elapsed. Request a new token.",
        ),
        Rejection::TokenUsedUp => refusal(
            K::TokenUsedUp,
            "The O&M token has no uses left. Request a new token.",
        ),
        Rejection::TokenRevoked => refusal(
            K::TokenRevoked,
            "The O&M token was revoked. Request a new token.",
        ),
        Rejection::ConcurrencyLimit { scope, limit } => {
            let whose = match scope {
                LimitScope::Total => "the bastion's",
                LimitScope::User => "your",
            };
            refusal(
                K::ConcurrencyLimit,
                format!(
                    "Concurrent O&M connection limit reached ({whose} limit is {limit}). Contact \
                     your administrator or release idle connections."
                ),
            )
        }
        Rejection::UserLocked => refusal(
            K::UserLocked,
            "Your account is locked. Contact your administrator.",
        ),
        Rejection::UserExpired => refusal(
            K::NotAuthorized,
            "Your account is outside its validity period. Contact your administrator.",
        ),
        Rejection::NotAuthorized | Rejection::NotFound { .. } => refusal(
            K::NotAuthorized,
            "You are not authorized to reach this asset with this account.",
        ),
        Rejection::HostKeyMismatch { .. } => refusal(
            K::HostKeyMismatch,
            "The target's host key differs from the trusted one: refusing to connect. Ask your \
             administrator to check the host.",
        ),
        Rejection::ApprovalRequired { .. } => refusal(K::NotAuthorized, r.to_string()),
        other => refusal(K::Internal, format!("Refused: {other}")),
    }
}

pub(crate) fn from_replica(e: &ReplicaError) -> Refusal {
    match e {
        ReplicaError::Rejected(r) => from_rejection(r),
        ReplicaError::NoQuorum(_) => refusal(
            RefusalKind::NoQuorum,
            "The bastion cluster has no quorum right now; try again in a moment (another node may serve you).",
        ),
        ReplicaError::ShuttingDown => refusal(RefusalKind::Draining, "This bastion node is shutting down; reconnect."),
        _ => refusal(RefusalKind::Internal, "The bastion could not complete the request; try again."),
    }
}
