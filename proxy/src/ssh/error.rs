//! Errors of the SSH gateway: what can go wrong between a client, the gate and a target.

use crate::gate::Refusal;

/// An SSH gateway error. [`SshError::is_retryable`] tells transient failures from fatal ones.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// The gate refused; the message is meant for the engineer.
    #[error("{0}")]
    Refused(#[from] Refusal),
    /// The SSH protocol layer failed.
    #[error("ssh: {0}")]
    Ssh(#[from] russh::Error),
    /// A socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The target could not be reached through its network domain's proxies (which proxy
    /// said what; no secret).
    #[error("{0}")]
    Unreachable(String),
    /// The target's credential could not be used (bad key text).
    #[error("target credential unusable: {0}")]
    Credential(String),
    /// The target did not accept the hosted credential.
    #[error("the target refused the hosted credential for {account}")]
    TargetAuth { account: String },
    /// The target refused a channel request (shell, exec, subsystem).
    #[error("the target refused the {0} request")]
    TargetRequest(&'static str),
    /// The client went away or sent something out of order.
    #[error("client: {0}")]
    Client(&'static str),
}

impl SshError {
    /// True for failures worth retrying (target unreachable, no quorum, rate limit).
    pub fn is_retryable(&self) -> bool {
        use crate::gate::RefusalKind as K;
        match self {
            Self::Refused(r) => {
                matches!(r.kind, K::NoQuorum | K::RateLimited | K::ConcurrencyLimit)
            }
            Self::Io(_) | Self::Unreachable(_) => true,
            _ => false,
        }
    }

    /// Words for the engineer: refusals verbatim, other failures without internals.
    pub fn user_message(&self) -> String {
        match self {
            Self::Refused(r) => r.message.clone(),
            Self::Io(_) => "the target is unreachable".into(),
            Self::Ssh(_) => "the connection to the target failed".into(),
            other => other.to_string(),
        }
    }
}

/// The error type of the russh handlers.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct HandlerError(#[from] pub SshError);

impl From<russh::Error> for HandlerError {
    fn from(err: russh::Error) -> Self {
        Self(SshError::Ssh(err))
    }
}
