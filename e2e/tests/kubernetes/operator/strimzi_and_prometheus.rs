//! The operator beside other operators' CRDs, of our own making: Strimzi's Kafka and KafkaTopic, and
//! the Prometheus Operator's PodMonitor.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::ResourceExt;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, PostParams,
};
use serde_json::json;
use wiber_e2e::kafka::create_topic;
use wiber_e2e::kube::{
    WITHIN, apply_wibercluster, client, delete_namespace, install_crd, namespace_with_mongo_secret,
};
use wiber_e2e::wait::eventually;
use wiber_e2e::{kafka_bootstrap, unique_name};
use wiber_operator::crd::WiberCluster;
use wiber_operator::resources::{pod_monitor_resource, strimzi_topic_resource};

use super::{chat_spec, condition, install_schemaless_crd, operator};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strimzi_mode_creates_kafka_topics_and_reads_the_bootstrap_from_kafka_status() {
    let client = client().await;
    install_crd(&client).await;
    // Minimal Strimzi-shaped CRDs: the group, version and kinds Strimzi 1.0 serves.
    for (kind, plural) in [("Kafka", "kafkas"), ("KafkaTopic", "kafkatopics")] {
        install_schemaless_crd(&client, "kafka.strimzi.io", kind, plural).await;
    }
    let ns = namespace_with_mongo_secret(&client, "wiber-op").await;
    let bootstrap = kafka_bootstrap();
    let topic = unique_name("wiber-strimzi");
    create_topic(&bootstrap, &topic, 3).await;

    let kafka_resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kafka.strimzi.io", "v1", "Kafka"),
        "kafkas",
    );
    let kafkas: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &kafka_resource);
    let kafka: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "Kafka",
        "metadata": {"name": "events"},
        "spec": {"kafka": {"listeners": [{"name": "plain", "port": 9092, "type": "internal", "tls": false}]}},
        "status": {"listeners": [{"name": "plain", "bootstrapServers": bootstrap}]},
    }))
    .unwrap();
    kafkas
        .create(&PostParams::default(), &kafka)
        .await
        .expect("Kafka resource");

    let _operator = operator(&ns);
    let clusters: Api<WiberCluster> = Api::namespaced(client.clone(), &ns);
    apply_wibercluster(&clusters, "chat", json!({
        "kafka": {"strimziCluster": "events", "topic": {"name": topic, "partitions": 3, "replicas": 1}},
        "mongodb": {"connectionSecret": {"name": "mongo"}},
        "api": {"auth": {"mode": "None"}},
        "consumers": {"lagPollSeconds": 1},
    }))
    .await
    .expect("valid WiberCluster");

    let topics: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns, &strimzi_topic_resource());
    let kt = eventually("KafkaTopic created", WITHIN, || async {
        topics.get_opt(&topic).await.ok()?
    })
    .await;
    assert_eq!(kt.labels()["strimzi.io/cluster"], "events");
    assert_eq!(kt.data["spec"]["topicName"], topic.as_str());
    assert_eq!(kt.data["spec"]["partitions"], 3);
    assert_eq!(
        kt.data["spec"]["config"]["message.timestamp.type"],
        "LogAppendTime"
    );
    for companion in [format!("{topic}.dlq"), format!("{topic}.stored")] {
        eventually(
            "dead-letter and stored KafkaTopics created",
            WITHIN,
            || async { topics.get_opt(&companion).await.ok()? },
        )
        .await;
    }

    let config = eventually("ConfigMap with Strimzi's bootstrap", WITHIN, || async {
        Api::<ConfigMap>::namespaced(client.clone(), &ns)
            .get_opt("chat-config")
            .await
            .ok()?
    })
    .await;
    assert_eq!(config.data.unwrap()["KAFKA_BOOTSTRAP_SERVERS"], bootstrap);
    eventually("WiberCluster Ready", WITHIN, || async {
        let wc = clusters.get("chat").await.ok()?;
        (condition(&wc, "Ready").as_deref() == Some("True")).then_some(())
    })
    .await;

    // deletionPolicy Retain (the default): deleting the WiberCluster takes its Deployments, not
    // its topics, which hold unconsumed messages and dead letters.
    clusters
        .delete("chat", &DeleteParams::default())
        .await
        .expect("delete the WiberCluster");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    eventually(
        "the WiberCluster's Deployments collected",
        WITHIN,
        || async {
            let gone = deployments.get_opt("chat-api").await.ok()?.is_none()
                && deployments.get_opt("chat-consumer").await.ok()?.is_none();
            gone.then_some(())
        },
    )
    .await;
    for name in [
        topic.clone(),
        format!("{topic}.dlq"),
        format!("{topic}.stored"),
    ] {
        let kept = topics
            .get_opt(&name)
            .await
            .expect("read a KafkaTopic")
            .unwrap_or_else(|| panic!("KafkaTopic {name} deleted with its WiberCluster"));
        assert!(kept.owner_references().is_empty(), "{name} is owned");
    }
    delete_namespace(&client, &ns).await;
}

/// With the Prometheus Operator's PodMonitor CRD in the cluster, the operator creates a PodMonitor
/// that selects exactly the WiberCluster's api and consumer pods and scrapes both metrics ports,
/// owned by the WiberCluster, with the spec's labels and interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_monitor_scrapes_both_components_when_the_prometheus_operator_crd_exists() {
    let client = client().await;
    install_crd(&client).await;
    install_schemaless_crd(
        &client,
        "monitoring.coreos.com",
        "PodMonitor",
        "podmonitors",
    )
    .await;
    let ns = namespace_with_mongo_secret(&client, "wiber-op").await;
    let bootstrap = kafka_bootstrap();
    let topic = unique_name("wiber-op-topic");
    create_topic(&bootstrap, &topic, 3).await;
    let _operator = operator(&ns);
    let clusters: Api<WiberCluster> = Api::namespaced(client.clone(), &ns);
    let mut spec = chat_spec(&bootstrap, &topic, &unique_name("wiber-op-group"), 1);
    spec["monitoring"] = json!({
        "podMonitorLabels": {"release": "kube-prometheus-stack"},
        "scrapeInterval": "15s",
    });
    let wc = apply_wibercluster(&clusters, "chat", spec)
        .await
        .expect("WiberCluster");

    let monitors: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns, &pod_monitor_resource());
    let monitor = eventually("PodMonitor", WITHIN, || async {
        monitors.get_opt("chat-wiber").await.ok()?
    })
    .await;
    let owner = &monitor.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("WiberCluster", wc.uid().unwrap().as_str())
    );
    // kube-prometheus-stack's Prometheus selects PodMonitors by its release label.
    assert_eq!(monitor.labels()["release"], "kube-prometheus-stack");
    for endpoint in monitor.data["spec"]["podMetricsEndpoints"]
        .as_array()
        .unwrap()
    {
        assert_eq!(endpoint["interval"], "15s");
    }
    let ports: Vec<&str> = monitor.data["spec"]["podMetricsEndpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["port"].as_str().unwrap())
        .collect();
    assert_eq!(ports, ["admin", "metrics"]);

    // Its selector picks exactly the pods of both Deployments (kwok runs them).
    let selector = monitor.data["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
        .collect::<Vec<_>>()
        .join(",");
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let names = eventually("pods of both components", WITHIN, || async {
        let mut names: Vec<String> = pods
            .list(&ListParams::default().labels(&selector))
            .await
            .ok()?
            .items
            .iter()
            .map(|p| p.labels()["app.kubernetes.io/component"].clone())
            .collect();
        names.sort();
        names.dedup();
        (names == ["api", "consumer"]).then_some(names)
    })
    .await;
    assert_eq!(names, ["api", "consumer"]);

    delete_namespace(&client, &ns).await;
}
