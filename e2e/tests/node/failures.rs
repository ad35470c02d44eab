//! Pods that go away mid-stream: an API pod deleted (the graceful path), then an API container and
//! the consumer's container killed with SIGKILL (the kubelet restarts them in place), while a
//! client keeps sending and holds a push stream. Nothing acknowledged is lost or stored twice,
//! and the stream resumes without a gap or a duplicate.

use std::collections::HashSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams};
use serde_json::json;
use wiber_e2e::deployed::{Component, Deployed, READY_WITHIN};
use wiber_e2e::kube::client;
use wiber_e2e::node;
use wiber_e2e::traffic::{Traffic, assert_nothing_lost};
use wiber_e2e::wait::eventually;

/// The client's pace: 10 messages a second over two senders, well within the API's per-user limit.
pub const PACE: Duration = Duration::from_millis(100);

/// Waits until the stream has carried `count` messages.
pub async fn wait_received(traffic: &Traffic, count: usize) {
    let what = format!("the stream to carry {count} messages");
    eventually(&what, Duration::from_secs(90), || async {
        (traffic.received_count() >= count).then_some(())
    })
    .await;
}

/// Waits until `name`'s first container has restarted after a SIGKILL and is Ready again.
async fn wait_restarted(wiber: &Deployed, name: &str) {
    let pods: Api<Pod> = Api::namespaced(wiber.client.clone(), &wiber.ns);
    let what = format!("{name} restarted by the kubelet after SIGKILL, Ready again");
    eventually(&what, READY_WITHIN, || async {
        let pod = pods.get(name).await.ok()?;
        (node::restarts(&pod) == (1, Some(137)) && node::running_and_ready(&pod)).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_pod_and_killed_containers_are_replaced_and_nothing_is_lost() {
    let _node = node::exclusive().await;
    let client = client().await;
    let wiber = Deployed::start(&client, "failures", 3, json!({})).await;
    let history = wiber.pipeline.history.clone();
    let traffic = Traffic::start(&wiber.api_url, wiber.traffic_tokens(), PACE, history).await;
    wait_received(&traffic, 20).await;

    let apis = wiber.pods(Component::Api).await;
    let deleted = apis[0].name_any();
    Api::<Pod>::namespaced(client.clone(), &wiber.ns)
        .delete(&deleted, &DeleteParams::default())
        .await
        .expect("delete an API pod");
    wiber
        .wait_replaced(Component::Api, &HashSet::from([deleted.clone()]))
        .await;
    wait_received(&traffic, traffic.received_count() + 20).await;

    let consumer = wiber.pods(Component::Consumer).await.remove(0);
    node::kill_container(&node::container_id(&consumer));
    let api = wiber
        .pods(Component::Api)
        .await
        .into_iter()
        .find(|p| p.name_any() == apis[1].name_any())
        .expect("the API pod not deleted");
    node::kill_container(&node::container_id(&api));
    wait_restarted(&wiber, &consumer.name_any()).await;
    wait_restarted(&wiber, &api.name_any()).await;
    wait_received(&traffic, traffic.received_count() + 20).await;
    let (sent, received) = traffic.finish(Duration::from_secs(60)).await;
    let what = "an API pod deleted, an API's and the consumer's containers killed";
    assert_nothing_lost(what, &wiber.pipeline, (&sent, &received), true).await;
    assert!(
        received.connections >= 2,
        "the stream never had to reconnect"
    );
}
