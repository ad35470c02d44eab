//! Proves the local Kubernetes control plane (`dev/cluster.sh`, started by `make test`) is a real
//! one for what Wiber's operator and charts rely on: the controller manager turns a Deployment into
//! a ReplicaSet and Pods, the scheduler places them on the kwok nodes, kwok reports them Running and
//! Ready, and deleting the Deployment garbage-collects its Pods; helm installs and uninstalls a
//! chart; kubectl sees the version that was built and the fake nodes Ready.
//!
//! Reads `KUBECONFIG` (the admin kubeconfig), `WIBER_HELM_BIN` and `WIBER_KUBECTL_BIN` (optional,
//! `kubectl` on PATH otherwise), which `make test` sets.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::{Value, json};
use wiber_e2e::kube::{WITHIN, client, create_namespace, delete_namespace, helm, kubectl};
use wiber_e2e::wait::eventually;
use wiber_e2e::{required_env, unique_name};

use crate::KUBE_VERSION;

/// A Deployment whose Pods can only land on the kwok nodes (their label and taint). The image is
/// never pulled: kwok simulates the containers.
fn deployment(name: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "nodeSelector": {"type": "kwok"},
                    "tolerations": [{
                        "key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"
                    }],
                    "containers": [{"name": "main", "image": "wiber.invalid/never-pulled:1"}]
                }
            }
        }
    }))
    .expect("a deployment")
}

async fn pods_of(pods: &Api<Pod>, app: &str) -> Vec<Pod> {
    pods.list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .expect("list pods")
        .items
}

#[tokio::test]
async fn deployment_on_kwok_nodes_becomes_ready_and_its_pods_are_garbage_collected() {
    let client = client().await;
    let ns = create_namespace(&client, "cluster").await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);

    deployments
        .create(&PostParams::default(), &deployment("web", 2))
        .await
        .expect("create deployment");
    eventually(
        "the deployment to report 2 ready replicas",
        WITHIN,
        || async {
            let status = deployments.get("web").await.ok()?.status?;
            (status.ready_replicas == Some(2)).then_some(())
        },
    )
    .await;

    // Placed by the scheduler on the fake nodes, and Running as kwok reports them.
    let placed = pods_of(&pods, "web").await;
    assert_eq!(placed.len(), 2, "two pods for two replicas");
    for pod in &placed {
        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
        assert!(
            node.as_deref().is_some_and(|n| n.starts_with("kwok-node-")),
            "pod {:?} is bound to a kwok node, not {node:?}",
            pod.metadata.name
        );
        let phase = pod.status.as_ref().and_then(|s| s.phase.clone());
        assert_eq!(phase.as_deref(), Some("Running"));
    }

    // The Deployment's ReplicaSet and Pods are its dependents: the controller manager's garbage
    // collector removes them once it is gone.
    deployments
        .delete("web", &DeleteParams::background())
        .await
        .expect("delete deployment");
    eventually(
        "the deployment's pods to be garbage-collected",
        WITHIN,
        || async { pods_of(&pods, "web").await.is_empty().then_some(()) },
    )
    .await;

    delete_namespace(&client, &ns).await;
}

/// A chart with a ConfigMap carrying a value and a Deployment on the kwok nodes.
fn write_chart(dir: &Path) {
    let templates = dir.join("templates");
    fs::create_dir_all(&templates).expect("chart dir");
    let files = [
        (
            dir.join("Chart.yaml"),
            "apiVersion: v2\nname: wiber-probe\nversion: 0.1.0\ntype: application\n",
        ),
        (dir.join("values.yaml"), "greeting: hello\nreplicas: 1\n"),
        (
            templates.join("configmap.yaml"),
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  greeting: {{ .Values.greeting | quote }}
"#,
        ),
        (
            templates.join("deployment.yaml"),
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: {{ .Release.Name }}-web}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}-web}
    spec:
      nodeSelector: {type: kwok}
      tolerations:
      - {key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}
      containers:
      - name: main
        image: wiber.invalid/never-pulled:1
"#,
        ),
    ];
    for (path, text) in files {
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}

#[tokio::test]
async fn helm_install_creates_the_charts_objects_and_uninstall_removes_them() {
    required_env("WIBER_HELM_BIN");
    let client = client().await;
    let ns = create_namespace(&client, "helm").await;
    let dir: PathBuf = std::env::temp_dir().join(unique_name("wiber-e2e-chart"));
    let chart = dir.join("chart");
    write_chart(&chart);
    let chart_path = chart.to_str().expect("utf-8 temp path");

    // --wait: helm itself waits until the Deployment is ready, which only kwok makes happen.
    let install = [
        "install",
        "probe",
        chart_path,
        "--namespace",
        &ns,
        "--set",
        "greeting=from-the-test",
        "--wait",
        "--timeout",
        "90s",
    ];
    helm(&install, Duration::from_secs(120)).success("helm install");

    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let settings = config_maps
        .get("probe-settings")
        .await
        .expect("the chart's ConfigMap");
    assert_eq!(
        settings
            .data
            .unwrap_or_default()
            .get("greeting")
            .map(String::as_str),
        Some("from-the-test"),
        "the ConfigMap carries the value set at install"
    );
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let web = deployments
        .get("probe-web")
        .await
        .expect("the chart's Deployment");
    assert_eq!(web.status.and_then(|s| s.ready_replicas), Some(1));
    // Helm 3 keeps the release in a Secret of the release's namespace.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    secrets
        .get("sh.helm.release.v1.probe.v1")
        .await
        .expect("helm's release record");

    let uninstall = [
        "uninstall",
        "probe",
        "--namespace",
        &ns,
        "--wait",
        "--timeout",
        "90s",
    ];
    helm(&uninstall, Duration::from_secs(120)).success("helm uninstall");
    eventually("the chart's objects to be gone", WITHIN, || async {
        let gone = config_maps.get_opt("probe-settings").await.ok()?.is_none()
            && deployments.get_opt("probe-web").await.ok()?.is_none()
            && secrets
                .get_opt("sh.helm.release.v1.probe.v1")
                .await
                .ok()?
                .is_none();
        gone.then_some(())
    })
    .await;

    delete_namespace(&client, &ns).await;
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn kubectl_sees_the_built_version_and_the_kwok_nodes_ready() {
    let version: Value =
        serde_json::from_str(&kubectl(&["get", "--raw", "/version"])).expect("/version is JSON");
    assert_eq!(
        version["gitVersion"],
        format!("v{KUBE_VERSION}"),
        "/version: {version}"
    );
    assert_eq!(version["major"], "1");
    assert_eq!(version["minor"], "34");

    let table = kubectl(&["get", "nodes", "-l", "type=kwok", "--no-headers"]);
    let nodes: Vec<(&str, &str)> = table
        .lines()
        .filter_map(|line| {
            let mut columns = line.split_whitespace();
            Some((columns.next()?, columns.next()?))
        })
        .collect();
    assert!(!nodes.is_empty(), "no kwok node listed:\n{table}");
    for (name, status) in &nodes {
        assert!(name.starts_with("kwok-node-"), "unexpected node {name}");
        assert_eq!(*status, "Ready", "node {name} is {status}:\n{table}");
    }
}
