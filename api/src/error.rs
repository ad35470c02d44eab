//! Every error the API answers with, rendered in one place as RFC 9457 problem details.
//! Internals never reach the client: the response carries them as an extension for the logging
//! layer (`metrics::track`), and the client gets a fixed text.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use wiber_common::message::FieldError;

/// Seconds a client should wait before retrying when a dependency is down.
const RETRY_AFTER_SECONDS: &str = "5";

/// The problem type of a produce whose outcome is unknown; documented where it points.
pub const OUTCOME_UNKNOWN_TYPE: &str =
    "https://github.com/wiber-io/wiber/blob/main/api/README.md#outcome-unknown";

/// What is wrong with a request's credentials (RFC 6750 section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    /// No `Authorization` header: the challenge carries no error code.
    Missing,
    /// Its `exp` (and the leeway) passed: the client gets a new token.
    Expired,
    /// Malformed, forged, expired or not for this API: `error="invalid_token"`, with this reason.
    Invalid(&'static str),
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("not authenticated")]
    Unauthenticated(TokenProblem),
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// Forbidden because the caller is not (or no longer) a member of the conversation.
    #[error("not a member: {0}")]
    NotMember(&'static str),
    #[error("rate limited")]
    RateLimited { retry_after: u64 },
    /// More requests in flight than API_MAX_IN_FLIGHT.
    #[error("overloaded")]
    Overloaded,
    /// No signing key is known because the issuer's JWKS could not be fetched.
    #[error("token keys unavailable")]
    AuthUnavailable,
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    #[error("request body too large")]
    PayloadTooLarge { limit: usize },
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("request body too slow")]
    BodyTimeout { limit: std::time::Duration },
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("idempotency key reused for a different message")]
    IdempotencyConflict,
    /// A well-formed field names something that does not exist where it must (a message that is
    /// not in the conversation).
    #[error("unknown {}", .0.field)]
    Unknown(FieldError),
    /// A well-formed field the group's rules refuse (a group over its bound).
    #[error("refused {}", .0.field)]
    Refused(FieldError),
    /// What a field names cannot take this request in its current state (a deleted message).
    #[error("conflict on {}", .0.field)]
    Conflict(FieldError),
    /// Kafka never got the message.
    #[error("kafka unavailable: {0}")]
    KafkaUnavailable(String),
    /// A broker may have written the message although it was not acknowledged.
    #[error("outcome unknown for {message_id}: {cause}")]
    OutcomeUnknown { message_id: Uuid, cause: String },
    #[error("message store unavailable: {0}")]
    StoreUnavailable(String),
    /// A push stream cannot open now: the feed is starting, the replica is full or stopping.
    #[error("push streams unavailable: {0}")]
    PushUnavailable(&'static str),
    /// A read took longer than API_REQUEST_TIMEOUT_MS, all of its store operations together.
    #[error("read timed out after {limit:?}")]
    ReadTimeout { limit: std::time::Duration },
}

impl ApiError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// What went wrong inside, for the log only; `None` for the client's own mistakes.
    fn cause(&self) -> Option<&str> {
        match self {
            Self::KafkaUnavailable(cause)
            | Self::OutcomeUnknown { cause, .. }
            | Self::StoreUnavailable(cause) => Some(cause),
            Self::AuthUnavailable => Some("the issuer's JWKS could not be fetched"),
            Self::ReadTimeout { .. } => Some("the request timeout ran out"),
            _ => None,
        }
    }

    /// The problem's stable, machine-readable `code`: one per cause, so a client tells them apart
    /// without reading prose (docs/concepts/http-api.md lists them).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(TokenProblem::Missing) => "token_missing",
            Self::Unauthenticated(TokenProblem::Expired) => "token_expired",
            Self::Unauthenticated(TokenProblem::Invalid(_)) => "token_invalid",
            other => other.category(),
        }
    }

    /// A fixed category for logs and metric labels.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::NotMember(_) => "not_a_member",
            Self::RateLimited { .. } => "rate_limited",
            Self::Overloaded => "overloaded",
            Self::AuthUnavailable => "auth_unavailable",
            Self::Validation(_) => "validation",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::BodyTimeout { .. } => "body_timeout",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::IdempotencyConflict => "idempotency_conflict",
            Self::Unknown(_) => "unknown",
            Self::Refused(_) => "refused",
            Self::Conflict(_) => "conflict",
            Self::KafkaUnavailable(_) => "kafka_unavailable",
            Self::OutcomeUnknown { .. } => "outcome_unknown",
            Self::StoreUnavailable(_) => "store_unavailable",
            Self::ReadTimeout { .. } => "read_timeout",
            Self::PushUnavailable(_) => "push_unavailable",
        }
    }
}

/// A dependency's failure behind an error answer, logged by the middleware that sees the response.
#[derive(Debug, Clone)]
pub struct Failure {
    pub category: &'static str,
    pub cause: String,
}

/// RFC 9457 problem details, plus `errors` naming each invalid field and its rule, and the
/// `messageId` of a message whose outcome is unknown.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `about:blank`, or the documented URI of a problem that needs more than its status.
    #[serde(rename = "type")]
    pub problem_type: &'static str,
    /// What went wrong, stable and machine-readable: `token_expired`, `forbidden`,
    /// `rate_limited`, `overloaded`, `validation`, ... (one per cause).
    pub code: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    #[serde(rename = "messageId", skip_serializing_if = "Option::is_none")]
    pub message_id: Option<Uuid>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (problem_type, message_id) = match &self {
            Self::OutcomeUnknown { message_id, .. } => (OUTCOME_UNKNOWN_TYPE, Some(*message_id)),
            _ => ("about:blank", None),
        };
        let (status, title, detail, errors) = match &self {
            Self::Unauthenticated(TokenProblem::Missing) => (
                StatusCode::UNAUTHORIZED,
                "Authentication required",
                "send a bearer token: Authorization: Bearer <token>".to_owned(),
                vec![FieldError::new("Authorization", "is required")],
            ),
            Self::Unauthenticated(TokenProblem::Expired) => (
                StatusCode::UNAUTHORIZED,
                "Token expired",
                "the token has expired: get a new one".to_owned(),
                vec![FieldError::new("Authorization", "the token has expired")],
            ),
            Self::Unauthenticated(TokenProblem::Invalid(reason)) => (
                StatusCode::UNAUTHORIZED,
                "Invalid token",
                (*reason).to_owned(),
                vec![FieldError::new("Authorization", *reason)],
            ),
            Self::Forbidden(reason) | Self::NotMember(reason) => (
                StatusCode::FORBIDDEN,
                "Forbidden",
                (*reason).to_owned(),
                vec![],
            ),
            Self::RateLimited { retry_after } => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
                format!("this user's request rate is over the limit; retry in {retry_after} s"),
                vec![],
            ),
            Self::Overloaded => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Overloaded",
                "the API is serving as many requests as it takes; retry later".to_owned(),
                vec![],
            ),
            Self::AuthUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Token keys unavailable",
                "the keys that sign tokens could not be fetched; retry later".to_owned(),
                vec![],
            ),
            Self::Validation(errors) => (
                StatusCode::BAD_REQUEST,
                "Invalid request",
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
                errors.clone(),
            ),
            Self::PayloadTooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body too large",
                format!("the body must be at most {limit} bytes"),
                vec![FieldError::new(
                    "body",
                    format!("must be at most {limit} bytes"),
                )],
            ),
            Self::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported media type",
                "send the body as application/json".to_owned(),
                vec![FieldError::new("Content-Type", "must be application/json")],
            ),
            Self::BodyTimeout { limit } => (
                StatusCode::REQUEST_TIMEOUT,
                "Request timeout",
                format!("the body did not arrive within {} ms", limit.as_millis()),
                vec![FieldError::new(
                    "body",
                    format!("must arrive within {} ms", limit.as_millis()),
                )],
            ),
            Self::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "no such route; see /openapi.json".to_owned(),
                vec![],
            ),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed",
                "this route does not take that method; see /openapi.json".to_owned(),
                vec![],
            ),
            Self::IdempotencyConflict => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Idempotency key reused",
                "this Idempotency-Key was already used by this sender for a different message"
                    .to_owned(),
                vec![FieldError::new(
                    "Idempotency-Key",
                    "was already used for a different message",
                )],
            ),
            Self::Unknown(error) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Unknown reference",
                format!("{}: {}", error.field, error.message),
                vec![error.clone()],
            ),
            Self::Refused(error) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Refused by the group's rules",
                format!("{}: {}", error.field, error.message),
                vec![error.clone()],
            ),
            Self::Conflict(error) => (
                StatusCode::CONFLICT,
                "Conflicts with its current state",
                format!("{}: {}", error.field, error.message),
                vec![error.clone()],
            ),
            Self::KafkaUnavailable(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Message broker unavailable",
                    "the message was not sent; retry later (with the same Idempotency-Key)"
                        .to_owned(),
                    vec![],
                ),
            Self::OutcomeUnknown { .. } => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Message outcome unknown",
                    "the broker did not confirm the message, which may still be stored; retry with the same Idempotency-Key, which stores it at most once"
                        .to_owned(),
                    vec![],
                ),
            Self::StoreUnavailable(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Message store unavailable",
                    "the message store did not answer; retry later".to_owned(),
                    vec![],
                ),
            Self::PushUnavailable(reason) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Push streams unavailable",
                    format!("{reason}; retry later"),
                    vec![],
                ),
            Self::ReadTimeout { limit } => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Read timed out",
                    format!(
                        "the message store did not answer within {} ms; retry later",
                        limit.as_millis()
                    ),
                    vec![],
                ),
        };
        let problem = Problem {
            problem_type,
            code: self.code(),
            title,
            status: status.as_u16(),
            detail,
            errors,
            message_id,
        };
        let mut response = (status, axum::Json(problem)).into_response();
        if let Some(cause) = self.cause() {
            response.extensions_mut().insert(Failure {
                category: self.category(),
                cause: cause.to_owned(),
            });
        }
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Self::Unauthenticated(problem) = &self {
            let challenge = match problem {
                TokenProblem::Missing => "Bearer realm=\"wiber\"".to_owned(),
                TokenProblem::Expired => {
                    "Bearer realm=\"wiber\", error=\"invalid_token\", error_description=\"the token has expired\"".to_owned()
                }
                TokenProblem::Invalid(reason) => {
                    format!(
                        "Bearer realm=\"wiber\", error=\"invalid_token\", error_description=\"{reason}\""
                    )
                }
            };
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                headers.insert(header::WWW_AUTHENTICATE, value);
            }
        }
        if let Self::RateLimited { retry_after } = &self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

#[cfg(test)]
#[path = "error_tests.rs"]
mod tests;
