//! A trace collector for tests: it takes OTLP/HTTP JSON (`POST /v1/traces`) on a free loopback
//! port, as an OpenTelemetry Collector would, and keeps every span with its service's name.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};

/// One received span, as OTLP's JSON encoding gives it (ids in hex).
#[derive(Debug, Clone)]
pub struct Span {
    pub service: String,
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a trace's root.
    pub parent_span_id: String,
    /// The span ids this span links to.
    pub links: Vec<String>,
}

type Received = Arc<Mutex<Vec<Span>>>;

pub struct Collector {
    /// What OTEL_EXPORTER_OTLP_ENDPOINT is set to.
    pub endpoint: String,
    spans: Received,
    server: tokio::task::JoinHandle<()>,
}

impl Collector {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the collector");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let spans = Received::default();
        let app = axum::Router::new()
            .route("/v1/traces", post(receive))
            .with_state(spans.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("collector serves");
        });
        Self {
            endpoint,
            spans,
            server,
        }
    }

    pub fn spans(&self) -> Vec<Span> {
        self.spans.lock().unwrap().clone()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(State(spans): State<Received>, Json(request): Json<Value>) -> Json<Value> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let mut received = spans.lock().unwrap();
    for resource in request["resourceSpans"].as_array().into_iter().flatten() {
        let service = resource["resource"]["attributes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["key"] == "service.name")
            .map(|a| text(&a["value"]["stringValue"]))
            .unwrap_or_default();
        let scope_spans = resource["scopeSpans"].as_array().into_iter().flatten();
        for span in scope_spans.flat_map(|s| s["spans"].as_array().into_iter().flatten()) {
            received.push(Span {
                service: service.clone(),
                name: text(&span["name"]),
                trace_id: text(&span["traceId"]),
                span_id: text(&span["spanId"]),
                parent_span_id: text(&span["parentSpanId"]),
                links: span["links"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|l| text(&l["spanId"]))
                    .collect(),
            });
        }
    }
    // OTLP's success answer: no partial rejection.
    Json(json!({}))
}
