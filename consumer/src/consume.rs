//! The consume loop: gather a batch, process it, store its offsets; on stop, commit what is stored
//! and leave the group.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::Consumer;
use tokio::sync::watch;

use crate::announce::Announcer;
use crate::dlq::DeadLetters;
use crate::kafka::{WiberConsumer, commit_stored, store_offsets};
use crate::metrics::Metrics;
use crate::pipeline::{Outcome, process_batch};
use crate::record::Record;
use crate::store::MessageWriter;

pub struct Batching {
    pub max: usize,
    /// The longest a batch stays open after its first message.
    pub wait: Duration,
    /// A batch closes when no message follows within this gap. Under load the client's queue is
    /// full and messages arrive back to back, so batches still fill; when the consumer has caught
    /// up, what arrived is written at once.
    pub idle: Duration,
}

/// Waits for one record, then takes what else arrives within `wait`, up to `max`, until no record
/// follows within `idle`.
/// `None` when asked to stop before the first record.
async fn next_batch(
    consumer: &WiberConsumer,
    batching: &Batching,
    stop: &mut watch::Receiver<bool>,
) -> Option<Vec<Record>> {
    let first = loop {
        tokio::select! {
            biased;
            _ = stop.changed() => return None,
            received = consumer.recv() => match received {
                Ok(m) => break Record::from_message(&m),
                Err(e) => tracing::warn!(error = %e, "kafka consumer error"),
            },
        }
    };
    let mut batch = vec![first];
    let deadline = tokio::time::Instant::now() + batching.wait;
    while batch.len() < batching.max {
        let until = deadline.min(tokio::time::Instant::now() + batching.idle);
        match tokio::time::timeout_at(until, consumer.recv()).await {
            Ok(Ok(m)) => batch.push(Record::from_message(&m)),
            Ok(Err(e)) => tracing::warn!(error = %e, "kafka consumer error"),
            Err(_) => break,
        }
    }
    Some(batch)
}

pub async fn consume<W: MessageWriter, D: DeadLetters>(
    consumer: Arc<WiberConsumer>,
    writer: Arc<W>,
    dead_letters: D,
    announcer: Announcer,
    metrics: Metrics,
    batching: Batching,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        let Some(batch) = next_batch(&consumer, &batching, &mut stop).await else {
            break;
        };
        match process_batch(&batch, writer.as_ref(), &dead_letters, &metrics, &mut stop).await {
            Outcome::Done(offsets) => {
                metrics.progressed();
                store_offsets(&consumer, &offsets);
                announcer.announce(&offsets);
            }
            Outcome::Abandoned => {
                tracing::warn!(
                    records = batch.len(),
                    "batch abandoned at shutdown; it will be redelivered"
                );
                break;
            }
        }
    }
    match commit_stored(consumer.as_ref()) {
        Ok(()) => tracing::info!("stored offsets committed"),
        Err(e) => {
            tracing::warn!(error = %e, "final commit failed; uncommitted messages will be redelivered")
        }
    }
    consumer.unsubscribe();
    announcer.flush();
}
