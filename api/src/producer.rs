//! Sending messages to Kafka, behind a small trait so routes test without a broker.

use std::future::Future;
use std::time::{Duration, Instant};

use prometheus::{HistogramVec, IntCounter, IntCounterVec};
use rdkafka::ClientContext;
use rdkafka::Message;
use rdkafka::bindings::rd_kafka_msg_status_t;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::BorrowedMessage;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use tokio::sync::oneshot;
use tracing::Instrument;
use wiber_common::kafka::{KafkaConnection, READY_TIMEOUT};
use wiber_common::message::MessageRecord;

use crate::writable::{self, Writability};

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
    /// Kafka never received the message, so sending it again cannot store it twice.
    #[error("kafka did not get the message ({category}): {source}")]
    NotSent {
        category: &'static str,
        #[source]
        source: KafkaError,
    },
    /// The request reached a broker, which may have written the message before the error (a
    /// timeout while it was in flight, say): only a retry under the same message id is safe.
    #[error("kafka may or may not have written the message ({category}): {source}")]
    OutcomeUnknown {
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
    /// Failures after which the client is told the outcome is unknown.
    pub outcome_unknown: IntCounter,
}

/// What a delivery report says: the broker's acknowledgement, or the error and whether the message
/// may have been written anyway.
type Report = Result<Produced, (KafkaError, Persisted)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Persisted {
    No,
    Possibly,
}

/// Hands each delivery report to the request waiting for it, with librdkafka's own verdict on
/// whether a failed message reached a broker, which `FutureProducer` drops.
struct DeliveryContext;

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Box<oneshot::Sender<Report>>;

    fn delivery(&self, result: &DeliveryResult<'_>, waiting: Self::DeliveryOpaque) {
        let report = match result {
            Ok(m) => Ok(Produced {
                timestamp: m.timestamp().to_millis().unwrap_or_else(now_millis),
                partition: m.partition(),
                offset: m.offset(),
            }),
            Err((e, m)) => Err((e.clone(), persisted(m))),
        };
        // The request may have been cancelled (client gone); nobody is left to tell.
        let _ = waiting.send(report);
    }
}

/// librdkafka's status of a failed message: `NOT_PERSISTED` only when no broker can have it
/// (never sent, or refused outright); anything else may be in the log.
#[allow(unsafe_code)]
fn persisted(message: &BorrowedMessage<'_>) -> Persisted {
    // SAFETY: the message pointer is valid for the whole delivery callback, and
    // rd_kafka_message_status only reads it.
    let status = unsafe { rdkafka::bindings::rd_kafka_message_status(message.ptr()) };
    match status {
        rd_kafka_msg_status_t::RD_KAFKA_MSG_STATUS_NOT_PERSISTED => Persisted::No,
        _ => Persisted::Possibly,
    }
}

pub struct KafkaProducer {
    producer: ThreadedProducer<DeliveryContext>,
    writability: Writability,
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
            // librdkafka's idempotent producer sends one request per partition at a time, and
            // while a ready batch waits for that answer its broker thread busy-polls (about half
            // the API's CPU under load). With one request in flight per connection a ready batch
            // waits in the send queue instead, where the thread sleeps; 5 ms batches fill better
            // than 2 ms ones for 3 ms more when idle (BENCHMARKS.md, "The API's producer").
            .set("max.in.flight.requests.per.connection", "1")
            .set("linger.ms", "5")
            .set("compression.type", "lz4")
            .create_with_context(DeliveryContext)
            .map_err(ProduceError::Create)?;
        let writability = Writability::new(kafka, topic).map_err(ProduceError::Create)?;
        Ok(Self {
            producer,
            writability,
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

    async fn deliver(&self, key: &str, payload: &[u8]) -> Report {
        let (tx, rx) = oneshot::channel();
        let mut record = BaseRecord::with_opaque_to(&self.topic, Box::new(tx))
            .key(key)
            .payload(payload);
        // The consumer continues this trace from the record (`telemetry`); nothing when off.
        if let Some(traceparent) = wiber_common::telemetry::current_traceparent() {
            record = record.headers(OwnedHeaders::new().insert(Header {
                key: wiber_common::telemetry::TRACEPARENT,
                value: Some(traceparent.as_str()),
            }));
        }
        // Enqueueing never waits: with librdkafka's local queue full the client hears 503 at once
        // instead of piling up waiting requests.
        if let Err((e, _)) = self.producer.send(record) {
            return Err((e, Persisted::No));
        }
        // The producer outlives every request, so the report always comes (at the latest after
        // message.timeout.ms); a dropped sender would mean librdkafka lost track of the message.
        rx.await
            .unwrap_or(Err((KafkaError::Canceled, Persisted::Possibly)))
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
        let span = match wiber_common::telemetry::tracing_enabled() {
            true => tracing::info_span!("kafka.produce", messaging.destination = %self.topic),
            false => tracing::Span::none(),
        };
        let result = self.deliver(key, &payload).instrument(span).await;
        let outcome = if result.is_ok() { "ok" } else { "error" };
        self.metrics
            .latency
            .with_label_values(&[outcome])
            .observe(started.elapsed().as_secs_f64());
        result.map_err(|(source, persisted)| {
            let category = category(&source);
            self.metrics.errors.with_label_values(&[category]).inc();
            match persisted {
                Persisted::No => ProduceError::NotSent { category, source },
                Persisted::Possibly => {
                    self.metrics.outcome_unknown.inc();
                    ProduceError::OutcomeUnknown { category, source }
                }
            }
        })
    }

    async fn ready(&self) -> bool {
        let (min_insync, partitions) = tokio::join!(
            self.writability.min_insync(READY_TIMEOUT),
            self.writability.partitions(READY_TIMEOUT)
        );
        partitions.is_some_and(|p| writable::any_writable(&p, min_insync))
    }
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
