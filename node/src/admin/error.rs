//! Errors of the admin API in AWS's shape: an HTTP status, an error type (sent in the
//! `x-amzn-ErrorType` header, which botocore reads as the error code) and a message (sent as
//! `{"message": "…"}`).

use tollgate_consensus::ProposeError;
use tollgate_proto::ApplyError;

/// AWS's message for a change that lost a race with another change of the same thing.
pub const CONCURRENT_MODIFICATION: &str =
    "Unable to complete operation due to concurrent modification. Please try again later.";

/// An error answer of the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status code.
    pub status: u16,
    /// AWS error type, e.g. `NotFoundException`.
    pub error_type: &'static str,
    /// Human-readable message.
    pub message: String,
}

impl ApiError {
    fn new(status: u16, error_type: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            error_type,
            message: message.into(),
        }
    }

    /// 400 `BadRequestException`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequestException", message)
    }

    /// 404 `NotFoundException`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "NotFoundException", message)
    }

    /// 409 `ConflictException`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, "ConflictException", message)
    }

    /// 409 `ConflictException` of a write that found what it read changed by another write
    /// (AWS's concurrent-modification answer). `detail` goes to the log, not the caller.
    pub fn concurrent_modification(detail: impl std::fmt::Display) -> Self {
        tracing::debug!(%detail, "concurrent modification");
        Self::new(409, "ConflictException", CONCURRENT_MODIFICATION)
    }

    /// Whether this is [`ApiError::concurrent_modification`].
    pub fn is_concurrent_modification(&self) -> bool {
        self.status == 409 && self.message == CONCURRENT_MODIFICATION
    }

    /// 404 `UnknownOperationException`: no operation has this method and path.
    pub fn unknown_operation() -> Self {
        Self::new(404, "UnknownOperationException", "Unknown operation")
    }

    /// 413 `RequestEntityTooLargeException`.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "RequestEntityTooLargeException",
            format!("Request body is larger than {limit} bytes"),
        )
    }

    /// 503 `ServiceUnavailableException`: the change could not be made durable.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, "ServiceUnavailableException", message)
    }

    /// 500 `InternalFailure`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalFailure", message)
    }

    /// An error of another AWS service's protocol (IAM's `NoSuchEntity`, …), its code as the
    /// type.
    pub fn with_code(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self::new(status, code, message)
    }

    /// An authentication failure with the status, type and message the verifier chose.
    pub fn auth(status: u16, error_type: &'static str, message: String) -> Self {
        Self::new(status, error_type, message)
    }

    /// The standard "not found" of an identifier: `Invalid {what} identifier specified: {id}`
    /// (the registry's wording, so reads and writes say the same).
    pub fn invalid_id(what: &str, id: &str) -> Self {
        Self::not_found(format!("Invalid {what} identifier specified: {id}"))
    }

    /// The JSON body of this error.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({ "message": self.message }))
            .unwrap_or_else(|_| b"{}".to_vec())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.error_type, self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<ApplyError> for ApiError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::NotFound(m) => ApiError::not_found(m),
            ApplyError::Conflict(m) => ApiError::conflict(m),
            ApplyError::BadRequest(m) => ApiError::bad_request(m),
            ApplyError::Changed(m) => ApiError::concurrent_modification(m),
        }
    }
}

impl From<ProposeError> for ApiError {
    fn from(e: ProposeError) -> Self {
        tracing::error!(error = %e, "admin API: a change could not be committed");
        ApiError::unavailable(format!("The change could not be committed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_errors_map_to_aws_types() {
        let e: ApiError = ApplyError::NotFound("x".into()).into();
        assert_eq!((e.status, e.error_type), (404, "NotFoundException"));
        let e: ApiError = ApplyError::Conflict("x".into()).into();
        assert_eq!((e.status, e.error_type), (409, "ConflictException"));
        let e: ApiError = ApplyError::BadRequest("x".into()).into();
        assert_eq!((e.status, e.error_type), (400, "BadRequestException"));
        let e: ApiError = ProposeError::Stopped.into();
        assert_eq!(e.status, 503);
    }

    #[test]
    fn body_is_a_message_object() {
        let e = ApiError::bad_request("say \"hi\"");
        let v: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(v, serde_json::json!({ "message": "say \"hi\"" }));
    }
}
