//! Signals: what a conversation's members tell each other live and Wiber does not keep as
//! messages. They travel through Kafka on the conversation's key, so every API replica's feed
//! pushes them to the members' streams in the conversation's order; the consumer takes no place
//! for them.
//!
//! - **typing**: a member is typing; it lapses by itself `TYPING_LAPSE_MS` after it was sent
//!   (a client that keeps typing says so again), and is never replayed to a resuming stream;
//! - **receipt**: a member's read mark moved; the consumer keeps it beside edits and deletes for
//!   streams that resume from before it. The mark itself is kept (`<MONGO_COLLECTION>_reads`), where
//!   every member can read everyone's (`GET /conversations/{id}/reads`).

use serde::{Deserialize, Serialize};
#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// How long a typing signal holds, from the broker's time of it.
pub const TYPING_LAPSE_MS: i64 = 5_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Signal {
    Typing,
    Receipt {
        /// The reader's mark: they have read the conversation up to this place...
        read_seq: i64,
        /// ...which holds this message.
        message_id: String,
    },
}

impl Signal {
    /// Its name on a stream: the SSE `event:` and the WebSocket `type`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Typing => "typing",
            Self::Receipt { .. } => "receipt",
        }
    }
}

/// A typing signal as a stream carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Typing {
    /// `user1:user2` or a group's id.
    pub conversation_id: String,
    pub user: String,
    /// Milliseconds since the epoch after which it no longer holds, unless said again.
    pub expires_at: i64,
}

/// A read mark that moved, as a stream carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    pub conversation_id: String,
    /// Who read.
    pub user: String,
    /// They have read up to this place of the conversation...
    pub read_seq: i64,
    /// ...which holds this message.
    pub message_id: String,
    /// When the mark moved (the broker's time).
    pub timestamp: i64,
}
