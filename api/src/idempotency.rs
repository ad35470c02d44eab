//! `Idempotency-Key`: retries of one message are stored once, and a key reused for another
//! message is refused before anything is produced.
//!
//! A keyed message's id follows its sender, key, recipient and content, so every copy of it that
//! reaches Kafka shares one id and the unique index stores it once. The key itself is reserved
//! with one atomic insert in the store before the first produce: whoever inserts first owns the
//! key, and a different message under the same key gets 422 however close together they arrive.
//! When the store cannot be asked, the message is produced anyway: its id still follows its
//! content, so no client is ever told 200 for content that is not the stored one.

use uuid::Uuid;
use wiber_common::message::{Message, MessageRecord, idempotency_key_id, idempotent_message_id};

use crate::error::ApiError;
use crate::producer::Produced;
use crate::store::{KeyHolder, MessageStore};

/// What to do with a message before it is produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// Produce it under this id; once acknowledged, tell the key's reservation (if any).
    Produce {
        message_id: Uuid,
        reservation: Option<String>,
    },
    /// A copy was acknowledged already: answer with it, produce nothing.
    Answer(Message),
}

/// Decides how to send `record` (whose `message_id` is ignored) under `key`, if it has one.
pub async fn claim<S: MessageStore>(
    store: &S,
    key: Option<&str>,
    record: &MessageRecord,
) -> Result<Claim, ApiError> {
    let Some(key) = key else {
        return Ok(Claim::Produce {
            message_id: Uuid::new_v4(),
            reservation: None,
        });
    };
    let from = &record.from_user;
    let key_id = idempotency_key_id(from, key).to_string();
    // A group's id in the recipient's place, marked so that no user's name can spell it.
    let to = match &record.conversation_id {
        Some(group) => format!("#{group}"),
        None => record.to_user.clone(),
    };
    let message_id = idempotent_message_id(from, key, &to, &record.content);
    let holder = match store.reserve_key(&key_id, &message_id.to_string()).await {
        Ok(holder) => holder,
        Err(e) => {
            tracing::warn!(error = %e, "idempotency key not reserved; producing under the content's id");
            return Ok(Claim::Produce {
                message_id,
                reservation: None,
            });
        }
    };
    match holder {
        KeyHolder::Held {
            message_id: held, ..
        } if held != message_id.to_string() => Err(ApiError::IdempotencyConflict),
        KeyHolder::Held {
            timestamp: Some(timestamp),
            ..
        } => Ok(Claim::Answer(
            MessageRecord {
                message_id,
                ..record.clone()
            }
            .into_message(timestamp),
        )),
        // Reserved now, or by a copy still in flight or whose outcome was unknown: producing
        // again is safe, the consumer stores the id once.
        KeyHolder::Reserved
        | KeyHolder::Held {
            timestamp: None, ..
        } => Ok(Claim::Produce {
            message_id,
            reservation: Some(key_id),
        }),
    }
}

/// The broker time to answer with once `produced` was acknowledged: the stored copy's, when the
/// reservation knows it.
pub async fn acknowledged<S: MessageStore>(
    store: &S,
    reservation: Option<&str>,
    produced: Produced,
) -> i64 {
    let Some(key_id) = reservation else {
        return produced.timestamp;
    };
    match store.key_acknowledged(key_id, produced).await {
        Ok(timestamp) => timestamp,
        Err(e) => {
            // The message is in Kafka; a retry finds the key pending and produces a copy that the
            // consumer drops as a duplicate.
            tracing::warn!(error = %e, "acknowledgement not recorded on the idempotency key");
            produced.timestamp
        }
    }
}
