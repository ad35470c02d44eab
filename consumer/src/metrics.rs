//! The consumer's Prometheus metrics. Labels are bounded: a fixed poison category, and the
//! partition number (bounded by the topic's partition count).

use prometheus::{
    Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

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
        let registry = wiber_common::metrics::registry();
        let counter = |name: &str, help: &str| IntCounter::new(name, help).expect("valid metric");
        let consumed = counter(
            "wiber_consumer_messages_consumed_total",
            "Records read from Kafka",
        );
        let stored = counter(
            "wiber_consumer_messages_stored_total",
            "Messages newly written to MongoDB",
        );
        let duplicates = counter(
            "wiber_consumer_duplicates_total",
            "Redelivered messages the unique index had already stored",
        );
        let store_retries = counter(
            "wiber_consumer_store_retries_total",
            "Batch writes (or dead-letter sends) that failed and were retried",
        );
        let announce_failures = counter(
            "wiber_consumer_stored_announcements_failed_total",
            "Announcements of stored offsets (for push streams) that were not delivered",
        );
        let dead_lettered = IntCounterVec::new(
            Opts::new(
                "wiber_consumer_dead_lettered_total",
                "Records sent to the dead-letter topic, by category: poison, or store_refused",
            ),
            &["category"],
        )
        .expect("valid metric");
        let batch_size = Histogram::with_opts(
            HistogramOpts::new("wiber_consumer_batch_size", "Records per processed batch").buckets(
                vec![
                    1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0,
                ],
            ),
        )
        .expect("valid metric");
        let store_duration = Histogram::with_opts(
            HistogramOpts::new(
                "wiber_consumer_store_duration_seconds",
                "Time to durably write one batch",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
        )
        .expect("valid metric");
        let lag = IntGaugeVec::new(
            Opts::new(
                "wiber_consumer_lag",
                "Records not yet committed, per assigned partition (high watermark minus committed offset)",
            ),
            &["topic", "partition"],
        )
        .expect("valid metric");
        let last_progress = Gauge::new(
            "wiber_consumer_last_progress_timestamp_seconds",
            "Unix time at which this consumer last finished a batch (stored, dead-lettered or both), or started",
        )
        .expect("valid metric");
        last_progress.set(unix_now());
        let assigned_partitions = IntGauge::new(
            "wiber_consumer_assigned_partitions",
            "Partitions this consumer owns now",
        )
        .expect("valid metric");
        for c in [
            Box::new(consumed.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(stored.clone()),
            Box::new(duplicates.clone()),
            Box::new(store_retries.clone()),
            Box::new(announce_failures.clone()),
            Box::new(dead_lettered.clone()),
            Box::new(batch_size.clone()),
            Box::new(store_duration.clone()),
            Box::new(lag.clone()),
            Box::new(assigned_partitions.clone()),
            Box::new(last_progress.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        for category in POISON_CATEGORIES.iter().chain([&STORE_REFUSED]) {
            dead_lettered.with_label_values(&[category]);
        }
        Self {
            registry,
            consumed,
            stored,
            duplicates,
            dead_lettered,
            store_retries,
            announce_failures,
            batch_size,
            store_duration,
            lag,
            assigned_partitions,
            last_progress,
        }
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
