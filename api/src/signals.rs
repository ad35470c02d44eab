//! What members tell each other live (`wiber_common::signal`): `POST
//! /conversations/{id}/typing`, and the receipt a read mark sends; and everyone's read marks,
//! `GET /conversations/{id}/reads`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use wiber_common::message::MessageRecord;
use wiber_common::signal::{Signal, TYPING_LAPSE_MS, Typing};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::membership::{ConversationId, ConversationIdPath, ReaderQuery, Seen, seen};
use crate::producer::MessageProducer;
use crate::send::produce;
use crate::state::{AppState, Shared};
use crate::store::MessageStore;

/// The members of a conversation now, sorted.
pub fn members(conversation: &ConversationId, seen: &Seen) -> Vec<String> {
    match (&seen.group, &conversation.users) {
        (Some(group), _) => group.members.clone(),
        (None, Some((a, b))) => {
            let mut pair = vec![a.clone(), b.clone()];
            pair.dedup();
            pair
        }
        (None, None) => Vec::new(),
    }
}

/// A signal from `user` to `to` in `conversation`, as its Kafka record.
fn record(
    conversation: &ConversationId,
    user: &str,
    to: Vec<String>,
    signal: Signal,
) -> MessageRecord {
    let mut record = match &conversation.users {
        Some((a, b)) => {
            let peer = if a == user { b } else { a };
            MessageRecord::direct(Uuid::new_v4(), user, peer, "")
        }
        None => MessageRecord {
            message_id: Uuid::new_v4(),
            from_user: user.to_owned(),
            conversation_id: Some(conversation.id.clone()),
            ..MessageRecord::default()
        },
    };
    record.recipients = to;
    record.signal = Some(signal);
    record
}

/// The caller's membership, refused unless they are a member now.
async fn current_member<S: MessageStore>(
    store: &S,
    conversation: &ConversationId,
    user: &str,
) -> Result<Seen, ApiError> {
    let seen = seen(store, conversation, Some(user)).await?;
    if seen.until.is_some() || !seen.is_member(user) {
        return Err(ApiError::NotMember(
            "only a conversation's members signal in it",
        ));
    }
    Ok(seen)
}

/// Say the caller is typing
///
/// The other members' streams get a `typing` event, which holds for 5 s from the broker's time of
/// it (`expiresAt`); say it again to keep it. Never stored, never replayed.
#[utoipa::path(
    post, path = "/conversations/{conversationId}/typing", tag = "conversations",
    security(("bearer" = [])),
    params(ConversationIdPath, ReaderQuery),
    responses(
        (status = 202, description = "On its way to the other members' streams", body = Typing),
        (status = 400, description = "Invalid conversationId or user"),
        (status = 403, description = "The caller is not a member of the conversation"),
        (status = 503, description = "Kafka or the store unavailable"),
    )
)]
pub async fn typing<P: MessageProducer, S: MessageStore>(
    caller: Caller,
    State(state): Shared<P, S>,
    conversation: ConversationId,
    query: ReaderQuery,
) -> Result<(StatusCode, Json<Typing>), ApiError> {
    let user = caller.acting_as(query.user, "only the caller says they type")?;
    let seen = current_member(&state.store, &conversation, &user).await?;
    let others: Vec<String> = members(&conversation, &seen)
        .into_iter()
        .filter(|m| m != &user)
        .collect();
    let produced = produce(
        &state.producer,
        &record(&conversation, &user, others, Signal::Typing),
    )
    .await?;
    let typing = Typing {
        conversation_id: conversation.id,
        user,
        expires_at: produced.timestamp + TYPING_LAPSE_MS,
    };
    Ok((StatusCode::ACCEPTED, Json(typing)))
}

/// Tells the members' streams that `user`'s read mark is now `read_seq`. The mark is kept
/// already: a receipt Kafka does not take is only logged.
pub async fn send_receipt<P: MessageProducer, S: MessageStore>(
    state: &AppState<P, S>,
    conversation: &ConversationId,
    seen: &Seen,
    user: &str,
    read_seq: i64,
    message_id: String,
) {
    let signal = Signal::Receipt {
        read_seq,
        message_id,
    };
    let record = record(conversation, user, members(conversation, seen), signal);
    if let Err(e) = produce(&state.producer, &record).await {
        tracing::warn!(error = %e, "a read receipt was not sent (the mark is kept)");
    }
}

/// A member's read mark.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadPosition {
    pub user: String,
    /// They have read the conversation up to this place (0: nothing yet).
    pub read_seq: i64,
}

/// Everyone's read marks
///
/// Each member's read mark, for read ticks: a message at place N is read by those whose
/// `readSeq` is N or more. Only members read them.
#[utoipa::path(
    get, path = "/conversations/{conversationId}/reads", tag = "conversations",
    security(("bearer" = [])),
    params(ConversationIdPath, ReaderQuery),
    responses(
        (status = 200, description = "Each member's mark, by user", body = Vec<ReadPosition>),
        (status = 400, description = "Invalid conversationId or user"),
        (status = 403, description = "The caller is not a member of the conversation"),
        crate::answers::StoreUnavailable,
    )
)]
pub async fn reads<P: MessageProducer, S: MessageStore>(
    caller: Caller,
    State(state): Shared<P, S>,
    conversation: ConversationId,
    query: ReaderQuery,
) -> Result<Json<Vec<ReadPosition>>, ApiError> {
    let user = caller.acting_as(
        query.user,
        "only the caller reads their conversation's marks",
    )?;
    let seen = current_member(&state.store, &conversation, &user).await?;
    let members = members(&conversation, &seen);
    let marks = state
        .store
        .read_marks(&conversation.id, &members)
        .await
        .map_err(|e| ApiError::StoreUnavailable(e.to_string()))?;
    Ok(Json(
        members
            .into_iter()
            .map(|user| {
                let read_seq = marks
                    .iter()
                    .find(|(u, _)| *u == user)
                    .map_or(0, |(_, s)| *s);
                ReadPosition { user, read_seq }
            })
            .collect(),
    ))
}
