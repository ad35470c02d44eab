//! The objects a WiberCluster wants, computed by pure functions: spec in, k8s-openapi structs out.
//! Nothing here talks to a cluster; `reconcile` applies the result with server-side apply.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapEnvSource, Container, ContainerPort, EmptyDirVolumeSource,
    EnvFromSource, EnvVar, EnvVarSource, HTTPGetAction, KeyToPath, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile, SecretKeySelector,
    SecretVolumeSource, SecurityContext, Service, ServiceAccount, ServicePort, ServiceSpec, Volume,
    VolumeMount,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::crd::WiberCluster;

pub const MANAGER: &str = "wiber-operator";
pub const API_PORT: i32 = 8000;
pub const CONSUMER_PORT: i32 = 8001;
/// The image's non-root user (distroless "nonroot").
pub const RUN_AS_USER: i64 = 65532;
/// Where the pods find the Kafka CA certificate and the client certificate and key.
pub const KAFKA_CA_DIR: &str = "/etc/wiber/kafka-ca";
pub const KAFKA_CLIENT_DIR: &str = "/etc/wiber/kafka-client";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    Api,
    Consumer,
}

impl Component {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Consumer => "consumer",
        }
    }
}

/// What the reconcile resolved from the cluster, needed to build the objects.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    pub bootstrap_servers: String,
    pub consumer_replicas: i32,
    /// Create a PodMonitor (the Prometheus Operator's CRD exists).
    pub pod_monitor: bool,
}

/// Everything one WiberCluster wants to exist.
#[derive(Debug, Clone)]
pub struct Desired {
    pub service_account: ServiceAccount,
    pub config: ConfigMap,
    pub api: Deployment,
    pub api_service: Service,
    pub consumer: Deployment,
    pub disruption_budgets: Vec<PodDisruptionBudget>,
    /// Strimzi KafkaTopics (messages and dead letters), in Strimzi mode only.
    pub kafka_topics: Vec<DynamicObject>,
    pub pod_monitor: Option<DynamicObject>,
}

pub fn name(wc: &WiberCluster, suffix: &str) -> String {
    format!("{}-{suffix}", wc.name_any())
}

pub fn selector_labels(wc: &WiberCluster, component: Component) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), "wiber".to_owned()),
        ("app.kubernetes.io/instance".to_owned(), wc.name_any()),
        (
            "app.kubernetes.io/component".to_owned(),
            component.as_str().to_owned(),
        ),
    ])
}

fn labels(wc: &WiberCluster, component: Option<Component>) -> BTreeMap<String, String> {
    let mut l = BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), "wiber".to_owned()),
        ("app.kubernetes.io/instance".to_owned(), wc.name_any()),
        ("app.kubernetes.io/part-of".to_owned(), "wiber".to_owned()),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            MANAGER.to_owned(),
        ),
        (
            "app.kubernetes.io/version".to_owned(),
            wc.spec.image.tag.clone(),
        ),
    ]);
    if let Some(c) = component {
        l.insert(
            "app.kubernetes.io/component".to_owned(),
            c.as_str().to_owned(),
        );
    }
    l
}

fn owner(wc: &WiberCluster) -> OwnerReference {
    wc.controller_owner_ref(&())
        .expect("a stored WiberCluster has a name and uid")
}

fn meta(wc: &WiberCluster, name: String, component: Option<Component>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: wc.namespace(),
        labels: Some(labels(wc, component)),
        owner_references: Some(vec![owner(wc)]),
        ..ObjectMeta::default()
    }
}

fn default_resources() -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_owned(), Quantity("100m".to_owned())),
            ("memory".to_owned(), Quantity("128Mi".to_owned())),
        ])),
        limits: Some(BTreeMap::from([(
            "memory".to_owned(),
            Quantity("512Mi".to_owned()),
        )])),
        ..ResourceRequirements::default()
    }
}

fn config_data(wc: &WiberCluster, inputs: &Inputs) -> BTreeMap<String, String> {
    let s = &wc.spec;
    BTreeMap::from([
        (
            "KAFKA_BOOTSTRAP_SERVERS".to_owned(),
            inputs.bootstrap_servers.clone(),
        ),
        ("KAFKA_TOPIC".to_owned(), s.kafka.topic.name.clone()),
        (
            "KAFKA_CONSUMER_GROUP".to_owned(),
            s.kafka.consumer_group.clone(),
        ),
        ("MONGO_DB".to_owned(), s.mongodb.database.clone()),
        ("MONGO_COLLECTION".to_owned(), s.mongodb.collection.clone()),
        (
            "MONGO_WRITE_CONCERN".to_owned(),
            s.mongodb.write_concern.clone(),
        ),
        (
            "CONSUMER_BATCH_SIZE".to_owned(),
            s.consumers.batch_size.to_string(),
        ),
        ("API_PORT".to_owned(), API_PORT.to_string()),
        ("CONSUMER_PORT".to_owned(), CONSUMER_PORT.to_string()),
        ("LOG_FORMAT".to_owned(), "json".to_owned()),
    ])
    .into_iter()
    .chain(kafka_security_config(wc))
    .collect()
}

/// The Kafka security variables of the binaries; the password comes from its Secret as an env var
/// and the certificates as files (see `kafka_secret_volumes`).
fn kafka_security_config(wc: &WiberCluster) -> Vec<(String, String)> {
    let k = &wc.spec.kafka;
    let mut out = vec![(
        "KAFKA_SECURITY_PROTOCOL".to_owned(),
        k.security_protocol().as_str().to_owned(),
    )];
    if let Some((mechanism, username, _)) = k.sasl_credentials() {
        out.push((
            "KAFKA_SASL_MECHANISM".to_owned(),
            mechanism.as_str().to_owned(),
        ));
        out.push(("KAFKA_SASL_USERNAME".to_owned(), username.to_owned()));
    }
    if k.trusted_certificate().is_some() {
        out.push((
            "KAFKA_SSL_CA_LOCATION".to_owned(),
            format!("{KAFKA_CA_DIR}/ca.crt"),
        ));
    }
    if k.client_certificate().is_some() {
        out.push((
            "KAFKA_SSL_CERTIFICATE_LOCATION".to_owned(),
            format!("{KAFKA_CLIENT_DIR}/user.crt"),
        ));
        out.push((
            "KAFKA_SSL_KEY_LOCATION".to_owned(),
            format!("{KAFKA_CLIENT_DIR}/user.key"),
        ));
    }
    out
}

fn secret_env(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_owned(),
                key: key.to_owned(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

/// The Secrets the pods read: MONGO_URI and the SASL password as env vars.
fn secret_envs(wc: &WiberCluster) -> Vec<EnvVar> {
    let s = &wc.spec;
    let mut env = vec![secret_env(
        "MONGO_URI",
        &s.mongodb.connection_secret.name,
        &s.mongodb.connection_secret.key,
    )];
    if let Some((_, _, password)) = s.kafka.sasl_credentials() {
        env.push(secret_env(
            "KAFKA_SASL_PASSWORD",
            &password.secret_name,
            &password.password,
        ));
    }
    env
}

/// Certificate Secrets mounted as files under fixed names, readable by the pod's group only.
fn kafka_secret_volumes(wc: &WiberCluster) -> Vec<(Volume, VolumeMount)> {
    let k = &wc.spec.kafka;
    let volume = |name: &str, dir: &str, secret: &str, items: Vec<(&str, &str)>| {
        (
            Volume {
                name: name.to_owned(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some(secret.to_owned()),
                    items: Some(
                        items
                            .into_iter()
                            .map(|(key, path)| KeyToPath {
                                key: key.to_owned(),
                                path: path.to_owned(),
                                mode: None,
                            })
                            .collect(),
                    ),
                    default_mode: Some(0o440),
                    optional: Some(false),
                }),
                ..Volume::default()
            },
            VolumeMount {
                name: name.to_owned(),
                mount_path: dir.to_owned(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
        )
    };
    let mut out = Vec::new();
    if let Some(ca) = k.trusted_certificate() {
        out.push(volume(
            "kafka-ca",
            KAFKA_CA_DIR,
            &ca.secret_name,
            vec![(ca.certificate.as_str(), "ca.crt")],
        ));
    }
    if let Some(client) = k.client_certificate() {
        out.push(volume(
            "kafka-client",
            KAFKA_CLIENT_DIR,
            &client.secret_name,
            vec![
                (client.certificate.as_str(), "user.crt"),
                (client.key.as_str(), "user.key"),
            ],
        ));
    }
    out
}

/// Every Secret reference, for the configuration hash: pointing at another Secret rolls the pods.
fn secret_refs(wc: &WiberCluster) -> String {
    let k = &wc.spec.kafka;
    let m = &wc.spec.mongodb.connection_secret;
    let mut refs = vec![format!("{}/{}", m.name, m.key)];
    if let Some((_, _, p)) = k.sasl_credentials() {
        refs.push(format!("{}/{}", p.secret_name, p.password));
    }
    if let Some(ca) = k.trusted_certificate() {
        refs.push(format!("{}/{}", ca.secret_name, ca.certificate));
    }
    if let Some(c) = k.client_certificate() {
        refs.push(format!("{}/{}/{}", c.secret_name, c.certificate, c.key));
    }
    refs.join(",")
}

/// A short stable hash of the configuration; as a pod annotation it rolls the pods when the
/// configuration (not only the pod spec) changes.
fn config_hash(data: &BTreeMap<String, String>, secret: &str) -> String {
    // FNV-1a: stable across builds and platforms, unlike std's SipHash with random keys.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in data
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain([("secret", secret)])
    {
        for byte in k.bytes().chain([0]).chain(v.bytes()).chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

fn probe(path: &str, port: &str, period: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String(port.to_owned()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(3),
        failure_threshold: Some(3),
        ..Probe::default()
    }
}

fn container_security() -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(RUN_AS_USER),
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_owned()]),
            ..Capabilities::default()
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_owned(),
            ..SeccompProfile::default()
        }),
        ..SecurityContext::default()
    }
}

fn deployment(
    wc: &WiberCluster,
    component: Component,
    replicas: i32,
    port: (&str, i32),
    resources: Option<ResourceRequirements>,
    hash: &str,
) -> Deployment {
    let s = &wc.spec;
    let mut pod_labels = labels(wc, Some(component));
    pod_labels.extend(selector_labels(wc, component));
    let secret_volumes = kafka_secret_volumes(wc);
    let container = Container {
        name: component.as_str().to_owned(),
        image: Some(s.image.reference()),
        image_pull_policy: Some(s.image.pull_policy.as_str().to_owned()),
        command: Some(vec![format!("wiber-{}", component.as_str())]),
        env_from: Some(vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: name(wc, "config"),
                optional: Some(false),
            }),
            ..EnvFromSource::default()
        }]),
        env: Some(secret_envs(wc)),
        ports: Some(vec![ContainerPort {
            name: Some(port.0.to_owned()),
            container_port: port.1,
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        }]),
        liveness_probe: Some(probe("/health/liveness", port.0, 10)),
        readiness_probe: Some(probe("/health/readiness", port.0, 5)),
        resources: Some(resources.unwrap_or_else(default_resources)),
        security_context: Some(container_security()),
        // librdkafka and the TLS stack may write temp files; the root filesystem stays read-only.
        volume_mounts: Some(
            [VolumeMount {
                name: "tmp".to_owned(),
                mount_path: "/tmp".to_owned(),
                ..VolumeMount::default()
            }]
            .into_iter()
            .chain(secret_volumes.iter().map(|(_, m)| m.clone()))
            .collect(),
        ),
        ..Container::default()
    };
    Deployment {
        metadata: meta(wc, name(wc, component.as_str()), Some(component)),
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(selector_labels(wc, component)),
                ..LabelSelector::default()
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_unavailable: Some(IntOrString::Int(0)),
                    max_surge: Some(IntOrString::Int(1)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(BTreeMap::from([(
                        "wiber.io/config-hash".to_owned(),
                        hash.to_owned(),
                    )])),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(name(wc, "wiber")),
                    automount_service_account_token: Some(false),
                    // Consumers commit on SIGTERM; give a slow store time to finish the batch.
                    termination_grace_period_seconds: Some(30),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(RUN_AS_USER),
                        run_as_group: Some(RUN_AS_USER),
                        fs_group: Some(RUN_AS_USER),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".to_owned(),
                            ..SeccompProfile::default()
                        }),
                        ..PodSecurityContext::default()
                    }),
                    containers: vec![container],
                    node_selector: (!s.scheduling.node_selector.is_empty())
                        .then(|| s.scheduling.node_selector.clone()),
                    tolerations: (!s.scheduling.tolerations.is_empty())
                        .then(|| s.scheduling.tolerations.clone()),
                    volumes: Some(
                        [Volume {
                            name: "tmp".to_owned(),
                            empty_dir: Some(EmptyDirVolumeSource::default()),
                            ..Volume::default()
                        }]
                        .into_iter()
                        .chain(secret_volumes.into_iter().map(|(v, _)| v))
                        .collect(),
                    ),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}

fn disruption_budget(
    wc: &WiberCluster,
    component: Component,
    min_available: i32,
) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: meta(wc, name(wc, component.as_str()), Some(component)),
        spec: Some(PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(min_available)),
            selector: Some(LabelSelector {
                match_labels: Some(selector_labels(wc, component)),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        status: None,
    }
}

pub fn strimzi_topic_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kafka.strimzi.io", "v1", "KafkaTopic"),
        "kafkatopics",
    )
}

pub fn pod_monitor_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("monitoring.coreos.com", "v1", "PodMonitor"),
        "podmonitors",
    )
}

fn kafka_topic(wc: &WiberCluster, cluster: &str, topic: &str, partitions: i32) -> DynamicObject {
    let t = &wc.spec.kafka.topic;
    let mut meta = meta(wc, kube_name(topic), None);
    meta.labels
        .get_or_insert_with(BTreeMap::new)
        .insert("strimzi.io/cluster".to_owned(), cluster.to_owned());
    let min_isr = if t.replicas >= 3 { 2 } else { 1 };
    let mut object = DynamicObject::new(&kube_name(topic), &strimzi_topic_resource())
        .within(&wc.namespace().unwrap_or_default());
    object.metadata = meta;
    object.data = json!({
        "spec": {
            "topicName": topic,
            "partitions": partitions,
            "replicas": t.replicas,
            "config": {
                "retention.ms": (t.retention_hours * 3_600_000).to_string(),
                // The broker stamps messages, so API replicas' clocks cannot reorder a conversation.
                "message.timestamp.type": "LogAppendTime",
                "min.insync.replicas": min_isr.to_string(),
            }
        }
    });
    object
}

/// Kafka topic names may hold `_` and upper case; Kubernetes names may not.
pub fn kube_name(topic: &str) -> String {
    topic.to_ascii_lowercase().replace('_', "-")
}

pub fn desired(wc: &WiberCluster, inputs: &Inputs) -> Desired {
    let s = &wc.spec;
    let data = config_data(wc, inputs);
    let hash = config_hash(&data, &secret_refs(wc));

    let service_account = ServiceAccount {
        metadata: meta(wc, name(wc, "wiber"), None),
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    };
    let config = ConfigMap {
        metadata: meta(wc, name(wc, "config"), None),
        data: Some(data),
        ..ConfigMap::default()
    };
    let api = deployment(
        wc,
        Component::Api,
        s.api.replicas,
        ("http", API_PORT),
        s.api.resources.clone(),
        &hash,
    );
    let consumer = deployment(
        wc,
        Component::Consumer,
        inputs.consumer_replicas,
        ("metrics", CONSUMER_PORT),
        s.consumers.resources.clone(),
        &hash,
    );
    let api_service = Service {
        metadata: meta(wc, name(wc, "api"), Some(Component::Api)),
        spec: Some(ServiceSpec {
            type_: Some(s.api.service.service_type.as_str().to_owned()),
            selector: Some(selector_labels(wc, Component::Api)),
            ports: Some(vec![ServicePort {
                name: Some("http".to_owned()),
                port: s.api.service.port,
                target_port: Some(IntOrString::String("http".to_owned())),
                node_port: s.api.service.node_port,
                protocol: Some("TCP".to_owned()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    };

    let mut disruption_budgets = Vec::new();
    if s.api.pod_disruption_budget && s.api.replicas > 1 {
        disruption_budgets.push(disruption_budget(wc, Component::Api, 1));
    }
    if inputs.consumer_replicas > 1 {
        // Losing one consumer at a time only moves its partitions; more would stall them.
        disruption_budgets.push(disruption_budget(
            wc,
            Component::Consumer,
            inputs.consumer_replicas - 1,
        ));
    }

    let kafka_topics = match &s.kafka.strimzi_cluster {
        Some(cluster) => vec![
            kafka_topic(wc, cluster, &s.kafka.topic.name, s.kafka.topic.partitions),
            kafka_topic(wc, cluster, &format!("{}.dlq", s.kafka.topic.name), 1),
        ],
        None => Vec::new(),
    };

    let pod_monitor = inputs.pod_monitor.then(|| {
        let mut m = DynamicObject::new(&name(wc, "wiber"), &pod_monitor_resource())
            .within(&wc.namespace().unwrap_or_default());
        m.metadata = meta(wc, name(wc, "wiber"), None);
        m.data = json!({
            "spec": {
                "selector": { "matchLabels": {
                    "app.kubernetes.io/name": "wiber",
                    "app.kubernetes.io/instance": wc.name_any(),
                }},
                "podMetricsEndpoints": [
                    { "port": "http", "path": "/metrics" },
                    { "port": "metrics", "path": "/metrics" },
                ]
            }
        });
        m
    });

    Desired {
        service_account,
        config,
        api,
        api_service,
        consumer,
        disruption_budgets,
        kafka_topics,
        pod_monitor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{SecretKeyRef, WiberClusterSpec};

    fn cluster(spec_json: serde_json::Value) -> WiberCluster {
        let spec: WiberClusterSpec = serde_json::from_value(spec_json).unwrap();
        let mut wc = WiberCluster::new("chat", spec);
        wc.metadata.namespace = Some("team-a".into());
        wc.metadata.uid = Some("1234-uid".into());
        wc
    }

    fn plain() -> WiberCluster {
        cluster(json!({
            "kafka": { "bootstrapServers": "kafka:9092" },
            "mongodb": { "connectionSecret": { "name": "mongo" } }
        }))
    }

    fn inputs(replicas: i32) -> Inputs {
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

    fn pod(d: &Deployment) -> &PodSpec {
        d.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
    }

    fn secret_volume<'a>(pod: &'a PodSpec, name: &str) -> &'a SecretVolumeSource {
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
        let hash = |wc: &WiberCluster| {
            desired(wc, &inputs(1))
                .api
                .spec
                .unwrap()
                .template
                .metadata
                .unwrap()
                .annotations
                .unwrap()["wiber.io/config-hash"]
                .clone()
        };
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
        for (deployment, port) in [(&d.api, "http"), (&d.consumer, "metrics")] {
            let pod = deployment
                .spec
                .as_ref()
                .unwrap()
                .template
                .spec
                .as_ref()
                .unwrap();
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
            d.api
                .spec
                .as_ref()
                .unwrap()
                .template
                .metadata
                .as_ref()
                .unwrap()
                .annotations
                .as_ref()
                .unwrap()["wiber.io/config-hash"]
                .clone()
        };
        let base = desired(&plain(), &inputs(1));
        assert_eq!(hash(&base), hash(&desired(&plain(), &inputs(4))));
        let mut moved = inputs(1);
        moved.bootstrap_servers = "other:9092".into();
        assert_ne!(hash(&base), hash(&desired(&plain(), &moved)));
    }

    #[test]
    fn strimzi_mode_asks_for_both_topics_with_log_append_time() {
        let wc = cluster(json!({
            "kafka": { "strimziCluster": "events", "topic": { "name": "Chat_Messages", "partitions": 12 } },
            "mongodb": { "connectionSecret": { "name": "mongo" } }
        }));
        let d = desired(&wc, &inputs(1));
        assert_eq!(d.kafka_topics.len(), 2);
        let main = &d.kafka_topics[0];
        assert_eq!(main.metadata.name.as_deref(), Some("chat-messages"));
        assert_eq!(
            main.metadata.labels.as_ref().unwrap()["strimzi.io/cluster"],
            "events"
        );
        assert_eq!(main.data["spec"]["topicName"], "Chat_Messages");
        assert_eq!(main.data["spec"]["partitions"], 12);
        assert_eq!(
            main.data["spec"]["config"]["message.timestamp.type"],
            "LogAppendTime"
        );
        assert_eq!(main.data["spec"]["config"]["retention.ms"], "604800000");
        assert_eq!(
            d.kafka_topics[1].data["spec"]["topicName"],
            "Chat_Messages.dlq"
        );
        assert!(desired(&plain(), &inputs(1)).kafka_topics.is_empty());
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
            let pod = deployment
                .spec
                .as_ref()
                .unwrap()
                .template
                .spec
                .as_ref()
                .unwrap();
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
        assert_eq!(
            m.data["spec"]["podMetricsEndpoints"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }
}
