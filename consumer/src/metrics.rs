//! The consumer's Prometheus metrics. Labels are bounded: a fixed poison category, and the
//! partition number (bounded by the topic's partition count).

use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub consumed: IntCounter,
    pub stored: IntCounter,
    pub duplicates: IntCounter,
    pub dead_lettered: IntCounterVec,
    pub store_retries: IntCounter,
    pub batch_size: Histogram,
    pub store_duration: Histogram,
    pub lag: IntGaugeVec,
    pub assigned_partitions: IntGauge,
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
        let dead_lettered = IntCounterVec::new(
            Opts::new(
                "wiber_consumer_dead_lettered_total",
                "Poison records sent to the dead-letter topic, by category",
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
            Box::new(dead_lettered.clone()),
            Box::new(batch_size.clone()),
            Box::new(store_duration.clone()),
            Box::new(lag.clone()),
            Box::new(assigned_partitions.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        Self {
            registry,
            consumed,
            stored,
            duplicates,
            dead_lettered,
            store_retries,
            batch_size,
            store_duration,
            lag,
            assigned_partitions,
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
