use std::time::{Duration, Instant};

use wiber_common::message::{MessageRecord, StoredMessage};

use super::*;

pub(crate) fn hub(buffer: usize, max_streams: usize) -> Arc<Hub> {
    let registry = prometheus::Registry::new();
    let hub = Hub::new(
        PushConfig {
            buffer,
            max_streams,
            heartbeat: Duration::from_secs(15),
        },
        PushMetrics::register(&registry),
    );
    hub.start(Position::decode("0:-1,1:-1").unwrap());
    hub
}

pub(crate) fn event(partition: i32, offset: i64, from: &str, to: &str) -> Arc<Event> {
    let id = uuid::Uuid::from_u128(((partition as u128) << 64) | offset as u128);
    let stored = StoredMessage::new(
        MessageRecord {
            message_id: id,
            from_user: from.into(),
            to_user: to.into(),
            content: format!("m{offset}"),
            ..Default::default()
        },
        1_000 + offset,
        partition,
        offset,
    );
    Arc::new(Event::from_stored(&stored, Instant::now()).unwrap())
}

/// Streams the hub has counted ended for `end`.
fn ended(hub: &Hub, end: End) -> u64 {
    hub.metrics
        .push_disconnects
        .with_label_values(&[end.reason()])
        .get()
}

pub(crate) fn received(s: &mut Subscription) -> Vec<i64> {
    let mut out = Vec::new();
    while let Ok(e) = s.events.try_recv() {
        out.push(e.offset);
    }
    out
}

#[test]
fn a_message_reaches_both_users_and_nobody_else() {
    let hub = hub(8, 10);
    let mut alice = hub.subscribe("alice", None).unwrap();
    let mut bob = hub.subscribe("bob", None).unwrap();
    let mut carol = hub.subscribe("carol", None).unwrap();
    hub.release(0, 0, &[event(0, 0, "alice", "bob")]);
    assert_eq!(received(&mut alice), [0]);
    assert_eq!(received(&mut bob), [0]);
    assert!(received(&mut carol).is_empty());
}

#[test]
fn a_stream_with_a_peer_gets_only_that_conversation() {
    let hub = hub(8, 10);
    let mut with_bob = hub.subscribe("alice", Some("bob")).unwrap();
    hub.release(
        0,
        1,
        &[event(0, 0, "alice", "carol"), event(0, 1, "bob", "alice")],
    );
    assert_eq!(received(&mut with_bob), [1]);
}

#[test]
fn a_message_to_oneself_arrives_once() {
    let hub = hub(8, 10);
    let mut alice = hub.subscribe("alice", None).unwrap();
    hub.release(1, 4, &[event(1, 4, "alice", "alice")]);
    assert_eq!(received(&mut alice), [4]);
}

#[test]
fn a_subscription_starts_at_the_position_of_what_was_released_before_it() {
    let hub = hub(8, 10);
    hub.release(1, 7, &[event(1, 7, "alice", "bob")]);
    let late = hub.subscribe("alice", None).unwrap();
    assert_eq!(late.position.encode(), "0:-1,1:7");
}

#[test]
fn a_slow_reader_is_cut_off_at_its_buffer_and_told_why() {
    let hub = hub(2, 10);
    let mut slow = hub.subscribe("alice", None).unwrap();
    let events: Vec<_> = (0..5).map(|o| event(0, o, "alice", "bob")).collect();
    hub.release(0, 4, &events);
    assert_eq!(received(&mut slow), [0, 1], "the buffer holds two");
    assert!(slow.events.try_recv().is_err());
    assert_eq!(slow.ended(), Some(End::SlowReader));
    assert_eq!(ended(&hub, End::SlowReader), 1);
    assert_eq!(hub.metrics.push_streams.get(), 0);
}

#[test]
fn a_stream_whose_receiver_closed_is_let_go_as_the_clients_end_not_a_slow_readers() {
    let hub = hub(2, 10);
    let count = |end: End| ended(&hub, end);
    let mut gone = hub.subscribe("alice", None).unwrap();
    let _other = hub.subscribe("carol", None).unwrap();
    gone.events.close();
    hub.release(0, 0, &[event(0, 0, "alice", "bob")]);
    assert_eq!((count(End::SlowReader), count(End::Client)), (0, 1));
    assert_eq!(hub.metrics.push_streams.get(), 1, "carol's stays open");
    drop(gone);
    assert_eq!(count(End::Client), 1, "counted once");
    assert_eq!(hub.metrics.push_streams.get(), 1);
}

#[test]
fn a_partition_the_topic_gained_reaches_streams_opened_before_and_after_it() {
    let hub = hub(8, 10);
    let mut before = hub.subscribe("alice", None).unwrap();
    hub.grow(2);
    let after = hub.subscribe("bob", None).unwrap();
    assert_eq!(after.position.get(2), Some(-1), "from its beginning");
    assert_eq!(after.stored.get(2), Some(-1), "nothing of it stored yet");
    hub.release(2, 0, &[event(2, 0, "alice", "bob")]);
    assert_eq!(received(&mut before), [0]);
    assert_eq!(
        hub.subscribe("bob", None).unwrap().unstored.len(),
        1,
        "kept until stored"
    );
    drop(after);
}

#[test]
fn streams_past_the_limit_are_refused_and_a_closed_one_frees_its_place() {
    let hub = hub(2, 1);
    let first = hub.subscribe("alice", None).unwrap();
    assert_eq!(
        hub.subscribe("bob", None).err(),
        Some(Refused::Full),
        "the second stream"
    );
    drop(first);
    assert!(hub.subscribe("bob", None).is_ok());
}

#[test]
fn a_stream_ends_counted_once_for_its_own_reason_or_as_the_clients() {
    let hub = hub(2, 10);
    let count = |end: End| ended(&hub, end);
    let failed = hub.subscribe("alice", None).unwrap();
    failed.end(End::StoreFailed);
    drop(failed);
    assert_eq!((count(End::StoreFailed), count(End::Client)), (1, 0));
    drop(hub.subscribe("bob", None).unwrap());
    assert_eq!((count(End::StoreFailed), count(End::Client)), (1, 1));
    assert_eq!(hub.metrics.push_streams.get(), 0);
}

#[test]
fn no_stream_opens_before_the_feed_has_started() {
    let registry = prometheus::Registry::new();
    let config = PushConfig {
        buffer: 1,
        max_streams: 1,
        heartbeat: Duration::from_secs(1),
    };
    let hub = Hub::new(config, PushMetrics::register(&registry));
    assert_eq!(hub.subscribe("a", None).err(), Some(Refused::NotReady));
}

#[test]
fn shutting_down_ends_every_stream_and_refuses_new_ones() {
    let hub = hub(2, 10);
    let mut open = hub.subscribe("alice", None).unwrap();
    hub.close_all();
    assert!(open.events.try_recv().is_err());
    assert_eq!(open.ended(), Some(End::ShuttingDown));
    assert_eq!(
        hub.subscribe("alice", None).err(),
        Some(Refused::ShuttingDown)
    );
}

#[test]
fn a_subscription_gets_its_messages_released_but_not_yet_stored() {
    let hub = hub(8, 10);
    hub.release(
        0,
        2,
        &[event(0, 0, "alice", "bob"), event(0, 2, "bob", "carol")],
    );
    hub.release(1, 5, &[event(1, 5, "carol", "alice")]);
    let alice = hub.subscribe("alice", None).unwrap();
    let offsets: Vec<_> = alice
        .unstored
        .iter()
        .map(|e| (e.partition, e.offset))
        .collect();
    assert_eq!(offsets, [(0, 0), (1, 5)], "alice's only, in order");
    assert_eq!(alice.stored.encode(), "0:-1,1:-1", "nothing stored yet");
    assert_eq!(alice.position.encode(), "0:2,1:5");
    let with_bob = hub.subscribe("alice", Some("bob")).unwrap();
    assert_eq!(with_bob.unstored.len(), 1, "only the conversation with bob");
}

#[test]
fn an_announcement_hands_what_it_covers_to_the_store() {
    let hub = hub(8, 10);
    let events: Vec<_> = (0..4).map(|o| event(0, o, "alice", "bob")).collect();
    assert_eq!(hub.release(0, 3, &events), 4);
    assert_eq!(hub.stored(0, 2), 2, "offsets 2 and 3 are kept");
    let alice = hub.subscribe("alice", None).unwrap();
    assert_eq!(alice.stored.encode(), "0:1,1:-1");
    let kept: Vec<_> = alice.unstored.iter().map(|e| e.offset).collect();
    assert_eq!(kept, [2, 3]);
    assert_eq!(
        hub.stored(0, 1),
        2,
        "an older announcement moves nothing back"
    );
    assert_eq!(hub.stored(0, 4), 0);
    assert_eq!(hub.metrics.appended_to_stored.get_sample_count(), 4);
}

#[test]
fn a_message_announced_stored_before_it_is_read_is_pushed_but_not_kept() {
    let hub = hub(8, 10);
    let mut bob = hub.subscribe("bob", None).unwrap();
    assert_eq!(hub.stored(0, 3), 0);
    assert_eq!(hub.release(0, 2, &[event(0, 2, "alice", "bob")]), 0);
    assert_eq!(received(&mut bob), [2]);
    let late = hub.subscribe("bob", None).unwrap();
    assert!(late.unstored.is_empty(), "the store has it");
    assert_eq!(late.stored.encode(), "0:2,1:-1");
}

#[test]
fn time_since_an_append_is_in_seconds_and_never_negative() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let waited = since_epoch_ms(now - 1500);
    assert!((1.5..2.5).contains(&waited), "{waited}");
    assert_eq!(since_epoch_ms(now + 60_000), 0.0);
}
