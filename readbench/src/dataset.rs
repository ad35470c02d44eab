//! The benchmark's messages, the same for every run, shaped as #30 asks: at 1M messages, 100,000
//! conversations; three busy users in 20,000 each (a support desk, say); two long conversations
//! of 50,000 messages each; groups of 2 to 256 members; and a reference conversation of a fixed
//! 100 messages between two users who talk to nobody else. Of every 100 messages, five go to each
//! long conversation, one to a group and the rest to the pairs, round-robin in runs of `RUN` (a
//! conversation's messages come a few at a time, as people chat), so any prefix of the load (100k,
//! 1M) has the same shape at its own scale.

use uuid::Uuid;
use wiber_common::group::{Action, Membership};
use wiber_common::message::{MessageRecord, conversation_id};

/// Pair conversations (the long ones and the groups come on top).
pub const CONVERSATIONS: u64 = 100_000;
pub const BUSY_USERS: u64 = 3;
/// Conversations below this index have a busy user on one side.
const BUSY_CONVERSATIONS: u64 = 60_000;
pub const GROUPS: u64 = 16;
/// Messages in every cycle of the load: `LONG_SHARE` to each long conversation, one to a group,
/// the rest to pairs.
const CYCLE: u64 = 100;
const LONG_SHARE: u64 = 5;
const PAIRS_PER_CYCLE: u64 = CYCLE - 2 * LONG_SHARE - 1;
/// Consecutive messages of a pair's (or a group's) before the next one's.
const RUN: u64 = 8;
pub const LONG: [(&str, &str); 2] = [("long-ann", "long-bob"), ("long-cat", "long-dan")];
pub const REFERENCE_MESSAGES: u64 = 100;
pub const REFERENCE: (&str, &str) = ("ref-ann", "ref-bob");

/// Records loaded before the messages: the reference conversation and the groups' creations.
pub fn extra_records() -> u64 {
    REFERENCE_MESSAGES + GROUPS
}

/// The two users of pair conversation `c`.
pub fn users(c: u64) -> (String, String) {
    if c < BUSY_CONVERSATIONS {
        (format!("busy{}", c % BUSY_USERS), format!("peer{c}"))
    } else {
        (format!("user{c}a"), format!("user{c}b"))
    }
}

/// A user in 20,000 conversations at 1M messages.
pub fn busy_user() -> String {
    users(0).0
}

/// A user in one ordinary conversation, which every load of 100k or more reaches.
pub fn cold_user() -> String {
    users(BUSY_CONVERSATIONS + 1).0
}

/// An ordinary conversation, as (user1, user2).
pub fn typical_conversation() -> (String, String) {
    users(BUSY_CONVERSATIONS + 2)
}

/// Group `g`'s members: from 2 (the first) to 256 (the last).
pub fn group_members(g: u64) -> Vec<String> {
    let size = 2 + g * 254 / (GROUPS - 1);
    (0..size).map(|m| format!("g{g}m{m}")).collect()
}

pub fn group_id(g: u64) -> String {
    format!("g-{:032x}", g + 1)
}

/// The largest group's id and one of its members.
pub fn largest_group() -> (String, String) {
    (group_id(GROUPS - 1), group_members(GROUPS - 1)[0].clone())
}

/// Message number `i` of the load.
pub fn record(i: u64) -> (String, MessageRecord) {
    let cycle = i / CYCLE;
    match i % CYCLE {
        r if r < 2 * LONG_SHARE => {
            let (a, b) = LONG[(r / LONG_SHARE) as usize];
            let (from, to) = if i % 2 == 0 { (a, b) } else { (b, a) };
            message(from.to_owned(), to.to_owned(), i)
        }
        r if r == 2 * LONG_SHARE => {
            let g = (cycle / RUN) % GROUPS;
            let members = group_members(g);
            let from = &members[cycle as usize % members.len()];
            let record = MessageRecord {
                conversation_id: Some(group_id(g)),
                ..MessageRecord::direct(Uuid::new_v4(), from, "", &content(from, i))
            };
            (group_id(g), record)
        }
        r => {
            let n = cycle * PAIRS_PER_CYCLE + (r - 2 * LONG_SHARE - 1);
            let run = n / RUN;
            let c = run % CONVERSATIONS;
            let (a, b) = users(c);
            let (from, to) = if n % 2 == 0 { (a, b) } else { (b, a) };
            message(from, to, i)
        }
    }
}

/// The creation of group `g` by its first member.
pub fn group_creation(g: u64) -> (String, MessageRecord) {
    let members = group_members(g);
    let change = Membership {
        action: Action::Created,
        users: {
            let mut sorted = members.clone();
            sorted.sort();
            sorted
        },
        title: Some(format!("group {g}")),
        limit: Some(256),
    };
    let record = MessageRecord {
        conversation_id: Some(group_id(g)),
        recipients: change.users.clone(),
        membership: Some(change.clone()),
        ..MessageRecord::direct(
            Uuid::new_v4(),
            &members[0],
            "",
            &change.summary(&members[0]),
        )
    };
    (group_id(g), record)
}

/// Message `i` of the reference conversation.
pub fn reference_record(i: u64) -> (String, MessageRecord) {
    let (a, b) = REFERENCE;
    let (from, to) = if i % 2 == 0 { (a, b) } else { (b, a) };
    message(from.to_owned(), to.to_owned(), i)
}

fn content(from: &str, i: u64) -> String {
    format!("message {i} from {from}: a chat line of about the length people type")
}

fn message(from: String, to: String, i: u64) -> (String, MessageRecord) {
    let key = conversation_id(&from, &to);
    let record = MessageRecord::direct(Uuid::new_v4(), &from, &to, &content(&from, i));
    (key, record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_a_million_messages_the_shape_is_the_one_asked_for() {
        let mut long = [0u64; 2];
        let mut groups = 0u64;
        let mut busy = std::collections::HashSet::new();
        for i in 0..1_000_000 {
            let (key, record) = record(i);
            match key.as_str() {
                "long-ann:long-bob" => long[0] += 1,
                "long-cat:long-dan" => long[1] += 1,
                k if k.starts_with("g-") => groups += 1,
                k if record.from_user == "busy0" || record.to_user == "busy0" => {
                    busy.insert(k.to_owned());
                }
                _ => {}
            }
        }
        assert_eq!(long, [50_000, 50_000]);
        assert_eq!(groups, 10_000);
        assert_eq!(busy.len(), 20_000);
    }

    #[test]
    fn groups_run_from_two_to_two_hundred_fifty_six_members() {
        assert_eq!(group_members(0).len(), 2);
        assert_eq!(group_members(GROUPS - 1).len(), 256);
        let (key, record) = group_creation(3);
        assert_eq!(key, group_id(3));
        assert!(wiber_common::group::is_group_id(&key));
        assert_eq!(
            record.membership.unwrap().users.len(),
            group_members(3).len()
        );
    }

    #[test]
    fn a_group_message_comes_from_one_of_its_members() {
        let (key, record) = record(2 * LONG_SHARE + CYCLE * RUN * 5);
        let g = 5 % GROUPS;
        assert_eq!(key, group_id(g));
        assert!(group_members(g).contains(&record.from_user));
    }
}
