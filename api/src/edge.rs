//! The HTTP edge, from tower-http and tower: a request id set and echoed, one span and one log line
//! per request (method, route template, status, latency, request id; never the token or the
//! content), `Authorization` marked sensitive, CORS for configured origins, gzip, a bound on requests
//! in flight that sheds the rest with 503 instead of queueing them (applied in `routes`, to
//! all but push streams), and each user's rate limit.

use std::num::NonZeroU32;
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeConfig {
    /// API_CORS_ORIGINS (none): browser origins allowed to call the API, comma-separated.
    pub cors_origins: Vec<HeaderValue>,
    /// API_MAX_IN_FLIGHT (512): requests served at once; more are answered 503 at once.
    pub max_in_flight: usize,
    /// API_RATE_LIMIT_PER_SECOND (20) and API_RATE_LIMIT_BURST (40): each authenticated user's
    /// token bucket; 0 turns the limit off.
    pub rate: Option<(NonZeroU32, NonZeroU32)>,
}

/// The span of one request: what is safe to log, and nothing of its headers or body.
fn span(request: &Request) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!("request", method = %request.method(), route, request_id = id)
}

fn cors(origins: &[HeaderValue]) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins.iter().cloned()))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
            REQUEST_ID,
        ])
        .expose_headers([
            HeaderName::from_static("x-next-cursor"),
            HeaderName::from_static("x-prev-cursor"),
            header::LINK,
            header::RETRY_AFTER,
            HeaderName::from_static("ratelimit"),
            HeaderName::from_static("ratelimit-policy"),
            REQUEST_ID,
        ])
        .max_age(Duration::from_secs(600))
}

/// `router` behind the edge's layers (the outermost first: the request id is set before the span
/// that logs it, and the shed answer still carries it).
pub fn wrap(router: Router, config: &EdgeConfig) -> Router {
    let mut router = router.layer(CompressionLayer::new().gzip(true)).layer(
        TraceLayer::new_for_http()
            .make_span_with(span)
            .on_response(DefaultOnResponse::new().level(Level::INFO)),
    );
    if !config.cors_origins.is_empty() {
        router = router.layer(cors(&config.cors_origins));
    }
    router
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
        ]))
}
