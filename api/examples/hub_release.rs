//! `make bench-hub`: what the push hub's release costs per event as idle streams are held on the
//! replica, in-process (no sockets, so past the file-descriptor limit that bounds a real replica
//! here). Each round holds N idle streams plus one active conversation's two, releases events for
//! the active pair one at a time (as the feed does), drains them, and announces them stored; it prints the time per
//! event and its ratio to the round without idle streams. A release's cost should follow the
//! events' recipients, not everyone connected: the ratio stays near 1.
//!
//! Usage: cargo run --release -p wiber-api --example hub_release [N ...]  (default 0 25000 50000 100000)

use std::sync::Arc;
use std::time::{Duration, Instant};

use wiber_api::push::hub::Subscription;
use wiber_api::push::{Event, Hub, PushConfig, PushMetrics};
use wiber_common::message::{MessageRecord, StoredMessage};
use wiber_common::stored::Position;

/// Releases per round, of one event each, as the feed releases every record it reads.
const BATCHES: i64 = 100_000;
const PER_BATCH: i64 = 1;

fn event(offset: i64) -> Arc<Event> {
    let stored = StoredMessage::new(
        MessageRecord {
            message_id: uuid::Uuid::from_u128(offset as u128 + 1),
            from_user: "alice".into(),
            to_user: "bob".into(),
            content: "hi".into(),
            ..Default::default()
        },
        1_000 + offset,
        0,
        offset,
    );
    Arc::new(Event::from_stored(&stored, Instant::now()).expect("an event"))
}

fn drain(s: &mut Subscription) -> usize {
    let mut n = 0;
    while s.events.try_recv().is_ok() {
        n += 1;
    }
    n
}

/// Nanoseconds per event released with `idle` other streams held.
fn round(idle: usize) -> f64 {
    let hub = Hub::new(
        PushConfig {
            buffer: 256,
            max_streams: idle + 2,
            heartbeat: Duration::from_secs(15),
        },
        PushMetrics::register(&prometheus::Registry::new()),
    );
    hub.start(Position::decode("0:-1").expect("a position"));
    let held: Vec<Subscription> = (0..idle)
        .map(|i| hub.subscribe(&format!("idle-{i}"), None).expect("room"))
        .collect();
    let mut alice = hub.subscribe("alice", None).expect("room");
    let mut bob = hub.subscribe("bob", None).expect("room");
    let batches: Vec<Vec<Arc<Event>>> = (0..BATCHES)
        .map(|b| (0..PER_BATCH).map(|i| event(b * PER_BATCH + i)).collect())
        .collect();
    let mut released = Duration::ZERO;
    for batch in &batches {
        let upto = batch.last().expect("a batch").offset;
        let started = Instant::now();
        hub.release(0, upto, batch);
        released += started.elapsed();
        assert_eq!(
            drain(&mut alice),
            batch.len(),
            "alice's stream got the batch"
        );
        assert_eq!(drain(&mut bob), batch.len(), "bob's stream got the batch");
        hub.stored(0, upto + 1);
    }
    assert_eq!(
        hub.metrics.push_streams.get() as usize,
        idle + 2,
        "nobody was cut"
    );
    drop(held);
    released.as_nanos() as f64 / (BATCHES * PER_BATCH) as f64
}

fn main() {
    let counts: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("idle stream counts are whole numbers"))
        .collect();
    let counts = if counts.is_empty() {
        vec![0, 25_000, 50_000, 100_000]
    } else {
        counts
    };
    println!("hub release: {BATCHES} releases of {PER_BATCH} event for one active pair");
    let mut first = None;
    for idle in counts {
        let ns = round(idle);
        let base = *first.get_or_insert(ns);
        println!(
            "idle streams {idle:>7}: {ns:>8.0} ns per event released, {:.2}x the first round",
            ns / base
        );
    }
}
