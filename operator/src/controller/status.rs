//! Stage 5, status: conditions and figures from what the cluster reports after the apply, written
//! with server-side apply like every child object, and events for scaling and for turning unready.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::observe::Observation;
use super::scale::Scaling;
use super::{Error, Scope};
use crate::conditions::{self, Observed};
use crate::crd::{PartitionLagStatus, WiberCluster, WiberClusterStatus};
use crate::resources::MANAGER;

/// How many of the most lagging partitions the status names: enough to see where a backlog is,
/// bounded for topics of thousands of partitions.
const LAGGING_PARTITIONS_SHOWN: usize = 10;

/// Ready replicas the cluster reports once the objects are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    pub api: i32,
    pub consumers: i32,
}

/// The new status (pure): observed conditions merged into the previous ones, figures that were not
/// measured this time kept from before.
pub fn build(
    wc: &WiberCluster,
    observation: Observation,
    scaling: Scaling,
    ready: Readiness,
    now: Time,
) -> WiberClusterStatus {
    let mut consumers = scaling.consumers;
    consumers.ready = ready.consumers;
    if observation.kafka.bootstrap.is_some() {
        // The Deployment was applied with the decision.
        consumers.current = consumers.desired;
    }
    let api_ok = wc.spec.api.replicas == 0 || ready.api >= 1;
    let consumers_ok = consumers.desired == 0 || ready.consumers >= consumers.desired.min(1);
    let available = |type_, ok: bool, message: String| {
        let reason = if ok {
            "MinimumReplicasAvailable"
        } else {
            "NoReadyPods"
        };
        Observed::new(type_, ok, reason, message)
    };
    let parts = vec![
        observation.kafka.condition,
        observation.mongo,
        available(
            conditions::API_AVAILABLE,
            api_ok,
            format!("{} of {} API pods ready", ready.api, wc.spec.api.replicas),
        ),
        available(
            conditions::CONSUMERS_AVAILABLE,
            consumers_ok,
            format!(
                "{} of {} consumer pods ready",
                ready.consumers, consumers.desired
            ),
        ),
    ];
    let mut observed = vec![conditions::ready(&parts)];
    observed.extend(parts);
    let previous = wc.status.as_ref();
    let measured = observation.kafka.lag.as_ref();
    let lagging_partitions = match measured {
        Some(m) => m
            .most_lagging(LAGGING_PARTITIONS_SHOWN)
            .into_iter()
            .map(|p| PartitionLagStatus {
                partition: p.partition,
                lag: p.lag,
            })
            .collect(),
        None => previous.map_or_else(Vec::new, |s| s.lagging_partitions.clone()),
    };
    let dead_letters = measured
        .and_then(|m| m.dead_letters)
        .or_else(|| previous?.dead_letters);
    WiberClusterStatus {
        observed_generation: wc.metadata.generation,
        conditions: conditions::merge(
            &previous.map(|s| s.conditions.clone()).unwrap_or_default(),
            &observed,
            wc.metadata.generation,
            &now,
        ),
        lag: scaling
            .measured
            .map(|(_, lag)| lag)
            .or_else(|| previous?.lag),
        partitions: scaling
            .measured
            .map(|(partitions, _)| partitions)
            .or_else(|| previous?.partitions),
        lagging_partitions,
        dead_letters,
        api_ready_replicas: ready.api,
        consumers,
        bootstrap_servers: observation.kafka.bootstrap,
        api_url: Some(crate::resources::api_url(wc)),
    }
}

/// The status while the pause annotation is set (pure): everything as last reconciled, including
/// `observedGeneration` (the newer spec has not been acted on), plus `ReconciliationPaused`, whose
/// own `observedGeneration` is the generation it was set upon.
pub fn paused(wc: &WiberCluster, now: Time) -> WiberClusterStatus {
    let mut status = wc.status.clone().unwrap_or_default();
    let pause = Observed::new(
        conditions::RECONCILIATION_PAUSED,
        true,
        "PauseAnnotation",
        format!(
            "{}=true: the operator changes nothing until the annotation is removed",
            crate::crd::PAUSE_ANNOTATION
        ),
    );
    let merged = conditions::merge(&status.conditions, &[pause], wc.metadata.generation, &now);
    status
        .conditions
        .retain(|c| c.type_ != conditions::RECONCILIATION_PAUSED);
    status.conditions.extend(merged);
    status
}

pub async fn write(scope: &Scope, status: &WiberClusterStatus) -> Result<(), Error> {
    let clusters: Api<WiberCluster> = scope.api();
    let patch = json!({
        "apiVersion": WiberCluster::api_version(&()),
        "kind": WiberCluster::kind(&()),
        "status": status,
    });
    clusters
        .patch_status(
            &scope.name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
        .map(|_| ())
        .map_err(Error::Status)
}

/// A Warning event when the cluster turns unready (or starts out so), naming why.
pub async fn announce(recorder: &Recorder, wc: &WiberCluster, status: &WiberClusterStatus) {
    let was_ready = wc.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == conditions::READY && c.status == "True")
    });
    let Some(ready) = status
        .conditions
        .iter()
        .find(|c| c.type_ == conditions::READY)
    else {
        return;
    };
    let first = wc.status.as_ref().is_none_or(|s| s.conditions.is_empty());
    if ready.status != "True" && (was_ready || first) {
        let reason = ready.reason.clone();
        publish(
            recorder,
            wc,
            EventType::Warning,
            &reason,
            "Reconcile",
            ready.message.clone(),
        )
        .await;
    }
}

pub async fn publish(
    recorder: &Recorder,
    wc: &WiberCluster,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(note),
        action: action.to_owned(),
        secondary: None,
    };
    if let Err(e) = recorder.publish(&event, &wc.object_ref(&())).await {
        tracing::warn!(namespace = ?wc.namespace(), name = %wc.name_any(), error = %e, "cannot record event");
    }
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
