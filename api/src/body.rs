//! A JSON object body read field by field: each field taken by its type, every broken rule named,
//! a repeated or unknown field refused by name.

use serde_json::{Map, Value};
use wiber_common::message::FieldError;

use crate::error::ApiError;
use crate::extract::{Fields, JsonObject};

pub struct BodyFields {
    object: Map<String, Value>,
    pub fields: Fields,
    /// Fields given with a value of the wrong type (already named in `fields`).
    mistyped: Vec<String>,
}

impl BodyFields {
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let JsonObject { object, repeated } = serde_json::from_slice(body)
            .map_err(|e| ApiError::field("body", format!("must be a JSON object ({e})")))?;
        let mut fields = Fields::default();
        for key in repeated {
            fields.push(&key, "is given more than once");
        }
        Ok(Self {
            object,
            fields,
            mistyped: Vec::new(),
        })
    }

    /// A string field; absent is an error only when `required`.
    pub fn string(&mut self, field: &str, required: bool) -> Option<String> {
        match self.object.remove(field) {
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                self.fields.push(field, "must be a string");
                self.mistyped.push(field.to_owned());
                None
            }
            None => {
                if required {
                    self.fields.push(field, "is required");
                }
                None
            }
        }
    }

    /// A required array of strings.
    pub fn strings(&mut self, field: &str) -> Option<Vec<String>> {
        match self.object.remove(field) {
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    match item {
                        Value::String(s) => out.push(s),
                        _ => self
                            .fields
                            .push(&format!("{field}[{i}]"), "must be a string"),
                    }
                }
                Some(out)
            }
            Some(_) => {
                self.fields.push(field, "must be an array of user names");
                None
            }
            None => {
                self.fields.push(field, "is required");
                None
            }
        }
    }

    /// Whether `field` was given, but not as its type.
    pub fn mistyped(&self, field: &str) -> bool {
        self.mistyped.iter().any(|f| f == field)
    }

    pub fn check<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        self.fields.check(result)
    }

    /// Names every field given that is not in `known`.
    pub fn refuse_unknown(&mut self, known: &str) {
        let mut unknown: Vec<String> = self.object.keys().cloned().collect();
        unknown.sort();
        for k in unknown {
            self.object.remove(&k);
            self.fields
                .push(&k, format!("is not a known field ({known})"));
        }
    }

    /// `value`, unless a field was refused or one not in `known` was given.
    pub fn finish<T>(
        mut self,
        known: &str,
        value: impl FnOnce() -> Option<T>,
    ) -> Result<T, ApiError> {
        self.refuse_unknown(known);
        self.fields.or_invalid(value)
    }
}
