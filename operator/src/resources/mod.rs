//! The objects a WiberCluster wants, computed by pure functions: spec in, k8s-openapi structs out.
//! Nothing here talks to a cluster; `reconcile` applies the result with server-side apply.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount, ServicePort, ServiceSpec};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::crd::{TopicDeletionPolicy, WiberCluster};

mod exposure;
mod pods;

pub use exposure::api_url;
use pods::{build_deployment, config_data, config_hash, secret_refs};

pub const MANAGER: &str = "wiber-operator";
pub const API_PORT: i32 = 8000;
/// The API's health checks and `/metrics`; not in the API Service.
pub const API_ADMIN_PORT: i32 = 8002;
pub const CONSUMER_PORT: i32 = 8001;
/// The images' non-root user (`nonroot`, as in distroless).
pub const RUN_AS_USER: i64 = 65532;

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
    /// The API's Ingress, when the spec asks for one.
    pub ingress: Option<Ingress>,
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

/// Announcements of what is stored are read within seconds and never replayed from far back.
const STORED_TOPIC_RETENTION_MS: i64 = 3_600_000;

fn kafka_topic(
    wc: &WiberCluster,
    cluster: &str,
    topic: &str,
    partitions: i32,
    retention_ms: i64,
) -> DynamicObject {
    let t = &wc.spec.kafka.topic;
    let mut meta = meta(wc, kube_name(topic), None);
    if t.deletion_policy == TopicDeletionPolicy::Retain {
        // Not owned, so not garbage-collected with the WiberCluster: Strimzi would delete the
        // topic, its unconsumed messages and its dead letters. Server-side apply drops an owner
        // reference an earlier apply set.
        meta.owner_references = None;
    }
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
                "retention.ms": retention_ms.to_string(),
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
    let api = build_deployment(
        wc,
        Component::Api,
        s.api.replicas,
        s.api.resources.clone(),
        &hash,
    );
    let consumer = build_deployment(
        wc,
        Component::Consumer,
        inputs.consumer_replicas,
        s.consumers.resources.clone(),
        &hash,
    );
    let mut service_meta = meta(wc, name(wc, "api"), Some(Component::Api));
    if let Some(extra) = &s.template.api_service {
        let mut service_labels = extra.labels.clone();
        service_labels.extend(service_meta.labels.take().unwrap_or_default());
        service_meta.labels = Some(service_labels);
        service_meta.annotations =
            (!extra.annotations.is_empty()).then(|| extra.annotations.clone());
    }
    let api_service = Service {
        metadata: service_meta,
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
        Some(cluster) => {
            let t = &s.kafka.topic;
            let retention = t.retention_hours * 3_600_000;
            vec![
                kafka_topic(wc, cluster, &t.name, t.partitions, retention),
                kafka_topic(wc, cluster, &t.dead_letter_name(), 1, retention),
                kafka_topic(wc, cluster, &t.stored_name(), 1, STORED_TOPIC_RETENTION_MS),
            ]
        }
        None => Vec::new(),
    };

    let pod_monitor = inputs.pod_monitor.then(|| {
        let mut m = DynamicObject::new(&name(wc, "wiber"), &pod_monitor_resource())
            .within(&wc.namespace().unwrap_or_default());
        let monitoring = &s.monitoring;
        let mut metadata = meta(wc, name(wc, "wiber"), None);
        let mut monitor_labels = monitoring.pod_monitor_labels.clone();
        monitor_labels.extend(metadata.labels.take().unwrap_or_default());
        metadata.labels = Some(monitor_labels);
        m.metadata = metadata;
        let endpoints: Vec<serde_json::Value> = [("admin", "/metrics"), ("metrics", "/metrics")]
            .into_iter()
            .map(|(port, path)| {
                // Every series names its WiberCluster, so two in one namespace stay apart on the
                // dashboards (their `cluster` variable).
                let mut endpoint = json!({
                    "port": port,
                    "path": path,
                    "relabelings": [{
                        "sourceLabels": ["__meta_kubernetes_pod_label_app_kubernetes_io_instance"],
                        "targetLabel": "wibercluster",
                        "action": "replace",
                    }],
                });
                if let Some(interval) = &monitoring.scrape_interval {
                    endpoint["interval"] = json!(interval);
                }
                endpoint
            })
            .collect();
        m.data = json!({
            "spec": {
                "selector": { "matchLabels": {
                    "app.kubernetes.io/name": "wiber",
                    "app.kubernetes.io/instance": wc.name_any(),
                }},
                "podMetricsEndpoints": endpoints,
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
        ingress: exposure::ingress(wc),
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_api;
#[cfg(test)]
mod tests_template;
#[cfg(test)]
mod tests_topics;
