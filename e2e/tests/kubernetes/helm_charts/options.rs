//! What cluster operators expect of the charts beyond the defaults: a disruption budget for the
//! operator's replicas, an optional NetworkPolicy, ClusterRoles aggregated into view/edit/admin, and
//! an existing Secret for MongoDB's password so GitOps renders are stable.

use serde_json::json;

use super::{find, template};

#[test]
fn operator_pods_get_a_disruption_budget_only_when_there_are_two_or_more() {
    let docs = template("wiber-operator", "ops", "wiber-system", &[]);
    let budget = find(&docs, "PodDisruptionBudget");
    assert_eq!(budget["spec"]["maxUnavailable"], 1);
    assert_eq!(
        budget["spec"]["selector"]["matchLabels"],
        find(&docs, "Deployment")["spec"]["selector"]["matchLabels"]
    );
    let single = template(
        "wiber-operator",
        "ops",
        "wiber-system",
        &["--set", "replicaCount=1"],
    );
    assert!(
        single.iter().all(|d| d["kind"] != "PodDisruptionBudget"),
        "a budget on one replica would block every drain"
    );
    let off = template(
        "wiber-operator",
        "ops",
        "x",
        &["--set", "podDisruptionBudget.enabled=false"],
    );
    assert!(off.iter().all(|d| d["kind"] != "PodDisruptionBudget"));
}

#[test]
fn the_network_policy_admits_only_the_metrics_port_from_the_peers_given() {
    let docs = template(
        "wiber-operator",
        "ops",
        "wiber-system",
        &[
            "--set",
            "networkPolicy.enabled=true",
            "--set-json",
            r#"networkPolicy.metricsFrom=[{"namespaceSelector":{"matchLabels":{"name":"monitoring"}}}]"#,
        ],
    );
    let policy = find(&docs, "NetworkPolicy");
    assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress"]));
    let ingress = &policy["spec"]["ingress"];
    assert_eq!(ingress.as_array().unwrap().len(), 1);
    assert_eq!(
        ingress[0]["ports"],
        json!([{"port": "http-metrics", "protocol": "TCP"}])
    );
    assert_eq!(
        ingress[0]["from"][0]["namespaceSelector"]["matchLabels"]["name"],
        "monitoring"
    );
    // Egress is restricted only when rules are given.
    let docs = template(
        "wiber-operator",
        "ops",
        "x",
        &[
            "--set",
            "networkPolicy.enabled=true",
            "--set-json",
            r#"networkPolicy.egress=[{"ports":[{"port":443}]}]"#,
        ],
    );
    let policy = find(&docs, "NetworkPolicy");
    assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(policy["spec"]["egress"][0]["ports"][0]["port"], 443);
}

#[test]
fn wiberclusters_are_readable_by_view_and_writable_by_edit_and_admin() {
    let docs = template("wiber-operator", "ops", "wiber-system", &[]);
    let role = |name: &str| {
        docs.iter()
            .find(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no ClusterRole {name}"))
    };
    let aggregate = |r: &serde_json::Value, to: &str| {
        r["metadata"]["labels"][format!("rbac.authorization.k8s.io/aggregate-to-{to}")] == "true"
    };
    let view = role("ops-wiber-operator-view");
    assert!(aggregate(view, "view") && aggregate(view, "edit") && aggregate(view, "admin"));
    assert_eq!(view["rules"][0]["verbs"], json!(["get", "list", "watch"]));
    let edit = role("ops-wiber-operator-edit");
    assert!(!aggregate(edit, "view") && aggregate(edit, "edit") && aggregate(edit, "admin"));
    let verbs = edit["rules"][0]["verbs"].as_array().unwrap();
    assert!(verbs.contains(&json!("create")) && verbs.contains(&json!("delete")));
    assert_eq!(
        edit["rules"][0]["resources"],
        json!(["wiberclusters"]),
        "status stays the operator's to write"
    );
    let off = template(
        "wiber-operator",
        "ops",
        "x",
        &["--set", "rbac.aggregateClusterRoles=false"],
    );
    assert_eq!(off.iter().filter(|d| d["kind"] == "ClusterRole").count(), 1);
}

#[test]
fn an_existing_mongodb_secret_replaces_the_generated_password() {
    let docs = template(
        "wiber",
        "chat",
        "team",
        &[
            "--set",
            "mongodb.enabled=true",
            "--set",
            "mongodb.user.existingSecret=mongo-password",
            "--set",
            "mongodb.user.existingSecretKey=pw",
        ],
    );
    assert!(
        docs.iter().all(|d| d["kind"] != "Secret"),
        "the chart renders no password Secret of its own"
    );
    let mongodb = find(&docs, "MongoDBCommunity");
    assert_eq!(
        mongodb["spec"]["users"][0]["passwordSecretRef"],
        json!({"name": "mongo-password", "key": "pw"})
    );
    // Two renders without cluster access give different random passwords: the reason for the option.
    let password = |docs: &[serde_json::Value]| find(docs, "Secret")["data"]["password"].clone();
    let generated = ["--set", "mongodb.enabled=true"];
    assert_ne!(
        password(&template("wiber", "chat", "team", &generated)),
        password(&template("wiber", "chat", "team", &generated))
    );
}

#[test]
fn the_wiber_chart_passes_template_digest_ingress_and_monitoring_to_the_wibercluster() {
    let digest = format!("sha256:{}", "ab".repeat(32));
    let docs = template(
        "wiber",
        "chat",
        "team",
        &[
            "--set-json",
            r#"cluster.template={"api":{"priorityClassName":"high","env":[{"name":"RUST_LOG","value":"debug"}]}}"#,
            "--set",
            &format!("cluster.image.digest={digest}"),
            "--set-json",
            r#"cluster.api.ingress={"host":"chat.example.com","className":"nginx"}"#,
            "--set",
            "cluster.monitoring.podMonitorLabels.release=prom",
            "--set",
            "cluster.monitoring.scrapeInterval=20s",
        ],
    );
    let spec = &find(&docs, "WiberCluster")["spec"];
    assert_eq!(spec["template"]["api"]["priorityClassName"], "high");
    assert_eq!(spec["template"]["api"]["env"][0]["name"], "RUST_LOG");
    assert_eq!(spec["image"]["digest"], digest);
    assert_eq!(spec["api"]["ingress"]["host"], "chat.example.com");
    assert_eq!(spec["monitoring"]["podMonitorLabels"]["release"], "prom");
    assert_eq!(spec["monitoring"]["scrapeInterval"], "20s");
    let plain = template("wiber", "chat", "team", &[]);
    let spec = &find(&plain, "WiberCluster")["spec"];
    assert!(spec.get("template").is_none() && spec["image"].get("digest").is_none());
    assert!(spec["api"].get("ingress").is_none() && spec.get("monitoring").is_none());
}
