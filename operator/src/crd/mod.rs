//! The `WiberCluster` custom resource: what a platform engineer applies to run Wiber.
//! The CRD YAML in `crds/` is generated from these types by the `crdgen` binary.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ResourceRequirements, Toleration};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod api;
mod kafka;
mod reference;
mod status;
mod template;

pub use api::*;
pub use kafka::*;
pub use reference::reference_markdown;
pub use status::*;
pub use template::*;

pub const DEFAULT_IMAGE: &str = "ghcr.io/wiber-io/wiber";

/// Set to `"true"` on a WiberCluster, the operator changes nothing of it (no apply, no scaling)
/// until the annotation is removed, and reports a `ReconciliationPaused` condition. As Strimzi's
/// `strimzi.io/pause-reconciliation`: for maintenance, or to hold a cluster while debugging.
pub const PAUSE_ANNOTATION: &str = "wiber.io/pause-reconciliation";

impl WiberCluster {
    pub fn reconciliation_paused(&self) -> bool {
        use kube::ResourceExt;
        self.annotations()
            .get(PAUSE_ANNOTATION)
            .is_some_and(|v| v == "true")
    }
}

/// A Wiber installation: the HTTP API and the Kafka-to-MongoDB consumers, sized to the topic's
/// partitions and the consumer group's lag.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "wiber.io",
    version = "v1alpha1",
    kind = "WiberCluster",
    plural = "wiberclusters",
    shortname = "wc",
    // `kubectl get wiber` lists every Wiber kind, as `kubectl get strimzi` does for Strimzi's.
    category = "wiber",
    namespaced,
    status = "WiberClusterStatus",
    doc = "A Wiber installation: the HTTP API and the Kafka-to-MongoDB consumers.",
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "API", type_ = "integer", json_path = ".status.apiReadyReplicas", description = "Ready API replicas"),
    printcolumn(name = "Consumers", type_ = "integer", json_path = ".status.consumers.current", description = "Consumer replicas"),
    printcolumn(name = "Lag", type_ = "integer", json_path = ".status.lag", description = "Records the consumer group has not committed"),
    printcolumn(name = "Partitions", type_ = "integer", json_path = ".status.partitions"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    // `-o wide` only: where the API is, and why the cluster is not Ready without `kubectl describe`.
    printcolumn(name = "URL", type_ = "string", json_path = ".status.apiUrl", priority = "1"),
    printcolumn(name = "DeadLetters", type_ = "integer", json_path = ".status.deadLetters", priority = "1", description = "Records the dead-letter topic retains"),
    printcolumn(name = "Reason", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].reason", priority = "1"),
    printcolumn(name = "Message", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].message", priority = "1"),
    // Child names add up to 9 characters and pod names a hash; labels allow 63.
    validation = Rule::new("self.metadata.name.size() <= 40").message("metadata.name must be at most 40 characters"),
    // Required rather than defaulted: an open API must be chosen, never fallen into.
    validation = Rule::new("has(self.spec.api) && has(self.spec.api.auth)").message("spec.api.auth is required: name the token issuer (issuer, audience, jwksUrl or jwksSecret), or set mode: None for an open API on a trusted network")
)]
#[serde(rename_all = "camelCase")]
pub struct WiberClusterSpec {
    /// The container image holding both binaries (wiber-api and wiber-consumer).
    #[serde(default)]
    pub image: ImageSpec,
    /// The HTTP API.
    #[serde(default)]
    pub api: ApiSpec,
    /// The Kafka cluster and topic.
    pub kafka: KafkaSpec,
    /// The MongoDB replica set messages are stored in.
    pub mongodb: MongoSpec,
    /// The consumers and how they are sized.
    #[serde(default)]
    pub consumers: ConsumerSpec,
    /// Where the API and consumer pods may run.
    #[serde(default)]
    pub scheduling: SchedulingSpec,
    /// Traces of every message, POST to store, sent to an OpenTelemetry collector; none when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<TelemetrySpec>,
    /// How Prometheus finds the pods: the PodMonitor's labels and scrape interval.
    #[serde(default, skip_serializing_if = "is_default")]
    pub monitoring: MonitoringSpec,
    /// Additions to the pods and the API Service the operator builds: metadata, pull secrets,
    /// affinity, topology spread, priority, env (as Strimzi's `template`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub template: TemplateSpec,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// The PodMonitor (monitoring.coreos.com/v1) the operator creates when the Prometheus Operator's
/// CRD exists.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MonitoringSpec {
    /// Labels of the PodMonitor, e.g. `release: kube-prometheus-stack`, which that chart's
    /// Prometheus selects PodMonitors by; the operator's own labels take precedence.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_monitor_labels: BTreeMap<String, String>,
    /// Scrape interval of both components (e.g. `30s`); Prometheus's own when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(ms|s|m|h))+$"))]
    pub scrape_interval: Option<String>,
}

/// An OTLP/HTTP collector for the API's and the consumers' spans.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TelemetrySpec {
    /// The collector's OTLP/HTTP base URL, plain HTTP (e.g. `http://otel-collector.monitoring:4318`);
    /// spans go to `<otlpEndpoint>/v1/traces`.
    #[schemars(regex(pattern = r"^http://[^\s]+$"))]
    pub otlp_endpoint: String,
    /// How spans are encoded.
    #[serde(default)]
    pub protocol: OtlpProtocol,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum OtlpProtocol {
    #[default]
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
    #[serde(rename = "http/json")]
    HttpJson,
}

impl OtlpProtocol {
    /// The value of OTEL_EXPORTER_OTLP_PROTOCOL.
    pub fn as_env(self) -> &'static str {
        match self {
            Self::HttpProtobuf => "http/protobuf",
            Self::HttpJson => "http/json",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchedulingSpec {
    /// Node labels the pods require.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Taints the pods tolerate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageSpec {
    /// Image repository.
    #[serde(default = "default_repository")]
    pub repository: String,
    /// Image tag; defaults to the operator's own version.
    #[serde(default = "default_tag")]
    pub tag: String,
    /// Kubernetes image pull policy.
    #[serde(default = "default_pull_policy")]
    pub pull_policy: PullPolicy,
    /// Image digest (`sha256:...`); when set the pods run exactly that image and the tag only
    /// labels it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^sha256:[a-f0-9]{64}$"))]
    pub digest: Option<String>,
}

impl Default for ImageSpec {
    fn default() -> Self {
        Self {
            repository: default_repository(),
            tag: default_tag(),
            pull_policy: default_pull_policy(),
            digest: None,
        }
    }
}

impl ImageSpec {
    pub fn reference(&self) -> String {
        match &self.digest {
            Some(digest) => format!("{}@{digest}", self.repository),
            None => format!("{}:{}", self.repository, self.tag),
        }
    }
}

fn default_repository() -> String {
    DEFAULT_IMAGE.to_owned()
}
fn default_tag() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}
fn default_pull_policy() -> PullPolicy {
    PullPolicy::IfNotPresent
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl PullPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "Always",
            Self::IfNotPresent => "IfNotPresent",
            Self::Never => "Never",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MongoSpec {
    /// The Secret (in this namespace) holding the connection string.
    pub connection_secret: SecretKeyRef,
    /// Database name.
    #[serde(default = "default_db")]
    #[schemars(length(min = 1, max = 63))]
    pub database: String,
    /// Collection name.
    #[serde(default = "default_collection")]
    #[schemars(length(min = 1))]
    pub collection: String,
    /// Write concern of the consumers' inserts: "majority" or a number of members.
    #[serde(default = "default_write_concern")]
    #[schemars(regex(pattern = r"^(majority|[1-9][0-9]*)$"))]
    pub write_concern: String,
}

fn default_db() -> String {
    "wiber".to_owned()
}
fn default_collection() -> String {
    "messages".to_owned()
}
fn default_write_concern() -> String {
    "majority".to_owned()
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Secret name.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Key in the Secret; the MongoDB operator's `connectionString.standard` works as is.
    #[serde(default = "default_secret_key")]
    pub key: String,
}

fn default_secret_key() -> String {
    "connectionString.standard".to_owned()
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("self.minReplicas <= self.maxReplicas").message("consumers.minReplicas must not exceed consumers.maxReplicas"))]
#[serde(rename_all = "camelCase")]
pub struct ConsumerSpec {
    /// Fewest consumers, even with no lag (0 allows scaling to zero).
    #[serde(default = "default_min")]
    #[schemars(range(min = 0, max = 1000))]
    pub min_replicas: i32,
    /// Most consumers; the topic's partition count caps it further.
    #[serde(default = "default_max")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_replicas: i32,
    /// Lag (records) one consumer is expected to handle; more lag adds consumers.
    #[serde(default = "default_target_lag")]
    #[schemars(range(min = 1))]
    pub target_lag_per_replica: i64,
    /// Scale down only after demand stayed lower for this many seconds.
    #[serde(default = "default_window")]
    #[schemars(range(min = 0, max = 86400))]
    pub scale_down_stabilization_seconds: i64,
    /// How often lag is measured, in seconds.
    #[serde(default = "default_poll")]
    #[schemars(range(min = 1, max = 3600))]
    pub lag_poll_seconds: i64,
    /// When set, size consumers so the backlog drains within this many seconds at the measured
    /// consumption rate, instead of by targetLagPerReplica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub target_drain_seconds: Option<i64>,
    /// Most records per batch write; a consumer that is behind fills its batches, and the read
    /// model's writes cost per conversation in a batch, not per message.
    #[serde(default = "default_batch")]
    #[schemars(range(min = 1, max = 10000))]
    pub batch_size: i32,
    /// Container resources; defaults to requests of 100m CPU and 128Mi memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

impl Default for ConsumerSpec {
    fn default() -> Self {
        Self {
            min_replicas: default_min(),
            max_replicas: default_max(),
            target_lag_per_replica: default_target_lag(),
            scale_down_stabilization_seconds: default_window(),
            lag_poll_seconds: default_poll(),
            target_drain_seconds: None,
            batch_size: default_batch(),
            resources: None,
        }
    }
}

fn default_min() -> i32 {
    1
}
fn default_max() -> i32 {
    10
}
fn default_target_lag() -> i64 {
    1000
}
fn default_window() -> i64 {
    300
}
fn default_poll() -> i64 {
    15
}
fn default_batch() -> i32 {
    5000
}

/// The CRD as YAML, exactly as `crds/wibercluster.yaml` holds it. Keys are sorted explicitly:
/// whether serde_json keeps insertion order depends on which other crates share the build.
pub fn crd_yaml() -> String {
    use kube::CustomResourceExt;
    let crd = serde_json::to_value(WiberCluster::crd()).expect("the CRD serializes");
    let yaml = yaml_serde::to_string(&sorted(crd)).expect("the CRD serializes");
    format!("# Generated by `cargo run -p wiber-operator --bin crdgen`; do not edit.\n{yaml}")
}

fn sorted(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let ordered: BTreeMap<String, serde_json::Value> =
                map.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            serde_json::Value::Object(ordered.into_iter().collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sorted).collect())
        }
        other => other,
    }
}
