//! What crosses from the consumer to the API's push streams: after each durable write the consumer
//! announces, per partition of the messages topic, the offset below which every record is stored
//! (or dead-lettered), on the stored topic. An API replica pushes a message as it reads it from
//! the messages topic and keeps it, for streams catching up, until such an announcement covers it;
//! below that, they catch up from the store. The position of a push stream is one offset per
//! partition, which is what a client resumes from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digits::integer;

/// KAFKA_STORED_TOPIC (<KAFKA_TOPIC>.stored): where the consumer announces what it has stored.
pub fn stored_topic_from_env(messages_topic: &str) -> String {
    crate::config::string("KAFKA_STORED_TOPIC", &format!("{messages_topic}.stored"))
}

/// Every record of `partition` below `next` is stored or dead-lettered: the offset the consumer
/// may commit there, announced as soon as it may.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredUpTo {
    pub partition: i32,
    pub next: i64,
}

impl StoredUpTo {
    /// The record key: one key per partition keeps a partition's announcements in order.
    pub fn key(&self) -> String {
        self.partition.to_string()
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("plain struct")
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

/// Where a push stream stands: per partition, the last offset it has passed (delivered, or not
/// this stream's). A message at a higher offset is still to come. Encoded as
/// `partition:offset` pairs joined by `,` (an SSE event id and a URL query value as it is).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Position(pub BTreeMap<i32, i64>);

/// What `Position::decode` accepts, as a regular expression for the API's document. Partitions
/// have at most four digits, far more than a topic has, which bounds what a client's id can make
/// the API hold; offsets start at -1.
pub const POSITION_PATTERN: &str =
    "^([0-9]{1,4}:(-1|[0-9]{1,18})(,[0-9]{1,4}:(-1|[0-9]{1,18}))*)?$";

impl Position {
    pub fn get(&self, partition: i32) -> Option<i64> {
        self.0.get(&partition).copied()
    }

    /// Marks `offset` of `partition` passed; never moves back.
    pub fn pass(&mut self, partition: i32, offset: i64) {
        let slot = self.0.entry(partition).or_insert(offset);
        *slot = (*slot).max(offset);
    }

    /// The later of the two positions, partition by partition.
    pub fn max(&self, other: &Self) -> Self {
        let mut out = self.clone();
        for (&p, &o) in &other.0 {
            out.pass(p, o);
        }
        out
    }

    pub fn encode(&self) -> String {
        self.0
            .iter()
            .map(|(p, o)| format!("{p}:{o}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn decode(s: &str) -> Option<Self> {
        let map = BTreeMap::new();
        if s.is_empty() {
            return Some(Self(map));
        }
        let mut position = Self(map);
        for pair in s.split(',') {
            let (p, o) = pair.split_once(':')?;
            let p: i32 = integer(p, false, 4)?;
            let o: i64 = if o == "-1" {
                -1
            } else {
                integer(o, false, 18)?
            };
            // A partition named twice stands at the later offset, as `pass` would leave it.
            position.pass(p, o);
        }
        Some(position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_round_trips_and_rejects_garbage() {
        let mut p = Position::default();
        p.pass(0, 15);
        p.pass(2, -1);
        p.pass(0, 12);
        assert_eq!(p.encode(), "0:15,2:-1");
        assert_eq!(Position::decode(&p.encode()), Some(p));
        assert_eq!(Position::decode(""), Some(Position::default()));
        assert_eq!(Position::decode("0:1,0:2,0:0").unwrap().encode(), "0:2");
        for bad in [
            "0", "0:", ":1", "a:1", "-1:3", "0:-2", "0:1,", "0:1;1:2", "10000:1", "+1:2",
        ] {
            assert_eq!(Position::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_documented_pattern_accepts_exactly_what_decodes() {
        crate::digits::assert_pattern_matches_decoder(
            POSITION_PATTERN,
            &[":", ",", ":", ",", "+", " "],
            |s| Position::decode(s).is_some(),
        );
    }

    #[test]
    fn the_later_position_wins_per_partition() {
        let a = Position::decode("0:5,1:9").unwrap();
        let b = Position::decode("0:7,2:1").unwrap();
        assert_eq!(a.max(&b).encode(), "0:7,1:9,2:1");
    }

    #[test]
    fn an_announcement_round_trips() {
        let s = StoredUpTo {
            partition: 3,
            next: 120,
        };
        assert_eq!(s.encode(), br#"{"partition":3,"next":120}"#);
        assert_eq!(StoredUpTo::decode(&s.encode()), Some(s.clone()));
        assert_eq!(s.key(), "3");
        // Older consumers also listed the offsets the store refused: still read.
        assert_eq!(
            StoredUpTo::decode(br#"{"partition":3,"next":120,"refused":[117]}"#),
            Some(s)
        );
        assert_eq!(StoredUpTo::decode(b"nope"), None);
    }
}
