//! A consumer pod terminated gracefully (deleted, as a scale-down, a drain or a rollout does)
//! commits what it stored before it exits: its replacement resumes from there, so it meets at most
//! one batch it was already given again.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams};
use mongodb::bson::doc;
use serde_json::json;
use wiber_e2e::deployed::{Component, Deployed, VERIFY_WITHIN};
use wiber_e2e::kafka::produce_messages;
use wiber_e2e::kube::client;
use wiber_e2e::node;
use wiber_e2e::wait::eventually;

const BATCH: i32 = 200;
const BACKLOG: usize = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_pod_terminated_gracefully_commits_so_its_replacement_redelivers_at_most_one_batch()
 {
    let _node = node::exclusive().await;
    let client = client().await;
    let wiber = Deployed::start(
        &client,
        "shutdown",
        3,
        json!({"api": {"replicas": 1}, "consumers": {"batchSize": BATCH}}),
    )
    .await;
    let ids = produce_messages(
        &wiber.pipeline.bootstrap,
        &wiber.pipeline.topic,
        BACKLOG,
        31,
    )
    .await;
    let stored = wiber.pipeline.collection().await;
    eventually("a part of the backlog stored", VERIFY_WITHIN, || async {
        let count = stored.count_documents(doc! {}).await.ok()?;
        (count >= 3_000).then_some(())
    })
    .await;

    let old = wiber.pods(Component::Consumer).await.remove(0);
    let name = old.name_any();
    // Its log, followed until the container exits: what it did on SIGTERM.
    let log = std::env::temp_dir().join(format!("{name}.log"));
    let mut follow =
        Command::new(std::env::var("WIBER_KUBECTL_BIN").unwrap_or_else(|_| "kubectl".into()))
            .args([
                "--kubeconfig",
                &std::env::var("KUBECONFIG").expect("KUBECONFIG"),
            ])
            .args(["-n", &wiber.ns, "logs", "-f", &name])
            .stdout(std::fs::File::create(&log).expect("log file"))
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl logs -f");
    let deleted_at = Instant::now();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &wiber.ns);
    pods.delete(&name, &DeleteParams::default())
        .await
        .expect("delete the consumer pod");
    eventually(
        "the old consumer pod gone",
        Duration::from_secs(60),
        || async { pods.get_opt(&name).await.ok()?.is_none().then_some(()) },
    )
    .await;
    let took = deleted_at.elapsed();
    let _ = follow.wait();
    let said = std::fs::read_to_string(&log).unwrap_or_default();

    wiber
        .pipeline
        .assert_stored_exactly_once(&ids, VERIFY_WITHIN * 2)
        .await;
    let replacement = wiber.pods(Component::Consumer).await.remove(0);
    assert_ne!(replacement.name_any(), name);
    let duplicates = wiber
        .pod_metric(&replacement, 8001, "wiber_consumer_duplicates_total")
        .await
        .expect("the replacement's metrics");
    let stored_by_it = wiber
        .pod_metric(&replacement, 8001, "wiber_consumer_messages_stored_total")
        .await
        .unwrap_or(0.0);
    eprintln!(
        "deleted mid-backlog: gone after {took:?}; the replacement stored {stored_by_it} and met {duplicates} again"
    );
    assert!(
        said.contains("stored offsets committed") && said.contains("wiber-consumer stopped"),
        "the consumer did not commit and stop on SIGTERM; its log:\n{said}"
    );
    assert!(
        stored_by_it > 0.0,
        "the replacement resumed nothing: the old pod drained it all"
    );
    assert!(
        duplicates <= f64::from(BATCH),
        "{duplicates} records redelivered after a graceful termination: more than one batch ({BATCH})"
    );
    assert!(
        took < Duration::from_secs(25),
        "the consumer took {took:?} to stop: it waited for the kill at the grace period's end"
    );
}
