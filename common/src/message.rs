//! The chat message as the API returns it, as it travels through Kafka, and the rules it must follow.

use serde::{Deserialize, Serialize};
#[cfg(feature = "openapi")]
use utoipa::ToSchema;
use uuid::Uuid;

use crate::change::Change;
use crate::group::{Membership, is_group_id};
use crate::signal::Signal;

// The rules, here where they were first stated, for every use that names them from here.
#[cfg(feature = "openapi")]
pub use crate::rules::openapi;
pub use crate::rules::{
    CONTENT_MAX_CHARS, FieldError, USER_MAX_CHARS, USER_PATTERN, validate_content, validate_user,
};

/// A stored (or acknowledged) chat message, exactly as the HTTP API returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// Assigned by the API; the same for retries that share an `Idempotency-Key`.
    pub message_id: Uuid,
    #[cfg_attr(feature = "openapi", schema(schema_with = openapi::user))]
    pub from_user: String,
    /// The recipient of a 1:1 message; absent in a group's.
    #[cfg_attr(feature = "openapi", schema(schema_with = openapi::optional_user))]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub to_user: String,
    /// 1 to 5000 Unicode characters; empty once deleted.
    #[cfg_attr(feature = "openapi", schema(schema_with = openapi::stored_content))]
    pub content: String,
    /// Milliseconds since the epoch, assigned by the Kafka broker when it appended the message
    /// (LogAppendTime), so clocks of API replicas cannot reorder a conversation.
    pub timestamp: i64,
    /// The group it was sent to; absent in a 1:1 conversation, which its two users name.
    #[cfg_attr(feature = "openapi", schema(pattern = "^g-[0-9a-f]{32}$"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// Present on a group's membership changes, whose `content` says the same in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership: Option<Membership>,
    /// Its sender changed its content since it was sent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub edited: bool,
    /// Deleted: its `content` is empty, and gone from the store.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

/// The Kafka record value the API produces; the record's own timestamp completes it.
/// Unknown fields are ignored, so a newer API can add one during a rolling upgrade without older
/// consumers dead-lettering its messages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageRecord {
    pub message_id: Uuid,
    pub from_user: String,
    /// A 1:1 message's recipient; empty (absent) in a group's records.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub to_user: String,
    pub content: String,
    /// A group's id (`group`); absent for 1:1 messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// A group's membership change (`content` is its summary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership: Option<Membership>,
    /// Whom the API's push streams deliver a group's record (or a signal) to: the members as the
    /// API saw them when it accepted it. What is stored follows the consumer's view, in Kafka's
    /// order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
    /// A signal (`signal`), pushed and never stored; its `content` is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<Signal>,
    /// An edit (with the new `content`) or a delete (with none) of an earlier message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
}

impl MessageRecord {
    /// A 1:1 message.
    pub fn direct(message_id: Uuid, from_user: &str, to_user: &str, content: &str) -> Self {
        Self {
            message_id,
            from_user: from_user.to_owned(),
            to_user: to_user.to_owned(),
            content: content.to_owned(),
            conversation_id: None,
            membership: None,
            recipients: Vec::new(),
            signal: None,
            change: None,
        }
    }

    /// The conversation it belongs to, which is its Kafka key.
    pub fn conversation(&self) -> String {
        match &self.conversation_id {
            Some(group) => group.clone(),
            None => conversation_id(&self.from_user, &self.to_user),
        }
    }

    pub fn into_message(self, timestamp: i64) -> Message {
        Message {
            message_id: self.message_id,
            from_user: self.from_user,
            to_user: self.to_user,
            content: self.content,
            timestamp,
            conversation_id: self.conversation_id,
            membership: self.membership,
            edited: false,
            deleted: false,
        }
    }

    /// The rules the API enforced, checked again by the consumer so a record produced by anything
    /// else cannot store what the API would have refused.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let group = self.conversation_id.as_deref().map(|id| {
            if !is_group_id(id) {
                return Err(FieldError::new("conversationId", "must be a group's id"));
            }
            if !self.to_user.is_empty() {
                return Err(FieldError::new(
                    "toUser",
                    "must be absent in a group's record",
                ));
            }
            if let Some(change) = &self.membership {
                change.validate(&self.from_user)?;
            }
            Ok(())
        });
        let direct = match group {
            Some(_) => None,
            None if self.membership.is_some() => Some(Err(FieldError::new(
                "membership",
                "only a group's record changes members",
            ))),
            None => Some(validate_user("toUser", &self.to_user)),
        };
        let errors: Vec<FieldError> = [
            validate_user("fromUser", &self.from_user).err(),
            group.and_then(Result::err),
            direct.and_then(Result::err),
            match (&self.signal, &self.membership) {
                _ if matches!(self.change, Some(Change::Deleted { .. })) => {
                    (!self.content.is_empty() || self.signal.is_some() || self.membership.is_some())
                        .then(|| FieldError::new("content", "must be empty in a delete"))
                }
                (None, _) => validate_content("content", &self.content).err(),
                (Some(_), Some(_)) => Some(FieldError::new(
                    "signal",
                    "a membership change is not a signal",
                )),
                (Some(_), None) if !self.content.is_empty() => {
                    Some(FieldError::new("content", "must be empty in a signal"))
                }
                (Some(_), None) => None,
            },
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
    /// Sender and recipient (a group's members when it was appended, and those a membership change
    /// removed), so one equality (on one multikey index) finds a user's messages.
    pub participants: Vec<String>,
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
    /// A group's membership change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership: Option<Membership>,
    /// A signal, as the push feed reads it: the consumer never stores one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<Signal>,
    /// An edit or delete (as the feed reads it, and as `<MONGO_COLLECTION>_changes` keeps it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
    /// The offset of the last change applied to this message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<i64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub edited: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

impl StoredMessage {
    /// A group's record gets its participants from the group's state when the consumer places
    /// it; until then (as the push feed reads it), those the API addressed it to.
    pub fn new(record: MessageRecord, timestamp: i64, partition: i32, offset: i64) -> Self {
        let conversation_id = record.conversation();
        let participants = if !record.recipients.is_empty() {
            record.recipients.clone()
        } else if record.conversation_id.is_some() {
            vec![record.from_user.clone()]
        } else {
            vec![record.from_user.clone(), record.to_user.clone()]
        };
        Self {
            message_id: record.message_id.to_string(),
            conversation_id,
            participants,
            from_user: record.from_user,
            to_user: record.to_user,
            content: record.content,
            timestamp,
            partition,
            offset,
            seq: None,
            page: None,
            membership: record.membership,
            signal: record.signal,
            change: record.change,
            changed: None,
            edited: false,
            deleted: false,
        }
    }

    pub fn is_group(&self) -> bool {
        is_group_id(&self.conversation_id)
    }

    /// Whether it takes a place in its conversation: edits, deletes and signals do not.
    pub fn takes_place(&self) -> bool {
        self.change.is_none() && self.signal.is_none()
    }

    /// The API's view; `None` only if the stored id is not a UUID, which the consumer never writes.
    pub fn to_message(&self) -> Option<Message> {
        Some(Message {
            message_id: self.message_id.parse().ok()?,
            from_user: self.from_user.clone(),
            to_user: self.to_user.clone(),
            content: self.content.clone(),
            timestamp: self.timestamp,
            conversation_id: self.is_group().then(|| self.conversation_id.clone()),
            membership: self.membership.clone(),
            edited: self.edited,
            deleted: self.deleted,
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

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
