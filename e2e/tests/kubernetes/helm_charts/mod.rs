//! The Helm charts in `charts/`: `helm lint --strict`, what `helm template` renders with the
//! defaults and with every optional part, bad values rejected by the schemas, the chart's CRD and
//! RBAC identical to `crds/` and `operator/rbac.yaml`, the wiber chart's WiberCluster accepted by
//! the real API server, and a real `helm install` of both charts into the local kube-apiserver
//! (kwok runs the Pods) with the real operator binary authenticated as the chart's ServiceAccount.
//!
//! Reads `WIBER_HELM_BIN` and `KUBECONFIG` (set by `make test`); the install test also runs
//! `WIBER_BIN_DIR/wiber-operator`.

mod api_auth;
mod crds;
mod install;
mod notes;
mod operator_chart;
mod options;
mod packaging;
mod wiber_chart;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use serde::Deserialize;
use serde_json::Value;
use wiber_e2e::command::Output;
use wiber_e2e::kube::helm;
use wiber_e2e::repo;
use wiber_operator::crd::DEFAULT_IMAGE;

use crate::KUBE_VERSION;

/// The most one helm command may take.
const HELM_WITHIN: Duration = Duration::from_secs(180);

fn chart(name: &str) -> String {
    repo()
        .join("charts")
        .join(name)
        .to_str()
        .expect("utf-8 path")
        .to_owned()
}

fn helm_run(args: &[&str]) -> Output {
    helm(args, HELM_WITHIN)
}

/// The values every install of the wiber chart must give, since no default can name the token
/// issuer (`cluster.api.auth`); `template` renders the wiber chart with them ahead of `extra`.
const WIBER_AUTH: &[&str] = &[
    "--set",
    "cluster.api.auth.issuer=https://idp.example",
    "--set",
    "cluster.api.auth.jwksUrl=https://idp.example/.well-known/jwks.json",
];

/// `helm template` of a chart (release `release`, namespace `ns`) with extra arguments, parsed
/// into its documents; panics when helm fails.
fn template(chart_name: &str, release: &str, ns: &str, extra: &[&str]) -> Vec<Value> {
    let chart = chart(chart_name);
    let mut args = vec![
        "template",
        release,
        &chart,
        "--namespace",
        ns,
        "--kube-version",
        KUBE_VERSION,
    ];
    if chart_name == "wiber" {
        args.extend_from_slice(WIBER_AUTH);
    }
    args.extend_from_slice(extra);
    documents(&helm_run(&args).success("helm template"))
}

/// The documents of a multi-document YAML text, empty ones left out.
fn documents(text: &str) -> Vec<Value> {
    yaml_serde::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).expect("helm renders valid YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

/// `value` with every number as a float: YAML's `10000.0` and helm's re-rendered `10000` are the
/// same number to the API server.
fn numbers_as_floats(value: &Value) -> Value {
    match value {
        Value::Number(n) => serde_json::json!(n.as_f64().expect("a finite number")),
        Value::Array(items) => Value::Array(items.iter().map(numbers_as_floats).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), numbers_as_floats(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Copies `from` to `to` recursively (a chart, or the charts directory, to change or regenerate).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("copy dir");
    for entry in std::fs::read_dir(from).expect("dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}

fn yaml_file(path: &Path) -> Vec<Value> {
    documents(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

fn kinds_and_names(docs: &[Value]) -> BTreeSet<(String, String)> {
    docs.iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap().to_owned(),
                d["metadata"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(k, n)| ((*k).to_owned(), (*n).to_owned()))
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "expected one {kind}, got {}", found.len());
    found[0]
}

fn wiberclusters(client: &Client, ns: &str) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "wiber.io",
        "v1alpha1",
        "WiberCluster",
    ));
    Api::namespaced_with(client.clone(), ns, &resource)
}

/// Every optional part of the operator chart.
const OPERATOR_OPTIONS: &[&str] = &[
    "--set",
    "serviceMonitor.enabled=true",
    "--set",
    "serviceMonitor.labels.release=kube-prometheus-stack",
    "--set",
    "prometheusRule.enabled=true",
    "--set",
    "grafana.dashboards.enabled=true",
    "--set",
    "grafana.dashboards.folder=Wiber",
];

/// Every optional part of the wiber chart.
const WIBER_OPTIONS: &[&str] = &[
    "--set",
    "kafka.enabled=true",
    "--set",
    "mongodb.enabled=true",
    "--set",
    "akhq.enabled=true",
    "--set",
    "cluster.api.service.type=NodePort",
    "--set",
    "cluster.api.service.nodePort=30080",
    "--set",
    "cluster.consumers.targetDrainSeconds=120",
    "--set",
    "cluster.scheduling.nodeSelector.pool=wiber",
    "--set",
    "cluster.template.consumer.priorityClassName=high",
    "--set",
    "cluster.monitoring.podMonitorLabels.release=kube-prometheus-stack",
    "--set",
    "cluster.monitoring.scrapeInterval=15s",
    "--set",
    "cluster.api.ingress.host=chat.example.com",
    "--set",
    "cluster.api.ingress.tls.secretName=chat-tls",
    "--set",
    "cluster.template.apiService.annotations.team=chat",
    "--set",
    "cluster.image.digest=sha256:0000000000000000000000000000000000000000000000000000000000000000",
];

#[test]
fn both_charts_pass_helm_lint_strict_with_defaults_and_with_every_option() {
    for (name, required, options) in [
        ("wiber-operator", &[][..], OPERATOR_OPTIONS),
        ("wiber", WIBER_AUTH, WIBER_OPTIONS),
    ] {
        let chart = chart(name);
        let mut args = vec!["lint", "--strict", chart.as_str()];
        args.extend_from_slice(required);
        let defaults = helm_run(&args).success("helm lint");
        assert!(defaults.contains("0 chart(s) failed"), "{defaults}");
        args.extend_from_slice(options);
        let all = helm_run(&args).success("helm lint with every option");
        assert!(all.contains("0 chart(s) failed"), "{all}");
    }
}

#[test]
fn chart_versions_and_default_images_match_the_workspace_and_the_operator() {
    for name in ["wiber-operator", "wiber"] {
        let meta = &yaml_file(&repo().join("charts").join(name).join("Chart.yaml"))[0];
        assert_eq!(meta["apiVersion"], "v2");
        assert_eq!(meta["appVersion"], env!("CARGO_PKG_VERSION"), "{name}");
        assert_eq!(meta["kubeVersion"], ">=1.30.0-0", "{name}");
    }
    let wc = find(&template("wiber", "chat", "team", &[]), "WiberCluster").clone();
    assert_eq!(wc["spec"]["image"]["repository"], DEFAULT_IMAGE);
    assert_eq!(wc["spec"]["image"]["tag"], env!("CARGO_PKG_VERSION"));
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).expect("Dockerfile");
    for image in [
        DEFAULT_IMAGE.to_owned(),
        format!("{DEFAULT_IMAGE}-operator"),
    ] {
        assert!(dockerfile.contains(&image), "the Dockerfile builds {image}");
    }
}

/// Runs `helm template` expecting failure; returns helm's message.
fn rejected(chart_name: &str, values: &[&str]) -> String {
    let chart = chart(chart_name);
    let mut args = vec![
        "template",
        "bad",
        chart.as_str(),
        "--kube-version",
        KUBE_VERSION,
    ];
    args.extend_from_slice(values);
    let out = helm_run(&args);
    assert!(
        !out.status.success(),
        "{chart_name} accepted {values:?}:\n{}",
        out.stdout
    );
    out.stderr
}

#[test]
fn bad_values_are_rejected_naming_the_field() {
    let long_name = format!("cluster.name={}", "a".repeat(41));
    // (chart, the --set values, what helm's message must contain)
    let op = "wiber-operator";
    let cases = [
        (op, "replicaCount=0", "/replicaCount"),
        (op, "image.pullPolicy=Sometimes", "/image/pullPolicy"),
        (op, "imageTypo=1", "'imageTypo' not allowed"),
        (op, "watchNamespace=Team_A", "/watchNamespace"),
        (op, "watchNamespaces={team-a,Team_B}", "/watchNamespaces/1"),
        (op, "watchNamespaces={a,a}", "/watchNamespaces"),
        (
            op,
            "watchNamespace=a,watchNamespaces={b}",
            "set watchNamespaces only",
        ),
        (
            op,
            "leaderElection.leaseDurationSeconds=1",
            "/leaderElection/leaseDurationSeconds",
        ),
        (op, "logging.format=xml", "/logging/format"),
        (op, "resources.requests.cpu=lots", "/resources/requests/cpu"),
        (
            op,
            "serviceMonitor.interval=soon",
            "/serviceMonitor/interval",
        ),
        (op, "metrics.port=70000", "/metrics/port"),
        (op, "grafana.dashboards.oops=1", "'oops' not allowed"),
        (
            op,
            "replicaCount=2,leaderElection.enabled=false",
            "leaderElection.enabled",
        ),
        ("wiber", &long_name, "/cluster/name"),
        (
            "wiber",
            "cluster.api.service.nodePort=8000",
            "/cluster/api/service/nodePort",
        ),
        (
            "wiber",
            "cluster.api.service.type=Ingress",
            "/cluster/api/service/type",
        ),
        (
            "wiber",
            "cluster.kafka.topic.partitions=0",
            "/cluster/kafka/topic/partitions",
        ),
        (
            "wiber",
            "cluster.kafka.topic.name=no spaces",
            "/cluster/kafka/topic/name",
        ),
        (
            "wiber",
            "cluster.mongodb.writeConcern=all",
            "/cluster/mongodb/writeConcern",
        ),
        (
            "wiber",
            "cluster.consumers.maxReplicas=0",
            "/cluster/consumers/maxReplicas",
        ),
        (
            "wiber",
            "cluster.kafka.bootstrapServers=no-port",
            "/cluster/kafka/bootstrapServers",
        ),
        ("wiber", "kafka.replicas=1", "/kafka/replicas"),
        ("wiber", "kafka.storage.size=big", "/kafka/storage/size"),
        ("wiber", "mongodb.members=0", "/mongodb/members"),
        ("wiber", "akhq.enabled=yes", "/akhq/enabled"),
        (
            "wiber",
            "cluster.monitoring.scrapeInterval=often",
            "/cluster/monitoring/scrapeInterval",
        ),
        (
            op,
            "prometheusRule.alerts.WiberApiSlow.severity=page",
            "/prometheusRule/alerts/WiberApiSlow/severity",
        ),
        (
            op,
            "prometheusRule.alerts.NoSuchAlert.enabled=false",
            "'NoSuchAlert' not allowed",
        ),
        (
            "wiber",
            "cluster.api.auth.mode=None,mongodb.enabled=true,mongodb.user.password=x,mongodb.user.existingSecret=y",
            "set one, not both",
        ),
        (
            "wiber",
            "cluster.consumers.minReplicas=5,cluster.consumers.maxReplicas=2",
            "minReplicas must not exceed",
        ),
        (
            "wiber",
            "kafka.enabled=true,cluster.kafka.bootstrapServers=k:9092",
            "cluster.kafka.bootstrapServers and kafka.enabled",
        ),
        (
            "wiber",
            "mongodb.enabled=true,cluster.mongodb.connectionSecret.name=mine",
            "cluster.mongodb.connectionSecret.name and mongodb.enabled",
        ),
        (
            "wiber",
            "kafka.authentication.enabled=true",
            "kafka.authentication.enabled needs kafka.enabled",
        ),
        (
            "wiber",
            "cluster.kafka.authentication.type=kerberos",
            "/cluster/kafka/authentication/type",
        ),
        (
            "wiber",
            "cluster.kafka.authentication.username=wiber",
            "/cluster/kafka/authentication",
        ),
        (
            "wiber",
            "kafka.enabled=true,kafka.authentication.enabled=true,cluster.kafka.authentication.type=plain",
            "set by kafka.authentication.enabled",
        ),
    ];
    for (chart_name, values, field) in cases {
        let message = rejected(chart_name, &["--set", values]);
        assert!(
            message.contains(field),
            "{chart_name} {values}: helm's message does not name {field}:\n{message}"
        );
    }
}
