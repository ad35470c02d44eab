//! Logs and traces. Logs: JSON lines in clusters (`LOG_FORMAT=json`), readable text otherwise; the
//! level comes from `RUST_LOG` (default `info`). Traces: only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, spans go over OTLP/HTTP to a collector (protobuf, or
//! JSON with `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`; plain HTTP), and a message's W3C trace context
//! crosses Kafka in its record's `traceparent` header. Unset, there is no exporter, no tracing layer
//! and no header: tracing costs nothing.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The record header that carries a message's trace context (W3C Trace Context).
pub const TRACEPARENT: &str = "traceparent";

const ENDPOINTS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
];
const PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";

static TRACING: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported; when not, nothing is propagated either.
pub fn tracing_enabled() -> bool {
    TRACING.load(Ordering::Relaxed)
}

/// What must be flushed before the process exits.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still buffered (the batch processor's last batch).
    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            let _ = provider.shutdown();
        }
    }
}

/// Sets up logs, and traces when a collector is configured; `service` is the default of
/// `OTEL_SERVICE_NAME`. A bad trace setting is an error naming its variable.
pub fn init(service: &'static str) -> Result<Telemetry, String> {
    let provider = match ENDPOINTS
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|e| !e.is_empty()))
    {
        true => Some(tracer_provider(service)?),
        false => None,
    };
    let traces = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(service)));
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour codes only for a person at a terminal, never into log files.
    let logs = tracing_subscriber::fmt::layer().with_ansi(std::io::stdout().is_terminal());
    let registry = tracing_subscriber::registry().with(filter).with(traces);
    if std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        registry.with(logs.json().flatten_event(true)).init();
    } else {
        registry.with(logs).init();
    }
    if provider.is_some() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        TRACING.store(true, Ordering::Relaxed);
    }
    Ok(Telemetry { provider })
}

fn tracer_provider(service: &'static str) -> Result<SdkTracerProvider, String> {
    // The OTLP specification's default is protobuf; the exporter library would pick JSON.
    let protocol = match std::env::var(PROTOCOL).as_deref() {
        Err(_) | Ok("http/protobuf") => Protocol::HttpBinary,
        Ok("http/json") => Protocol::HttpJson,
        Ok(other) => {
            return Err(format!(
                "{PROTOCOL} must be http/protobuf or http/json, not {other:?}"
            ));
        }
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .build()
        .map_err(|e| format!("{}: {e}", ENDPOINTS.join(" or ")))?;
    let resource = Resource::builder().with_service_name(service).build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// The current span's trace context as a `traceparent` value; `None` when tracing is off.
pub fn current_traceparent() -> Option<String> {
    if !tracing_enabled() {
        return None;
    }
    struct Traceparent(Option<String>);
    impl Injector for Traceparent {
        fn set(&mut self, key: &str, value: String) {
            if key == TRACEPARENT {
                self.0 = Some(value);
            }
        }
    }
    let mut carrier = Traceparent(None);
    TraceContextPropagator::new().inject_context(&tracing::Span::current().context(), &mut carrier);
    carrier.0
}

/// Makes `span` a child of the remote span a record's `traceparent` names.
pub fn continue_trace(span: &tracing::Span, traceparent: &str) {
    struct Traceparent<'a>(&'a str);
    impl Extractor for Traceparent<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            (key == TRACEPARENT).then_some(self.0)
        }
        fn keys(&self) -> Vec<&str> {
            vec![TRACEPARENT]
        }
    }
    let parent = TraceContextPropagator::new().extract(&Traceparent(traceparent));
    let _ = span.set_parent(parent);
}
