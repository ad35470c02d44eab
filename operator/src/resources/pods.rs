//! The api and consumer pods: their Deployment, configuration and the Secrets they read.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapEnvSource, Container, ContainerPort, EmptyDirVolumeSource,
    EnvFromSource, EnvVar, EnvVarSource, HTTPGetAction, KeyToPath, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile, SecretKeySelector,
    SecretVolumeSource, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{
    API_ADMIN_PORT, API_PORT, CONSUMER_PORT, Component, Inputs, RUN_AS_USER, labels, meta, name,
    selector_labels,
};
use crate::api_access::ApiAccess;
use crate::crd::WiberCluster;
use crate::kafka_access::{KafkaAccess, SecretMount};

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

const API_SHUTDOWN_DELAY_MS: u64 = 5_000;
const TERMINATION_GRACE_SECONDS: i64 = 30;

pub(super) fn config_data(wc: &WiberCluster, inputs: &Inputs) -> BTreeMap<String, String> {
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
        ("API_ADMIN_PORT".to_owned(), API_ADMIN_PORT.to_string()),
        ("CONSUMER_PORT".to_owned(), CONSUMER_PORT.to_string()),
        // Endpoints drop a stopping pod within a few seconds; only then are its push streams
        // told to reconnect, so they land on the other replicas.
        (
            "API_SHUTDOWN_DELAY_MS".to_owned(),
            API_SHUTDOWN_DELAY_MS.to_string(),
        ),
        ("LOG_FORMAT".to_owned(), "json".to_owned()),
    ])
    .into_iter()
    .chain(KafkaAccess::of(&s.kafka).config())
    .chain(ApiAccess::of(&s.api).config())
    .chain(s.telemetry.iter().flat_map(|t| {
        [
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
                t.otlp_endpoint.clone(),
            ),
            (
                "OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(),
                t.protocol.as_env().to_owned(),
            ),
        ]
    }))
    .collect()
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

/// A short stable hash of the configuration; as a pod annotation it rolls the pods when the
/// configuration (not only the pod spec) changes.
pub(super) fn config_hash(data: &BTreeMap<String, String>, secret: &str) -> String {
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

pub(super) fn build_deployment(
    wc: &WiberCluster,
    component: Component,
    replicas: i32,
    resources: Option<ResourceRequirements>,
    hash: &str,
) -> Deployment {
    let s = &wc.spec;
    let template = match component {
        Component::Api => s.template.api.clone(),
        Component::Consumer => s.template.consumer.clone(),
    }
    .unwrap_or_default();
    let extra = template.metadata.clone().unwrap_or_default();
    // The template's labels first, so the operator's (selectors included) win on a clash.
    let mut pod_labels = extra.labels.clone();
    pod_labels.extend(labels(wc, Some(component)));
    pod_labels.extend(selector_labels(wc, component));
    let mut pod_annotations = extra.annotations.clone();
    pod_annotations.insert("wiber.io/config-hash".to_owned(), hash.to_owned());
    let access = KafkaAccess::of(&s.kafka);
    let mut mounts = access.mounts();
    if component == Component::Api {
        mounts.extend(ApiAccess::of(&s.api).mounts());
    }
    let secret_volumes: Vec<(Volume, VolumeMount)> = mounts.iter().map(mounted).collect();
    // The kubelet probes, and Prometheus scrapes, a port of their own: the API's public port sheds
    // load and limits callers, which must not fail a probe.
    let (ports, health) = match component {
        Component::Api => (vec![("http", API_PORT), ("admin", API_ADMIN_PORT)], "admin"),
        Component::Consumer => (vec![("metrics", CONSUMER_PORT)], "metrics"),
    };
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
        env: Some(
            secret_envs(wc, &access)
                .into_iter()
                .chain(template.env.iter().cloned())
                .collect(),
        ),
        ports: Some(
            ports
                .iter()
                .map(|(name, port)| ContainerPort {
                    name: Some((*name).to_owned()),
                    container_port: *port,
                    protocol: Some("TCP".to_owned()),
                    ..ContainerPort::default()
                })
                .collect(),
        ),
        liveness_probe: Some(probe("/health/liveness", health, 10)),
        readiness_probe: Some(probe("/health/readiness", health, 5)),
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
                    annotations: Some(pod_annotations),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(name(wc, "wiber")),
                    automount_service_account_token: Some(false),
                    // Consumers commit on SIGTERM; give a slow store time to finish the batch.
                    // The API fails readiness for API_SHUTDOWN_DELAY_MS, ends its streams, drains
                    // requests (API_SHUTDOWN_DRAIN_MS, 15 s) and flushes its producer: 30 s cover
                    // both.
                    termination_grace_period_seconds: Some(TERMINATION_GRACE_SECONDS),
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
                    affinity: template.affinity.clone(),
                    topology_spread_constraints: (!template.topology_spread_constraints.is_empty())
                        .then(|| template.topology_spread_constraints.clone()),
                    priority_class_name: template.priority_class_name.clone(),
                    image_pull_secrets: (!template.image_pull_secrets.is_empty())
                        .then(|| template.image_pull_secrets.clone()),
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

/// The Secrets the pods read as env vars: MONGO_URI and the Kafka password.
fn secret_envs(wc: &WiberCluster, access: &KafkaAccess) -> Vec<EnvVar> {
    let mongo = &wc.spec.mongodb.connection_secret;
    [secret_env("MONGO_URI", &mongo.name, &mongo.key)]
        .into_iter()
        .chain(
            access
                .secret_env()
                .into_iter()
                .map(|(var, s)| secret_env(var, &s.secret, &s.key)),
        )
        .collect()
}

/// A certificate Secret as files under fixed names, readable by the pod's group only.
fn mounted(mount: &SecretMount) -> (Volume, VolumeMount) {
    let items = mount
        .files
        .iter()
        .map(|(key, path)| KeyToPath {
            key: key.clone(),
            path: (*path).to_owned(),
            mode: None,
        })
        .collect();
    (
        Volume {
            name: mount.volume.to_owned(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(mount.secret.clone()),
                items: Some(items),
                default_mode: Some(0o440),
                optional: Some(false),
            }),
            ..Volume::default()
        },
        VolumeMount {
            name: mount.volume.to_owned(),
            mount_path: mount.dir.to_owned(),
            read_only: Some(true),
            ..VolumeMount::default()
        },
    )
}

/// Every Secret reference, for the configuration hash: pointing at another Secret rolls the pods.
pub(super) fn secret_refs(wc: &WiberCluster) -> String {
    let m = &wc.spec.mongodb.connection_secret;
    [format!("{}/{}", m.name, m.key)]
        .into_iter()
        .chain(KafkaAccess::of(&wc.spec.kafka).secret_refs())
        .chain(ApiAccess::of(&wc.spec.api).secret_refs())
        .collect::<Vec<_>>()
        .join(",")
}
