//! Edits and deletes: a sender changes their own message (an admin deletes any). A change is a Kafka
//! record on the conversation's key, after the message it changes; the consumer applies it to the
//! stored message (only if it is later than the last change applied, so a redelivery changes
//! nothing), keeps it in `<MONGO_COLLECTION>_changes` for streams that resume from before it, and a
//! delete empties the content everywhere it is kept: the message, its earlier edits, the inbox.

use serde::{Deserialize, Serialize};
#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// What a change record does to the message `message_id` of its conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Change {
    /// Its content becomes the record's `content`.
    #[serde(rename_all = "camelCase")]
    Edited { message_id: String },
    /// Its content is gone; `admin`: removed by a holder of the admin scope, not its sender.
    #[serde(rename_all = "camelCase")]
    Deleted {
        message_id: String,
        #[serde(default)]
        admin: bool,
    },
}

impl Change {
    pub fn message_id(&self) -> &str {
        match self {
            Self::Edited { message_id } | Self::Deleted { message_id, .. } => message_id,
        }
    }

    /// Its name on a stream.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Edited { .. } => "edit",
            Self::Deleted { .. } => "delete",
        }
    }
}

/// The collection of applied changes, beside the messages.
pub fn changes_collection(messages: &str) -> String {
    format!("{messages}_changes")
}

/// An edit or a delete as a stream carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Changed {
    pub conversation_id: String,
    /// The message changed.
    pub message_id: String,
    /// Who changed it: its sender, or (a delete) an admin.
    pub by: String,
    /// The new content of an edit; absent for a delete, and once the message is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// When it changed (the broker's time).
    pub timestamp: i64,
}
