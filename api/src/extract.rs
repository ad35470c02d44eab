//! Typed extractors whose rejection is the API's own error: a JSON body, query parameters and an
//! `Idempotency-Key`, each parsed and validated by the type the handler receives, so every error
//! names the field (as the client spelled it) and its rule.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};
use utoipa::IntoParams;
use wiber_common::message::FieldError;

use crate::error::ApiError;

/// Large enough for 5000 characters that each need a 12-byte `\uXXXX\uXXXX` escape.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
pub const IDEMPOTENCY_KEY_MAX: usize = 255;

/// Broken rules gathered across fields, so one answer names them all.
#[derive(Debug, Default)]
pub struct Fields(Vec<FieldError>);

impl Fields {
    /// The value, or `None` after recording why it is not one.
    pub fn check<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        result.map_err(|e| self.0.push(e)).ok()
    }

    pub fn push(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// `value` when nothing was recorded.
    pub fn or_invalid<T>(self, value: impl FnOnce() -> Option<T>) -> Result<T, ApiError> {
        if self.0.is_empty() {
            if let Some(v) = value() {
                return Ok(v);
            }
        }
        Err(ApiError::Validation(self.0))
    }
}

/// A JSON object whose keys are told apart: a key given twice is named, where a plain map would
/// keep the last value without a word.
pub struct JsonObject {
    pub object: Map<String, Value>,
    /// Keys given more than once, each named once.
    pub repeated: Vec<String>,
}

impl<'de> Deserialize<'de> for JsonObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> Visitor<'de> for Keys {
            type Value = JsonObject;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<JsonObject, A::Error> {
                let mut object = Map::new();
                let mut repeated = Vec::new();
                while let Some((key, value)) = entries.next_entry::<String, Value>()? {
                    if object.contains_key(&key) {
                        if !repeated.contains(&key) {
                            repeated.push(key);
                        }
                    } else {
                        object.insert(key, value);
                    }
                }
                Ok(JsonObject { object, repeated })
            }
        }
        deserializer.deserialize_map(Keys)
    }
}

/// A request body the type reads itself, field by field.
pub trait FromJsonBody: Sized {
    fn from_json(body: &[u8]) -> Result<Self, ApiError>;
}

/// A JSON body of type `T`: 415 for another media type, 413 past the limit, 408 when it arrives
/// too slowly, 400 naming each field.
pub struct JsonBody<T>(pub T);

/// How long a body may take to arrive; the router sets it from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub Duration);

const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

fn check_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    // No Content-Type is accepted, as the original API did; anything else must be JSON.
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let mime = value
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json")) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

impl<S: Send + Sync, T: FromJsonBody> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        check_json_content_type(request.headers())?;
        let timeout = request
            .extensions()
            .get::<BodyTimeout>()
            .map_or(DEFAULT_BODY_TIMEOUT, |t| t.0);
        let body = tokio::time::timeout(timeout, Bytes::from_request(request, state))
            .await
            .map_err(|_| ApiError::BodyTimeout { limit: timeout })?
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge {
                        limit: BODY_LIMIT_BYTES,
                    }
                } else {
                    ApiError::field("body", "could not be read")
                }
            })?;
        T::from_json(&body).map(JsonBody)
    }
}

/// Query parameters kept as pairs, so an unknown, repeated or malformed one is named.
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    pub fn from_parts(parts: &mut Parts, allowed: &[&str]) -> Result<Self, ApiError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map_err(|_| ApiError::field("query", "is not a valid query string"))?;
        let mut fields = Fields::default();
        for (i, (name, _)) in pairs.iter().enumerate() {
            if !allowed.contains(&name.as_str()) {
                fields.push(
                    name,
                    format!("is not a known query parameter ({})", allowed.join(", ")),
                );
            } else if pairs[..i].iter().any(|(n, _)| n == name) {
                fields.push(name, "is given more than once");
            }
        }
        fields.or_invalid(|| Some(Self(pairs)))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn integer(&self, name: &str, default: i64, min: i64, max: i64) -> Result<i64, FieldError> {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        match raw.parse::<i64>() {
            Ok(v) if (min..=max).contains(&v) => Ok(v),
            _ => Err(FieldError::new(
                name,
                format!("must be an integer from {min} to {max}"),
            )),
        }
    }
}

/// The optional `Idempotency-Key` header: 1 to 255 visible ASCII characters.
pub struct IdempotencyKey(pub Option<String>);

/// `IdempotencyKey` for the document.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IdempotencyHeader {
    /// Makes retries safe: the same key and body from the same sender get the same message.
    #[param(rename = "Idempotency-Key", required = false, schema_with = idempotency_key_schema)]
    idempotency_key: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(IDEMPOTENCY_KEY_HEADER) else {
            return Ok(Self(None));
        };
        let rule = "must be 1 to 255 visible ASCII characters";
        let key = value
            .to_str()
            .map_err(|_| ApiError::field("Idempotency-Key", rule))?;
        if key.is_empty()
            || key.len() > IDEMPOTENCY_KEY_MAX
            || !key.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(ApiError::field("Idempotency-Key", rule));
        }
        Ok(Self(Some(key.to_owned())))
    }
}

pub fn path_error() -> ApiError {
    ApiError::field("path", "is not valid UTF-8 or misses a segment")
}

/// An `Idempotency-Key` as `IdempotencyKey` takes it: visible ASCII, of bounded length.
fn idempotency_key_schema() -> utoipa::openapi::schema::ObjectBuilder {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(IDEMPOTENCY_KEY_MAX))
        .pattern(Some("^[!-~]+$"))
}
