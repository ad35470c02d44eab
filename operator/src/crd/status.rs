//! What the operator reports about a WiberCluster.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WiberClusterStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, KafkaReady, MongoReady, ApiAvailable, ConsumersAvailable, and ReconciliationPaused
    /// while the pause annotation is set.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Records the consumer group has not committed, over all partitions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<i64>,
    /// The topic's partition count as measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<i32>,
    /// The partitions with the most lag, most first (at most ten; none when nothing lags).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lagging_partitions: Vec<PartitionLagStatus>,
    /// Records retained in the dead-letter topic (`<topic>.dlq`): messages the consumers could not
    /// store, kept with their reasons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letters: Option<i64>,
    /// Ready API pods.
    #[serde(default)]
    pub api_ready_replicas: i32,
    /// Consumer sizing.
    #[serde(default)]
    pub consumers: ConsumerStatus,
    /// The bootstrap servers in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_servers: Option<String>,
    /// Where clients reach the API: the Ingress's URL, else the Service's in-cluster URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
}

/// One partition's lag.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartitionLagStatus {
    pub partition: i32,
    /// Records the consumer group has not committed on this partition.
    pub lag: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerStatus {
    /// Replicas of the consumer Deployment now.
    pub current: i32,
    /// Replicas the autoscaler wants.
    pub desired: i32,
    /// Ready consumer pods.
    pub ready: i32,
    /// Why: ScaleUp, ScaleDown, Stabilizing or Steady.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the operator last changed the consumer replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scale_time: Option<Time>,
    /// What it changed them from and to, and why, as its ScaleUp or ScaleDown event said (events
    /// expire; this stays until the next change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scale: Option<String>,
}
