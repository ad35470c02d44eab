//! The consumer's own HTTP port: liveness, readiness and Prometheus metrics.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
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
    Router::new()
        .route(
            "/health/liveness",
            get(|| async { Json(serde_json::json!({ "status": "alive" })) }),
        )
        .route("/health/readiness", get(readiness))
        .route("/metrics", get(metrics))
        .with_state(health)
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

async fn readiness(State(health): State<Arc<Health>>) -> Response {
    let (kafka, mongo) = tokio::join!(kafka_ready(&health), health.writer.ping());
    wiber_common::health::readiness(kafka, mongo)
}

async fn metrics(State(health): State<Arc<Health>>) -> Response {
    let (content_type, body) = wiber_common::metrics::render(&health.metrics.registry);
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}
