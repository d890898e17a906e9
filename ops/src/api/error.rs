//! API errors and their Bastionhost-style JSON rendering (`RequestId`, `Code`, `Message`).

use crate::BackendError;
use axum::http::StatusCode;
use portunus_model::Rejection;

/// Everything an API call can fail with. Messages never carry secrets.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "the input parameter \"{0}\" that is mandatory for processing this request is not supplied"
    )]
    MissingParameter(&'static str),
    #[error("the parameter \"{name}\" is invalid: {reason}")]
    InvalidParameter { name: String, reason: String },
    #[error("the specified action is not valid")]
    InvalidAction,
    #[error("the specified API version is not valid")]
    InvalidVersion,
    #[error("{0} is not supported yet")]
    NotSupported(&'static str),
    /// An action of Alibaba Cloud's control plane that has no meaning on a self-hosted
    /// cluster: the message says why and what to use instead.
    #[error("{0}")]
    Inapplicable(&'static str),
    /// A check of settings against the server they name failed; the message says why.
    #[error("the check failed: {0}")]
    CheckFailed(String),
    #[error("the request is not signed correctly: {0}")]
    IncompleteSignature(&'static str),
    /// An unknown or disabled AccessKeyId and a wrong signature get this one answer, so that
    /// no caller learns which AccessKeyIds exist.
    #[error("the AccessKeyId or the signature is not valid")]
    SignatureDoesNotMatch,
    #[error(
        "the request timestamp (x-acs-date) is malformed, more than 15 minutes old or more than \
         5 minutes ahead of the server's clock"
    )]
    TimestampExpired,
    #[error("the signature nonce has already been used")]
    NonceUsed,
    #[error("the request body{} exceeds the limit of {limit} bytes", length.map(|n| format!(" ({n} bytes)")).unwrap_or_default())]
    BodyTooLarge { length: Option<u64>, limit: usize },
    #[error("the request body was not received within {0} seconds")]
    BodyTimeout(u64),
    #[error("the specified instance does not exist")]
    InstanceNotFound,
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Rejected(Rejection),
    /// No quorum, no answer in time, or the node is shutting down: the reason says which.
    #[error("the cluster cannot serve this request right now ({0}); retry later")]
    Unavailable(String),
    #[error("an internal error occurred")]
    Internal,
}

/// Result of an action handler: the response body without its `RequestId`.
pub type ApiResult = Result<serde_json::Map<String, serde_json::Value>, ApiError>;

impl ApiError {
    /// Shorthand for [`ApiError::InvalidParameter`].
    pub fn invalid(name: &str, reason: impl Into<String>) -> Self {
        ApiError::InvalidParameter {
            name: name.to_string(),
            reason: reason.into(),
        }
    }

    /// The Bastionhost error code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MissingParameter(_) => "MissingParameter",
            ApiError::InvalidParameter { .. } => "InvalidParameter",
            ApiError::InvalidAction => "InvalidAction.NotFound",
            ApiError::InvalidVersion => "InvalidVersion",
            ApiError::NotSupported(_) | ApiError::Inapplicable(_) => "OperationNotSupported",
            ApiError::CheckFailed(_) => "VerificationFailed",
            ApiError::IncompleteSignature(_) => "IncompleteSignature",
            ApiError::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            ApiError::TimestampExpired => "InvalidTimeStamp.Expired",
            ApiError::NonceUsed => "SignatureNonceUsed",
            ApiError::BodyTooLarge { .. } => "RequestBodyTooLarge",
            ApiError::BodyTimeout(_) => "RequestTimeout",
            ApiError::InstanceNotFound => "InvalidInstanceId.NotFound",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::Rejected(r) => r.code(),
            ApiError::Unavailable(_) => "ServiceUnavailable",
            ApiError::Internal => "InternalError",
        }
    }

    /// The HTTP status of the error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidAction | ApiError::InstanceNotFound => StatusCode::NOT_FOUND,
            ApiError::SignatureDoesNotMatch => StatusCode::FORBIDDEN,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Rejected(r) => {
                StatusCode::from_u16(r.http_status()).unwrap_or(StatusCode::BAD_REQUEST)
            }
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The JSON body of the error.
    pub fn body(&self, request_id: &str) -> serde_json::Value {
        serde_json::json!({
            "RequestId": request_id,
            "Code": self.code(),
            "Message": self.to_string(),
        })
    }
}

impl From<BackendError> for ApiError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::Rejected(r) => ApiError::Rejected(r),
            BackendError::Unavailable(why) => ApiError::Unavailable(why),
            BackendError::Internal(msg) => {
                tracing::warn!(error = %msg, "API backend error");
                ApiError::Internal
            }
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        ApiError::Rejected(r)
    }
}
