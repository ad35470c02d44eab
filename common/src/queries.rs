//! The store's layout: every query Wiber runs, each next to the index declared for it, so that a
//! MongoDB serves it from that index (sorting from the index, never in memory), and the rule that
//! keeps the two matched (tested below).
//!
//! Each query starts with an equality on one top-level field, the index's first key: that is also
//! the one filter FerretDB on PostgreSQL pushes down (see `dev/postgres/ferretdb-gin.sql`).
//! Messages are stored under `_id` = their `messageId`, whose unique index every collection has:
//! a redelivered message is dropped there, with no index of its own.

use mongodb::IndexModel;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::IndexOptions;

use crate::digits::integer;
use crate::message::StoredMessage;

/// An index the consumer creates (by name, so an existing one is left alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Index {
    pub name: &'static str,
    /// Field and direction (1 or -1), in key order.
    pub keys: &'static [(&'static str, i32)],
}

impl Index {
    pub fn keys_document(&self) -> Document {
        self.keys
            .iter()
            .map(|&(field, direction)| (field.to_owned(), Bson::Int32(direction)))
            .collect()
    }

    pub fn model(&self) -> IndexModel {
        IndexModel::builder()
            .keys(self.keys_document())
            .options(IndexOptions::builder().name(self.name.to_owned()).build())
            .build()
    }
}

/// A conversation in Kafka's order: its pages, deep pages by cursor, and its count.
pub const CONVERSATION_ORDER: Index = Index {
    name: "conversation_order",
    keys: &[
        ("conversationId", 1),
        ("timestamp", 1),
        ("partition", 1),
        ("offset", 1),
    ],
};

/// A user's messages, sent or received (`participants` holds both users), newest first, and their
/// count. One multikey index instead of one per side of an `$or`: one query, one count.
pub const PARTICIPANT_RECENT: Index = Index {
    name: "participant_recent",
    keys: &[
        ("participants", 1),
        ("timestamp", -1),
        ("partition", -1),
        ("offset", -1),
    ],
};

/// A user's messages in Kafka's order within each partition: what a push stream missed while it
/// was away (`stream_range`).
pub const STREAM_ORDER: Index = Index {
    name: "stream_order",
    keys: &[("participants", 1), ("partition", 1), ("offset", 1)],
};

/// One page of a conversation's places (`readmodel`), in place order.
pub const PAGE_ORDER: Index = Index {
    name: "page_order",
    keys: &[("page", 1), ("seq", 1)],
};

/// Every index the queries of the messages need, for the consumer's set-up.
pub const INDEXES: [Index; 4] = [
    CONVERSATION_ORDER,
    PARTICIPANT_RECENT,
    STREAM_ORDER,
    PAGE_ORDER,
];

/// A user's tallies: one per partition they have messages in.
pub const TALLY_USER: Index = Index {
    name: "tally_user",
    keys: &[("user", 1)],
};

/// The tallies of one kind: the partitions' make the total.
pub const TALLY_KIND: Index = Index {
    name: "tally_kind",
    keys: &[("kind", 1)],
};

pub const TALLY_INDEXES: [Index; 2] = [TALLY_USER, TALLY_KIND];

/// A user's inbox, the most recently active conversation first.
pub const INBOX_RECENT: Index = Index {
    name: "inbox_recent",
    keys: &[
        ("user", 1),
        ("lastTimestamp", -1),
        ("lastPartition", -1),
        ("lastOffset", -1),
    ],
};

pub const INBOX_INDEXES: [Index; 1] = [INBOX_RECENT];

/// The shard key each collection takes on a sharded MongoDB (docs/operations/sizing.md): the
/// messages by conversation, a user's inbox entries together, tallies spread by id. A query whose
/// filter does not lead with an equality on it goes to every shard.
pub const SHARD_KEYS: [(&str, &str); 3] = [
    ("messages", "conversationId"),
    ("tallies", "_id"),
    ("inbox", "user"),
];

/// A message's changes (`change`), for a delete that empties its earlier edits.
pub const CHANGE_TARGET: Index = Index {
    name: "change_target",
    keys: &[("change.messageId", 1)],
};

/// The changes a resuming stream missed are read as its messages are (`stream_range`).
pub const CHANGE_INDEXES: [Index; 2] = [STREAM_ORDER, CHANGE_TARGET];

/// Indexes of the earlier layout (`messageId` beside an ObjectId `_id`, an `$or` over two fields).
/// A unique index on a field the new documents lack would take every message after the first for
/// a duplicate, so the consumer refuses a store that has it.
pub const LEGACY_INDEXES: [&str; 3] = ["messageId_unique", "from_recent", "to_recent"];

/// Where a conversation page starts: just after this message in conversation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub timestamp: i64,
    pub partition: i32,
    pub offset: i64,
}

/// What `Cursor::decode` accepts, as a regular expression for the API's document: digit counts
/// that always fit the fields' integer types.
pub const CURSOR_PATTERN: &str = r"^-?[0-9]{1,18}\.-?[0-9]{1,9}\.-?[0-9]{1,18}$";

impl Cursor {
    pub fn after(m: &StoredMessage) -> Self {
        Self {
            timestamp: m.timestamp,
            partition: m.partition,
            offset: m.offset,
        }
    }

    pub fn encode(&self) -> String {
        format!("{}.{}.{}", self.timestamp, self.partition, self.offset)
    }

    pub fn decode(s: &str) -> Option<Self> {
        let mut parts = s.split('.');
        let cursor = Self {
            timestamp: integer(parts.next()?, true, 18)?,
            partition: integer(parts.next()?, true, 9)?,
            offset: integer(parts.next()?, true, 18)?,
        };
        parts.next().is_none().then_some(cursor)
    }
}

/// Where a conversation page starts: after a place (`readmodel`), or, for messages stored before
/// places, after a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageCursor {
    Place(i64),
    Position(Cursor),
}

/// What `PageCursor::decode` accepts, as a regular expression for the API's document.
pub const PAGE_CURSOR_PATTERN: &str = r"^([0-9]{1,18}|-?[0-9]{1,18}\.-?[0-9]{1,9}\.-?[0-9]{1,18})$";

impl PageCursor {
    /// The cursor after `m`: its place when it has one.
    pub fn after(m: &StoredMessage) -> Self {
        match m.seq {
            Some(seq) => Self::Place(seq),
            None => Self::Position(Cursor::after(m)),
        }
    }

    pub fn encode(&self) -> String {
        match self {
            Self::Place(seq) => seq.to_string(),
            Self::Position(c) => c.encode(),
        }
    }

    pub fn decode(s: &str) -> Option<Self> {
        if s.contains('.') {
            return Cursor::decode(s).map(Self::Position);
        }
        integer(s, false, 18).map(Self::Place)
    }
}

/// A query's filter and sort, and the index declared for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub filter: Document,
    /// `None` for counts.
    pub sort: Option<Document>,
    pub index: Index,
}

fn order(index: &Index, direction: i32) -> Document {
    index.keys[1..]
        .iter()
        .map(|&(field, d)| (field.to_owned(), Bson::Int32(d * direction)))
        .collect()
}

/// A conversation page, oldest first, strictly after `after` when given. The cursor's branches
/// each bound the index's keys in order, so a MongoDB merges three index ranges.
pub fn conversation_page(conversation_id: &str, after: Option<Cursor>) -> Query {
    let mut filter = doc! { "conversationId": conversation_id };
    if let Some(c) = after {
        filter.insert(
            "$or",
            vec![
                doc! { "timestamp": { "$gt": c.timestamp } },
                doc! { "timestamp": c.timestamp, "partition": { "$gt": c.partition } },
                doc! { "timestamp": c.timestamp, "partition": c.partition, "offset": { "$gt": c.offset } },
            ],
        );
    }
    Query {
        filter,
        sort: Some(order(&CONVERSATION_ORDER, 1)),
        index: CONVERSATION_ORDER,
    }
}

pub fn conversation_count(conversation_id: &str) -> Query {
    Query {
        filter: doc! { "conversationId": conversation_id },
        sort: None,
        index: CONVERSATION_ORDER,
    }
}

/// A user's messages, newest first: the index read backwards after the user's key.
pub fn user_recent(user: &str) -> Query {
    Query {
        filter: doc! { "participants": user },
        sort: Some(order(&PARTICIPANT_RECENT, 1)),
        index: PARTICIPANT_RECENT,
    }
}

pub fn user_count(user: &str) -> Query {
    Query {
        filter: doc! { "participants": user },
        sort: None,
        index: PARTICIPANT_RECENT,
    }
}

/// One page of a conversation's places, in place order.
pub fn conversation_page_at(page: &str) -> Query {
    Query {
        filter: doc! { "page": page },
        sort: Some(order(&PAGE_ORDER, 1)),
        index: PAGE_ORDER,
    }
}

/// A user's tallies, which add up to their count.
pub fn user_tallies(user: &str) -> Query {
    Query {
        filter: doc! { "user": user },
        sort: None,
        index: TALLY_USER,
    }
}

/// The partitions' tallies, which add up to the total count.
pub fn partition_tallies() -> Query {
    Query {
        filter: doc! { "kind": crate::readmodel::PARTITION_KIND },
        sort: None,
        index: TALLY_KIND,
    }
}

/// A user's inbox, most recent activity first, strictly before `before` when given (the position
/// of the last message of the previous page's last entry).
pub fn inbox_page(user: &str, before: Option<Cursor>) -> Query {
    let mut filter = doc! { "user": user };
    if let Some(c) = before {
        filter.insert(
            "$or",
            vec![
                doc! { "lastTimestamp": { "$lt": c.timestamp } },
                doc! { "lastTimestamp": c.timestamp, "lastPartition": { "$lt": c.partition } },
                doc! { "lastTimestamp": c.timestamp, "lastPartition": c.partition, "lastOffset": { "$lt": c.offset } },
            ],
        );
    }
    Query {
        filter,
        sort: Some(order(&INBOX_RECENT, 1)),
        index: INBOX_RECENT,
    }
}

/// A user's messages in one partition with an offset in `(after, upto]`, in offset order.
pub fn stream_range(user: &str, partition: i32, after: i64, upto: i64) -> Query {
    Query {
        filter: doc! {
            "participants": user,
            "partition": partition,
            "offset": { "$gt": after, "$lte": upto },
        },
        sort: Some(order(&STREAM_ORDER, 1)),
        index: STREAM_ORDER,
    }
}

#[cfg(test)]
#[path = "queries_tests.rs"]
mod tests;
