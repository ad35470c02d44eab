//! A consumed Kafka record, owned, and its decoding into a message to store or a reason to
//! dead-letter it.

use crate::message::{MessageRecord, StoredMessage};
use rdkafka::Message;

/// What the pipeline needs of a Kafka record, detached from the consumer's buffers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub timestamp: Option<i64>,
}

impl Record {
    pub fn from_message<M: Message>(m: &M) -> Self {
        Self {
            topic: m.topic().to_owned(),
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().map(<[u8]>::to_vec),
            timestamp: m.timestamp().to_millis(),
        }
    }
}

/// Why a record cannot be stored. `category` is a fixed metric label; `detail` goes to the
/// dead-letter record and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poison {
    pub category: &'static str,
    pub detail: String,
}

pub fn decode(record: &Record) -> Result<StoredMessage, Poison> {
    let payload = record.payload.as_deref().ok_or_else(|| Poison {
        category: "empty",
        detail: "record has no value".into(),
    })?;
    let message: MessageRecord = serde_json::from_slice(payload).map_err(|e| Poison {
        category: "malformed",
        detail: format!("value is not a Wiber message: {e}"),
    })?;
    message.validate().map_err(|errors| Poison {
        category: "invalid",
        detail: errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; "),
    })?;
    let timestamp = record.timestamp.ok_or_else(|| Poison {
        category: "no_timestamp",
        detail: "record has no timestamp to order it by".into(),
    })?;
    Ok(StoredMessage::new(
        message,
        timestamp,
        record.partition,
        record.offset,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(payload: Option<&str>) -> Record {
        Record {
            topic: "wiber.messages".into(),
            partition: 1,
            offset: 42,
            key: Some(b"alice:bob".to_vec()),
            payload: payload.map(|p| p.as_bytes().to_vec()),
            timestamp: Some(1_700_000_000_000),
        }
    }

    #[test]
    fn valid_record_becomes_a_stored_message_with_its_kafka_position() {
        let stored = decode(&record(Some(
            r#"{"messageId":"6c0c5b1a-8a3e-4a53-9f0a-0d3c6f6b2a11","fromUser":"bob","toUser":"alice","content":"hi"}"#,
        )))
        .unwrap();
        assert_eq!(stored.conversation_id, "alice:bob");
        assert_eq!(
            (stored.partition, stored.offset, stored.timestamp),
            (1, 42, 1_700_000_000_000)
        );
        assert_eq!(stored.message_id, "6c0c5b1a-8a3e-4a53-9f0a-0d3c6f6b2a11");
    }

    #[test]
    fn a_field_added_by_a_newer_api_does_not_make_a_record_poison() {
        let stored = decode(&record(Some(
            r#"{"messageId":"6c0c5b1a-8a3e-4a53-9f0a-0d3c6f6b2a11","fromUser":"a","toUser":"b","content":"c","replyTo":"x"}"#,
        )));
        assert!(stored.is_ok(), "{stored:?}");
    }

    #[test]
    fn poison_records_are_named_by_category() {
        let cases = [
            (None, "empty"),
            (Some("not json"), "malformed"),
            (
                Some(r#"{"fromUser":"a","toUser":"b","content":"c"}"#),
                "malformed",
            ),
            (
                Some(
                    r#"{"messageId":"6c0c5b1a-8a3e-4a53-9f0a-0d3c6f6b2a11","fromUser":"a b","toUser":"b","content":""}"#,
                ),
                "invalid",
            ),
        ];
        for (payload, category) in cases {
            assert_eq!(
                decode(&record(payload)).unwrap_err().category,
                category,
                "{payload:?}"
            );
        }
    }
}
