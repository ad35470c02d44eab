//! The chat message as the API returns it, as it travels through Kafka, and the rules it must follow.

use serde::{Deserialize, Serialize};
#[cfg(feature = "openapi")]
use utoipa::ToSchema;
use uuid::Uuid;

pub const USER_MAX_CHARS: usize = 50;
pub const CONTENT_MAX_CHARS: usize = 5000;

/// A stored (or acknowledged) chat message, exactly as the HTTP API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// Assigned by the API; the same for retries that share an `Idempotency-Key`.
    pub message_id: Uuid,
    #[cfg_attr(feature = "openapi", schema(schema_with = openapi::user))]
    pub from_user: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = openapi::user))]
    pub to_user: String,
    /// 1 to 5000 Unicode characters.
    #[cfg_attr(feature = "openapi", schema(schema_with = openapi::content))]
    pub content: String,
    /// Milliseconds since the epoch, assigned by the Kafka broker when it appended the message
    /// (LogAppendTime), so clocks of API replicas cannot reorder a conversation.
    pub timestamp: i64,
}

/// The Kafka record value the API produces; the record's own timestamp completes it.
/// Unknown fields are ignored, so a newer API can add one during a rolling upgrade without older
/// consumers dead-lettering its messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageRecord {
    pub message_id: Uuid,
    pub from_user: String,
    pub to_user: String,
    pub content: String,
}

impl MessageRecord {
    pub fn into_message(self, timestamp: i64) -> Message {
        Message {
            message_id: self.message_id,
            from_user: self.from_user,
            to_user: self.to_user,
            content: self.content,
            timestamp,
        }
    }

    /// The rules the API enforced, checked again by the consumer so a record produced by anything
    /// else cannot store what the API would have refused.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let errors: Vec<FieldError> = [
            validate_user("fromUser", &self.from_user).err(),
            validate_user("toUser", &self.to_user).err(),
            validate_content("content", &self.content).err(),
        ]
        .into_iter()
        .flatten()
        .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// A message as stored in MongoDB: the API's message plus where Kafka put it.
/// `(timestamp, partition, offset)` orders a conversation exactly as Kafka appended it.
/// The layout (the `_id`, the `participants`) serves the queries in `queries`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredMessage {
    /// The `messageId`, as `_id`: unique in every collection, so a redelivery is stored once.
    #[serde(rename = "_id")]
    pub message_id: String,
    pub conversation_id: String,
    pub from_user: String,
    pub to_user: String,
    /// Sender and recipient, so one equality (on one multikey index) finds a user's messages.
    pub participants: [String; 2],
    pub content: String,
    pub timestamp: i64,
    pub partition: i32,
    pub offset: i64,
    /// Its place in its conversation, from 1, given by the consumer (`readmodel`); absent on
    /// messages stored before the consumer kept a read model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    /// The page of its conversation it belongs to (`readmodel::page_key`), so that a page is an
    /// equality lookup; absent with `seq`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
}

impl StoredMessage {
    pub fn new(record: MessageRecord, timestamp: i64, partition: i32, offset: i64) -> Self {
        Self {
            message_id: record.message_id.to_string(),
            conversation_id: conversation_id(&record.from_user, &record.to_user),
            participants: [record.from_user.clone(), record.to_user.clone()],
            from_user: record.from_user,
            to_user: record.to_user,
            content: record.content,
            timestamp,
            partition,
            offset,
            seq: None,
            page: None,
        }
    }

    /// The API's view; `None` only if the stored id is not a UUID, which the consumer never writes.
    pub fn to_message(&self) -> Option<Message> {
        Some(Message {
            message_id: self.message_id.parse().ok()?,
            from_user: self.from_user.clone(),
            to_user: self.to_user.clone(),
            content: self.content.clone(),
            timestamp: self.timestamp,
        })
    }
}

/// The conversation of two users, whichever sent: the users sorted and joined by `:`.
/// It is the Kafka key, so one conversation stays in one partition and keeps its order.
pub fn conversation_id(a: &str, b: &str) -> String {
    if a <= b {
        format!("{a}:{b}")
    } else {
        format!("{b}:{a}")
    }
}

/// The two users of a conversation id, sorted (either order names the same conversation).
pub fn conversation_users(id: &str) -> Option<(&str, &str)> {
    let (a, b) = id.split_once(':')?;
    if validate_user("", a).is_err() || validate_user("", b).is_err() {
        return None;
    }
    Some(if a <= b { (a, b) } else { (b, a) })
}

/// What `conversation_users` accepts, as a regular expression (each user as `USER_PATTERN`).
pub const CONVERSATION_PATTERN: &str = "^[A-Za-z0-9._-]{1,50}:[A-Za-z0-9._-]{1,50}$";

/// The id under which the API reserves a sender's `Idempotency-Key`: one per sender and key.
pub fn idempotency_key_id(from_user: &str, key: &str) -> Uuid {
    // Fixed for good: changing it would let a key be reused across a deploy.
    const NAMESPACE: Uuid = Uuid::from_u128(0x5d1f_6a5c_1b7e_4c36_9f3e_6b0f_1c2d_3e4f);
    Uuid::new_v5(&NAMESPACE, length_prefixed(&[from_user, key]).as_bytes())
}

/// The id of a message sent with an `Idempotency-Key`. It follows the content as well as the key,
/// so retries of one message share an id (and the unique index stores it once), while a different
/// message under a reused key can never be mistaken for the stored one, even when the store could
/// not be asked whether the key was taken.
pub fn idempotent_message_id(from_user: &str, key: &str, to_user: &str, content: &str) -> Uuid {
    // Fixed for good: changing it would break idempotent retries that span a deploy.
    const NAMESPACE: Uuid = Uuid::from_u128(0x8e2b_41c7_93d0_4f5a_a6e1_27c4_b9d3_0f18);
    Uuid::new_v5(
        &NAMESPACE,
        length_prefixed(&[from_user, key, to_user, content]).as_bytes(),
    )
}

/// Each part behind its length in bytes, so no list of parts can spell another's input.
fn length_prefixed(parts: &[&str]) -> String {
    parts.iter().map(|p| format!("{}:{p}", p.len())).collect()
}

/// One broken rule: which field and what it must be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The user-name and content rules as OpenAPI schemas, from the same constants as the checks below.
#[cfg(feature = "openapi")]
pub mod openapi {
    use utoipa::openapi::schema::{ObjectBuilder, Type};

    use super::{CONTENT_MAX_CHARS, USER_MAX_CHARS, USER_PATTERN};

    pub fn user() -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(USER_MAX_CHARS))
            .pattern(Some(USER_PATTERN))
    }

    pub fn content() -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("1 to 5000 Unicode characters."))
            .min_length(Some(1))
            .max_length(Some(CONTENT_MAX_CHARS))
    }
}

/// What `validate_user` accepts, as a regular expression (with 1 to `USER_MAX_CHARS` characters).
pub const USER_PATTERN: &str = "^[A-Za-z0-9._-]+$";

pub fn validate_user(field: &str, value: &str) -> Result<(), FieldError> {
    let chars = value.chars().count();
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if chars == 0 || chars > USER_MAX_CHARS || !value.chars().all(allowed) {
        return Err(FieldError::new(
            field,
            format!("must be 1 to {USER_MAX_CHARS} characters of letters, digits, '.', '_' or '-'"),
        ));
    }
    Ok(())
}

pub fn validate_content(field: &str, value: &str) -> Result<(), FieldError> {
    let chars = value.chars().count();
    if chars == 0 || chars > CONTENT_MAX_CHARS {
        return Err(FieldError::new(
            field,
            format!("must be 1 to {CONTENT_MAX_CHARS} characters (got {chars})"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_id_is_the_same_whoever_sends() {
        assert_eq!(conversation_id("bob", "alice"), "alice:bob");
        assert_eq!(conversation_id("alice", "bob"), "alice:bob");
        assert_eq!(conversation_id("alice", "alice"), "alice:alice");
    }

    #[test]
    fn a_conversation_id_names_its_two_users_in_either_order() {
        assert_eq!(conversation_users("alice:bob"), Some(("alice", "bob")));
        assert_eq!(conversation_users("bob:alice"), Some(("alice", "bob")));
        assert_eq!(conversation_users("alice:alice"), Some(("alice", "alice")));
        for bad in ["alice", "alice:", ":bob", "a:b:c", "al ice:bob"] {
            assert_eq!(conversation_users(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn idempotency_key_gives_the_same_id_per_sender_only() {
        let a = idempotency_key_id("alice", "k1");
        assert_eq!(a, idempotency_key_id("alice", "k1"));
        assert_ne!(a, idempotency_key_id("bob", "k1"));
        assert_ne!(a, idempotency_key_id("alice", "k2"));
        assert_ne!(idempotency_key_id("ab", "c"), idempotency_key_id("a", "bc"));
    }

    #[test]
    fn a_keyed_message_id_follows_sender_key_recipient_and_content() {
        let a = idempotent_message_id("alice", "k1", "bob", "hi");
        assert_eq!(a, idempotent_message_id("alice", "k1", "bob", "hi"));
        for other in [
            idempotent_message_id("carol", "k1", "bob", "hi"),
            idempotent_message_id("alice", "k2", "bob", "hi"),
            idempotent_message_id("alice", "k1", "carol", "hi"),
            idempotent_message_id("alice", "k1", "bob", "hi!"),
            idempotent_message_id("alice", "k1b", "ob", "hi"),
        ] {
            assert_ne!(a, other);
        }
        assert_ne!(a, idempotency_key_id("alice", "k1"));
    }

    #[test]
    fn users_allow_letters_digits_dot_underscore_dash_up_to_50() {
        assert!(validate_user("u", "alice.B_0-9").is_ok());
        assert!(validate_user("u", &"a".repeat(50)).is_ok());
        assert!(validate_user("u", &"a".repeat(51)).is_err());
        assert!(validate_user("u", "").is_err());
        assert!(validate_user("u", "al ice").is_err());
        assert!(validate_user("u", "alice:bob").is_err());
        assert!(validate_user("u", "élodie").is_err());
        assert_eq!(validate_user("toUser", "").unwrap_err().field, "toUser");
    }

    #[test]
    fn content_counts_unicode_characters_not_bytes() {
        assert!(validate_content("c", &"é".repeat(5000)).is_ok());
        assert!(validate_content("c", &"😀".repeat(5000)).is_ok());
        assert!(validate_content("c", &"a".repeat(5001)).is_err());
        assert!(validate_content("c", "").is_err());
    }

    #[test]
    fn record_validation_reports_every_broken_field() {
        let record = MessageRecord {
            message_id: Uuid::nil(),
            from_user: String::new(),
            to_user: "bob".into(),
            content: String::new(),
        };
        let fields: Vec<String> = record
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["fromUser", "content"]);
    }
}
