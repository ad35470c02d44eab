//! Announces what is stored: after each batch's durable write, one small record per partition of
//! the batch on the stored topic (`wiber_common::stored`), which the API's push streams wait for.
//! Sent without waiting: a lost announcement is overtaken by the next one for its partition, and
//! the write it follows is already durable, so nothing here can hold up or undo the pipeline.

use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use wiber_common::kafka::KafkaConnection;
use wiber_common::stored::StoredUpTo;

use crate::metrics::Metrics;
use crate::pipeline::NextOffset;

pub struct Announcer {
    producer: FutureProducer,
    topic: String,
    metrics: Metrics,
}

impl Announcer {
    pub fn new(kafka: &KafkaConnection, topic: &str, metrics: Metrics) -> Result<Self, KafkaError> {
        let producer = kafka
            .client_config()
            .set("client.id", "wiber-consumer-stored")
            // In order per partition, and out at once: a push waits for it.
            .set("enable.idempotence", "true")
            .set("linger.ms", "0")
            .set("message.timeout.ms", "10000")
            .create()?;
        Ok(Self {
            producer,
            topic: topic.to_owned(),
            metrics,
        })
    }

    pub fn announce(&self, offsets: &[NextOffset]) {
        for o in offsets {
            let stored = StoredUpTo {
                partition: o.partition,
                next: o.offset,
            };
            let (key, value) = (stored.key(), stored.encode());
            let record = FutureRecord::to(&self.topic).key(&key).payload(&value);
            match self.producer.send_result(record) {
                Ok(delivery) => {
                    let failures = self.metrics.announce_failures.clone();
                    tokio::spawn(async move {
                        if !matches!(delivery.await, Ok(Ok(_))) {
                            failures.inc();
                        }
                    });
                }
                Err((e, _)) => {
                    self.metrics.announce_failures.inc();
                    tracing::debug!(error = %e, "stored announcement not queued");
                }
            }
        }
    }

    /// Sends what is queued before the process exits.
    pub fn flush(&self) {
        let _ = self.producer.flush(std::time::Duration::from_secs(5));
    }
}
