//! The reads: a conversation page, a user's recent messages and counts, from the store.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use wiber_common::message::{Message, StoredMessage};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::producer::MessageProducer;
use crate::requests::{ConversationRequest, CountQuery, UserRequest};
use crate::state::Shared;
use crate::store::{MessageStore, PageCursor, StoreError};

pub const NEXT_CURSOR_HEADER: &str = "x-next-cursor";
pub const PREV_CURSOR_HEADER: &str = "x-prev-cursor";

/// A full page's answer says where the next starts: `X-Next-Cursor` and a `Link: rel="next"`.
pub fn mark_next_page(response: &mut Response, cursor: &str, link: &str) {
    let headers = response.headers_mut();
    headers.insert(
        NEXT_CURSOR_HEADER,
        HeaderValue::from_str(cursor).expect("ascii"),
    );
    if let Ok(link) = HeaderValue::from_str(link) {
        headers.insert(header::LINK, link);
    }
}

/// A page with older messages before it says where they end: `X-Prev-Cursor` and a
/// `Link: rel="prev"` (beside any `rel="next"`).
pub fn mark_prev_page(response: &mut Response, cursor: &str, link: &str) {
    let headers = response.headers_mut();
    headers.insert(
        PREV_CURSOR_HEADER,
        HeaderValue::from_str(cursor).expect("ascii"),
    );
    if let Ok(link) = HeaderValue::from_str(link) {
        headers.append(header::LINK, link);
    }
}

fn store_error(e: StoreError) -> ApiError {
    ApiError::StoreUnavailable(e.to_string())
}

fn to_messages(stored: &[StoredMessage]) -> Vec<Message> {
    stored
        .iter()
        .filter_map(StoredMessage::to_message)
        .collect()
}

/// A conversation, oldest first
///
/// Both directions between the two users, in the order Kafka appended them; only they may read
/// it. A full page
/// carries `X-Next-Cursor` (and a `Link: rel="next"`); pass it as `after` for the next page.
#[utoipa::path(
    get, path = "/messages/{user1}/{user2}", tag = "messages",
    security(("bearer" = [])),
    params(crate::requests::ConversationPath, crate::requests::ConversationQuery),
    responses(
        (status = 200, description = "The page", body = Vec<Message>,
         headers(("X-Next-Cursor" = String, description = "Present when the page is full"))),
        (status = 400, description = "Invalid user, limit, skip or cursor"),
        (status = 403, description = "The caller is neither user"),
        crate::answers::StoreUnavailable,
    )
)]
pub async fn conversation<P: MessageProducer, S: MessageStore>(
    caller: Caller,
    State(state): Shared<P, S>,
    request: ConversationRequest,
) -> Result<Response, ApiError> {
    caller.may_read_conversation(&request.user1, &request.user2)?;
    let limit = request.query.limit;
    let stored = state
        .store
        .conversation(request.page())
        .await
        .map_err(store_error)?;
    let mut response = Json(to_messages(&stored)).into_response();
    if stored.len() as i64 == limit {
        if let Some(last) = stored.last() {
            let cursor = PageCursor::after(last).encode();
            let (user1, user2) = (&request.user1, &request.user2);
            let link =
                format!("</messages/{user1}/{user2}?limit={limit}&after={cursor}>; rel=\"next\"");
            mark_next_page(&mut response, &cursor, &link);
        }
    }
    Ok(response)
}

/// A user's recent messages, newest first
///
/// Messages the user sent or received, across all conversations; only the user may list them.
#[utoipa::path(
    get, path = "/messages/user/{username}", tag = "messages",
    security(("bearer" = [])),
    params(crate::requests::UserPath, crate::requests::UserQuery),
    responses(
        (status = 200, description = "Newest first", body = Vec<Message>),
        (status = 400, description = "Invalid user or limit"),
        (status = 403, description = "The caller is not that user"),
        crate::answers::StoreUnavailable,
    )
)]
pub async fn user_messages<P: MessageProducer, S: MessageStore>(
    caller: Caller,
    State(state): Shared<P, S>,
    request: UserRequest,
) -> Result<Json<Vec<Message>>, ApiError> {
    caller.may_read_user(&request.username)?;
    let stored = state
        .store
        .user_messages(&request.username, request.query.limit)
        .await
        .map_err(store_error)?;
    Ok(Json(to_messages(&stored)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageCount {
    pub count: u64,
    pub user1: Option<String>,
    pub user2: Option<String>,
}

/// Count messages
///
/// All messages (with the admin scope); with `user1` (or `user2`) alone, that user's (only the
/// user); with both, their conversation's (only they).
#[utoipa::path(
    get, path = "/messages/count", tag = "messages",
    security(("bearer" = [])),
    params(CountQuery),
    responses(
        (status = 200, description = "The count", body = MessageCount),
        (status = 400, description = "Invalid user"),
        (status = 403, description = "Not the caller's own messages or conversation, or all messages without the admin scope"),
        crate::answers::StoreUnavailable,
    )
)]
pub async fn count_messages<P: MessageProducer, S: MessageStore>(
    caller: Caller,
    State(state): Shared<P, S>,
    query: CountQuery,
) -> Result<Json<MessageCount>, ApiError> {
    caller.may_count(query.user1.as_deref(), query.user2.as_deref())?;
    let count = state
        .store
        .count(query.scope())
        .await
        .map_err(store_error)?;
    Ok(Json(MessageCount {
        count,
        user1: query.user1,
        user2: query.user2,
    }))
}
