//! `spec.template`: what platform engineers add to the objects the operator builds, in the shape of
//! Strimzi's `template` (per component: pod metadata, pull secrets, placement, priority, env; the
//! API Service's metadata). The operator's own labels, selectors and settings always win.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, EnvVar, LocalObjectReference, TopologySpreadConstraint,
};
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Environment variables the operator sets from Secrets; a template may not replace them (it would
/// take the credentials out of their Secret).
pub const RESERVED_ENV: [&str; 2] = ["MONGO_URI", "KAFKA_SASL_PASSWORD"];

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSpec {
    /// The API pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<PodTemplate>,
    /// The consumer pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer: Option<PodTemplate>,
    /// The API's Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_service: Option<MetadataTemplate>,
}

/// Labels and annotations added to an object's own.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetadataTemplate {
    /// Extra labels; the operator's `app.kubernetes.io/*` labels take precedence.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Extra annotations (e.g. a service mesh's or a cloud load balancer's).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplate {
    /// Pod labels and annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<MetadataTemplate>,
    /// Secrets with credentials for a private registry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// Node and pod (anti-)affinity; spreads the pods when replacing scheduling.nodeSelector is not
    /// enough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// How the pods spread across zones or nodes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
    /// The pods' PriorityClass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// Extra environment variables of the container; they override the ConfigMap's settings of the
    /// same name (e.g. RUST_LOG or API_MAX_CONNECTIONS). MONGO_URI and KAFKA_SASL_PASSWORD come
    /// from their Secrets and may not be set here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    // Bounded, so the API server can bound the rule's cost.
    #[schemars(length(max = 64))]
    #[x_kube(validation = Rule::new("self.all(e, e.name != 'MONGO_URI' && e.name != 'KAFKA_SASL_PASSWORD')").message("template env may not set MONGO_URI or KAFKA_SASL_PASSWORD: they come from their Secrets"))]
    pub env: Vec<EnvVar>,
}
