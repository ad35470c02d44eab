//! The health and metrics routes every Wiber process serves, and their answers.

use std::future::Future;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prometheus::Registry;
use serde::Serialize;
#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// The answer of `/health/liveness`.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Liveness {
    pub status: Alive,
}

#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Alive {
    Alive,
}

/// The answer of `/health/readiness`: the verdict and, but while stopping, each dependency's state.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Readiness {
    pub status: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kafka: Option<Link>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mongodb: Option<Link>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub enum Verdict {
    #[serde(rename = "ready")]
    Ready,
    #[serde(rename = "not ready")]
    NotReady,
    /// After SIGTERM, while the process drains.
    #[serde(rename = "stopping")]
    Stopping,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Link {
    Connected,
    Disconnected,
}

/// `{"status":"alive"}`: the process serves requests.
pub fn alive() -> Response {
    Json(Liveness {
        status: Alive::Alive,
    })
    .into_response()
}

/// 503 `{"status":"stopping"}`: the process drains after SIGTERM.
pub fn stopping() -> Response {
    let body = Readiness {
        status: Verdict::Stopping,
        kafka: None,
        mongodb: None,
    };
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
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
    let link = |up: bool| {
        Some(if up {
            Link::Connected
        } else {
            Link::Disconnected
        })
    };
    let ready = kafka && (mongodb || needs == Needs::Kafka);
    let (status, verdict) = if ready {
        (StatusCode::OK, Verdict::Ready)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Verdict::NotReady)
    };
    let body = Readiness {
        status: verdict,
        kafka: link(kafka),
        mongodb: link(mongodb),
    };
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
