//! Every metric a dashboard or alert queries is exported by the real binaries: api, consumer and
//! operator, run against the local Kafka, MongoDB-protocol server and kube-apiserver, scraped on
//! `/metrics` after traffic of every kind the dashboards show.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kube::api::Api;
use rdkafka::producer::FutureRecord;
use serde_json::json;
use wiber_e2e::kafka::{create_topic, produce_backlog, producer};
use wiber_e2e::kube::{
    apply_wibercluster, client, delete_namespace, install_crd, namespace_with_mongo_secret,
    spawn_operator,
};
use wiber_e2e::metrics::{samples, scrape};
use wiber_e2e::process::free_port;
use wiber_e2e::promql::{metric_names, variable_query_metric_names};
use wiber_e2e::stack::Wiber;
use wiber_e2e::wait::eventually;
use wiber_e2e::{kafka_bootstrap, unique_name};
use wiber_operator::crd::WiberCluster;

use super::{alert_rules, dashboards, panels};

/// How long the three processes get to export every queried metric.
const EXPORTED_WITHIN: Duration = Duration::from_secs(120);
/// Series Prometheus writes itself for every scrape target: no binary exports them.
const PROMETHEUS_GENERATED: &[&str] = &["up"];
/// Wiber's metrics that no dashboard or alert reads, each on purpose: every other one a binary
/// exports is on a dashboard or an alert.
const NOT_QUERIED: &[(&str, &str)] = &[(
    "wiber_api_idempotency_keys_expired_total",
    "housekeeping: keys past API_IDEMPOTENCY_KEY_TTL_SECONDS swept; it rises steadily by design \
     and asks nothing of anyone",
)];

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

/// The names of the metrics served on `{url}/metrics`; none when nothing answers.
async fn exposed_names(http: &reqwest::Client, url: &str) -> BTreeSet<String> {
    let text = scrape(http, url).await.unwrap_or_default();
    samples(&text).into_iter().map(|s| s.name).collect()
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
    let spec = json!({
        "kafka": {"bootstrapServers": bootstrap, "topic": {"name": op_topic},
                  "consumerGroup": unique_name("wiber-obs-group")},
        "mongodb": {"connectionSecret": {"name": "mongo"}},
        "api": {"auth": {"mode": "None"}},
        "consumers": {"minReplicas": 1, "maxReplicas": 10, "targetLagPerReplica": 10,
                      "lagPollSeconds": 1},
    });
    apply_wibercluster(&clusters, "chat", spec)
        .await
        .expect("valid WiberCluster");

    // The API and a consumer on a fresh topic; traffic of every kind the dashboards show.
    let wiber = Wiber::start().await;
    let consumer = wiber.consumer().await;
    wiber.send("alice", "bob", "hello").await;
    let (status, _, _) = wiber.get("/messages/alice/bob?limit=10").await;
    assert_eq!(status, 200);
    // Counted once the consumer has stored it: a count is a read of the store, not of Kafka.
    eventually("alice's message counted", EXPORTED_WITHIN, || async {
        (wiber.count("?user1=alice").await == 1).then_some(())
    })
    .await;
    let bad = wiber.post(&json!({"fromUser": "alice"})).await;
    assert_eq!(bad.status(), 400);
    producer(&bootstrap)
        .send(
            FutureRecord::to(&wiber.topic)
                .key("alice:bob")
                .payload("not json"),
            Duration::from_secs(10),
        )
        .await
        .expect("produce a poison record");

    // After the first reconcile, a backlog the operator scales the consumers up for (a scale event).
    eventually("first reconcile", EXPORTED_WITHIN, || async {
        let wc = clusters.get("chat").await.ok()?;
        (wc.status?.observed_generation == wc.metadata.generation).then_some(())
    })
    .await;
    produce_backlog(&bootstrap, &op_topic, 30, "x").await;
    consumer
        .wait_metric(
            &wiber.http,
            "the poison record dead-lettered",
            "wiber_consumer_dead_lettered_total",
            EXPORTED_WITHIN,
            |dead| dead >= 1.0,
        )
        .await;

    // Every referenced metric shows up in the union of what the three processes expose. Some
    // arrive with the consumer's statistics or the operator's next lag poll: wait for them.
    let urls = [
        wiber.admin_url.clone(),
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
    let deadline = std::time::Instant::now() + EXPORTED_WITHIN;
    let exposed = loop {
        let mut exposed = BTreeSet::new();
        for url in &urls {
            exposed.extend(exposed_names(http, url).await);
        }
        if missing(&exposed).is_empty() || std::time::Instant::now() > deadline {
            break exposed;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // And the other way: what Wiber exports is read somewhere, or listed as not on purpose. A
    // histogram counts as read when any of its series is.
    let read = |name: &str| {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(name);
        [name.to_owned()]
            .into_iter()
            .chain(["_bucket", "_sum", "_count"].map(|s| format!("{family}{s}")))
            .any(|n| referenced.contains_key(&n))
    };
    let unread: Vec<&String> = exposed
        .iter()
        .filter(|name| name.starts_with("wiber_"))
        .filter(|name| !read(name) && !NOT_QUERIED.iter().any(|(n, _)| n == *name))
        .collect();
    assert!(
        unread.is_empty(),
        "metrics Wiber exports that no dashboard or alert reads (query them, or list them in \
         NOT_QUERIED saying why): {unread:?}"
    );
    for (name, _) in NOT_QUERIED {
        assert!(
            exposed.contains(*name),
            "{name} is listed in NOT_QUERIED but not exported"
        );
        assert!(
            !read(name),
            "{name} is listed in NOT_QUERIED but is queried"
        );
    }
    let missing: Vec<String> = missing(&exposed)
        .into_iter()
        .map(|name| format!("{name} (queried by {})", referenced[&name].join(", ")))
        .collect();
    assert!(
        missing.is_empty(),
        "metrics queried by dashboards or alerts that no Wiber binary exports:\n  {}\nexposed: {exposed:?}",
        missing.join("\n  ")
    );

    let host = |url: &str| url.trim_start_matches("http://").to_owned();
    super::evaluated::on_a_real_prometheus(
        &wiber,
        &host(&wiber.admin_url),
        &host(&consumer.url),
        &format!("127.0.0.1:{op_port}"),
    )
    .await;
    delete_namespace(&client, &ns).await;
}
