//! A user's most recently active conversations, listed on their tallies (one list per partition)
//! by the consumer that owns the partition, so the first pages of an inbox are read by `_id`.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

/// Conversations a user's tally lists at most: every conversation of theirs in the tally's
/// partition while they are fewer, else the newest this many. An inbox page within the lists is
/// read from the user's tallies and the entries they name, by `_id`, so it costs the same for a
/// user in 20 conversations or 20,000 (FerretDB sorts whatever a filter matches in memory).
pub const RECENT_KEPT: usize = 500;

/// A user's conversations in one partition, newest activity first, as their tally lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentList {
    pub items: Vec<Recent>,
    /// Whether `items` holds every conversation of the user in the partition (a list cut to
    /// `RECENT_KEPT`, or begun on a tally written before lists were kept, does not).
    pub all: bool,
}

/// A conversation in a recent list and the position of the last message in it the user took
/// part in (the partition is the tally's). Stored as one string, `<timestamp>.<offset>.<id>`:
/// FerretDB decodes a document of hundreds of small objects many times slower than one of as many
/// strings, and every inbox page and user count reads the lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Recent {
    pub conversation_id: String,
    pub timestamp: i64,
    pub offset: i64,
}

impl From<Recent> for String {
    fn from(r: Recent) -> Self {
        format!("{}.{}.{}", r.timestamp, r.offset, r.conversation_id)
    }
}

impl TryFrom<String> for Recent {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        let mut parts = s.splitn(3, '.');
        let mut number = || parts.next().and_then(|n| n.parse::<i64>().ok());
        match (number(), number(), parts.next()) {
            (Some(timestamp), Some(offset), Some(c)) if !c.is_empty() => Ok(Self {
                conversation_id: c.to_owned(),
                timestamp,
                offset,
            }),
            _ => Err(format!("not a recent conversation: {s}")),
        }
    }
}

impl RecentList {
    /// The list of a tally not stored yet.
    pub fn new() -> Self {
        Self {
            items: Vec::new(),
            all: true,
        }
    }

    /// The list of a stored tally: its own, or an incomplete one if it was written before lists.
    pub fn of(stored: Option<&RecentList>) -> Self {
        stored.cloned().unwrap_or(Self {
            items: Vec::new(),
            all: false,
        })
    }

    /// The list after `touched` (a batch's conversations of the user, each at any of its
    /// positions, in any order): those first, each once at its newest, then the rest as they
    /// were, cut to `RECENT_KEPT`.
    pub fn after(&self, mut touched: Vec<Recent>) -> Self {
        touched.sort_by_key(|r| std::cmp::Reverse((r.timestamp, r.offset)));
        let mut seen = HashSet::new();
        let mut items: Vec<Recent> = touched
            .into_iter()
            .chain(self.items.iter().cloned())
            .filter(|r| seen.insert(r.conversation_id.clone()))
            .collect();
        let all = self.all && items.len() <= RECENT_KEPT;
        items.truncate(RECENT_KEPT);
        Self { items, all }
    }
}

impl Default for RecentList {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recent(c: &str, offset: i64) -> Recent {
        Recent {
            conversation_id: c.into(),
            timestamp: 1000 + offset,
            offset,
        }
    }

    fn names(list: &RecentList) -> Vec<&str> {
        list.items
            .iter()
            .map(|r| r.conversation_id.as_str())
            .collect()
    }

    #[test]
    fn a_recent_list_puts_the_batchs_conversations_first_once_each_newest_first() {
        let list = RecentList::new().after(vec![recent("c", 3), recent("b", 4), recent("a", 5)]);
        assert_eq!(names(&list), ["a", "b", "c"]);
        let list = list.after(vec![recent("c", 9), recent("d", 8), recent("c", 7)]);
        assert_eq!(names(&list), ["c", "d", "a", "b"]);
        assert_eq!(list.items[0].offset, 9);
        assert!(list.all);
    }

    #[test]
    fn a_recent_list_keeps_only_the_newest_conversations_and_says_so() {
        let many: Vec<Recent> = (0..RECENT_KEPT as i64)
            .map(|i| recent(&format!("c{i}"), i))
            .collect();
        let full = RecentList::new().after(many);
        assert!(
            full.all,
            "exactly RECENT_KEPT conversations are all of them"
        );
        let cut = full.after(vec![recent("new", RECENT_KEPT as i64)]);
        assert_eq!(cut.items.len(), RECENT_KEPT);
        assert_eq!(names(&cut)[0], "new");
        assert_eq!(names(&cut).last(), Some(&"c1"));
        assert!(!cut.all);
        assert!(
            !cut.after(vec![recent("c1", 9_999)]).all,
            "once cut, never all again"
        );
    }

    #[test]
    fn an_item_is_stored_as_one_string_and_read_back() {
        let item = recent("alice:bob.x", 42);
        let json = serde_json::to_value(&item).unwrap();
        assert_eq!(json, "1042.42.alice:bob.x");
        assert_eq!(serde_json::from_value::<Recent>(json).unwrap(), item);
        assert!(serde_json::from_value::<Recent>("12.x.a:b".into()).is_err());
        assert!(serde_json::from_value::<Recent>("12.3.".into()).is_err());
    }

    #[test]
    fn a_tally_written_before_lists_begins_an_incomplete_one() {
        let list = RecentList::of(None).after(vec![recent("a", 1)]);
        assert_eq!(names(&list), ["a"]);
        assert!(!list.all);
    }
}
