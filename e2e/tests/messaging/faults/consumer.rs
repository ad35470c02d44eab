//! Faults on the consuming side: consumer kills, poison records, rebalances and skewed clocks.

use std::collections::HashSet;
use std::time::Duration;

use rdkafka::producer::FutureRecord;
use serde_json::json;
use wiber_e2e::group_traffic::{group_traffic, make_group};
use wiber_e2e::kafka::producer;
use wiber_e2e::readiness::ReadinessRecorder;
use wiber_e2e::soak::{Run, report};
use wiber_e2e::stack::{Wiber, message_id, stream};
use wiber_e2e::wait::eventually;

use super::{CONCURRENCY, RECOVERED_WITHIN, STREAM, dead_letters};

/// Messages to the group of the scenarios that carry one.
const GROUP_MESSAGES: usize = 150;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_killed_mid_stream_and_restarted_loses_nothing_and_duplicates_nothing() {
    let wiber = Wiber::start().await;
    let mut consumer = wiber.consumer().await;
    let http = wiber.http.clone();
    // Sending needs Kafka only: the API stays ready with no consumer at all.
    let api_ready = ReadinessRecorder::api(&wiber);

    let sender = stream(&wiber, STREAM, CONCURRENCY, "kill");
    // A group's messages and membership changes beside the 1:1 stream, across the kill; the
    // group applied first, while the consumer runs.
    let made = make_group(&wiber, "kill").await;
    let group = group_traffic(&wiber, made, GROUP_MESSAGES);
    let killer = async {
        // Kill once it has stored part of the stream, so some offsets are committed and some not.
        consumer
            .wait_metric(
                &http,
                "the consumer to store part of the stream",
                "wiber_consumer_messages_stored_total",
                RECOVERED_WITHIN,
                |stored| stored >= 300.0,
            )
            .await;
        consumer.process.kill();
    };
    let ((acknowledged, failed), group, ()) = tokio::join!(sender, group, killer);
    assert_eq!(
        failed, 0,
        "the API must keep accepting while the consumer is down"
    );
    assert_eq!(acknowledged.len(), STREAM);
    assert_eq!(
        group.acknowledged.len(),
        GROUP_MESSAGES,
        "every member's message accepted"
    );

    let restarted = wiber.consumer().await;
    let mut everything = acknowledged.clone();
    everything.extend(group.acknowledged.iter().cloned());
    everything.extend(group.changes.iter().cloned());
    wiber
        .assert_stored_exactly_once(&everything, RECOVERED_WITHIN)
        .await;
    let (_, _, info) = wiber.get(&format!("/conversations/{}", group.group)).await;
    assert_eq!(info["members"], json!(group.members), "{info}");
    // How many edits and deletes get in depends on how long the consumer is down (a change waits
    // for its message to be stored); whatever was accepted must be applied.
    group.assert_changes_applied(&wiber, RECOVERED_WITHIN).await;
    // The restarted consumer redid what was stored but not committed: duplicates, not errors.
    let duplicates = restarted
        .metric(&http, "wiber_consumer_duplicates_total")
        .await;
    let stored = restarted
        .metric(&http, "wiber_consumer_messages_stored_total")
        .await;
    assert!(
        stored < STREAM as f64,
        "the restart began from committed offsets, not from zero"
    );
    eprintln!("after SIGKILL: restarted consumer stored {stored}, skipped {duplicates} duplicates");
    api_ready.finish().await.assert_always_ready("API");
    report(&Run {
        scenario: "consumer SIGKILL",
        faults: 1,
        acknowledged: acknowledged.len(),
        stored_once: acknowledged.len(),
        server_errors: failed,
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_message_goes_to_the_dead_letter_topic_and_never_blocks_its_partition() {
    let wiber = Wiber::start().await;
    let consumer = wiber.consumer().await;
    let producer = producer(&wiber.bootstrap);
    let api_ready = ReadinessRecorder::api(&wiber);
    let consumer_ready = ReadinessRecorder::consumer(&wiber.http, &consumer);

    let mut acknowledged = HashSet::new();
    for i in 0..20 {
        let m = wiber.send("alice", "bob", &format!("before {i}")).await;
        acknowledged.insert(message_id(&m));
    }
    // Same key as the conversation, so the poison sits in the middle of its partition.
    let poison = producer
        .send(
            FutureRecord::to(&wiber.topic)
                .key("alice:bob")
                .payload("this is not a message"),
            Duration::from_secs(10),
        )
        .await
        .expect("poison produced");
    let missing_fields = producer
        .send(
            FutureRecord::to(&wiber.topic)
                .key("alice:bob")
                .payload(r#"{"fromUser":"alice"}"#),
            Duration::from_secs(10),
        )
        .await
        .expect("second poison produced");
    for i in 0..20 {
        let m = wiber.send("bob", "alice", &format!("after {i}")).await;
        acknowledged.insert(message_id(&m));
    }
    wiber
        .assert_stored_exactly_once(&acknowledged, RECOVERED_WITHIN)
        .await;

    // Both poison records are in the dead-letter topic with their reason and origin.
    let mut origins = Vec::new();
    for letter in dead_letters(&wiber, 2).await {
        assert_eq!(letter.header("wiber-dlq-category"), "malformed");
        assert!(!letter.header("wiber-dlq-reason").is_empty());
        assert_eq!(letter.header("wiber-origin-topic"), wiber.topic);
        assert_eq!(letter.key.as_deref(), Some(&b"alice:bob"[..]));
        origins.push(letter.origin());
    }
    origins.sort();
    assert_eq!(
        origins,
        [
            (poison.partition, poison.offset),
            (missing_fields.partition, missing_fields.offset)
        ]
    );
    let dead = consumer
        .metric(&wiber.http, "wiber_consumer_dead_lettered_total")
        .await;
    assert_eq!(dead, 2.0);
    // The partition moved past the poison: the group's lag drains to zero.
    consumer.wait_caught_up(&wiber.http, RECOVERED_WITHIN).await;
    // A poison record is the record's fault, not the component's: both stay ready.
    api_ready.finish().await.assert_always_ready("API");
    consumer_ready
        .finish()
        .await
        .assert_always_ready("consumer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_consumer_joining_and_first_leaving_mid_stream_store_everything_once() {
    let wiber = Wiber::start().await;
    let mut first = wiber.consumer().await;
    let http = wiber.http.clone();
    let api_ready = ReadinessRecorder::api(&wiber);

    let sender = stream(&wiber, STREAM, CONCURRENCY, "rebalance");
    let choreography = async {
        first
            .wait_metric(
                &http,
                "the first consumer to store some",
                "wiber_consumer_messages_stored_total",
                RECOVERED_WITHIN,
                |stored| stored >= 200.0,
            )
            .await;
        let second = wiber.consumer().await;
        second
            .wait_metric(
                &http,
                "the second consumer to get partitions",
                "wiber_consumer_assigned_partitions",
                RECOVERED_WITHIN,
                |assigned| assigned >= 1.0,
            )
            .await;
        // The first leaves gracefully mid-stream: it commits what it stored and leaves the group.
        let code = first.process.terminate(Duration::from_secs(30));
        assert_eq!(code, Some(0), "graceful shutdown exits 0");
        assert!(
            first
                .process
                .log_text()
                .contains("stored offsets committed")
        );
        second
    };
    let ((acknowledged, failed), second) = tokio::join!(sender, choreography);
    assert_eq!(failed, 0);
    wiber
        .assert_stored_exactly_once(&acknowledged, RECOVERED_WITHIN)
        .await;
    second
        .wait_metric(
            &http,
            "the survivor to own every partition",
            "wiber_consumer_assigned_partitions",
            RECOVERED_WITHIN,
            |assigned| assigned == 3.0,
        )
        .await;
    api_ready.finish().await.assert_always_ready("API");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_with_a_skewed_clock_cannot_reorder_a_conversation() {
    let wiber = Wiber::start().await;
    let _consumer = wiber.consumer().await;
    // Another API replica whose clock runs an hour ahead writes first...
    let producer = producer(&wiber.bootstrap);
    let hour_ahead = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        + 3_600_000;
    let early_id = uuid::Uuid::new_v4().to_string();
    let payload =
        json!({"messageId": early_id, "fromUser": "alice", "toUser": "bob", "content": "first"});
    producer
        .send(
            FutureRecord::to(&wiber.topic)
                .key("alice:bob")
                .payload(&payload.to_string())
                .timestamp(hour_ahead),
            Duration::from_secs(10),
        )
        .await
        .expect("produced");
    // ...then this replica writes the reply.
    let reply = wiber.send("bob", "alice", "second").await;
    let page = eventually("both stored", RECOVERED_WITHIN, || async {
        let (_, _, page) = wiber.get("/messages/alice/bob").await;
        page.as_array().filter(|p| p.len() == 2).cloned()
    })
    .await;
    assert_eq!(
        page[0]["messageId"], early_id,
        "the broker's order wins over the sender's clock"
    );
    assert_eq!(page[1], reply);
    assert!(page[0]["timestamp"].as_i64().unwrap() < hour_ahead - 60_000);
}
