//! What platform engineers' habits and tools rely on, against the real operator and API server:
//! `kubectl get wiber` (the category) and the `-o wide` reason, partitions that may grow but never
//! shrink (a CEL transition rule), `spec.template` reaching the pods within its limits, and the
//! pause annotation holding every change until removed; one operator for a list of namespaces.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use wiber_e2e::kafka::create_topic;
use wiber_e2e::kube::{
    WITHIN, apply_wibercluster, client, delete_namespace, install_crd, kubectl,
    namespace_with_mongo_secret, spawn_operator_watching,
};
use wiber_e2e::process::free_port;
use wiber_e2e::wait::eventually;
use wiber_e2e::{kafka_bootstrap, unique_name};
use wiber_operator::crd::{PAUSE_ANNOTATION, WiberCluster};

use super::{chat_spec, operator};

async fn api_replicas(deployments: &Api<Deployment>) -> Option<i32> {
    deployments.get_opt("chat-api").await.ok()??.spec?.replicas
}

/// The `ReconciliationPaused` condition's status and the generation it was set upon.
fn pause_condition(wc: &WiberCluster) -> Option<(String, Option<i64>)> {
    wc.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "ReconciliationPaused")
        .map(|c| (c.status.clone(), c.observed_generation))
}

async fn annotate(clusters: &Api<WiberCluster>, value: Option<&str>) {
    let patch = json!({"metadata": {"annotations": {PAUSE_ANNOTATION: value}}});
    clusters
        .patch("chat", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("annotate the WiberCluster");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_reach_the_pods_partitions_never_shrink_and_a_pause_holds_every_change() {
    let client = client().await;
    install_crd(&client).await;
    let ns = namespace_with_mongo_secret(&client, "wiber-conv").await;
    let bootstrap = kafka_bootstrap();
    let topic = unique_name("wiber-conv-topic");
    create_topic(&bootstrap, &topic, 3).await;
    let group = unique_name("wiber-conv-group");
    let _operator = operator(&ns);
    let clusters: Api<WiberCluster> = Api::namespaced(client.clone(), &ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);

    let mut spec = chat_spec(&bootstrap, &topic, &group, 2);
    spec["kafka"]["topic"]["partitions"] = json!(6);
    // A template may add to the pods but not take a credential out of its Secret.
    for (template, message) in [
        (
            json!({"api": {"env": [{"name": "MONGO_URI", "value": "mongodb://elsewhere"}]}}),
            "template env may not set MONGO_URI or KAFKA_SASL_PASSWORD",
        ),
        (
            json!({"consumer": {"priorityClassName": 7}}),
            "priorityClassName",
        ),
    ] {
        let mut bad = spec.clone();
        bad["template"] = template;
        let refused = apply_wibercluster(&clusters, "chat", bad)
            .await
            .expect_err(message);
        assert!(refused.to_string().contains(message), "{refused}");
    }
    let mut bad = spec.clone();
    bad["image"] = json!({"digest": "sha256:short"});
    let refused = apply_wibercluster(&clusters, "chat", bad)
        .await
        .expect_err("a malformed digest");
    assert!(
        refused.to_string().contains("spec.image.digest"),
        "{refused}"
    );
    spec["template"] = json!({"api": {"metadata": {"labels": {"team": "chat"}}}});
    apply_wibercluster(&clusters, "chat", spec.clone())
        .await
        .expect("valid WiberCluster");
    let deployment = eventually("the API Deployment at 2 replicas", WITHIN, || async {
        let d = deployments.get_opt("chat-api").await.ok()??;
        (d.spec.as_ref()?.replicas? == 2).then_some(d)
    })
    .await;
    let pod_labels = deployment
        .spec
        .unwrap()
        .template
        .metadata
        .unwrap()
        .labels
        .unwrap();
    assert_eq!(
        pod_labels["team"], "chat",
        "the template's label reaches the pods"
    );

    // Growing is allowed; shrinking is refused by the API server with the rule's message.
    spec["kafka"]["topic"]["partitions"] = json!(3);
    let shrink = apply_wibercluster(&clusters, "chat", spec.clone())
        .await
        .expect_err("fewer partitions must be refused");
    assert!(
        shrink
            .to_string()
            .contains("kafka.topic.partitions can grow but never shrink"),
        "{shrink}"
    );
    spec["kafka"]["topic"]["partitions"] = json!(9);
    apply_wibercluster(&clusters, "chat", spec.clone())
        .await
        .expect("more partitions are accepted");

    // `kubectl get wiber` finds it through the category; `-o wide` adds the reason.
    let listed = kubectl(&["get", "wiber", "-n", &ns, "-o", "name"]);
    assert_eq!(listed.trim(), "wibercluster.wiber.io/chat");
    let wide = kubectl(&["get", "wiberclusters", "-n", &ns, "-o", "wide"]);
    let header = wide.lines().next().unwrap_or_default();
    assert!(
        header.contains("REASON") && header.contains("MESSAGE"),
        "{wide}"
    );
    let narrow = kubectl(&["get", "wiberclusters", "-n", &ns]);
    assert!(!narrow.contains("REASON"), "{narrow}");

    // An Ingress for the API, with cert-manager's annotation and TLS; its URL in the status.
    spec["api"]["ingress"] = json!({
        "host": "chat.example.com",
        "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
        "tls": {"secretName": "chat-tls"},
    });
    apply_wibercluster(&clusters, "chat", spec.clone())
        .await
        .expect("an API Ingress");
    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), &ns);
    let ingress = eventually("the API's Ingress", WITHIN, || async {
        ingresses.get_opt("chat-api").await.ok()?
    })
    .await;
    let rule = &ingress.spec.as_ref().unwrap().rules.as_ref().unwrap()[0];
    assert_eq!(rule.host.as_deref(), Some("chat.example.com"));
    eventually("the Ingress's URL in the status", WITHIN, || async {
        let wc = clusters.get("chat").await.ok()?;
        (wc.status?.api_url? == "https://chat.example.com/").then_some(())
    })
    .await;
    spec["api"].as_object_mut().unwrap().remove("ingress");
    apply_wibercluster(&clusters, "chat", spec.clone())
        .await
        .expect("no Ingress any more");
    eventually("the Ingress deleted once unwanted", WITHIN, || async {
        ingresses
            .get_opt("chat-api")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;

    // Paused: a change of the spec is seen (the condition names its generation) and not acted on.
    annotate(&clusters, Some("true")).await;
    spec["api"]["replicas"] = json!(3);
    apply_wibercluster(&clusters, "chat", spec.clone())
        .await
        .expect("spec change while paused");
    let generation = clusters.get("chat").await.unwrap().metadata.generation;
    let held = eventually(
        "the pause to be reported for the new generation",
        WITHIN,
        || async {
            let wc = clusters.get("chat").await.ok()?;
            (pause_condition(&wc)? == ("True".to_owned(), generation)).then_some(wc)
        },
    )
    .await;
    assert_ne!(
        held.status.as_ref().unwrap().observed_generation,
        generation,
        "a paused cluster does not claim the new generation"
    );
    assert_eq!(
        api_replicas(&deployments).await,
        Some(2),
        "nothing applied while paused"
    );

    // Resumed: the held change lands and the condition goes.
    annotate(&clusters, None).await;
    eventually("the held change applied after resuming", WITHIN, || async {
        let wc = clusters.get("chat").await.ok()?;
        let resumed = pause_condition(&wc).is_none()
            && wc.status.as_ref()?.observed_generation == wc.metadata.generation;
        (resumed && api_replicas(&deployments).await? == 3).then_some(())
    })
    .await;
    delete_namespace(&client, &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_operator_reconciles_exactly_the_namespaces_it_is_given() {
    let client = client().await;
    install_crd(&client).await;
    let bootstrap = kafka_bootstrap();
    let topic = unique_name("wiber-ns-topic");
    create_topic(&bootstrap, &topic, 3).await;
    let mut namespaces = Vec::new();
    for _ in 0..3 {
        let ns = namespace_with_mongo_secret(&client, "wiber-ns").await;
        let clusters: Api<WiberCluster> = Api::namespaced(client.clone(), &ns);
        let spec = chat_spec(&bootstrap, &topic, &unique_name("wiber-ns-group"), 1);
        apply_wibercluster(&clusters, "chat", spec)
            .await
            .expect("valid WiberCluster");
        namespaces.push(ns);
    }
    let (watched, unwatched) = (&namespaces[..2], &namespaces[2]);
    let kubeconfig = std::path::PathBuf::from(wiber_e2e::required_env("KUBECONFIG"));
    let names: Vec<&str> = watched.iter().map(String::as_str).collect();
    let _operator = spawn_operator_watching(
        &namespaces[0],
        &names,
        free_port(),
        &kubeconfig,
        "operator-two-namespaces",
    );
    for ns in watched {
        let clusters: Api<WiberCluster> = Api::namespaced(client.clone(), ns);
        eventually(
            "a watched namespace's WiberCluster reconciled",
            WITHIN,
            || async {
                let wc = clusters.get("chat").await.ok()?;
                (wc.status?.observed_generation == wc.metadata.generation).then_some(())
            },
        )
        .await;
    }
    // Both watched ones are done, in one pass of their controllers: the third was never seen.
    let other: Api<WiberCluster> = Api::namespaced(client.clone(), unwatched);
    assert!(other.get("chat").await.unwrap().status.is_none());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), unwatched);
    assert!(deployments.get_opt("chat-api").await.unwrap().is_none());
    for ns in &namespaces {
        delete_namespace(&client, ns).await;
    }
}
