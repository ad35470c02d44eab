//! What a stream carries: each message as an `Event`, and at its end, why (`End`).

use std::time::Instant;

use wiber_common::message::{Message, StoredMessage};

/// A message acknowledged by Kafka, as streams receive it.
#[derive(Debug)]
pub struct Event {
    pub partition: i32,
    pub offset: i64,
    pub message: Message,
    /// The other user of the conversation, for each of the two users.
    pub from_user: String,
    pub to_user: String,
    /// When this replica's feed read it, for the read-to-pushed latency.
    pub released_at: Instant,
}

impl Event {
    pub fn from_stored(stored: &StoredMessage, released_at: Instant) -> Option<Self> {
        Some(Self {
            partition: stored.partition,
            offset: stored.offset,
            message: stored.to_message()?,
            from_user: stored.from_user.clone(),
            to_user: stored.to_user.clone(),
            released_at,
        })
    }

    /// Whether a stream of `user`, limited to the conversation with `with`, carries this.
    pub fn is_for(&self, user: &str, with: Option<&str>) -> bool {
        let peer = if self.from_user == user {
            &self.to_user
        } else if self.to_user == user {
            &self.from_user
        } else {
            return false;
        };
        with.is_none_or(|w| w == peer)
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
}

impl End {
    pub const ALL: [End; 4] = [
        Self::SlowReader,
        Self::ShuttingDown,
        Self::StoreFailed,
        Self::Client,
    ];

    /// The ends the server tells its client of, in an `end` event.
    pub const TOLD: [End; 3] = [Self::SlowReader, Self::ShuttingDown, Self::StoreFailed];

    pub const fn reason(self) -> &'static str {
        match self {
            Self::SlowReader => "slow_reader",
            Self::ShuttingDown => "shutting_down",
            Self::StoreFailed => "store_failed",
            Self::Client => "client",
        }
    }

    /// The WebSocket close code that follows the `end` frame (RFC 6455 section 7.4.1).
    pub const fn close_code(self) -> u16 {
        match self {
            Self::SlowReader => 1008,
            Self::ShuttingDown => 1012,
            Self::StoreFailed => 1011,
            Self::Client => 1000,
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
