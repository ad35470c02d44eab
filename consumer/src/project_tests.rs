use wiber_common::message::MessageRecord;

use super::*;
use wiber_common::group::Action;

fn message(offset: i64, from: &str, to: &str) -> StoredMessage {
    let record = MessageRecord::direct(
        uuid::Uuid::from_u128(offset as u128 + 1),
        from,
        to,
        &format!("m{offset}"),
    );
    StoredMessage::new(record, 1000 + offset, 0, offset)
}

/// Every key of the batch at `state` (stored) or new (not stored).
fn states(
    batch: &[StoredMessage],
    state: impl Fn(&TallyKey) -> Option<TallyState>,
) -> HashMap<TallyKey, Known> {
    let mut keys = conversation_keys(batch);
    keys.extend(user_keys(batch, &HashMap::new()));
    keys.into_iter()
        .map(|k| {
            let known = match state(&k) {
                Some(state) => Known::new(state, true),
                None => Known::new(TallyState::new(0), false),
            };
            (k, known)
        })
        .collect()
}

fn fresh(batch: &[StoredMessage]) -> HashMap<TallyKey, Known> {
    states(batch, |_| None)
}

/// The states the projection leaves, as the next batch finds them.
fn after(p: &Projection, before: &HashMap<TallyKey, Known>) -> HashMap<TallyKey, Known> {
    let mut next = before.clone();
    for t in &p.tallies {
        next.insert(
            t.key.clone(),
            Known {
                group: t.group.clone(),
                recent: t
                    .recent
                    .clone()
                    .unwrap_or_else(|| before[&t.key].recent.clone()),
                ..Known::new(t.to.clone(), true)
            },
        );
    }
    next
}

fn tally(p: &Projection, id: &str) -> TallyState {
    p.tallies
        .iter()
        .find(|t| t.key.id() == id)
        .unwrap_or_else(|| panic!("no write of {id}"))
        .to
        .clone()
}

fn places(p: &Projection) -> Vec<(i64, Option<i64>)> {
    p.messages.iter().map(|m| (m.offset, m.seq)).collect()
}

fn batch() -> Vec<StoredMessage> {
    vec![
        message(10, "alice", "bob"),
        message(11, "bob", "alice"),
        message(12, "carol", "alice"),
        message(13, "alice", "bob"),
    ]
}

#[test]
fn new_messages_take_the_next_places_of_their_conversations_and_count_once_everywhere() {
    let batch = batch();
    let p = project(&batch, &fresh(&batch), &BTreeSet::new());
    assert_eq!(
        places(&p),
        [(10, Some(1)), (11, Some(2)), (12, Some(1)), (13, Some(3))]
    );
    assert_eq!(p.messages[3].page.as_deref(), Some("alice:bob/0"));
    assert_eq!(tally(&p, "c/alice:bob").count, 3);
    assert_eq!(tally(&p, "c/alice:carol").count, 1);
    assert_eq!(tally(&p, "p/0"), TallyState::new(0).with(4, 13));
    assert_eq!(tally(&p, "u/alice/0").count, 4);
    assert_eq!(tally(&p, "u/bob/0").count, 3);
    assert_eq!(tally(&p, "u/carol/0").count, 1);
    assert_eq!(p.counted, 0);
}

#[test]
fn a_receipt_among_messages_takes_no_place_and_counts_nowhere() {
    let mut receipt = message(11, "bob", "alice");
    receipt.signal = Some(wiber_common::signal::Signal::Receipt {
        read_seq: 1,
        message_id: batch()[0].message_id.clone(),
    });
    let mut with = batch();
    with[1] = receipt;
    let p = project(&with, &fresh(&with), &BTreeSet::new());
    assert_eq!(places(&p), [(10, Some(1)), (12, Some(1)), (13, Some(2))]);
    assert_eq!(tally(&p, "c/alice:bob").count, 2);
    assert_eq!(tally(&p, "p/0").count, 3);
    assert_eq!(tally(&p, "u/bob/0").count, 2);
    assert!(p.inbox.iter().all(|e| e.last.content != "m11"));
}

/// The states `batch` finds after `before`: what was written, else new.
fn following(
    batch: &[StoredMessage],
    before: &HashMap<TallyKey, Known>,
) -> HashMap<TallyKey, Known> {
    let fresh = fresh(batch);
    fresh
        .into_iter()
        .map(|(k, new)| {
            let known = before.get(&k).cloned().unwrap_or(new);
            (k, known)
        })
        .collect()
}

#[test]
fn a_conversation_moved_to_a_new_partition_by_a_growth_counts_each_message_once_in_order_of_arrival()
 {
    let in_partition = |offset: i64, partition: i32, from: &str, to: &str| StoredMessage {
        partition,
        ..message(offset, from, to)
    };
    let first = vec![in_partition(1000, 0, "alice", "bob")];
    let p = project(&first, &fresh(&first), &BTreeSet::new());
    let mut known = after(&p, &fresh(&first));
    // The topic grew: its next messages land in partition 1, whose offsets start again at 0,
    // while one sent before the move is still on its way in partition 0.
    let moved = vec![
        in_partition(5, 1, "bob", "alice"),
        in_partition(1001, 0, "alice", "bob"),
        in_partition(6, 1, "alice", "bob"),
    ];
    let p = project(&moved, &following(&moved, &known), &BTreeSet::new());
    assert_eq!(places(&p), [(5, Some(2)), (1001, Some(3)), (6, Some(4))]);
    assert_eq!(tally(&p, "c/alice:bob").count, 4);
    assert_eq!(tally(&p, "u/alice/1").count, 2);
    assert_eq!(tally(&p, "u/alice/0").count, 2);
    known = after(&p, &following(&moved, &known));
    // Everything delivered again, from both partitions: nothing is counted twice.
    let again: Vec<StoredMessage> = first.into_iter().chain(moved).collect();
    let p = project(&again, &following(&again, &known), &BTreeSet::new());
    assert!(p.messages.is_empty(), "{:?}", places(&p));
    assert!(p.tallies.is_empty());
    assert_eq!(p.counted, 4);
}

trait With {
    fn with(self, count: i64, applied: i64) -> Self;
}

impl With for TallyState {
    fn with(self, count: i64, applied: i64) -> Self {
        Self {
            count,
            applied,
            // The tests' messages are all of partition 0.
            applied_in: Some(0),
            ..self
        }
    }
}

#[test]
fn each_member_gets_the_last_message_and_has_read_their_own() {
    let batch = batch();
    let p = project(&batch, &fresh(&batch), &BTreeSet::new());
    let entry = |user: &str, conversation: &str| {
        p.inbox
            .iter()
            .find(|e| e.user == user && e.conversation_id == conversation)
            .unwrap_or_else(|| panic!("no entry of {user} in {conversation}"))
            .clone()
    };
    let bob = entry("bob", "alice:bob");
    assert_eq!((bob.count, bob.last.content.as_str()), (3, "m13"));
    assert_eq!(bob.own.map(|o| o.0), Some(2), "bob's own message is at 2");
    assert_eq!(entry("alice", "alice:bob").own.map(|o| o.0), Some(3));
    assert_eq!(entry("alice", "alice:carol").own, None);
    assert_eq!(
        entry("alice", "alice:carol").members.as_deref(),
        Some(&["alice".to_owned(), "carol".to_owned()][..])
    );
    assert_eq!(p.inbox.len(), 4);
}

#[test]
fn a_batch_delivered_again_after_its_tallies_moved_changes_nothing() {
    let batch = batch();
    let before = fresh(&batch);
    let first = project(&batch, &before, &BTreeSet::new());
    let again = project(&batch, &after(&first, &before), &BTreeSet::new());
    assert!(again.messages.is_empty());
    assert!(again.tallies.is_empty());
    assert!(again.inbox.is_empty());
    assert_eq!(again.counted, 4);
}

#[test]
fn a_batch_delivered_again_before_its_tallies_moved_is_placed_the_same() {
    let batch = batch();
    let before = fresh(&batch);
    assert_eq!(
        project(&batch, &before, &BTreeSet::new()),
        project(&batch, &before, &BTreeSet::new())
    );
}

/// The batch again after its first two messages were written, every tally moved but bob's (not
/// written before the stop: it still stands before the batch).
fn redelivered_before_bobs_tally_moved() -> Projection {
    let batch = batch();
    let before = fresh(&batch);
    let first = project(
        &batch[..2],
        &states(&batch[..2], |_| None),
        &BTreeSet::new(),
    );
    let mut mid = after(&first, &before);
    mid.insert(
        TallyKey::User("bob".into(), 0),
        Known::new(TallyState::new(0), false),
    );
    project(&batch, &mid, &BTreeSet::new())
}

#[test]
fn a_redelivery_that_overlaps_counts_only_what_is_past_each_tally() {
    let p = redelivered_before_bobs_tally_moved();
    assert_eq!(places(&p), [(12, Some(1)), (13, Some(3))]);
    assert_eq!(p.counted, 2);
    assert_eq!(
        tally(&p, "u/bob/0").count,
        3,
        "bob's tally counts all three"
    );
    assert_eq!(tally(&p, "u/alice/0").count, 4);
    assert_eq!(tally(&p, "p/0").count, 4);
}

fn recent(p: &Projection, id: &str) -> Vec<(String, i64)> {
    p.tallies
        .iter()
        .find(|t| t.key.id() == id)
        .and_then(|t| t.recent.as_ref())
        .unwrap_or_else(|| panic!("no list written on {id}"))
        .items
        .iter()
        .map(|r| (r.conversation_id.clone(), r.offset))
        .collect()
}

#[test]
fn a_users_tally_lists_their_conversations_by_their_last_message_newest_first() {
    let batch = batch();
    let before = fresh(&batch);
    let first = project(&batch, &before, &BTreeSet::new());
    assert_eq!(
        recent(&first, "u/alice/0"),
        [("alice:bob".into(), 13), ("alice:carol".into(), 12)]
    );
    assert_eq!(recent(&first, "u/carol/0"), [("alice:carol".into(), 12)]);
    let next = vec![message(14, "carol", "alice")];
    let mut states = after(&first, &before);
    states.extend(
        conversation_keys(&next)
            .into_iter()
            .filter(|k| !states.contains_key(k))
            .map(|k| (k, Known::new(TallyState::new(0), false)))
            .collect::<Vec<_>>(),
    );
    let second = project(&next, &states, &BTreeSet::new());
    assert_eq!(
        recent(&second, "u/alice/0"),
        [("alice:carol".into(), 14), ("alice:bob".into(), 13)]
    );
    assert!(
        second.tallies.iter().all(|t| t.key.id() != "u/bob/0"),
        "bob's tally and list stay as they were"
    );
}

#[test]
fn a_list_moves_only_with_its_tally_so_a_redelivery_lists_each_conversation_once() {
    let p = redelivered_before_bobs_tally_moved();
    assert_eq!(
        recent(&p, "u/bob/0"),
        [("alice:bob".into(), 13)],
        "bob's tally counts the redelivered messages, and lists their conversation once"
    );
    assert_eq!(
        recent(&p, "u/alice/0"),
        [("alice:bob".into(), 13), ("alice:carol".into(), 12)]
    );
}

#[test]
fn a_left_out_message_takes_no_place_and_counts_nowhere() {
    let batch = batch();
    let p = project(&batch, &fresh(&batch), &BTreeSet::from([1]));
    assert_eq!(places(&p), [(10, Some(1)), (12, Some(1)), (13, Some(2))]);
    assert_eq!(p.origins, [0, 2, 3]);
    assert_eq!(tally(&p, "c/alice:bob").count, 2);
    assert_eq!(tally(&p, "u/bob/0").count, 2);
    assert_eq!(tally(&p, "p/0").count, 3);
}

#[test]
fn messages_from_before_the_read_model_keep_the_first_places_and_count_as_read() {
    let batch = vec![message(40, "alice", "bob")];
    let states = states(&batch, |k| match k {
        TallyKey::Conversation(_) => None,
        _ => Some(TallyState::new(0)),
    })
    .into_iter()
    .map(|(k, known)| match k {
        TallyKey::Conversation(_) => (k, Known::new(TallyState::new(7), false)),
        _ => (k, known),
    })
    .collect();
    let p = project(&batch, &states, &BTreeSet::new());
    assert_eq!(places(&p), [(40, Some(8))]);
    assert!(p.inbox.iter().all(|e| e.legacy == 7 && e.count == 8));
}

const GROUP: &str = "g-0123456789abcdef0123456789abcdef";

fn group_record(offset: i64, from: &str, membership: Option<(Action, &[&str])>) -> StoredMessage {
    let record = MessageRecord {
        message_id: uuid::Uuid::from_u128(offset as u128 + 1),
        from_user: from.into(),
        content: format!("g{offset}"),
        conversation_id: Some(GROUP.into()),
        membership: membership.map(|(action, users)| wiber_common::group::Membership {
            action,
            users: users.iter().map(|u| (*u).to_owned()).collect(),
            title: Some("Trip".into()),
            limit: None,
        }),
        ..MessageRecord::default()
    };
    StoredMessage::new(record, 2000 + offset, 0, offset)
}

/// Every key a group batch needs, each not stored yet, and then as `project` leaves them.
fn group_states(batch: &[StoredMessage]) -> HashMap<TallyKey, Known> {
    let conversations: HashMap<TallyKey, Known> = conversation_keys(batch)
        .into_iter()
        .map(|k| (k, Known::new(TallyState::new(0), false)))
        .collect();
    let mut all = conversations.clone();
    for k in user_keys(batch, &conversations) {
        all.insert(k, Known::new(TallyState::new(0), false));
    }
    all
}

fn participants(p: &Projection) -> Vec<Vec<String>> {
    p.messages.iter().map(|m| m.participants.clone()).collect()
}

#[test]
fn a_group_message_reaches_its_members_of_the_moment_and_a_strangers_is_refused() {
    let batch = vec![
        group_record(
            1,
            "alice",
            Some((Action::Created, &["alice", "bob", "carol"])),
        ),
        group_record(2, "bob", None),
        group_record(3, "mallory", None),
        group_record(4, "alice", Some((Action::Removed, &["carol"]))),
        group_record(5, "alice", None),
    ];
    let p = project(&batch, &group_states(&batch), &BTreeSet::new());
    assert_eq!(
        places(&p),
        [(1, Some(1)), (2, Some(2)), (4, Some(3)), (5, Some(4))]
    );
    assert_eq!(p.rejected.len(), 1);
    assert_eq!(p.rejected[0].0, 2, "mallory's message, refused in order");
    let everyone = ["alice", "bob", "carol"].map(String::from).to_vec();
    assert_eq!(
        participants(&p),
        [
            everyone.clone(),
            everyone.clone(),
            everyone,
            vec!["alice".into(), "bob".into()]
        ]
    );
    let group = p.tallies.iter().find_map(|t| t.group.clone()).unwrap();
    assert_eq!(group.members, ["alice", "bob"]);
    assert_eq!(group.readable_until("carol"), Some(3));
    assert_eq!(tally(&p, "u/carol/0").count, 3);
    assert_eq!(tally(&p, "u/alice/0").count, 4);
    let carol = p.inbox.iter().find(|e| e.user == "carol").unwrap();
    assert_eq!(
        (carol.count, carol.last.seq),
        (3, 3),
        "carol sees up to her removal"
    );
    let bob = p.inbox.iter().find(|e| e.user == "bob").unwrap();
    assert_eq!(bob.count, 4);
    assert_eq!(bob.members.as_deref(), Some(&group.members[..]));
    assert_eq!(bob.title.as_deref(), Some("Trip"));
}

#[test]
fn a_group_batch_delivered_again_applies_its_changes_once() {
    let batch = vec![
        group_record(1, "alice", Some((Action::Created, &["alice", "bob"]))),
        group_record(2, "bob", Some((Action::Left, &["bob"]))),
        group_record(3, "alice", None),
    ];
    let before = group_states(&batch);
    let first = project(&batch, &before, &BTreeSet::new());
    assert!(first.rejected.is_empty(), "{:?}", first.rejected);
    let again = project(&batch, &after(&first, &before), &BTreeSet::new());
    assert!(again.messages.is_empty() && again.tallies.is_empty() && again.rejected.is_empty());
    assert_eq!(again.counted, 3);
    // Part of it again, with the group as the first attempt left it: bob's leave is not applied
    // twice and alice's message still reaches only alice.
    let mut mid = after(&first, &before);
    let c = TallyKey::Conversation(GROUP.into());
    let mut conversation = mid[&c].clone();
    conversation.state = TallyState {
        count: 2,
        applied: 2,
        ..TallyState::new(0)
    };
    mid.insert(c, conversation);
    let p = project(&batch, &mid, &BTreeSet::new());
    assert_eq!(places(&p), [(3, Some(3))]);
    assert_eq!(participants(&p), [vec!["alice".to_owned()]]);
}

#[test]
fn a_group_record_before_its_group_is_refused() {
    let batch = vec![group_record(1, "alice", None)];
    let p = project(&batch, &group_states(&batch), &BTreeSet::new());
    assert!(p.messages.is_empty());
    assert_eq!(p.rejected.len(), 1);
}
