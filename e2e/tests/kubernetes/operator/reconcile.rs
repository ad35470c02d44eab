//! One WiberCluster through its life: CRD validation, the objects it owns, status, spec changes,
//! lag-driven scaling with events, and deletion.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;
use wiber_e2e::kafka::{create_topic, produce_backlog};
use wiber_e2e::kube::{
    WITHIN, apply_wibercluster, client, delete_namespace, install_crd, namespace_with_mongo_secret,
};
use wiber_e2e::wait::eventually;
use wiber_e2e::{kafka_bootstrap, unique_name};
use wiber_operator::crd::WiberCluster;

use super::{chat_spec, condition, operator};

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
    let bad = apply_wibercluster(
        &clusters,
        "bad",
        json!({
            "kafka": {"bootstrapServers": bootstrap},
            "mongodb": {"connectionSecret": {"name": "mongo"}},
            "api": {"auth": {"mode": "None"}},
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
    let both = apply_wibercluster(
        &clusters,
        "bad",
        json!({
            "kafka": {"bootstrapServers": bootstrap, "strimziCluster": "k"},
            "mongodb": {"connectionSecret": {"name": "mongo"}},
            "api": {"auth": {"mode": "None"}},
        }),
    )
    .await
    .expect_err("two Kafka sources must be rejected");
    assert!(
        both.to_string()
            .contains("set exactly one of kafka.strimziCluster and kafka.bootstrapServers"),
        "{both}"
    );
    let zero = apply_wibercluster(
        &clusters,
        "bad",
        json!({
            "kafka": {"bootstrapServers": bootstrap, "topic": {"partitions": 0}},
            "mongodb": {"connectionSecret": {"name": "mongo"}},
            "api": {"auth": {"mode": "None"}},
        }),
    )
    .await
    .expect_err("zero partitions must be rejected");
    assert!(zero.to_string().contains("partitions"), "{zero}");
    // An open API must be chosen: no auth at all, or a half-named issuer, is refused.
    for (auth, message) in [
        (None, "spec.api.auth is required"),
        (
            Some(json!({"issuer": "https://idp.example", "jwksUrl": "https://idp.example/jwks"})),
            "api.auth.issuer and api.auth.audience are required with mode Jwt",
        ),
        (
            Some(json!({"issuer": "https://idp.example", "audience": "wiber"})),
            "set exactly one of jwksUrl and jwksSecret",
        ),
        (
            Some(json!({"mode": "None", "jwksSecret": {"name": "jwks"}})),
            "api.auth.mode None verifies no tokens",
        ),
    ] {
        let mut spec = json!({
            "kafka": {"bootstrapServers": bootstrap},
            "mongodb": {"connectionSecret": {"name": "mongo"}},
        });
        if let Some(auth) = auth {
            spec["api"] = json!({ "auth": auth });
        }
        let refused = apply_wibercluster(&clusters, "bad", spec)
            .await
            .expect_err(message);
        assert!(refused.to_string().contains(message), "{refused}");
    }

    apply_wibercluster(&clusters, "chat", chat_spec(&bootstrap, &topic, &group, 2))
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
    let data = config.data.unwrap();
    assert_eq!(data["KAFKA_BOOTSTRAP_SERVERS"], bootstrap);
    assert_eq!(
        (data["AUTH_MODE"].as_str(), data["AUTH_ISSUER"].as_str()),
        ("jwt", "https://idp.example")
    );
    let service = Api::<Service>::namespaced(client.clone(), &ns)
        .get("chat-api")
        .await
        .unwrap();
    assert_eq!(service.spec.unwrap().ports.unwrap()[0].port, 8000);
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), &ns);
    assert!(pdbs.get_opt("chat-api").await.unwrap().is_some());

    // kwok runs the pods: the status becomes Ready with observedGeneration.
    // Ready needs one API pod; kwok may start the second a moment later.
    let ready = eventually("WiberCluster Ready with both API pods", WITHIN, || async {
        let wc = clusters.get("chat").await.ok()?;
        let both = wc.status.as_ref()?.api_ready_replicas == 2;
        (condition(&wc, "Ready").as_deref() == Some("True") && both).then_some(wc)
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
    apply_wibercluster(&clusters, "chat", chat_spec(&bootstrap, &topic, &group, 3))
        .await
        .unwrap();
    eventually("API replicas 3", WITHIN, || async {
        (replicas(&deployments, "chat-api").await == Some(3)).then_some(())
    })
    .await;
    // One API replica needs no disruption budget: the object no longer wanted goes.
    apply_wibercluster(&clusters, "chat", chat_spec(&bootstrap, &topic, &group, 1))
        .await
        .unwrap();
    eventually("API PodDisruptionBudget deleted", WITHIN, || async {
        pdbs.get_opt("chat-api").await.ok()?.is_none().then_some(())
    })
    .await;

    // A backlog with no consumer running (kwok pods consume nothing): lag 95 asks for 10
    // consumers at 10 per consumer, capped exactly at the 3 partitions.
    produce_backlog(&bootstrap, &topic, 95, "x").await;
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
    // What it did and why stays in the status, after the event expires (the last step up: the
    // backlog may arrive over two reconciles, 1 -> 2 -> 3).
    let why = status.consumers.last_scale.clone().unwrap_or_default();
    assert!(
        why.starts_with("consumers ")
            && why.contains(" -> 3: lag ")
            && why.contains(" over 3 partitions (target 10 per consumer"),
        "{why}"
    );

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
    eventually("the status says why it scaled down", WITHIN, || async {
        let why = clusters
            .get("chat")
            .await
            .ok()?
            .status?
            .consumers
            .last_scale?;
        why.contains(" -> 1: lag 0 over 3 partitions").then_some(())
    })
    .await;

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
