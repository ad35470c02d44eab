//! The HTTP API's part of a WiberCluster: its pods, Service, authentication and TLS.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiSpec {
    /// API pods.
    #[serde(default = "default_api_replicas")]
    #[schemars(range(min = 0, max = 100))]
    pub replicas: i32,
    /// Container resources; defaults to requests of 100m CPU and 128Mi memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// The Service in front of the API.
    #[serde(default)]
    pub service: ServiceSpec,
    /// A PodDisruptionBudget keeping at least one API pod during voluntary disruptions.
    #[serde(default = "default_true")]
    pub pod_disruption_budget: bool,
    /// Who may call the API: bearer tokens from an issuer, or an open API (mode None). Required
    /// (a rule on the WiberCluster); an object stored before the field existed keeps an open API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<ApiAuthSpec>,
    /// Serve the API over TLS with a certificate Secret; without it the API speaks plain HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ApiTlsSpec>,
    /// Expose the API outside the cluster through an Ingress (networking.k8s.io/v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressSpec>,
}

impl Default for ApiSpec {
    fn default() -> Self {
        Self {
            replicas: default_api_replicas(),
            resources: None,
            service: ServiceSpec::default(),
            pod_disruption_budget: true,
            auth: None,
            tls: None,
            ingress: None,
        }
    }
}

fn default_api_replicas() -> i32 {
    2
}
fn default_true() -> bool {
    true
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// ClusterIP, NodePort or LoadBalancer.
    #[serde(default = "default_service_type", rename = "type")]
    pub service_type: ServiceType,
    /// The Service port.
    #[serde(default = "default_service_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// The node port when the type is NodePort (30000-32767); chosen by Kubernetes when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 30000, max = 32767))]
    pub node_port: Option<i32>,
}

impl Default for ServiceSpec {
    fn default() -> Self {
        Self {
            service_type: default_service_type(),
            port: default_service_port(),
            node_port: None,
        }
    }
}

fn default_service_type() -> ServiceType {
    ServiceType::ClusterIP
}
fn default_service_port() -> i32 {
    8000
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ServiceType {
    ClusterIP,
    NodePort,
    LoadBalancer,
}

impl ServiceType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClusterIP => "ClusterIP",
            Self::NodePort => "NodePort",
            Self::LoadBalancer => "LoadBalancer",
        }
    }
}

/// How the API knows who is speaking. With mode Jwt every request carries a bearer token signed
/// by the issuer, and a user may send only as themself and read only their own conversations.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(
    validation = Rule::new("self.mode == 'None' || (has(self.issuer) && has(self.audience))").message("api.auth.issuer and api.auth.audience are required with mode Jwt"),
    validation = Rule::new("self.mode == 'None' || has(self.jwksUrl) != has(self.jwksSecret)").message("api.auth: set exactly one of jwksUrl and jwksSecret with mode Jwt"),
    validation = Rule::new("self.mode == 'Jwt' || !(has(self.issuer) || has(self.jwksUrl) || has(self.jwksSecret))").message("api.auth.mode None verifies no tokens: remove issuer, jwksUrl and jwksSecret, or set mode Jwt")
)]
#[serde(rename_all = "camelCase")]
pub struct ApiAuthSpec {
    /// Jwt (verify bearer tokens) or None (an open API: anyone who reaches it may send as any
    /// user and read every conversation; for a trusted network only).
    #[serde(default)]
    pub mode: AuthMode,
    /// The `iss` every token must carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub issuer: Option<String>,
    /// A value every token's `aud` must hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub audience: Option<String>,
    /// The issuer's JWKS (e.g. `https://issuer/.well-known/jwks.json`), fetched at start and
    /// again, at most once per minute, for a token signed with a key it did not hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://[^\s]+$"))]
    pub jwks_url: Option<String>,
    /// A Secret holding the JWKS; the pods reread it when the Secret changes, without a restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_secret: Option<JwksSecretRef>,
    /// The token claim naming the Wiber user.
    #[serde(default = "default_user_claim")]
    #[schemars(length(min = 1))]
    pub user_claim: String,
    /// The scope (in the token's `scope` or `scp`) that allows counts across all users.
    #[serde(default = "default_admin_scope")]
    #[schemars(length(min = 1))]
    pub admin_scope: String,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    #[serde(default = "default_leeway")]
    #[schemars(range(min = 0, max = 300))]
    pub leeway_seconds: i64,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum AuthMode {
    #[default]
    Jwt,
    None,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JwksSecretRef {
    /// Secret name.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Key in the Secret holding the JWKS (JSON).
    #[serde(default = "default_jwks_key")]
    #[schemars(length(min = 1))]
    pub key: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiTlsSpec {
    /// A `kubernetes.io/tls` Secret (keys `tls.crt` and `tls.key`), such as cert-manager writes;
    /// the pods reload a renewed certificate without a restart.
    #[schemars(length(min = 1))]
    pub secret_name: String,
}

/// An Ingress in front of the API's Service. With `tls`, the Ingress controller terminates TLS
/// with that Secret; cert-manager fills it when `annotations` name an issuer
/// (`cert-manager.io/cluster-issuer: <issuer>`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    /// The host name clients use, e.g. `chat.example.com`.
    #[schemars(
        regex(
            pattern = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
        ),
        length(max = 253)
    )]
    pub host: String,
    /// The path prefix routed to the API.
    #[serde(default = "default_ingress_path")]
    #[schemars(regex(pattern = r"^/"))]
    pub path: String,
    /// The IngressClass; the cluster's default class when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    /// Annotations of the Ingress (cert-manager's issuer, the controller's settings).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The Secret holding the host's certificate; plain HTTP when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ApiTlsSpec>,
}

fn default_ingress_path() -> String {
    "/".to_owned()
}

fn default_user_claim() -> String {
    "sub".to_owned()
}
fn default_admin_scope() -> String {
    "wiber:admin".to_owned()
}
fn default_leeway() -> i64 {
    30
}
fn default_jwks_key() -> String {
    "jwks.json".to_owned()
}
