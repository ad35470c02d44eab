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
use crate::crd::{WiberCluster, WiberClusterStatus};
use crate::resources::MANAGER;

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
mod tests {
    use serde_json::json;

    use super::*;
    use crate::controller::observe::KafkaObservation;
    use crate::crd::{ConsumerStatus, WiberClusterSpec};

    fn cluster(previous: Option<WiberClusterStatus>) -> WiberCluster {
        let spec: WiberClusterSpec = serde_json::from_value(json!({
            "kafka": {"bootstrapServers": "kafka:9092"},
            "mongodb": {"connectionSecret": {"name": "mongo"}},
        }))
        .unwrap();
        let mut wc = WiberCluster::new("chat", spec);
        wc.metadata.namespace = Some("team-a".into());
        wc.metadata.generation = Some(4);
        wc.status = previous;
        wc
    }

    fn observation(kafka: Observed, bootstrap: Option<&str>) -> Observation {
        Observation {
            consumer_replicas: Some(1),
            consumer_deployed: true,
            kafka: KafkaObservation {
                bootstrap: bootstrap.map(str::to_owned),
                condition: kafka,
                lag: None,
            },
            mongo: Observed::new(conditions::MONGO_READY, true, "SecretFound", "ok"),
            pod_monitor_crd: false,
        }
    }

    fn scaling(current: i32, desired: i32, measured: Option<(i32, i64)>) -> Scaling {
        Scaling {
            consumers: ConsumerStatus {
                current,
                desired,
                ready: 0,
                reason: None,
                last_scale_time: None,
            },
            measured,
            event: None,
        }
    }

    fn condition<'a>(status: &'a WiberClusterStatus, type_: &str) -> (&'a str, &'a str) {
        let c = status
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .unwrap_or_else(|| panic!("no {type_} condition"));
        (c.status.as_str(), c.reason.as_str())
    }

    #[test]
    fn every_part_ready_makes_the_cluster_ready_and_current_follows_the_decision() {
        let connected = Observed::new(conditions::KAFKA_READY, true, "Connected", "3 partitions");
        let status = build(
            &cluster(None),
            observation(connected, Some("kafka:9092")),
            scaling(1, 2, Some((3, 40))),
            Readiness {
                api: 1,
                consumers: 2,
            },
            Time(jiff::Timestamp::now()),
        );
        assert_eq!(
            condition(&status, conditions::READY),
            ("True", "AllComponentsReady")
        );
        assert_eq!(status.consumers.current, 2);
        assert_eq!(status.consumers.ready, 2);
        assert_eq!((status.lag, status.partitions), (Some(40), Some(3)));
        assert_eq!(status.observed_generation, Some(4));
        assert_eq!(status.bootstrap_servers.as_deref(), Some("kafka:9092"));
        assert_eq!(
            status.api_url.as_deref(),
            Some("http://chat-api.team-a.svc:8000"),
            "the Service's URL without an Ingress"
        );
    }

    #[test]
    fn an_unmeasured_reconcile_keeps_the_last_figures_and_ready_names_the_failing_part() {
        let previous = WiberClusterStatus {
            lag: Some(42),
            partitions: Some(6),
            ..WiberClusterStatus::default()
        };
        let unreachable = Observed::new(conditions::KAFKA_READY, false, "Unreachable", "down");
        let status = build(
            &cluster(Some(previous)),
            observation(unreachable, None),
            scaling(1, 1, None),
            Readiness {
                api: 1,
                consumers: 1,
            },
            Time(jiff::Timestamp::now()),
        );
        assert_eq!((status.lag, status.partitions), (Some(42), Some(6)));
        assert_eq!(
            condition(&status, conditions::READY),
            ("False", conditions::KAFKA_READY)
        );
        assert_eq!(
            condition(&status, conditions::KAFKA_READY),
            ("False", "Unreachable")
        );
        // Without Kafka's address nothing was applied, so what runs is still what ran.
        assert_eq!(status.consumers.current, 1);
        assert_eq!(status.bootstrap_servers, None);
    }

    #[test]
    fn no_ready_api_pod_is_reported_as_such() {
        let connected = Observed::new(conditions::KAFKA_READY, true, "Connected", "ok");
        let status = build(
            &cluster(None),
            observation(connected, Some("kafka:9092")),
            scaling(1, 1, Some((3, 0))),
            Readiness {
                api: 0,
                consumers: 1,
            },
            Time(jiff::Timestamp::now()),
        );
        assert_eq!(
            condition(&status, conditions::API_AVAILABLE),
            ("False", "NoReadyPods")
        );
        assert_eq!(condition(&status, conditions::READY).0, "False");
    }

    /// The status of a reconcile that found every part ready.
    fn reconciled_ready(wc: &WiberCluster) -> WiberClusterStatus {
        let connected = Observed::new(conditions::KAFKA_READY, true, "Connected", "ok");
        build(
            wc,
            observation(connected, Some("kafka:9092")),
            scaling(1, 1, Some((3, 0))),
            Readiness {
                api: 1,
                consumers: 1,
            },
            Time(jiff::Timestamp::now()),
        )
    }

    #[test]
    fn a_paused_cluster_keeps_its_last_status_and_says_it_is_paused() {
        let reconciled = reconciled_ready(&cluster(None));
        let mut wc = cluster(Some(reconciled.clone()));
        wc.metadata.generation = Some(5);
        let paused = paused(&wc, Time(jiff::Timestamp::now()));
        assert_eq!(
            condition(&paused, conditions::RECONCILIATION_PAUSED),
            ("True", "PauseAnnotation")
        );
        assert_eq!(
            paused.observed_generation,
            Some(4),
            "generation 5 was not acted on"
        );
        let pause = paused
            .conditions
            .iter()
            .find(|c| c.type_ == conditions::RECONCILIATION_PAUSED)
            .unwrap();
        assert_eq!(pause.observed_generation, Some(5), "seen, and held");
        assert_eq!(
            condition(&paused, conditions::READY),
            ("True", "AllComponentsReady")
        );
        assert_eq!(paused.conditions.len(), reconciled.conditions.len() + 1);
        // Paused again: still one pause condition, its transition time unchanged.
        let again = self::paused(&cluster(Some(paused.clone())), Time(jiff::Timestamp::now()));
        let pauses: Vec<_> = again
            .conditions
            .iter()
            .filter(|c| c.type_ == conditions::RECONCILIATION_PAUSED)
            .collect();
        assert_eq!(pauses.len(), 1);
        let first = paused
            .conditions
            .iter()
            .find(|c| c.type_ == conditions::RECONCILIATION_PAUSED)
            .unwrap();
        assert_eq!(pauses[0].last_transition_time, first.last_transition_time);
        // Resumed: a reconcile's status holds no pause condition.
        let resumed = reconciled_ready(&cluster(Some(again)));
        assert!(
            resumed
                .conditions
                .iter()
                .all(|c| c.type_ != conditions::RECONCILIATION_PAUSED)
        );
    }
}
