//! Loading the store the way the API feeds it: records produced to the topic under their
//! conversation's key, for the consumer to store.

use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use wiber_common::message::MessageRecord;

use crate::dataset;

/// Records in flight at most; beyond it the producer's queue is waited on.
const IN_FLIGHT: usize = 20_000;

pub struct Load<'a> {
    pub bootstrap: &'a str,
    pub topic: &'a str,
    pub from: u64,
    pub to: u64,
    pub reference: bool,
}

/// Produces messages `from..to` of the dataset (and the reference conversation when asked);
/// returns how many, once the broker has acknowledged every one.
pub async fn load(load: Load<'_>) -> Result<u64, KafkaError> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", load.bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "20")
        .set("queue.buffering.max.messages", "200000")
        .create()?;
    let mut records: Vec<(String, MessageRecord)> = Vec::new();
    if load.reference {
        records.extend((0..dataset::GROUPS).map(dataset::group_creation));
        records.extend((0..dataset::REFERENCE_MESSAGES).map(dataset::reference_record));
    }
    let started = Instant::now();
    let mut sent = 0u64;
    let mut pending = Vec::with_capacity(IN_FLIGHT);
    let produce =
        |key: String, record: MessageRecord, pending: &mut Vec<_>| -> Result<(), KafkaError> {
            let payload = serde_json::to_vec(&record).expect("a record serialises");
            let mut attempt = FutureRecord::to(load.topic).key(&key).payload(&payload);
            loop {
                match producer.send_result(attempt) {
                    Ok(delivery) => {
                        pending.push(delivery);
                        return Ok(());
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        producer.poll(Duration::from_millis(10));
                        attempt = back;
                    }
                    Err((e, _)) => return Err(e),
                }
            }
        };
    let all = records
        .into_iter()
        .chain((load.from..load.to).map(dataset::record));
    for (key, record) in all {
        produce(key, record, &mut pending)?;
        sent += 1;
        if pending.len() == IN_FLIGHT {
            settle(&mut pending).await?;
        }
    }
    settle(&mut pending).await?;
    producer.flush(Duration::from_secs(30))?;
    let took = started.elapsed().as_secs_f64();
    println!(
        "produced {sent} records in {took:.1} s ({:.0}/s)",
        sent as f64 / took
    );
    Ok(sent)
}

async fn settle(pending: &mut Vec<rdkafka::producer::DeliveryFuture>) -> Result<(), KafkaError> {
    for delivery in futures::future::join_all(pending.drain(..)).await {
        match delivery {
            Ok(Ok(_)) => {}
            Ok(Err((e, _))) => return Err(e),
            Err(_) => return Err(KafkaError::Canceled),
        }
    }
    Ok(())
}
