//! Kafka as the tests use it directly: topics, and records the API would not write.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};

/// Creates `topic` with log-append time; the replication factor is the broker's default (1 on one
/// node, 3 on three).
pub async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(-1))
        .set("message.timestamp.type", "LogAppendTime");
    let results = admin
        .create_topics(
            [&new_topic],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await
        .expect("create_topics");
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("creating topic {t}: {e}"));
    }
}

/// Grows `topic` to `partitions`, as `kafka-topics.sh --alter --partitions` does.
pub async fn grow_topic(bootstrap: &str, topic: &str, partitions: usize) {
    use rdkafka::admin::NewPartitions;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let results = admin
        .create_partitions(
            [&NewPartitions::new(topic, partitions)],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await
        .expect("create_partitions");
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("growing topic {t}: {e}"));
    }
}

/// A record's headers by name, values as text.
pub fn headers_of<M: Message>(message: &M) -> BTreeMap<String, String> {
    message
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| {
                    let value = h.value.map(String::from_utf8_lossy).unwrap_or_default();
                    (h.key.to_owned(), value.into_owned())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A plain producer on `bootstrap`, for records the API would not write: poison, a skewed clock,
/// a backlog nobody consumes.
pub fn producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("producer")
}

/// A backlog of `count` records on `topic`, keyed `k0`, `k1`, ... (so spread over its partitions),
/// each acknowledged before the next is sent.
pub async fn produce_backlog(bootstrap: &str, topic: &str, count: usize, payload: &str) {
    let producer = producer(bootstrap);
    for i in 0..count {
        producer
            .send(
                FutureRecord::to(topic)
                    .key(&format!("k{i}"))
                    .payload(payload),
                Duration::from_secs(10),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("producing the backlog on {topic}: {e}"));
    }
}

/// `count` valid Wiber messages on `topic`, over `conversations` pairs of users and keyed by
/// conversation as the API keys them (so spread over the partitions), many in flight at once;
/// their ids.
pub async fn produce_messages(
    bootstrap: &str,
    topic: &str,
    count: usize,
    conversations: usize,
) -> std::collections::HashSet<String> {
    use wiber_common::message::{MessageRecord, conversation_id};
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "20")
        .create()
        .expect("producer");
    let mut ids = std::collections::HashSet::with_capacity(count);
    for chunk in (0..count).collect::<Vec<_>>().chunks(2000) {
        let records: Vec<(String, String)> = chunk
            .iter()
            .map(|i| {
                let (from, to) = (
                    format!("s{}", i % conversations),
                    format!("r{}", i % conversations),
                );
                let record = MessageRecord {
                    message_id: uuid::Uuid::new_v4(),
                    from_user: from.clone(),
                    to_user: to.clone(),
                    content: format!("backlog {i}"),
                    ..Default::default()
                };
                ids.insert(record.message_id.to_string());
                (
                    conversation_id(&from, &to),
                    serde_json::to_string(&record).expect("JSON"),
                )
            })
            .collect();
        let sends = records.iter().map(|(key, payload)| {
            producer.send(
                FutureRecord::to(topic).key(key).payload(payload),
                Duration::from_secs(30),
            )
        });
        for result in futures::future::join_all(sends).await {
            result.unwrap_or_else(|(e, _)| panic!("producing messages on {topic}: {e}"));
        }
    }
    ids
}

/// Members of the consumer group `group` as the group coordinator knows them now (0 when it is
/// empty or unknown).
pub fn group_members(bootstrap: &str, group: &str) -> usize {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("{group}-observer"))
        .create()
        .expect("group observer");
    client
        .fetch_group_list(Some(group), Duration::from_secs(10))
        .ok()
        .and_then(|list| list.groups().first().map(|g| g.members().len()))
        .unwrap_or(0)
}

/// Whether `group` has committed every record `topic` holds now (so each is stored): a new API
/// replica's feed then starts past them, and a stream resuming from before them reads them from
/// the store.
pub fn committed_all(bootstrap: &str, group: &str, topic: &str) -> bool {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Offset, TopicPartitionList};
    // Not subscribed, so it reads the group's offsets without joining it.
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()
        .expect("offset reader");
    let timeout = Duration::from_secs(10);
    let Ok(metadata) = client.fetch_metadata(Some(topic), timeout) else {
        return false;
    };
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut list = TopicPartitionList::new();
    for &p in &partitions {
        list.add_partition(topic, p);
    }
    let Ok(committed) = client.committed_offsets(list, timeout) else {
        return false;
    };
    !partitions.is_empty()
        && partitions.iter().all(|&p| {
            let Ok((_, high)) = client.fetch_watermarks(topic, p, timeout) else {
                return false;
            };
            match committed.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(at)) => at >= high,
                _ => high == 0,
            }
        })
}
