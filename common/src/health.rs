//! The health and metrics routes every Wiber process serves, and their answers.

use std::future::Future;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prometheus::Registry;

/// `{"status":"alive"}`: the process serves requests.
pub fn alive() -> Response {
    Json(serde_json::json!({ "status": "alive" })).into_response()
}

/// `/health/liveness`, `/health/readiness` (answered by `ready`) and `/metrics`, for a process's
/// own port. The api serves the same three among its documented routes.
pub fn router<F, Fut>(registry: Registry, ready: F) -> Router
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    Router::new()
        .route("/health/liveness", get(|| async { alive() }))
        .route("/health/readiness", get(ready))
        .route(
            "/metrics",
            get(move || {
                let registry = registry.clone();
                async move { crate::metrics::response(&registry) }
            }),
        )
}

/// What a process's work needs, and so what its readiness requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// The consumer: it reads from Kafka and writes to the store.
    KafkaAndStore,
    /// The API: accepting a message needs Kafka only. A store outage fails its reads (503), but
    /// must not take every replica out of its Service while sends could still be accepted.
    Kafka,
}

/// 200 `{"status":"ready","kafka":"connected","mongodb":"connected"}` when what the process needs
/// is up, or 503 `"not ready"`; both name the state of each dependency.
pub fn readiness(needs: Needs, kafka: bool, mongodb: bool) -> Response {
    let word = |up: bool| if up { "connected" } else { "disconnected" };
    let ready = kafka && (mongodb || needs == Needs::Kafka);
    let (status, text) = if ready {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    };
    let body =
        serde_json::json!({ "status": text, "kafka": word(kafka), "mongodb": word(mongodb) });
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_is_required_only_by_what_writes_to_it() {
        let status = |needs, kafka, mongodb| readiness(needs, kafka, mongodb).status();
        assert_eq!(status(Needs::KafkaAndStore, true, true), StatusCode::OK);
        assert_eq!(
            status(Needs::KafkaAndStore, true, false),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(status(Needs::Kafka, true, false), StatusCode::OK);
        for needs in [Needs::Kafka, Needs::KafkaAndStore] {
            assert_eq!(status(needs, false, true), StatusCode::SERVICE_UNAVAILABLE);
        }
    }
}
