//! `spec.template`, `spec.image.digest` and `spec.monitoring` in the objects built, without a
//! cluster.

use super::tests::{cluster, inputs, pod, pod_meta};
use super::*;
use crate::crd::RESERVED_ENV;

fn templated(template: serde_json::Value) -> WiberCluster {
    cluster(json!({
        "kafka": { "bootstrapServers": "kafka:9092" },
        "mongodb": { "connectionSecret": { "name": "mongo" } },
        "template": template,
    }))
}

#[test]
fn a_pod_template_reaches_its_component_only_and_the_operators_labels_win() {
    let wc = templated(json!({
        "api": {
            "metadata": {
                "labels": {"team": "chat", "app.kubernetes.io/instance": "someone-else"},
                "annotations": {"sidecar.istio.io/inject": "false"},
            },
            "imagePullSecrets": [{"name": "registry"}],
            "priorityClassName": "high",
            "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                "weight": 100,
                "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname"},
            }]}},
            "topologySpreadConstraints": [{
                "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
            }],
            "env": [{"name": "RUST_LOG", "value": "debug"}],
        },
    }));
    let d = desired(&wc, &inputs(1));
    let template = d.api.spec.as_ref().unwrap().template.clone();
    let meta = template.metadata.unwrap();
    let labels = meta.labels.unwrap();
    assert_eq!(labels["team"], "chat");
    assert_eq!(
        labels["app.kubernetes.io/instance"], "chat",
        "selectors stay the operator's"
    );
    let annotations = meta.annotations.unwrap();
    assert_eq!(annotations["sidecar.istio.io/inject"], "false");
    assert!(annotations.contains_key("wiber.io/config-hash"));
    let api = pod(&d.api);
    assert_eq!(api.image_pull_secrets.as_ref().unwrap()[0].name, "registry");
    assert_eq!(api.priority_class_name.as_deref(), Some("high"));
    assert!(api.affinity.as_ref().unwrap().pod_anti_affinity.is_some());
    assert_eq!(
        api.topology_spread_constraints.as_ref().unwrap()[0].max_skew,
        1
    );
    let env = api.containers[0].env.as_ref().unwrap();
    assert_eq!(env.last().unwrap().name, "RUST_LOG");
    assert!(
        env.iter().any(|e| e.name == "MONGO_URI"),
        "the Secret's env stays"
    );

    let consumer = pod(&d.consumer);
    assert!(consumer.image_pull_secrets.is_none() && consumer.priority_class_name.is_none());
    assert!(consumer.affinity.is_none());
    assert!(
        !pod_meta(&d.consumer)
            .labels
            .as_ref()
            .unwrap()
            .contains_key("team")
    );
}

#[test]
fn the_api_service_takes_the_templates_metadata() {
    let wc = templated(json!({
        "apiService": {
            "labels": {"exposed": "yes", "app.kubernetes.io/component": "other"},
            "annotations": {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"},
        },
    }));
    let service = desired(&wc, &inputs(1)).api_service.metadata;
    let labels = service.labels.unwrap();
    assert_eq!(labels["exposed"], "yes");
    assert_eq!(labels["app.kubernetes.io/component"], "api");
    assert_eq!(
        service.annotations.unwrap()["service.beta.kubernetes.io/aws-load-balancer-type"],
        "nlb"
    );
}

#[test]
fn the_env_a_template_may_not_set_is_exactly_what_comes_from_secrets() {
    let wc = cluster(json!({
        "kafka": {
            "bootstrapServers": "kafka:9093",
            "tls": {},
            "authentication": {"type": "scram-sha-512", "username": "wiber",
                               "passwordSecret": {"secretName": "wiber-user"}},
        },
        "mongodb": { "connectionSecret": { "name": "mongo" } },
    }));
    let d = desired(&wc, &inputs(1));
    let mut from_secrets: Vec<String> = pod(&d.consumer).containers[0]
        .env
        .as_ref()
        .unwrap()
        .iter()
        .filter(|e| e.value_from.is_some())
        .map(|e| e.name.clone())
        .collect();
    from_secrets.sort();
    let mut reserved: Vec<String> = RESERVED_ENV.iter().map(|s| (*s).to_owned()).collect();
    reserved.sort();
    assert_eq!(from_secrets, reserved);
}

#[test]
fn a_digest_pins_the_image_of_both_components() {
    let digest = format!("sha256:{}", "ab".repeat(32));
    let wc = cluster(json!({
        "kafka": { "bootstrapServers": "kafka:9092" },
        "mongodb": { "connectionSecret": { "name": "mongo" } },
        "image": {"tag": "0.1.0", "digest": digest},
    }));
    let d = desired(&wc, &inputs(1));
    for deployment in [&d.api, &d.consumer] {
        assert_eq!(
            pod(deployment).containers[0].image.as_deref(),
            Some(format!("ghcr.io/wiber-io/wiber@{digest}").as_str())
        );
    }
}

#[test]
fn the_pod_monitor_takes_the_specs_labels_and_interval() {
    let wc = cluster(json!({
        "kafka": { "bootstrapServers": "kafka:9092" },
        "mongodb": { "connectionSecret": { "name": "mongo" } },
        "monitoring": {
            "podMonitorLabels": {"release": "kube-prometheus-stack", "app.kubernetes.io/name": "x"},
            "scrapeInterval": "15s",
        },
    }));
    let mut with_crd = inputs(1);
    with_crd.pod_monitor = true;
    let monitor = desired(&wc, &with_crd).pod_monitor.expect("a PodMonitor");
    let labels = monitor.metadata.labels.unwrap();
    assert_eq!(labels["release"], "kube-prometheus-stack");
    assert_eq!(
        labels["app.kubernetes.io/name"], "wiber",
        "the operator's labels win"
    );
    for endpoint in monitor.data["spec"]["podMetricsEndpoints"]
        .as_array()
        .unwrap()
    {
        assert_eq!(endpoint["interval"], "15s");
        assert_eq!(
            endpoint["relabelings"][0]["targetLabel"], "wibercluster",
            "every series names its WiberCluster"
        );
    }
    let plain = desired(&super::tests::plain(), &with_crd)
        .pod_monitor
        .unwrap();
    assert!(
        plain.data["spec"]["podMetricsEndpoints"][0]
            .get("interval")
            .is_none()
    );
}
