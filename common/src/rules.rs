//! The rules every name and text of a message follows, each stated once: as a check that names
//! the field it refuses, and (with the `openapi` feature) as the schema that documents it.

use serde::Serialize;
#[cfg(feature = "openapi")]
use utoipa::ToSchema;

pub const USER_MAX_CHARS: usize = 50;
pub const CONTENT_MAX_CHARS: usize = 5000;

/// One broken rule: which field and what it must be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The user-name and content rules as OpenAPI schemas, from the same constants as the checks below.
#[cfg(feature = "openapi")]
pub mod openapi {
    use utoipa::openapi::schema::{ObjectBuilder, Type};

    use super::{CONTENT_MAX_CHARS, USER_MAX_CHARS, USER_PATTERN};

    pub fn optional_user() -> ObjectBuilder {
        user().description(Some("Absent in a group's messages."))
    }

    pub fn user() -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(USER_MAX_CHARS))
            .pattern(Some(USER_PATTERN))
    }

    /// A stored message's content: as sent, or empty once deleted.
    pub fn stored_content() -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("1 to 5000 Unicode characters; empty once deleted."))
            .max_length(Some(CONTENT_MAX_CHARS))
    }

    pub fn content() -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("1 to 5000 Unicode characters."))
            .min_length(Some(1))
            .max_length(Some(CONTENT_MAX_CHARS))
    }
}

/// What `validate_user` accepts, as a regular expression (with 1 to `USER_MAX_CHARS` characters).
pub const USER_PATTERN: &str = "^[A-Za-z0-9._-]+$";

pub fn validate_user(field: &str, value: &str) -> Result<(), FieldError> {
    let chars = value.chars().count();
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if chars == 0 || chars > USER_MAX_CHARS || !value.chars().all(allowed) {
        return Err(FieldError::new(
            field,
            format!("must be 1 to {USER_MAX_CHARS} characters of letters, digits, '.', '_' or '-'"),
        ));
    }
    Ok(())
}

pub fn validate_content(field: &str, value: &str) -> Result<(), FieldError> {
    let chars = value.chars().count();
    if chars == 0 || chars > CONTENT_MAX_CHARS {
        return Err(FieldError::new(
            field,
            format!("must be 1 to {CONTENT_MAX_CHARS} characters (got {chars})"),
        ));
    }
    Ok(())
}
