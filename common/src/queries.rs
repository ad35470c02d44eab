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

/// Every index the queries need, for the consumer's set-up.
pub const INDEXES: [Index; 3] = [CONVERSATION_ORDER, PARTICIPANT_RECENT, STREAM_ORDER];

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
mod tests {
    use super::*;

    fn every_query() -> Vec<(&'static str, Query)> {
        let cursor = Cursor {
            timestamp: 1,
            partition: 2,
            offset: 3,
        };
        vec![
            ("conversation page", conversation_page("a:b", None)),
            (
                "conversation cursor page",
                conversation_page("a:b", Some(cursor)),
            ),
            ("conversation count", conversation_count("a:b")),
            ("user page", user_recent("a")),
            ("user count", user_count("a")),
            ("stream range", stream_range("a", 2, 10, 20)),
        ]
    }

    /// The fields a filter compares, at top level and inside `$or` branches.
    fn filter_fields(filter: &Document) -> Vec<String> {
        let mut fields = Vec::new();
        for (key, value) in filter {
            if key == "$or" {
                for branch in value.as_array().expect("$or takes an array") {
                    fields.extend(filter_fields(branch.as_document().expect("branch")));
                }
            } else {
                fields.push(key.clone());
            }
        }
        fields
    }

    #[test]
    fn every_query_starts_with_an_equality_on_its_index_first_key() {
        for (name, q) in every_query() {
            let (first, _) = q.index.keys[0];
            let value = q
                .filter
                .get(first)
                .unwrap_or_else(|| panic!("{name}: no {first}"));
            assert!(
                !matches!(value, Bson::Document(_)),
                "{name}: {first} must be compared for equality, not with an operator"
            );
            assert_eq!(
                q.filter.keys().next().map(String::as_str),
                Some(first),
                "{name}"
            );
        }
    }

    #[test]
    fn every_filtered_field_is_a_key_of_the_query_index() {
        for (name, q) in every_query() {
            for field in filter_fields(&q.filter) {
                assert!(
                    q.index.keys.iter().any(|&(k, _)| k == field),
                    "{name}: {field} is not in {}",
                    q.index.name
                );
            }
        }
    }

    #[test]
    fn every_sort_follows_its_index_after_the_equality_one_way_or_fully_reversed() {
        for (name, q) in every_query() {
            let Some(sort) = q.sort else { continue };
            let sorted: Vec<(String, i32)> = sort
                .iter()
                .map(|(k, v)| (k.clone(), v.as_i32().expect("direction")))
                .collect();
            let rest = &q.index.keys[1..];
            assert_eq!(
                sorted.len(),
                rest.len(),
                "{name}: sort all of the index after its prefix"
            );
            let same = sorted
                .iter()
                .zip(rest)
                .all(|((k, d), (ik, id))| k == ik && d == id);
            let reversed = sorted
                .iter()
                .zip(rest)
                .all(|((k, d), (ik, id))| k == ik && *d == -id);
            assert!(
                same || reversed,
                "{name}: sort {sort} against {:?}",
                q.index.keys
            );
        }
    }

    #[test]
    fn every_index_a_query_names_is_created() {
        for (name, q) in every_query() {
            assert!(
                INDEXES.contains(&q.index),
                "{name}: {} is not created",
                q.index.name
            );
        }
        for legacy in LEGACY_INDEXES {
            assert!(INDEXES.iter().all(|i| i.name != legacy));
        }
    }

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor {
            timestamp: 1_700_000_000_123,
            partition: 2,
            offset: 99,
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        for bad in ["", "1.2", "1.2.3.4", "a.b.c", "1..3"] {
            assert_eq!(Cursor::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_documented_cursor_pattern_accepts_exactly_what_decodes() {
        crate::digits::assert_pattern_matches_decoder(
            CURSOR_PATTERN,
            &[".", ".", ".", "+", ","],
            |s| Cursor::decode(s).is_some(),
        );
    }

    #[test]
    fn a_cursor_page_bounds_only_the_keys_after_the_conversation() {
        let q = conversation_page(
            "a:b",
            Some(Cursor {
                timestamp: 5,
                partition: 1,
                offset: 9,
            }),
        );
        let branches = q.filter.get_array("$or").expect("cursor branches");
        assert_eq!(branches.len(), 3);
        assert_eq!(filter_fields(&q.filter)[0], "conversationId");
        assert!(!filter_fields(&q.filter)[1..].contains(&"conversationId".to_owned()));
    }
}
