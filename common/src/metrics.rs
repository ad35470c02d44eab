//! Prometheus text exposition shared by every process's `/metrics`.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus::{Encoder, Registry, TextEncoder};

/// A registry that already carries the process collector (RSS, CPU, open fds), so every
/// component reports its own memory.
pub fn registry() -> Registry {
    let registry = Registry::new();
    #[cfg(target_os = "linux")]
    registry
        .register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))
        .expect("process collector registers once");
    registry
}

/// The registry rendered in the Prometheus text format, with its content type.
pub fn render(registry: &Registry) -> (&'static str, String) {
    let encoder = TextEncoder::new();
    let mut buf = Vec::new();
    encoder
        .encode(&registry.gather(), &mut buf)
        .expect("text encoding of gathered metrics cannot fail");
    (
        "text/plain; version=0.0.4",
        String::from_utf8(buf).expect("Prometheus text is UTF-8"),
    )
}

/// The registry as a `/metrics` answer.
pub fn response(registry: &Registry) -> Response {
    let (content_type, body) = render(registry);
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}
