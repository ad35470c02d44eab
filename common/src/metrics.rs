//! Prometheus text exposition shared by every process's `/metrics`.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus::core::Collector;
use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

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

/// Registers `metric`, as its constructor returned it, and hands it back, so each metric is named
/// once, where it is declared. Panics only on a programming error: an invalid name, help or
/// label, or a name registered twice (every unit test that builds the metrics finds it).
pub fn registered<M: Collector + Clone + 'static>(
    registry: &Registry,
    metric: prometheus::Result<M>,
) -> M {
    let metric = metric.expect("a valid metric name, help and labels");
    registry
        .register(Box::new(metric.clone()))
        .expect("each metric registered once");
    metric
}

pub fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    registered(registry, IntCounter::new(name, help))
}

pub fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    registered(registry, IntCounterVec::new(Opts::new(name, help), labels))
}

pub fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    registered(registry, IntGauge::new(name, help))
}

pub fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    registered(registry, IntGaugeVec::new(Opts::new(name, help), labels))
}

/// A gauge of fractional values (a rate, a Unix time).
pub fn float_gauge(registry: &Registry, name: &str, help: &str) -> Gauge {
    registered(registry, Gauge::new(name, help))
}

pub fn float_gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    registered(registry, GaugeVec::new(Opts::new(name, help), labels))
}

pub fn histogram(registry: &Registry, name: &str, help: &str, buckets: &[f64]) -> Histogram {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    registered(registry, Histogram::with_opts(opts))
}

pub fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    buckets: &[f64],
    labels: &[&str],
) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    registered(registry, HistogramVec::new(opts, labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declared_metric_is_registered_under_its_name() {
        let registry = Registry::new();
        let hits = counter_vec(&registry, "hits_total", "Hits", &["kind"]);
        hits.with_label_values(&["a"]).inc();
        let (_, text) = render(&registry);
        assert!(text.contains("hits_total{kind=\"a\"} 1"), "{text}");
    }

    #[test]
    #[should_panic(expected = "each metric registered once")]
    fn a_name_declared_twice_is_refused() {
        let registry = Registry::new();
        counter(&registry, "twice_total", "Once");
        counter(&registry, "twice_total", "Twice");
    }
}
