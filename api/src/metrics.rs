//! The API's Prometheus metrics and the middleware that records every request (and logs the
//! cause of a dependency's failure).
//! Labels are bounded: the matched route template (never the raw path), method and status code.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{HistogramVec, IntCounterVec, IntGauge, Registry};

use crate::producer::ProduceMetrics;

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    in_flight: IntGauge,
    /// 1 when the last readiness check reached the store, 0 when it did not.
    pub store_up: IntGauge,
    pub produce: ProduceMetrics,
}

/// Every `category` `producer::category` gives a failed produce: each series exists at 0 from the
/// start, so alerts on produce failures see the family before the first failure. A new category
/// belongs here too.
pub const PRODUCE_ERROR_CATEGORIES: &[&str] = &[
    "timeout",
    "queue_full",
    "unknown_topic",
    "not_enough_replicas",
    "broker",
    "client",
];

/// Both `outcome`s of a produce, present from the start.
pub const PRODUCE_OUTCOMES: &[&str] = &["ok", "error"];

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Metrics {
    pub fn new() -> Self {
        use wiber_common::metrics::{counter, counter_vec, gauge, histogram_vec};
        let r = wiber_common::metrics::registry();
        let request = &["route", "method", "status"];
        let metrics = Self {
            requests: counter_vec(
                &r,
                "wiber_api_http_requests_total",
                "HTTP requests answered",
                request,
            ),
            duration: histogram_vec(
                &r,
                "wiber_api_http_request_duration_seconds",
                "Time to answer an HTTP request",
                LATENCY_BUCKETS,
                request,
            ),
            in_flight: gauge(
                &r,
                "wiber_api_http_requests_in_flight",
                "HTTP requests being answered now",
            ),
            store_up: gauge(
                &r,
                "wiber_api_store_up",
                "1 when the last readiness check reached MongoDB (reads can be served), else 0",
            ),
            produce: ProduceMetrics {
                latency: histogram_vec(
                    &r,
                    "wiber_api_kafka_produce_duration_seconds",
                    "Time from produce to the broker's acknowledgement (acks=all)",
                    LATENCY_BUCKETS,
                    &["outcome"],
                ),
                errors: counter_vec(
                    &r,
                    "wiber_api_kafka_produce_errors_total",
                    "Messages Kafka did not acknowledge, by category",
                    &["category"],
                ),
                outcome_unknown: counter(
                    &r,
                    "wiber_api_kafka_produce_outcome_unknown_total",
                    "Failed produces that a broker may have written anyway: answered 503 outcome-unknown",
                ),
            },
            registry: r,
        };
        for category in PRODUCE_ERROR_CATEGORIES {
            metrics.produce.errors.with_label_values(&[category]);
        }
        for outcome in PRODUCE_OUTCOMES {
            metrics.produce.latency.with_label_values(&[outcome]);
        }
        metrics
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

pub async fn track(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = bounded_method(request.method()).to_owned();
    metrics.in_flight.inc();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.in_flight.dec();
    if let Some(failure) = response.extensions().get::<crate::error::Failure>() {
        tracing::warn!(category = failure.category, cause = %failure.cause, %route, "request failed");
    }
    let status = response.status().as_u16().to_string();
    let labels = [route.as_str(), method.as_str(), status.as_str()];
    metrics.requests.with_label_values(&labels).inc();
    metrics
        .duration
        .with_label_values(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}

/// Clients may send any method token; only the standard ones become label values.
fn bounded_method(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn produce_failure_and_latency_series_exist_at_zero_from_the_start() {
        let text = wiber_common::metrics::render(&Metrics::new().registry).1;
        for category in PRODUCE_ERROR_CATEGORIES {
            assert!(
                text.contains(&format!(
                    "wiber_api_kafka_produce_errors_total{{category=\"{category}\"}} 0"
                )),
                "{category} missing:\n{text}"
            );
        }
        for outcome in PRODUCE_OUTCOMES {
            assert!(
                text.contains(&format!(
                    "wiber_api_kafka_produce_duration_seconds_count{{outcome=\"{outcome}\"}} 0"
                )),
                "{outcome} missing:\n{text}"
            );
        }
    }
}
