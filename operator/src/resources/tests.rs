//! The desired objects, checked field by field without a cluster.

use k8s_openapi::api::core::v1::{PodSpec, SecretVolumeSource};

use super::*;
use crate::crd::{SecretKeyRef, WiberClusterSpec};
use crate::kafka_access::{CA_DIR as KAFKA_CA_DIR, CLIENT_DIR as KAFKA_CLIENT_DIR};

pub(super) fn cluster(spec_json: serde_json::Value) -> WiberCluster {
    let spec: WiberClusterSpec = serde_json::from_value(spec_json).unwrap();
    let mut wc = WiberCluster::new("chat", spec);
    wc.metadata.namespace = Some("team-a".into());
    wc.metadata.uid = Some("1234-uid".into());
    wc
}

pub(super) fn plain() -> WiberCluster {
    cluster(json!({
        "kafka": { "bootstrapServers": "kafka:9092" },
        "mongodb": { "connectionSecret": { "name": "mongo" } }
    }))
}

pub(super) fn inputs(replicas: i32) -> Inputs {
    Inputs {
        bootstrap_servers: "kafka:9092".into(),
        consumer_replicas: replicas,
        pod_monitor: false,
    }
}

#[test]
fn defaults_fill_an_almost_empty_spec() {
    let wc = plain();
    assert_eq!(wc.spec.api.replicas, 2);
    assert_eq!(wc.spec.kafka.topic.partitions, 3);
    assert_eq!(wc.spec.kafka.topic.replicas, 3);
    assert_eq!(wc.spec.kafka.topic.retention_hours, 168);
    assert_eq!(wc.spec.consumers.min_replicas, 1);
    assert_eq!(
        wc.spec.mongodb.connection_secret,
        SecretKeyRef {
            name: "mongo".into(),
            key: "connectionString.standard".into()
        }
    );
}

#[test]
fn every_object_is_owned_labelled_and_namespaced() {
    let d = desired(&plain(), &inputs(2));
    let metas = [
        &d.service_account.metadata,
        &d.config.metadata,
        &d.api.metadata,
        &d.api_service.metadata,
        &d.consumer.metadata,
    ];
    for m in metas
        .into_iter()
        .chain(d.disruption_budgets.iter().map(|p| &p.metadata))
    {
        let owner = &m.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.controller),
            ("WiberCluster", "chat", Some(true))
        );
        assert_eq!(m.namespace.as_deref(), Some("team-a"));
        let labels = m.labels.as_ref().unwrap();
        assert_eq!(labels["app.kubernetes.io/managed-by"], MANAGER);
        assert_eq!(labels["app.kubernetes.io/instance"], "chat");
    }
}

fn secured(authentication: serde_json::Value) -> WiberCluster {
    cluster(json!({
        "kafka": {
            "bootstrapServers": "kafka:9093",
            "tls": { "trustedCertificate": { "secretName": "kafka-cluster-ca-cert" } },
            "authentication": authentication,
        },
        "mongodb": { "connectionSecret": { "name": "mongo" } }
    }))
}

/// The API pods' configuration hash for `wc`.
pub(super) fn hash(wc: &WiberCluster) -> String {
    let d = desired(wc, &inputs(1));
    d.api
        .spec
        .unwrap()
        .template
        .metadata
        .unwrap()
        .annotations
        .unwrap()["wiber.io/config-hash"]
        .clone()
}

pub(super) fn pod(d: &Deployment) -> &PodSpec {
    d.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
}

pub(super) fn pod_meta(d: &Deployment) -> &ObjectMeta {
    d.spec.as_ref().unwrap().template.metadata.as_ref().unwrap()
}

pub(super) fn secret_volume<'a>(pod: &'a PodSpec, name: &str) -> &'a SecretVolumeSource {
    pod.volumes
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| v.name == name)
        .and_then(|v| v.secret.as_ref())
        .unwrap_or_else(|| panic!("{name} volume"))
}

#[test]
fn scram_credentials_and_the_cluster_ca_reach_both_pods_from_their_secrets() {
    let wc = secured(json!({
        "type": "scram-sha-512",
        "username": "wiber",
        "passwordSecret": { "secretName": "wiber" }
    }));
    let d = desired(&wc, &inputs(1));
    let data = d.config.data.as_ref().unwrap();
    assert_eq!(data["KAFKA_SECURITY_PROTOCOL"], "sasl_ssl");
    assert_eq!(data["KAFKA_SASL_MECHANISM"], "SCRAM-SHA-512");
    assert_eq!(data["KAFKA_SASL_USERNAME"], "wiber");
    assert_eq!(
        data["KAFKA_SSL_CA_LOCATION"],
        format!("{KAFKA_CA_DIR}/ca.crt")
    );
    assert!(
        !data.contains_key("KAFKA_SASL_PASSWORD"),
        "no secret in a ConfigMap"
    );
    assert!(!data.contains_key("KAFKA_SSL_KEY_LOCATION"));
    for deployment in [&d.api, &d.consumer] {
        let pod = pod(deployment);
        let c = &pod.containers[0];
        let password = c
            .env
            .as_ref()
            .unwrap()
            .iter()
            .find(|e| e.name == "KAFKA_SASL_PASSWORD")
            .and_then(|e| e.value_from.as_ref()?.secret_key_ref.as_ref())
            .expect("KAFKA_SASL_PASSWORD from a Secret");
        assert_eq!(
            (password.name.as_str(), password.key.as_str()),
            ("wiber", "password")
        );
        let ca = secret_volume(pod, "kafka-ca");
        assert_eq!(ca.secret_name.as_deref(), Some("kafka-cluster-ca-cert"));
        let items = ca.items.as_ref().unwrap();
        assert_eq!(
            (items[0].key.as_str(), items[0].path.as_str()),
            ("ca.crt", "ca.crt")
        );
        let mount = c
            .volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.name == "kafka-ca")
            .expect("kafka-ca mount");
        assert_eq!(mount.mount_path, KAFKA_CA_DIR);
        assert_eq!(mount.read_only, Some(true));
    }
}

#[test]
fn mutual_tls_mounts_the_client_certificate_and_key_under_fixed_names() {
    let wc = secured(json!({
        "type": "tls",
        "certificateAndKey": { "secretName": "wiber-user", "key": "tls.key", "certificate": "tls.crt" }
    }));
    let d = desired(&wc, &inputs(1));
    let data = d.config.data.as_ref().unwrap();
    assert_eq!(data["KAFKA_SECURITY_PROTOCOL"], "ssl");
    assert!(!data.contains_key("KAFKA_SASL_USERNAME"));
    assert_eq!(
        data["KAFKA_SSL_CERTIFICATE_LOCATION"],
        format!("{KAFKA_CLIENT_DIR}/user.crt")
    );
    assert_eq!(
        data["KAFKA_SSL_KEY_LOCATION"],
        format!("{KAFKA_CLIENT_DIR}/user.key")
    );
    let pod = pod(&d.consumer);
    let client = secret_volume(pod, "kafka-client");
    let items: Vec<(&str, &str)> = client
        .items
        .as_ref()
        .unwrap()
        .iter()
        .map(|i| (i.key.as_str(), i.path.as_str()))
        .collect();
    assert_eq!(items, [("tls.crt", "user.crt"), ("tls.key", "user.key")]);
    assert_eq!(client.default_mode, Some(0o440));
    assert!(
        !pod.containers[0]
            .env
            .as_ref()
            .unwrap()
            .iter()
            .any(|e| e.name == "KAFKA_SASL_PASSWORD")
    );
}

#[test]
fn plaintext_needs_no_credentials_and_another_secret_rolls_the_pods() {
    let d = desired(&plain(), &inputs(1));
    assert_eq!(
        d.config.data.as_ref().unwrap()["KAFKA_SECURITY_PROTOCOL"],
        "plaintext"
    );
    assert_eq!(pod(&d.api).volumes.as_ref().unwrap().len(), 1, "only /tmp");
    let scram = |secret: &str| {
        secured(json!({
            "type": "scram-sha-512",
            "username": "wiber",
            "passwordSecret": { "secretName": secret }
        }))
    };
    assert_eq!(hash(&scram("wiber")), hash(&scram("wiber")));
    assert_ne!(hash(&scram("wiber")), hash(&scram("wiber-rotated")));
}

#[test]
fn pods_are_locked_down_and_probed() {
    let d = desired(&plain(), &inputs(1));
    for (deployment, port) in [(&d.api, "admin"), (&d.consumer, "metrics")] {
        let pod = pod(deployment);
        let c = &pod.containers[0];
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.run_as_non_root, Some(true));
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(
            sc.capabilities.as_ref().unwrap().drop.as_ref().unwrap(),
            &["ALL"]
        );
        let ready = c
            .readiness_probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap();
        assert_eq!(ready.path.as_deref(), Some("/health/readiness"));
        assert_eq!(ready.port, IntOrString::String(port.into()));
        assert!(c.resources.as_ref().unwrap().requests.is_some());
        assert_eq!(pod.automount_service_account_token, Some(false));
    }
}

#[test]
fn selectors_are_stable_and_match_the_pod_labels() {
    let d = desired(&plain(), &inputs(3));
    let spec = d.consumer.spec.unwrap();
    let selector = spec.selector.match_labels.unwrap();
    assert_eq!(
        selector.len(),
        3,
        "selectors never include the version, so upgrades keep them"
    );
    let pod_labels = spec.template.metadata.unwrap().labels.unwrap();
    assert!(selector.iter().all(|(k, v)| pod_labels.get(k) == Some(v)));
    assert_eq!(spec.replicas, Some(3));
}

#[test]
fn a_config_change_rolls_the_pods_and_a_replica_change_does_not() {
    let hash = |d: &Desired| {
        pod_meta(&d.api).annotations.as_ref().unwrap()["wiber.io/config-hash"].clone()
    };
    let base = desired(&plain(), &inputs(1));
    assert_eq!(hash(&base), hash(&desired(&plain(), &inputs(4))));
    let mut moved = inputs(1);
    moved.bootstrap_servers = "other:9092".into();
    assert_ne!(hash(&base), hash(&desired(&plain(), &moved)));
}

#[test]
fn disruption_budgets_follow_replicas() {
    assert_eq!(
        desired(&plain(), &inputs(1)).disruption_budgets.len(),
        1,
        "API only"
    );
    let d = desired(&plain(), &inputs(4));
    let consumer = d
        .disruption_budgets
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some("chat-consumer"))
        .unwrap();
    assert_eq!(
        consumer.spec.as_ref().unwrap().min_available,
        Some(IntOrString::Int(3))
    );
}

#[test]
fn scheduling_constraints_reach_both_pod_templates() {
    let wc = cluster(json!({
        "kafka": { "bootstrapServers": "kafka:9092" },
        "mongodb": { "connectionSecret": { "name": "mongo" } },
        "scheduling": {
            "nodeSelector": { "pool": "wiber" },
            "tolerations": [{ "key": "dedicated", "operator": "Equal", "value": "wiber", "effect": "NoSchedule" }]
        }
    }));
    let d = desired(&wc, &inputs(1));
    for deployment in [&d.api, &d.consumer] {
        let pod = pod(deployment);
        assert_eq!(pod.node_selector.as_ref().unwrap()["pool"], "wiber");
        assert_eq!(
            pod.tolerations.as_ref().unwrap()[0].key.as_deref(),
            Some("dedicated")
        );
    }
    let plain_pod = desired(&plain(), &inputs(1))
        .api
        .spec
        .unwrap()
        .template
        .spec
        .unwrap();
    assert!(plain_pod.node_selector.is_none() && plain_pod.tolerations.is_none());
}

#[test]
fn pod_monitor_only_when_the_crd_exists() {
    assert!(desired(&plain(), &inputs(1)).pod_monitor.is_none());
    let mut i = inputs(1);
    i.pod_monitor = true;
    let m = desired(&plain(), &i).pod_monitor.unwrap();
    let ports: Vec<&str> = m.data["spec"]["podMetricsEndpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["port"].as_str().unwrap())
        .collect();
    assert_eq!(ports, ["admin", "metrics"]);
}

#[test]
fn the_api_service_exposes_the_message_port_and_not_the_admin_port() {
    let d = desired(&plain(), &inputs(1));
    let ports = d.api_service.spec.unwrap().ports.unwrap();
    let targets: Vec<_> = ports.iter().map(|p| p.target_port.clone()).collect();
    assert_eq!(targets, [Some(IntOrString::String("http".into()))]);
    let container = &pod(&d.api).containers[0];
    let named: Vec<(String, i32)> = container
        .ports
        .as_ref()
        .unwrap()
        .iter()
        .map(|p| (p.name.clone().unwrap(), p.container_port))
        .collect();
    assert_eq!(
        named,
        [
            ("http".to_owned(), API_PORT),
            ("admin".to_owned(), API_ADMIN_PORT)
        ]
    );
    let config = d.config.data.unwrap();
    assert_eq!(config["API_ADMIN_PORT"], API_ADMIN_PORT.to_string());
}

#[test]
fn telemetry_sends_both_pods_traces_to_the_collector_only_when_asked() {
    let config = |wc: &WiberCluster| desired(wc, &inputs(1)).config.data.unwrap();
    let off = config(&plain());
    assert!(!off.keys().any(|k| k.starts_with("OTEL_")), "{off:?}");
    let traced = cluster(json!({
        "kafka": { "bootstrapServers": "kafka:9092" },
        "mongodb": { "connectionSecret": { "name": "mongo" } },
        "telemetry": { "otlpEndpoint": "http://otel-collector.monitoring:4318" }
    }));
    let on = config(&traced);
    assert_eq!(
        (
            on["OTEL_EXPORTER_OTLP_ENDPOINT"].as_str(),
            on["OTEL_EXPORTER_OTLP_PROTOCOL"].as_str()
        ),
        ("http://otel-collector.monitoring:4318", "http/protobuf")
    );
    assert_ne!(
        hash(&traced),
        hash(&plain()),
        "turning traces on rolls the pods"
    );
}
