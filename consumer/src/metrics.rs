//! The consumer's Prometheus metrics. Labels are bounded: a fixed poison category, and the
//! partition number (bounded by the topic's partition count).

use prometheus::{Gauge, Histogram, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Registry};

/// Every `category` a poison record can get (`record::decode`): each dead-letter series exists at 0
/// from the start, so dashboards and alerts see the family before the first poison record.
pub use wiber_common::record::POISON_CATEGORIES;

/// The dead-letter category of a valid message the store refused for good (`refusal`).
pub const STORE_REFUSED: &str = "store_refused";

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub consumed: IntCounter,
    pub stored: IntCounter,
    pub duplicates: IntCounter,
    pub dead_lettered: IntCounterVec,
    pub store_retries: IntCounter,
    pub announce_failures: IntCounter,
    pub batch_size: Histogram,
    pub store_duration: Histogram,
    pub lag: IntGaugeVec,
    pub assigned_partitions: IntGauge,
    /// When the consumer last finished a batch (or started): with lag above zero, a value that
    /// stops moving is a consumer stuck on something (WiberConsumerStalled).
    pub last_progress: Gauge,
}

impl Metrics {
    pub fn new() -> Self {
        use wiber_common::metrics::{
            counter, counter_vec, float_gauge, gauge, gauge_vec, histogram,
        };
        let r = wiber_common::metrics::registry();
        let metrics = Self {
            consumed: counter(
                &r,
                "wiber_consumer_messages_consumed_total",
                "Records read from Kafka",
            ),
            stored: counter(
                &r,
                "wiber_consumer_messages_stored_total",
                "Messages newly written to MongoDB",
            ),
            duplicates: counter(
                &r,
                "wiber_consumer_duplicates_total",
                "Redelivered messages the unique index had already stored",
            ),
            dead_lettered: counter_vec(
                &r,
                "wiber_consumer_dead_lettered_total",
                "Records sent to the dead-letter topic, by category: poison, or store_refused",
                &["category"],
            ),
            store_retries: counter(
                &r,
                "wiber_consumer_store_retries_total",
                "Batch writes (or dead-letter sends) that failed and were retried",
            ),
            announce_failures: counter(
                &r,
                "wiber_consumer_stored_announcements_failed_total",
                "Announcements of stored offsets (for push streams) that were not delivered",
            ),
            batch_size: histogram(
                &r,
                "wiber_consumer_batch_size",
                "Records per processed batch",
                &[
                    1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0,
                ],
            ),
            store_duration: histogram(
                &r,
                "wiber_consumer_store_duration_seconds",
                "Time to durably write one batch",
                &[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ],
            ),
            lag: gauge_vec(
                &r,
                "wiber_consumer_lag",
                "Records not yet committed, per assigned partition (high watermark minus committed offset)",
                &["topic", "partition"],
            ),
            assigned_partitions: gauge(
                &r,
                "wiber_consumer_assigned_partitions",
                "Partitions this consumer owns now",
            ),
            last_progress: float_gauge(
                &r,
                "wiber_consumer_last_progress_timestamp_seconds",
                "Unix time at which this consumer last finished a batch (stored, dead-lettered or both), or started",
            ),
            registry: r,
        };
        metrics.last_progress.set(unix_now());
        for category in POISON_CATEGORIES.iter().chain([&STORE_REFUSED]) {
            metrics.dead_lettered.with_label_values(&[category]);
        }
        metrics
    }

    /// A batch is finished: its records are stored or dead-lettered.
    pub fn progressed(&self) {
        self.last_progress.set(unix_now());
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Record, decode};

    #[test]
    fn every_dead_letter_category_is_exposed_at_zero_from_the_start() {
        let text = wiber_common::metrics::render(&Metrics::new().registry).1;
        for category in POISON_CATEGORIES.iter().chain([&STORE_REFUSED]) {
            assert!(
                text.contains(&format!(
                    "wiber_consumer_dead_lettered_total{{category=\"{category}\"}} 0"
                )),
                "{category} missing:\n{text}"
            );
        }
    }

    #[test]
    fn every_category_decode_gives_is_pre_initialised() {
        let record = |payload: Option<&str>, timestamp: Option<i64>| Record {
            topic: "wiber.messages".into(),
            partition: 0,
            offset: 0,
            key: None,
            payload: payload.map(|p| p.as_bytes().to_vec()),
            timestamp,
            traceparent: None,
        };
        let valid = r#"{"messageId":"6c0c5b1a-8a3e-4a53-9f0a-0d3c6f6b2a11","fromUser":"bob","toUser":"alice","content":"hi"}"#;
        let poison = [
            record(None, Some(1)),
            record(Some("not json"), Some(1)),
            record(
                Some(
                    r#"{"messageId":"6c0c5b1a-8a3e-4a53-9f0a-0d3c6f6b2a11","fromUser":"","toUser":"alice","content":"hi"}"#,
                ),
                Some(1),
            ),
            record(Some(valid), None),
        ];
        for r in &poison {
            let category = decode(r).expect_err("poison").category;
            assert!(
                POISON_CATEGORIES.contains(&category),
                "{category} is not in POISON_CATEGORIES"
            );
        }
    }
}
