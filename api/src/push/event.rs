//! What a stream carries: each record as an `Event` of its kind (`Pushed`), and at its end, why
//! (`End`).

use std::time::Instant;

use serde_json::Value;
use wiber_common::change::{Change, Changed};
use wiber_common::message::{Message, StoredMessage, conversation_users};
use wiber_common::signal::{Receipt, Signal, TYPING_LAPSE_MS, Typing};

/// What a stream says of a record: its name (SSE `event:`, WebSocket `type`) and its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    Message(Message),
    /// A group's membership change, as its item in the conversation.
    Membership(Message),
    Receipt(Receipt),
    Typing(Typing),
    Edit(Changed),
    Delete(Changed),
}

impl Pushed {
    /// Every name a stream's events can have besides `ready` and `end`.
    pub const NAMES: [&'static str; 6] = [
        "message",
        "membership",
        "receipt",
        "typing",
        "edit",
        "delete",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Self::Message(_) => "message",
            Self::Membership(_) => "membership",
            Self::Receipt(_) => "receipt",
            Self::Typing(_) => "typing",
            Self::Edit(_) => "edit",
            Self::Delete(_) => "delete",
        }
    }

    pub fn data(&self) -> Value {
        match self {
            Self::Message(m) | Self::Membership(m) => serde_json::to_value(m),
            Self::Receipt(r) => serde_json::to_value(r),
            Self::Typing(t) => serde_json::to_value(t),
            Self::Edit(c) | Self::Delete(c) => serde_json::to_value(c),
        }
        .expect("an event serializes")
    }

    /// Whether a stream that resumes from before it gets it again: all but typing.
    pub fn replayed(&self) -> bool {
        !matches!(self, Self::Typing(_))
    }
}

/// A record acknowledged by Kafka, as streams receive it.
#[derive(Debug)]
pub struct Event {
    pub partition: i32,
    pub offset: i64,
    /// The broker's time of it.
    pub timestamp: i64,
    pub conversation_id: String,
    pub pushed: Pushed,
    /// Whose streams carry it, each once, sorted: a pair's two users, a group's members, a
    /// signal's addressees.
    pub users: Vec<String>,
    /// When this replica's feed read it, for the read-to-pushed latency.
    pub released_at: Instant,
}

impl Event {
    pub fn from_stored(stored: &StoredMessage, released_at: Instant) -> Option<Self> {
        let mut users = stored.participants.clone();
        users.sort();
        users.dedup();
        let conversation_id = stored.conversation_id.clone();
        let pushed = match &stored.signal {
            None if stored.change.is_some() => {
                let change = stored.change.as_ref()?;
                let changed = Changed {
                    conversation_id: conversation_id.clone(),
                    message_id: change.message_id().to_owned(),
                    by: stored.from_user.clone(),
                    content: (!stored.content.is_empty()).then(|| stored.content.clone()),
                    timestamp: stored.timestamp,
                };
                match change {
                    Change::Edited { .. } => Pushed::Edit(changed),
                    Change::Deleted { .. } => Pushed::Delete(changed),
                }
            }
            None if stored.membership.is_some() => Pushed::Membership(stored.to_message()?),
            None => Pushed::Message(stored.to_message()?),
            Some(Signal::Typing) => Pushed::Typing(Typing {
                conversation_id: conversation_id.clone(),
                user: stored.from_user.clone(),
                expires_at: stored.timestamp + TYPING_LAPSE_MS,
            }),
            Some(Signal::Receipt {
                read_seq,
                message_id,
            }) => Pushed::Receipt(Receipt {
                conversation_id: conversation_id.clone(),
                user: stored.from_user.clone(),
                read_seq: *read_seq,
                message_id: message_id.clone(),
                timestamp: stored.timestamp,
            }),
        };
        Some(Self {
            partition: stored.partition,
            offset: stored.offset,
            timestamp: stored.timestamp,
            conversation_id,
            pushed,
            users,
            released_at,
        })
    }

    /// Whether a stream of `user`, limited to the 1:1 conversation with `with`, carries this.
    pub fn is_for(&self, user: &str, with: Option<&str>) -> bool {
        if self
            .users
            .binary_search_by(|u| u.as_str().cmp(user))
            .is_err()
        {
            return false;
        }
        let Some(with) = with else { return true };
        match conversation_users(&self.conversation_id) {
            Some((a, b)) => (a, b) == (user, with) || (a, b) == (with, user),
            None => false,
        }
    }
}

/// Why a stream ended: the `reason` of its `end` event (the server's ends) and the label of
/// `wiber_api_push_disconnects_total` (all four). The one list of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Its buffer filled: the client reads slower than its messages arrive.
    SlowReader = 1,
    /// The replica is shutting down; the client reconnects elsewhere and resumes.
    ShuttingDown = 2,
    /// The store failed while the stream caught up; the client reconnects with its last id.
    StoreFailed = 3,
    /// The client went away.
    Client = 4,
    /// The token it was opened with is no longer accepted (`exp` and the leeway passed): the
    /// client gets a new token and resumes with its last id.
    TokenExpired = 5,
}

impl End {
    pub const ALL: [End; 5] = [
        Self::SlowReader,
        Self::ShuttingDown,
        Self::StoreFailed,
        Self::Client,
        Self::TokenExpired,
    ];

    /// The ends the server tells its client of, in an `end` event.
    pub const TOLD: [End; 4] = [
        Self::SlowReader,
        Self::ShuttingDown,
        Self::StoreFailed,
        Self::TokenExpired,
    ];

    pub const fn reason(self) -> &'static str {
        match self {
            Self::SlowReader => "slow_reader",
            Self::ShuttingDown => "shutting_down",
            Self::StoreFailed => "store_failed",
            Self::Client => "client",
            Self::TokenExpired => "token_expired",
        }
    }

    /// The WebSocket close code that follows the `end` frame (RFC 6455 section 7.4.1).
    pub const fn close_code(self) -> u16 {
        match self {
            Self::SlowReader => 1008,
            Self::ShuttingDown => 1012,
            Self::StoreFailed => 1011,
            Self::Client => 1000,
            // Policy violation, as the server's refusal of a token would be.
            Self::TokenExpired => 1008,
        }
    }

    /// The end stored as `code` (`End as u8`); `None` for 0, a stream not ended.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|e| *e as u8 == code)
    }
}

#[cfg(test)]
mod tests {
    use super::End;

    #[test]
    fn every_end_round_trips_through_its_code_and_has_its_own_reason() {
        for end in End::ALL {
            assert_eq!(End::from_code(end as u8), Some(end));
        }
        assert_eq!(End::from_code(0), None);
        let mut reasons: Vec<_> = End::ALL.iter().map(|e| e.reason()).collect();
        reasons.sort();
        reasons.dedup();
        assert_eq!(reasons.len(), End::ALL.len());
    }
}
