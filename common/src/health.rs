//! The readiness answer the api and the consumer share.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

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
