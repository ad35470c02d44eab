//! The operator chart: what it renders by default and with every option, its RBAC and CRD the
//! same as `operator/rbac.yaml` and `crds/`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::{Value, json};
use wiber_e2e::kube::KWOK_TOLERATIONS;
use wiber_e2e::repo;
use wiber_operator::crd::DEFAULT_IMAGE;

use super::{OPERATOR_OPTIONS, find, kinds_and_names, pairs, template, yaml_file};

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

#[test]
fn operator_chart_renders_a_locked_down_operator_with_leader_election_by_default() {
    let docs = template("wiber-operator", "ops", "wiber-system", &[]);
    let full = "ops-wiber-operator";
    assert_eq!(
        kinds_and_names(&docs),
        pairs(&[
            ("CustomResourceDefinition", "wiberclusters.wiber.io"),
            ("PodDisruptionBudget", full),
            ("ServiceAccount", full),
            ("ClusterRole", full),
            ("ClusterRole", "ops-wiber-operator-view"),
            ("ClusterRole", "ops-wiber-operator-edit"),
            ("ClusterRoleBinding", full),
            ("Role", "ops-wiber-operator-leader-election"),
            ("RoleBinding", "ops-wiber-operator-leader-election"),
            ("Service", "ops-wiber-operator-metrics"),
            ("Deployment", full),
        ]),
        "no ServiceMonitor, PrometheusRule, dashboards or NetworkPolicy unless enabled"
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
            &format!("tolerations={KWOK_TOLERATIONS}"),
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

    // A list of namespaces reaches WATCH_NAMESPACE comma-separated, as the operator reads it.
    let docs = template(
        "wiber-operator",
        "ops",
        "wiber-system",
        &["--set", "watchNamespaces={team-a,team-b}"],
    );
    assert_eq!(
        env_value(find(&docs, "Deployment"), "WATCH_NAMESPACE")["value"],
        "team-a,team-b"
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
    // files/alerts.yaml, each alert with its runbook_url added (observability/alert_overrides.rs).
    let mut groups = rule["spec"]["groups"].clone();
    for group in groups.as_array_mut().unwrap() {
        for rule in group["rules"].as_array_mut().unwrap() {
            let annotations = rule["annotations"].as_object_mut().unwrap();
            assert!(annotations.remove("runbook_url").is_some());
        }
    }
    assert_eq!(groups, alerts[0]["groups"]);

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
    let rules_of = |docs: &[Value], kind: &str| {
        let named: Vec<&Value> = docs
            .iter()
            .filter(|d| d["kind"] == kind)
            .filter(|d| !d["metadata"]["name"].as_str().unwrap().ends_with("-view"))
            .filter(|d| !d["metadata"]["name"].as_str().unwrap().ends_with("-edit"))
            .collect();
        assert_eq!(named.len(), 1, "one operator {kind}");
        named[0]["rules"].clone()
    };
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
    let chart = std::fs::read(repo().join("charts/wiber-operator/files/crds/wibercluster.yaml"))
        .expect("the chart's CRD");
    let generated = std::fs::read(repo().join("crds/wibercluster.yaml")).expect("crds/");
    assert!(
        chart == generated,
        "charts/wiber-operator/files/crds/wibercluster.yaml differs from crds/wibercluster.yaml: run `make crds`"
    );
}
