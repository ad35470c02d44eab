//! The Helm charts in `charts/`: `helm lint --strict`, what `helm template` renders with the
//! defaults and with every optional part, bad values rejected by the schemas, the chart's CRD and
//! RBAC identical to `crds/` and `operator/rbac.yaml`, the wiber chart's WiberCluster accepted by
//! the real API server, and a real `helm install` of both charts into the local kube-apiserver
//! (kwok runs the Pods) with the real operator binary authenticated as the chart's ServiceAccount.
//!
//! Reads `WIBER_HELM_BIN` and `KUBECONFIG` (set by `make test`); the install test also runs
//! `WIBER_BIN_DIR/wiber-operator`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Pod, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::{Client, Resource};
use serde::Deserialize;
use serde_json::{Value, json};
use wiber_e2e::kube::{
    Output, client, create_mongo_secret, create_namespace, delete_namespace, helm, install_crd,
    run, service_account_kubeconfig, wait_established,
};
use wiber_e2e::stack::{Process, binary, eventually, free_port};
use wiber_e2e::{required_env, unique_name};
use wiber_operator::crd::{DEFAULT_IMAGE, WiberCluster};

const WITHIN: Duration = Duration::from_secs(120);
const HELM_WITHIN: Duration = Duration::from_secs(180);
/// `helm template` has no cluster to ask; the chart requires Kubernetes >= 1.30.
const KUBE_VERSION: &str = "1.34.4";
const KWOK_TOLERATION: &str =
    r#"[{"key":"kwok.x-k8s.io/node","operator":"Equal","value":"fake","effect":"NoSchedule"}]"#;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn chart(name: &str) -> String {
    repo()
        .join("charts")
        .join(name)
        .to_str()
        .expect("utf-8 path")
        .to_owned()
}

/// A throw-away directory for helm's cache, config and data.
fn helm_home() -> PathBuf {
    std::env::temp_dir().join(unique_name("wiber-e2e-helm"))
}

fn helm_run(args: &[&str]) -> Output {
    let home = helm_home();
    let output = run(
        &format!("helm {}", args.join(" ")),
        &mut helm(&home, args),
        HELM_WITHIN,
    );
    let _ = std::fs::remove_dir_all(&home);
    output
}

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

/// The container env of a rendered Deployment as name -> the whole entry.
fn env_of(deployment: &Value) -> Vec<(String, Value)> {
    deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("container env")
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_owned(), e.clone()))
        .collect()
}

fn env_value(deployment: &Value, name: &str) -> Value {
    env_of(deployment)
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no env {name}"))
        .1
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
];

#[test]
fn both_charts_pass_helm_lint_strict_with_defaults_and_with_every_option() {
    for (name, options) in [
        ("wiber-operator", OPERATOR_OPTIONS),
        ("wiber", WIBER_OPTIONS),
    ] {
        let chart = chart(name);
        let defaults = helm_run(&["lint", "--strict", &chart]).success("helm lint");
        assert!(defaults.contains("0 chart(s) failed"), "{defaults}");
        let mut args = vec!["lint", "--strict", chart.as_str()];
        args.extend_from_slice(options);
        let all = helm_run(&args).success("helm lint with every option");
        assert!(all.contains("0 chart(s) failed"), "{all}");
    }
}

#[test]
fn operator_chart_renders_a_locked_down_operator_with_leader_election_by_default() {
    let docs = template("wiber-operator", "ops", "wiber-system", &[]);
    let full = "ops-wiber-operator";
    assert_eq!(
        kinds_and_names(&docs),
        pairs(&[
            ("ServiceAccount", full),
            ("ClusterRole", full),
            ("ClusterRoleBinding", full),
            ("Role", "ops-wiber-operator-leader-election"),
            ("RoleBinding", "ops-wiber-operator-leader-election"),
            ("Service", "ops-wiber-operator-metrics"),
            ("Deployment", full),
        ]),
        "no ServiceMonitor, PrometheusRule or dashboards unless enabled"
    );
    let deployment = find(&docs, "Deployment");
    assert_eq!(deployment["metadata"]["namespace"], "wiber-system");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(
        container["image"],
        format!("{DEFAULT_IMAGE}-operator:{}", env!("CARGO_PKG_VERSION")),
        "the operator image sits next to the api/consumer image, tagged with the appVersion"
    );
    assert_eq!(pod["serviceAccountName"], full);

    // The environment operator/src/config.rs reads.
    let names: BTreeSet<String> = env_of(deployment).into_iter().map(|(n, _)| n).collect();
    let expected: BTreeSet<String> = [
        "OPERATOR_HOST",
        "OPERATOR_PORT",
        "LEADER_ELECTION",
        "LEASE_NAME",
        "LEASE_DURATION_SECONDS",
        "POD_NAMESPACE",
        "POD_NAME",
        "LOG_FORMAT",
        "RUST_LOG",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(names, expected, "WATCH_NAMESPACE only when set");
    assert_eq!(env_value(deployment, "LEADER_ELECTION")["value"], "true");
    assert_eq!(env_value(deployment, "LEASE_NAME")["value"], full);
    assert_eq!(env_value(deployment, "LOG_FORMAT")["value"], "json");
    assert_eq!(
        env_value(deployment, "POD_NAMESPACE")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    assert_eq!(
        env_value(deployment, "POD_NAME")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );

    // Probes on the operator's health routes, on the port the metrics Service targets.
    assert_eq!(
        container["livenessProbe"]["httpGet"]["path"],
        "/health/liveness"
    );
    assert_eq!(
        container["readinessProbe"]["httpGet"]["path"],
        "/health/readiness"
    );
    assert_eq!(container["ports"][0]["containerPort"], 8080);
    assert_eq!(env_value(deployment, "OPERATOR_PORT")["value"], "8080");
    let service = find(&docs, "Service");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http-metrics");
    assert_eq!(container["ports"][0]["name"], "http-metrics");
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"]
    );

    // Locked down.
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], json!(["ALL"]));
    assert!(container["resources"]["requests"]["memory"].is_string());

    // WATCH_NAMESPACE and the scheduling values reach the pod.
    let docs = template(
        "wiber-operator",
        "ops",
        "wiber-system",
        &[
            "--set",
            "watchNamespace=team-a",
            "--set",
            "nodeSelector.pool=system",
            "--set-json",
            &format!("tolerations={KWOK_TOLERATION}"),
            "--set",
            "priorityClassName=system-cluster-critical",
            "--set",
            "podLabels.team=platform",
            "--set",
            "podAnnotations.note=hello",
            "--set-json",
            r#"imagePullSecrets=[{"name":"registry"}]"#,
            "--set",
            "image.tag=9.9.9",
        ],
    );
    let deployment = find(&docs, "Deployment");
    let pod = &deployment["spec"]["template"];
    assert_eq!(env_value(deployment, "WATCH_NAMESPACE")["value"], "team-a");
    assert_eq!(pod["spec"]["nodeSelector"]["pool"], "system");
    assert_eq!(pod["spec"]["tolerations"][0]["key"], "kwok.x-k8s.io/node");
    assert_eq!(pod["spec"]["priorityClassName"], "system-cluster-critical");
    assert_eq!(pod["spec"]["imagePullSecrets"][0]["name"], "registry");
    assert_eq!(pod["metadata"]["labels"]["team"], "platform");
    assert_eq!(pod["metadata"]["annotations"]["note"], "hello");
    assert_eq!(
        pod["spec"]["containers"][0]["image"],
        format!("{DEFAULT_IMAGE}-operator:9.9.9")
    );
}

#[test]
fn operator_chart_renders_service_monitor_alerts_and_one_dashboard_per_file_when_enabled() {
    let docs = template("wiber-operator", "ops", "monitoring", OPERATOR_OPTIONS);
    let monitor = find(&docs, "ServiceMonitor");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(
        monitor["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "http-metrics");
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    // The operator's samples name their WiberCluster's namespace: Prometheus must keep it.
    assert_eq!(monitor["spec"]["endpoints"][0]["honorLabels"], true);
    assert_eq!(
        monitor["spec"]["selector"]["matchLabels"],
        find(&docs, "Service")["metadata"]["labels"]
            .as_object()
            .map(|labels| {
                let mut selector = serde_json::Map::new();
                for key in ["app.kubernetes.io/name", "app.kubernetes.io/instance"] {
                    selector.insert(key.to_owned(), labels[key].clone());
                }
                Value::Object(selector)
            })
            .unwrap()
    );

    // The PrometheusRule's spec is files/alerts.yaml, a Prometheus rule file.
    let files = repo().join("charts/wiber-operator/files");
    let alerts = yaml_file(&files.join("alerts.yaml"));
    let rule = find(&docs, "PrometheusRule");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert!(
        !alerts[0]["groups"].as_array().unwrap().is_empty(),
        "alerts.yaml has rule groups"
    );
    assert_eq!(rule["spec"]["groups"], alerts[0]["groups"]);

    // One ConfigMap per dashboard file, with the Grafana sidecar's label and folder annotation.
    let mut dashboards: Vec<PathBuf> = std::fs::read_dir(files.join("dashboards"))
        .expect("files/dashboards")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    dashboards.sort();
    assert!(!dashboards.is_empty(), "the chart ships dashboards");
    let config_maps: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "ConfigMap").collect();
    assert_eq!(config_maps.len(), dashboards.len());
    for path in &dashboards {
        let file = path.file_name().unwrap().to_str().unwrap();
        let map = config_maps
            .iter()
            .find(|m| m["data"].get(file).is_some())
            .unwrap_or_else(|| panic!("no ConfigMap holds {file}"));
        assert_eq!(map["metadata"]["labels"]["grafana_dashboard"], "1");
        assert_eq!(map["metadata"]["annotations"]["grafana_folder"], "Wiber");
        assert!(map["metadata"]["name"].as_str().unwrap().len() <= 63);
        let rendered: Value = serde_json::from_str(map["data"][file].as_str().unwrap())
            .unwrap_or_else(|e| panic!("{file} in its ConfigMap is not JSON: {e}"));
        let original: Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(rendered, original, "{file} is carried unchanged");
    }

    // The sidecar's label and folder annotation are configurable.
    let docs = template(
        "wiber-operator",
        "ops",
        "monitoring",
        &[
            "--set",
            "grafana.dashboards.enabled=true",
            "--set",
            "grafana.dashboards.label=dashboards",
            "--set",
            "grafana.dashboards.labelValue=wiber",
            "--set",
            "grafana.dashboards.namespace=grafana",
        ],
    );
    for map in docs.iter().filter(|d| d["kind"] == "ConfigMap") {
        assert_eq!(map["metadata"]["labels"]["dashboards"], "wiber");
        assert_eq!(map["metadata"]["namespace"], "grafana");
        assert!(map["metadata"].get("annotations").is_none());
    }
}

#[test]
fn operator_chart_rbac_rules_equal_operator_rbac_yaml() {
    let rbac = yaml_file(&repo().join("operator/rbac.yaml"));
    let rules_of = |docs: &[Value], kind: &str| find(docs, kind)["rules"].clone();
    let docs = template("wiber-operator", "ops", "wiber-system", &[]);
    for kind in ["ClusterRole", "Role"] {
        assert_eq!(
            rules_of(&docs, kind),
            rules_of(&rbac, kind),
            "the chart's {kind} rules differ from operator/rbac.yaml's"
        );
    }
    // Both bind the chart's ServiceAccount.
    for kind in ["ClusterRoleBinding", "RoleBinding"] {
        let binding = find(&docs, kind);
        assert_eq!(binding["subjects"][0]["name"], "ops-wiber-operator");
        assert_eq!(binding["subjects"][0]["namespace"], "wiber-system");
    }
    // Without leader election there is no Lease to take.
    let docs = template(
        "wiber-operator",
        "ops",
        "wiber-system",
        &[
            "--set",
            "replicaCount=1",
            "--set",
            "leaderElection.enabled=false",
        ],
    );
    assert!(docs.iter().all(|d| d["kind"] != "Role"));
    assert_eq!(
        env_value(find(&docs, "Deployment"), "LEADER_ELECTION")["value"],
        "false"
    );
}

#[test]
fn operator_chart_crd_is_byte_identical_to_crds_dir() {
    let chart = std::fs::read(repo().join("charts/wiber-operator/crds/wibercluster.yaml"))
        .expect("the chart's CRD");
    let generated = std::fs::read(repo().join("crds/wibercluster.yaml")).expect("crds/");
    assert!(
        chart == generated,
        "charts/wiber-operator/crds/wibercluster.yaml differs from crds/wibercluster.yaml: run `make crds`"
    );
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

#[test]
fn wiber_chart_renders_a_wibercluster_and_when_enabled_strimzi_kafka_mongodb_and_akhq() {
    // Defaults: only the WiberCluster, pointing at a Strimzi Kafka and the MongoDB operator's
    // Secret named the way this chart would name them.
    let docs = template("wiber", "chat", "team", &[]);
    assert_eq!(kinds_and_names(&docs), pairs(&[("WiberCluster", "chat")]));
    let wc = find(&docs, "WiberCluster");
    assert_eq!(wc["apiVersion"], "wiber.io/v1alpha1");
    assert_eq!(wc["metadata"]["namespace"], "team");
    assert_eq!(wc["spec"]["kafka"]["strimziCluster"], "chat-kafka");
    assert!(wc["spec"]["kafka"].get("bootstrapServers").is_none());
    assert_eq!(
        wc["spec"]["mongodb"]["connectionSecret"],
        json!({"name": "chat-mongo-wiber-wiber", "key": "connectionString.standard"})
    );
    assert_eq!(wc["spec"]["api"]["service"]["type"], "ClusterIP");
    assert!(wc["spec"]["api"]["service"].get("nodePort").is_none());

    // Plain bootstrap servers and an existing Secret instead.
    let docs = template(
        "wiber",
        "chat",
        "team",
        &[
            "--set",
            "cluster.kafka.bootstrapServers=kafka-0.kafka:9092\\,kafka-1.kafka:9092",
            "--set",
            "cluster.mongodb.connectionSecret.name=mongo",
            "--set",
            "cluster.name=orders",
        ],
    );
    let wc = find(&docs, "WiberCluster");
    assert_eq!(wc["metadata"]["name"], "orders");
    assert_eq!(
        wc["spec"]["kafka"]["bootstrapServers"],
        "kafka-0.kafka:9092,kafka-1.kafka:9092"
    );
    assert!(wc["spec"]["kafka"].get("strimziCluster").is_none());
    assert_eq!(wc["spec"]["mongodb"]["connectionSecret"]["name"], "mongo");

    // Everything.
    let docs = template("wiber", "chat", "team", WIBER_OPTIONS);
    assert_eq!(
        kinds_and_names(&docs),
        pairs(&[
            ("WiberCluster", "chat"),
            ("Kafka", "chat-kafka"),
            ("KafkaNodePool", "chat-kafka-dual-role"),
            ("MongoDBCommunity", "chat-mongo"),
            ("Secret", "chat-mongo-wiber-password"),
            ("ConfigMap", "chat-wiber-akhq"),
            ("Deployment", "chat-wiber-akhq"),
            ("Service", "chat-wiber-akhq"),
        ])
    );
    let kafka = find(&docs, "Kafka");
    assert_eq!(kafka["apiVersion"], "kafka.strimzi.io/v1");
    assert_eq!(
        kafka["metadata"]["annotations"]["strimzi.io/kraft"],
        "enabled"
    );
    assert_eq!(
        kafka["metadata"]["annotations"]["strimzi.io/node-pools"],
        "enabled"
    );
    assert!(
        kafka["spec"]["kafka"]["version"]
            .as_str()
            .unwrap()
            .starts_with("4.1.")
    );
    let config = &kafka["spec"]["kafka"]["config"];
    assert_eq!(config["default.replication.factor"], 3);
    assert_eq!(config["min.insync.replicas"], 2);
    assert_eq!(config["offsets.topic.replication.factor"], 3);
    assert_eq!(kafka["spec"]["kafka"]["listeners"][0]["name"], "plain");
    assert!(kafka["spec"]["entityOperator"]["topicOperator"].is_object());
    let pool = find(&docs, "KafkaNodePool");
    assert_eq!(pool["apiVersion"], "kafka.strimzi.io/v1");
    assert_eq!(
        pool["metadata"]["labels"]["strimzi.io/cluster"],
        "chat-kafka"
    );
    assert_eq!(pool["spec"]["replicas"], 3);
    assert_eq!(pool["spec"]["roles"], json!(["controller", "broker"]));
    assert_eq!(
        pool["spec"]["storage"]["volumes"][0]["type"],
        "persistent-claim"
    );

    let mongo = find(&docs, "MongoDBCommunity");
    assert_eq!(mongo["apiVersion"], "mongodbcommunity.mongodb.com/v1");
    assert_eq!(mongo["spec"]["members"], 3);
    assert_eq!(mongo["spec"]["type"], "ReplicaSet");
    assert_eq!(
        mongo["spec"]["security"]["authentication"]["modes"],
        json!(["SCRAM"])
    );
    let user = &mongo["spec"]["users"][0];
    assert_eq!(
        user["passwordSecretRef"]["name"],
        find(&docs, "Secret")["metadata"]["name"]
    );
    assert_eq!(
        user["roles"][0],
        json!({"name": "readWrite", "db": "wiber"})
    );

    // The WiberCluster uses exactly that Kafka and the Secret the MongoDB operator writes for
    // that user: `<resource>-<db>-<user>`.
    let wc = find(&docs, "WiberCluster");
    assert_eq!(
        wc["spec"]["kafka"]["strimziCluster"],
        kafka["metadata"]["name"]
    );
    assert_eq!(
        wc["spec"]["mongodb"]["connectionSecret"]["name"],
        format!(
            "{}-{}-{}",
            mongo["metadata"]["name"].as_str().unwrap(),
            user["db"].as_str().unwrap(),
            user["name"].as_str().unwrap()
        )
    );
    // kind-config.yaml maps NodePort 30080 to the host.
    assert_eq!(
        wc["spec"]["api"]["service"],
        json!({"type": "NodePort", "port": 8000, "nodePort": 30080})
    );
    let kind: Value = yaml_file(&repo().join("kind-config.yaml"))[0].clone();
    assert_eq!(
        kind["nodes"][0]["extraPortMappings"][0]["containerPort"],
        30080
    );
    assert_eq!(wc["spec"]["consumers"]["targetDrainSeconds"], 120);
    assert_eq!(wc["spec"]["scheduling"]["nodeSelector"]["pool"], "wiber");

    // AKHQ points at the Strimzi Kafka's bootstrap Service.
    let akhq_config: Value = yaml_serde::from_str(
        find(&docs, "ConfigMap")["data"]["application.yml"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        akhq_config["akhq"]["connections"]["chat"]["properties"]["bootstrap.servers"],
        "chat-kafka-kafka-bootstrap.team.svc:9092"
    );
    let akhq = find(&docs, "Deployment");
    let pod = &akhq["spec"]["template"]["spec"];
    assert!(
        pod["containers"][0]["image"]
            .as_str()
            .unwrap()
            .starts_with("tchiotludo/akhq:")
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        find(&docs, "Service")["spec"]["selector"],
        akhq["spec"]["selector"]["matchLabels"]
    );
}

fn wiberclusters(client: &Client, ns: &str) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "wiber.io",
        "v1alpha1",
        "WiberCluster",
    ));
    Api::namespaced_with(client.clone(), ns, &resource)
}

#[test]
fn wiber_chart_secures_its_kafka_with_tls_scram_and_a_kafka_user_when_asked() {
    let docs = template(
        "wiber",
        "chat",
        "team-a",
        &[
            "--set",
            "kafka.enabled=true",
            "--set",
            "kafka.authentication.enabled=true",
        ],
    );
    let kafka = find(&docs, "Kafka");
    let listeners = kafka["spec"]["kafka"]["listeners"].as_array().unwrap();
    let tls = listeners
        .iter()
        .find(|l| l["name"] == "tls")
        .expect("a tls listener");
    assert_eq!(tls["tls"], true);
    assert_eq!(tls["authentication"]["type"], "scram-sha-512");
    assert!(kafka["spec"]["entityOperator"]["userOperator"].is_object());
    let user = find(&docs, "KafkaUser");
    assert_eq!(user["metadata"]["name"], "chat-wiber");
    assert_eq!(
        user["metadata"]["labels"]["strimzi.io/cluster"],
        "chat-kafka"
    );
    assert_eq!(user["spec"]["authentication"]["type"], "scram-sha-512");
    // The WiberCluster uses the secured listener, the cluster CA and the user's Secret, as
    // Strimzi names them.
    let k = &find(&docs, "WiberCluster")["spec"]["kafka"];
    assert_eq!(k["strimziListener"], "tls");
    assert_eq!(
        k["tls"]["trustedCertificate"]["secretName"],
        "chat-kafka-cluster-ca-cert"
    );
    assert_eq!(k["authentication"]["username"], "chat-wiber");
    assert_eq!(
        k["authentication"]["passwordSecret"]["secretName"],
        "chat-wiber"
    );
    // Without it: the plain listener, no user, no credentials.
    let docs = template("wiber", "chat", "team-a", &["--set", "kafka.enabled=true"]);
    assert!(
        !kinds_and_names(&docs)
            .iter()
            .any(|(kind, _)| kind == "KafkaUser")
    );
    let k = &find(&docs, "WiberCluster")["spec"]["kafka"];
    assert_eq!(k["strimziListener"], "plain");
    assert!(k.get("authentication").is_none() && k.get("tls").is_none());
}

/// The checked-in examples are what the README tells people to apply: the API server accepts every
/// WiberCluster in them.
#[tokio::test]
async fn every_example_wibercluster_is_accepted_by_the_api_server() {
    let client = client().await;
    install_crd(&client).await;
    let ns = create_namespace(&client, "wiber-examples").await;
    let api = wiberclusters(&client, &ns);
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let mut checked = 0;
    for entry in std::fs::read_dir(repo().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        for doc in yaml_file(&path) {
            if doc["kind"] != "WiberCluster" {
                continue;
            }
            let object: DynamicObject = serde_json::from_value(doc).unwrap();
            api.create(&dry_run, &object)
                .await
                .unwrap_or_else(|e| panic!("{} is rejected: {e}", path.display()));
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} example WiberClusters found");
    delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn wiber_chart_wibercluster_passes_the_api_servers_validation() {
    let client = client().await;
    install_crd(&client).await;
    let ns = create_namespace(&client, "wiber-helm-dry").await;
    let api = wiberclusters(&client, &ns);
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let external = [
        "--set",
        "cluster.kafka.bootstrapServers=kafka:9092",
        "--set",
        "cluster.mongodb.connectionSecret.name=mongo",
        "--set-json",
        &format!("cluster.scheduling.tolerations={KWOK_TOLERATION}"),
        "--set",
        "cluster.consumers.minReplicas=0",
        "--set",
        "cluster.api.resources.requests.cpu=200m",
    ];
    let mut secured_kafka = WIBER_OPTIONS.to_vec();
    secured_kafka.extend(["--set", "kafka.authentication.enabled=true"]);
    let mut external_mtls = external.to_vec();
    external_mtls.extend([
        "--set-json",
        r#"cluster.kafka.tls={"trustedCertificate":{"secretName":"ca"}}"#,
        "--set-json",
        r#"cluster.kafka.authentication={"type":"tls","certificateAndKey":{"secretName":"user"}}"#,
    ]);
    let variants: [&[&str]; 5] = [
        &[],
        WIBER_OPTIONS,
        &external,
        &secured_kafka,
        &external_mtls,
    ];
    for values in variants {
        let docs = template("wiber", "chat", &ns, values);
        let wc = find(&docs, "WiberCluster");
        let object: DynamicObject = serde_json::from_value(wc.clone()).unwrap();
        let created = api.create(&dry_run, &object).await.unwrap_or_else(|e| {
            panic!("the API server rejects the WiberCluster of {values:?}: {e}")
        });
        // The server's defaults and the chart's values agree: it reads back as the operator's type.
        let typed: WiberCluster = serde_json::from_value(serde_json::to_value(&created).unwrap())
            .expect("a WiberCluster");
        assert_eq!(typed.meta().name.as_deref(), Some("chat"));
    }
    // A long release name is cut to the CRD's 40-character limit on WiberCluster names.
    let docs = template(
        "wiber",
        &"r".repeat(53),
        &ns,
        &["--set", "cluster.kafka.bootstrapServers=kafka:9092"],
    );
    let object: DynamicObject =
        serde_json::from_value(find(&docs, "WiberCluster").clone()).unwrap();
    api.create(&dry_run, &object)
        .await
        .expect("a 53-character release name gives an accepted WiberCluster name");
    delete_namespace(&client, &ns).await;
}

/// The Ready condition of a Pod.
fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_chart_installs_and_its_rbac_runs_the_operator() {
    let client = client().await;
    required_env("WIBER_HELM_BIN");
    let ns = create_namespace(&client, "wiber-helm").await;
    // Release names are unique, so the cluster-scoped RBAC of parallel runs never collides.
    let release = format!("op-{}", &unique_name("x")[2..14]);
    let full = format!("{release}-wiber-operator");
    let operator_chart = chart("wiber-operator");
    let toleration = format!("tolerations={KWOK_TOLERATION}");

    // --wait: helm waits for the Deployment's two Pods to be Ready, which kwok makes happen.
    helm_run(&[
        "install",
        &release,
        &operator_chart,
        "--namespace",
        &ns,
        "--set",
        &format!("watchNamespace={ns}"),
        "--set",
        "nodeSelector.type=kwok",
        "--set-json",
        &toleration,
        "--wait",
        "--timeout",
        "120s",
    ])
    .success("helm install of the operator chart");

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    wait_established(&crds, "wiberclusters.wiber.io").await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let operator = deployments
        .get(&full)
        .await
        .expect("the operator Deployment");
    assert_eq!(
        operator.status.as_ref().and_then(|s| s.ready_replicas),
        Some(2)
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let selector =
        format!("app.kubernetes.io/instance={release},app.kubernetes.io/name=wiber-operator");
    let operator_pods = pods
        .list(&kube::api::ListParams::default().labels(&selector))
        .await
        .unwrap()
        .items;
    assert_eq!(operator_pods.len(), 2);
    for pod in &operator_pods {
        assert_eq!(
            pod.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Running")
        );
        assert!(pod_ready(pod), "operator pod not Ready: {:?}", pod.status);
    }

    // kwok never runs the image: run the real binary here, with the environment the chart gives
    // its container (the downward API filled in as for the first Pod) and the chart's
    // ServiceAccount's token, so the chart's RBAC is what it runs with.
    let kubeconfig = service_account_kubeconfig(&client, &ns, &full).await;
    let pod_name = operator_pods[0].metadata.name.clone().unwrap();
    let port = free_port();
    let container = &operator
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0];
    let mut env: Vec<(String, String)> = Vec::new();
    for var in container.env.as_ref().unwrap() {
        let value = match (&var.value, &var.value_from) {
            (Some(v), _) => v.clone(),
            (None, Some(from)) => match from.field_ref.as_ref().unwrap().field_path.as_str() {
                "metadata.namespace" => ns.clone(),
                "metadata.name" => pod_name.clone(),
                other => panic!("unexpected downward API field {other}"),
            },
            (None, None) => String::new(),
        };
        env.push((var.name.clone(), value));
    }
    for (name, value) in [
        ("OPERATOR_HOST", "127.0.0.1".to_owned()),
        ("OPERATOR_PORT", port.to_string()),
        ("KUBECONFIG", kubeconfig.display().to_string()),
    ] {
        env.retain(|(n, _)| n != name);
        env.push((name.to_owned(), value));
    }
    let mut process = Process::spawn(binary("wiber-operator"), &[], &env, "helm-operator");

    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    eventually("the operator to take the chart's Lease", WITHIN, || async {
        let holder = leases.get_opt(&full).await.ok()??.spec?.holder_identity?;
        holder.starts_with(&pod_name).then_some(())
    })
    .await;

    // A Wiber instance from the wiber chart: plain bootstrap servers (the operator applies the
    // Deployments whether or not Kafka answers) and a connection Secret.
    create_mongo_secret(&client, &ns, "mongo").await;
    let wiber_chart = chart("wiber");
    let wiber_toleration = format!("cluster.scheduling.tolerations={KWOK_TOLERATION}");
    helm_run(&[
        "install",
        "chat",
        &wiber_chart,
        "--namespace",
        &ns,
        "--set",
        "cluster.kafka.bootstrapServers=kafka.invalid:9092",
        "--set",
        "cluster.mongodb.connectionSecret.name=mongo",
        "--set",
        "cluster.api.replicas=1",
        "--set-json",
        &wiber_toleration,
    ])
    .success("helm install of the wiber chart");
    eventually(
        "the operator to create ready api and consumer Deployments",
        WITHIN,
        || async {
            let api = deployments.get_opt("chat-api").await.ok()??;
            let consumer = deployments.get_opt("chat-consumer").await.ok()??;
            let image = api.spec.as_ref()?.template.spec.as_ref()?.containers[0]
                .image
                .clone()?;
            assert_eq!(
                image,
                format!("{DEFAULT_IMAGE}:{}", env!("CARGO_PKG_VERSION"))
            );
            let ready = |d: &Deployment| d.status.as_ref()?.ready_replicas;
            (ready(&api)? >= 1 && ready(&consumer)? >= 1).then_some(())
        },
    )
    .await;
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    services.get("chat-api").await.expect("the API Service");
    // Reading the Secret and writing the status are allowed too.
    eventually(
        "MongoReady True in the WiberCluster's status",
        WITHIN,
        || async {
            let wc = wiberclusters(&client, &ns).get("chat").await.ok()?;
            let conditions = wc.data["status"]["conditions"].as_array()?.clone();
            conditions
                .iter()
                .any(|c| c["type"] == "MongoReady" && c["status"] == "True")
                .then_some(())
        },
    )
    .await;
    assert!(
        process.is_running(),
        "the operator exited: {}",
        process.log_text()
    );
    assert!(
        !process.log_text().contains("forbidden"),
        "the chart's RBAC denied the operator something: {}",
        process.log.display()
    );

    // Uninstalling the wiber chart deletes the WiberCluster, and with it everything the operator made.
    helm_run(&[
        "uninstall",
        "chat",
        "--namespace",
        &ns,
        "--wait",
        "--timeout",
        "120s",
    ])
    .success("helm uninstall of the wiber chart");
    eventually("the WiberCluster's objects to be gone", WITHIN, || async {
        let gone = wiberclusters(&client, &ns)
            .get_opt("chat")
            .await
            .ok()?
            .is_none()
            && deployments.get_opt("chat-api").await.ok()?.is_none()
            && deployments.get_opt("chat-consumer").await.ok()?.is_none()
            && services.get_opt("chat-api").await.ok()?.is_none();
        gone.then_some(())
    })
    .await;
    process.terminate(Duration::from_secs(30));
    let _ = std::fs::remove_file(&kubeconfig);

    helm_run(&[
        "uninstall",
        &release,
        "--namespace",
        &ns,
        "--wait",
        "--timeout",
        "120s",
    ])
    .success("helm uninstall of the operator chart");
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    let roles: Api<Role> = Api::namespaced(client.clone(), &ns);
    let role_bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &ns);
    let cluster_roles: Api<ClusterRole> = Api::all(client.clone());
    let cluster_role_bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    let election = format!("{full}-leader-election");
    eventually(
        "the operator chart's objects to be gone",
        WITHIN,
        || async {
            let gone = deployments.get_opt(&full).await.ok()?.is_none()
                && accounts.get_opt(&full).await.ok()?.is_none()
                && services
                    .get_opt(&format!("{full}-metrics"))
                    .await
                    .ok()?
                    .is_none()
                && roles.get_opt(&election).await.ok()?.is_none()
                && role_bindings.get_opt(&election).await.ok()?.is_none()
                && cluster_roles.get_opt(&full).await.ok()?.is_none()
                && cluster_role_bindings.get_opt(&full).await.ok()?.is_none()
                && pods
                    .list(&kube::api::ListParams::default().labels(&selector))
                    .await
                    .ok()?
                    .items
                    .is_empty();
            gone.then_some(())
        },
    )
    .await;
    // Helm never deletes what it installed from crds/: other WiberClusters keep their CRD.
    crds.get("wiberclusters.wiber.io")
        .await
        .expect("the CRD stays after uninstall");
    delete_namespace(&client, &ns).await;
}
