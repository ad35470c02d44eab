//! The consumer's own HTTP port: liveness, readiness and Prometheus metrics.

use std::sync::Arc;

use axum::Router;
use axum::response::Response;
use rdkafka::consumer::Consumer;

use wiber_common::health::Needs;
use wiber_common::kafka::READY_TIMEOUT;

use crate::kafka::WiberConsumer;
use crate::metrics::Metrics;
use crate::store::MongoWriter;

pub struct Health {
    pub consumer: Arc<WiberConsumer>,
    pub writer: Arc<MongoWriter>,
    pub metrics: Metrics,
    pub topic: String,
}

pub fn router(health: Arc<Health>) -> Router {
    let registry = health.metrics.registry.clone();
    wiber_common::health::router(registry, move || readiness(health.clone()))
}

/// Asked twice within `READY_TIMEOUT`: a metadata request that lands on a broker in the middle of a
/// controlled shutdown can go unanswered, and one unlucky pick of broker would report a consumer
/// that can still work (it reads from the partitions' leaders) as not ready.
async fn kafka_ready(health: &Health) -> bool {
    let consumer = health.consumer.clone();
    let topic = health.topic.clone();
    tokio::task::spawn_blocking(move || {
        let attempt = READY_TIMEOUT / 2;
        (0..2).any(|_| wiber_common::kafka::topic_exists(consumer.client(), &topic, attempt))
    })
    .await
    .unwrap_or(false)
}

async fn readiness(health: Arc<Health>) -> Response {
    let (kafka, mongo) = tokio::join!(kafka_ready(&health), health.writer.ping());
    wiber_common::health::readiness(Needs::KafkaAndStore, kafka, mongo)
}
