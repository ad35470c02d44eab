//! The caller's conversations: the inbox (`GET /conversations`, most recently active first, each
//! with its last message and unread count) and read marks
//! (`POST /conversations/{conversationId}/read`), from the read model the consumer keeps.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wiber_common::group::is_group_id;
use wiber_common::message::{Message, conversation_users, validate_user};
use wiber_common::readmodel::InboxEntry;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Fields, FromJsonBody, JsonBody, JsonObject, QueryParams};
use crate::membership::{ConversationId, ConversationIdPath, ReaderQuery, seen};
use crate::producer::MessageProducer;
use crate::read::mark_next_page;
use crate::state::Shared;
use crate::store::{Cursor, MessageStore};

/// A conversation as its member sees it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    /// `user1:user2` (the two users sorted) for a 1:1 conversation, or a group's id.
    #[schema(pattern = "^([A-Za-z0-9._-]{1,50}:[A-Za-z0-9._-]{1,50}|g-[0-9a-f]{32})$")]
    pub conversation_id: String,
    /// Everyone in it, sorted (a group's, as of the caller's last look: a former member's stays
    /// as it was when they went).
    pub members: Vec<String>,
    /// The other member of a 1:1 conversation (the caller, in a conversation with oneself);
    /// absent for a group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// A group's title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The newest message the caller may see.
    pub last_message: Option<Message>,
    /// Messages the caller may see in the conversation.
    pub message_count: i64,
    /// Messages after the caller's read mark; the caller's own messages count as read.
    pub unread_count: i64,
}

impl Conversation {
    fn of(entry: InboxEntry, user: &str) -> Self {
        let group = is_group_id(&entry.conversation_id);
        let (members, peer) = match conversation_users(&entry.conversation_id) {
            Some((a, b)) => {
                let peer = if a == user { b } else { a }.to_owned();
                let mut m = vec![a.to_owned(), b.to_owned()];
                m.dedup();
                (m, Some(peer))
            }
            None => (entry.members.clone(), None),
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
                    conversation_id: group.then(|| entry.conversation_id.clone()),
                    ..Message::default()
                })
            }),
            conversation_id: entry.conversation_id,
            members,
            peer,
            title: entry.title,
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

/// Mark a conversation read
///
/// Everything up to `messageId` is read by the caller, a member of the conversation. The mark
/// never moves back: marking an earlier message changes nothing. The members' streams get a
/// `receipt` event with the caller's mark. Answers the conversation as the caller's inbox shows
/// it now.
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
    let user = caller.acting_as(reader.user, "only the reader may mark what they read")?;
    let seen = seen(&state.store, &conversation, Some(&user)).await?;
    let entry = state
        .store
        .mark_read(
            &user,
            &conversation.id,
            &mark.message_id.to_string(),
            seen.until,
        )
        .await
        .map_err(|e| ApiError::StoreUnavailable(e.to_string()))?
        .ok_or_else(|| {
            ApiError::Unknown(wiber_common::message::FieldError::new(
                "messageId",
                format!("is not a message of {}", conversation.id),
            ))
        })?;
    let read_seq = entry.read_seq;
    crate::signals::send_receipt(
        &state,
        &conversation,
        &seen,
        &user,
        read_seq,
        mark.message_id.to_string(),
    )
    .await;
    Ok(Json(Conversation::of(entry, &user)))
}
