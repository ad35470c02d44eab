//! `POST /messages`: a validated message, produced to Kafka, answered once the broker acknowledged it.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use uuid::Uuid;
use wiber_common::message::{Message, MessageRecord};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{IdempotencyKey, JsonBody};
use crate::idempotency::{self, Claim};
use crate::producer::{MessageProducer, ProduceError, Produced};
use crate::requests::{Addressee, NewMessage};
use crate::state::AppState;
use crate::store::MessageStore;

/// Send a message
///
/// Produces the message to Kafka and answers once the broker acknowledged it (acks=all).
/// The sender is the token's user: `fromUser` may be left out, and must be that user if given.
/// The consumer stores it shortly after. Retries that carry the same `Idempotency-Key`
/// and body from the same sender get the same `messageId`, and the message is stored once;
/// another body under a key already used gets 422. A 503 whose `type` ends in
/// `#outcome-unknown` means the message may have been written: retry with the same key.
/// A 1:1 message names `toUser`; a group's names its `conversationId` instead, and reaches its
/// members (the sender must be one). The body is a JSON object of exactly these fields, each at
/// most once: an unknown field or one given twice is refused (400) by name.
#[utoipa::path(
    post, path = "/messages", tag = "messages",
    security(("bearer" = [])),
    request_body(content = NewMessage, content_type = "application/json"),
    params(crate::extract::IdempotencyHeader),
    responses(
        (status = 200, description = "Acknowledged by Kafka", body = Message),
        (status = 400, description = "Invalid body or header"),
        (status = 403, description = "fromUser is not the token's user, or the sender is not a member of the group conversationId names"),
        (status = 408, description = "Body slower than API_READ_TIMEOUT_MS"),
        (status = 413, description = "Body over 64 KiB"),
        (status = 415, description = "Body is not JSON"),
        (status = 422, description = "Idempotency-Key reused for a different message"),
        (status = 503, description = "Kafka unavailable: not sent (type about:blank), or outcome unknown (type ending in #outcome-unknown, with messageId): retry with the same Idempotency-Key",
         headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
pub async fn send_message<P: MessageProducer, S: MessageStore>(
    caller: Caller,
    State(state): State<Arc<AppState<P, S>>>,
    IdempotencyKey(key): IdempotencyKey,
    JsonBody(message): JsonBody<NewMessage>,
) -> Result<Json<Message>, ApiError> {
    let to = message.to();
    let from_user = caller.sender(message.from_user)?;
    let mut record = match to {
        Addressee::User(to_user) => MessageRecord::direct(Uuid::nil(), &from_user, &to_user, ""),
        Addressee::Group(conversation) => {
            let group = state
                .store
                .group(&conversation)
                .await
                .map_err(|e| ApiError::StoreUnavailable(e.to_string()))?
                .filter(|g| g.is_member(&from_user))
                .ok_or(ApiError::NotMember("only a group's members send to it"))?;
            MessageRecord {
                from_user: from_user.clone(),
                conversation_id: Some(conversation),
                recipients: group.members,
                ..MessageRecord::default()
            }
        }
    };
    record.content = message.content;
    let reservation = match idempotency::claim(&state.store, key.as_deref(), &record).await? {
        Claim::Answer(message) => return Ok(Json(message)),
        Claim::Produce {
            message_id,
            reservation,
        } => {
            record.message_id = message_id;
            reservation
        }
    };
    let produced = produce(&state.producer, &record).await?;
    let timestamp = idempotency::acknowledged(&state.store, reservation.as_deref(), produced).await;
    record.recipients = Vec::new();
    Ok(Json(record.into_message(timestamp)))
}

/// Produces `record` on its conversation's key, and says what a failure means for the client.
pub async fn produce<P: MessageProducer>(
    producer: &P,
    record: &MessageRecord,
) -> Result<Produced, ApiError> {
    producer
        .send(&record.conversation(), record)
        .await
        .map_err(|e| match e {
            ProduceError::OutcomeUnknown { .. } => ApiError::OutcomeUnknown {
                message_id: record.message_id,
                cause: e.to_string(),
            },
            _ => ApiError::KafkaUnavailable(e.to_string()),
        })
}
