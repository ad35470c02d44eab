//! The operator's Prometheus metrics. Labels are bounded: a fixed result or error category, and the
//! WiberCluster's namespace and name (one series per managed cluster).

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub reconciles: IntCounterVec,
    pub errors: IntCounterVec,
    pub duration: HistogramVec,
    pub lag: IntGaugeVec,
    pub partitions: IntGaugeVec,
    pub consumers_current: IntGaugeVec,
    pub consumers_recommended: IntGaugeVec,
    pub consumers_desired: IntGaugeVec,
    pub consumption_rate: prometheus::GaugeVec,
    pub scale_events: IntCounterVec,
    pub leader: prometheus::IntGauge,
}

const CLUSTER: &[&str] = &["namespace", "name"];

impl Metrics {
    pub fn new() -> Self {
        let registry = wiber_common::metrics::registry();
        let gauge = |name: &str, help: &str| {
            IntGaugeVec::new(Opts::new(name, help), CLUSTER).expect("valid metric")
        };
        let m = Self {
            reconciles: IntCounterVec::new(
                Opts::new("wiber_operator_reconciles_total", "Reconciles, by result"),
                &["result"],
            )
            .expect("valid metric"),
            errors: IntCounterVec::new(
                Opts::new(
                    "wiber_operator_reconcile_errors_total",
                    "Failed reconciles, by step",
                ),
                &["category"],
            )
            .expect("valid metric"),
            duration: HistogramVec::new(
                HistogramOpts::new(
                    "wiber_operator_reconcile_duration_seconds",
                    "Time per reconcile",
                )
                .buckets(vec![0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
                &["result"],
            )
            .expect("valid metric"),
            lag: gauge(
                "wiber_operator_consumer_lag",
                "Measured lag of the consumer group (records)",
            ),
            partitions: gauge(
                "wiber_operator_topic_partitions",
                "Partitions of the messages topic",
            ),
            consumers_current: gauge(
                "wiber_operator_consumers_current",
                "Consumer replicas before this decision",
            ),
            consumers_recommended: gauge(
                "wiber_operator_consumers_recommended",
                "Consumer replicas the lag alone asks for, within bounds",
            ),
            consumers_desired: gauge(
                "wiber_operator_consumers_desired",
                "Consumer replicas after stabilization: what the Deployment gets",
            ),
            consumption_rate: prometheus::GaugeVec::new(
                Opts::new(
                    "wiber_operator_consumption_rate",
                    "Records per second the group committed",
                ),
                CLUSTER,
            )
            .expect("valid metric"),
            scale_events: IntCounterVec::new(
                Opts::new(
                    "wiber_operator_scale_events_total",
                    "Consumer replica changes, by direction",
                ),
                &["namespace", "name", "direction"],
            )
            .expect("valid metric"),
            leader: prometheus::IntGauge::new(
                "wiber_operator_leader",
                "1 while this replica holds the lease",
            )
            .expect("valid metric"),
            registry,
        };
        for c in [
            Box::new(m.reconciles.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.errors.clone()),
            Box::new(m.duration.clone()),
            Box::new(m.lag.clone()),
            Box::new(m.partitions.clone()),
            Box::new(m.consumers_current.clone()),
            Box::new(m.consumers_recommended.clone()),
            Box::new(m.consumers_desired.clone()),
            Box::new(m.consumption_rate.clone()),
            Box::new(m.scale_events.clone()),
            Box::new(m.leader.clone()),
        ] {
            m.registry.register(c).expect("metric registered once");
        }
        m
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
