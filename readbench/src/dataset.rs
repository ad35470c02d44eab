//! The benchmark's messages, the same for every run: 1,000 conversations filled round-robin, so each
//! holds a thousandth of the store; five hot users, each in 20 of them (a support desk, say); and a
//! reference conversation of a fixed 100 messages between two users who talk to nobody else, so a
//! read whose cost follows only its own conversation can be told from one that follows the store.

use wiber_common::message::{MessageRecord, conversation_id};

pub const CONVERSATIONS: u64 = 1_000;
pub const HOT_USERS: u64 = 5;
/// Conversations below this index have a hot user on one side.
const HOT_CONVERSATIONS: u64 = 100;
pub const REFERENCE_MESSAGES: u64 = 100;
pub const REFERENCE: (&str, &str) = ("ref-ann", "ref-bob");

/// The two users of conversation `c`.
pub fn users(c: u64) -> (String, String) {
    if c < HOT_CONVERSATIONS {
        (format!("hot{}", c % HOT_USERS), format!("peer{c}"))
    } else {
        (format!("user{c}a"), format!("user{c}b"))
    }
}

pub fn hot_user() -> String {
    users(0).0
}

/// A user in one ordinary conversation.
pub fn cold_user() -> String {
    users(CONVERSATIONS - 1).0
}

/// An ordinary conversation, as (user1, user2).
pub fn typical_conversation() -> (String, String) {
    users(CONVERSATIONS / 2)
}

/// Message number `i` of the load: conversation `i % 1000`, the sides taking turns.
pub fn record(i: u64) -> (String, MessageRecord) {
    let c = i % CONVERSATIONS;
    let (a, b) = users(c);
    let (from, to) = if (i / CONVERSATIONS) % 2 == 0 {
        (a, b)
    } else {
        (b, a)
    };
    message(from, to, i)
}

/// Message `i` of the reference conversation.
pub fn reference_record(i: u64) -> (String, MessageRecord) {
    let (a, b) = REFERENCE;
    let (from, to) = if i % 2 == 0 { (a, b) } else { (b, a) };
    message(from.to_owned(), to.to_owned(), i)
}

fn message(from: String, to: String, i: u64) -> (String, MessageRecord) {
    let key = conversation_id(&from, &to);
    let record = MessageRecord {
        message_id: uuid::Uuid::new_v4(),
        content: format!("message {i} from {from}: a chat line of about the length people type"),
        from_user: from,
        to_user: to,
        ..Default::default()
    };
    (key, record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_hot_user_is_in_twenty_conversations_and_a_cold_user_in_one() {
        let count = |user: &str| {
            (0..CONVERSATIONS)
                .filter(|&c| {
                    let (a, b) = users(c);
                    a == user || b == user
                })
                .count()
        };
        assert_eq!(count(&hot_user()), 20);
        assert_eq!(count(&cold_user()), 1);
        assert_eq!(count(REFERENCE.0), 0);
    }

    #[test]
    fn conversations_fill_round_robin_and_sides_take_turns() {
        let (k0, r0) = record(0);
        let (k1000, r1000) = record(CONVERSATIONS);
        assert_eq!(k0, k1000);
        assert_eq!((r0.from_user, r0.to_user), (r1000.to_user, r1000.from_user));
        assert_ne!(record(1).0, k0);
    }
}
