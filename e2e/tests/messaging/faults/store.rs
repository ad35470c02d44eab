//! The store frozen (SIGSTOP): the API answers in bounded time, sending goes on, and the
//! consumer resumes without loss once the store runs again. A message the store refuses for good
//! is dead-lettered and its partition moves on.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::json;
use wiber_e2e::soak::{Run, report};
use wiber_e2e::stack::{OwnStore, Wiber, message_id};
use wiber_e2e::wait::eventually;

use super::{RECOVERED_WITHIN, dead_letters};

/// The API's store timeout in this test, and the most a request may take beyond it.
const STORE_TIMEOUT: Duration = Duration::from_millis(1000);
const SLACK: Duration = Duration::from_secs(4);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_store_answers_reads_503_in_bounded_time_and_keyed_sends_still_go_through() {
    let store = OwnStore::start().await;
    let timeout = STORE_TIMEOUT.as_millis().to_string();
    let wiber = Wiber::spawn(store.uri(), &[("MONGO_TIMEOUT_MS", timeout)]).await;
    wiber.wait_ready().await;
    let _consumer = wiber.consumer().await;
    let before = wiber.send("alice", "bob", "before the freeze").await;
    eventually("the first message stored", RECOVERED_WITHIN, || async {
        (wiber.count("").await == 1).then_some(())
    })
    .await;

    store.freeze();
    for path in [
        "/messages/count",
        "/messages/alice/bob",
        "/messages/user/alice",
    ] {
        let started = Instant::now();
        let (status, headers, _) = wiber.get(path).await;
        let took = started.elapsed();
        assert_eq!(status, 503, "{path} with the store frozen");
        assert_eq!(headers["retry-after"], "5");
        assert!(took < STORE_TIMEOUT + SLACK, "{path} took {took:?}");
    }
    // A keyed send cannot reserve its key, and goes ahead under the content's id.
    let started = Instant::now();
    let body = json!({"fromUser": "alice", "toUser": "bob", "content": "during the freeze"});
    let (status, during) = wiber.post_keyed("frozen-1", &body).await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{during}");
    assert!(took < STORE_TIMEOUT + SLACK, "keyed POST took {took:?}");
    store.thaw();

    let ids: HashSet<String> = [&before, &during].into_iter().map(message_id).collect();
    wiber
        .assert_stored_exactly_once(&ids, RECOVERED_WITHIN)
        .await;
    let (status, retry) = wiber.post_keyed("frozen-1", &body).await;
    assert_eq!(
        (status, &retry["messageId"]),
        (reqwest::StatusCode::OK, &during["messageId"])
    );
    report(&Run {
        scenario: "store frozen",
        faults: 1,
        acknowledged: ids.len(),
        stored_once: ids.len(),
        // The three reads answered 503 while it was frozen.
        server_errors: 3,
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_store_refuses_is_dead_lettered_and_its_partition_moves_on() {
    let wiber = Wiber::start().await;
    let consumer = wiber.consumer().await;
    let mut bobs = wiber.live_stream(None, "user=bob").await;
    let mut acknowledged = HashSet::new();
    for i in 0..10 {
        acknowledged.insert(message_id(
            &wiber.send("alice", "bob", &format!("before {i}")).await,
        ));
    }
    // A valid message that MongoDB stores, but FerretDB on PostgreSQL refuses: PostgreSQL cannot
    // hold a NUL in a string (README, FerretDB's gaps). It sits mid-partition, in alice:bob.
    let refused = wiber.send("alice", "bob", "nul \u{0} inside").await;
    for i in 0..10 {
        acknowledged.insert(message_id(
            &wiber.send("bob", "alice", &format!("after {i}")).await,
        ));
    }
    wiber
        .assert_stored_exactly_once(&acknowledged, RECOVERED_WITHIN)
        .await;

    let [letter] = <[_; 1]>::try_from(dead_letters(&wiber, 1).await)
        .ok()
        .unwrap();
    assert_eq!(letter.header("wiber-dlq-category"), "store_refused");
    let reason = letter.header("wiber-dlq-reason");
    assert!(reason.contains("SQLSTATE 22P05"), "{reason}");
    assert_eq!(letter.header("wiber-origin-topic"), wiber.topic);
    assert_eq!(letter.key.as_deref(), Some(&b"alice:bob"[..]));
    let payload: serde_json::Value = serde_json::from_slice(&letter.payload.unwrap()).unwrap();
    assert_eq!(payload["messageId"], refused["messageId"]);
    assert_eq!(
        wiber.count("").await,
        20,
        "the refused message is not stored"
    );

    // Bob's stream carries the twenty in order, and never the message that cannot be read back.
    let mut pushed = Vec::new();
    while pushed.len() < 20 {
        let event = bobs
            .next_message(RECOVERED_WITHIN)
            .await
            .expect("stream open");
        pushed.push(event.json()["content"].as_str().unwrap().to_owned());
    }
    let sent: Vec<String> = (0..10)
        .map(|i| format!("before {i}"))
        .chain((0..10).map(|i| format!("after {i}")))
        .collect();
    assert_eq!(pushed, sent);

    let metric = |name| consumer.metric(&wiber.http, name);
    assert_eq!(metric("wiber_consumer_dead_lettered_total").await, 1.0);
    // Refused at once, not retried as if the store were down.
    assert_eq!(metric("wiber_consumer_store_retries_total").await, 0.0);
    consumer.wait_caught_up(&wiber.http, RECOVERED_WITHIN).await;
}
