//! The caller's conversations: the inbox (`GET /conversations`, most recently active first, each
//! with its last message and unread count) and read marks
//! (`POST /conversations/{conversationId}/read`), from the read model the consumer keeps.

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wiber_common::message::{
    CONVERSATION_PATTERN, Message, conversation_id, conversation_users, validate_user,
};
use wiber_common::readmodel::InboxEntry;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Fields, FromJsonBody, JsonBody, JsonObject, QueryParams, path_error};
use crate::producer::MessageProducer;
use crate::read::mark_next_page;
use crate::state::Shared;
use crate::store::{Cursor, MessageStore};

/// A conversation as its member sees it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    /// `user1:user2`, the two users sorted: the conversation the messages routes name by its users.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,50}:[A-Za-z0-9._-]{1,50}$")]
    pub conversation_id: String,
    /// Everyone in it, sorted.
    pub members: Vec<String>,
    /// The other member (the caller, in a conversation with oneself).
    pub peer: String,
    /// The newest message.
    pub last_message: Option<Message>,
    /// Messages in the conversation.
    pub message_count: i64,
    /// Messages after the caller's read mark; the caller's own messages count as read.
    pub unread_count: i64,
}

impl Conversation {
    fn of(entry: InboxEntry, user: &str) -> Self {
        let (a, b) = conversation_users(&entry.conversation_id).unwrap_or((user, user));
        let peer = if a == user { b } else { a }.to_owned();
        let members = if entry.members.is_empty() {
            let mut m = vec![a.to_owned(), b.to_owned()];
            m.dedup();
            m
        } else {
            entry.members.clone()
        };
        let unread_count = entry.unread();
        Self {
            last_message: entry.last.and_then(|l| {
                Some(Message {
                    message_id: l.message_id.parse().ok()?,
                    from_user: l.from_user,
                    to_user: l.to_user,
                    content: l.content,
                    timestamp: l.timestamp,
                })
            }),
            conversation_id: entry.conversation_id,
            members,
            peer,
            message_count: entry.count,
            unread_count,
        }
    }
}

/// `GET /conversations`: which page, and whose.
#[derive(Debug, Clone, PartialEq, Eq, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboxQuery {
    /// 1 to 100 (default 20)
    #[param(required = false, minimum = 1, maximum = 100, default = 20)]
    pub limit: i64,
    /// The `X-Next-Cursor` of the previous page: continue with older conversations.
    #[param(required = false, schema_with = crate::requests::cursor_schema)]
    pub before: Option<Cursor>,
    /// With AUTH_MODE=none, whose conversations (required); otherwise, if given, the token's user.
    #[param(required = false, schema_with = wiber_common::message::openapi::user)]
    pub user: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for InboxQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = QueryParams::from_parts(parts, &["limit", "before", "user"])?;
        let mut fields = Fields::default();
        let limit = fields.check(q.integer("limit", 20, 1, 100));
        let before = fields.check(match q.get("before") {
            None => Ok(None),
            Some(raw) => Cursor::decode(raw).map(Some).ok_or_else(|| {
                wiber_common::message::FieldError::new(
                    "before",
                    "must be a cursor from a previous X-Next-Cursor header",
                )
            }),
        });
        let user = fields.check(user_param(&q));
        fields.or_invalid(|| {
            Some(Self {
                limit: limit?,
                before: before?,
                user: user?,
            })
        })
    }
}

fn user_param(q: &QueryParams) -> Result<Option<String>, wiber_common::message::FieldError> {
    match q.get("user") {
        None => Ok(None),
        Some(user) => validate_user("user", user).map(|()| Some(user.to_owned())),
    }
}

/// The caller's conversations, most recently active first
///
/// Each with its members, last message, message count and the caller's unread count. A full page
/// carries `X-Next-Cursor` (and a `Link: rel="next"`); pass it as `before` for older ones.
#[utoipa::path(
    get, path = "/conversations", tag = "conversations",
    security(("bearer" = [])),
    params(InboxQuery),
    responses(
        (status = 200, description = "The page", body = Vec<Conversation>,
         headers(("X-Next-Cursor" = String, description = "Present when the page is full"))),
        (status = 400, description = "Invalid limit, cursor or user"),
        (status = 403, description = "user is not the token's user"),
        crate::answers::StoreUnavailable,
    )
)]
pub async fn conversations<P: MessageProducer, S: MessageStore>(
    caller: Caller,
    State(state): Shared<P, S>,
    query: InboxQuery,
) -> Result<Response, ApiError> {
    let user = caller.acting_as(query.user, "only the user may list their conversations")?;
    let entries = state
        .store
        .inbox(&user, query.before, query.limit)
        .await
        .map_err(|e| ApiError::StoreUnavailable(e.to_string()))?;
    let next = (entries.len() as i64 == query.limit)
        .then(|| entries.last())
        .flatten()
        .map(|e| {
            Cursor {
                timestamp: e.last_timestamp,
                partition: e.last_partition,
                offset: e.last_offset,
            }
            .encode()
        });
    let page: Vec<Conversation> = entries
        .into_iter()
        .map(|e| Conversation::of(e, &user))
        .collect();
    let mut response = Json(page).into_response();
    if let Some(cursor) = next {
        let limit = query.limit;
        let link = format!("</conversations?limit={limit}&before={cursor}>; rel=\"next\"");
        mark_next_page(&mut response, &cursor, &link);
    }
    Ok(response)
}

/// `POST /conversations/{conversationId}/read`: the conversation, checked.
pub struct ConversationId {
    pub id: String,
    pub users: (String, String),
}

fn conversation_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(CONVERSATION_PATTERN))
}

/// For the document.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct ConversationIdPath {
    /// `user1:user2`, the two users in either order.
    #[param(rename = "conversationId", schema_with = conversation_schema)]
    conversation_id: String,
}

impl<S: Send + Sync> FromRequestParts<S> for ConversationId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| path_error())?;
        let (a, b) = conversation_users(&id)
            .ok_or_else(|| ApiError::field("conversationId", "must be two users joined by ':'"))?;
        let users = (a.to_owned(), b.to_owned());
        Ok(Self {
            id: conversation_id(a, b),
            users,
        })
    }
}

/// The body of a read mark: the message read up to.
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ReadMark {
    /// A message of the conversation: everything up to it is read.
    pub message_id: Uuid,
}

impl FromJsonBody for ReadMark {
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
        let id = match object.remove("messageId") {
            Some(Value::String(s)) => match s.parse::<Uuid>() {
                Ok(id) => Some(id),
                Err(_) => {
                    fields.push("messageId", "must be a message id (a UUID)");
                    None
                }
            },
            Some(_) => {
                fields.push("messageId", "must be a string");
                None
            }
            None => {
                fields.push("messageId", "is required");
                None
            }
        };
        let mut unknown: Vec<&String> = object.keys().collect();
        unknown.sort();
        for k in unknown {
            fields.push(k, "is not a known field (messageId)");
        }
        fields.or_invalid(|| Some(Self { message_id: id? }))
    }
}

/// `POST /conversations/{conversationId}/read`: whose mark (with AUTH_MODE=none).
#[derive(Debug, Clone, PartialEq, Eq, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReaderQuery {
    /// With AUTH_MODE=none, who read (required); otherwise, if given, the token's user.
    #[param(required = false, schema_with = wiber_common::message::openapi::user)]
    pub user: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for ReaderQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = QueryParams::from_parts(parts, &["user"])?;
        let user = user_param(&q).map_err(|e| ApiError::Validation(vec![e]))?;
        Ok(Self { user })
    }
}

/// Mark a conversation read
///
/// Everything up to `messageId` is read by the caller, a member of the conversation. The mark
/// never moves back: marking an earlier message changes nothing. Answers the conversation as
/// the caller's inbox shows it now.
#[utoipa::path(
    post, path = "/conversations/{conversationId}/read", tag = "conversations",
    security(("bearer" = [])),
    params(ConversationIdPath, ReaderQuery),
    request_body(content = ReadMark, content_type = "application/json"),
    responses(
        (status = 200, description = "Marked", body = Conversation),
        (status = 400, description = "Invalid conversationId, body or user"),
        (status = 403, description = "The caller is not a member of the conversation"),
        (status = 413, description = "Body over 64 KiB"),
        (status = 415, description = "Body is not JSON"),
        (status = 422, description = "messageId is not a message of the conversation"),
        crate::answers::StoreUnavailable,
    )
)]
pub async fn mark_read<P: MessageProducer, S: MessageStore>(
    caller: Caller,
    State(state): Shared<P, S>,
    conversation: ConversationId,
    reader: ReaderQuery,
    JsonBody(mark): JsonBody<ReadMark>,
) -> Result<Json<Conversation>, ApiError> {
    let (a, b) = (&conversation.users.0, &conversation.users.1);
    caller.may_read_conversation(a, b)?;
    let user = caller.acting_as(reader.user, "only the reader may mark what they read")?;
    if &user != a && &user != b {
        return Err(ApiError::Forbidden(
            "only the members of a conversation may mark it read",
        ));
    }
    let entry = state
        .store
        .mark_read(&user, &conversation.id, &mark.message_id.to_string())
        .await
        .map_err(|e| ApiError::StoreUnavailable(e.to_string()))?
        .ok_or_else(|| {
            ApiError::Unknown(wiber_common::message::FieldError::new(
                "messageId",
                format!("is not a message of {}", conversation.id),
            ))
        })?;
    Ok(Json(Conversation::of(entry, &user)))
}
