//! Dashboards and alerts cannot rot: the alert rules pass `promtool check rules` and their
//! `promtool test rules` unit tests, every alert has a case that fires and one that stays silent,
//! the Grafana dashboards are well-formed and all read the datasource variable, and every metric a
//! dashboard or alert queries is exported by the real binaries (api, consumer and operator, run
//! against the local Kafka, MongoDB-protocol server and kube-apiserver, scraped on `/metrics`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};
use wiber_e2e::kube::{
    MANAGER, client, delete_namespace, install_crd, namespace_with_mongo_secret, run,
    spawn_operator,
};
use wiber_e2e::promql::{metric_names, variable_query_metric_names};
use wiber_e2e::stack::{Wiber, create_topic, eventually, free_port};
use wiber_e2e::{kafka_bootstrap, unique_name};
use wiber_operator::crd::WiberCluster;

const WITHIN: Duration = Duration::from_secs(120);
const DASHBOARDS: &[&str] = &[
    "wiber-api.json",
    "wiber-operator.json",
    "wiber-pipeline.json",
];
/// Series Prometheus writes itself for every scrape target: no binary exports them.
const PROMETHEUS_GENERATED: &[&str] = &["up"];
/// Variables Grafana defines itself.
const GRAFANA_BUILTINS: &[&str] = &["__rate_interval", "__interval", "__interval_ms", "__range"];

fn chart() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../charts/wiber-operator")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn yaml(path: &Path) -> Value {
    yaml_serde::from_str(&read(path))
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()))
}

/// Every dashboard in files/dashboards, by file name; exactly the three Wiber ships.
fn dashboards() -> BTreeMap<String, Value> {
    let dir = chart().join("files/dashboards");
    let found: BTreeMap<String, Value> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let dashboard = serde_json::from_str(&read(&p))
                .unwrap_or_else(|e| panic!("{name} is not valid JSON: {e}"));
            (name, dashboard)
        })
        .collect();
    assert_eq!(
        found.keys().map(String::as_str).collect::<Vec<_>>(),
        DASHBOARDS,
        "dashboards in {}",
        dir.display()
    );
    found
}

/// Every panel of a dashboard, the panels of collapsed rows included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(panels: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in panels.as_array().into_iter().flatten() {
            out.push(panel);
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

fn alert_rules() -> Vec<Value> {
    let alerts = yaml(&chart().join("files/alerts.yaml"));
    alerts["groups"]
        .as_array()
        .expect("alerts.yaml has groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("a group has rules").clone())
        .collect()
}

/// Every PromQL query of the dashboards (panel targets and variable queries) and the alerts, with
/// where it is, mapped to the metric names it reads.
fn queries() -> Vec<(String, BTreeSet<String>)> {
    let mut out = Vec::new();
    for (file, dashboard) in dashboards() {
        for panel in panels(&dashboard) {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = target["expr"].as_str().unwrap_or_default();
                out.push((
                    format!(
                        "{file} panel {:?} {}",
                        panel["title"].as_str().unwrap_or_default(),
                        target["refId"].as_str().unwrap_or_default()
                    ),
                    metric_names(expr),
                ));
            }
        }
        for variable in dashboard["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if variable["type"] == "query" {
                let query = variable["query"]["query"]
                    .as_str()
                    .or_else(|| variable["query"].as_str())
                    .unwrap_or_default();
                out.push((
                    format!("{file} variable {}", variable["name"]),
                    variable_query_metric_names(query),
                ));
            }
        }
    }
    for rule in alert_rules() {
        let expr = rule["expr"].as_str().expect("a rule has an expr");
        out.push((format!("alerts.yaml {}", rule["alert"]), metric_names(expr)));
    }
    out
}

/// Every metric name queried anywhere, with the places that query it.
fn referenced_metrics() -> BTreeMap<String, Vec<String>> {
    let mut referenced: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (place, names) in queries() {
        assert!(!names.is_empty(), "{place} queries no metric");
        for name in names {
            referenced.entry(name).or_default().push(place.clone());
        }
    }
    referenced
}

fn promtool() -> PathBuf {
    if let Some(bin) = std::env::var_os("WIBER_PROMTOOL_BIN") {
        return PathBuf::from(bin);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("promtool"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "promtool is not on PATH: `dev/cluster.sh install` installs it (Debian's prometheus \
                 package), or set WIBER_PROMTOOL_BIN to its path"
            )
        })
}

#[test]
fn alert_rules_pass_promtool_check_and_unit_tests() {
    let promtool = promtool();
    let checked = run(
        "promtool check rules",
        Command::new(&promtool)
            .current_dir(chart())
            .args(["check", "rules", "files/alerts.yaml"]),
        Duration::from_secs(60),
    )
    .success("promtool check rules files/alerts.yaml");
    let rules = alert_rules().len();
    assert!(
        checked.contains(&format!("SUCCESS: {rules} rules found")),
        "{checked}"
    );
    let tested = run(
        "promtool test rules",
        Command::new(&promtool).current_dir(chart()).args([
            "test",
            "rules",
            "tests/alerts_test.yaml",
        ]),
        Duration::from_secs(120),
    )
    .success("promtool test rules tests/alerts_test.yaml");
    assert!(tested.contains("SUCCESS"), "{tested}");
}

#[test]
fn alerts_file_is_a_prometheusrule_spec_of_complete_alerts() {
    let alerts = yaml(&chart().join("files/alerts.yaml"));
    // A PrometheusRule's spec holds `groups` and nothing else; the chart nests this file under it.
    let keys: Vec<&String> = alerts.as_object().expect("a mapping").keys().collect();
    assert_eq!(keys, ["groups"], "top-level keys of alerts.yaml");
    let mut names = BTreeSet::new();
    for rule in alert_rules() {
        let name = rule["alert"].as_str().expect("every rule is an alert");
        assert!(names.insert(name.to_owned()), "{name} defined twice");
        assert!(
            rule["for"].as_str().is_some_and(|f| !f.is_empty()),
            "{name} has no `for`"
        );
        let severity = rule["labels"]["severity"].as_str().unwrap_or_default();
        assert!(
            ["critical", "warning", "info"].contains(&severity),
            "{name} severity {severity:?}"
        );
        for annotation in ["summary", "description", "runbook"] {
            assert!(
                rule["annotations"][annotation]
                    .as_str()
                    .is_some_and(|a| !a.trim().is_empty()),
                "{name} has no {annotation} annotation"
            );
        }
    }
    for wanted in [
        "WiberConsumerLagGrowing",
        "WiberConsumersAtMaxAndLagRising",
        "WiberDeadLettersAppearing",
        "WiberApiErrorRatioHigh",
        "WiberKafkaProduceFailures",
        "WiberOperatorReconcileErrors",
        "WiberTargetDown",
    ] {
        assert!(names.contains(wanted), "no {wanted} alert");
    }
}

#[test]
fn every_alert_has_a_promtool_case_that_fires_and_one_that_stays_silent() {
    let tests = yaml(&chart().join("tests/alerts_test.yaml"));
    assert_eq!(tests["rule_files"], json!(["../files/alerts.yaml"]));
    let mut firing = BTreeSet::new();
    let mut silent = BTreeSet::new();
    for case in tests["tests"].as_array().expect("tests") {
        for check in case["alert_rule_test"].as_array().into_iter().flatten() {
            let name = check["alertname"].as_str().expect("alertname").to_owned();
            let expected = check["exp_alerts"].as_array().expect("exp_alerts");
            if expected.is_empty() {
                silent.insert(name);
            } else {
                for alert in expected {
                    assert!(
                        alert["exp_labels"]["severity"].is_string(),
                        "{name}: a firing case must state its labels"
                    );
                    assert!(
                        alert["exp_annotations"]["summary"].is_string(),
                        "{name}: a firing case must state its annotations"
                    );
                }
                firing.insert(name);
            }
        }
    }
    for rule in alert_rules() {
        let name = rule["alert"].as_str().unwrap();
        assert!(firing.contains(name), "{name} has no case where it fires");
        assert!(
            silent.contains(name),
            "{name} has no case where it is silent"
        );
    }
}

#[test]
fn dashboards_are_valid_json_with_unique_panel_ids_and_the_datasource_variable() {
    let mut uids = BTreeSet::new();
    for (file, dashboard) in dashboards() {
        let uid = dashboard["uid"].as_str().expect("a stable uid");
        assert_eq!(format!("{uid}.json"), file, "uid and file name");
        assert!(uids.insert(uid.to_owned()));
        assert!(
            dashboard["schemaVersion"].as_u64().is_some_and(|v| v >= 36),
            "{file} schemaVersion"
        );
        assert!(
            dashboard["id"].is_null(),
            "{file}: id must be null to import"
        );
        let variables = dashboard["templating"]["list"]
            .as_array()
            .expect("variables");
        let variable = |name: &str| variables.iter().find(|v| v["name"] == name);
        let datasource = variable("datasource").unwrap_or_else(|| panic!("{file}: no datasource"));
        assert_eq!(
            (&datasource["type"], &datasource["query"]),
            (&json!("datasource"), &json!("prometheus")),
            "{file} datasource variable"
        );
        assert!(
            variable("namespace").is_some(),
            "{file}: no namespace variable"
        );
        let defined: BTreeSet<&str> = variables
            .iter()
            .filter_map(|v| v["name"].as_str())
            .chain(GRAFANA_BUILTINS.iter().copied())
            .collect();
        let uses_datasource = |v: &Value| v["uid"] == "${datasource}";
        for v in variables.iter().filter(|v| v["type"] == "query") {
            assert!(
                uses_datasource(&v["datasource"]),
                "{file} variable {} ignores the datasource variable",
                v["name"]
            );
        }
        let mut ids = BTreeSet::new();
        for panel in panels(&dashboard) {
            let title = &panel["title"];
            let id = panel["id"].as_u64().expect("a panel id");
            assert!(ids.insert(id), "{file}: panel id {id} used twice");
            assert!(panel["gridPos"]["w"].is_u64(), "{file} {title}: gridPos");
            if panel["type"] == "row" {
                continue;
            }
            assert!(
                uses_datasource(&panel["datasource"]),
                "{file} {title}: panel datasource is not ${{datasource}}"
            );
            let targets = panel["targets"].as_array().expect("targets");
            assert!(!targets.is_empty(), "{file} {title}: no query");
            for target in targets {
                assert!(
                    target["datasource"].is_null() || uses_datasource(&target["datasource"]),
                    "{file} {title}: a target overrides the datasource"
                );
                let expr = target["expr"].as_str().unwrap_or_default();
                assert!(!expr.trim().is_empty(), "{file} {title}: empty query");
                for used in grafana_variables(expr) {
                    assert!(
                        defined.contains(used.as_str()),
                        "{file} {title}: ${used} is not defined"
                    );
                }
            }
            assert!(
                panel["fieldConfig"]["defaults"]["unit"].is_string(),
                "{file} {title}: no unit"
            );
        }
    }
}

/// The Grafana variables (`$name`, `${name}`) an expression uses.
fn grafana_variables(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        let name: String = rest
            .trim_start_matches('{')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        out.push(name);
    }
    out
}

async fn scrape(http: &reqwest::Client, url: &str) -> BTreeSet<String> {
    let Ok(response) = http.get(format!("{url}/metrics")).send().await else {
        return BTreeSet::new();
    };
    response
        .text()
        .await
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_in_dashboards_and_alerts_is_exported() {
    let referenced = referenced_metrics();
    // The tokenizer found the queries' metrics (not nothing, not label names).
    for name in [
        "wiber_api_http_request_duration_seconds_bucket",
        "wiber_consumer_lag",
        "wiber_consumer_dead_lettered_total",
        "wiber_operator_consumers_desired",
        "wiber_operator_reconcile_errors_total",
    ] {
        assert!(
            referenced.contains_key(name),
            "{name} not among {referenced:?}"
        );
    }
    for label in ["namespace", "route", "le", "category", "pod", "name"] {
        assert!(
            !referenced.contains_key(label),
            "label {label} read as a metric"
        );
    }

    // The operator, leading in its own namespace, with a WiberCluster on its own topic and group.
    let client = client().await;
    install_crd(&client).await;
    let ns = namespace_with_mongo_secret(&client, "wiber-obs").await;
    let bootstrap = kafka_bootstrap();
    let op_topic = unique_name("wiber-obs-topic");
    create_topic(&bootstrap, &op_topic, 3).await;
    let op_port = free_port();
    let _operator = spawn_operator(&ns, op_port);
    let clusters: Api<WiberCluster> = Api::namespaced(client.clone(), &ns);
    let cluster = json!({
        "apiVersion": "wiber.io/v1alpha1",
        "kind": "WiberCluster",
        "metadata": {"name": "chat"},
        "spec": {
            "kafka": {"bootstrapServers": bootstrap, "topic": {"name": op_topic},
                      "consumerGroup": unique_name("wiber-obs-group")},
            "mongodb": {"connectionSecret": {"name": "mongo"}},
            "consumers": {"minReplicas": 1, "maxReplicas": 10, "targetLagPerReplica": 10,
                          "lagPollSeconds": 1},
            "scheduling": {"tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Equal",
                                            "value": "fake", "effect": "NoSchedule"}]},
        },
    });
    clusters
        .patch(
            "chat",
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&cluster),
        )
        .await
        .expect("valid WiberCluster");

    // The API and a consumer on a fresh topic; traffic of every kind the dashboards show.
    let wiber = Wiber::start().await;
    let consumer = wiber.consumer().await;
    wiber.send("alice", "bob", "hello").await;
    let (status, _, _) = wiber.get("/messages/alice/bob?limit=10").await;
    assert_eq!(status, 200);
    assert_eq!(
        wiber.count("?user1=alice").await,
        wiber.count("?user1=alice").await
    );
    let bad = wiber.post(&json!({"fromUser": "alice"})).await;
    assert_eq!(bad.status(), 400);
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .expect("producer");
    producer
        .send(
            FutureRecord::to(&wiber.topic)
                .key("alice:bob")
                .payload("not json"),
            Duration::from_secs(10),
        )
        .await
        .expect("produce a poison record");

    // After the first reconcile, a backlog the operator scales the consumers up for (a scale event).
    eventually("first reconcile", WITHIN, || async {
        let wc = clusters.get("chat").await.ok()?;
        (wc.status?.observed_generation == wc.metadata.generation).then_some(())
    })
    .await;
    for i in 0..30 {
        producer
            .send(
                FutureRecord::to(&op_topic)
                    .key(&format!("k{i}"))
                    .payload("x"),
                Duration::from_secs(10),
            )
            .await
            .expect("produce backlog");
    }
    eventually("the poison record dead-lettered", WITHIN, || async {
        let dead = consumer
            .metric(&wiber.http, "wiber_consumer_dead_lettered_total")
            .await;
        (dead >= 1.0).then_some(())
    })
    .await;

    // Every referenced metric shows up in the union of what the three processes expose. Some
    // arrive with the consumer's statistics or the operator's next lag poll: wait for them.
    let urls = [
        wiber.api_url.clone(),
        consumer.url.clone(),
        format!("http://127.0.0.1:{op_port}"),
    ];
    let http = &wiber.http;
    let missing = |exposed: &BTreeSet<String>| -> Vec<String> {
        referenced
            .keys()
            .filter(|name| {
                !exposed.contains(*name) && !PROMETHEUS_GENERATED.contains(&name.as_str())
            })
            .cloned()
            .collect()
    };
    let deadline = std::time::Instant::now() + WITHIN;
    let exposed = loop {
        let mut exposed = BTreeSet::new();
        for url in &urls {
            exposed.extend(scrape(http, url).await);
        }
        if missing(&exposed).is_empty() || std::time::Instant::now() > deadline {
            break exposed;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let missing: Vec<String> = missing(&exposed)
        .into_iter()
        .map(|name| format!("{name} (queried by {})", referenced[&name].join(", ")))
        .collect();
    assert!(
        missing.is_empty(),
        "metrics queried by dashboards or alerts that no Wiber binary exports:\n  {}\nexposed: {exposed:?}",
        missing.join("\n  ")
    );

    delete_namespace(&client, &ns).await;
}
