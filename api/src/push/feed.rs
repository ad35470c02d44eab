//! Where the live streams come from: this replica reads every partition of the messages topic
//! itself (assigned, outside any group, committing nothing) and releases each message to the hub
//! as it reads it. A consumer reads only what every in-sync replica holds, which is what a POST's
//! 200 promised, so a pushed message is as durable as an acknowledged one. Whichever replica
//! accepted a POST, every replica sees the message.
//!
//! The hub keeps what it released until the consumer announces it stored
//! (`wiber_common::stored`), for streams that catch up meanwhile. It starts where the consumer
//! group has committed (everything below is stored, and was pushed or predates this replica), and
//! reads announcements from a little before now, so a record stored between the group's last
//! commit and this start is not kept for long. A partition with `UNSTORED_PER_PARTITION` messages
//! kept (the consumer is behind or down) is paused until announcements catch up, so memory stays
//! bounded.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::sync::watch;
use wiber_common::kafka::KafkaConnection;
use wiber_common::record::{Record, decode};
use wiber_common::stored::{Position, StoredUpTo};

use super::event::Event;
use super::hub::{Hub, since_epoch_ms};

/// Released messages kept per partition until they are announced stored.
const UNSTORED_PER_PARTITION: usize = 10_000;
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

/// Runs the feed until `stop`; a failure to start is retried, since Kafka may come up later.
pub async fn run(config: FeedConfig, hub: Arc<Hub>, mut stop: watch::Receiver<bool>) {
    let mut wait = Duration::from_millis(200);
    loop {
        let started = tokio::task::block_in_place(|| start(&config));
        match started {
            Ok((consumer, position)) => {
                let paused = position.0.keys().map(|&p| (p, false)).collect();
                hub.start(position);
                tracing::info!(topic = %config.topic, "push feed reading");
                return feed(&consumer, &config, &hub, paused, &mut stop).await;
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

type Started = (StreamConsumer, Position);

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
        // produce.
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
    for &p in &messages {
        let from = match committed
            .find_partition(&config.topic, p)
            .map(|e| e.offset())
        {
            Some(Offset::Offset(o)) => o,
            _ => 0,
        };
        position.pass(p, from - 1);
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
    Ok((consumer, position))
}

async fn feed(
    consumer: &StreamConsumer,
    config: &FeedConfig,
    hub: &Hub,
    mut paused: BTreeMap<i32, bool>,
    stop: &mut watch::Receiver<bool>,
) {
    let mut metadata = tokio::time::interval(config.kafka.metadata_refresh);
    metadata.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let received = tokio::select! {
            biased;
            _ = stop.changed() => return,
            _ = metadata.tick() => {
                grow(consumer, config, hub, &mut paused);
                continue;
            }
            received = consumer.recv() => received,
        };
        let m = match received {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "push feed: kafka error");
                continue;
            }
        };
        let (partition, unstored) = if m.topic() == config.stored_topic {
            let Some(stored) = m.payload().and_then(StoredUpTo::decode) else {
                continue;
            };
            (stored.partition, hub.stored(stored.partition, stored.next))
        } else {
            if !paused.contains_key(&m.partition()) {
                continue;
            }
            if let Some(appended) = m.timestamp().to_millis() {
                hub.metrics.feed_lag.observe(since_epoch_ms(appended));
            }
            // A record the consumer dead-letters as poison decodes to nothing here either.
            let event = decode(&Record::from_message(&m))
                .ok()
                .and_then(|stored| Event::from_stored(&stored, Instant::now()))
                .map(Arc::new);
            let unstored = hub.release(m.partition(), m.offset(), event.as_slice());
            (m.partition(), unstored)
        };
        let Some(paused) = paused.get_mut(&partition) else {
            continue;
        };
        if let Some(pause) = pause_change(unstored, *paused) {
            let mut list = TopicPartitionList::new();
            list.add_partition(&config.topic, partition);
            let result = if pause {
                consumer.pause(&list)
            } else {
                consumer.resume(&list)
            };
            match result {
                Ok(()) => *paused = pause,
                Err(e) => {
                    tracing::warn!(error = %e, partition, "push feed: cannot pause or resume")
                }
            }
        }
    }
}

/// Starts reading the partitions the topic gained since the feed started, from their beginning:
/// producers move keys there once they see them, and every record there is new to the streams.
fn grow(
    consumer: &StreamConsumer,
    config: &FeedConfig,
    hub: &Hub,
    paused: &mut BTreeMap<i32, bool>,
) {
    let found = match tokio::task::block_in_place(|| partitions(consumer, &config.topic)) {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error = %e, "push feed: cannot read the topic's partitions");
            return;
        }
    };
    let new: Vec<i32> = found
        .into_iter()
        .filter(|p| !paused.contains_key(p))
        .collect();
    if new.is_empty() {
        return;
    }
    let mut list = TopicPartitionList::new();
    for &p in &new {
        if let Err(e) = list.add_partition_offset(&config.topic, p, Offset::Beginning) {
            tracing::warn!(error = %e, partition = p, "push feed: cannot add a new partition");
            return;
        }
    }
    // The hub first: a stream opened meanwhile starts before the partition's first record.
    for &p in &new {
        hub.grow(p);
    }
    match consumer.incremental_assign(&list) {
        Ok(()) => {
            tracing::info!(topic = %config.topic, partitions = ?new, "push feed: the topic grew; reading its new partitions");
            paused.extend(new.into_iter().map(|p| (p, false)));
        }
        Err(e) => tracing::warn!(error = %e, "push feed: cannot read the new partitions yet"),
    }
}

/// Whether a partition with `unstored` messages kept for streams should be paused (`Some(true)`)
/// or resumed (`Some(false)`); `None` leaves it as it is. Between the two marks it stays put, so
/// a partition near the bound does not flap.
fn pause_change(unstored: usize, paused: bool) -> Option<bool> {
    if !paused && unstored >= UNSTORED_PER_PARTITION {
        Some(true)
    } else if paused && unstored <= UNSTORED_PER_PARTITION / 2 {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_pauses_at_the_bound_and_resumes_only_at_half_of_it() {
        let bound = UNSTORED_PER_PARTITION;
        assert_eq!(pause_change(bound - 1, false), None);
        assert_eq!(pause_change(bound, false), Some(true));
        assert_eq!(pause_change(bound, true), None);
        assert_eq!(pause_change(bound / 2 + 1, true), None, "no flapping");
        assert_eq!(pause_change(bound / 2, true), Some(false));
        assert_eq!(pause_change(0, false), None);
    }
}
