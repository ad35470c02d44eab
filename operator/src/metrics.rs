//! The operator's Prometheus metrics. Labels are bounded: a fixed result or error category, and the
//! WiberCluster's namespace and name (one series per managed cluster).

use std::time::Instant;

use prometheus::{HistogramVec, IntCounterVec, IntGaugeVec, Registry};

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
    pub consumers_max: IntGaugeVec,
    pub consumption_rate: prometheus::GaugeVec,
    pub scale_events: IntCounterVec,
    pub leader: prometheus::IntGauge,
    pub conditions: IntGaugeVec,
}

const CLUSTER: &[&str] = &["namespace", "name"];

/// Every value of the `result` label: both children exist from the start, so dashboards and alerts
/// see 0 before the first failure instead of no series at all.
pub const RESULTS: &[&str] = &["ok", "error"];

/// Every value `controller::Error::category` returns (the `category` label of
/// `wiber_operator_reconcile_errors_total`), created at 0 at start. A new category belongs here too.
pub const ERROR_CATEGORIES: &[&str] = &["apply", "delete", "read", "status", "spec"];

impl Metrics {
    pub fn new() -> Self {
        use wiber_common::metrics::{
            counter_vec, float_gauge_vec, gauge, gauge_vec, histogram_vec,
        };
        let r = wiber_common::metrics::registry();
        let m = Self {
            reconciles: counter_vec(
                &r,
                "wiber_operator_reconciles_total",
                "Reconciles, by result",
                &["result"],
            ),
            errors: counter_vec(
                &r,
                "wiber_operator_reconcile_errors_total",
                "Failed reconciles, by step",
                &["category"],
            ),
            duration: histogram_vec(
                &r,
                "wiber_operator_reconcile_duration_seconds",
                "Time per reconcile",
                &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
                &["result"],
            ),
            lag: gauge_vec(
                &r,
                "wiber_operator_consumer_lag",
                "Measured lag of the consumer group (records)",
                CLUSTER,
            ),
            partitions: gauge_vec(
                &r,
                "wiber_operator_topic_partitions",
                "Partitions of the messages topic",
                CLUSTER,
            ),
            consumers_current: gauge_vec(
                &r,
                "wiber_operator_consumers_current",
                "Consumer replicas before this decision",
                CLUSTER,
            ),
            consumers_recommended: gauge_vec(
                &r,
                "wiber_operator_consumers_recommended",
                "Consumer replicas the lag alone asks for, within bounds",
                CLUSTER,
            ),
            consumers_desired: gauge_vec(
                &r,
                "wiber_operator_consumers_desired",
                "Consumer replicas after stabilization: what the Deployment gets",
                CLUSTER,
            ),
            consumers_max: gauge_vec(
                &r,
                "wiber_operator_consumers_max",
                "Most consumer replicas the scaler may ask for: maxReplicas, lowered to the partition count",
                CLUSTER,
            ),
            consumption_rate: float_gauge_vec(
                &r,
                "wiber_operator_consumption_rate",
                "Records per second the group committed",
                CLUSTER,
            ),
            scale_events: counter_vec(
                &r,
                "wiber_operator_scale_events_total",
                "Consumer replica changes, by direction",
                &["namespace", "name", "direction"],
            ),
            leader: gauge(
                &r,
                "wiber_operator_leader",
                "1 while this replica holds the lease",
            ),
            // Strimzi's strimzi_resource_state, per condition: what "not Ready for 10 minutes"
            // alerts on.
            conditions: gauge_vec(
                &r,
                "wiber_operator_cluster_condition",
                "A WiberCluster's status condition: 1 while True, 0 otherwise",
                &["namespace", "name", "type"],
            ),
            registry: r,
        };
        for result in RESULTS {
            m.reconciles.with_label_values(&[result]);
            m.duration.with_label_values(&[result]);
        }
        for category in ERROR_CATEGORIES {
            m.errors.with_label_values(&[category]);
        }
        m
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Removes a WiberCluster's series, so a deleted cluster's last values do not linger.
    pub fn forget_cluster(&self, namespace: &str, name: &str) {
        let labels = [namespace, name];
        for gauge in [
            &self.lag,
            &self.partitions,
            &self.consumers_current,
            &self.consumers_recommended,
            &self.consumers_desired,
            &self.consumers_max,
        ] {
            // Absent series are fine: a cluster may be deleted before it was ever measured.
            let _ = gauge.remove_label_values(&labels);
        }
        let _ = self.consumption_rate.remove_label_values(&labels);
        for type_ in crate::conditions::ALL {
            let _ = self
                .conditions
                .remove_label_values(&[namespace, name, type_]);
        }
        for direction in ["up", "down"] {
            let _ = self
                .scale_events
                .remove_label_values(&[namespace, name, direction]);
        }
    }
}

/// What one lag measurement and scaling decision came to, for the per-cluster gauges.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScalingFigures {
    pub lag: i64,
    pub partitions: i32,
    pub current: i32,
    pub recommended: i32,
    pub desired: i32,
    pub max: i32,
    /// Records per second the group committed since the previous measurement.
    pub rate: Option<f64>,
}

impl Metrics {
    /// Times one reconcile; it counts as failed unless `succeeded` is called before it drops.
    pub fn reconcile_timer(&self) -> ReconcileTimer {
        ReconcileTimer {
            metrics: self.clone(),
            started: Instant::now(),
            succeeded: false,
        }
    }

    /// A reconcile failed at the step `category` names (one of `ERROR_CATEGORIES`).
    pub fn failed(&self, category: &str) {
        self.errors.with_label_values(&[category]).inc();
    }

    pub fn measured(&self, namespace: &str, name: &str, figures: &ScalingFigures) {
        let labels = [namespace, name];
        let set = |gauge: &IntGaugeVec, value: i64| gauge.with_label_values(&labels).set(value);
        set(&self.lag, figures.lag);
        set(&self.partitions, figures.partitions.into());
        set(&self.consumers_current, figures.current.into());
        set(&self.consumers_recommended, figures.recommended.into());
        set(&self.consumers_desired, figures.desired.into());
        set(&self.consumers_max, figures.max.into());
        if let Some(rate) = figures.rate {
            self.consumption_rate.with_label_values(&labels).set(rate);
        }
    }

    /// A cluster's conditions as its status now has them (types outside `conditions::ALL` are not
    /// exported, so the label stays bounded).
    pub fn conditions(
        &self,
        namespace: &str,
        name: &str,
        conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    ) {
        for condition in conditions {
            let Some(type_) = crate::conditions::ALL
                .into_iter()
                .find(|t| *t == condition.type_)
            else {
                continue;
            };
            self.conditions
                .with_label_values(&[namespace, name, type_])
                .set(i64::from(condition.status == "True"));
        }
    }

    pub fn scaled(&self, namespace: &str, name: &str, direction: &str) {
        self.scale_events
            .with_label_values(&[namespace, name, direction])
            .inc();
    }
}

pub struct ReconcileTimer {
    metrics: Metrics,
    started: Instant,
    succeeded: bool,
}

impl ReconcileTimer {
    pub fn succeeded(&mut self) {
        self.succeeded = true;
    }
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        let result = if self.succeeded { "ok" } else { "error" };
        self.metrics.reconciles.with_label_values(&[result]).inc();
        self.metrics
            .duration
            .with_label_values(&[result])
            .observe(self.started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::Error;

    fn exposed(m: &Metrics) -> String {
        wiber_common::metrics::render(&m.registry).1
    }

    #[test]
    fn result_and_error_series_exist_at_zero_before_any_reconcile() {
        let text = exposed(&Metrics::new());
        for result in RESULTS {
            assert!(text.contains(&format!(
                "wiber_operator_reconciles_total{{result=\"{result}\"}} 0"
            )));
            assert!(text.contains(&format!(
                "wiber_operator_reconcile_duration_seconds_count{{result=\"{result}\"}} 0"
            )));
        }
        for category in ERROR_CATEGORIES {
            assert!(
                text.contains(&format!(
                    "wiber_operator_reconcile_errors_total{{category=\"{category}\"}} 0"
                )),
                "{category} missing:\n{text}"
            );
        }
    }

    #[test]
    fn a_reconcile_counts_as_failed_unless_it_says_it_succeeded() {
        let m = Metrics::new();
        m.reconcile_timer().succeeded();
        drop(m.reconcile_timer());
        drop(m.reconcile_timer());
        assert_eq!(m.reconciles.with_label_values(&["ok"]).get(), 1);
        assert_eq!(m.reconciles.with_label_values(&["error"]).get(), 2);
        assert_eq!(
            m.duration.with_label_values(&["error"]).get_sample_count(),
            2
        );
    }

    #[test]
    fn every_error_category_is_pre_initialised() {
        let kube = || kube::Error::LinesCodecMaxLineLengthExceeded;
        let errors = [
            Error::Apply {
                kind: "Deployment",
                name: "chat-api".into(),
                source: kube(),
            },
            Error::Delete {
                kind: "PodDisruptionBudget",
                name: "chat-api".into(),
                source: kube(),
            },
            Error::Read {
                what: "consumer Deployment",
                source: kube(),
            },
            Error::Status(kube()),
            Error::NoNamespace,
        ];
        for e in &errors {
            assert!(
                ERROR_CATEGORIES.contains(&e.category()),
                "{} is not in ERROR_CATEGORIES",
                e.category()
            );
        }
    }

    #[test]
    fn a_clusters_conditions_are_gauges_of_one_or_zero_and_go_with_the_cluster() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
        let condition = |type_: &str, status: &str| Condition {
            type_: type_.into(),
            status: status.into(),
            reason: "Because".into(),
            message: String::new(),
            last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
            observed_generation: None,
        };
        let m = Metrics::new();
        m.conditions(
            "chat",
            "wc",
            &[
                condition("Ready", "False"),
                condition("KafkaReady", "True"),
                condition("SomethingNew", "True"),
            ],
        );
        let value = |type_: &str| {
            m.conditions
                .get_metric_with_label_values(&["chat", "wc", type_])
                .map(|g| g.get())
                .ok()
        };
        assert_eq!((value("Ready"), value("KafkaReady")), (Some(0), Some(1)));
        let series = |m: &Metrics| {
            exposed(m)
                .lines()
                .filter(|l| l.starts_with("wiber_operator_cluster_condition{"))
                .count()
        };
        assert_eq!(series(&m), 2, "an unknown type is not exported");
        m.forget_cluster("chat", "wc");
        assert_eq!(series(&m), 0);
    }
}
