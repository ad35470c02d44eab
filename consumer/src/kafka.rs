//! The Kafka consumer: at-least-once as in rust-rdkafka's example (offsets are stored by the
//! pipeline only after a durable write and auto-committed from that store), with a synchronous
//! commit on partition revocation and per-partition lag from librdkafka's statistics.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::statistics::Statistics;
use rdkafka::{Offset, TopicPartitionList};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::pipeline::NextOffset;

pub type WiberConsumer = StreamConsumer<WiberContext>;

pub struct WiberContext {
    metrics: Metrics,
    /// Moved at every rebalance, so the read model drops what it cached of partitions that may
    /// have had another owner meanwhile (`readmodel`).
    assignments: Arc<AtomicU64>,
}

impl ClientContext for WiberContext {
    fn stats(&self, statistics: Statistics) {
        self.metrics.lag.reset();
        let mut assigned = 0;
        for (topic, t) in &statistics.topics {
            for (id, p) in &t.partitions {
                // -1 is the internal "UA" partition; a negative lag means unknown (not assigned,
                // or no committed offset and no position yet).
                if *id >= 0 && p.consumer_lag >= 0 {
                    self.metrics
                        .lag
                        .with_label_values(&[topic.as_str(), &id.to_string()])
                        .set(p.consumer_lag);
                }
                if *id >= 0 && p.fetch_state == "active" {
                    assigned += 1;
                }
            }
        }
        self.metrics.assigned_partitions.set(assigned);
    }
}

impl ConsumerContext for WiberContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.assignments.fetch_add(1, Ordering::SeqCst);
        if let Rebalance::Revoke(partitions) = rebalance {
            // Whatever is stored (durably written) for the partitions we lose is committed now,
            // so their next owner does not redo it.
            match commit_stored(consumer) {
                Ok(()) => tracing::info!(
                    partitions = partitions.count(),
                    "partitions revoked; stored offsets committed"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "commit on revoke failed; the next owner will see duplicates")
                }
            }
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.assignments.fetch_add(1, Ordering::SeqCst);
        if let Rebalance::Assign(partitions) = rebalance {
            tracing::info!(partitions = partitions.count(), "partitions assigned");
        }
    }
}

/// Commits the stored offsets synchronously; having nothing to commit is not an error.
pub fn commit_stored<C: Consumer<X>, X: ConsumerContext>(consumer: &C) -> KafkaResult<()> {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
        other => other,
    }
}

/// The most librdkafka holds fetched but not yet consumed, in KiB.
pub const PREFETCH_KIB: usize = 16 * 1024;

pub fn create(
    config: &Config,
    metrics: Metrics,
    assignments: Arc<AtomicU64>,
) -> KafkaResult<WiberConsumer> {
    let consumer: WiberConsumer = config
        .kafka
        .client_config()
        .set("group.id", &config.consumer_group)
        .set("client.id", "wiber-consumer")
        // The pipeline stores an offset only after its batch is durably written; librdkafka then
        // commits stored offsets in the background, and we commit synchronously on revoke and exit.
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "cooperative-sticky")
        // A fetch answered at the first byte costs the broker a request per produce; waiting up
        // to 10 ms for 64 KiB cut its CPU per message by a quarter to a third under load
        // (BENCHMARKS.md, "Fetches that wait for a batch"), for at most 10 ms more when idle.
        .set("fetch.min.bytes", "65536")
        .set("fetch.wait.max.ms", "10")
        // What librdkafka fetches ahead of the pipeline: while the store is away nothing drains
        // it, so this is the memory a backlog can take (its default is 64 MiB). 16 MiB is still
        // tens of thousands of messages ahead of the writer.
        .set("queued.max.messages.kbytes", PREFETCH_KIB.to_string())
        // A consumer that died without leaving (SIGKILL, node loss) holds its partitions until its
        // session expires; 10 s (Kafka's long-time default) keeps that pause short.
        .set(
            "session.timeout.ms",
            config.session_timeout.as_millis().to_string(),
        )
        .set(
            "statistics.interval.ms",
            config.stats_interval.as_millis().to_string(),
        )
        .create_with_context(WiberContext {
            metrics,
            assignments,
        })?;
    consumer.subscribe(&[&config.kafka_topic])?;
    Ok(consumer)
}

/// Marks batches as done. Fails only for partitions no longer assigned, which is harmless: their
/// new owner redelivers from the last commit, and the unique index drops what we stored.
pub fn store_offsets(consumer: &WiberConsumer, offsets: &[NextOffset]) {
    let mut list = TopicPartitionList::new();
    for o in offsets {
        if let Err(e) = list.add_partition_offset(&o.topic, o.partition, Offset::Offset(o.offset)) {
            tracing::warn!(error = %e, "cannot list offset");
        }
    }
    if let Err(e) = consumer.store_offsets(&list) {
        tracing::debug!(error = %e, "offsets not stored (partition revoked meanwhile)");
    }
}
