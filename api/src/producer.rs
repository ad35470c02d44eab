//! Sending messages to Kafka, behind a small trait so routes test without a broker.

use std::future::Future;
use std::time::{Duration, Instant};

use prometheus::{HistogramVec, IntCounterVec};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use wiber_common::kafka::KafkaConnection;
use wiber_common::message::MessageRecord;

/// What the broker acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Produced {
    /// The record's timestamp as the broker stored it (log-append time on Wiber's topic).
    pub timestamp: i64,
    pub partition: i32,
    pub offset: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error("cannot create the Kafka producer: {0}")]
    Create(#[source] KafkaError),
    #[error("cannot encode the record: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("kafka did not acknowledge the message ({category}): {source}")]
    Delivery {
        category: &'static str,
        #[source]
        source: KafkaError,
    },
}

pub trait MessageProducer: Send + Sync + 'static {
    /// Sends the record keyed by its conversation and resolves once the broker acknowledged it
    /// (acks=all), or with an error when it did not.
    fn send(
        &self,
        key: &str,
        record: &MessageRecord,
    ) -> impl Future<Output = Result<Produced, ProduceError>> + Send;

    /// True when the broker answers and the topic exists.
    fn ready(&self) -> impl Future<Output = bool> + Send;
}

/// Produce latency and failures, by a fixed category.
#[derive(Clone)]
pub struct ProduceMetrics {
    pub latency: HistogramVec,
    pub errors: IntCounterVec,
}

pub struct KafkaProducer {
    producer: FutureProducer,
    topic: String,
    metrics: ProduceMetrics,
}

impl KafkaProducer {
    pub fn new(
        kafka: &KafkaConnection,
        topic: &str,
        timeout: Duration,
        metrics: ProduceMetrics,
    ) -> Result<Self, ProduceError> {
        let producer = kafka
            .client_config()
            .set("client.id", "wiber-api")
            // Nothing is reported as sent until every in-sync replica has it, and retries cannot
            // duplicate or reorder a conversation.
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", timeout.as_millis().to_string())
            // A few milliseconds of batching multiplies throughput under load and costs little
            // latency when idle.
            .set("linger.ms", "2")
            .set("compression.type", "lz4")
            .create()
            .map_err(ProduceError::Create)?;
        Ok(Self {
            producer,
            topic: topic.to_owned(),
            metrics,
        })
    }

    /// Waits for queued messages to be delivered, for a graceful shutdown.
    pub fn flush(&self, timeout: Duration) {
        if let Err(e) = self.producer.flush(timeout) {
            tracing::warn!(error = %e, "some messages were still unacknowledged at shutdown");
        }
    }
}

fn category(error: &KafkaError) -> &'static str {
    match error.rdkafka_error_code() {
        Some(RDKafkaErrorCode::MessageTimedOut) => "timeout",
        Some(RDKafkaErrorCode::QueueFull) => "queue_full",
        Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
            "unknown_topic"
        }
        Some(
            RDKafkaErrorCode::NotEnoughReplicas | RDKafkaErrorCode::NotEnoughReplicasAfterAppend,
        ) => "not_enough_replicas",
        Some(_) => "broker",
        None => "client",
    }
}

impl MessageProducer for KafkaProducer {
    async fn send(&self, key: &str, record: &MessageRecord) -> Result<Produced, ProduceError> {
        let payload = serde_json::to_vec(record)?;
        let started = Instant::now();
        // A zero queue timeout: when librdkafka's local queue is full the client hears 503 at once
        // instead of piling up waiting requests.
        let result = self
            .producer
            .send(
                FutureRecord::to(&self.topic).key(key).payload(&payload),
                Duration::ZERO,
            )
            .await;
        let outcome = if result.is_ok() { "ok" } else { "error" };
        self.metrics
            .latency
            .with_label_values(&[outcome])
            .observe(started.elapsed().as_secs_f64());
        match result {
            Ok(delivery) => Ok(Produced {
                timestamp: delivery.timestamp.to_millis().unwrap_or_else(now_millis),
                partition: delivery.partition,
                offset: delivery.offset,
            }),
            Err((source, _)) => {
                let category = category(&source);
                self.metrics.errors.with_label_values(&[category]).inc();
                Err(ProduceError::Delivery { category, source })
            }
        }
    }

    async fn ready(&self) -> bool {
        let producer = self.producer.clone();
        let topic = self.topic.clone();
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(Some(&topic), Duration::from_secs(2))
                .is_ok_and(|m| {
                    m.topics().iter().any(|t| {
                        t.name() == topic && t.error().is_none() && !t.partitions().is_empty()
                    })
                })
        })
        .await
        .unwrap_or(false)
    }
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
