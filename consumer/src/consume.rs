//! The consume loop: gather a batch, write each partition's part of it side by side, store its
//! offsets; on stop, commit what is stored and leave the group.

use std::collections::BTreeMap;
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

/// A batch's records by partition, each partition's in their order.
fn by_partition(batch: Vec<Record>) -> Vec<Vec<Record>> {
    let mut parts: BTreeMap<(String, i32), Vec<Record>> = BTreeMap::new();
    for record in batch {
        let part = (record.topic.clone(), record.partition);
        parts.entry(part).or_default().push(record);
    }
    parts.into_values().collect()
}

/// Writes the partitions' parts side by side, each in one write of its own: a partition never has
/// two writes in flight (the next batch waits for all of these), so what a reader's cursor has
/// passed in a partition never changes, while one partition's write no longer queues behind
/// another's. Any part abandoned abandons the batch: nothing of it is committed, and what the
/// other parts stored is redelivered and dropped as duplicates.
async fn process<W: MessageWriter, D: DeadLetters>(
    parts: &[Vec<Record>],
    writer: &W,
    dead_letters: &D,
    metrics: &Metrics,
    stop: &watch::Receiver<bool>,
) -> Outcome {
    let writes = parts.iter().map(|records| {
        let mut stop = stop.clone();
        async move { process_batch(records, writer, dead_letters, metrics, &mut stop).await }
    });
    let mut offsets = Vec::new();
    for outcome in futures::future::join_all(writes).await {
        match outcome {
            Outcome::Done(done) => offsets.extend(done),
            Outcome::Abandoned => return Outcome::Abandoned,
        }
    }
    Outcome::Done(offsets)
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
        let parts = by_partition(batch);
        match process(&parts, writer.as_ref(), &dead_letters, &metrics, &stop).await {
            Outcome::Done(offsets) => {
                metrics.progressed();
                store_offsets(&consumer, &offsets);
                announcer.announce(&offsets);
            }
            Outcome::Abandoned => {
                tracing::warn!(
                    records = parts.iter().map(Vec::len).sum::<usize>(),
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::sync::Barrier;
    use wiber_common::message::StoredMessage;

    use super::*;
    use crate::dlq::DeadLetterError;
    use crate::pipeline::NextOffset;
    use crate::record::Poison;
    use crate::store::{StoreError, Written};

    /// Each insert waits until as many inserts as the barrier's parties are in flight at once,
    /// then stores, except that a write from partition `down` fails as if the store were away.
    struct TogetherStore {
        together: Barrier,
        writes: Mutex<Vec<Vec<i64>>>,
        down: Option<i32>,
    }

    impl MessageWriter for TogetherStore {
        async fn insert(&self, messages: &[StoredMessage]) -> Result<Written, StoreError> {
            self.together.wait().await;
            if messages.iter().any(|m| Some(m.partition) == self.down) {
                let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "store down");
                return Err(StoreError::from(mongodb::error::Error::from(io)));
            }
            let offsets = messages.iter().map(|m| m.offset).collect();
            self.writes.lock().unwrap().push(offsets);
            Ok(Written {
                inserted: messages.len() as u64,
                ..Written::default()
            })
        }
    }

    struct NoDeadLetters;

    impl DeadLetters for NoDeadLetters {
        async fn send(&self, _: &Record, _: &Poison) -> Result<(), DeadLetterError> {
            Ok(())
        }
    }

    fn valid(partition: i32, offset: i64) -> Record {
        let id = uuid::Uuid::from_u128(((partition as u128) << 64) | offset as u128);
        let payload =
            format!(r#"{{"messageId":"{id}","fromUser":"a","toUser":"b","content":"m{offset}"}}"#);
        Record {
            topic: "t".into(),
            partition,
            offset,
            key: Some(b"a:b".to_vec()),
            payload: Some(payload.into_bytes()),
            timestamp: Some(1000 + offset),
            traceparent: None,
        }
    }

    #[tokio::test]
    async fn each_partition_of_a_batch_is_one_write_in_order_and_the_writes_overlap() {
        // Three partitions, so three writes that each wait for the other two: written one after
        // another, the first would wait forever.
        let store = TogetherStore {
            together: Barrier::new(3),
            writes: Mutex::default(),
            down: None,
        };
        let batch = vec![
            valid(0, 5),
            valid(2, 1),
            valid(1, 9),
            valid(0, 6),
            valid(2, 2),
        ];
        let (_tx, stop) = watch::channel(false);
        let parts = by_partition(batch);
        let outcome = tokio::time::timeout(
            Duration::from_secs(5),
            process(&parts, &store, &NoDeadLetters, &Metrics::new(), &stop),
        )
        .await
        .expect("the partitions' writes overlap");
        let next = |partition, offset| NextOffset {
            topic: "t".into(),
            partition,
            offset,
        };
        assert_eq!(
            outcome,
            Outcome::Done(vec![next(0, 7), next(1, 10), next(2, 3)])
        );
        let mut writes = store.writes.into_inner().unwrap();
        writes.sort();
        assert_eq!(writes, [vec![1, 2], vec![5, 6], vec![9]]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_partition_abandoned_at_shutdown_abandons_the_whole_batch() {
        let store = TogetherStore {
            together: Barrier::new(1),
            writes: Mutex::default(),
            down: Some(1),
        };
        let parts = by_partition(vec![valid(0, 1), valid(1, 1)]);
        let (tx, stop) = watch::channel(false);
        let metrics = Metrics::new();
        let stopping = async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            tx.send(true).unwrap();
        };
        let (outcome, ()) = tokio::join!(
            process(&parts, &store, &NoDeadLetters, &metrics, &stop),
            stopping
        );
        // Partition 0 was stored, but no offset of the batch may be committed.
        assert_eq!(outcome, Outcome::Abandoned);
        assert_eq!(store.writes.into_inner().unwrap(), [vec![1]]);
    }
}
