//! Why a portal request failed, as JSON `{"error": words}` with its HTTP status. The words never
//! carry internals or secrets.

use crate::port::{RefusalKind, WebRefusal};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use portunus_ops::BackendError;

/// A failed portal request.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// No session, or it ended.
    #[error("log in first (your session ended or you are not logged in)")]
    LoggedOut,
    /// The node refused (credentials, authorization, availability).
    #[error(transparent)]
    Refused(#[from] WebRefusal),
    /// A request that is not the portal's own (origin, CSRF token).
    #[error("refused: this request did not come from the portal's own page")]
    Forged,
    #[error("{0}")]
    BadRequest(String),
    /// A console page or action for a user without an Admin or Auditor role.
    #[error(
        "the administrator console is for administrators and auditors: your account holds \
         neither role (an enabled Admin or Auditor AccessKey of yours); your O&M portal is at /web/"
    )]
    NotConsole,
    /// The API refused a console call (its parameters, the role, the state).
    #[error("{0}")]
    Api(portunus_ops::api::ApiError),
    #[error("{0}")]
    NotFound(String),
    /// The state machine refused the change (not authorized, a limit, ...).
    #[error("refused: {0}")]
    Rejected(portunus_model::Rejection),
    #[error("the bastion cluster has no quorum right now; try again in a moment")]
    Unavailable,
    #[error("the bastion could not complete the request; try again")]
    Internal,
}

impl From<BackendError> for WebError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::Unavailable(_) => WebError::Unavailable,
            BackendError::Rejected(portunus_model::Rejection::WebSessionUnknown) => {
                WebError::LoggedOut
            }
            BackendError::Rejected(r) => WebError::Rejected(r),
            BackendError::Internal(e) => {
                tracing::warn!(error = %e, "web: backend failed");
                WebError::Internal
            }
        }
    }
}

impl WebError {
    fn status(&self) -> StatusCode {
        match self {
            WebError::LoggedOut => StatusCode::UNAUTHORIZED,
            WebError::Refused(r) => match r.kind {
                RefusalKind::Credentials => StatusCode::UNAUTHORIZED,
                RefusalKind::NotAuthorized => StatusCode::FORBIDDEN,
                RefusalKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                RefusalKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            },
            WebError::Forged => StatusCode::FORBIDDEN,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::NotConsole => StatusCode::FORBIDDEN,
            WebError::Api(e) => e.status(),
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::Rejected(r) => {
                StatusCode::from_u16(r.http_status()).unwrap_or(StatusCode::BAD_REQUEST)
            }
            WebError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl WebError {
    /// The code the API would answer with, for the admin audit trail.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            WebError::LoggedOut
            | WebError::Refused(_)
            | WebError::Forged
            | WebError::NotConsole => "Forbidden",
            WebError::BadRequest(_) => "InvalidParameter",
            WebError::Api(e) => e.code(),
            WebError::NotFound(_) => "NotFound",
            WebError::Rejected(r) => r.code(),
            WebError::Unavailable => "ServiceUnavailable",
            WebError::Internal => "InternalError",
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.to_string(), "code": self.code() });
        (self.status(), Json(body)).into_response()
    }
}
