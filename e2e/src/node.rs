//! The real node of the local cluster (`dev/cluster.sh`, started by `make test`, with this build's
//! images imported): where its pods reach the local Kafka and store, where its NodePorts answer,
//! namespaces under the `restricted` Pod Security level, the operator chart installed as a user
//! installs it, and what a failed test prints about the pods it ran.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, CustomResourceExt, ResourceExt};
use serde_json::json;
use tokio::sync::{Mutex, MutexGuard, OnceCell};
use wiber_operator::crd::WiberCluster;

use crate::kube::helm;
use crate::wait::eventually;
use crate::{repo, required_env, unique_name};

/// The node's name (dev/node.sh), which pods are pinned to so none lands on a kwok node.
pub const NODE_NAME: &str = "wiber-node";
/// Where the book's quickstart installs the operator chart.
pub const OPERATOR_NAMESPACE: &str = "wiber-system";
const OPERATOR_RELEASE: &str = "wiber-operator";
const HELM_WITHIN: Duration = Duration::from_secs(300);

/// Two cores hold one WiberCluster's journey beside Kafka and the store, not several at once: the
/// tests on the node take turns.
static NODE: Mutex<()> = Mutex::const_new(());

pub async fn exclusive() -> MutexGuard<'static, ()> {
    NODE.lock().await
}

/// The node's InternalIP, where NodePorts answer (`dev/cluster.sh node-ip`).
pub fn node_ip() -> String {
    required_env("WIBER_NODE_IP")
}

/// The local Kafka's bootstrap servers as pods reach them (`dev/kafka.sh pod-bootstrap`).
pub fn pod_kafka_bootstrap() -> String {
    required_env("WIBER_POD_KAFKA_BOOTSTRAP")
}

/// The local store's connection string as pods reach it (`dev/ferretdb.sh pod-uri`).
pub fn pod_mongo_uri() -> String {
    required_env("WIBER_POD_MONGO_URI")
}

async fn create_restricted(client: &Client, name: &str) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {
        "name": name,
        "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
    }}))
    .expect("a namespace");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
}

/// The CRD as the operator chart's release owns it. Other test binaries apply the CRD without
/// Helm's marks, and Helm refuses to take over an object without them; a user's cluster has them
/// from the chart, so they are added here as Helm documents for adopting an object.
pub async fn mark_crd_for_the_chart(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = WiberCluster::crd().name_any();
    if crds.get_opt(&name).await.expect("read the CRD").is_none() {
        return;
    }
    let marks = json!({"metadata": {
        "labels": {"app.kubernetes.io/managed-by": "Helm"},
        "annotations": {
            "meta.helm.sh/release-name": OPERATOR_RELEASE,
            "meta.helm.sh/release-namespace": OPERATOR_NAMESPACE,
        },
    }});
    crds.patch(&name, &PatchParams::default(), &Patch::Merge(&marks))
        .await
        .unwrap_or_else(|e| panic!("mark the CRD for the chart: {e}"));
}

/// The names (`node-<name>`) of the journey tests' namespaces: the operator they share watches
/// exactly these.
pub const JOURNEY: [&str; 6] = [
    "example", "scaling", "rollout", "failures", "shutdown", "plugin",
];
const JOURNEY_RELEASE: &str = "wiber-journey";

/// The namespace `node-<name>` under the restricted level, once a previous one of that name (a
/// test run again) is gone.
pub async fn journey_namespace(client: &Client, name: &str) -> String {
    assert!(JOURNEY.contains(&name), "{name} is not a journey namespace");
    let ns = format!("node-{name}");
    usable_namespace(client, &ns).await;
    ns
}

/// `name` under the restricted level, made when missing or once a deleted one is gone.
async fn usable_namespace(client: &Client, name: &str) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let what = format!("the namespace {name} to be usable");
    eventually(&what, HELM_WITHIN, || async {
        match namespaces.get_opt(name).await.ok()? {
            Some(ns) if ns.metadata.deletion_timestamp.is_none() => Some(()),
            Some(_) => None,
            None => {
                create_restricted(client, name).await;
                Some(())
            }
        }
    })
    .await;
}

static JOURNEY_OPERATOR: OnceCell<()> = OnceCell::const_new();

/// The operator chart, packaged as it is released, installed once per test run (release
/// `wiber-journey`, its image the one `make images` built) and shared by the journey tests. It
/// watches their namespaces only, so it never touches another test's WiberClusters and may stay
/// installed after them; the CRD is the one `install_crd` applies.
pub async fn journey_operator(client: &Client) {
    JOURNEY_OPERATOR
        .get_or_init(|| async {
            crate::kube::install_crd(client).await;
            usable_namespace(client, JOURNEY_RELEASE).await;
            let package = package_chart("wiber-operator");
            let watched: Vec<String> = JOURNEY.iter().map(|n| format!("node-{n}")).collect();
            let watched = format!("watchNamespaces={}", json!(watched));
            helm(
                &[
                    "upgrade",
                    "--install",
                    JOURNEY_RELEASE,
                    package.to_str().expect("utf-8 path"),
                    "--namespace",
                    JOURNEY_RELEASE,
                    "--set",
                    "crds.enabled=false",
                    "--set-json",
                    &watched,
                    "--wait",
                    "--timeout",
                    "4m",
                ],
                HELM_WITHIN,
            )
            .success("helm install of the packaged operator chart");
        })
        .await;
}

/// `helm package` of a chart of the repository, as its release publishes it.
fn package_chart(name: &str) -> PathBuf {
    let out = std::env::temp_dir().join(unique_name("wiber-chart"));
    let chart = repo().join("charts").join(name);
    let stdout = helm(
        &[
            "package",
            chart.to_str().expect("utf-8 path"),
            "--destination",
            out.to_str().expect("utf-8 path"),
        ],
        HELM_WITHIN,
    )
    .success("helm package");
    let path = stdout
        .rsplit(": ")
        .next()
        .map(str::trim)
        .unwrap_or_else(|| panic!("no package path in {stdout}"));
    PathBuf::from(path)
}

/// Pods of `ns` matching `selector`.
pub async fn pods(client: &Client, ns: &str, selector: &str) -> Vec<Pod> {
    Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(selector))
        .await
        .unwrap_or_else(|e| panic!("list pods {selector} in {ns}: {e}"))
        .items
}

/// Running on the node, every container started and Ready by the kubelet's own probes.
pub fn running_and_ready(pod: &Pod) -> bool {
    let on_node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(NODE_NAME);
    let Some(status) = pod.status.as_ref() else {
        return false;
    };
    let ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    let containers = status.container_statuses.iter().flatten().all(|c| {
        c.ready && c.started == Some(true) && c.state.as_ref().is_some_and(|s| s.running.is_some())
    });
    on_node && status.phase.as_deref() == Some("Running") && ready && containers
}

/// A test's namespaces on the node, deleted when the test ends. When the test fails, it first prints what the node did with their pods: the pods, the
/// namespaces' events, and each container's last log lines (and its previous run's, after a restart).
pub struct Namespaces {
    namespaces: Vec<String>,
    delete: bool,
}

impl Namespaces {
    /// Reported on failure and deleted at the end.
    pub fn owned(namespaces: &[&str]) -> Self {
        Self::new(namespaces, true)
    }

    /// Reported on failure only (something else deletes them).
    pub fn reported(namespaces: &[&str]) -> Self {
        Self::new(namespaces, false)
    }

    fn new(namespaces: &[&str], delete: bool) -> Self {
        Self {
            namespaces: namespaces.iter().map(|ns| (*ns).to_owned()).collect(),
            delete,
        }
    }

    fn report(&self) {
        for ns in &self.namespaces {
            eprintln!("\n===== what the node did in {ns} =====");
            eprintln!("{}", kubectl_text(&["-n", ns, "get", "pods", "-o", "wide"]));
            eprintln!(
                "{}",
                kubectl_text(&["-n", ns, "get", "events", "--sort-by=.lastTimestamp"])
            );
            let names = kubectl_text(&["-n", ns, "get", "pods", "-o", "name"]);
            for pod in names.lines().filter(|l| !l.is_empty()) {
                for previous in ["--previous=false", "--previous=true"] {
                    let logs = kubectl_text(&[
                        "-n",
                        ns,
                        "logs",
                        pod,
                        "--all-containers",
                        "--tail=40",
                        previous,
                    ]);
                    eprintln!("--- {pod} logs ({previous}) ---\n{logs}");
                }
            }
        }
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.report();
        }
        if self.delete {
            // Without waiting: the pods' graceful ends overlap the next test's start.
            for ns in &self.namespaces {
                kubectl_text(&["delete", "namespace", ns, "--wait=false"]);
            }
        }
    }
}

/// kubectl's output (or its error) as text, never failing: for reports while a test unwinds.
fn kubectl_text(args: &[&str]) -> String {
    let bin = std::env::var("WIBER_KUBECTL_BIN").unwrap_or_else(|_| "kubectl".to_owned());
    let kubeconfig = std::env::var("KUBECONFIG").unwrap_or_default();
    match Command::new(bin)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--request-timeout=10s")
        .args(args)
        .output()
    {
        Ok(out) => format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => format!("kubectl {args:?}: {e}"),
    }
}

/// Kills every process of a container with SIGKILL from this machine, as the kernel's OOM killer
/// or a crash would end it: found by its id in the processes' cgroups (`containerd://<id>`).
pub fn kill_container(container_id: &str) -> usize {
    let id = container_id.trim_start_matches("containerd://");
    let mut killed = 0;
    for entry in std::fs::read_dir("/proc").expect("/proc") {
        let Ok(entry) = entry else { continue };
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        if cgroups.lines().any(|l| l.ends_with(&format!("/{id}"))) {
            let status = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status()
                .expect("kill");
            killed += usize::from(status.success());
        }
    }
    assert!(killed > 0, "no process of container {id} found");
    killed
}

/// The id of the first container of `pod` (`containerd://...`).
pub fn container_id(pod: &Pod) -> String {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c.first())
        .and_then(|c| c.container_id.clone())
        .unwrap_or_else(|| panic!("{} has no container id yet", pod.name_any()))
}

/// Restarts of the first container of `pod`, and how its previous run ended (exit code).
pub fn restarts(pod: &Pod) -> (i32, Option<i32>) {
    let status = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c.first());
    let count = status.map_or(0, |c| c.restart_count);
    let exit = status
        .and_then(|c| c.last_state.as_ref())
        .and_then(|s| s.terminated.as_ref())
        .map(|t| t.exit_code);
    (count, exit)
}
