//! The consumer's own HTTP port: liveness, readiness and Prometheus metrics.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::response::Response;
use rdkafka::consumer::Consumer;

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

async fn kafka_ready(health: &Health) -> bool {
    let consumer = health.consumer.clone();
    let topic = health.topic.clone();
    tokio::task::spawn_blocking(move || {
        consumer
            .fetch_metadata(Some(&topic), Duration::from_secs(2))
            .is_ok_and(|m| {
                m.topics()
                    .iter()
                    .any(|t| t.name() == topic && t.error().is_none())
            })
    })
    .await
    .unwrap_or(false)
}

async fn readiness(health: Arc<Health>) -> Response {
    let (kafka, mongo) = tokio::join!(kafka_ready(&health), health.writer.ping());
    wiber_common::health::readiness(kafka, mongo)
}
