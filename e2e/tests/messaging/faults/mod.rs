//! Fault tests: each ends with "every acknowledged message stored exactly once".

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use wiber_e2e::stack::Wiber;

mod brokers;
mod consumer;
mod growth;
mod overload;
mod rebalance;
mod sending;
mod store;

/// How long a fault test waits for the pipeline, recovering from the fault included.
pub(crate) const RECOVERED_WITHIN: Duration = Duration::from_secs(90);
const STREAM: usize = 1500;
pub(crate) const CONCURRENCY: usize = 16;

/// A record of the dead-letter topic.
pub(crate) struct DeadLetter {
    pub headers: BTreeMap<String, String>,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
}

impl DeadLetter {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("header {name} missing: {:?}", self.headers))
    }

    /// Where the dead-lettered record was: partition and offset in its topic.
    pub fn origin(&self) -> (i32, i64) {
        (
            self.header("wiber-origin-partition").parse().unwrap(),
            self.header("wiber-origin-offset").parse().unwrap(),
        )
    }
}

/// The first `count` records of `wiber`'s dead-letter topic, each within 30 s.
pub(crate) async fn dead_letters(wiber: &Wiber, count: usize) -> Vec<DeadLetter> {
    let dlq: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &wiber.bootstrap)
        .set("group.id", format!("{}-dlq-reader", wiber.group))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    dlq.subscribe(&[&format!("{}.dlq", wiber.topic)]).unwrap();
    let mut letters = Vec::new();
    for _ in 0..count {
        let m = tokio::time::timeout(Duration::from_secs(30), dlq.recv())
            .await
            .expect("dead letter within 30 s")
            .unwrap();
        let headers = wiber_e2e::kafka::headers_of(&m);
        letters.push(DeadLetter {
            headers,
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().map(<[u8]>::to_vec),
        });
    }
    letters
}
