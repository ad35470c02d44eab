//! `kubectl wiber dlq`: the records a WiberCluster's consumers could not store, with the reason
//! each carries, and their replay to the messages topic. A replayed record keeps its key and its
//! message id, so the store keeps it once however often it is replayed; one that fails again goes
//! back to the dead-letter topic with its new reason.
//!
//! It connects to Kafka from where it runs, with the WiberCluster's own credentials (read from
//! its Secrets): at the bootstrap servers the status names, or at `--bootstrap` where those are
//! not reachable from outside the cluster.

use std::time::Duration;

use kube::Client;
use kube::api::Api;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use wiber_common::dead_letter::{
    CATEGORY_HEADER, ORIGIN_OFFSET_HEADER, ORIGIN_PARTITION_HEADER, ORIGIN_TOPIC_HEADER,
    REASON_HEADER, REPLAYED_FROM_HEADER,
};
use wiber_common::kafka::{KafkaConnection, partition_ids};
use wiber_operator::crd::WiberCluster;
use wiber_operator::kafka_access::KafkaAccess;

use crate::error::Error;
use crate::status;
use crate::table::{age, table};

const TIMEOUT: Duration = Duration::from_secs(10);

/// One record of the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub partition: i32,
    pub offset: i64,
    /// Milliseconds since the epoch, when Kafka has it.
    pub timestamp: Option<i64>,
    pub category: String,
    pub reason: String,
    /// `<topic>/<partition>@<offset>` it was first written at.
    pub origin: String,
    pub origin_topic: Option<String>,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
}

impl DeadLetter {
    fn of(m: &BorrowedMessage<'_>) -> Self {
        let header = |name: &str| -> Option<String> {
            let headers = m.headers()?;
            headers
                .iter()
                .find(|h| h.key == name)
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        let origin_topic = header(ORIGIN_TOPIC_HEADER);
        Self {
            partition: m.partition(),
            offset: m.offset(),
            timestamp: m.timestamp().to_millis(),
            category: header(CATEGORY_HEADER).unwrap_or_default(),
            reason: header(REASON_HEADER).unwrap_or_default(),
            origin: format!(
                "{}/{}@{}",
                origin_topic.as_deref().unwrap_or("?"),
                header(ORIGIN_PARTITION_HEADER).as_deref().unwrap_or("?"),
                header(ORIGIN_OFFSET_HEADER).as_deref().unwrap_or("?")
            ),
            origin_topic,
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
        }
    }

    /// The message id in the payload, if it is a message at all.
    pub fn message_id(&self) -> Option<String> {
        let value: serde_json::Value = serde_json::from_slice(&self.payload).ok()?;
        value.get("messageId")?.as_str().map(str::to_owned)
    }

    /// `<partition>:<offset>`, as `replay` takes it.
    pub fn at(&self) -> String {
        format!("{}:{}", self.partition, self.offset)
    }
}

/// How to reach the WiberCluster's Kafka from here, and its two topics.
pub struct Target {
    kafka: KafkaConnection,
    pub topic: String,
    pub dead_letters: String,
}

pub async fn target(
    client: &Client,
    ns: &str,
    name: &str,
    bootstrap: Option<String>,
) -> Result<Target, Error> {
    let wc: WiberCluster = status::get(client, ns, name).await?;
    let servers = bootstrap
        .or_else(|| wc.status.as_ref()?.bootstrap_servers.clone())
        .ok_or_else(|| Error::NoBootstrap(name.to_owned()))?;
    let secrets = Api::namespaced(client.clone(), ns);
    let security = KafkaAccess::of(&wc.spec.kafka)
        .credentials(&secrets)
        .await
        .map_err(|(_, message)| Error::Credentials(message))?;
    Ok(Target {
        kafka: KafkaConnection {
            bootstrap_servers: servers,
            security,
            metadata_refresh: Duration::from_millis(
                wiber_common::kafka::DEFAULT_METADATA_REFRESH_MS,
            ),
        },
        topic: wc.spec.kafka.topic.name.clone(),
        dead_letters: wc.spec.kafka.topic.dead_letter_name(),
    })
}

fn consumer(target: &Target) -> Result<BaseConsumer, Error> {
    // It never joins the group nor commits: it assigns partitions and reads.
    target
        .kafka
        .client_config()
        .set("group.id", "kubectl-wiber")
        .set("enable.auto.commit", "false")
        .set("client.id", "kubectl-wiber-dlq")
        .create()
        .map_err(Error::Kafka)
}

/// The newest `limit` dead letters of each partition, oldest first (blocking: librdkafka).
pub fn read(target: &Target, limit: i64) -> Result<Vec<DeadLetter>, Error> {
    let consumer = consumer(target)?;
    let topic = &target.dead_letters;
    let partitions = partition_ids(consumer.client(), topic, TIMEOUT)
        .map_err(Error::Kafka)?
        .ok_or_else(|| Error::NoTopic(topic.clone()))?;
    let mut wanted = TopicPartitionList::new();
    let mut ends = std::collections::HashMap::new();
    for p in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, TIMEOUT)
            .map_err(Error::Kafka)?;
        if high > low {
            let from = (high - limit).max(low);
            wanted
                .add_partition_offset(topic, p, Offset::Offset(from))
                .map_err(Error::Kafka)?;
            ends.insert(p, high);
        }
    }
    let mut letters = Vec::new();
    if ends.is_empty() {
        return Ok(letters);
    }
    consumer.assign(&wanted).map_err(Error::Kafka)?;
    let deadline = std::time::Instant::now() + TIMEOUT;
    while !ends.is_empty() {
        if std::time::Instant::now() > deadline {
            return Err(Error::Timeout(topic.clone()));
        }
        let Some(polled) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = polled.map_err(Error::Kafka)?;
        if ends
            .get(&m.partition())
            .is_some_and(|end| m.offset() + 1 >= *end)
        {
            ends.remove(&m.partition());
        }
        letters.push(DeadLetter::of(&m));
    }
    letters.sort_by_key(|l| (l.timestamp, l.partition, l.offset));
    Ok(letters)
}

/// The dead letter at `at` (`<partition>:<offset>`), read on its own.
fn fetch(consumer: &BaseConsumer, topic: &str, at: &str) -> Result<DeadLetter, Error> {
    let missing = || Error::NoSuchDeadLetter(at.to_owned());
    let (partition, offset) = at
        .split_once(':')
        .and_then(|(p, o)| Some((p.parse::<i32>().ok()?, o.parse::<i64>().ok()?)))
        .ok_or_else(|| Error::BadPosition(at.to_owned()))?;
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, partition, Offset::Offset(offset))
        .map_err(Error::Kafka)?;
    consumer.assign(&list).map_err(Error::Kafka)?;
    let deadline = std::time::Instant::now() + TIMEOUT;
    while std::time::Instant::now() < deadline {
        let Some(polled) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = polled.map_err(|_| missing())?;
        // Past it (a retention or compaction gap) means it is gone.
        return if m.partition() == partition && m.offset() == offset {
            Ok(DeadLetter::of(&m))
        } else {
            Err(missing())
        };
    }
    Err(missing())
}

/// Writes each chosen dead letter back to the messages topic it came from, with its key and
/// payload and a header naming where it was replayed from; returns what was written where
/// (blocking: librdkafka). Nothing is written unless every chosen one is found and came from
/// this WiberCluster's topic.
pub fn replay(target: &Target, chosen: &[String]) -> Result<String, Error> {
    let consumer = consumer(target)?;
    let mut picked = Vec::new();
    for at in chosen {
        let letter = fetch(&consumer, &target.dead_letters, at)?;
        if letter.origin_topic.as_deref() != Some(target.topic.as_str()) {
            return Err(Error::ForeignDeadLetter {
                at: at.clone(),
                origin: letter.origin.clone(),
            });
        }
        picked.push(letter);
    }
    let producer: ThreadedProducer<DefaultProducerContext> = target
        .kafka
        .client_config()
        .set("client.id", "kubectl-wiber-replay")
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .create()
        .map_err(Error::Kafka)?;
    for letter in &picked {
        let from = format!("{}:{}", target.dead_letters, letter.at());
        let headers = OwnedHeaders::new().insert(Header {
            key: REPLAYED_FROM_HEADER,
            value: Some(from.as_str()),
        });
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&target.topic)
            .payload(letter.payload.as_slice())
            .headers(headers);
        if let Some(key) = &letter.key {
            record = record.key(key.as_slice());
        }
        producer.send(record).map_err(|(e, _)| Error::Kafka(e))?;
    }
    // Every record acknowledged by all in-sync replicas, or an error: nothing left in a buffer.
    producer.flush(TIMEOUT).map_err(Error::Kafka)?;
    let mut said = String::new();
    for letter in picked {
        said.push_str(&format!(
            "replayed {} to {} (message {})\n",
            letter.at(),
            target.topic,
            letter.message_id().as_deref().unwrap_or("without an id")
        ));
    }
    Ok(said)
}

/// `kubectl wiber dlq list`.
pub async fn list(
    client: &Client,
    ns: &str,
    name: &str,
    limit: i64,
    bootstrap: Option<String>,
) -> Result<String, Error> {
    let target = target(client, ns, name, bootstrap).await?;
    blocking(move || {
        let letters = read(&target, limit.max(1))?;
        Ok(render(
            &letters,
            &target.dead_letters,
            jiff::Timestamp::now(),
        ))
    })
    .await
}

/// `kubectl wiber dlq replay`.
pub async fn replay_chosen(
    client: &Client,
    ns: &str,
    name: &str,
    at: Vec<String>,
    bootstrap: Option<String>,
) -> Result<String, Error> {
    let target = target(client, ns, name, bootstrap).await?;
    blocking(move || replay(&target, &at)).await
}

/// librdkafka blocks: its calls run off the async thread.
async fn blocking<F>(work: F) -> Result<String, Error>
where
    F: FnOnce() -> Result<String, Error> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(Error::Crashed(e.to_string())))
}

/// The dead letters as a table (pure).
pub fn render(letters: &[DeadLetter], topic: &str, now: jiff::Timestamp) -> String {
    if letters.is_empty() {
        return format!("No dead letters in {topic}.\n");
    }
    let rows: Vec<Vec<String>> = letters
        .iter()
        .map(|l| {
            let when = l
                .timestamp
                .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
                .map_or_else(|| "?".to_owned(), |t| age(t, now));
            vec![
                l.at(),
                when,
                l.category.clone(),
                l.origin.clone(),
                l.message_id().unwrap_or_else(|| "-".to_owned()),
                l.reason.clone(),
            ]
        })
        .collect();
    table(
        &["AT", "AGE", "CATEGORY", "ORIGIN", "MESSAGE", "REASON"],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(payload: &str, category: &str) -> DeadLetter {
        DeadLetter {
            partition: 0,
            offset: 7,
            timestamp: Some(1_796_644_800_000),
            category: category.to_owned(),
            reason: "expected value at line 1 column 1".to_owned(),
            origin: "wiber.messages/2@41".to_owned(),
            origin_topic: Some("wiber.messages".to_owned()),
            key: Some(b"alice\x1fbob".to_vec()),
            payload: payload.as_bytes().to_vec(),
        }
    }

    #[test]
    fn each_dead_letter_shows_where_it_is_where_it_came_from_its_message_and_why() {
        let now: jiff::Timestamp = "2026-12-07T12:05:00Z".parse().unwrap();
        let id = "0190b6a4-6f37-7c4e-9b1a-3f2d1c0b9a88";
        let letters = [
            letter("not json", "malformed"),
            letter(
                &format!(r#"{{"messageId":"{id}","content":"hi"}}"#),
                "store_refused",
            ),
        ];
        let text = render(&letters, "wiber.messages.dlq", now);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        let cells = |l: &str| {
            l.split_whitespace()
                .take(5)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            cells(lines[1]),
            ["0:7", "5m", "malformed", "wiber.messages/2@41", "-"]
        );
        assert_eq!(cells(lines[2])[4], id);
        assert!(
            lines[1].ends_with("expected value at line 1 column 1"),
            "{text}"
        );
        assert_eq!(
            render(&[], "wiber.messages.dlq", now),
            "No dead letters in wiber.messages.dlq.\n"
        );
    }
}
