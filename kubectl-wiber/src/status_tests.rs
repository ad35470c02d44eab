use k8s_openapi::api::core::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

use super::*;

fn now() -> Timestamp {
    "2026-12-07T12:00:00Z".parse().unwrap()
}

fn cluster(status: serde_json::Value) -> WiberCluster {
    serde_json::from_value(json!({
        "apiVersion": "wiber.io/v1alpha1", "kind": "WiberCluster",
        "metadata": {"name": "chat", "namespace": "shop", "generation": 3,
                     "creationTimestamp": "2026-12-07T10:00:00Z"},
        "spec": {
            "kafka": {"bootstrapServers": "kafka:9092", "topic": {"name": "wiber.messages"}},
            "mongodb": {"connectionSecret": {"name": "mongo"}},
            "api": {"replicas": 2},
            "consumers": {"minReplicas": 1, "maxReplicas": 6},
        },
        "status": status,
    }))
    .unwrap()
}

fn event(reason: &str, message: &str, at: &str) -> Event {
    serde_json::from_value(json!({
        "metadata": {"name": format!("chat.{reason}"), "namespace": "shop"},
        "involvedObject": {"kind": "WiberCluster", "name": "chat"},
        "type": "Normal", "reason": reason, "message": message, "lastTimestamp": at,
    }))
    .unwrap()
}

fn condition(type_: &str, status: &str, reason: &str, message: &str) -> serde_json::Value {
    json!({"type": type_, "status": status, "reason": reason, "message": message,
           "lastTransitionTime": "2026-12-07T11:55:00Z", "observedGeneration": 3})
}

#[test]
fn a_ready_cluster_shows_its_conditions_figures_lagging_partitions_and_last_scaling() {
    let wc = cluster(json!({
        "observedGeneration": 3,
        "conditions": [
            condition("Ready", "True", "AllComponentsReady", "every part is ready"),
            condition("KafkaReady", "True", "Connected", "topic wiber.messages has 6 partitions"),
        ],
        "lag": 120, "partitions": 6,
        "laggingPartitions": [{"partition": 2, "lag": 80}, {"partition": 5, "lag": 40}],
        "deadLetters": 3,
        "apiReadyReplicas": 2,
        "consumers": {"current": 3, "desired": 3, "ready": 3, "reason": "ScaleUp",
                      "lastScaleTime": "2026-12-07T11:57:00Z"},
        "bootstrapServers": "kafka:9092",
        "apiUrl": "http://chat-api.shop.svc:8000",
    }));
    let events = [
        event(
            "ScaleUp",
            "consumers 1 -> 3: lag 120 over 6 partitions",
            "2026-12-07T11:57:00Z",
        ),
        event("KafkaReady", "older", "2026-12-07T11:00:00Z"),
    ];
    let text = render(&wc, &events, now());
    for line in [
        "WiberCluster shop/chat: Ready True (AllComponentsReady)",
        "Generation:   3, acted on",
        "  KafkaReady  True    Connected           5m     topic wiber.messages has 6 partitions",
        "API:          2 of 2 ready, at http://chat-api.shop.svc:8000",
        "Consumers:    3 ready, 3 running, 3 wanted (1 to 6); ScaleUp, last scaled 3m ago",
        "Kafka:        kafka:9092, topic wiber.messages: 6 partitions, lag 120",
        "  lagging:    partition 2: 80, partition 5: 40",
        "Dead letters: 3 retained in wiber.messages.dlq",
        "Last scaling: 3m ago: consumers 1 -> 3: lag 120 over 6 partitions",
        "  3m   Normal  ScaleUp     consumers 1 -> 3: lag 120 over 6 partitions",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "no line {line:?} in:\n{text}"
        );
    }
}

#[test]
fn a_cluster_the_operator_has_not_caught_up_with_says_so_and_unknown_figures_are_not_zero() {
    let wc = cluster(json!({"observedGeneration": 2, "conditions": [
        condition("Ready", "False", "KafkaReady", "Kafka unreachable"),
    ]}));
    let text = render(&wc, &[], now());
    assert!(
        text.starts_with("WiberCluster shop/chat: Ready False (KafkaReady)\n"),
        "{text}"
    );
    assert!(
        text.contains("Generation:   3, the operator has acted on 2 only\n"),
        "{text}"
    );
    assert!(text.contains("partitions unknown, lag unknown"), "{text}");
    assert!(
        text.contains("Dead letters: not measured yet (wiber.messages.dlq)"),
        "{text}"
    );
    assert!(!text.contains("lagging:"), "{text}");
    assert!(text.contains("none recorded"), "{text}");
}

#[test]
fn the_list_has_one_line_per_cluster_and_a_new_one_is_not_reconciled_yet() {
    let mut fresh = cluster(json!(null));
    fresh.metadata.name = Some("new".into());
    fresh.metadata.creation_timestamp = Some(Time(now()));
    let ready = cluster(json!({
        "conditions": [condition("Ready", "True", "AllComponentsReady", "")],
        "lag": 0, "partitions": 3, "deadLetters": 0, "apiReadyReplicas": 2,
        "consumers": {"current": 1, "desired": 1, "ready": 1},
    }));
    let text = render_list(&[ready, fresh], now(), false);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("NAME  READY    REASON"), "{text}");
    let cells = |l: &str| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(
        cells(lines[1]),
        [
            "chat",
            "True",
            "AllComponentsReady",
            "2/2",
            "1/1",
            "3",
            "0",
            "0",
            "2h"
        ]
    );
    assert_eq!(
        cells(lines[2]),
        [
            "new",
            "Unknown",
            "NotReconciled",
            "0/2",
            "0/0",
            "unknown",
            "unknown",
            "unknown",
            "0s"
        ]
    );
}

#[test]
fn the_list_of_every_namespace_leads_with_the_namespace() {
    let mut other = cluster(json!(null));
    other.metadata.namespace = Some("chat-eu".into());
    let text = render_list(&[cluster(json!(null)), other], now(), true);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("NAMESPACE  NAME  READY"), "{text}");
    let first = |l: &str| {
        l.split_whitespace()
            .take(2)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(first(lines[1]), ["shop", "chat"], "{text}");
    assert_eq!(first(lines[2]), ["chat-eu", "chat"], "{text}");
}

#[test]
fn the_last_scaling_comes_from_the_status_once_its_event_has_expired() {
    let wc = cluster(json!({
        "consumers": {"current": 4, "desired": 4, "ready": 4, "reason": "Steady",
                      "lastScaleTime": "2026-12-07T09:00:00Z",
                      "lastScale": "consumers 3 -> 4: lag 4000 over 6 partitions (target 1000 per consumer)"},
    }));
    let text = render(&wc, &[], now());
    assert!(
        text.lines().any(|l| l
            == "Last scaling: 3h ago: consumers 3 -> 4: lag 4000 over 6 partitions (target 1000 per consumer)"),
        "{text}"
    );
}
