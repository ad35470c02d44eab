//! One batch of records: poison to the dead-letter topic, the rest durably into MongoDB (and what
//! the store refuses for good to the dead-letter topic too), and only then the offsets that may be
//! committed. Failures are retried with backoff until they succeed or
//! the process is asked to stop, in which case the batch is abandoned and no offset moves.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::Instrument;
use wiber_common::signal::Signal;

use crate::dlq::DeadLetters;
use crate::metrics::Metrics;
use crate::metrics::STORE_REFUSED;
use crate::record::{Poison, Record, decode};
use crate::retry::{Backoff, retry};
use crate::store::MessageWriter;

/// Store and dead-letter failures: quick first retries, then no more than one every 5 s.
const BACKOFF: Backoff = Backoff {
    first: Duration::from_millis(100),
    max: Duration::from_secs(5),
};

/// The next offset to commit for a partition: one past the last record handled there.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NextOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every record is stored or dead-lettered; these offsets may be committed.
    Done(Vec<NextOffset>),
    /// Asked to stop while a dependency was failing: nothing of this batch may be committed.
    Abandoned,
}

pub async fn process_batch<W: MessageWriter, D: DeadLetters>(
    records: &[Record],
    writer: &W,
    dead_letters: &D,
    metrics: &Metrics,
    stop: &mut watch::Receiver<bool>,
) -> Outcome {
    metrics.consumed.inc_by(records.len() as u64);
    metrics.batch_size.observe(records.len() as f64);

    let mut messages = Vec::with_capacity(records.len());
    // The record each message came from, for a message the store refuses.
    let mut origins = Vec::with_capacity(records.len());
    // A retried produce can put two copies of a message in one batch. Only the first is written,
    // so the message keeps its first position: an unordered insert does not promise which copy
    // the store applies first.
    let mut ids = HashSet::with_capacity(records.len());
    let mut copies = 0;
    for record in records {
        match decode(record) {
            // Typing is for the API's push streams only: nothing to store. Receipts are kept
            // for streams that resume from before them (`changes`).
            Ok(message) if message.signal == Some(Signal::Typing) => {}
            Ok(message) if !ids.insert(message.message_id.clone()) => copies += 1,
            Ok(message) => {
                messages.push(message);
                origins.push(record);
            }
            Err(poison) => {
                if !dead_letter(record, &poison, dead_letters, metrics, stop).await {
                    return Outcome::Abandoned;
                }
            }
        }
    }

    let trace = crate::trace::batch(records);
    let started = Instant::now();
    let Some(written) = retry(
        "message store write",
        BACKOFF,
        stop,
        || metrics.store_retries.inc(),
        || writer.insert(&messages),
    )
    .instrument(trace.store.clone())
    .await
    else {
        return Outcome::Abandoned;
    };
    metrics
        .store_duration
        .observe(started.elapsed().as_secs_f64());
    metrics.stored.inc_by(written.inserted);
    metrics.duplicates.inc_by(written.duplicates + copies);
    for refusal in written.refused {
        let record = origins[refusal.index];
        let poison = Poison {
            category: STORE_REFUSED,
            detail: refusal.reason,
        };
        if !dead_letter(record, &poison, dead_letters, metrics, stop).await {
            return Outcome::Abandoned;
        }
    }

    let mut next: BTreeMap<(&str, i32), i64> = BTreeMap::new();
    for r in records {
        let slot = next
            .entry((r.topic.as_str(), r.partition))
            .or_insert(r.offset + 1);
        *slot = (*slot).max(r.offset + 1);
    }
    Outcome::Done(
        next.into_iter()
            .map(|((topic, partition), offset)| NextOffset {
                topic: topic.to_owned(),
                partition,
                offset,
            })
            .collect(),
    )
}

/// Sends one record to the dead-letter topic, retrying until it is acknowledged; false when asked
/// to stop first.
async fn dead_letter<D: DeadLetters>(
    record: &Record,
    poison: &Poison,
    dead_letters: &D,
    metrics: &Metrics,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    tracing::warn!(
        partition = record.partition,
        offset = record.offset,
        category = poison.category,
        reason = %poison.detail,
        "record goes to the dead-letter topic"
    );
    let sent = retry(
        "dead-letter send",
        BACKOFF,
        stop,
        || metrics.store_retries.inc(),
        || dead_letters.send(record, poison),
    )
    .await;
    if sent.is_some() {
        metrics
            .dead_lettered
            .with_label_values(&[poison.category])
            .inc();
    }
    sent.is_some()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use wiber_common::message::StoredMessage;

    use super::*;
    use crate::dlq::DeadLetterError;
    use crate::refusal::Refusal;
    use crate::store::{StoreError, Written};

    /// Fails the first `failures` inserts, then stores, dropping ids it already has and refusing
    /// content that contains `refuse`.
    #[derive(Default)]
    struct FlakyStore {
        failures: AtomicUsize,
        stored: Mutex<Vec<String>>,
        refuse: Option<&'static str>,
    }

    impl MessageWriter for FlakyStore {
        async fn insert(&self, messages: &[StoredMessage]) -> Result<Written, StoreError> {
            if self.failures.load(Ordering::SeqCst) > 0 {
                self.failures.fetch_sub(1, Ordering::SeqCst);
                let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "store down");
                return Err(StoreError::from(mongodb::error::Error::from(io)));
            }
            let mut stored = self.stored.lock().unwrap();
            let mut written = Written::default();
            for (index, m) in messages.iter().enumerate() {
                if self.refuse.is_some_and(|r| m.content.contains(r)) {
                    written.refused.push(Refusal {
                        index,
                        reason: "too odd".into(),
                    });
                } else if stored.contains(&m.message_id) {
                    written.duplicates += 1;
                } else {
                    stored.push(m.message_id.clone());
                    written.inserted += 1;
                }
            }
            Ok(written)
        }
    }

    #[derive(Default)]
    struct RecordingDeadLetters(Mutex<Vec<(i64, &'static str)>>);

    #[tokio::test]
    async fn a_message_the_store_refuses_is_dead_lettered_and_its_offset_moves_on() {
        let store = FlakyStore {
            refuse: Some("m3"),
            ..FlakyStore::default()
        };
        let dlq = RecordingDeadLetters::default();
        let metrics = Metrics::new();
        let (_tx, mut stop) = watch::channel(false);
        let batch = [valid(0, 1), record(0, 2, "{"), valid(0, 3), valid(0, 4)];
        let outcome = process_batch(&batch, &store, &dlq, &metrics, &mut stop).await;
        assert_eq!(outcome, Outcome::Done(vec![next(0, 5)]));
        // The poison record first, then the refused message by its own offset.
        assert_eq!(
            *dlq.0.lock().unwrap(),
            [(2, "malformed"), (3, STORE_REFUSED)]
        );
        assert_eq!(store.stored.lock().unwrap().len(), 2);
        assert_eq!(
            metrics
                .dead_lettered
                .with_label_values(&[STORE_REFUSED])
                .get(),
            1
        );
        assert_eq!(metrics.store_retries.get(), 0);
    }

    impl DeadLetters for RecordingDeadLetters {
        async fn send(&self, record: &Record, poison: &Poison) -> Result<(), DeadLetterError> {
            self.0
                .lock()
                .unwrap()
                .push((record.offset, poison.category));
            Ok(())
        }
    }

    fn record(partition: i32, offset: i64, payload: &str) -> Record {
        Record {
            topic: "t".into(),
            partition,
            offset,
            key: Some(b"alice:bob".to_vec()),
            payload: Some(payload.as_bytes().to_vec()),
            timestamp: Some(1000 + offset),
            traceparent: None,
        }
    }

    fn valid(partition: i32, offset: i64) -> Record {
        let id = uuid::Uuid::from_u128(((partition as u128) << 64) | offset as u128);
        record(
            partition,
            offset,
            &format!(
                r#"{{"messageId":"{id}","fromUser":"alice","toUser":"bob","content":"m{offset}"}}"#
            ),
        )
    }

    fn next(partition: i32, offset: i64) -> NextOffset {
        NextOffset {
            topic: "t".into(),
            partition,
            offset,
        }
    }

    #[tokio::test]
    async fn offsets_follow_the_last_record_of_each_partition_once_stored() {
        let store = FlakyStore::default();
        let dlq = RecordingDeadLetters::default();
        let (_tx, mut stop) = watch::channel(false);
        let batch = [valid(0, 5), valid(1, 9), valid(0, 6)];
        let outcome = process_batch(&batch, &store, &dlq, &Metrics::new(), &mut stop).await;
        assert_eq!(outcome, Outcome::Done(vec![next(0, 7), next(1, 10)]));
        assert_eq!(store.stored.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn poison_record_is_dead_lettered_and_its_offset_still_moves_on() {
        let store = FlakyStore::default();
        let dlq = RecordingDeadLetters::default();
        let (_tx, mut stop) = watch::channel(false);
        let batch = [valid(0, 1), record(0, 2, "{not json"), valid(0, 3)];
        let outcome = process_batch(&batch, &store, &dlq, &Metrics::new(), &mut stop).await;
        assert_eq!(outcome, Outcome::Done(vec![next(0, 4)]));
        assert_eq!(*dlq.0.lock().unwrap(), [(2, "malformed")]);
        assert_eq!(store.stored.lock().unwrap().len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn store_outage_is_retried_until_the_batch_is_stored() {
        let store = FlakyStore::default();
        store.failures.store(4, Ordering::SeqCst);
        let dlq = RecordingDeadLetters::default();
        let metrics = Metrics::new();
        let (_tx, mut stop) = watch::channel(false);
        let outcome = process_batch(&[valid(2, 0)], &store, &dlq, &metrics, &mut stop).await;
        assert_eq!(outcome, Outcome::Done(vec![next(2, 1)]));
        assert_eq!(metrics.store_retries.get(), 4);
        assert_eq!(metrics.stored.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn stop_during_an_outage_abandons_the_batch_without_offsets() {
        let store = FlakyStore::default();
        store.failures.store(usize::MAX, Ordering::SeqCst);
        let dlq = RecordingDeadLetters::default();
        let (tx, mut stop) = watch::channel(false);
        let stopper = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            tx.send(true).unwrap();
        });
        let outcome = process_batch(&[valid(0, 0)], &store, &dlq, &Metrics::new(), &mut stop).await;
        stopper.await.unwrap();
        assert_eq!(outcome, Outcome::Abandoned);
        assert!(store.stored.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_second_copy_in_one_batch_is_not_written_so_the_first_position_stays() {
        let store = PositionStore::default();
        let dlq = RecordingDeadLetters::default();
        let (_tx, mut stop) = watch::channel(false);
        let first = valid(0, 1);
        let copy = record(
            0,
            3,
            std::str::from_utf8(first.payload.as_ref().unwrap()).unwrap(),
        );
        let batch = [first, valid(0, 2), copy];
        let metrics = Metrics::new();
        let outcome = process_batch(&batch, &store, &dlq, &metrics, &mut stop).await;
        assert_eq!(outcome, Outcome::Done(vec![next(0, 4)]));
        assert_eq!(*store.0.lock().unwrap(), [1, 2], "offsets written");
        assert_eq!(metrics.duplicates.get(), 1);
    }

    /// Stores whatever it is given, keeping the offsets written.
    #[derive(Default)]
    struct PositionStore(Mutex<Vec<i64>>);

    impl MessageWriter for PositionStore {
        async fn insert(&self, messages: &[StoredMessage]) -> Result<Written, StoreError> {
            let mut written = self.0.lock().unwrap();
            written.extend(messages.iter().map(|m| m.offset));
            Ok(Written {
                inserted: messages.len() as u64,
                ..Written::default()
            })
        }
    }

    #[tokio::test]
    async fn redelivered_messages_count_as_duplicates_not_errors() {
        let store = FlakyStore::default();
        let dlq = RecordingDeadLetters::default();
        let metrics = Metrics::new();
        let (_tx, mut stop) = watch::channel(false);
        process_batch(
            &[valid(0, 0), valid(0, 1)],
            &store,
            &dlq,
            &metrics,
            &mut stop,
        )
        .await;
        let again = process_batch(
            &[valid(0, 1), valid(0, 2)],
            &store,
            &dlq,
            &metrics,
            &mut stop,
        )
        .await;
        assert_eq!(again, Outcome::Done(vec![next(0, 3)]));
        assert_eq!(metrics.duplicates.get(), 1);
        assert_eq!(metrics.stored.get(), 3);
        assert_eq!(metrics.store_retries.get(), 0);
    }
}
