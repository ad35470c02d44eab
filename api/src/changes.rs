//! Edits and deletes (`wiber_common::change`): `PATCH /messages/{messageId}` and `DELETE
//! /messages/{messageId}`. Only the sender edits; the sender or a holder of the admin scope
//! deletes. A change is produced on the conversation's key after its message and answered once the
//! consumer applied it (or 202 if it has not within `applied::APPLY_WAIT`).

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wiber_common::change::Change;
use wiber_common::message::{
    FieldError, Message, MessageRecord, StoredMessage, openapi, validate_content,
};

use crate::applied::applied;
use crate::auth::Caller;
use crate::body::BodyFields;
use crate::error::ApiError;
use crate::extract::{FromJsonBody, JsonBody, path_error};
use crate::membership::ReaderQuery;
use crate::producer::MessageProducer;
use crate::send::produce;
use crate::state::{AppState, Shared};
use crate::store::MessageStore;

/// The body of `PATCH /messages/{messageId}`.
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
pub struct NewContent {
    #[schema(schema_with = openapi::content)]
    pub content: String,
}

impl FromJsonBody for NewContent {
    fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        let mut body = BodyFields::parse(body)?;
        let content = body.string("content", true);
        if let Some(content) = &content {
            body.check(validate_content("content", content));
        }
        body.finish("content", || Some(Self { content: content? }))
    }
}

/// The message a change names.
pub struct MessageIdPath(pub Uuid);

/// For the document.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct MessageIdParam {
    #[param(rename = "messageId")]
    message_id: Uuid,
}

impl<S: Send + Sync> FromRequestParts<S> for MessageIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| path_error())?;
        raw.parse()
            .map(Self)
            .map_err(|_| ApiError::field("messageId", "must be a message id (a UUID)"))
    }
}

/// Edit a message
///
/// The sender replaces its content; it keeps its id and place, and reads back with `edited`. The
/// members' streams get an `edit` event. Answered once applied (200), or 202 if still on its way.
#[utoipa::path(
    patch, path = "/messages/{messageId}", tag = "messages",
    security(("bearer" = [])),
    params(MessageIdParam, ReaderQuery),
    request_body(content = NewContent, content_type = "application/json"),
    responses(
        (status = 200, description = "Edited", body = Message),
        (status = 202, description = "Accepted, not yet applied: it will be, in order", body = Message),
        (status = 400, description = "Invalid messageId, body or user"),
        (status = 403, description = "The caller did not send it"),
        (status = 404, description = "No such message the caller can see (or not stored yet)"),
        (status = 409, description = "The message is deleted, or is a membership change"),
        (status = 503, description = "Kafka or the store unavailable"),
    )
)]
pub async fn edit_message<P: MessageProducer, S: MessageStore>(
    caller: Caller,
    State(state): Shared<P, S>,
    MessageIdPath(id): MessageIdPath,
    query: ReaderQuery,
    JsonBody(new): JsonBody<NewContent>,
) -> Result<Response, ApiError> {
    let by = caller.acting_as(query.user, "only the caller edits")?;
    let target = changeable(&state.store, id, &by, false).await?;
    if target.from_user != by {
        return Err(ApiError::Forbidden("only its sender edits a message"));
    }
    let change = Change::Edited {
        message_id: target.message_id.clone(),
    };
    apply(&state, &target, &by, change, new.content).await
}

/// Delete a message
///
/// Its sender (or a holder of the admin scope) deletes it: its content is gone from the store, its
/// earlier edits and the inbox; it keeps its id and place, and reads back with `deleted` and no
/// content. The members' streams get a `delete` event.
#[utoipa::path(
    delete, path = "/messages/{messageId}", tag = "messages",
    security(("bearer" = [])),
    params(MessageIdParam, ReaderQuery),
    responses(
        (status = 200, description = "Deleted", body = Message),
        (status = 202, description = "Accepted, not yet applied: it will be, in order", body = Message),
        (status = 400, description = "Invalid messageId or user"),
        (status = 403, description = "The caller neither sent it nor holds the admin scope"),
        (status = 404, description = "No such message the caller can see (or not stored yet)"),
        (status = 409, description = "The message is deleted already, or is a membership change"),
        (status = 503, description = "Kafka or the store unavailable"),
    )
)]
pub async fn delete_message<P: MessageProducer, S: MessageStore>(
    caller: Caller,
    State(state): Shared<P, S>,
    MessageIdPath(id): MessageIdPath,
    query: ReaderQuery,
) -> Result<Response, ApiError> {
    let admin = matches!(&caller, Caller::User(identity) if identity.admin);
    let by = caller.acting_as(query.user, "only the caller deletes")?;
    let target = changeable(&state.store, id, &by, admin).await?;
    let by_admin = target.from_user != by;
    if by_admin && !admin {
        return Err(ApiError::Forbidden(
            "only its sender (or the admin scope) deletes a message",
        ));
    }
    let change = Change::Deleted {
        message_id: target.message_id.clone(),
        admin: by_admin,
    };
    apply(&state, &target, &by, change, String::new()).await
}

async fn found<S: MessageStore>(store: &S, id: Uuid) -> Result<StoredMessage, ApiError> {
    store
        .message(&id.to_string())
        .await
        .map_err(|e| ApiError::StoreUnavailable(e.to_string()))?
        .ok_or(ApiError::NotFound)
}

/// The message, if `by` sees it (or is an admin) and it can still change.
async fn changeable<S: MessageStore>(
    store: &S,
    id: Uuid,
    by: &str,
    admin: bool,
) -> Result<StoredMessage, ApiError> {
    let target = found(store, id).await?;
    // Someone who never saw it learns nothing of it.
    if !admin && !target.participants.iter().any(|p| p == by) {
        return Err(ApiError::NotFound);
    }
    if target.deleted || target.membership.is_some() {
        return Err(ApiError::Conflict(FieldError::new(
            "messageId",
            "is deleted, or a membership change: it does not change",
        )));
    }
    Ok(target)
}

async fn apply<P: MessageProducer, S: MessageStore>(
    state: &AppState<P, S>,
    target: &StoredMessage,
    by: &str,
    change: Change,
    content: String,
) -> Result<Response, ApiError> {
    let mut record = if target.is_group() {
        MessageRecord {
            message_id: Uuid::new_v4(),
            from_user: by.to_owned(),
            conversation_id: Some(target.conversation_id.clone()),
            ..MessageRecord::default()
        }
    } else {
        let (a, b) = (&target.participants[0], &target.participants[1]);
        let peer = if a == by { b } else { a };
        MessageRecord::direct(Uuid::new_v4(), by, peer, "")
    };
    record.content = content;
    record.change = Some(change);
    record.recipients = target.participants.clone();
    let produced = produce(&state.producer, &record).await?;
    let now = applied(|| async {
        let now = state.store.message(&target.message_id).await.ok()??;
        now.changed
            .is_some_and(|c| c >= produced.offset)
            .then_some(now)
    })
    .await;
    if let Some(now) = now {
        let message = now.to_message().ok_or(ApiError::NotFound)?;
        return Ok((StatusCode::OK, Json(message)).into_response());
    }
    let mut pending = target.to_message().ok_or(ApiError::NotFound)?;
    match record.change {
        Some(Change::Deleted { .. }) => {
            pending.content = String::new();
            pending.deleted = true;
        }
        _ => {
            pending.content = record.content;
            pending.edited = true;
        }
    }
    Ok((StatusCode::ACCEPTED, Json(pending)).into_response())
}
