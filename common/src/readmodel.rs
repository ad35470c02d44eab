//! The read model the consumer keeps beside the messages, so that what an app reads first costs
//! the same whatever the store's size, a user's number of conversations or a conversation's
//! length, on a MongoDB and on FerretDB (which serves only a top-level equality from an index):
//!
//! - every message has its place in its conversation (`seq`, from 1) and the page of
//!   `PAGE_SIZE` places it belongs to (`page`), so a conversation page is one or two equality
//!   lookups;
//! - tallies count, each exactly: a conversation's messages, a partition's, and a user's in a
//!   partition (so a user's count adds at most one tally per partition, and the total one per
//!   partition). Each tally is written only by the consumer that owns its partition, and carries
//!   the offset of the last message it counted (`applied`), so a redelivered message is never
//!   counted twice;
//! - an inbox entry per member of each conversation: its last message, the conversation's count
//!   and how far the member has read (`readSeq`); the unread count is their difference.
//!
//! Collections: `<MONGO_COLLECTION>_tallies` and `<MONGO_COLLECTION>_inbox`.

use serde::{Deserialize, Serialize};

use crate::group::GroupState;
use crate::message::StoredMessage;
pub use crate::recent::{RECENT_KEPT, Recent, RecentList};

/// Places per page of a conversation: a page of up to 64 messages reads one or two pages.
pub const PAGE_SIZE: i64 = 64;

/// The page holding place `seq` of a conversation (places start at 1).
pub fn page_of(seq: i64) -> i64 {
    (seq - 1).div_euclid(PAGE_SIZE)
}

/// The `page` field of the messages on page `page` of a conversation.
pub fn page_name(conversation_id: &str, page: i64) -> String {
    format!("{conversation_id}/{page}")
}

pub fn page_key(conversation_id: &str, seq: i64) -> String {
    page_name(conversation_id, page_of(seq))
}

/// `m` at place `seq` of its conversation.
pub fn placed(mut m: StoredMessage, seq: i64) -> StoredMessage {
    m.page = Some(page_key(&m.conversation_id, seq));
    m.seq = Some(seq);
    m
}

pub fn tallies_collection(messages: &str) -> String {
    format!("{messages}_tallies")
}

pub fn inbox_collection(messages: &str) -> String {
    format!("{messages}_inbox")
}

/// Members' read marks, which only the API writes: apart from the inbox entries the consumer
/// writes, because FerretDB applies an update by rewriting the whole document, so two writers of
/// one document can lose each other's change.
pub fn reads_collection(messages: &str) -> String {
    format!("{messages}_reads")
}

/// A member's read mark in a conversation, as `POST /conversations/{id}/read` left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadMark {
    /// `<user>/<conversationId>`, as the inbox entry's.
    #[serde(rename = "_id")]
    pub id: String,
    pub user: String,
    pub conversation_id: String,
    pub read_seq: i64,
}

/// What a tally counts. Every key names one partition, whose consumer alone writes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TallyKey {
    Conversation(String),
    Partition(i32),
    User(String, i32),
}

/// The `kind` of the tallies that make up the total count.
pub const PARTITION_KIND: &str = "partition";

impl TallyKey {
    /// The tally's `_id`. User names hold no `/` and conversation ids no `/` either.
    pub fn id(&self) -> String {
        match self {
            Self::Conversation(c) => format!("c/{c}"),
            Self::Partition(p) => format!("p/{p}"),
            Self::User(u, p) => format!("u/{u}/{p}"),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Conversation(_) => "conversation",
            Self::Partition(_) => PARTITION_KIND,
            Self::User(..) => "user",
        }
    }

    /// The tallies a stored message counts in: its conversation's, its partition's and each
    /// participant's.
    pub fn of(m: &StoredMessage) -> Vec<TallyKey> {
        let mut keys = vec![
            Self::Conversation(m.conversation_id.clone()),
            Self::Partition(m.partition),
        ];
        for (i, user) in m.participants.iter().enumerate() {
            if !m.participants[..i].contains(user) {
                keys.push(Self::User(user.clone(), m.partition));
            }
        }
        keys
    }
}

/// A tally as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tally {
    #[serde(rename = "_id")]
    pub id: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub partition: i32,
    #[serde(flatten)]
    pub state: TallyState,
    /// On a group's conversation tally: the group as of `applied`, moved with the count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupState>,
    /// On a user's tally: their most recently active conversations in its partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent: Option<RecentList>,
}

/// Where a tally stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TallyState {
    /// Messages counted, `legacy` included.
    pub count: i64,
    /// The offset of the last message counted; -1 before the first.
    pub applied: i64,
    /// Messages stored before the consumer kept tallies (without `seq`), counted when the tally
    /// was made: they hold the first places of a conversation.
    pub legacy: i64,
    /// The partition `applied` is an offset of; absent on tallies written before a
    /// conversation could move, whose offsets were all of one partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_in: Option<i32>,
    /// A conversation's last offsets in the partitions it counted in before (when the topic
    /// grew, its key moved to another partition, whose offsets are unrelated to the first's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub elsewhere: Vec<Applied>,
}

/// The last offset counted in a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub partition: i32,
    pub offset: i64,
}

impl TallyState {
    /// A tally not yet stored, over `legacy` earlier messages.
    pub fn new(legacy: i64) -> Self {
        Self {
            count: legacy,
            applied: -1,
            legacy,
            applied_in: None,
            elsewhere: Vec::new(),
        }
    }

    /// The offset of the last message counted from `partition`; -1 before the first. Each
    /// partition's offsets are compared only with their own.
    pub fn applied_in(&self, partition: i32) -> i64 {
        match self.applied_in {
            Some(p) if p != partition => self
                .elsewhere
                .iter()
                .find(|a| a.partition == partition)
                .map_or(-1, |a| a.offset),
            _ => self.applied,
        }
    }

    /// Counts the message at `offset` of `partition` unless it is counted already; whether it
    /// counted it.
    pub fn count(&mut self, partition: i32, offset: i64) -> bool {
        if offset <= self.applied_in(partition) {
            return false;
        }
        if let Some(p) = self.applied_in.filter(|&p| p != partition) {
            self.elsewhere.retain(|a| a.partition != partition);
            self.elsewhere.push(Applied {
                partition: p,
                offset: self.applied,
            });
            self.elsewhere.sort_by_key(|a| a.partition);
        }
        self.applied_in = Some(partition);
        self.applied = offset;
        self.count += 1;
        true
    }
}

/// The `_id` of the document that says whether the store holds messages from before tallies.
pub const LAYOUT_ID: &str = "layout";

/// Whether messages without `seq` exist: decided once, when the first consumer that keeps a read
/// model starts, and never changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    #[serde(rename = "_id")]
    pub id: String,
    pub legacy: bool,
}

/// A conversation in a member's inbox, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboxEntry {
    /// `<user>/<conversationId>`.
    #[serde(rename = "_id")]
    pub id: String,
    pub user: String,
    pub conversation_id: String,
    #[serde(default)]
    pub members: Vec<String>,
    /// A group's title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The conversation's messages.
    #[serde(default)]
    pub count: i64,
    /// The member has read up to this place: their own last message (the consumer's), or their
    /// read mark (`ReadMark`, joined in by the API when it reads the entry), whichever is further.
    #[serde(default)]
    pub read_seq: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<LastMessage>,
    /// The last message's position, at top level for the inbox's index: newest activity first.
    #[serde(default)]
    pub last_timestamp: i64,
    #[serde(default)]
    pub last_partition: i32,
    #[serde(default)]
    pub last_offset: i64,
}

impl InboxEntry {
    pub fn id_of(user: &str, conversation_id: &str) -> String {
        format!("{user}/{conversation_id}")
    }

    pub fn unread(&self) -> i64 {
        (self.count - self.read_seq).max(0)
    }
}

/// The last message of a conversation, as its inbox entries show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastMessage {
    pub message_id: String,
    pub from_user: String,
    pub to_user: String,
    pub content: String,
    pub timestamp: i64,
    pub seq: i64,
}

impl LastMessage {
    pub fn of(m: &StoredMessage) -> Self {
        Self {
            message_id: m.message_id.clone(),
            from_user: m.from_user.clone(),
            to_user: m.to_user.clone(),
            content: m.content.clone(),
            timestamp: m.timestamp,
            seq: m.seq.unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_fill_pages_of_page_size_from_one() {
        assert_eq!(page_of(1), 0);
        assert_eq!(page_of(PAGE_SIZE), 0);
        assert_eq!(page_of(PAGE_SIZE + 1), 1);
        assert_eq!(page_key("a:b", 130), "a:b/2");
    }

    #[test]
    fn a_message_counts_in_its_conversation_partition_and_each_user_once() {
        let record = crate::message::MessageRecord {
            message_id: uuid::Uuid::nil(),
            from_user: "bob".into(),
            to_user: "alice".into(),
            content: "hi".into(),
            ..Default::default()
        };
        let m = StoredMessage::new(record.clone(), 1, 3, 9);
        let ids: Vec<String> = TallyKey::of(&m).iter().map(TallyKey::id).collect();
        assert_eq!(ids, ["c/alice:bob", "p/3", "u/bob/3", "u/alice/3"]);
        let to_self = crate::message::MessageRecord {
            to_user: "bob".into(),
            ..record
        };
        assert_eq!(TallyKey::of(&StoredMessage::new(to_self, 1, 3, 9)).len(), 3);
    }

    #[test]
    fn a_tally_round_trips_with_its_state_at_top_level() {
        let tally = Tally {
            id: TallyKey::User("bob".into(), 2).id(),
            kind: "user".into(),
            user: Some("bob".into()),
            partition: 2,
            state: TallyState {
                count: 5,
                applied: 40,
                legacy: 1,
                ..TallyState::new(1)
            },
            group: None,
            recent: Some(RecentList::new().after(vec![Recent {
                conversation_id: "a:bob".into(),
                timestamp: 7,
                offset: 40,
            }])),
        };
        let json = serde_json::to_value(&tally).unwrap();
        assert_eq!(json["count"], 5);
        assert_eq!(json["applied"], 40);
        assert_eq!(json["recent"]["items"][0], "7.40.a:bob");
        assert_eq!(serde_json::from_value::<Tally>(json).unwrap(), tally);
    }

    #[test]
    fn each_partition_a_conversation_counted_in_keeps_its_own_last_offset() {
        let mut state = TallyState::new(0);
        assert!(state.count(0, 1000));
        assert!(state.count(1, 5), "a new partition's offsets start again");
        assert!(!state.count(0, 1000) && !state.count(1, 5), "each once");
        assert!(
            state.count(0, 1001),
            "one sent before the move, still on its way"
        );
        assert_eq!(
            (state.count, state.applied_in, state.applied),
            (3, Some(0), 1001)
        );
        assert_eq!(
            state.elsewhere,
            [Applied {
                partition: 1,
                offset: 5
            }]
        );
        assert_eq!((state.applied_in(1), state.applied_in(2)), (5, -1));
        let json = serde_json::to_value(&state).unwrap();
        assert_eq!(json["appliedIn"], 0);
        assert_eq!(serde_json::from_value::<TallyState>(json).unwrap(), state);
        let before: TallyState =
            serde_json::from_value(serde_json::json!({"count": 2, "applied": 9, "legacy": 0}))
                .unwrap();
        assert_eq!(
            before.applied_in(4),
            9,
            "stored before: one partition's offsets"
        );
    }
}
