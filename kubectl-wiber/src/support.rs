//! `kubectl wiber support`: one .tar.gz a user attaches to a bug report. It holds what a
//! maintainer asks for first (the WiberCluster, its Deployments, Pods, Services and events, each
//! pod's logs and metrics, the operator's logs, the versions) and never a Secret's data: the
//! WiberCluster names its Secrets, it does not hold them.

use std::path::PathBuf;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod, Service};
use kube::api::{Api, ListParams, LogParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::Value;

use crate::error::Error;
use crate::status;

/// Pods of the operator, in whatever namespace its chart was installed.
const OPERATOR_SELECTOR: &str = "app.kubernetes.io/name=wiber-operator";
/// The container ports that serve /metrics (the API's admin port, the consumer's and the
/// operator's metrics port).
const METRICS_PORTS: [&str; 3] = ["admin", "metrics", "http-metrics"];

/// The files of a bundle, by path inside it, and what could not be collected.
#[derive(Default)]
pub struct Bundle {
    pub files: Vec<(String, Vec<u8>)>,
    pub missing: Vec<String>,
}

impl Bundle {
    fn add(&mut self, path: impl Into<String>, contents: impl Into<Vec<u8>>) {
        self.files.push((path.into(), contents.into()));
    }

    /// Adds what `fetched` gave, or notes why it is missing: one unreadable log must not cost
    /// the rest of the bundle.
    fn add_or_note<E: std::fmt::Display>(&mut self, path: &str, fetched: Result<String, E>) {
        match fetched {
            Ok(text) => self.add(path, text),
            Err(e) => self.missing.push(format!("{path}: {e}")),
        }
    }
}

pub async fn write(
    client: &Client,
    ns: &str,
    name: &str,
    output: Option<PathBuf>,
    log_lines: i64,
) -> Result<String, Error> {
    let bundle = collect(client, ns, name, log_lines).await?;
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let dir = format!("wiber-support-{ns}-{name}-{stamp}");
    let path = output.unwrap_or_else(|| PathBuf::from(format!("{dir}.tar.gz")));
    archive(&bundle, &dir, &path).map_err(|source| Error::Write {
        path: path.display().to_string(),
        source,
    })?;
    let mut said = format!(
        "Wrote {} ({} files). It holds logs and object specs, no Secret data: read it before you share it.\n",
        path.display(),
        bundle.files.len()
    );
    for missing in &bundle.missing {
        said.push_str(&format!("  not collected: {missing}\n"));
    }
    Ok(said)
}

pub async fn collect(
    client: &Client,
    ns: &str,
    name: &str,
    log_lines: i64,
) -> Result<Bundle, Error> {
    let mut wc = status::get(client, ns, name).await?;
    let mut bundle = Bundle::default();
    let events = status::events(client, ns, name).await?;
    bundle.add(
        "status.txt",
        status::render(&wc, &events, jiff::Timestamp::now()),
    );
    wc.meta_mut().managed_fields = None;
    bundle.add("wibercluster.yaml", yaml(&wc));

    let selector = format!("app.kubernetes.io/name=wiber,app.kubernetes.io/instance={name}");
    let by_label = ListParams::default().labels(&selector);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let namespace_events: Api<Event> = Api::namespaced(client.clone(), ns);
    bundle.add_or_note(
        "deployments.yaml",
        deployments
            .list(&by_label)
            .await
            .map(|l| yaml_list(l.items)),
    );
    bundle.add_or_note(
        "services.yaml",
        services.list(&by_label).await.map(|l| yaml_list(l.items)),
    );
    // The whole namespace's events: a pod that cannot be scheduled or pulled says so on itself.
    bundle.add_or_note(
        "events.yaml",
        namespace_events
            .list(&ListParams::default())
            .await
            .map(|l| yaml_list(l.items)),
    );
    let cluster_pods = pods.list(&by_label).await.map(|l| l.items);
    match cluster_pods {
        Ok(list) => {
            bundle.add("pods.yaml", yaml_list(list.clone()));
            for pod in &list {
                pod_files(client, &mut bundle, pod, "pods", log_lines).await;
            }
        }
        Err(e) => bundle.missing.push(format!("pods: {e}")),
    }

    let operators: Api<Pod> = Api::all(client.clone());
    match operators
        .list(&ListParams::default().labels(OPERATOR_SELECTOR))
        .await
    {
        Ok(list) if list.items.is_empty() => bundle
            .missing
            .push(format!("operator: no pod labelled {OPERATOR_SELECTOR}")),
        Ok(list) => {
            for pod in &list.items {
                pod_files(client, &mut bundle, pod, "operator", log_lines).await;
            }
        }
        Err(e) => bundle.missing.push(format!("operator pods: {e}")),
    }

    let version = client.apiserver_version().await.map(|v| v.git_version);
    bundle.add_or_note(
        "versions.txt",
        version.map(|server| {
            format!(
                "kubectl-wiber {}\nKubernetes {server}\n",
                env!("CARGO_PKG_VERSION")
            )
        }),
    );
    if !bundle.missing.is_empty() {
        let text = bundle.missing.join("\n") + "\n";
        bundle.add("not-collected.txt", text);
    }
    Ok(bundle)
}

/// A pod's logs (and its previous run's, after a restart) per container, and its metrics read
/// through the API server's proxy (no port-forward).
async fn pod_files(client: &Client, bundle: &mut Bundle, pod: &Pod, dir: &str, lines: i64) {
    let (ns, name) = (pod.namespace().unwrap_or_default(), pod.name_any());
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.clone())
        .unwrap_or_default();
    for container in statuses {
        let mut params = LogParams {
            container: Some(container.name.clone()),
            tail_lines: Some(lines),
            timestamps: true,
            ..LogParams::default()
        };
        let path = format!("{dir}/{name}/{}.log", container.name);
        bundle.add_or_note(&path, pods.logs(&name, &params).await);
        if container.restart_count > 0 {
            params.previous = true;
            let path = format!("{dir}/{name}/{}.previous.log", container.name);
            bundle.add_or_note(&path, pods.logs(&name, &params).await);
        }
    }
    let port = pod
        .spec
        .iter()
        .flat_map(|s| &s.containers)
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| {
            p.name
                .as_deref()
                .is_some_and(|n| METRICS_PORTS.contains(&n))
        });
    if let Some(port) = port {
        let uri = format!(
            "/api/v1/namespaces/{ns}/pods/{name}:{}/proxy/metrics",
            port.container_port
        );
        let metrics = match http::Request::get(uri).body(Vec::new()) {
            Ok(request) => client
                .request_text(request)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        bundle.add_or_note(&format!("{dir}/{name}/metrics.txt"), metrics);
    }
}

fn yaml<T: serde::Serialize>(object: &T) -> String {
    yaml_serde::to_string(object).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
}

/// A list's items as one YAML stream, without the server's bookkeeping.
fn yaml_list<T: serde::Serialize + Resource>(items: Vec<T>) -> String {
    items
        .into_iter()
        .map(|mut item| {
            item.meta_mut().managed_fields = None;
            let value: Value = serde_json::to_value(&item).unwrap_or(Value::Null);
            format!("---\n{}", yaml(&value))
        })
        .collect()
}

/// Writes the bundle as `<dir>/<path>` entries of a gzipped tar.
pub fn archive(bundle: &Bundle, dir: &str, path: &std::path::Path) -> std::io::Result<()> {
    let file = std::fs::File::create(path)?;
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mtime = jiff::Timestamp::now().as_second().max(0) as u64;
    for (name, contents) in &bundle.files {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        tar.append_data(&mut header, format!("{dir}/{name}"), contents.as_slice())?;
    }
    tar.into_inner()?.finish()?.sync_all()
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn the_archive_holds_every_file_under_one_directory() {
        let mut bundle = Bundle::default();
        bundle.add("status.txt", "Ready True\n");
        bundle.add("pods/chat-api-1/api.log", "line\n");
        let path = std::env::temp_dir().join(format!("wiber-bundle-{}.tar.gz", std::process::id()));
        archive(&bundle, "wiber-support-shop-chat", &path).unwrap();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(
            std::fs::File::open(&path).unwrap(),
        ));
        let mut found = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            found.push((entry.path().unwrap().display().to_string(), text));
        }
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            found,
            [
                (
                    "wiber-support-shop-chat/status.txt".to_owned(),
                    "Ready True\n".to_owned()
                ),
                (
                    "wiber-support-shop-chat/pods/chat-api-1/api.log".to_owned(),
                    "line\n".to_owned()
                ),
            ]
        );
    }
}
