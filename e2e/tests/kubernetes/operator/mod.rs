//! The operator binary against the real local kube-apiserver (kwok nodes make pods Ready) and the
//! real local Kafka: CRD validation, reconciled objects, status, spec changes, lag-driven scaling
//! with events and deletion (`reconcile`); Strimzi mode and the PodMonitor with other operators'
//! CRDs of our own (`strimzi_and_prometheus`); two operators under exactly `operator/rbac.yaml`
//! sharing one Lease (`leader_election`).

mod conventions;
mod leader_election;
mod reconcile;
mod strimzi_and_prometheus;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::Api;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use wiber_e2e::kube::{apply, spawn_operator, wait_established};
use wiber_e2e::process::{Process, free_port};
use wiber_operator::crd::WiberCluster;

fn operator(ns: &str) -> Process {
    spawn_operator(ns, free_port())
}

/// A namespaced v1 CRD that accepts any object: the group, version and kind another operator's
/// CRD would serve, without its schema.
async fn install_schemaless_crd(client: &Client, group: &str, kind: &str, plural: &str) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}")},
        "spec": {
            "group": group,
            "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(), "listKind": format!("{kind}List")},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
            }],
        }
    }))
    .unwrap();
    apply(&crds, &crd.name_any(), &crd)
        .await
        .unwrap_or_else(|e| panic!("CRD {plural}.{group}: {e}"));
    wait_established(&crds, &crd.name_any()).await;
}

/// The WiberCluster the main test evolves: only the API replica count changes between steps.
fn chat_spec(bootstrap: &str, topic: &str, group: &str, api_replicas: i32) -> Value {
    json!({
        "kafka": {"bootstrapServers": bootstrap, "topic": {"name": topic}, "consumerGroup": group},
        "mongodb": {"connectionSecret": {"name": "mongo"}},
        "api": {"replicas": api_replicas, "auth": {
            "issuer": "https://idp.example", "audience": "wiber",
            "jwksUrl": "https://idp.example/.well-known/jwks.json",
        }},
        "consumers": {"minReplicas": 1, "maxReplicas": 10, "targetLagPerReplica": 10,
                      "scaleDownStabilizationSeconds": 6, "lagPollSeconds": 1},
    })
}

fn condition(wc: &WiberCluster, type_: &str) -> Option<String> {
    wc.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.status.clone())
}
