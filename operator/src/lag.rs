//! Measuring a consumer group's lag on a topic, per partition: the group's committed offsets
//! against the high watermarks, read directly from Kafka (no exporter in between).

use std::sync::Mutex;
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use wiber_common::kafka::{KafkaConnection, partition_ids};

#[derive(Debug, thiserror::Error)]
pub enum LagError {
    #[error("cannot create a Kafka client: {0}")]
    Client(#[source] rdkafka::error::KafkaError),
    #[error("Kafka metadata unavailable: {0}")]
    Metadata(#[source] rdkafka::error::KafkaError),
    #[error("topic {0} does not exist")]
    TopicMissing(String),
    #[error("committed offsets unavailable: {0}")]
    Committed(#[source] rdkafka::error::KafkaError),
    #[error("watermarks of partition {partition} unavailable: {source}")]
    Watermarks {
        partition: i32,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("Kafka refused the credentials: {0}")]
    Authentication(String),
    #[error("TLS with Kafka failed: {0}")]
    Tls(String),
    #[error("the lag measurement crashed: {0}")]
    Crashed(String),
}

impl LagError {
    /// The KafkaReady condition's reason for this failure.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::TopicMissing(_) => "TopicMissing",
            Self::Authentication(_) => "AuthenticationFailed",
            Self::Tls(_) => "TlsFailed",
            Self::Crashed(_) => "MeasurementFailed",
            _ => "Unreachable",
        }
    }
}

/// Keeps the first authentication or TLS failure librdkafka reports in the background: the call
/// that fails afterwards only says that the transport failed.
#[derive(Default)]
struct LagContext {
    security_failure: Mutex<Option<LagError>>,
}

impl ClientContext for LagContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let failure = match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed) => {
                LagError::Authentication(reason.to_owned())
            }
            Some(RDKafkaErrorCode::SSL) => LagError::Tls(reason.to_owned()),
            _ => {
                tracing::debug!(%error, reason, "Kafka client error while measuring lag");
                return;
            }
        };
        let mut slot = self
            .security_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert(failure);
    }
}

impl ConsumerContext for LagContext {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionLag {
    pub partition: i32,
    pub lag: i64,
    /// The group has committed an offset for this partition.
    pub committed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measurement {
    pub partitions: Vec<PartitionLag>,
    pub total_lag: i64,
    pub committed_total: i64,
    /// Records retained in the dead-letter topic; `None` when it could not be read (it is not
    /// the consumers' input, so the measurement stands without it).
    pub dead_letters: Option<i64>,
}

impl Measurement {
    /// The partitions that lag, most first, at most `n`.
    pub fn most_lagging(&self, n: usize) -> Vec<PartitionLag> {
        let mut lagging: Vec<PartitionLag> = self
            .partitions
            .iter()
            .filter(|p| p.lag > 0)
            .copied()
            .collect();
        lagging.sort_by(|a, b| b.lag.cmp(&a.lag).then(a.partition.cmp(&b.partition)));
        lagging.truncate(n);
        lagging
    }
}

/// The lag of one partition. A partition the group never committed counts what it still holds
/// (high minus low watermark): the consumers start from the earliest record, so that is their real
/// backlog, neither infinite nor zero.
pub fn partition_lag(low: i64, high: i64, committed: Option<i64>) -> (i64, i64) {
    match committed {
        Some(c) => ((high - c.max(low)).max(0), c.max(low)),
        None => ((high - low).max(0), low),
    }
}

/// Measures synchronously (librdkafka blocks): call it from `spawn_blocking`.
pub fn measure(
    kafka: &KafkaConnection,
    topic: &str,
    dead_letter_topic: &str,
    group: &str,
    timeout: Duration,
) -> Result<Measurement, LagError> {
    // A client with the group's id reads its committed offsets without joining the group.
    let consumer: BaseConsumer<LagContext> = kafka
        .client_config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("client.id", "wiber-operator-lag")
        .create_with_context(LagContext::default())
        .map_err(LagError::Client)?;
    let measured = measure_with(&consumer, topic, timeout).map(|m| Measurement {
        dead_letters: retained(&consumer, dead_letter_topic, timeout),
        ..m
    });
    measured.map_err(|e| {
        // librdkafka queues its error events; polling serves them to the context.
        let _ = consumer.poll(Duration::from_millis(100));
        let mut slot = consumer
            .context()
            .security_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        slot.take().unwrap_or(e)
    })
}

fn measure_with(
    consumer: &BaseConsumer<LagContext>,
    topic: &str,
    timeout: Duration,
) -> Result<Measurement, LagError> {
    let partitions = partition_ids(consumer.client(), topic, timeout)
        .map_err(LagError::Metadata)?
        .filter(|p| !p.is_empty())
        .ok_or_else(|| LagError::TopicMissing(topic.to_owned()))?;

    let mut list = TopicPartitionList::new();
    for p in &partitions {
        list.add_partition(topic, *p);
    }
    let committed = consumer
        .committed_offsets(list, timeout)
        .map_err(LagError::Committed)?;

    let mut out = Measurement {
        partitions: Vec::with_capacity(partitions.len()),
        total_lag: 0,
        committed_total: 0,
        dead_letters: None,
    };
    for partition in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, timeout)
            .map_err(|source| LagError::Watermarks { partition, source })?;
        let offset = committed
            .find_partition(topic, partition)
            .and_then(|e| match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            });
        let (lag, position) = partition_lag(low, high, offset);
        out.total_lag += lag;
        out.committed_total += position;
        out.partitions.push(PartitionLag {
            partition,
            lag,
            committed: offset.is_some(),
        });
    }
    Ok(out)
}

/// Records `topic` retains over all its partitions, if it exists and answers.
fn retained(consumer: &BaseConsumer<LagContext>, topic: &str, timeout: Duration) -> Option<i64> {
    let partitions = partition_ids(consumer.client(), topic, timeout).ok()??;
    partitions.into_iter().try_fold(0, |sum, p| {
        let (low, high) = consumer.fetch_watermarks(topic, p, timeout).ok()?;
        Some(sum + (high - low).max(0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_counts_from_the_commit_or_from_the_earliest_retained_record() {
        assert_eq!(partition_lag(0, 100, Some(40)), (60, 40));
        assert_eq!(partition_lag(0, 100, Some(100)), (0, 100));
        // Never committed: everything retained is backlog.
        assert_eq!(partition_lag(20, 100, None), (80, 20));
        assert_eq!(partition_lag(0, 0, None), (0, 0));
        // A commit older than retention counts from the earliest record still there.
        assert_eq!(partition_lag(50, 100, Some(10)), (50, 50));
    }

    #[test]
    fn the_most_lagging_partitions_come_first_and_those_without_lag_are_left_out() {
        let lag = |partition, lag| PartitionLag {
            partition,
            lag,
            committed: true,
        };
        let m = Measurement {
            partitions: vec![lag(0, 5), lag(1, 0), lag(2, 90), lag(3, 5), lag(4, 7)],
            total_lag: 107,
            committed_total: 0,
            dead_letters: None,
        };
        let order = |n| -> Vec<i32> { m.most_lagging(n).iter().map(|p| p.partition).collect() };
        assert_eq!(order(10), [2, 4, 0, 3]);
        assert_eq!(order(2), [2, 4]);
    }
}
