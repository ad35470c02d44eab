//! What each route takes, as the types the OpenAPI document describes and the handlers receive:
//! each parses and validates itself, naming every field it refuses.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::{IntoParams, ToSchema};
use wiber_common::message::{conversation_id, openapi, validate_content, validate_user};

use crate::body::BodyFields;
use crate::error::ApiError;
use crate::extract::{Fields, FromJsonBody, QueryParams, path_error};
use crate::store::{ConversationPage, CountScope, PageCursor};
use wiber_common::group::is_group_id;
use wiber_common::stored::Position;

/// The body of `POST /messages`.
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct NewMessage {
    /// The sender: the token's user, which this may repeat but not replace (with AUTH_MODE=none,
    /// required).
    #[schema(schema_with = openapi::user)]
    pub from_user: Option<String>,
    /// The recipient of a 1:1 message; give this or `conversationId`.
    #[schema(schema_with = openapi::user)]
    pub to_user: Option<String>,
    /// A group to send to (its members receive it); give this or `toUser`, never null.
    #[schema(pattern = "^g-[0-9a-f]{32}$", nullable = false)]
    pub conversation_id: Option<String>,
    #[schema(schema_with = openapi::content)]
    pub content: String,
}

/// Whom a new message goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addressee {
    User(String),
    Group(String),
}

impl NewMessage {
    /// Whom it goes to: parsing leaves exactly one of `toUser` and `conversationId`.
    pub fn to(&self) -> Addressee {
        match (&self.to_user, &self.conversation_id) {
            (_, Some(group)) => Addressee::Group(group.clone()),
            (to, None) => Addressee::User(to.clone().unwrap_or_default()),
        }
    }
}

impl FromJsonBody for NewMessage {
    fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        let mut body = BodyFields::parse(body)?;
        // The sender may be left to the token: absent is not an error here.
        let from = body.string("fromUser", false);
        let to = body.string("toUser", false);
        let group = body.string("conversationId", false);
        let mistyped = body.mistyped("toUser") || body.mistyped("conversationId");
        if to.is_none() && group.is_none() && !mistyped {
            body.fields
                .push("toUser", "is required (or conversationId, for a group)");
        }
        let content = body.string("content", true);
        const KNOWN: &str = "fromUser, toUser, conversationId, content";
        body.refuse_unknown(KNOWN);
        if let Some(from) = &from {
            body.check(validate_user("fromUser", from));
        }
        let to = match (to, group) {
            (Some(to), None) => body
                .check(validate_user("toUser", &to))
                .map(|()| Addressee::User(to)),
            (None, Some(group)) if is_group_id(&group) => Some(Addressee::Group(group)),
            (None, Some(_)) => {
                body.fields.push(
                    "conversationId",
                    "must be a group's id (g- and 32 hex digits)",
                );
                None
            }
            (None, None) => None,
            (Some(_), Some(_)) => {
                body.fields.push(
                    "conversationId",
                    "is given with toUser: a message goes to a user or to a group",
                );
                None
            }
        };
        if let Some(content) = &content {
            body.check(validate_content("content", content));
        }
        body.finish(KNOWN, || {
            let to = to?;
            Some(Self {
                from_user: from,
                to_user: match &to {
                    Addressee::User(u) => Some(u.clone()),
                    _ => None,
                },
                conversation_id: match &to {
                    Addressee::Group(g) => Some(g.clone()),
                    _ => None,
                },
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
