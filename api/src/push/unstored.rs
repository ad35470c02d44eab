//! What a replica has pushed but the consumer has not yet announced stored, per partition in
//! offset order, and the same messages by user, so that a stream opening picks out its own without
//! scanning everyone's (a rollout reconnects every stream at once, possibly while the consumer is
//! behind and thousands are kept).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use wiber_common::stored::Position;

use super::event::Event;

#[derive(Default)]
struct Partition {
    events: VecDeque<Arc<Event>>,
    /// Every offset below this is stored (or dead-lettered).
    stored_below: i64,
}

#[derive(Default)]
pub struct Unstored {
    partitions: BTreeMap<i32, Partition>,
    /// Each user's share of `partitions`, in the same order.
    by_user: HashMap<String, BTreeMap<i32, VecDeque<Arc<Event>>>>,
}

/// The users an event is kept for, each once.
fn users(event: &Event) -> impl Iterator<Item = &str> {
    event.users.iter().map(String::as_str)
}

impl Unstored {
    /// Nothing kept, and everything at or below `position` stored.
    pub fn starting_at(position: &Position) -> Self {
        let partitions = position
            .0
            .iter()
            .map(|(&p, &last)| {
                let partition = Partition {
                    events: VecDeque::new(),
                    stored_below: last + 1,
                };
                (p, partition)
            })
            .collect();
        Self {
            partitions,
            by_user: HashMap::new(),
        }
    }

    /// Keeps `events` of `partition` (in offset order, after any kept before) that are not stored
    /// yet; returns how many the partition keeps.
    pub fn keep(&mut self, partition: i32, events: &[Arc<Event>]) -> usize {
        let p = self.partitions.entry(partition).or_default();
        // Typing is pushed live only: a stream that catches up never gets it.
        let kept = events
            .iter()
            .filter(|e| e.offset >= p.stored_below && e.pushed.replayed());
        for event in kept {
            p.events.push_back(event.clone());
            for user in users(event) {
                // Looked up first: a user's name is copied only when they get their first entry.
                if !self.by_user.contains_key(user) {
                    self.by_user.insert(user.to_owned(), BTreeMap::new());
                }
                let mine = self.by_user.get_mut(user).expect("inserted above");
                mine.entry(partition).or_default().push_back(event.clone());
            }
        }
        p.events.len()
    }

    /// Every offset of `partition` below `below` is stored: drops what that covers, calling
    /// `dropped` for each, and returns how many the partition still keeps.
    pub fn stored(&mut self, partition: i32, below: i64, mut dropped: impl FnMut(&Event)) -> usize {
        let Some(p) = self.partitions.get_mut(&partition) else {
            return 0;
        };
        p.stored_below = p.stored_below.max(below);
        while p.events.front().is_some_and(|e| e.offset < p.stored_below) {
            let event = p.events.pop_front().expect("front exists");
            for user in users(&event) {
                let Some(mine) = self.by_user.get_mut(user) else {
                    continue;
                };
                // Kept in the same order as the partition's, so it is this user's first there.
                if let Some(queue) = mine.get_mut(&partition) {
                    queue.pop_front();
                    if queue.is_empty() {
                        mine.remove(&partition);
                    }
                }
                if mine.is_empty() {
                    self.by_user.remove(user);
                }
            }
            dropped(&event);
        }
        p.events.len()
    }

    /// Per partition, the last offset stored.
    /// The topic grew: `partition` is new, nothing of it is stored yet (unless an announcement
    /// came first).
    pub fn grow(&mut self, partition: i32) {
        self.partitions.entry(partition).or_default();
    }

    pub fn stored_upto(&self) -> Position {
        let mut upto = Position::default();
        for (&partition, p) in &self.partitions {
            upto.pass(partition, p.stored_below - 1);
        }
        upto
    }

    /// What is kept for `user` (with `with`, of that conversation only), by partition, in offset
    /// order.
    pub fn of(&self, user: &str, with: Option<&str>) -> Vec<Arc<Event>> {
        self.by_user.get(user).map_or_else(Vec::new, |mine| {
            mine.values()
                .flatten()
                .filter(|e| e.is_for(user, with))
                .cloned()
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::hub::tests::event;
    use super::*;

    fn offsets(events: &[Arc<Event>]) -> Vec<(i32, i64)> {
        events.iter().map(|e| (e.partition, e.offset)).collect()
    }

    #[test]
    fn each_user_finds_their_own_in_order_and_a_peer_narrows_it() {
        let mut kept = Unstored::starting_at(&Position::decode("0:-1,1:-1").unwrap());
        kept.keep(1, &[event(1, 0, "carol", "alice")]);
        kept.keep(
            0,
            &[event(0, 0, "alice", "bob"), event(0, 1, "bob", "carol")],
        );
        assert_eq!(kept.keep(0, &[event(0, 2, "alice", "alice")]), 3);
        assert_eq!(offsets(&kept.of("alice", None)), [(0, 0), (0, 2), (1, 0)]);
        assert_eq!(offsets(&kept.of("alice", Some("bob"))), [(0, 0)]);
        assert_eq!(offsets(&kept.of("carol", None)), [(0, 1), (1, 0)]);
        assert!(kept.of("dave", None).is_empty());
    }

    #[test]
    fn an_announcement_drops_what_it_covers_for_everyone_and_never_moves_back() {
        let mut kept = Unstored::starting_at(&Position::decode("0:4").unwrap());
        let events = [
            event(0, 5, "alice", "bob"),
            event(0, 6, "alice", "alice"),
            event(0, 7, "bob", "carol"),
        ];
        kept.keep(0, &events);
        let mut dropped = Vec::new();
        assert_eq!(kept.stored(0, 7, |e| dropped.push(e.offset)), 1);
        assert_eq!(dropped, [5, 6]);
        assert!(kept.of("alice", None).is_empty());
        assert_eq!(offsets(&kept.of("bob", None)), [(0, 7)]);
        assert_eq!(kept.stored(0, 3, |_| panic!("nothing to drop")), 1);
        assert_eq!(kept.stored_upto().encode(), "0:6");
        assert_eq!(kept.stored(0, 8, |_| {}), 0);
        assert!(kept.by_user.is_empty(), "no user left behind");
    }

    #[test]
    fn what_is_announced_before_it_is_read_is_never_kept() {
        let mut kept = Unstored::starting_at(&Position::decode("0:-1").unwrap());
        assert_eq!(kept.stored(0, 3, |_| {}), 0);
        assert_eq!(kept.keep(0, &[event(0, 2, "alice", "bob")]), 0);
        assert_eq!(kept.keep(0, &[event(0, 3, "alice", "bob")]), 1);
        assert_eq!(offsets(&kept.of("bob", None)), [(0, 3)]);
    }
}
