//! The dead-letter topic: poison records go there with the reason and where they came from,
//! so their partition moves on and nothing is silently dropped.

use std::future::Future;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use wiber_common::kafka::KafkaConnection;

use crate::record::{Poison, Record};

use wiber_common::dead_letter::{
    CATEGORY_HEADER, ORIGIN_OFFSET_HEADER, ORIGIN_PARTITION_HEADER, ORIGIN_TOPIC_HEADER,
    REASON_HEADER,
};

#[derive(Debug, thiserror::Error)]
#[error("dead-letter topic: {0}")]
pub struct DeadLetterError(#[from] KafkaError);

pub trait DeadLetters: Send + Sync + 'static {
    /// Resolves once the dead-letter record is acknowledged (acks=all).
    fn send(
        &self,
        record: &Record,
        poison: &Poison,
    ) -> impl Future<Output = Result<(), DeadLetterError>> + Send;
}

pub struct KafkaDeadLetters {
    producer: FutureProducer,
    topic: String,
}

impl KafkaDeadLetters {
    pub fn new(kafka: &KafkaConnection, topic: &str) -> Result<Self, DeadLetterError> {
        let producer = kafka
            .client_config()
            .set("client.id", "wiber-consumer-dlq")
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", "10000")
            .create()?;
        Ok(Self {
            producer,
            topic: topic.to_owned(),
        })
    }
}

impl DeadLetters for KafkaDeadLetters {
    async fn send(&self, record: &Record, poison: &Poison) -> Result<(), DeadLetterError> {
        let partition = record.partition.to_string();
        let offset = record.offset.to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: REASON_HEADER,
                value: Some(poison.detail.as_str()),
            })
            .insert(Header {
                key: CATEGORY_HEADER,
                value: Some(poison.category),
            })
            .insert(Header {
                key: ORIGIN_TOPIC_HEADER,
                value: Some(record.topic.as_str()),
            })
            .insert(Header {
                key: ORIGIN_PARTITION_HEADER,
                value: Some(partition.as_str()),
            })
            .insert(Header {
                key: ORIGIN_OFFSET_HEADER,
                value: Some(offset.as_str()),
            });
        let mut out: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&self.topic).headers(headers);
        if let Some(key) = &record.key {
            out = out.key(key.as_slice());
        }
        if let Some(payload) = &record.payload {
            out = out.payload(payload.as_slice());
        }
        self.producer
            .send(out, Duration::from_secs(5))
            .await
            .map(|_| ())
            .map_err(|(e, _)| e.into())
    }
}
