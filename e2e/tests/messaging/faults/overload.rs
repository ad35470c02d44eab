//! Overload: with Kafka unable to acknowledge (two of three brokers frozen), far more concurrent
//! POSTs than API_MAX_IN_FLIGHT. The excess is refused at once with 503 "Overloaded" and
//! Retry-After instead of queueing, memory stays bounded, and once Kafka is back nothing refused is
//! stored and everything acknowledged is, exactly once.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use wiber_e2e::brokers::{NODES, ReplicatedKafka};
use wiber_e2e::readiness::ReadinessRecorder;
use wiber_e2e::soak::{Run, report};
use wiber_e2e::stack::Wiber;
use wiber_e2e::verify::Told;
use wiber_e2e::{metrics, mongo_uri};

use crate::faults::RECOVERED_WITHIN;

const IN_FLIGHT: usize = 8;
const CLIENTS: usize = 400;
/// How long the API waits for Kafka's acknowledgement before answering "outcome unknown".
const PRODUCE_TIMEOUT: Duration = Duration::from_secs(4);
/// An answer that queued behind the in-flight ones would wait at least one produce timeout, so an
/// `overloaded` answer coming in half of one was refused at once. A tighter bound measured the
/// 400 clients' own scheduling on two cores (1.001 s in a CI run), not the API.
const FAST: Duration = PRODUCE_TIMEOUT.checked_div(2).unwrap();

async fn rss(wiber: &Wiber) -> f64 {
    metrics::metric(
        &wiber.http,
        &wiber.admin_url,
        "process_resident_memory_bytes",
        &[],
    )
    .await
    .expect("the API's resident memory")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_beyond_the_in_flight_limit_get_fast_503s_and_memory_stays_bounded() {
    let mut kafka = ReplicatedKafka::exclusive().await;
    let env = [
        ("API_MAX_IN_FLIGHT", IN_FLIGHT.to_string()),
        (
            "KAFKA_PRODUCE_TIMEOUT_MS",
            PRODUCE_TIMEOUT.as_millis().to_string(),
        ),
    ];
    let wiber = Wiber::spawn_on(kafka.bootstrap.clone(), mongo_uri(), &env).await;
    wiber.wait_ready().await;
    let consumer = wiber.consumer().await;
    let api_ready = ReadinessRecorder::api(&wiber);
    let before = wiber.send("alice", "bob", "before the overload").await;
    let rss_before = rss(&wiber).await;

    tokio::task::block_in_place(|| {
        kafka.freeze(NODES[1]);
        kafka.freeze(NODES[2]);
    });
    let answers: Vec<(u16, Value, Option<String>, Duration)> = futures::stream::iter(0..CLIENTS)
        .map(|i| {
            let body =
                json!({"fromUser": "alice", "toUser": "bob", "content": format!("rush {i}")});
            let wiber = &wiber;
            async move {
                let started = Instant::now();
                let response = wiber.post(&body).await;
                let status = response.status().as_u16();
                let retry = response
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_owned());
                let body = response.json().await.unwrap_or(Value::Null);
                (status, body, retry, started.elapsed())
            }
        })
        .buffer_unordered(CLIENTS)
        .collect()
        .await;
    let rss_during = rss(&wiber).await;
    tokio::task::block_in_place(|| {
        kafka.thaw(NODES[1]);
        kafka.thaw(NODES[2]);
    });

    let mut acknowledged: HashSet<String> =
        [before["messageId"].as_str().unwrap().to_owned()].into();
    let mut unknown = HashSet::new();
    let mut overloaded = 0;
    for (status, body, retry, took) in &answers {
        let kind = body["type"].as_str().unwrap_or_default();
        match *status {
            200 => {
                acknowledged.insert(body["messageId"].as_str().unwrap().to_owned());
            }
            503 if body["title"] == "Overloaded" => {
                overloaded += 1;
                assert!(*took < FAST, "an overloaded answer took {took:?}");
                assert!(retry.is_some(), "503 without Retry-After: {body}");
            }
            503 if kind.ends_with("#outcome-unknown") => {
                unknown.insert(body["messageId"].as_str().unwrap().to_owned());
            }
            503 => assert!(retry.is_some(), "503 without Retry-After: {body}"),
            other => panic!("only 200 or 503 under overload, got {other}: {body}"),
        }
    }
    assert!(
        overloaded >= CLIENTS - 4 * IN_FLIGHT,
        "the excess is refused, not queued: {overloaded} of {CLIENTS} overloaded"
    );
    assert!(
        rss_during < rss_before + 64.0 * 1024.0 * 1024.0,
        "API memory grew from {rss_before} to {rss_during} bytes"
    );

    // Nothing refused is stored; what was acknowledged is, once; an unknown outcome at most once.
    let told = Told {
        acknowledged: acknowledged.clone(),
        unknown,
    };
    let verified = wiber.verify(&told, RECOVERED_WITHIN).await;
    consumer.wait_caught_up(&wiber.http, RECOVERED_WITHIN).await;
    // Readiness is served outside the in-flight bound, so a flood cannot make the kubelet think
    // the API dead; frozen brokers may or may not show, but the API is ready once they run.
    let api = api_ready.finish_ready(RECOVERED_WITHIN).await;
    api.assert_ready_before_and_after("API");
    eprintln!("API readiness through the overload: {}", api.summary());
    report(&Run {
        scenario: "overload beyond API_MAX_IN_FLIGHT",
        faults: 1,
        acknowledged: acknowledged.len(),
        stored_once: verified.stored,
        server_errors: answers.iter().filter(|(s, ..)| *s >= 500).count(),
    });
    eprintln!(
        "overload: {CLIENTS} clients, {overloaded} overloaded, {} acknowledged, {} unknown; RSS {:.0} -> {:.0} MiB",
        acknowledged.len() - 1,
        told.unknown.len(),
        rss_before / 1048576.0,
        rss_during / 1048576.0
    );
}
