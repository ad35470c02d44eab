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

/// 200 `{"status":"ready","kafka":"connected","mongodb":"connected"}`, or 503 naming what is down.
pub fn readiness(kafka: bool, mongodb: bool) -> Response {
    let word = |up: bool| if up { "connected" } else { "disconnected" };
    let (status, text) = if kafka && mongodb {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    };
    let body =
        serde_json::json!({ "status": text, "kafka": word(kafka), "mongodb": word(mongodb) });
    (status, Json(body)).into_response()
}
