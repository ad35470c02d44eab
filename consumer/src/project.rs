//! What one partition's batch does to the read model (`wiber_common::readmodel`), worked out
//! without the store: each new message's place in its conversation, the tallies' new states and
//! the members' inbox entries. Pure, so the rules that keep it exact under redelivery are tested
//! here:
//!
//! - a tally counts a message only when its offset is past the tally's `applied`, so whatever
//!   part of a batch comes again, each tally counts each message once;
//! - a message is placed from its conversation's tally, and written before any tally, so a
//!   message past the tally is either new or was written by an attempt that stopped before the
//!   tally moved: the same state then gives it the same place again;
//! - inbox entries hold absolute values (a count, a place read to), written before the tallies
//!   too, so writing them twice changes nothing.

use std::collections::{BTreeSet, HashMap};

use wiber_common::message::StoredMessage;
use wiber_common::readmodel::{LastMessage, TallyKey, TallyState, placed};

/// A tally's state as the writer found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    pub state: TallyState,
    /// Whether the store holds it (a tally not stored is created by its first write).
    pub stored: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TallyWrite {
    pub key: TallyKey,
    pub from: Known,
    pub to: TallyState,
}

/// A member's inbox entry after the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxWrite {
    pub user: String,
    pub conversation_id: String,
    pub members: Vec<String>,
    pub count: i64,
    /// The member's own last message of the batch (its place and id): read up to there.
    pub own: Option<(i64, String)>,
    /// Messages from before the read model, which count as read.
    pub legacy: i64,
    pub last: LastMessage,
    pub position: (i64, i32, i64),
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Projection {
    /// The messages to write, each at its place: those past their conversation's tally.
    pub messages: Vec<StoredMessage>,
    /// Where each of `messages` is in the batch.
    pub origins: Vec<usize>,
    /// Messages of the batch their conversation's tally has counted already: written before.
    pub counted: usize,
    pub tallies: Vec<TallyWrite>,
    pub inbox: Vec<InboxWrite>,
}

/// Every tally the batch's messages count in.
pub fn keys(messages: &[StoredMessage]) -> BTreeSet<TallyKey> {
    messages.iter().flat_map(TallyKey::of).collect()
}

/// The batch (`messages`, one partition's, in offset order) against the tallies' states (one for
/// each of `keys(messages)`), leaving out the batch's messages at `excluded` (copies of messages
/// stored earlier, and messages the store refused).
pub fn project(
    messages: &[StoredMessage],
    states: &HashMap<TallyKey, Known>,
    excluded: &BTreeSet<usize>,
) -> Projection {
    let mut work: HashMap<&TallyKey, TallyState> =
        states.iter().map(|(k, known)| (k, known.state)).collect();
    let mut out = Projection::default();
    // Each conversation's newly placed messages, in the order conversations first appear.
    let mut conversations: Vec<(String, Vec<StoredMessage>)> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        if excluded.contains(&i) {
            continue;
        }
        let keys = TallyKey::of(m);
        for key in &keys {
            let state = work
                .get_mut(key)
                .expect("a state for every key of the batch");
            if m.offset <= state.applied {
                if matches!(key, TallyKey::Conversation(_)) {
                    out.counted += 1;
                }
                continue;
            }
            state.count += 1;
            state.applied = m.offset;
            if matches!(key, TallyKey::Conversation(_)) {
                let placed = placed(m.clone(), state.count);
                match conversations
                    .iter_mut()
                    .find(|(c, _)| *c == m.conversation_id)
                {
                    Some((_, placed_here)) => placed_here.push(placed.clone()),
                    None => conversations.push((m.conversation_id.clone(), vec![placed.clone()])),
                }
                out.messages.push(placed);
                out.origins.push(i);
            }
        }
    }
    let mut changed: Vec<TallyWrite> = work
        .into_iter()
        .filter(|(k, to)| states[*k].state != *to)
        .map(|(k, to)| TallyWrite {
            key: k.clone(),
            from: states[k],
            to,
        })
        .collect();
    changed.sort_by(|a, b| a.key.cmp(&b.key));
    out.tallies = changed;
    for (conversation_id, placed) in conversations {
        let key = TallyKey::Conversation(conversation_id.clone());
        let tally = out
            .tallies
            .iter()
            .find(|t| t.key == key)
            .expect("a placed message moved its conversation's tally");
        let last = placed.last().expect("at least one placed");
        let mut members = vec![last.from_user.clone(), last.to_user.clone()];
        members.sort();
        members.dedup();
        for user in &members {
            let own = placed
                .iter()
                .rev()
                .find(|m| &m.from_user == user)
                .map(|m| (m.seq.expect("placed"), m.message_id.clone()));
            out.inbox.push(InboxWrite {
                user: user.clone(),
                conversation_id: conversation_id.clone(),
                members: members.clone(),
                count: tally.to.count,
                own,
                legacy: tally.from.state.legacy,
                last: LastMessage::of(last),
                position: (last.timestamp, last.partition, last.offset),
            });
        }
    }
    out
}

#[cfg(test)]
#[path = "project_tests.rs"]
mod tests;
