//! Stage 2, scale: how many consumers the cluster should run. The decision itself is the pure
//! `scaling` module; this stage feeds it the measurement and what it remembers per WiberCluster.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use super::Scope;
use super::observe::Observation;
use crate::crd::{ConsumerStatus, WiberCluster};
use crate::metrics::{Metrics, ScalingFigures};
use crate::scaling::{self, LagSample, Policy, Reason, Recommendation};

/// What the scaler decided, for the build and status stages.
#[derive(Debug, Clone, PartialEq)]
pub struct Scaling {
    pub consumers: ConsumerStatus,
    /// Partitions and total lag: this reconcile's measurement, else the last this process made
    /// (`None` when it has made none; the status then keeps what it had).
    pub measured: Option<(i32, i64)>,
    /// A replica change worth an event.
    pub event: Option<ScaleEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleEvent {
    pub reason: Reason,
    pub note: String,
}

/// What the scaler remembers per WiberCluster between reconciles, keyed by uid.
#[derive(Debug, Default)]
struct ClusterMemory {
    /// Namespace and name: the labels of the cluster's metric series.
    cluster: (String, String),
    history: Vec<Recommendation>,
    last_sample: Option<LagSample>,
    /// When this process last changed the replicas, and why. The status says so too, but the
    /// cached WiberCluster a reconcile starts from may predate the status write that recorded it,
    /// and server-side apply would then remove the fields.
    last_scale: Option<(Time, String)>,
}

#[derive(Debug, Default)]
pub struct Memory(Mutex<HashMap<String, ClusterMemory>>);

fn memory_key(wc: &WiberCluster) -> String {
    wc.uid()
        .unwrap_or_else(|| format!("{}/{}", wc.namespace().unwrap_or_default(), wc.name_any()))
}

impl Memory {
    fn last_scale(&self, wc: &WiberCluster) -> Option<(Time, String)> {
        let memory = self.0.lock().expect("scaling memory lock");
        memory.get(&memory_key(wc))?.last_scale.clone()
    }

    fn last_measured(&self, wc: &WiberCluster) -> Option<(i32, i64)> {
        let memory = self.0.lock().expect("scaling memory lock");
        let sample = memory.get(&memory_key(wc))?.last_sample.as_ref()?;
        Some((sample.partitions, sample.total_lag))
    }

    fn scaled(&self, wc: &WiberCluster, at: Time, note: String) {
        let mut memory = self.0.lock().expect("scaling memory lock");
        if let Some(mem) = memory.get_mut(&memory_key(wc)) {
            mem.last_scale = Some((at, note));
        }
    }

    /// Drops the memory of WiberClusters that no longer exist, and their metric series unless a
    /// cluster of the same name has taken their place.
    pub fn forget_deleted(&self, metrics: &Metrics, present: &[Arc<WiberCluster>]) {
        let keys: HashSet<String> = present.iter().map(|wc| memory_key(wc)).collect();
        let names: HashSet<(String, String)> = present
            .iter()
            .map(|wc| (wc.namespace().unwrap_or_default(), wc.name_any()))
            .collect();
        let mut memory = self.0.lock().expect("scaling memory lock");
        memory.retain(|key, mem| {
            if keys.contains(key) {
                return true;
            }
            if !names.contains(&mem.cluster) {
                metrics.forget_cluster(&mem.cluster.0, &mem.cluster.1);
            }
            tracing::debug!(namespace = %mem.cluster.0, name = %mem.cluster.1, "forgot a deleted WiberCluster");
            false
        });
    }
}

pub fn policy(wc: &WiberCluster) -> Policy {
    let c = &wc.spec.consumers;
    Policy {
        min_replicas: c.min_replicas,
        max_replicas: c.max_replicas,
        target_lag_per_replica: c.target_lag_per_replica,
        scale_down_window: Duration::from_secs(c.scale_down_stabilization_seconds.max(0) as u64),
        target_drain: c
            .target_drain_seconds
            .map(|s| Duration::from_secs(s.max(1) as u64)),
    }
}

/// Decides the consumer replicas: the scaler's answer when lag is known, otherwise what runs.
pub fn scale(
    wc: &WiberCluster,
    scope: &Scope,
    observation: &Observation,
    memory: &Memory,
    metrics: &Metrics,
    now: u64,
) -> Scaling {
    let policy = policy(wc);
    let current = observation
        .consumer_replicas
        .unwrap_or(policy.min_replicas.max(i32::from(policy.max_replicas > 0)));
    let (last_scale_time, last_scale) = match memory.last_scale(wc) {
        Some((at, note)) => (Some(at), Some(note)),
        None => wc.status.as_ref().map_or((None, None), |s| {
            (
                s.consumers.last_scale_time.clone(),
                s.consumers.last_scale.clone(),
            )
        }),
    };
    let mut consumers = ConsumerStatus {
        current,
        desired: current,
        ready: 0,
        reason: None,
        last_scale_time,
        last_scale,
    };
    let Some(m) = &observation.kafka.lag else {
        return Scaling {
            consumers,
            measured: memory.last_measured(wc),
            event: None,
        };
    };
    let sample = LagSample {
        at: now,
        partitions: m.partitions.len() as i32,
        total_lag: m.total_lag,
        committed_total: m.committed_total,
    };
    let (decision, rate) = {
        let mut memory = memory.0.lock().expect("scaling memory lock");
        let mem = memory
            .entry(memory_key(wc))
            .or_insert_with(|| ClusterMemory {
                cluster: (scope.ns.clone(), scope.name.clone()),
                ..ClusterMemory::default()
            });
        let rate = mem
            .last_sample
            .as_ref()
            .and_then(|prev| scaling::consumption_rate(prev, &sample));
        let (recommended, capped) = scaling::recommend(&policy, &sample, current, rate);
        let decision = scaling::decide(&policy, current, recommended, capped, &mem.history, now);
        mem.history.push(Recommendation {
            at: now,
            replicas: recommended,
        });
        scaling::prune(&mut mem.history, policy.scale_down_window, now);
        mem.last_sample = Some(sample.clone());
        (decision, rate)
    };
    metrics.measured(
        &scope.ns,
        &scope.name,
        &ScalingFigures {
            lag: m.total_lag,
            partitions: sample.partitions,
            current,
            recommended: decision.recommended,
            desired: decision.desired,
            max: policy.max_replicas.min(sample.partitions),
            rate,
        },
    );
    consumers.desired = decision.desired;
    consumers.reason = Some(decision.reason.as_str().to_owned());
    let event = (decision.desired != current && observation.consumer_deployed).then(|| {
        let up = decision.reason == Reason::ScaleUp;
        metrics.scaled(&scope.ns, &scope.name, if up { "up" } else { "down" });
        let note = format!(
            "consumers {current} -> {}: lag {} over {} partitions (target {} per consumer{})",
            decision.desired,
            m.total_lag,
            sample.partitions,
            policy.target_lag_per_replica,
            if decision.capped_by_partitions {
                ", capped at the partition count"
            } else {
                ""
            },
        );
        let at = Time(jiff::Timestamp::now());
        memory.scaled(wc, at.clone(), note.clone());
        consumers.last_scale_time = Some(at);
        consumers.last_scale = Some(note.clone());
        ScaleEvent {
            reason: decision.reason,
            note,
        }
    });
    Scaling {
        consumers,
        measured: Some((sample.partitions, m.total_lag)),
        event,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::crd::WiberClusterSpec;

    fn cluster(name: &str, uid: &str) -> Arc<WiberCluster> {
        let spec: WiberClusterSpec = serde_json::from_value(json!({
            "kafka": {"bootstrapServers": "kafka:9092"},
            "mongodb": {"connectionSecret": {"name": "mongo"}},
        }))
        .unwrap();
        let mut wc = WiberCluster::new(name, spec);
        wc.metadata.namespace = Some("team-a".into());
        wc.metadata.uid = Some(uid.into());
        Arc::new(wc)
    }

    fn remember(memory: &Memory, metrics: &Metrics, name: &str, uid: &str) {
        memory.0.lock().unwrap().insert(
            uid.to_owned(),
            ClusterMemory {
                cluster: ("team-a".into(), name.into()),
                ..ClusterMemory::default()
            },
        );
        metrics.lag.with_label_values(&["team-a", name]).set(7);
        metrics.scaled("team-a", name, "up");
    }

    #[test]
    fn a_deleted_cluster_loses_its_memory_and_series_and_a_recreated_one_keeps_its_series() {
        let metrics = Metrics::new();
        let memory = Memory::default();
        remember(&memory, &metrics, "gone", "uid-gone");
        remember(&memory, &metrics, "kept", "uid-kept");
        remember(&memory, &metrics, "recreated", "uid-old");

        let present = [cluster("kept", "uid-kept"), cluster("recreated", "uid-new")];
        memory.forget_deleted(&metrics, &present);

        let memory = memory.0.lock().unwrap();
        let mut keys: Vec<&str> = memory.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["uid-kept"]);
        let (_, text) = wiber_common::metrics::render(&metrics.registry);
        assert!(!text.contains("name=\"gone\""), "{text}");
        assert!(text.contains("name=\"kept\""), "{text}");
        // Same namespace and name: the new cluster's series are its own, not stale.
        assert!(text.contains("name=\"recreated\""), "{text}");
    }
}
