//! The status stage's pure build, without a cluster.

use serde_json::json;

use super::*;
use crate::controller::observe::KafkaObservation;
use crate::crd::{ConsumerStatus, WiberClusterSpec};
use crate::lag::{Measurement, PartitionLag};

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
            last_scale: None,
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
    let mut observed = observation(connected, Some("kafka:9092"));
    let lag = |partition, lag| PartitionLag {
        partition,
        lag,
        committed: true,
    };
    observed.kafka.lag = Some(Measurement {
        partitions: vec![lag(0, 10), lag(1, 0), lag(2, 30)],
        total_lag: 40,
        committed_total: 0,
        dead_letters: Some(2),
    });
    let status = build(
        &cluster(None),
        observed,
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
    let lagging: Vec<_> = status
        .lagging_partitions
        .iter()
        .map(|p| (p.partition, p.lag))
        .collect();
    assert_eq!(lagging, [(2, 30), (0, 10)], "most first, none without lag");
    assert_eq!(status.dead_letters, Some(2));
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
        lagging_partitions: vec![PartitionLagStatus {
            partition: 5,
            lag: 42,
        }],
        dead_letters: Some(3),
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
    assert_eq!(status.lagging_partitions[0].lag, 42);
    assert_eq!(status.dead_letters, Some(3));
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
