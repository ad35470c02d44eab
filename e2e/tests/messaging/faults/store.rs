//! The store frozen (SIGSTOP) or stopped: the API answers in bounded time and sending goes on,
//! the consumer waits with bounded memory and resumes without loss once the store runs again. A
//! message the store refuses for good is dead-lettered and its partition moves on.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rdkafka::producer::FutureRecord;
use serde_json::json;
use wiber_common::message::conversation_id;
use wiber_common::stored::Position;
use wiber_e2e::kafka::producer;
use wiber_e2e::readiness::ReadinessRecorder;
use wiber_e2e::soak::{Run, report};
use wiber_e2e::sse::SseStream;
use wiber_e2e::stack::{OwnStore, Wiber, message_id, stream};
use wiber_e2e::wait::eventually;

use super::{CONCURRENCY, RECOVERED_WITHIN, dead_letters};

/// The API's store timeout in this test, and the most a request may take beyond it.
const STORE_TIMEOUT: Duration = Duration::from_millis(1000);
const SLACK: Duration = Duration::from_secs(4);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_store_answers_reads_503_in_bounded_time_and_keyed_sends_still_go_through() {
    let store = OwnStore::start().await;
    let timeout = STORE_TIMEOUT.as_millis().to_string();
    let wiber = Wiber::spawn(store.uri(), &[("MONGO_TIMEOUT_MS", timeout)]).await;
    wiber.wait_ready().await;
    let consumer = wiber.consumer().await;
    let api_ready = ReadinessRecorder::api(&wiber);
    let consumer_ready = ReadinessRecorder::consumer(&wiber.http, &consumer);
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
    // Sending needs Kafka only; the consumer cannot write to a frozen store, and says so.
    api_ready.finish().await.assert_always_ready("API");
    consumer_ready
        .finish_ready(RECOVERED_WITHIN)
        .await
        .assert_dipped_and_recovered("consumer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_store_refuses_is_dead_lettered_and_its_partition_moves_on() {
    let wiber = Wiber::start().await;
    let consumer = wiber.consumer().await;
    let api_ready = ReadinessRecorder::api(&wiber);
    let consumer_ready = ReadinessRecorder::consumer(&wiber.http, &consumer);
    let mut bobs = wiber.live_stream(None, "user=bob").await;
    let start = bobs
        .next(RECOVERED_WITHIN)
        .await
        .and_then(|e| e.id)
        .expect("a ready id");
    let mut acknowledged = HashSet::new();
    for i in 0..10 {
        acknowledged.insert(message_id(
            &wiber.send("alice", "bob", &format!("before {i}")).await,
        ));
    }
    // A valid message that MongoDB stores, but FerretDB on PostgreSQL refuses: PostgreSQL cannot
    // hold a NUL in a string (docs/concepts/store.md, FerretDB's gaps). It sits mid-partition, in alice:bob.
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

    // Pushed as Kafka acknowledged them, bob's live stream carried all twenty-one in order, the
    // refused one too (docs/concepts/push.md: where push comes from). Once the API has read the consumer's
    // announcements covering all twenty-one (a new stream then starts past them, since it starts
    // where the store stands), a stream resumed from before them replays the history, which has
    // the twenty only.
    let before: Vec<String> = (0..10).map(|i| format!("before {i}")).collect();
    let after: Vec<String> = (0..10).map(|i| format!("after {i}")).collect();
    let (live, last) = contents(&mut bobs, 21).await;
    assert_eq!(
        live,
        [&before[..], &["nul \u{0} inside".to_owned()], &after[..]].concat()
    );
    let last = Position::decode(&last).expect("an event id");
    eventually(
        "the API to learn all 21 stored",
        RECOVERED_WITHIN,
        || async {
            let mut fresh = SseStream::new(wiber.open_stream(None, "user=bob", None, None).await);
            let ready = fresh.next(RECOVERED_WITHIN).await?;
            let at = Position::decode(ready.id.as_deref()?)?;
            last.0
                .iter()
                .all(|(&p, &o)| at.get(p).is_some_and(|a| a >= o))
                .then_some(())
        },
    )
    .await;
    let response = wiber
        .open_stream(None, "user=bob", None, Some(&start))
        .await;
    let (replayed, _) = contents(&mut SseStream::new(response), 20).await;
    assert_eq!(replayed, [before, after].concat());

    let metric = |name| consumer.metric(&wiber.http, name);
    assert_eq!(metric("wiber_consumer_dead_lettered_total").await, 1.0);
    // Refused at once, not retried as if the store were down.
    assert_eq!(metric("wiber_consumer_store_retries_total").await, 0.0);
    consumer.wait_caught_up(&wiber.http, RECOVERED_WITHIN).await;
    // One refused message is that message's fault: both stay ready.
    api_ready.finish().await.assert_always_ready("API");
    consumer_ready
        .finish()
        .await
        .assert_always_ready("consumer");
}

const MIB: f64 = 1024.0 * 1024.0;
/// Records written straight to the topic while the store is away, and their content's size: 80
/// MiB, five times the consumer's prefetch (`PREFETCH_KIB`, 16 MiB).
const BACKLOG: usize = 20_000;
const BACKLOG_CONTENT: usize = 4096;
/// The prefetch and room for what decoding and the allocator keep.
const PREFETCH_BOUND: f64 = 48.0 * MIB;

/// Writes `count` valid messages to the topic as another API replica would, and returns their ids.
async fn produce_backlog(wiber: &Wiber, count: usize) -> HashSet<String> {
    use futures::StreamExt;
    let producer = producer(&wiber.bootstrap);
    let content = "b".repeat(BACKLOG_CONTENT);
    futures::stream::iter(0..count)
        .map(|i| {
            let id = uuid::Uuid::new_v4().to_string();
            let (from, to) = (format!("backlog{}", i % 5), "backlog-reader");
            let payload =
                json!({"messageId": id, "fromUser": from, "toUser": to, "content": content})
                    .to_string();
            let producer = &producer;
            async move {
                let key = conversation_id(&from, to);
                let record = FutureRecord::to(&wiber.topic).key(&key).payload(&payload);
                producer
                    .send(record, Duration::from_secs(30))
                    .await
                    .expect("backlog produced");
                id
            }
        })
        .buffer_unordered(256)
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_outage_pauses_consumption_and_resumes_without_loss() {
    let mut store = OwnStore::start().await;
    let wiber = Wiber::start_with_store(store.uri()).await;
    let consumer = wiber.consumer().await;
    let http = wiber.http.clone();

    let (first, failed) = stream(&wiber, 300, CONCURRENCY, "before").await;
    assert_eq!(failed, 0);
    consumer
        .wait_metric(
            &http,
            "the first part stored",
            "wiber_consumer_messages_stored_total",
            RECOVERED_WITHIN,
            |stored| stored >= 300.0,
        )
        .await;

    // Readiness through the outage: the API needs only Kafka, the consumer both.
    let api_ready = ReadinessRecorder::start(
        http.clone(),
        format!("{}/health/readiness", wiber.admin_url),
    );
    let consumer_ready =
        ReadinessRecorder::start(http.clone(), format!("{}/health/readiness", consumer.url));
    store.stop();
    // Kafka is up, so the API keeps accepting; the consumer must hold these until the store returns.
    let (during, failed) = stream(&wiber, 700, CONCURRENCY, "during").await;
    assert_eq!(failed, 0, "sending must not depend on the store");
    consumer
        .wait_metric(
            &http,
            "the consumer to retry against the dead store",
            "wiber_consumer_store_retries_total",
            RECOVERED_WITHIN,
            |retries| retries >= 1.0,
        )
        .await;
    // A backlog far larger than the consumer's prefetch arrives while it waits: its memory must
    // not follow the backlog.
    let rss = || consumer.metric(&http, "process_resident_memory_bytes");
    let rss_waiting = rss().await;
    let backlog = produce_backlog(&wiber, BACKLOG).await;
    let mut rss_most = rss_waiting;
    for _ in 0..20 {
        // Samples over five seconds of fetching into the backlog, not a wait for a condition.
        tokio::time::sleep(Duration::from_millis(250)).await;
        rss_most = rss_most.max(rss().await);
    }
    eprintln!(
        "store down: consumer RSS {:.0} MiB, at most {:.0} MiB with a {} MiB backlog",
        rss_waiting / MIB,
        rss_most / MIB,
        BACKLOG * BACKLOG_CONTENT / (1024 * 1024)
    );
    assert!(
        rss_most < rss_waiting + PREFETCH_BOUND,
        "the consumer's memory followed the backlog: {rss_waiting} -> {rss_most} bytes"
    );
    let stored_while_down = consumer
        .metric(&http, "wiber_consumer_messages_stored_total")
        .await;
    assert_eq!(
        stored_while_down, 300.0,
        "nothing can be stored while the store is down"
    );
    // The API keeps accepting messages (it needs Kafka only), and says the store is down.
    let (status, _, readiness) = wiber.get("/health/readiness").await;
    assert_eq!(status, 200, "{readiness}");
    assert_eq!(readiness["mongodb"], "disconnected", "{readiness}");

    // The consumer says it cannot do its job while the store is away.
    eventually(
        "the consumer to report unready",
        RECOVERED_WITHIN,
        || async {
            let url = format!("{}/health/readiness", consumer.url);
            (http.get(url).send().await.ok()?.status() == 503).then_some(())
        },
    )
    .await;

    store.restart().await;
    let (after, failed) = stream(&wiber, 300, CONCURRENCY, "after").await;
    assert_eq!(failed, 0);
    let all: HashSet<String> = first.into_iter().chain(during).chain(after).collect();
    assert_eq!(all.len(), 1300);
    // The backlog's writer was told 200 by the broker, as the API would have been.
    let all: HashSet<String> = all.into_iter().chain(backlog).collect();
    wiber
        .assert_stored_exactly_once(&all, RECOVERED_WITHIN)
        .await;
    report(&Run {
        scenario: "store stopped and restarted",
        faults: 1,
        acknowledged: all.len(),
        stored_once: all.len(),
        server_errors: 0,
    });
    // Every POST was accepted, so the API never was unready; the consumer's readiness followed
    // the store, and comes back with it.
    api_ready.finish().await.assert_always_ready("API");
    consumer_ready
        .finish_ready(RECOVERED_WITHIN)
        .await
        .assert_dipped_and_recovered("consumer");
}

/// The contents of the next `n` messages of `stream`, and the last one's event id.
async fn contents(stream: &mut SseStream, n: usize) -> (Vec<String>, String) {
    let mut out = Vec::new();
    let mut last = String::new();
    while out.len() < n {
        let event = stream
            .next_message(RECOVERED_WITHIN)
            .await
            .expect("stream open");
        out.push(event.json()["content"].as_str().unwrap().to_owned());
        last = event.id.expect("a message's id");
    }
    (out, last)
}
