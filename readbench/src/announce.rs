//! Announcing a topic stored to its end, as the consumer does after each batch, for measuring the
//! push feed without a consumer: the API's hub then keeps nothing for streams catching up, and
//! never pauses a partition waiting for the store (`dev/feedcost.sh`).

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use wiber_common::stored::StoredUpTo;

const TIMEOUT: Duration = Duration::from_secs(10);

/// Announces every partition of `topic` stored up to its end now; returns how many partitions.
pub async fn announce(bootstrap: &str, topic: &str) -> Result<usize, KafkaError> {
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let metadata = reader.fetch_metadata(Some(topic), TIMEOUT)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .create()?;
    // The consumer's default name for it (KAFKA_STORED_TOPIC).
    let announcements = format!("{topic}.stored");
    for &partition in &partitions {
        let (_, next) = reader.fetch_watermarks(topic, partition, TIMEOUT)?;
        let stored = StoredUpTo { partition, next };
        let (key, payload) = (stored.key(), stored.encode());
        producer
            .send(
                FutureRecord::to(&announcements).key(&key).payload(&payload),
                TIMEOUT,
            )
            .await
            .map_err(|(e, _)| e)?;
    }
    Ok(partitions.len())
}
