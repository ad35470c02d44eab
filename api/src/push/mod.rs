//! Push delivery: every message of a user's conversations, to that user's open streams (SSE and
//! WebSocket), once Kafka has acknowledged it, in Kafka's order, resumable without loss from an
//! event id.
//!
//! `feed` reads the messages topic and releases each message to the `hub`, which hands it to the
//! streams of its two users and keeps it until the consumer announces it stored; `session` turns a
//! subscription into a stream's messages (catching up from the store and the hub first); `sse` and
//! `ws` are the two wire formats.

pub mod feed;
pub mod hub;
pub mod session;
pub mod sse;
mod unstored;
pub mod ws;

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

pub use hub::{Ended, Hub, PushConfig};

/// Every reason a stream ends on the server's side, and the client's closing, as label values.
pub const DISCONNECT_REASONS: &[&str] = &["slow_reader", "shutting_down", "store_failed", "client"];

#[derive(Clone)]
pub struct PushMetrics {
    pub push_streams: IntGauge,
    pub push_events: IntCounter,
    pub push_latency: Histogram,
    /// From the broker appending a message to this replica's feed reading it.
    pub feed_lag: Histogram,
    /// From the broker appending a message to this replica learning it is stored.
    pub appended_to_stored: Histogram,
    pub push_disconnects: IntCounterVec,
}

/// Latency buckets of the push path, in seconds: sub-millisecond to seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

fn latency(name: &str, help: &str) -> Histogram {
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()))
        .expect("valid metric")
}

impl PushMetrics {
    pub fn register(registry: &Registry) -> Self {
        let push_streams =
            IntGauge::new("wiber_api_push_streams", "Push streams open now").expect("valid metric");
        let push_events = IntCounter::new(
            "wiber_api_push_events_total",
            "Messages written to push streams (live and caught up)",
        )
        .expect("valid metric");
        let push_latency = latency(
            "wiber_api_push_read_to_pushed_seconds",
            "From this replica's feed reading a message to writing it to a stream",
        );
        // Both measured against the broker's LogAppendTime, so they include any skew between the
        // broker's clock and this host's.
        let feed_lag = latency(
            "wiber_api_push_feed_lag_seconds",
            "From the broker appending a message to this replica's push feed reading it",
        );
        // Observed for the messages this replica read before it learned they were stored: how far
        // the history (the store) trails the live streams.
        let appended_to_stored = latency(
            "wiber_api_push_appended_to_stored_seconds",
            "From the broker appending a message to this replica learning it is stored",
        );
        let push_disconnects = IntCounterVec::new(
            Opts::new(
                "wiber_api_push_disconnects_total",
                "Push streams ended, by reason",
            ),
            &["reason"],
        )
        .expect("valid metric");
        for c in [
            Box::new(push_streams.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(push_events.clone()),
            Box::new(push_latency.clone()),
            Box::new(feed_lag.clone()),
            Box::new(appended_to_stored.clone()),
            Box::new(push_disconnects.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        for reason in DISCONNECT_REASONS {
            push_disconnects.with_label_values(&[reason]);
        }
        Self {
            push_streams,
            push_events,
            push_latency,
            feed_lag,
            appended_to_stored,
            push_disconnects,
        }
    }
}
