//! Where the live streams come from: this replica reads every partition of the messages topic
//! itself (assigned, outside any group, committing nothing) and holds each record until the
//! consumer announces it stored (`wiber_common::stored`), then releases it to the hub. Whichever
//! replica accepted a POST, every replica sees the message, once it can be read back.
//!
//! It starts where the consumer group has committed (everything below is stored and was pushed,
//! or predates this replica), and reads announcements from a little before now, so a record
//! stored between the group's last commit and this start is released by an announcement already
//! made. A partition whose held records reach `HELD_PER_PARTITION` (the consumer is behind or
//! down) is paused until announcements catch up, so memory stays bounded.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::sync::watch;
use wiber_common::kafka::KafkaConnection;
use wiber_common::record::{Record, decode};
use wiber_common::stored::{Position, StoredUpTo};

use super::hub::{Event, Hub};

/// Records held per partition while they wait to be announced stored.
const HELD_PER_PARTITION: usize = 10_000;
/// How far back announcements are read at start: well past the consumer's commit interval (1 s).
const ANNOUNCEMENTS_LOOKBACK: Duration = Duration::from_secs(30);
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

pub struct FeedConfig {
    pub kafka: KafkaConnection,
    pub topic: String,
    pub stored_topic: String,
    pub consumer_group: String,
}

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("cannot create the push feed's Kafka consumer: {0}")]
    Create(#[source] KafkaError),
    #[error("cannot find where the push feed starts: {0}")]
    Start(#[source] KafkaError),
    #[error("topic {0} has no partitions (does it exist?)")]
    NoTopic(String),
}

/// One partition's records read but not yet announced stored.
#[derive(Default)]
struct Held {
    records: VecDeque<Record>,
    /// Every offset below this is stored.
    stored_below: i64,
    /// Offsets announced as refused by the store: never released, since they cannot be read back.
    refused: BTreeSet<i64>,
    /// The offset of the next record this partition will read.
    next_record: i64,
    paused: bool,
}

/// Runs the feed until `stop`; a failure to start is retried, since Kafka may come up later.
pub async fn run(config: FeedConfig, hub: Arc<Hub>, mut stop: watch::Receiver<bool>) {
    let mut wait = Duration::from_millis(200);
    loop {
        let started = tokio::task::block_in_place(|| start(&config));
        match started {
            Ok((consumer, position, held)) => {
                hub.start(position);
                tracing::info!(topic = %config.topic, "push feed reading");
                return feed(&consumer, &config, &hub, held, &mut stop).await;
            }
            Err(e) => tracing::warn!(error = %e, "push feed not started; retrying"),
        }
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}

fn partitions(consumer: &StreamConsumer, topic: &str) -> Result<Vec<i32>, FeedError> {
    let metadata = consumer
        .fetch_metadata(Some(topic), METADATA_TIMEOUT)
        .map_err(FeedError::Start)?;
    let ids: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if ids.is_empty() {
        return Err(FeedError::NoTopic(topic.to_owned()));
    }
    Ok(ids)
}

type Started = (StreamConsumer, Position, BTreeMap<i32, Held>);

fn start(config: &FeedConfig) -> Result<Started, FeedError> {
    let consumer: StreamConsumer = config
        .kafka
        .client_config()
        // The group is only asked for its committed offsets: this consumer assigns partitions
        // itself, so it never joins the group, and it commits nothing.
        .set("group.id", &config.consumer_group)
        .set("client.id", "wiber-api-push")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        // As the consumer's fetches (consumer/src/kafka.rs): a batch or 10 ms, not a request per
        // produce. A message waits for the consumer's announcement anyway.
        .set("fetch.min.bytes", "65536")
        .set("fetch.wait.max.ms", "10")
        .create()
        .map_err(FeedError::Create)?;
    let messages = partitions(&consumer, &config.topic)?;
    let announcements = partitions(&consumer, &config.stored_topic)?;

    let mut asked = TopicPartitionList::new();
    for &p in &messages {
        asked
            .add_partition_offset(&config.topic, p, Offset::Stored)
            .map_err(FeedError::Start)?;
    }
    let committed = consumer
        .committed_offsets(asked, METADATA_TIMEOUT)
        .map_err(FeedError::Start)?;

    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_sub(ANNOUNCEMENTS_LOOKBACK);
    let mut times = TopicPartitionList::new();
    for &p in &announcements {
        times
            .add_partition_offset(
                &config.stored_topic,
                p,
                Offset::Offset(since.as_millis() as i64),
            )
            .map_err(FeedError::Start)?;
    }
    let announced_from = consumer
        .offsets_for_times(times, METADATA_TIMEOUT)
        .map_err(FeedError::Start)?;

    let mut assignment = TopicPartitionList::new();
    let mut position = Position::default();
    let mut held = BTreeMap::new();
    for &p in &messages {
        let from = match committed
            .find_partition(&config.topic, p)
            .map(|e| e.offset())
        {
            Some(Offset::Offset(o)) => o,
            _ => 0,
        };
        position.pass(p, from - 1);
        held.insert(
            p,
            Held {
                stored_below: from,
                next_record: from,
                ..Held::default()
            },
        );
        let offset = if from > 0 {
            Offset::Offset(from)
        } else {
            Offset::Beginning
        };
        assignment
            .add_partition_offset(&config.topic, p, offset)
            .map_err(FeedError::Start)?;
    }
    for &p in &announcements {
        let offset = match announced_from
            .find_partition(&config.stored_topic, p)
            .map(|e| e.offset())
        {
            Some(Offset::Offset(o)) => Offset::Offset(o),
            _ => Offset::End,
        };
        assignment
            .add_partition_offset(&config.stored_topic, p, offset)
            .map_err(FeedError::Start)?;
    }
    consumer.assign(&assignment).map_err(FeedError::Start)?;
    Ok((consumer, position, held))
}

async fn feed(
    consumer: &StreamConsumer,
    config: &FeedConfig,
    hub: &Hub,
    mut held: BTreeMap<i32, Held>,
    stop: &mut watch::Receiver<bool>,
) {
    loop {
        let received = tokio::select! {
            biased;
            _ = stop.changed() => return,
            received = consumer.recv() => received,
        };
        let m = match received {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "push feed: kafka error");
                continue;
            }
        };
        let partition = if m.topic() == config.stored_topic {
            let Some(stored) = m.payload().and_then(StoredUpTo::decode) else {
                continue;
            };
            let Some(h) = held.get_mut(&stored.partition) else {
                continue;
            };
            h.stored_below = h.stored_below.max(stored.next);
            h.refused.extend(stored.refused);
            stored.partition
        } else {
            let Some(h) = held.get_mut(&m.partition()) else {
                continue;
            };
            if let Some(appended) = m.timestamp().to_millis() {
                hub.metrics.feed_lag.observe(since_epoch_ms(appended));
            }
            h.next_record = m.offset() + 1;
            h.records.push_back(Record::from_message(&m));
            m.partition()
        };
        let h = held.get_mut(&partition).expect("known partition");
        release(h, partition, hub);
        pause_or_resume(consumer, &config.topic, partition, h);
    }
}

/// Releases the held records of `partition` that are announced stored, in offset order.
fn release(h: &mut Held, partition: i32, hub: &Hub) {
    let mut events = Vec::new();
    let mut upto = None;
    let now = Instant::now();
    while h.records.front().is_some_and(|r| r.offset < h.stored_below) {
        let record = h.records.pop_front().expect("front exists");
        upto = Some(record.offset);
        if h.refused.remove(&record.offset) {
            continue;
        }
        // A record the consumer dead-lettered as poison decodes to nothing here either.
        if let Some(event) = decode(&record)
            .ok()
            .and_then(|stored| Event::from_stored(&stored, now))
        {
            let appended = event.message.timestamp;
            hub.metrics
                .appended_to_stored
                .observe(since_epoch_ms(appended));
            events.push(Arc::new(event));
        }
    }
    // Refusals of records this feed has passed (read before it started, say) would never leave.
    let floor = h.records.front().map_or(h.next_record, |r| r.offset);
    h.refused = h.refused.split_off(&floor);
    if let Some(upto) = upto {
        hub.release(partition, upto, &events);
    }
}

/// Seconds from `appended` (milliseconds since the epoch) to now; 0 for a clock behind it.
fn since_epoch_ms(appended: i64) -> f64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    (now - appended).max(0) as f64 / 1000.0
}

fn pause_or_resume(consumer: &StreamConsumer, topic: &str, partition: i32, h: &mut Held) {
    let full = h.records.len() >= HELD_PER_PARTITION;
    let drained = h.records.len() <= HELD_PER_PARTITION / 2;
    if !(full && !h.paused || drained && h.paused) {
        return;
    }
    let mut list = TopicPartitionList::new();
    list.add_partition(topic, partition);
    let result = if full {
        consumer.pause(&list)
    } else {
        consumer.resume(&list)
    };
    match result {
        Ok(()) => h.paused = full,
        Err(e) => tracing::warn!(error = %e, partition, "push feed: cannot pause or resume"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::hub::tests::{hub, received};
    use super::*;

    fn record(offset: i64) -> Record {
        let id = uuid::Uuid::from_u128(offset as u128);
        let value = format!(
            r#"{{"messageId":"{id}","fromUser":"alice","toUser":"bob","content":"m{offset}"}}"#
        );
        Record {
            topic: "wiber.messages".into(),
            partition: 0,
            offset,
            key: Some(b"alice:bob".to_vec()),
            payload: Some(value.into_bytes()),
            timestamp: Some(1_000),
            traceparent: None,
        }
    }

    #[test]
    fn a_message_the_store_refused_is_passed_but_never_pushed() {
        let hub = hub(8, 10);
        let mut bob = hub.subscribe("bob", None).unwrap();
        let mut held = Held {
            next_record: 10,
            ..Held::default()
        };
        // The announcement may come before the records it covers.
        held.stored_below = 13;
        held.refused.extend([11, 3]);
        release(&mut held, 0, &hub);
        assert_eq!(held.refused, BTreeSet::from([11]), "3 was passed before");
        held.records.extend([record(10), record(11), record(12)]);
        held.next_record = 13;
        release(&mut held, 0, &hub);
        assert_eq!(received(&mut bob), [10, 12]);
        assert!(held.refused.is_empty() && held.records.is_empty());
    }

    #[test]
    fn time_since_an_append_is_in_seconds_and_never_negative() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let waited = since_epoch_ms(now - 1500);
        assert!((1.5..2.5).contains(&waited), "{waited}");
        assert_eq!(since_epoch_ms(now + 60_000), 0.0);
    }
}
