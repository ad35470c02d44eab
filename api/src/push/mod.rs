//! Push delivery: every message of a user's conversations, to that user's open streams (SSE and
//! WebSocket), once Kafka has acknowledged it, in Kafka's order, resumable without loss from an
//! event id.
//!
//! `feed` reads the messages topic and releases each message (an `event`) to the `hub`, which hands it to the
//! streams of its two users and keeps it until the consumer announces it stored; `session` turns a
//! subscription into a stream's messages (catching up from the store and the hub first); `sse` and
//! `ws` are the two wire formats.

pub mod event;
pub mod feed;
pub mod hub;
pub mod session;
mod socket_auth;
pub mod sse;
mod unstored;
pub mod ws;

use prometheus::{Histogram, IntCounter, IntCounterVec, IntGauge, Registry};

pub use event::{End, Event};
pub use hub::{Hub, PushConfig};

/// Push's metrics; `wiber_api_push_disconnects_total` has a series for every `End` from the start.
#[derive(Clone)]
pub struct PushMetrics {
    pub push_streams: IntGauge,
    /// API_PUSH_MAX_STREAMS: streams near it are refused soon (an alert's denominator).
    pub push_streams_max: IntGauge,
    pub push_events: IntCounter,
    pub push_latency: Histogram,
    /// From the broker appending a message to this replica's feed reading it.
    pub feed_lag: Histogram,
    /// From the broker appending a message to this replica learning it is stored.
    pub appended_to_stored: Histogram,
    pub push_disconnects: IntCounterVec,
}

/// Latency buckets of the push path, in seconds: sub-millisecond to seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

impl PushMetrics {
    pub fn register(r: &Registry) -> Self {
        use wiber_common::metrics::{counter, counter_vec, gauge, histogram};
        let metrics = Self {
            push_streams: gauge(r, "wiber_api_push_streams", "Push streams open now"),
            push_streams_max: gauge(
                r,
                "wiber_api_push_streams_max",
                "Push streams this replica takes at once (API_PUSH_MAX_STREAMS)",
            ),
            push_events: counter(
                r,
                "wiber_api_push_events_total",
                "Messages written to push streams (live and caught up)",
            ),
            push_latency: histogram(
                r,
                "wiber_api_push_read_to_pushed_seconds",
                "From this replica's feed reading a message to writing it to a stream",
                LATENCY_BUCKETS,
            ),
            // Both measured against the broker's LogAppendTime, so they include any skew between
            // the broker's clock and this host's.
            feed_lag: histogram(
                r,
                "wiber_api_push_feed_lag_seconds",
                "From the broker appending a message to this replica's push feed reading it",
                LATENCY_BUCKETS,
            ),
            // Observed for the messages this replica read before it learned they were stored: how
            // far the history (the store) trails the live streams.
            appended_to_stored: histogram(
                r,
                "wiber_api_push_appended_to_stored_seconds",
                "From the broker appending a message to this replica learning it is stored",
                LATENCY_BUCKETS,
            ),
            push_disconnects: counter_vec(
                r,
                "wiber_api_push_disconnects_total",
                "Push streams ended, by reason",
                &["reason"],
            ),
        };
        for end in End::ALL {
            metrics.push_disconnects.with_label_values(&[end.reason()]);
        }
        metrics
    }

    /// `n` streams ended for `why`.
    pub fn ended(&self, why: End, n: usize) {
        self.push_disconnects
            .with_label_values(&[why.reason()])
            .inc_by(n as u64);
    }
}
