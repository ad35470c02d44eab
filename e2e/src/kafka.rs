//! Kafka as the tests use it directly: topics, and records the API would not write.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};

/// Creates `topic` with log-append time; the replication factor is the broker's default (1 on one
/// node, 3 on three).
pub async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(-1))
        .set("message.timestamp.type", "LogAppendTime");
    let results = admin
        .create_topics(
            [&new_topic],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await
        .expect("create_topics");
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("creating topic {t}: {e}"));
    }
}

/// A record's headers by name, values as text.
pub fn headers_of<M: Message>(message: &M) -> BTreeMap<String, String> {
    message
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| {
                    let value = h.value.map(String::from_utf8_lossy).unwrap_or_default();
                    (h.key.to_owned(), value.into_owned())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A plain producer on `bootstrap`, for records the API would not write: poison, a skewed clock,
/// a backlog nobody consumes.
pub fn producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("producer")
}

/// A backlog of `count` records on `topic`, keyed `k0`, `k1`, ... (so spread over its partitions),
/// each acknowledged before the next is sent.
pub async fn produce_backlog(bootstrap: &str, topic: &str, count: usize, payload: &str) {
    let producer = producer(bootstrap);
    for i in 0..count {
        producer
            .send(
                FutureRecord::to(topic)
                    .key(&format!("k{i}"))
                    .payload(payload),
                Duration::from_secs(10),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("producing the backlog on {topic}: {e}"));
    }
}
