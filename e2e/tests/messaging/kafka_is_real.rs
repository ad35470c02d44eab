//! Proves the local Kafka is a real broker: idempotent acks=all produce to a 3-partition topic,
//! a consumer group reads every record back in per-key order, and manual commits land exactly
//! at the high watermarks.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures::future::try_join_all;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};
use wiber_e2e::kafka::create_topic;
use wiber_e2e::stack::PARTITIONS;
use wiber_e2e::{kafka_bootstrap, unique_name};

const KEYS: [&str; 6] = [
    "alice:bob",
    "carol:dave",
    "erin:frank",
    "alice:carol",
    "bob:dave",
    "eve:mallory",
];
const PER_KEY: usize = 50;
const TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn idempotent_acks_all_records_are_consumed_in_key_order_and_committed_at_high_watermarks() {
    let bootstrap = kafka_bootstrap();
    let topic = unique_name("e2e-kafka");
    create_topic(&bootstrap, &topic, PARTITIONS).await;

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer");

    // Sends are issued concurrently per key but awaited in order within a key, as the API does for
    // one conversation; the broker must keep each key's order within its partition.
    let sends = KEYS.iter().map(|key| {
        let producer = producer.clone();
        let topic = topic.clone();
        async move {
            let mut partitions = Vec::new();
            for seq in 0..PER_KEY {
                let payload = format!("{key}#{seq}");
                let delivery = producer
                    .send(
                        FutureRecord::to(&topic).key(*key).payload(&payload),
                        TIMEOUT,
                    )
                    .await
                    .map_err(|(e, _)| e)?;
                partitions.push(delivery.partition);
            }
            Ok::<_, rdkafka::error::KafkaError>((*key, partitions))
        }
    });
    let delivered = try_join_all(sends)
        .await
        .expect("every produce is acknowledged");

    let mut partition_of_key = HashMap::new();
    let mut produced_per_partition: BTreeMap<i32, i64> = BTreeMap::new();
    for (key, partitions) in &delivered {
        assert!(
            partitions.iter().all(|p| *p == partitions[0]),
            "key {key} was spread over partitions {partitions:?}"
        );
        partition_of_key.insert(*key, partitions[0]);
        *produced_per_partition.entry(partitions[0]).or_default() += PER_KEY as i64;
    }
    assert!(
        produced_per_partition.len() > 1,
        "six keys all hashed to one partition; the topic does not look partitioned"
    );

    let group = unique_name("e2e-group");
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");

    let total = KEYS.len() * PER_KEY;
    let mut next_seq: HashMap<String, usize> = HashMap::new();
    let mut consumed = 0;
    while consumed < total {
        let message = tokio::time::timeout(TIMEOUT, consumer.recv())
            .await
            .unwrap_or_else(|_| {
                panic!("only {consumed} of {total} records arrived within {TIMEOUT:?}")
            })
            .expect("consume");
        let key = std::str::from_utf8(message.key().expect("key"))
            .unwrap()
            .to_owned();
        let payload = std::str::from_utf8(message.payload().expect("payload")).unwrap();
        let expected = next_seq.entry(key.clone()).or_default();
        assert_eq!(
            payload,
            format!("{key}#{expected}"),
            "records of one key out of order"
        );
        assert_eq!(message.partition(), partition_of_key[key.as_str()]);
        *expected += 1;
        consumed += 1;
    }
    consumer
        .commit_consumer_state(CommitMode::Sync)
        .expect("synchronous commit");

    let mut wanted = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        wanted.add_partition(&topic, partition);
    }
    let committed = consumer
        .committed_offsets(wanted, TIMEOUT)
        .expect("committed offsets");
    let mut high_sum = 0;
    for partition in 0..PARTITIONS {
        let (low, high) = consumer
            .fetch_watermarks(&topic, partition, TIMEOUT)
            .expect("watermarks");
        assert_eq!(low, 0);
        // Idempotence and no retries gone wrong: exactly the records sent, no duplicates.
        assert_eq!(
            high,
            produced_per_partition.get(&partition).copied().unwrap_or(0),
            "high watermark of partition {partition}"
        );
        let offset = committed
            .find_partition(&topic, partition)
            .expect("partition in committed list")
            .offset();
        let expected = if high == 0 {
            Offset::Invalid
        } else {
            Offset::Offset(high)
        };
        assert_eq!(
            offset, expected,
            "committed offset of partition {partition}"
        );
        high_sum += high;
    }
    assert_eq!(high_sum, total as i64);
}
