//! The one error type of an export and the one place that maps it to a
//! status and a JSON body. Internal causes go to the log, never to the client.

use http::StatusCode;
use serde_json::json;

/// Every way an export request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The request is malformed or breaks a documented constraint: 400.
    #[error("{0}")]
    Validation(String),
    /// The request body is larger than the documented maximum: 413.
    #[error("request body exceeds {limit} bytes")]
    PayloadTooLarge {
        /// The documented maximum, in bytes.
        limit: usize,
    },
    /// Missing, malformed, expired or badly signed token: 401. The reason is
    /// for the log only; every client gets [`UNAUTHORIZED_MESSAGE`].
    #[error("{0}")]
    Unauthorized(String),
    /// A valid token that does not grant access to an organization: 403.
    #[error("{0}")]
    Forbidden(String),
    /// The selection resolved to no lead: 400 with the reference's plain body.
    #[error("No data to export")]
    NoData,
    /// `exportFields` was given but held no known field id: the reference
    /// documents this as a 500.
    #[error("No valid export fields specified")]
    NoValidFields,
    /// Only `POST` is served.
    #[error("method {0} is not allowed; use POST")]
    MethodNotAllowed(String),
    /// A route served with another method only (`GET` of an export job's
    /// status): 405 with `Allow`.
    #[error("method {method} is not allowed; use {allow}")]
    MethodNotAllowedUse {
        /// The method of the request.
        method: String,
        /// The method the route serves.
        allow: &'static str,
    },
    /// No such resource of the caller's organization (an export job of
    /// another organization is one): 404. The message says what was not
    /// found, never whether it exists elsewhere.
    #[error("{0}")]
    NotFound(&'static str),
    /// The invocation's deadline came before the export was done: 504. The
    /// stage that was cut goes to the log.
    #[error("deadline reached while {stage}")]
    Timeout {
        /// What the export was doing when the deadline came.
        stage: &'static str,
    },
    /// DynamoDB or S3 throttled, timed out or failed on their side, past our
    /// retries: 503 with `Retry-After`. The cause is logged only.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Any other failure (DynamoDB, S3, ...). The cause is logged, the client
    /// gets a generic message.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Whether a failure of DynamoDB or S3 may pass when the client retries
/// (throttling, timeouts, 5xx) or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Throttling, a timeout, a 5xx or a connection failure: worth a retry.
    Transient,
    /// Anything else: a bug, a permission, a bad item.
    Other,
}

/// A failure of a backing service (DynamoDB, S3): its kind and a message
/// for the log only. Each backend's error type is made from one
/// (`From<Fault>`), so an SDK error is wrapped in one place
/// ([`crate::aws::sdk_error`]).
#[derive(Debug, Clone)]
pub struct Fault {
    /// Transient (throttling, timeout, 5xx) or not.
    pub kind: FaultKind,
    /// What failed, for the log.
    pub message: String,
}

impl From<Fault> for ExportError {
    /// Transient → 503, anything else → 500.
    fn from(fault: Fault) -> Self {
        ExportError::from_fault(fault.kind, fault.message)
    }
}

impl ExportError {
    /// The error of a backing-service failure of `kind`.
    pub fn from_fault(kind: FaultKind, cause: impl std::fmt::Display) -> Self {
        match kind {
            FaultKind::Transient => ExportError::Unavailable(cause.to_string()),
            FaultKind::Other => ExportError::Internal(cause.to_string()),
        }
    }
}

/// The one message a client sees for any token failure.
pub const UNAUTHORIZED_MESSAGE: &str = "Invalid or missing bearer token";

/// The message a client sees for an internal failure.
pub const INTERNAL_MESSAGE: &str = "An internal error occurred while generating the export";
/// The message a client sees when the deadline cut the export.
pub const TIMEOUT_MESSAGE: &str =
    "The export could not be completed in time; try a smaller selection or retry later";
/// The message a client sees for a transient failure of DynamoDB or S3.
pub const UNAVAILABLE_MESSAGE: &str =
    "The export service is temporarily unavailable; retry after the delay in Retry-After";
/// The `Retry-After` of a 503, in seconds.
pub const RETRY_AFTER_SECONDS: u32 = 2;
/// The `Retry-After` of a 504, in seconds: what a bulk range counted before
/// the deadline is kept (`docs/scale.md`), so the same request again goes
/// further; a second lets the partition's read capacity refill a little.
pub const TIMEOUT_RETRY_AFTER_SECONDS: u32 = 1;

impl ExportError {
    /// The cause the log line carries, if any: never a value of the
    /// request or of a stored item. A validation message (which may quote
    /// the request: an unknown key, a mode, a lead id) goes to the client
    /// only, so the log has its code alone; a refused method is not named.
    /// The other causes are built from fixed text, operation names, error
    /// codes, HTTP statuses and positions ([`crate::aws::describe`],
    /// `store`, `deliver`, `audit`).
    pub fn log_cause(&self) -> Option<String> {
        match self {
            ExportError::Validation(_) => None,
            ExportError::MethodNotAllowed(_) | ExportError::MethodNotAllowedUse { .. } => {
                Some("method not allowed".into())
            }
            other => Some(other.to_string()),
        }
    }

    /// Wraps any internal cause.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ExportError::Internal(cause.to_string())
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ExportError::Validation(_) | ExportError::NoData => StatusCode::BAD_REQUEST,
            ExportError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ExportError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ExportError::Forbidden(_) => StatusCode::FORBIDDEN,
            ExportError::MethodNotAllowed(_) | ExportError::MethodNotAllowedUse { .. } => {
                StatusCode::METHOD_NOT_ALLOWED
            }
            ExportError::NotFound(_) => StatusCode::NOT_FOUND,
            ExportError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ExportError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ExportError::NoValidFields | ExportError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The JSON body of this error, as the reference documents it.
    pub fn body(&self) -> serde_json::Value {
        let (code, message) = match self {
            ExportError::NoData => return json!({ "error": "No data to export" }),
            ExportError::Validation(m) => ("VALIDATION_ERROR", m.clone()),
            ExportError::PayloadTooLarge { .. } => ("VALIDATION_ERROR", self.to_string()),
            ExportError::Unauthorized(_) => ("UNAUTHORIZED", UNAUTHORIZED_MESSAGE.to_string()),
            ExportError::Forbidden(m) => ("FORBIDDEN", m.clone()),
            ExportError::MethodNotAllowed(_) | ExportError::MethodNotAllowedUse { .. } => {
                ("METHOD_NOT_ALLOWED", self.to_string())
            }
            ExportError::NotFound(m) => ("NOT_FOUND", m.to_string()),
            ExportError::NoValidFields => ("INTERNAL_ERROR", self.to_string()),
            ExportError::Timeout { .. } => ("EXPORT_TIMEOUT", TIMEOUT_MESSAGE.to_string()),
            ExportError::Unavailable(_) => ("SERVICE_UNAVAILABLE", UNAVAILABLE_MESSAGE.to_string()),
            ExportError::Internal(_) => ("INTERNAL_ERROR", INTERNAL_MESSAGE.to_string()),
        };
        json!({ "error": { "code": code, "message": message } })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_cause_never_reaches_the_body() {
        let err = ExportError::internal("dynamodb: connection refused to 10.0.0.1");
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = err.body().to_string();
        assert!(!body.contains("10.0.0.1"), "{body}");
        assert!(body.contains("INTERNAL_ERROR"));
    }

    #[test]
    fn no_data_has_the_plain_reference_body() {
        assert_eq!(
            ExportError::NoData.body(),
            json!({"error": "No data to export"})
        );
        assert_eq!(ExportError::NoData.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn timeouts_and_transient_faults_keep_their_cause_in_the_log() {
        let err = ExportError::Timeout {
            stage: "reading the leads",
        };
        assert_eq!(err.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(err.body()["error"]["code"], "EXPORT_TIMEOUT");
        assert!(err.to_string().contains("reading the leads"));
        let err = ExportError::from_fault(FaultKind::Transient, "Query: ThrottlingException");
        assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(err.body()["error"]["code"], "SERVICE_UNAVAILABLE");
        assert!(!err.body().to_string().contains("Throttling"));
        let err = ExportError::from_fault(FaultKind::Other, "AccessDenied");
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(err.body()["error"]["message"], INTERNAL_MESSAGE);
    }

    #[test]
    fn the_log_never_gets_a_message_that_may_quote_the_request() {
        let quoting = ExportError::Validation("format.pii-leak@x.example: unknown key".into());
        assert_eq!(quoting.log_cause(), None);
        assert!(
            quoting.body().to_string().contains("pii-leak"),
            "the client's"
        );
        let method = ExportError::MethodNotAllowed("PII-LEAK".into());
        assert!(!method.log_cause().unwrap().contains("PII-LEAK"));
        let internal = ExportError::internal("lead store: an unreadable item (bad_json)");
        assert_eq!(
            internal.log_cause().as_deref(),
            Some("internal error: lead store: an unreadable item (bad_json)")
        );
    }

    #[test]
    fn too_large_is_a_413_validation_error() {
        let err = ExportError::PayloadTooLarge { limit: 1 << 20 };
        assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(err.body()["error"]["code"], "VALIDATION_ERROR");
    }
}
