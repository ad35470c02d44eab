//! A consumed Kafka record, owned, and its decoding into a message to store or a reason to
//! dead-letter it.

use crate::message::{MessageRecord, StoredMessage};
use rdkafka::Message;
use rdkafka::message::Headers;

/// What the pipeline needs of a Kafka record, detached from the consumer's buffers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub timestamp: Option<i64>,
    /// The trace this message belongs to (`telemetry`), when its producer was tracing.
    pub traceparent: Option<String>,
}

impl Record {
    pub fn from_message<M: Message>(m: &M) -> Self {
        let traceparent = m.headers().and_then(|headers| {
            let header = headers
                .iter()
                .find(|h| h.key == crate::telemetry::TRACEPARENT)?;
            Some(String::from_utf8_lossy(header.value?).into_owned())
        });
        Self {
            topic: m.topic().to_owned(),
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().map(<[u8]>::to_vec),
            timestamp: m.timestamp().to_millis(),
            traceparent,
        }
    }
}

/// Every `category` `decode` gives a poison record.
pub const POISON_CATEGORIES: &[&str] = &["empty", "malformed", "invalid", "no_timestamp"];

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
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::message::{USER_MAX_CHARS, USER_PATTERN, conversation_id};

    fn record(payload: Option<Vec<u8>>, timestamp: Option<i64>) -> Record {
        Record {
            topic: "wiber.messages".into(),
            partition: 2,
            offset: 7,
            key: None,
            payload,
            timestamp,
            traceparent: None,
        }
    }

    /// Names as `validate_user` takes them: its pattern, at its length.
    fn user() -> impl Strategy<Value = String> {
        let class = USER_PATTERN.trim_start_matches('^').trim_end_matches("+$");
        proptest::string::string_regex(&format!("{class}{{1,{USER_MAX_CHARS}}}")).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever another producer writes, decoding ends in a message or a named category.
        #[test]
        fn any_value_decodes_or_is_poison_of_a_known_category(
            payload in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
            timestamp in proptest::option::of(any::<i64>()),
        ) {
            if let Err(poison) = decode(&record(payload, timestamp)) {
                prop_assert!(POISON_CATEGORIES.contains(&poison.category), "{}", poison.category);
                prop_assert!(!poison.detail.is_empty());
            }
        }

        /// A valid message survives the trip through its record exactly, whatever its content.
        #[test]
        fn every_valid_message_round_trips(
            from in user(),
            to in user(),
            content in "\\PC{1,200}|[\\x00-\\x1f\"\\\\]{1,20}",
            timestamp in any::<i64>(),
        ) {
            let sent = MessageRecord {
                message_id: uuid::Uuid::new_v4(),
                from_user: from.clone(),
                to_user: to.clone(),
                content: content.clone(),
                ..Default::default()
            };
            let payload = serde_json::to_vec(&sent).unwrap();
            let stored = decode(&record(Some(payload), Some(timestamp))).unwrap();
            prop_assert_eq!(stored.message_id, sent.message_id.to_string());
            prop_assert_eq!(stored.conversation_id, conversation_id(&from, &to));
            prop_assert_eq!((stored.content, stored.timestamp), (content, timestamp));
            prop_assert_eq!(stored.participants, [from, to]);
        }

        /// One byte of a valid record changed: still a message, or poison of a known category.
        #[test]
        fn a_valid_record_with_one_byte_changed_never_panics(
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let sent = MessageRecord {
                message_id: uuid::Uuid::nil(),
                from_user: "alice".into(),
                to_user: "bob".into(),
                content: "hello there".into(),
                ..Default::default()
            };
            let mut payload = serde_json::to_vec(&sent).unwrap();
            let i = at.index(payload.len());
            payload[i] = byte;
            if let Err(poison) = decode(&record(Some(payload), Some(1))) {
                prop_assert!(POISON_CATEGORIES.contains(&poison.category));
            }
        }
    }
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
            traceparent: None,
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
