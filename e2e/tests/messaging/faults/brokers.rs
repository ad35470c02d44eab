//! Broker loss in the three-node cluster (RF 3, `min.insync.replicas=2`) during a stream: every
//! message answered 200 is stored exactly once, a message whose outcome was unknown at most once,
//! and nothing else. One broker restarted, two stopped, and a rolling restart of all three.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use wiber_e2e::brokers::{NODES, ReplicatedKafka};
use wiber_e2e::mongo_uri;
use wiber_e2e::readiness::ReadinessRecorder;
use wiber_e2e::soak::{Run, report};
use wiber_e2e::stack::{ConsumerProcess, Wiber, stream_answers};
use wiber_e2e::verify::Told as Outcomes;
use wiber_e2e::wait::eventually;

use crate::faults::{CONCURRENCY, RECOVERED_WITHIN};

/// How long readiness may take to follow a change of the cluster: the next probe and its answer.
const SETTLE: Duration = Duration::from_secs(3);

/// What the clients of a stream were told.
#[derive(Debug, Default)]
struct Told {
    acknowledged: HashSet<String>,
    /// 503 outcome-unknown: the message may or may not be stored.
    unknown: HashSet<String>,
    /// 503 "not sent" (with Retry-After) and anything else, by status.
    refused: Vec<u16>,
}

async fn stream(wiber: &Wiber, count: usize, prefix: &str) -> Told {
    let answers = stream_answers(wiber, count, CONCURRENCY, prefix).await;
    let mut told = Told::default();
    for (status, body) in answers {
        let id = body["messageId"].as_str().map(str::to_owned);
        let unknown = body["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("#outcome-unknown"));
        match (status, id) {
            (200, Some(id)) => {
                told.acknowledged.insert(id);
            }
            (503, Some(id)) if unknown => {
                told.unknown.insert(id);
            }
            _ => told.refused.push(status),
        }
    }
    told
}

impl Told {
    fn outcomes(&self) -> Outcomes {
        Outcomes {
            acknowledged: self.acknowledged.clone(),
            unknown: self.unknown.clone(),
        }
    }

    fn merge(mut self, other: Told) -> Told {
        self.acknowledged.extend(other.acknowledged);
        self.unknown.extend(other.unknown);
        self.refused.extend(other.refused);
        self
    }
}

/// The suite's verification against what the clients were told, once the group has consumed
/// everything: each acknowledged message once, an unknown one at most once, nothing else, in
/// Kafka's order.
async fn assert_store_matches(
    wiber: &Wiber,
    consumer: &ConsumerProcess,
    told: &Told,
    scenario: &'static str,
    faults: usize,
) {
    let verified = wiber.verify(&told.outcomes(), RECOVERED_WITHIN).await;
    // Lag zero as the consumer reports it, too.
    consumer.wait_caught_up(&wiber.http, RECOVERED_WITHIN).await;
    report(&Run {
        scenario,
        faults,
        acknowledged: told.acknowledged.len(),
        stored_once: verified.stored,
        server_errors: told.unknown.len() + told.refused.iter().filter(|s| **s >= 500).count(),
    });
    eprintln!(
        "{} acknowledged, {} of unknown outcome ({} of them stored), {} refused",
        told.acknowledged.len(),
        told.unknown.len(),
        verified.unknown_stored,
        told.refused.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_stopped_and_restarted_mid_stream_loses_and_duplicates_nothing() {
    let mut kafka = ReplicatedKafka::exclusive().await;
    let wiber = Wiber::spawn_on(kafka.bootstrap.clone(), mongo_uri(), &[]).await;
    wiber.wait_ready().await;
    let consumer = wiber.consumer().await;
    let api_ready = ReadinessRecorder::api(&wiber);
    let consumer_ready = ReadinessRecorder::consumer(&wiber.http, &consumer);

    let before = stream(&wiber, 300, "before").await;
    // Every node leads a partition of the three-partition topic: whichever stops, a partition
    // changes leader, and changes back after the restart.
    tokio::task::block_in_place(|| kafka.stop(NODES[0]));
    let during = stream(&wiber, 600, "during").await;
    tokio::task::block_in_place(|| kafka.start(NODES[0]));
    let after = stream(&wiber, 300, "after").await;
    let told = before.merge(during).merge(after);
    assert!(
        told.refused.iter().all(|s| *s == 503),
        "only 503 while a broker is away: {told:?}"
    );
    // With two of three in sync, losing one broker must not refuse a single message.
    assert_eq!(told.acknowledged.len(), 1200, "{told:?}");
    assert_store_matches(&wiber, &consumer, &told, "broker restarted", 1).await;
    // Two brokers in sync are enough for both: neither may say otherwise.
    api_ready.finish().await.assert_always_ready("API");
    consumer_ready
        .finish()
        .await
        .assert_always_ready("consumer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_brokers_stopped_nothing_is_acknowledged_and_nothing_refused_is_stored() {
    let mut kafka = ReplicatedKafka::exclusive().await;
    let timeout = [("KAFKA_PRODUCE_TIMEOUT_MS", "3000".to_owned())];
    let wiber = Wiber::spawn_on(kafka.bootstrap.clone(), mongo_uri(), &timeout).await;
    wiber.wait_ready().await;
    let consumer = wiber.consumer().await;

    let api_ready = ReadinessRecorder::api(&wiber);
    let consumer_ready = ReadinessRecorder::consumer(&wiber.http, &consumer);
    let before = stream(&wiber, 100, "before").await;
    assert_eq!(before.acknowledged.len(), 100, "{before:?}");
    let stopping = Instant::now();
    tokio::task::block_in_place(|| {
        kafka.stop(NODES[1]);
        kafka.stop(NODES[2]);
    });
    let down = Instant::now();
    // One replica left of min.insync.replicas=2: no write can be acknowledged.
    let during = stream(&wiber, 40, "during").await;
    let up = Instant::now();
    assert!(during.acknowledged.is_empty(), "{during:?}");
    assert!(
        during.refused.iter().all(|s| *s == 503),
        "only 503 while brokers are away: {during:?}"
    );
    tokio::task::block_in_place(|| {
        kafka.start(NODES[1]);
        kafka.start(NODES[2]);
    });
    // Streams until a whole one is acknowledged, keeping what every attempt was told.
    let deadline = Instant::now() + RECOVERED_WITHIN;
    let mut after = Told::default();
    loop {
        let told = stream(&wiber, 50, "after").await;
        let whole = told.acknowledged.len() == 50;
        after = after.merge(told);
        if whole {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cluster did not accept writes again: {after:?}"
        );
    }
    let told = before.merge(during).merge(after);
    assert_store_matches(&wiber, &consumer, &told, "two brokers stopped", 1).await;
    // The API cannot accept a message with one replica in sync, and says so from the moment the
    // brokers are gone until they are back; the consumer, reading from the one leader, can work.
    let api = api_ready.finish_ready(RECOVERED_WITHIN).await;
    api.assert_dipped_and_recovered("API");
    assert_eq!(
        api.between(api.samples[0].0, stopping).1,
        0,
        "{}",
        api.summary()
    );
    let (samples, unready) = api.between(down + SETTLE, up);
    assert!(samples > 0, "no samples while the brokers were away");
    assert_eq!(
        unready, samples,
        "the API said ready while nothing could be sent"
    );
    consumer_ready
        .finish()
        .await
        .assert_always_ready("consumer");
}

/// Every partition of `topic` has all three replicas in sync: the cluster can lose another broker
/// without refusing writes (`min.insync.replicas=2`).
async fn wait_fully_in_sync(bootstrap: &str, topic: &str) {
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("a metadata client");
    eventually("every replica back in sync", RECOVERED_WITHIN, || async {
        let metadata = tokio::task::block_in_place(|| {
            client.fetch_metadata(Some(topic), Duration::from_secs(5))
        })
        .ok()?;
        let partitions = metadata.topics().first()?.partitions();
        (!partitions.is_empty() && partitions.iter().all(|p| p.isr().len() == NODES.len()))
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_of_all_three_brokers_loses_and_duplicates_nothing() {
    let mut kafka = ReplicatedKafka::exclusive().await;
    let wiber = Wiber::spawn_on(kafka.bootstrap.clone(), mongo_uri(), &[]).await;
    wiber.wait_ready().await;
    let consumer = wiber.consumer().await;

    let http = wiber.http.clone();
    let api_ready = ReadinessRecorder::start(
        http.clone(),
        format!("{}/health/readiness", wiber.admin_url),
    );
    let consumer_ready =
        ReadinessRecorder::start(http.clone(), format!("{}/health/readiness", consumer.url));
    let mut told = stream(&wiber, 200, "before").await;
    // As an operator (or Strimzi) rolls a cluster: one broker at a time, the next only once every
    // partition is fully in sync again.
    for node in NODES {
        wait_fully_in_sync(&kafka.bootstrap, &wiber.topic).await;
        tokio::task::block_in_place(|| kafka.stop(node));
        told = told.merge(stream(&wiber, 200, &format!("without-{node}")).await);
        tokio::task::block_in_place(|| kafka.start(node));
    }
    told = told.merge(stream(&wiber, 200, "after").await);
    assert!(
        told.refused.iter().all(|s| *s == 503),
        "only 503 while a broker is away: {told:?}"
    );
    // One broker away at a time leaves two in sync: nothing may be refused.
    assert_eq!(told.acknowledged.len(), 1000, "{told:?}");
    let restarts = NODES.len();
    assert_store_matches(&wiber, &consumer, &told, "rolling broker restart", restarts).await;
    // Both could do their jobs throughout, and said so.
    api_ready.finish().await.assert_always_ready("API");
    consumer_ready
        .finish()
        .await
        .assert_always_ready("consumer");
}
