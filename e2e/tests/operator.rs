//! The operator binary against the real local kube-apiserver (kwok nodes make pods Ready) and the
//! real local Kafka: CRD validation, reconciled objects, status, spec changes, lag-driven scaling
//! with events, deletion, and Strimzi mode with Strimzi-shaped CRDs of our own.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use kube::{Client, ResourceExt};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{Value, json};
use wiber_e2e::kube::{
    MANAGER, client, create_mongo_secret, delete_namespace, install_crd,
    namespace_with_mongo_secret, service_account_kubeconfig, spawn_operator, spawn_operator_as,
    wait_established,
};
use wiber_e2e::stack::{Process, create_topic, eventually, free_port};
use wiber_e2e::{kafka_bootstrap, unique_name};
use wiber_operator::crd::WiberCluster;
use wiber_operator::resources::{pod_monitor_resource, strimzi_topic_resource};

const WITHIN: Duration = Duration::from_secs(90);

fn operator(ns: &str) -> Process {
    spawn_operator(ns, free_port())
}

/// A namespaced v1 CRD that accepts any object: the group, version and kind another operator's
/// CRD would serve, without its schema.
async fn install_schemaless_crd(client: &Client, group: &str, kind: &str, plural: &str) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}")},
        "spec": {
            "group": group,
            "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(), "listKind": format!("{kind}List")},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
            }],
        }
    }))
    .unwrap();
    crds.patch(
        &crd.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap_or_else(|e| panic!("CRD {plural}.{group}: {e}"));
    wait_established(&crds, &crd.name_any()).await;
}

async fn apply_cluster(
    api: &Api<WiberCluster>,
    name: &str,
    spec: Value,
) -> Result<WiberCluster, kube::Error> {
    let mut spec = spec;
    // kwok's fake nodes are tainted so real workloads never land there by accident.
    spec["scheduling"] = json!({"tolerations": [
        {"key": "kwok.x-k8s.io/node", "operator": "Equal", "value": "fake", "effect": "NoSchedule"}
    ]});
    let object = json!({
        "apiVersion": "wiber.io/v1alpha1",
        "kind": "WiberCluster",
        "metadata": {"name": name},
        "spec": spec,
    });
    api.patch(
        name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&object),
    )
    .await
}

/// The WiberCluster the main test evolves: only the API replica count changes between steps.
fn chat_spec(bootstrap: &str, topic: &str, group: &str, api_replicas: i32) -> Value {
    json!({
        "kafka": {"bootstrapServers": bootstrap, "topic": {"name": topic}, "consumerGroup": group},
        "mongodb": {"connectionSecret": {"name": "mongo"}},
        "api": {"replicas": api_replicas},
        "consumers": {"minReplicas": 1, "maxReplicas": 10, "targetLagPerReplica": 10,
                      "scaleDownStabilizationSeconds": 6, "lagPollSeconds": 1},
    })
}

fn condition(wc: &WiberCluster, type_: &str) -> Option<String> {
    wc.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.status.clone())
}

async fn replicas(deployments: &Api<Deployment>, name: &str) -> Option<i32> {
    deployments.get_opt(name).await.ok()??.spec?.replicas
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wibercluster_reconciles_scales_with_lag_and_is_cleaned_up() {
    let client = client().await;
    install_crd(&client).await;
    let ns = namespace_with_mongo_secret(&client, "wiber-op").await;
    let bootstrap = kafka_bootstrap();
    let topic = unique_name("wiber-op-topic");
    create_topic(&bootstrap, &topic, 3).await;
    let group = unique_name("wiber-op-group");
    let _operator = operator(&ns);

    let clusters: Api<WiberCluster> = Api::namespaced(client.clone(), &ns);
    // The API server refuses what the CEL rules forbid, naming the rule's message.
    let bad = apply_cluster(
        &clusters,
        "bad",
        json!({
            "kafka": {"bootstrapServers": bootstrap},
            "mongodb": {"connectionSecret": {"name": "mongo"}},
            "consumers": {"minReplicas": 5, "maxReplicas": 2},
        }),
    )
    .await
    .expect_err("min > max must be rejected");
    assert!(
        bad.to_string()
            .contains("consumers.minReplicas must not exceed consumers.maxReplicas"),
        "{bad}"
    );
    let both = apply_cluster(
        &clusters,
        "bad",
        json!({
            "kafka": {"bootstrapServers": bootstrap, "strimziCluster": "k"},
            "mongodb": {"connectionSecret": {"name": "mongo"}},
        }),
    )
    .await
    .expect_err("two Kafka sources must be rejected");
    assert!(
        both.to_string()
            .contains("set exactly one of kafka.strimziCluster and kafka.bootstrapServers"),
        "{both}"
    );
    let zero = apply_cluster(
        &clusters,
        "bad",
        json!({
            "kafka": {"bootstrapServers": bootstrap, "topic": {"partitions": 0}},
            "mongodb": {"connectionSecret": {"name": "mongo"}},
        }),
    )
    .await
    .expect_err("zero partitions must be rejected");
    assert!(zero.to_string().contains("partitions"), "{zero}");

    apply_cluster(&clusters, "chat", chat_spec(&bootstrap, &topic, &group, 2))
        .await
        .expect("valid WiberCluster");
    // Status is written after every object is applied: once it describes this generation, all exist.
    let wc = eventually("first reconcile", WITHIN, || async {
        let wc = clusters.get("chat").await.ok()?;
        let observed = wc.status.as_ref()?.observed_generation;
        (observed == wc.metadata.generation).then_some(wc)
    })
    .await;
    let uid = wc.uid().unwrap();

    // Every object, owned by the WiberCluster, labelled, locked down.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    for name in ["chat-api", "chat-consumer"] {
        let d = deployments.get(name).await.unwrap();
        let owner = &d.owner_references()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
            ("WiberCluster", uid.as_str(), Some(true))
        );
        assert_eq!(d.labels()["app.kubernetes.io/managed-by"], "wiber-operator");
        let pod = d.spec.unwrap().template.spec.unwrap();
        let sc = pod.containers[0].security_context.clone().unwrap();
        assert_eq!(
            (
                sc.run_as_non_root,
                sc.read_only_root_filesystem,
                sc.allow_privilege_escalation
            ),
            (Some(true), Some(true), Some(false))
        );
        let mongo_env = &pod.containers[0].env.as_ref().unwrap()[0];
        assert_eq!(
            mongo_env
                .value_from
                .as_ref()
                .unwrap()
                .secret_key_ref
                .as_ref()
                .unwrap()
                .key,
            "connectionString.standard"
        );
    }
    let config = Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .get("chat-config")
        .await
        .unwrap();
    assert_eq!(config.data.unwrap()["KAFKA_BOOTSTRAP_SERVERS"], bootstrap);
    let service = Api::<Service>::namespaced(client.clone(), &ns)
        .get("chat-api")
        .await
        .unwrap();
    assert_eq!(service.spec.unwrap().ports.unwrap()[0].port, 8000);
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), &ns);
    assert!(pdbs.get_opt("chat-api").await.unwrap().is_some());

    // kwok runs the pods: the status becomes Ready with observedGeneration.
    let ready = eventually("WiberCluster Ready", WITHIN, || async {
        let wc = clusters.get("chat").await.ok()?;
        (condition(&wc, "Ready").as_deref() == Some("True")).then_some(wc)
    })
    .await;
    let status = ready.status.unwrap();
    assert_eq!(status.observed_generation, ready.metadata.generation);
    assert_eq!(status.partitions, Some(3));
    assert_eq!(status.api_ready_replicas, 2);
    for t in [
        "KafkaReady",
        "MongoReady",
        "ApiAvailable",
        "ConsumersAvailable",
    ] {
        assert!(
            status
                .conditions
                .iter()
                .any(|c| c.type_ == t && c.status == "True"),
            "{t} not True: {:?}",
            status.conditions
        );
    }

    // A spec change: the Deployment follows.
    apply_cluster(&clusters, "chat", chat_spec(&bootstrap, &topic, &group, 3))
        .await
        .unwrap();
    eventually("API replicas 3", WITHIN, || async {
        (replicas(&deployments, "chat-api").await == Some(3)).then_some(())
    })
    .await;
    // One API replica needs no disruption budget: the object no longer wanted goes.
    apply_cluster(&clusters, "chat", chat_spec(&bootstrap, &topic, &group, 1))
        .await
        .unwrap();
    eventually("API PodDisruptionBudget deleted", WITHIN, || async {
        pdbs.get_opt("chat-api").await.ok()?.is_none().then_some(())
    })
    .await;

    // A backlog with no consumer running (kwok pods consume nothing): lag 95 asks for 10
    // consumers at 10 per consumer, capped exactly at the 3 partitions.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    for i in 0..95 {
        producer
            .send(
                FutureRecord::to(&topic).key(&format!("k{i}")).payload("x"),
                Duration::from_secs(10),
            )
            .await
            .expect("produce");
    }
    eventually(
        "consumers scaled up to the partition count",
        WITHIN,
        || async { (replicas(&deployments, "chat-consumer").await == Some(3)).then_some(()) },
    )
    .await;
    // The status is written after the Deployment: wait for the reconcile that saw all 95.
    let status = eventually("status with the whole backlog", WITHIN, || async {
        let status = clusters.get("chat").await.ok()?.status?;
        (status.lag == Some(95)).then_some(status)
    })
    .await;
    assert_eq!(status.consumers.desired, 3);
    assert!(status.consumers.last_scale_time.is_some());

    // Drain: the group commits everything. Lag 0 asks for 1, after the 6 s window.
    let drainer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut offsets = TopicPartitionList::new();
    for p in 0..3 {
        let (_, high) = drainer
            .fetch_watermarks(&topic, p, Duration::from_secs(10))
            .unwrap();
        offsets
            .add_partition_offset(&topic, p, Offset::Offset(high))
            .unwrap();
    }
    drainer
        .commit(&offsets, CommitMode::Sync)
        .expect("commit drained offsets");
    let drained_at = std::time::Instant::now();
    eventually("consumers scaled down to min", WITHIN, || async {
        (replicas(&deployments, "chat-consumer").await == Some(1)).then_some(())
    })
    .await;
    assert!(
        drained_at.elapsed() >= Duration::from_secs(5),
        "scaled down before the stabilization window"
    );

    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    let reasons: Vec<String> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("chat"))
        .filter_map(|e| e.reason)
        .collect();
    assert!(reasons.iter().any(|r| r == "ScaleUp"), "{reasons:?}");
    assert!(reasons.iter().any(|r| r == "ScaleDown"), "{reasons:?}");

    // Deletion: the garbage collector removes everything the WiberCluster owned.
    clusters
        .delete("chat", &DeleteParams::foreground())
        .await
        .unwrap();
    eventually("owned Deployments gone", WITHIN, || async {
        let left = deployments
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .len();
        (left == 0).then_some(())
    })
    .await;
    delete_namespace(&client, &ns).await;
}

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
    apply_cluster(&clusters, "chat", json!({
        "kafka": {"strimziCluster": "events", "topic": {"name": topic, "partitions": 3, "replicas": 1}},
        "mongodb": {"connectionSecret": {"name": "mongo"}},
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
    let dlq = format!("{topic}.dlq");
    eventually("dead-letter KafkaTopic created", WITHIN, || async {
        topics.get_opt(&dlq).await.ok()?
    })
    .await;

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
    delete_namespace(&client, &ns).await;
}

/// Applies operator/rbac.yaml and binds it to a new ServiceAccount in `ns`; returns a kubeconfig
/// file that authenticates as that ServiceAccount, so the operator runs with exactly that RBAC.
async fn least_privilege_kubeconfig(client: &Client, ns: &str) -> std::path::PathBuf {
    use k8s_openapi::api::core::v1::ServiceAccount;
    use serde::Deserialize;

    let rbac = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../operator/rbac.yaml"
    ))
    .unwrap();
    for document in yaml_serde::Deserializer::from_str(&rbac) {
        let value = Value::deserialize(document).expect("rbac.yaml parses");
        let object: DynamicObject = serde_json::from_value(value.clone()).unwrap();
        let kind = value["kind"].as_str().unwrap();
        let gvk = GroupVersionKind::gvk("rbac.authorization.k8s.io", "v1", kind);
        let resource = ApiResource::from_gvk(&gvk);
        let api: Api<DynamicObject> = if kind == "Role" {
            Api::namespaced_with(client.clone(), ns, &resource)
        } else {
            Api::all_with(client.clone(), &resource)
        };
        api.patch(
            &object.name_any(),
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&value),
        )
        .await
        .unwrap_or_else(|e| panic!("applying {kind} from rbac.yaml: {e}"));
    }
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "wiber-operator"}})).unwrap();
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    accounts.create(&PostParams::default(), &sa).await.unwrap();
    let subject = json!([{"kind": "ServiceAccount", "name": "wiber-operator", "namespace": ns}]);
    let bindings = [
        (
            "ClusterRoleBinding",
            format!("wiber-operator-{ns}"),
            "ClusterRole",
            "wiber-operator",
        ),
        (
            "RoleBinding",
            "wiber-operator-leader-election".to_owned(),
            "Role",
            "wiber-operator-leader-election",
        ),
    ];
    for (kind, name, role_kind, role) in bindings {
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(
            "rbac.authorization.k8s.io",
            "v1",
            kind,
        ));
        let api: Api<DynamicObject> = if kind == "RoleBinding" {
            Api::namespaced_with(client.clone(), ns, &resource)
        } else {
            Api::all_with(client.clone(), &resource)
        };
        let binding = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
            "subjects": subject,
        });
        api.patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&binding),
        )
        .await
        .unwrap();
    }
    service_account_kubeconfig(client, ns, "wiber-operator").await
}

async fn metric(port: u16, name: &str) -> Option<f64> {
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .reduce(|a, b| a + b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_least_privilege_operators_share_one_lease_and_a_missing_secret_is_a_condition() {
    use k8s_openapi::api::coordination::v1::Lease;

    let client = client().await;
    install_crd(&client).await;
    let ns = namespace_with_mongo_secret(&client, "wiber-op").await;
    let kubeconfig = least_privilege_kubeconfig(&client, &ns).await;
    let bootstrap = kafka_bootstrap();
    let topic = unique_name("wiber-op-lease");
    create_topic(&bootstrap, &topic, 3).await;

    let ports = [free_port(), free_port()];
    let mut operators = [
        spawn_operator_as(&ns, ports[0], &kubeconfig, "operator-a"),
        spawn_operator_as(&ns, ports[1], &kubeconfig, "operator-b"),
    ];
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    let holder = eventually("a leader", WITHIN, || async {
        leases
            .get_opt("wiber-operator")
            .await
            .ok()??
            .spec?
            .holder_identity
    })
    .await;
    let leader = usize::from(!holder.starts_with("operator-a"));
    eventually("leader metric on the leader only", WITHIN, || async {
        let lead = metric(ports[leader], "wiber_operator_leader").await? == 1.0;
        let standby = metric(ports[1 - leader], "wiber_operator_leader").await? == 0.0;
        (lead && standby).then_some(())
    })
    .await;

    // A Secret that does not exist is reported, not fatal.
    let clusters: Api<WiberCluster> = Api::namespaced(client.clone(), &ns);
    apply_cluster(
        &clusters,
        "chat",
        json!({
            "kafka": {"bootstrapServers": bootstrap, "topic": {"name": topic}},
            "mongodb": {"connectionSecret": {"name": "not-there"}},
            "consumers": {"lagPollSeconds": 1},
        }),
    )
    .await
    .unwrap();
    let mongo_condition = |wc: &WiberCluster| {
        wc.status
            .as_ref()?
            .conditions
            .iter()
            .find(|c| c.type_ == "MongoReady")
            .map(|c| (c.status.clone(), c.reason.clone()))
    };
    eventually("MongoReady False: SecretMissing", WITHIN, || async {
        let wc = clusters.get("chat").await.ok()?;
        (mongo_condition(&wc)? == ("False".to_owned(), "SecretMissing".to_owned())).then_some(())
    })
    .await;
    assert!(
        operators.iter_mut().all(Process::is_running),
        "an operator crashed"
    );
    eventually("the leader to count its reconciles", WITHIN, || async {
        (metric(ports[leader], "wiber_operator_reconciles_total").await? >= 1.0).then_some(())
    })
    .await;
    // Both result series exist at 0 from the start (for dashboards and alerts): the standby's stay 0.
    assert_eq!(
        metric(ports[1 - leader], "wiber_operator_reconciles_total").await,
        Some(0.0),
        "the standby reconciled"
    );

    // The leader dies without releasing the lease: the standby takes over after it expires and
    // sees the Secret once it exists.
    operators[leader].kill();
    create_mongo_secret(&client, &ns, "not-there").await;
    eventually("the standby to take the lease", WITHIN, || async {
        let holder = leases
            .get_opt("wiber-operator")
            .await
            .ok()??
            .spec?
            .holder_identity?;
        (!holder.starts_with(if leader == 0 {
            "operator-a"
        } else {
            "operator-b"
        }))
        .then_some(())
    })
    .await;
    eventually("MongoReady True after takeover", WITHIN, || async {
        let wc = clusters.get("chat").await.ok()?;
        (mongo_condition(&wc)?.0 == "True").then_some(())
    })
    .await;
    let _ = std::fs::remove_file(&kubeconfig);
    let crb = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
    ));
    let _ = Api::<DynamicObject>::all_with(client.clone(), &crb)
        .delete(&format!("wiber-operator-{ns}"), &DeleteParams::default())
        .await;
    delete_namespace(&client, &ns).await;
}

/// With the Prometheus Operator's PodMonitor CRD in the cluster, the operator creates a PodMonitor
/// that selects exactly the WiberCluster's api and consumer pods and scrapes both metrics ports,
/// owned by the WiberCluster.
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
    let wc = apply_cluster(
        &clusters,
        "chat",
        chat_spec(&bootstrap, &topic, &unique_name("wiber-op-group"), 1),
    )
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
    let ports: Vec<&str> = monitor.data["spec"]["podMetricsEndpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["port"].as_str().unwrap())
        .collect();
    assert_eq!(ports, ["http", "metrics"]);

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
