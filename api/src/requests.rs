//! What each route takes, as the types the OpenAPI document describes and the handlers receive:
//! each parses and validates itself, naming every field it refuses.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use serde_json::{Map, Value};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::{IntoParams, ToSchema};
use wiber_common::message::{conversation_id, openapi, validate_content, validate_user};

use crate::error::ApiError;
use crate::extract::{Fields, FromJsonBody, JsonObject, QueryParams, path_error};
use crate::store::{ConversationPage, CountScope, PageCursor};
use wiber_common::stored::Position;

/// The body of `POST /messages`.
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct NewMessage {
    /// The sender: the token's user, which this may repeat but not replace (with AUTH_MODE=none,
    /// required).
    #[schema(schema_with = openapi::user)]
    pub from_user: Option<String>,
    #[schema(schema_with = openapi::user)]
    pub to_user: String,
    #[schema(schema_with = openapi::content)]
    pub content: String,
}

impl FromJsonBody for NewMessage {
    fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        let JsonObject {
            mut object,
            repeated,
        } = serde_json::from_slice(body)
            .map_err(|e| ApiError::field("body", format!("must be a JSON object ({e})")))?;
        let mut fields = Fields::default();
        for key in repeated {
            fields.push(&key, "is given more than once");
        }
        let mut take = |object: &mut Map<String, Value>, field: &str| match object.remove(field) {
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                fields.push(field, "must be a string");
                None
            }
            None => {
                fields.push(field, "is required");
                None
            }
        };
        // The sender may be left to the token: absent is not an error here.
        let from = match object.get("fromUser") {
            None => None,
            Some(_) => take(&mut object, "fromUser"),
        };
        let to = take(&mut object, "toUser");
        let content = take(&mut object, "content");
        let mut unknown: Vec<&String> = object.keys().collect();
        unknown.sort();
        for k in unknown {
            fields.push(k, "is not a known field (fromUser, toUser, content)");
        }
        if let Some(from) = &from {
            fields.check(validate_user("fromUser", from));
        }
        if let Some(to) = &to {
            fields.check(validate_user("toUser", to));
        }
        if let Some(content) = &content {
            fields.check(validate_content("content", content));
        }
        fields.or_invalid(|| {
            Some(Self {
                from_user: from,
                to_user: to?,
                content: content?,
            })
        })
    }
}

/// `GET /messages/{user1}/{user2}`: the two users, for the document.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct ConversationPath {
    #[param(schema_with = openapi::user)]
    user1: String,
    #[param(schema_with = openapi::user)]
    user2: String,
}

/// `GET /messages/{user1}/{user2}`: which page.
#[derive(Debug, Clone, PartialEq, Eq, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConversationQuery {
    /// 1 to 500 (default 50)
    #[param(required = false, minimum = 1, maximum = 500, default = 50)]
    pub limit: i64,
    /// Messages to skip (default 0); prefer `after` for deep pages.
    #[param(required = false, minimum = 0, maximum = 1_000_000, default = 0)]
    pub skip: i64,
    /// The `X-Next-Cursor` of the previous page: continue just after its last message.
    #[param(required = false, schema_with = page_cursor_schema)]
    pub after: Option<PageCursor>,
}

/// The users of a conversation and its query, checked together so one answer names every error.
pub struct ConversationRequest {
    pub user1: String,
    pub user2: String,
    pub query: ConversationQuery,
}

impl ConversationRequest {
    pub fn page(&self) -> ConversationPage {
        ConversationPage {
            conversation_id: conversation_id(&self.user1, &self.user2),
            after: self.query.after,
            skip: self.query.skip as u64,
            limit: self.query.limit,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ConversationRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path((user1, user2)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|_| path_error())?;
        let mut fields = Fields::default();
        fields.check(validate_user("user1", &user1));
        fields.check(validate_user("user2", &user2));
        let q = QueryParams::from_parts(parts, &["limit", "skip", "after"])?;
        let limit = fields.check(q.integer("limit", 50, 1, 500));
        let skip = fields.check(q.integer("skip", 0, 0, 1_000_000));
        let after = fields.check(match q.get("after") {
            None => Ok(None),
            Some(raw) => PageCursor::decode(raw).map(Some).ok_or_else(|| {
                wiber_common::message::FieldError::new(
                    "after",
                    "must be a cursor from a previous X-Next-Cursor header",
                )
            }),
        });
        fields.or_invalid(|| {
            Some(Self {
                user1,
                user2,
                query: ConversationQuery {
                    limit: limit?,
                    skip: skip?,
                    after: after?,
                },
            })
        })
    }
}

/// `GET /messages/user/{username}`: whose, for the document.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct UserPath {
    #[param(schema_with = openapi::user)]
    username: String,
}

/// `GET /messages/user/{username}`: how many.
#[derive(Debug, Clone, PartialEq, Eq, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// 1 to 500 (default 100)
    #[param(required = false, minimum = 1, maximum = 500, default = 100)]
    pub limit: i64,
}

pub struct UserRequest {
    pub username: String,
    pub query: UserQuery,
}

impl<S: Send + Sync> FromRequestParts<S> for UserRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(username) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| path_error())?;
        validate_user("username", &username).map_err(|e| ApiError::Validation(vec![e]))?;
        let q = QueryParams::from_parts(parts, &["limit"])?;
        let limit = q
            .integer("limit", 100, 1, 500)
            .map_err(|e| ApiError::Validation(vec![e]))?;
        Ok(Self {
            username,
            query: UserQuery { limit },
        })
    }
}

/// `GET /messages/count`: all messages, one user's, or one conversation's.
#[derive(Debug, Clone, PartialEq, Eq, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CountQuery {
    /// Count this user's messages (sent or received)...
    #[param(required = false, schema_with = openapi::user)]
    pub user1: Option<String>,
    /// ...or, with user1, only their conversation with this user (alone, as user1 alone).
    #[param(required = false, schema_with = openapi::user)]
    pub user2: Option<String>,
}

impl CountQuery {
    pub fn scope(&self) -> CountScope {
        match (&self.user1, &self.user2) {
            (Some(u1), Some(u2)) => CountScope::Conversation(conversation_id(u1, u2)),
            (Some(u1), None) => CountScope::User(u1.clone()),
            _ => CountScope::All,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CountQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = QueryParams::from_parts(parts, &["user1", "user2"])?;
        let mut fields = Fields::default();
        let [user1, user2] = ["user1", "user2"].map(|field| {
            let user = q.get(field)?;
            fields
                .check(validate_user(field, user))
                .map(|()| user.to_owned())
        });
        // One user, under either name, is that user's messages.
        let (user1, user2) = match (user1, user2) {
            (None, Some(only)) => (Some(only), None),
            pair => pair,
        };
        fields.or_invalid(|| Some(Self { user1, user2 }))
    }
}

/// `GET /messages/stream` and `GET /messages/ws`: whose messages, and from where.
#[derive(Debug, Clone, PartialEq, Eq, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Only the conversation with this user.
    #[param(required = false, schema_with = openapi::user)]
    pub with: Option<String>,
    /// Resume after this event id (SSE's `Last-Event-ID` header takes precedence).
    #[param(required = false, schema_with = position_schema)]
    pub after: Option<String>,
    /// With AUTH_MODE=none, whose messages (required); otherwise, if given, the token's user.
    #[param(required = false, schema_with = openapi::user)]
    pub user: Option<String>,
    /// The bearer token, for clients that cannot set `Authorization` (a browser's EventSource
    /// and WebSocket).
    pub access_token: Option<String>,
}

/// `GET /messages/stream`'s header, for the document.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct ResumeHeader {
    /// The id of the last event received: resume after it.
    #[param(rename = "Last-Event-ID", required = false, schema_with = position_schema)]
    last_event_id: Option<String>,
}

/// A stream's parsed request: `after` decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRequest {
    pub with: Option<String>,
    pub after: Option<Position>,
    pub user: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for StreamRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = QueryParams::from_parts(parts, &["with", "after", "user", "access_token"])?;
        let mut fields = Fields::default();
        let mut user_field = |field: &str| {
            let value = q.get(field).map(str::to_owned);
            if let Some(v) = &value {
                fields.check(validate_user(field, v));
            }
            value
        };
        let with = user_field("with");
        let user = user_field("user");
        let last_event_id = parts
            .headers
            .get("last-event-id")
            .map(|v| v.to_str().unwrap_or("\u{0}"));
        // Each is checked; the header, which EventSource sets on reconnecting, wins.
        let [header, query] =
            [("Last-Event-ID", last_event_id), ("after", q.get("after"))].map(|(field, raw)| {
                match raw.map(Position::decode) {
                    None => Some(None),
                    Some(Some(p)) => Some(Some(p)),
                    Some(None) => {
                        fields.push(field, "must be the id of an event of this stream");
                        None
                    }
                }
            });
        let after = header.zip(query).map(|(h, q)| h.or(q));
        fields.or_invalid(|| {
            Some(Self {
                with,
                after: after?,
                user,
            })
        })
    }
}

/// A page cursor (`X-Next-Cursor`), as `Cursor::decode` takes it.
pub fn cursor_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(wiber_common::queries::CURSOR_PATTERN))
}

fn page_cursor_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(wiber_common::queries::PAGE_CURSOR_PATTERN))
}

/// A push stream's position (an event id), as `Position::decode` takes it.
fn position_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(wiber_common::stored::POSITION_PATTERN))
}
