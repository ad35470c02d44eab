use wiber_common::message::MessageRecord;

use super::*;

fn message(offset: i64, from: &str, to: &str) -> StoredMessage {
    let record = MessageRecord {
        message_id: uuid::Uuid::from_u128(offset as u128 + 1),
        from_user: from.into(),
        to_user: to.into(),
        content: format!("m{offset}"),
    };
    StoredMessage::new(record, 1000 + offset, 0, offset)
}

/// Every key of the batch at `state` (stored) or new (not stored).
fn states(
    batch: &[StoredMessage],
    state: impl Fn(&TallyKey) -> Option<TallyState>,
) -> HashMap<TallyKey, Known> {
    keys(batch)
        .into_iter()
        .map(|k| {
            let known = match state(&k) {
                Some(state) => Known {
                    state,
                    stored: true,
                },
                None => Known {
                    state: TallyState::new(0),
                    stored: false,
                },
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
                state: t.to,
                stored: true,
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

trait With {
    fn with(self, count: i64, applied: i64) -> Self;
}

impl With for TallyState {
    fn with(self, count: i64, applied: i64) -> Self {
        Self {
            count,
            applied,
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
    assert_eq!(entry("alice", "alice:carol").members, ["alice", "carol"]);
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

#[test]
fn a_redelivery_that_overlaps_counts_only_what_is_past_each_tally() {
    let batch = batch();
    let before = fresh(&batch);
    let first = project(
        &batch[..2],
        &states(&batch[..2], |_| None),
        &BTreeSet::new(),
    );
    let mut mid = after(&first, &before);
    // The user tally of bob was not written before the stop: it still stands before the batch.
    mid.insert(
        TallyKey::User("bob".into(), 0),
        Known {
            state: TallyState::new(0),
            stored: false,
        },
    );
    let p = project(&batch, &mid, &BTreeSet::new());
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
        TallyKey::Conversation(_) => (
            k,
            Known {
                state: TallyState::new(7),
                stored: false,
            },
        ),
        _ => (k, known),
    })
    .collect();
    let p = project(&batch, &states, &BTreeSet::new());
    assert_eq!(places(&p), [(40, Some(8))]);
    assert!(p.inbox.iter().all(|e| e.legacy == 7 && e.count == 8));
}
