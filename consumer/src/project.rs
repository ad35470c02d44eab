//! What one partition's batch does to the read model (`wiber_common::readmodel`), worked out
//! without the store: each new message's place in its conversation, who takes part in it (a
//! group's members when it was appended), the tallies' new states and the members' inbox
//! entries. Pure, so the rules that keep it exact under redelivery are tested here:
//!
//! - a tally counts a message only when its offset is past the tally's `applied`, so whatever
//!   part of a batch comes again, each tally counts each message once;
//! - a message is placed from its conversation's tally, and written before any tally, so a
//!   message past the tally is either new or was written by an attempt that stopped before the
//!   tally moved: the same state then gives it the same place again;
//! - a group's state rides on its conversation's tally and moves with it, so a membership change
//!   applies once, in Kafka's order, and a message is judged against the members of its moment;
//! - inbox entries hold absolute values (a count, a place read to), written before the tallies
//!   too, so writing them twice changes nothing;
//! - a user's tally lists their most recent conversations (`RecentList`), each moved to the front
//!   by the messages the tally counts, so it moves with the count.

use std::collections::{BTreeSet, HashMap};

use wiber_common::group::{Action, GroupState};
use wiber_common::message::StoredMessage;
use wiber_common::readmodel::{LastMessage, Recent, RecentList, TallyKey, TallyState, placed};

/// A tally's state as the writer found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    pub state: TallyState,
    /// Whether the store holds it (a tally not stored is created by its first write).
    pub stored: bool,
    /// A group's state, on its conversation's tally.
    pub group: Option<GroupState>,
    /// A user's recent conversations, on their tally.
    pub recent: RecentList,
}

impl Known {
    /// A tally without a group, and with the list of a new tally, or of one stored before lists.
    pub fn new(state: TallyState, stored: bool) -> Self {
        Self {
            state,
            stored,
            group: None,
            recent: if stored {
                RecentList::of(None)
            } else {
                RecentList::new()
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TallyWrite {
    pub key: TallyKey,
    pub from: Known,
    pub to: TallyState,
    /// The group after the batch, on a group's conversation tally.
    pub group: Option<GroupState>,
    /// The list after the batch, on a user's tally.
    pub recent: Option<RecentList>,
}

/// A member's inbox entry after the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxWrite {
    pub user: String,
    pub conversation_id: String,
    /// Set when they change: a 1:1 conversation's pair, or a group's members after a change.
    pub members: Option<Vec<String>>,
    pub title: Option<String>,
    /// What the user sees of the conversation: all of it, or up to their departure.
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
    /// A group's records refused in Kafka's order (a sender no longer a member, a change the
    /// group's state forbids), by their place in the batch, and why.
    pub rejected: Vec<(usize, String)>,
    pub tallies: Vec<TallyWrite>,
    pub inbox: Vec<InboxWrite>,
}

/// The conversations' and partitions' tallies of a batch: read first, for the groups' states.
pub fn conversation_keys(messages: &[StoredMessage]) -> BTreeSet<TallyKey> {
    messages
        .iter()
        .filter(|m| m.takes_place())
        .flat_map(|m| {
            [
                TallyKey::Conversation(m.conversation_id.clone()),
                TallyKey::Partition(m.partition),
            ]
        })
        .collect()
}

/// Every user tally the batch may count in, given its conversations' states: the pairs' users,
/// and of each group everyone who is or becomes a member in the batch.
pub fn user_keys(
    messages: &[StoredMessage],
    conversations: &HashMap<TallyKey, Known>,
) -> BTreeSet<TallyKey> {
    let mut keys = BTreeSet::new();
    for m in messages.iter().filter(|m| m.takes_place()) {
        let user = |u: &String| TallyKey::User(u.clone(), m.partition);
        keys.extend(m.participants.iter().map(user));
        if let Some(change) = &m.membership {
            keys.extend(change.users.iter().map(user));
        }
        let conversation = TallyKey::Conversation(m.conversation_id.clone());
        if let Some(group) = conversations
            .get(&conversation)
            .and_then(|k| k.group.as_ref())
        {
            keys.extend(group.members.iter().map(user));
        }
    }
    keys
}

/// The batch (`messages`, one partition's, in offset order) against the tallies' states (one for
/// each of `conversation_keys` and `user_keys`), leaving out the batch's messages at `excluded`
/// (copies of messages stored earlier, and messages the store refused).
pub fn project(
    messages: &[StoredMessage],
    states: &HashMap<TallyKey, Known>,
    excluded: &BTreeSet<usize>,
) -> Projection {
    let mut work: HashMap<&TallyKey, TallyState> = states
        .iter()
        .map(|(k, known)| (k, known.state.clone()))
        .collect();
    let mut groups: HashMap<String, GroupState> = HashMap::new();
    // What each user tally counts of the batch, for its recent list.
    let mut touched: HashMap<TallyKey, Vec<Recent>> = HashMap::new();
    let mut out = Projection::default();
    // Each conversation's newly placed messages, in the order conversations first appear.
    let mut conversations: Vec<(String, Vec<StoredMessage>)> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        // Edits, deletes and receipts take no place and count nowhere (`changes`).
        if excluded.contains(&i) || !m.takes_place() {
            continue;
        }
        let conversation = TallyKey::Conversation(m.conversation_id.clone());
        let at = &work[&conversation];
        let (written, next_place) = (m.offset <= at.applied_in(m.partition), at.count + 1);
        if written {
            // Written before. Conversation tallies are written last (`readmodel`), so the others
            // have counted it too, unless an earlier version stopped between them: those count
            // it now (a group's record by those the API addressed it to).
            out.counted += 1;
            for key in TallyKey::of(m) {
                let state = work
                    .get_mut(&key)
                    .expect("a state for every key of the batch");
                if state.count(m.partition, m.offset) {
                    touch(&mut touched, &key, m);
                }
            }
            continue;
        }
        let mut m = m.clone();
        if m.is_group() {
            let current = groups
                .get(&m.conversation_id)
                .or_else(|| states[&conversation].group.as_ref());
            match judge(current, &m, next_place) {
                Ok((participants, next)) => {
                    m.participants = participants;
                    if let Some(next) = next {
                        groups.insert(m.conversation_id.clone(), next);
                    }
                }
                Err(reason) => {
                    out.rejected.push((i, reason));
                    continue;
                }
            }
        }
        for key in TallyKey::of(&m) {
            let state = work
                .get_mut(&key)
                .expect("a state for every key of the batch");
            if !state.count(m.partition, m.offset) {
                continue;
            }
            touch(&mut touched, &key, &m);
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
        .map(|(k, to)| {
            let group = match k {
                TallyKey::Conversation(c) => groups.remove(c).or_else(|| states[k].group.clone()),
                _ => None,
            };
            let recent = touched.remove(k).map(|batch| states[k].recent.after(batch));
            TallyWrite {
                key: k.clone(),
                from: states[k].clone(),
                to,
                group,
                recent,
            }
        })
        .collect();
    changed.sort_by(|a, b| a.key.cmp(&b.key));
    out.tallies = changed;
    for (conversation_id, placed) in conversations {
        out.inbox
            .extend(inbox(&out.tallies, &conversation_id, &placed));
    }
    out
}

/// Notes that `key`, a user's tally, counted `m`.
fn touch(touched: &mut HashMap<TallyKey, Vec<Recent>>, key: &TallyKey, m: &StoredMessage) {
    if matches!(key, TallyKey::User(..)) {
        touched.entry(key.clone()).or_default().push(Recent {
            conversation_id: m.conversation_id.clone(),
            timestamp: m.timestamp,
            offset: m.offset,
        });
    }
}

/// Who takes part in a group's record at place `seq`, and the group after it if it changes it.
fn judge(
    current: Option<&GroupState>,
    m: &StoredMessage,
    seq: i64,
) -> Result<(Vec<String>, Option<GroupState>), String> {
    let Some(change) = &m.membership else {
        return match current {
            Some(group) if group.is_member(&m.from_user) => Ok((group.members.clone(), None)),
            Some(_) => Err(format!("{} is not a member of the group", m.from_user)),
            None => Err(format!(
                "no group {} was created before it",
                m.conversation_id
            )),
        };
    };
    let next = GroupState::apply(current, &m.from_user, change, seq).map_err(|e| e.to_string())?;
    let mut participants = next.members.clone();
    if matches!(change.action, Action::Removed | Action::Left) {
        // Those who go see that they went.
        participants.extend(change.users.iter().cloned());
        participants.sort();
        participants.dedup();
    }
    Ok((participants, Some(next)))
}

/// The inbox entries of everyone a conversation's newly placed messages (`placed`) reached.
fn inbox(
    tallies: &[TallyWrite],
    conversation_id: &str,
    placed: &[StoredMessage],
) -> Vec<InboxWrite> {
    let key = TallyKey::Conversation(conversation_id.to_owned());
    let tally = tallies
        .iter()
        .find(|t| t.key == key)
        .expect("a placed message moved its conversation's tally");
    // A group's members and title are written when the batch changed them; a pair's always.
    let changed = placed.iter().any(|m| m.membership.is_some());
    let (members, title) = match &tally.group {
        Some(group) if changed => (Some(group.members.clone()), group.title.clone()),
        Some(_) => (None, None),
        None => {
            let last = placed.last().expect("at least one placed");
            let mut pair = last.participants.clone();
            pair.sort();
            pair.dedup();
            (Some(pair), None)
        }
    };
    let mut users: Vec<&String> = placed.iter().flat_map(|m| &m.participants).collect();
    users.sort();
    users.dedup();
    users
        .into_iter()
        .map(|user| {
            let last = placed
                .iter()
                .rev()
                .find(|m| m.participants.contains(user))
                .expect("the user takes part in a placed message");
            let own = placed
                .iter()
                .rev()
                .find(|m| &m.from_user == user)
                .map(|m| (m.seq.expect("placed"), m.message_id.clone()));
            let still = tally.group.as_ref().is_none_or(|g| g.is_member(user));
            InboxWrite {
                user: user.clone(),
                conversation_id: conversation_id.to_owned(),
                members: members.clone(),
                title: title.clone(),
                count: if still {
                    tally.to.count
                } else {
                    last.seq.expect("placed")
                },
                own,
                legacy: tally.from.state.legacy,
                last: LastMessage::of(last),
                position: (last.timestamp, last.partition, last.offset),
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "project_tests.rs"]
mod tests;
